//! The signal handling state a `Begin` message carries: [`SigState`], its
//! actions ([`SigAction`]) and alternate stack ([`AltStack`]).
//!
//! Calls [`super::codec`] and [`super::error`] only.

use super::codec::{Reader, Writer};
use super::error::ImageError;

/// Number of signals with an action (1 to 64).
pub const NSIG: usize = 64;

/// One signal's action (the kernel's `struct sigaction` on x86-64).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SigAction {
    /// Handler address, or `SIG_DFL` (0) / `SIG_IGN` (1).
    pub handler: u64,
    /// `SA_*` flags.
    pub flags: u64,
    /// The `SA_RESTORER` trampoline.
    pub restorer: u64,
    /// Signals blocked while the handler runs.
    pub mask: u64,
}

impl SigAction {
    /// Encoded size in bytes.
    pub const SIZE: usize = 32;
}

/// The alternate signal stack (`stack_t`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AltStack {
    /// Base address.
    pub sp: u64,
    /// `SS_*` flags.
    pub flags: u32,
    /// Size in bytes.
    pub size: u64,
}

impl AltStack {
    /// Encoded size in bytes.
    pub const SIZE: usize = 20;
}

/// The process's signal handling state. Pending signals are not part of
/// it: they travel in their own message (`pending`, [`super::pending`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SigState {
    /// The blocked mask (bit `n - 1` is signal `n`).
    pub blocked: u64,
    /// `actions[n - 1]` is the action of signal `n`.
    pub actions: [SigAction; NSIG],
    /// The alternate signal stack.
    pub altstack: AltStack,
    /// The mask a call that waits with a mask of its own (`ppoll`,
    /// `pselect6`, `epoll_pwait`, `rt_sigsuspend`) left for the signal
    /// code to put back, when it ended (`EINTR`) with the signal that
    /// ended it still to be delivered: that signal's handler frame
    /// saves this mask, not [`SigState::blocked`] (the call's own mask);
    /// with no signal to deliver it is blocked again at once. `None`
    /// when no such mask is held.
    pub saved: Option<u64>,
}

impl Default for SigState {
    fn default() -> Self {
        SigState::EMPTY
    }
}

impl SigState {
    /// Encoded size in bytes.
    pub const SIZE: usize = 8 + NSIG * SigAction::SIZE + AltStack::SIZE + 9;

    /// Nothing blocked, every action default, no alternate stack.
    pub const EMPTY: SigState = SigState {
        blocked: 0,
        actions: [SigAction { handler: 0, flags: 0, restorer: 0, mask: 0 }; NSIG],
        altstack: AltStack { sp: 0, flags: 0, size: 0 },
        saved: None,
    };

    /// Writes the encoding into the start of `out` and returns
    /// [`SigState::SIZE`]; `Truncated` if `out` is too small.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, ImageError> {
        let mut w = Writer::new(out);
        self.write(&mut w)?;
        Ok(w.pos)
    }

    /// Decodes the first [`SigState::SIZE`] bytes of `buf`; `Truncated` if
    /// there are fewer.
    pub fn decode(buf: &[u8]) -> Result<SigState, ImageError> {
        SigState::read(&mut Reader::new(buf))
    }

    pub(super) fn write(&self, w: &mut Writer<'_>) -> Result<(), ImageError> {
        w.u64(self.blocked)?;
        let mut i = 0;
        while i < NSIG {
            let a = self.actions.get(i).copied().unwrap_or_default();
            w.u64(a.handler)?;
            w.u64(a.flags)?;
            w.u64(a.restorer)?;
            w.u64(a.mask)?;
            i += 1;
        }
        w.u64(self.altstack.sp)?;
        w.u32(self.altstack.flags)?;
        w.u64(self.altstack.size)?;
        w.u8(u8::from(self.saved.is_some()))?;
        w.u64(self.saved.unwrap_or(0))
    }

    fn read(r: &mut Reader<'_>) -> Result<SigState, ImageError> {
        let mut s = SigState::EMPTY;
        s.read_into(r)?;
        Ok(s)
    }

    /// Decodes the first [`SigState::SIZE`] bytes of `buf` into `self`
    /// (in place: a receiver deep in a kernel stack keeps no 2 KiB copy);
    /// `Truncated` if there are fewer, and `self` is then partly written.
    pub fn decode_into(&mut self, buf: &[u8]) -> Result<(), ImageError> {
        self.read_into(&mut Reader::new(buf))
    }

    fn read_into(&mut self, r: &mut Reader<'_>) -> Result<(), ImageError> {
        self.blocked = r.u64()?;
        let mut i = 0;
        while i < NSIG {
            let a = SigAction { handler: r.u64()?, flags: r.u64()?, restorer: r.u64()?, mask: r.u64()? };
            if let Some(slot) = self.actions.get_mut(i) {
                *slot = a;
            }
            i += 1;
        }
        self.altstack = AltStack { sp: r.u64()?, flags: r.u32()?, size: r.u64()? };
        let (held, saved) = (r.u8()?, r.u64()?);
        // One encoding per state: no mask is written as zeros.
        self.saved = match held {
            0 if saved == 0 => None,
            1 => Some(saved),
            _ => return Err(ImageError::BadSignal),
        };
        Ok(())
    }
}
