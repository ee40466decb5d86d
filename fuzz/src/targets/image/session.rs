//! `image_session`: a whole incoming migration, message by message, as a
//! destination takes it (`kmod/migrate/incoming.rs`): each message through
//! [`decode`], then the arrival's [`Progress`] (order, totals, checksum),
//! the areas kept, each batch placed in them, and at a good `Commit` the
//! restorer built ([`crate::targets::restore::build`]).
//!
//! The input is a message sequence ([`crate::framed`]). The fixup makes
//! the `Begin`'s area count, the `Vmas` messages' first indices and the
//! `Commit`'s page count and checksum match the rest of the input, which
//! random mutations never do by chance.
//!
//! Checks: what a decoded message promises holds when the engine reads
//! it (every signal, timer and area readable); the areas accepted across
//! messages pass [`validate_vmas`] and never exceed the announced count;
//! a batch is accepted only inside an area; an accepted `Commit` means
//! every announced area and exactly the pages sent arrived, with the
//! checksum of the pages sent; and the restorer holds what was accepted.

use super::sample::Sample;
use crate::ensure;
use crate::framed;
use crate::mutate;
use crate::rng::Rng;
use crate::target::{Cx, Target, Violation};
use crate::targets::restore::{self, Parts};
use roam_proto::image::*;

/// The `image_session` target.
pub struct Session;

impl Target for Session {
    fn name(&self) -> &'static str {
        "image_session"
    }

    fn about(&self) -> &'static str {
        "a whole incoming image through image::decode and image::Progress, then the restorer at its Commit"
    }

    fn seeds(&self) -> Vec<Vec<u8>> {
        let mut v: Vec<Vec<u8>> = (0..6).map(|v| framed::join(&Sample::new(v).messages(1 + v % 3))).collect();
        v.extend((0..2).map(|s| framed::join(&precopied(&Sample::new(s).messages(2)))));
        v
    }

    fn max_len(&self) -> usize {
        96 * 1024
    }

    fn framed(&self) -> bool {
        true
    }

    fn fixup(&self, data: &mut Vec<u8>, rng: &mut Rng) {
        let mut msgs: Vec<Vec<u8>> = framed::split(data).into_iter().map(<[u8]>::to_vec).collect();
        let mut vmas = 0u32;
        let mut sum = Checksum::new();
        let mut pages = 0u64;
        for m in msgs.iter_mut() {
            match msg_kind(m) {
                Ok(MsgKind::Vmas) if m.len() >= VMAS_HEAD_LEN => {
                    mutate::write(m, 4, 4, u64::from(vmas));
                    vmas = vmas.wrapping_add(mutate::read(m, 8, 4) as u32);
                }
                Ok(MsgKind::Pages) => {
                    if let Ok((h, d)) = parse_batch(m) {
                        sum.add_batch(&h, d);
                        pages += u64::from(h.count);
                    }
                }
                Ok(MsgKind::Commit) if m.len() >= COMMIT_LEN => {
                    mutate::write(m, 4, 8, pages);
                    mutate::write(m, 12, 8, sum.finish());
                }
                _ => {}
            }
        }
        // The announced totals (header at offset 4 of the Begin).
        if rng.one_in(2) {
            if let Some(b) = msgs.iter_mut().find(|m| msg_kind(m) == Ok(MsgKind::Begin) && m.len() >= BEGIN_FIXED_LEN) {
                mutate::write(b, 50, 4, u64::from(vmas));
                if mutate::read(b, 54, 8) < pages {
                    mutate::write(b, 54, 8, pages);
                }
            }
        }
        *data = framed::join(&msgs);
    }

    fn run(&self, data: &[u8], cx: &mut Cx) -> Result<(), Violation> {
        check(data, cx)
    }
}

/// What an arrival holds so far (`Arrival` in incoming.rs).
struct Arrival<'a> {
    begin: BeginView<'a>,
    pending: Vec<PendingSignal>,
    timers: TimerState,
    creds: Creds,
    vmas: Vec<Vma>,
    pre_vmas: Vec<Vma>,
    progress: Progress,
    sum: Checksum,
    sent: u64,
}

