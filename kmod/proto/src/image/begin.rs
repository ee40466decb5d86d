//! The `Begin` message, first of an image: header, registers, layout,
//! signal state and xstate ([`encode_begin`], [`decode_begin`],
//! [`BeginView`]).
//!
//! Calls the parts it is made of ([`super::header`], [`super::regs`],
//! [`super::signals`]), [`super::codec`] and [`super::error`].

use super::codec::{check_total, le64, read_prefix_of, MsgKind, Reader, Writer, PREFIX_LEN};
use super::error::ImageError;
use super::header::{ImageHeader, HEADER_LEN, MAX_XSTATE};
use super::regs::{MmLayout, Regs};
use super::signals::{AltStack, SigAction, SigState, NSIG};
use crate::wire::MAX_PAYLOAD;

/// Where in the encoded signal state [`SigState::saved`]'s tag is.
const SAVED_AT: usize = 8 + NSIG * SigAction::SIZE + AltStack::SIZE;

/// Length of the fixed part of a `Begin` message (everything but xstate).
pub const BEGIN_FIXED_LEN: usize = PREFIX_LEN + HEADER_LEN + Regs::SIZE + MmLayout::SIZE + SigState::SIZE;

// The message must fit one transport frame.
const _: () = assert!(BEGIN_FIXED_LEN + MAX_XSTATE as usize <= MAX_PAYLOAD);

/// Length of a `Begin` message with `xstate_len` bytes of xstate
/// (saturating).
pub const fn begin_len(xstate_len: usize) -> usize {
    BEGIN_FIXED_LEN.saturating_add(xstate_len)
}

/// Writes a `Begin` message into `out` and returns its length.
///
/// Fails with `BadVersion` if `h.version` is not [`IMAGE_VERSION`](super::IMAGE_VERSION),
/// `TooLarge` if a bound of [`ImageHeader::check`] is exceeded,
/// `BadLength` if `xstate` is not `h.xstate_len` bytes, `Truncated` if
/// `out` is too small.
pub fn encode_begin(
    h: &ImageHeader,
    regs: &Regs,
    mm: &MmLayout,
    sig: &SigState,
    xstate: &[u8],
    out: &mut [u8],
) -> Result<usize, ImageError> {
    h.check()?;
    if usize::try_from(h.xstate_len) != Ok(xstate.len()) {
        return Err(ImageError::BadLength);
    }
    let total = begin_len(xstate.len());
    let mut w = Writer::new(out.get_mut(..total).ok_or(ImageError::Truncated)?);
    w.prefix(MsgKind::Begin)?;
    h.write(&mut w)?;
    regs.write(&mut w)?;
    mm.write(&mut w)?;
    sig.write(&mut w)?;
    w.bytes(xstate)?;
    Ok(total)
}

/// A decoded `Begin` message. The signal state stays encoded (it is 2 KiB)
/// until asked for; the xstate is borrowed from the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BeginView<'a> {
    /// The header (version and bounds checked).
    pub header: ImageHeader,
    /// The general registers (not checked here: the destination refuses
    /// an image for which [`Regs::user_mode_ok`] is false).
    pub regs: Regs,
    /// The address-space layout.
    pub mm: MmLayout,
    /// The encoded signal state, exactly [`SigState::SIZE`] bytes.
    sig: &'a [u8],
    /// The xstate, exactly `header.xstate_len` bytes.
    pub xstate: &'a [u8],
}

impl BeginView<'_> {
    /// The blocked-signal mask.
    pub fn blocked(&self) -> u64 {
        le64(self.sig, 0)
    }

    /// The mask held for the signal code to put back
    /// ([`SigState::saved`]).
    pub fn saved(&self) -> Option<u64> {
        (self.sig.get(SAVED_AT) == Some(&1)).then(|| le64(self.sig, SAVED_AT + 1))
    }

    /// The action of signal `signo` (1..=64), `None` for other numbers.
    pub fn sig_action(&self, signo: usize) -> Option<SigAction> {
        let i = signo.checked_sub(1).filter(|i| *i < NSIG)?;
        let at = i.saturating_mul(SigAction::SIZE).saturating_add(8);
        Some(SigAction {
            handler: le64(self.sig, at),
            flags: le64(self.sig, at.saturating_add(8)),
            restorer: le64(self.sig, at.saturating_add(16)),
            mask: le64(self.sig, at.saturating_add(24)),
        })
    }

    /// The alternate signal stack.
    pub fn altstack(&self) -> AltStack {
        let mut r = Reader::new(self.sig.get(8 + NSIG * SigAction::SIZE..).unwrap_or(&[]));
        match (r.u64(), r.u32(), r.u64()) {
            (Ok(sp), Ok(flags), Ok(size)) => AltStack { sp, flags, size },
            _ => AltStack::default(),
        }
    }

    /// The whole signal state.
    pub fn sig_state(&self) -> SigState {
        SigState::decode(self.sig).unwrap_or(SigState::EMPTY)
    }

    /// The whole signal state, written into `out` (in place, as
    /// [`SigState::decode_into`]).
    pub fn sig_state_into(&self, out: &mut SigState) {
        if out.decode_into(self.sig).is_err() {
            *out = SigState::EMPTY;
        }
    }
}

/// Decodes and checks a `Begin` message (see the module documentation for
/// the order of checks).
// Not inlined into `decode`: its header and view are on the stack only
// while a `Begin` is decoded (the module decodes deep in a receiver).
#[inline(never)]
pub fn decode_begin(buf: &[u8]) -> Result<BeginView<'_>, ImageError> {
    let mut r = Reader::new(buf);
    read_prefix_of(&mut r, MsgKind::Begin, MsgKind::Final)?;
    if buf.len() < BEGIN_FIXED_LEN {
        return Err(ImageError::Truncated);
    }
    let header = ImageHeader::read(&mut r)?;
    header.check()?;
    let xstate_len = usize::try_from(header.xstate_len).map_err(|_| ImageError::TooLarge)?;
    check_total(buf, begin_len(xstate_len))?;
    let regs = Regs::read(&mut r)?;
    let mm = MmLayout::read(&mut r)?;
    let sig = r.bytes(SigState::SIZE)?;
    // The held mask checked here as `SigState` decodes it (without a 2
    // KiB decoded copy), so that the views below never meet a bad one.
    match sig.get(SAVED_AT) {
        Some(1) => {}
        Some(0) if le64(sig, SAVED_AT + 1) == 0 => {}
        _ => return Err(ImageError::BadSignal),
    }
    let xstate = r.bytes(xstate_len)?;
    Ok(BeginView { header, regs, mm, sig, xstate })
}
