//! The migration image's targets: `image_msg` (any message through
//! [`decode`], as the engine receives a `Migrate` frame), one target per
//! message kind with that message's own promises (`parts`, `areas`), and
//! `image_session` (a whole image through [`Progress`], as a destination
//! takes it).
//!
//! Checks of `image_msg`: the decoded message has the kind its prefix
//! names; the small messages re-encode to the same bytes; and each kind
//! also passes its own target's checks.
//!
//! The files here: `sample` (valid images to start from), `parts`
//! (`Begin`, `Signals`, `Timers`, `Creds`), `areas` (`Vmas`, `Pages`),
//! `session`.

pub mod areas;
pub mod parts;
pub mod sample;
pub mod session;

use crate::ensure;
use crate::target::{Cx, Target, Violation};
use roam_proto::image::{
    decode, encode_abort, encode_accept, encode_commit, encode_files, encode_ready, encode_refuse, files_max_len, msg_kind, retag, MsgKind, READY_LEN, ImageError, MigrateMsg, ABORT_LEN,
    ACCEPT_LEN, COMMIT_LEN, REFUSE_LEN,
};
use sample::Sample;

/// One message of each kind (from a few sample images).
pub fn msg_samples() -> Vec<Vec<u8>> {
    let mut out = Sample::new(1).messages(2);
    out.extend(sample::outcome_msgs());
    out
}

/// The `image_msg` target.
pub struct Msgs;

impl Target for Msgs {
    fn name(&self) -> &'static str {
        "image_msg"
    }

    fn about(&self) -> &'static str {
        "any migration message through image::decode (the prefix, then each kind's decoder)"
    }

    fn seeds(&self) -> Vec<Vec<u8>> {
        let mut out = msg_samples();
        out.extend(Sample::new(0).messages(5));
        out
    }

    fn max_len(&self) -> usize {
        parts::BIG
    }

    fn run(&self, data: &[u8], cx: &mut Cx) -> Result<(), Violation> {
        check_msg(data, cx)
    }
}

/// What the engine does first with a `Migrate` payload.
pub fn check_msg(data: &[u8], cx: &mut Cx) -> Result<(), Violation> {
    let kind = msg_kind(data);
    let m = match decode(data) {
        Ok(m) => m,
        Err(e) => {
            cx.hit("image", e.name());
            if let Err(k) = kind {
                ensure!(k == e, "msg_kind says {k:?}, decode {e:?}");
            }
            return Ok(());
        }
    };
    ensure!(kind == Ok(m.kind()), "decoded a {:?} from a {kind:?} prefix", m.kind());
    let mut b = [0u8; 32];
    let again: Result<usize, ImageError> = match m {
        MigrateMsg::Begin(_) => return parts::check_begin(data, cx),
        MigrateMsg::Signals(_) => return parts::check_signals(data, cx),
        MigrateMsg::Timers(_) => return parts::check_timers(data, cx),
        MigrateMsg::Creds(_) => return parts::check_creds(data, cx),
        MigrateMsg::Vmas(_) => return areas::check_vmas(data, cx),
        MigrateMsg::Pages(..) => return areas::check_pages(data, cx),
        // The pre-copy kinds are renamed messages: checked as what they
        // rename.
        MigrateMsg::PreVmas(_) | MigrateMsg::PrePages(..) | MigrateMsg::Final(_) => {
            cx.hit("image", "precopy");
            let (from, to) = match m {
                MigrateMsg::PreVmas(_) => (MsgKind::PreVmas, MsgKind::Vmas),
                MigrateMsg::PrePages(..) => (MsgKind::PrePages, MsgKind::Pages),
                _ => (MsgKind::Final, MsgKind::Begin),
            };
            let mut plain = data.to_vec();
            ensure!(retag(&mut plain, from, to).is_ok(), "a decoded {from:?} does not rename to {to:?}");
            return check_msg(&plain, cx);
        }
        MigrateMsg::Files(f) => {
            cx.hit("image", "files");
            let offers: Vec<_> = f.iter().collect();
            ensure!(offers.len() == f.len(), "{} of {} decoded offers readable", offers.len(), f.len());
            let mut out = vec![0u8; files_max_len()];
            let n = encode_files(&offers, &mut out);
            ensure!(n == Ok(data.len()) && out[..data.len()] == *data, "re-encoding {} offers gives {n:?} and other bytes", offers.len());
            return Ok(());
        }
        MigrateMsg::Ready { have } => {
            cx.hit("image", "ready");
            ensure!(data.len() == READY_LEN, "ready of {} bytes", data.len());
            encode_ready(have, &mut b)
        }
        MigrateMsg::Commit { nr_pages, checksum } => {
            cx.hit("image", "commit");
            ensure!(data.len() == COMMIT_LEN, "commit of {} bytes", data.len());
            encode_commit(nr_pages, checksum, &mut b)
        }
        MigrateMsg::Accept { remote_pid } => {
            cx.hit("image", "accept");
            ensure!(data.len() == ACCEPT_LEN, "accept of {} bytes", data.len());
            encode_accept(remote_pid, &mut b)
        }
        MigrateMsg::Refuse { reason } => {
            cx.hit("image", "refuse");
            ensure!(data.len() == REFUSE_LEN, "refuse of {} bytes", data.len());
            encode_refuse(reason, &mut b)
        }
        MigrateMsg::Abort => {
            cx.hit("image", "abort");
            ensure!(data.len() == ABORT_LEN, "abort of {} bytes", data.len());
            encode_abort(&mut b)
        }
    };
    ensure!(again == Ok(data.len()) && b[..data.len()] == *data, "re-encoding {m:?} gives {again:?} and other bytes");
    Ok(())
}