/// The same image as a pre-copy sends it: after `Files`, its areas as
/// `PreVmas` and its pages as `PrePages`, then its `Begin` as `Final`;
/// the rest as before.
fn precopied(msgs: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let renamed = |from: MsgKind, to: MsgKind| {
        msgs.iter().filter(move |m| msg_kind(m) == Ok(from)).map(move |m| {
            let mut r = m.clone();
            let _ = retag(&mut r, from, to);
            r
        })
    };
    let mut out = Vec::new();
    for m in msgs {
        out.push(m.clone());
        if msg_kind(m) == Ok(MsgKind::Files) {
            out.extend(renamed(MsgKind::Vmas, MsgKind::PreVmas));
            out.extend(renamed(MsgKind::Pages, MsgKind::PrePages));
            out.extend(renamed(MsgKind::Begin, MsgKind::Final));
        }
    }
    out
}

/// Takes the messages of `data` in order until the migration ends.
pub fn check(data: &[u8], cx: &mut Cx) -> Result<(), Violation> {
    let mut arrival: Option<Arrival<'_>> = None;
    for m in framed::split(data) {
        let msg = match decode(m) {
            Ok(msg) => msg,
            Err(e) => {
                cx.hit("malformed", e.name());
                return Ok(());
            }
        };
        if let MigrateMsg::Begin(b) = msg {
            if arrival.is_some() {
                cx.hit("session", "begin_again");
                return Ok(());
            }
            let mut progress = Progress::new();
            if let Err(e) = progress.begin(&b.header) {
                cx.hit("s_begin", e.name());
                return Ok(());
            }
            cx.hit("s_begin", "ok");
            arrival = Some(Arrival {
                begin: b,
                pending: Vec::new(),
                timers: TimerState::default(),
                creds: Creds::default(),
                vmas: Vec::new(),
                pre_vmas: Vec::new(),
                progress,
                sum: Checksum::new(),
                sent: 0,
            });
            continue;
        }
        let Some(a) = arrival.as_mut() else {
            cx.hit("session", "no_begin");
            return Ok(());
        };
        let r = match msg {
            MigrateMsg::Begin(_) => Ok(()),
            MigrateMsg::Files(f) => {
                let r = a.progress.files();
                if r.is_ok() {
                    ensure!(f.iter().count() == f.len(), "{} of {} decoded file offers readable", f.iter().count(), f.len());
                    ensure!(f.iter().all(|o| o.is_valid()), "a decoded file offer is not valid");
                }
                r
            }
            MigrateMsg::Signals(s) => {
                let r = a.progress.signals();
                if r.is_ok() {
                    a.pending = (0..s.len()).filter_map(|i| s.get(i)).collect();
                    ensure!(a.pending.len() == s.len(), "{} of {} decoded signals readable", a.pending.len(), s.len());
                }
                r
            }
            MigrateMsg::Timers(t) => {
                let r = a.progress.timers();
                if r.is_ok() {
                    let read = t.read_into(&mut a.timers);
                    ensure!(read.is_ok(), "decoded timers do not read: {read:?}");
                }
                r
            }
            MigrateMsg::Creds(c) => a.progress.creds().map(|()| a.creds = c.creds),
            MigrateMsg::Vmas(v) => {
                let r = a.progress.vmas(&v);
                if r.is_ok() {
                    let before = a.vmas.len();
                    a.vmas.extend((0..v.len()).filter_map(|i| v.get(i)));
                    ensure!(a.vmas.len() == before + v.len(), "a decoded Vmas has unreadable areas");
                }
                r
            }
            MigrateMsg::Pages(h, d) => {
                if !batch_in_vmas(&h, &a.vmas) || d.len() != h.data_len() {
                    Err(ImageError::BadBatch)
                } else {
                    a.progress.pages(&h, d).map(|()| {
                        a.sum.add_batch(&h, d);
                        a.sent += u64::from(h.count);
                    })
                }
            }
            MigrateMsg::PreVmas(v) => {
                let r = a.progress.pre_vmas(&v);
                if r.is_ok() {
                    a.pre_vmas.extend((0..v.len()).filter_map(|i| v.get(i)));
                }
                r
            }
            MigrateMsg::PrePages(h, d) => {
                if !batch_in_vmas(&h, &a.pre_vmas) || d.len() != h.data_len() {
                    Err(ImageError::BadBatch)
                } else {
                    a.progress.pre_pages(&h)
                }
            }
            MigrateMsg::Final(f) => {
                let r = a.progress.finish_precopy(&f.header, &a.begin.header);
                if r.is_ok() {
                    // As the module does: the stopped process's state
                    // (and counts) replace the Begin's.
                    cx.hit("session", "final");
                    a.begin = f;
                }
                r
            }
            MigrateMsg::Commit { nr_pages, checksum } => {
                let r = a.progress.commit(nr_pages, checksum);
                if r.is_ok() {
                    cx.hit("session", "committed");
                    return committed(a, nr_pages, checksum, cx);
                }
                r
            }
            MigrateMsg::Ready { .. } | MigrateMsg::Accept { .. } | MigrateMsg::Refuse { .. } | MigrateMsg::Abort => {
                cx.hit("session", "ended_by_peer");
                return Ok(());
            }
        };
        let stage = match msg.kind() {
            MsgKind::Signals => "s_signals",
            MsgKind::Timers => "s_timers",
            MsgKind::Creds => "s_creds",
            MsgKind::Vmas => "s_vmas",
            MsgKind::Pages => "s_pages",
            _ => "s_commit",
        };
        match r {
            Ok(()) => cx.hit(stage, "ok"),
            Err(e) => {
                cx.hit(stage, e.name());
                return Ok(());
            }
        }
        ensure!(
            a.vmas.len() <= a.begin.header.nr_vmas as usize,
            "{} areas kept, {} announced",
            a.vmas.len(),
            a.begin.header.nr_vmas
        );
        ensure!(validate_vmas(&a.vmas).is_ok(), "the areas accepted so far fail validate_vmas");
        ensure!(
            a.progress.pages_received() == a.sent,
            "progress counts {} pages, {} accepted",
            a.progress.pages_received(),
            a.sent
        );
        ensure!(a.progress.checksum() == a.sum.finish(), "progress's checksum is not that of the pages accepted");
        ensure!(a.sent <= a.begin.header.nr_pages, "{} pages accepted, {} announced", a.sent, a.begin.header.nr_pages);
    }
    cx.hit("session", "unfinished");
    Ok(())
}

