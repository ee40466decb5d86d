//! Any migration message: [`MigrateMsg`] and [`decode`], which reads the
//! prefix and hands the message to its kind's decoder.
//!
//! Calls every message's decoder ([`super::begin`], [`super::files`], [`super::pending`], [`super::timers`], [`super::creds`], [`super::vmas`],
//! [`super::pages`], [`super::outcome`]); nothing calls back into it.

use super::begin::{decode_begin, BeginView};
use super::codec::{msg_kind, MsgKind};
use super::creds::{decode_creds, CredsView};
use super::error::{ImageError, RefuseReason};
use super::files::{decode_files, decode_ready, FilesView};
use super::outcome::{decode_abort, decode_accept, decode_commit, decode_refuse};
use super::pages::{parse_batch, PageBatchHeader};
use super::pending::{decode_signals, SignalsView};
use super::timers::{decode_timers, TimersView};
use super::vmas::{decode_vmas, VmasView};

/// Any decoded migration message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)] // Lives on the stack briefly; no allocator.
pub enum MigrateMsg<'a> {
    /// See [`decode_begin`].
    Begin(BeginView<'a>),
    /// See [`decode_files`].
    Files(FilesView<'a>),
    /// The destination is ready for the rest of the image ([`decode_ready`]).
    Ready {
        /// Bit `i`: it took file offer `i`.
        have: u64,
    },
    /// See [`decode_signals`].
    Signals(SignalsView<'a>),
    /// See [`decode_timers`].
    Timers(TimersView<'a>),
    /// See [`decode_creds`].
    Creds(CredsView<'a>),
    /// See [`decode_vmas`].
    Vmas(VmasView<'a>),
    /// A page batch, checked on its own only ([`parse_batch`]): the
    /// receiver still checks it against the areas ([`batch_in_vmas`](super::batch_in_vmas)).
    Pages(PageBatchHeader, &'a [u8]),
    /// Pre-copy: areas as they were when the migration began.
    PreVmas(VmasView<'a>),
    /// Pre-copy: a batch of pages copied while the process ran (checked
    /// as [`MigrateMsg::Pages`]).
    PrePages(PageBatchHeader, &'a [u8]),
    /// Pre-copy: the stopped process's header and state, which replace
    /// those of its `Begin`.
    Final(BeginView<'a>),
    /// End of the image.
    Commit {
        /// Pages sent.
        nr_pages: u64,
        /// [`Checksum`](super::Checksum) of every batch sent.
        checksum: u64,
    },
    /// The destination runs the process.
    Accept {
        /// Its pid there.
        remote_pid: u32,
    },
    /// The destination refuses the process.
    Refuse {
        /// Why.
        reason: RefuseReason,
    },
    /// The migration is abandoned.
    Abort,
}

impl MigrateMsg<'_> {
    /// The message's kind.
    pub const fn kind(&self) -> MsgKind {
        match self {
            MigrateMsg::Begin(_) => MsgKind::Begin,
            MigrateMsg::Files(_) => MsgKind::Files,
            MigrateMsg::Ready { .. } => MsgKind::Ready,
            MigrateMsg::Signals(_) => MsgKind::Signals,
            MigrateMsg::Timers(_) => MsgKind::Timers,
            MigrateMsg::Creds(_) => MsgKind::Creds,
            MigrateMsg::Vmas(_) => MsgKind::Vmas,
            MigrateMsg::Pages(..) => MsgKind::Pages,
            MigrateMsg::PreVmas(_) => MsgKind::PreVmas,
            MigrateMsg::PrePages(..) => MsgKind::PrePages,
            MigrateMsg::Final(_) => MsgKind::Final,
            MigrateMsg::Commit { .. } => MsgKind::Commit,
            MigrateMsg::Accept { .. } => MsgKind::Accept,
            MigrateMsg::Refuse { .. } => MsgKind::Refuse,
            MigrateMsg::Abort => MsgKind::Abort,
        }
    }
}

/// Decodes any migration message, dispatching on its prefix.
pub fn decode(buf: &[u8]) -> Result<MigrateMsg<'_>, ImageError> {
    Ok(match msg_kind(buf)? {
        MsgKind::Begin => MigrateMsg::Begin(decode_begin(buf)?),
        MsgKind::Files => MigrateMsg::Files(decode_files(buf)?),
        MsgKind::Ready => MigrateMsg::Ready { have: decode_ready(buf)? },
        MsgKind::Signals => MigrateMsg::Signals(decode_signals(buf)?),
        MsgKind::Timers => MigrateMsg::Timers(decode_timers(buf)?),
        MsgKind::Creds => MigrateMsg::Creds(decode_creds(buf)?),
        MsgKind::Vmas => MigrateMsg::Vmas(decode_vmas(buf)?),
        MsgKind::Pages => {
            let (h, data) = parse_batch(buf)?;
            MigrateMsg::Pages(h, data)
        }
        MsgKind::PreVmas => MigrateMsg::PreVmas(decode_vmas(buf)?),
        MsgKind::PrePages => {
            let (h, data) = parse_batch(buf)?;
            MigrateMsg::PrePages(h, data)
        }
        MsgKind::Final => MigrateMsg::Final(decode_begin(buf)?),
        MsgKind::Commit => {
            let (nr_pages, checksum) = decode_commit(buf)?;
            MigrateMsg::Commit { nr_pages, checksum }
        }
        MsgKind::Accept => MigrateMsg::Accept { remote_pid: decode_accept(buf)? },
        MsgKind::Refuse => MigrateMsg::Refuse { reason: decode_refuse(buf)? },
        MsgKind::Abort => {
            decode_abort(buf)?;
            MigrateMsg::Abort
        }
    })
}
