//! The `Signals` message: the signals pending for the process when it was
//! taken ([`PendingSignal`], [`encode_signals`], [`decode_signals`],
//! [`SignalsView`]). The source takes them off the task (they are no
//! longer pending there); the destination queues them again, each on the
//! queue it came from and in the original order, before the process runs.
//!
//! Calls [`super::codec`] and [`super::error`] only.

use super::codec::{check_total, copy, read_prefix, MsgKind, Reader, Writer, PREFIX_LEN};
use super::error::ImageError;

/// Length of a `siginfo` as the kernel queues it (`struct kernel_siginfo`
/// on x86-64: signo, errno, code, padding, the 32-byte union).
pub const SIGINFO_LEN: usize = 48;

/// Most pending signals an image carries: room for every standard signal
/// on both queues (62) and a few dozen queued real-time ones. The bound
/// comes from the restorer, which re-queues each with one system call
/// and a 128-byte `siginfo_t` in its scratch area; a process with more
/// pending is not moved (the source refuses and keeps it).
pub const MAX_PENDING: usize = 96;

/// Length of one encoded [`PendingSignal`].
pub const PENDING_LEN: usize = 8 + SIGINFO_LEN;

/// Length of the fixed part of a `Signals` message (prefix and count).
pub const SIGNALS_HEAD_LEN: usize = PREFIX_LEN + 4;

/// `SIGKILL` and `SIGSTOP`: never pending in an image (the first ends
/// the process before it moves, the second is acted on when sent).
const SIGKILL: u32 = 9;
const SIGSTOP: u32 = 19;

/// One pending signal, as it sat on its queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PendingSignal {
    /// The signal number, 1..=64 but never `SIGKILL` or `SIGSTOP`.
    pub signo: u32,
    /// On the process's shared queue (sent to the process: `kill`,
    /// `sigqueue`) rather than the thread's private one (`tgkill`,
    /// `rt_tgsigqueueinfo`, faults).
    pub shared: bool,
    /// The `kernel_siginfo` bytes: `si_signo` (equal to `signo`),
    /// `si_errno`, `si_code`, and the sender's pid, uid, value, ...
    pub info: [u8; SIGINFO_LEN],
}

impl PendingSignal {
    /// A signal with a `siginfo` of `code`, sent by `pid`/`uid` with
    /// `value` (the `_rt` layout of `kill` and `sigqueue`).
    pub fn new(signo: u32, shared: bool, code: i32, pid: u32, uid: u32, value: u64) -> PendingSignal {
        let mut info = [0u8; SIGINFO_LEN];
        let mut w = Writer::new(&mut info);
        // Cannot fail: 28 bytes into 48.
        let _ = (w.u32(signo), w.u32(0), w.u32(code as u32), w.u32(0), w.u32(pid), w.u32(uid), w.u64(value));
        PendingSignal { signo, shared, info }
    }

    /// `si_code`.
    pub fn code(&self) -> i32 {
        i32::from_le_bytes([self.info[8], self.info[9], self.info[10], self.info[11]])
    }

    /// Checks the number (1..=64, not `SIGKILL`/`SIGSTOP`) and that the
    /// `siginfo` names the same signal; `BadSignal` if not.
    pub fn check(&self) -> Result<(), ImageError> {
        let in_info = u32::from_le_bytes([self.info[0], self.info[1], self.info[2], self.info[3]]);
        if !(1..=64).contains(&self.signo) || self.signo == SIGKILL || self.signo == SIGSTOP || in_info != self.signo {
            return Err(ImageError::BadSignal);
        }
        Ok(())
    }
}

/// Length of a `Signals` message with `count` signals (saturating).
pub const fn signals_len(count: usize) -> usize {
    SIGNALS_HEAD_LEN.saturating_add(count.saturating_mul(PENDING_LEN))
}

/// Writes a `Signals` message and returns its length: `TooLarge` past
/// [`MAX_PENDING`], `BadSignal` for a bad entry, `Truncated` if `out` is
/// too small.
pub fn encode_signals(sigs: &[PendingSignal], out: &mut [u8]) -> Result<usize, ImageError> {
    if sigs.len() > MAX_PENDING {
        return Err(ImageError::TooLarge);
    }
    let total = signals_len(sigs.len());
    let mut w = Writer::new(out.get_mut(..total).ok_or(ImageError::Truncated)?);
    w.prefix(MsgKind::Signals)?;
    w.u32(sigs.len() as u32)?;
    for s in sigs {
        s.check()?;
        w.u32(s.signo)?;
        w.u32(u32::from(s.shared))?;
        w.bytes(&s.info)?;
    }
    Ok(total)
}

/// A decoded `Signals` message; every entry was checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignalsView<'a> {
    entries: &'a [u8],
}

impl SignalsView<'_> {
    /// Number of signals.
    pub fn len(&self) -> usize {
        self.entries.len() / PENDING_LEN
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Signal `i`, in queue order.
    pub fn get(&self, i: usize) -> Option<PendingSignal> {
        let at = i.checked_mul(PENDING_LEN)?;
        read_entry(&mut Reader::new(self.entries.get(at..)?)).ok()
    }
}

fn read_entry(r: &mut Reader<'_>) -> Result<PendingSignal, ImageError> {
    let signo = r.u32()?;
    let shared = match r.u32()? {
        0 => false,
        1 => true,
        _ => return Err(ImageError::BadSignal),
    };
    let mut info = [0u8; SIGINFO_LEN];
    copy(&mut info, r.bytes(SIGINFO_LEN)?);
    let s = PendingSignal { signo, shared, info };
    s.check()?;
    Ok(s)
}

/// Decodes and checks a `Signals` message: the prefix, the count
/// (`TooLarge` past [`MAX_PENDING`]), the length, then every entry
/// (`BadSignal`).
pub fn decode_signals(buf: &[u8]) -> Result<SignalsView<'_>, ImageError> {
    let mut r = Reader::new(buf);
    read_prefix(&mut r, MsgKind::Signals)?;
    let count = usize::try_from(r.u32()?).map_err(|_| ImageError::TooLarge)?;
    if count > MAX_PENDING {
        return Err(ImageError::TooLarge);
    }
    check_total(buf, signals_len(count))?;
    let entries = r.rest();
    let mut e = Reader::new(entries);
    let mut i = 0;
    while i < count {
        read_entry(&mut e)?;
        i += 1;
    }
    Ok(SignalsView { entries })
}