/// What must hold once a `Commit` is accepted, then the restorer.
fn committed(a: &Arrival<'_>, nr_pages: u64, checksum: u64, cx: &mut Cx) -> Result<(), Violation> {
    let h = &a.begin.header;
    ensure!(a.progress.vmas_done(), "committed before every area arrived");
    ensure!(a.vmas.len() == h.nr_vmas as usize, "committed with {} of {} areas", a.vmas.len(), h.nr_vmas);
    ensure!(
        nr_pages == a.sent && a.sent <= h.nr_pages,
        "committed {nr_pages} pages; {} sent, {} announced",
        a.sent,
        h.nr_pages
    );
    ensure!(checksum == a.sum.finish(), "committed with a checksum that is not the pages'");
    let parts = Parts {
        regs: a.begin.regs,
        sig: a.begin.sig_state(),
        xstate: a.begin.xstate,
        pending: &a.pending,
        timers: &a.timers,
        cpu_limit: (a.creds.rlimits[0].cur, a.creds.rlimits[0].max),
        tgid: h.tgid,
        tid: h.pid,
        base: 0x7f12_3456_0000,
        now_ns: h.mono_ns.wrapping_add(1_000_000_000),
        pid: 4321,
        home: h.home_node == 1,
    };
    restore::build(&parts, cx)
}
