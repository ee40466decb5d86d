//! The byte level of every image message: the 4-byte prefix (version,
//! [`MsgKind`]) and the little-endian cursors ([`Reader`], [`Writer`])
//! and helpers the message encoders and decoders are written with.
//!
//! Calls only [`super::error`]; everything else in the image format is
//! built on it. No panics, whatever the input.

use super::error::ImageError;

/// Version of the image format. Bumped on any incompatible change.
pub const IMAGE_VERSION: u16 = 10;

/// Length of the prefix every message starts with.
pub const PREFIX_LEN: usize = 4;

/// The kind of a migration message (third byte of the prefix).
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MsgKind {
    /// Header, registers, layout, signals, xstate.
    Begin = 1,
    /// A run of memory areas.
    Vmas = 2,
    /// A batch of pages.
    Pages = 3,
    /// End of the image: page count and checksum.
    Commit = 4,
    /// The destination runs the process.
    Accept = 5,
    /// The destination refuses the process.
    Refuse = 6,
    /// Either side gives up.
    Abort = 7,
    /// The pending signals (after `Begin`, before the areas).
    Signals = 8,
    /// The timers and CPU times (after `Signals`, before the areas).
    Timers = 9,
    /// The credentials and limits (after `Timers`, before the areas).
    Creds = 10,
    /// The areas the destination may map from its own files (right
    /// after `Begin`).
    Files = 11,
    /// The destination is ready for the rest, and which file offers it
    /// took.
    Ready = 12,
    /// Pre-copy: a run of the areas as they were when the migration
    /// began (after `Ready`, before `Final`), encoded as `Vmas`.
    PreVmas = 13,
    /// Pre-copy: a batch of pages copied while the process ran, encoded
    /// as `Pages`.
    PrePages = 14,
    /// Pre-copy: the process's state once stopped (encoded as `Begin`),
    /// after the pre-copy rounds and before `Signals`.
    Final = 15,
}

impl MsgKind {
    /// The kind with wire value `v`, if any.
    pub const fn from_u8(v: u8) -> Option<MsgKind> {
        Some(match v {
            1 => MsgKind::Begin,
            2 => MsgKind::Vmas,
            3 => MsgKind::Pages,
            4 => MsgKind::Commit,
            5 => MsgKind::Accept,
            6 => MsgKind::Refuse,
            7 => MsgKind::Abort,
            8 => MsgKind::Signals,
            9 => MsgKind::Timers,
            10 => MsgKind::Creds,
            11 => MsgKind::Files,
            12 => MsgKind::Ready,
            13 => MsgKind::PreVmas,
            14 => MsgKind::PrePages,
            15 => MsgKind::Final,
            _ => return None,
        })
    }

    /// The wire value.
    pub const fn as_u8(self) -> u8 {
        self as u8
    }
}

/// Sequential little-endian reads from a byte slice.
pub(super) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(super) const fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub(super) fn bytes(&mut self, n: usize) -> Result<&'a [u8], ImageError> {
        let end = self.pos.checked_add(n).ok_or(ImageError::Truncated)?;
        let s = self.buf.get(self.pos..end).ok_or(ImageError::Truncated)?;
        self.pos = end;
        Ok(s)
    }

    pub(super) fn array<const N: usize>(&mut self) -> Result<[u8; N], ImageError> {
        <[u8; N]>::try_from(self.bytes(N)?).map_err(|_| ImageError::Truncated)
    }

    pub(super) fn u8(&mut self) -> Result<u8, ImageError> {
        Ok(u8::from_le_bytes(self.array()?))
    }

    pub(super) fn u16(&mut self) -> Result<u16, ImageError> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    pub(super) fn u32(&mut self) -> Result<u32, ImageError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    pub(super) fn u64(&mut self) -> Result<u64, ImageError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// Everything not read yet.
    pub(super) fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or(&[])
    }
}

/// Sequential little-endian writes into a byte slice.
pub(super) struct Writer<'a> {
    buf: &'a mut [u8],
    pub(super) pos: usize,
}

impl<'a> Writer<'a> {
    pub(super) fn new(buf: &'a mut [u8]) -> Self {
        Writer { buf, pos: 0 }
    }

    pub(super) fn bytes(&mut self, src: &[u8]) -> Result<(), ImageError> {
        let end = self.pos.checked_add(src.len()).ok_or(ImageError::Truncated)?;
        let dst = self.buf.get_mut(self.pos..end).ok_or(ImageError::Truncated)?;
        copy(dst, src);
        self.pos = end;
        Ok(())
    }

    pub(super) fn u8(&mut self, v: u8) -> Result<(), ImageError> {
        self.bytes(&[v])
    }

    pub(super) fn u16(&mut self, v: u16) -> Result<(), ImageError> {
        self.bytes(&v.to_le_bytes())
    }

    pub(super) fn u32(&mut self, v: u32) -> Result<(), ImageError> {
        self.bytes(&v.to_le_bytes())
    }

    pub(super) fn u64(&mut self, v: u64) -> Result<(), ImageError> {
        self.bytes(&v.to_le_bytes())
    }

    pub(super) fn prefix(&mut self, kind: MsgKind) -> Result<(), ImageError> {
        self.u16(IMAGE_VERSION)?;
        self.u8(kind.as_u8())?;
        self.u8(0)
    }
}

/// Copies as much of `src` as fits into `dst` (callers pass equal
/// lengths). Unlike `copy_from_slice` it has no panic path.
pub(super) fn copy(dst: &mut [u8], src: &[u8]) {
    crate::bytes::put(dst, 0, src);
}

/// The u64 at byte `at` of `b`, 0 if `b` is too short.
pub(super) fn le64(b: &[u8], at: usize) -> u64 {
    b.get(at..at.saturating_add(8)).and_then(|s| <[u8; 8]>::try_from(s).ok()).map_or(0, u64::from_le_bytes)
}

/// Reads and checks a message prefix: the version and kind `want`.
pub(super) fn read_prefix(r: &mut Reader<'_>, want: MsgKind) -> Result<(), ImageError> {
    read_prefix_of(r, want, want).map(|_| ())
}

/// As [`read_prefix`] for a message that may be of kind `a` or `b` (the
/// same encoding under two names); returns which.
pub(super) fn read_prefix_of(r: &mut Reader<'_>, a: MsgKind, b: MsgKind) -> Result<MsgKind, ImageError> {
    let version = r.u16()?;
    let kind = r.u8()?;
    let zero = r.u8()?;
    if version != IMAGE_VERSION || zero != 0 {
        return Err(ImageError::BadVersion);
    }
    match MsgKind::from_u8(kind) {
        Some(k) if k == a || k == b => Ok(k),
        _ => Err(ImageError::BadVersion),
    }
}

/// Renames an encoded message of one kind to another with the same
/// encoding (`Vmas` as `PreVmas`, `Pages` as `PrePages`, `Begin` as
/// `Final`): `Truncated` if `msg` has no prefix, `BadVersion` if it is
/// not of kind `from`.
pub fn retag(msg: &mut [u8], from: MsgKind, to: MsgKind) -> Result<(), ImageError> {
    if msg_kind(msg)? != from {
        return Err(ImageError::BadVersion);
    }
    let b = msg.get_mut(2).ok_or(ImageError::Truncated)?;
    *b = to.as_u8();
    Ok(())
}

/// Checks that the message ends exactly at `total` bytes.
pub(super) fn check_total(buf: &[u8], total: usize) -> Result<(), ImageError> {
    if buf.len() < total {
        Err(ImageError::Truncated)
    } else if buf.len() > total {
        Err(ImageError::BadLength)
    } else {
        Ok(())
    }
}

/// The kind of the message in `buf`, from its prefix: `Truncated` if
/// shorter than the prefix, `BadVersion` for another version, an unknown
/// kind or a non-zero fourth byte.
pub fn msg_kind(buf: &[u8]) -> Result<MsgKind, ImageError> {
    let mut r = Reader::new(buf);
    let version = r.u16()?;
    let kind = r.u8()?;
    let zero = r.u8()?;
    if version != IMAGE_VERSION || zero != 0 {
        return Err(ImageError::BadVersion);
    }
    MsgKind::from_u8(kind).ok_or(ImageError::BadVersion)
}

/// `s` up to its first NUL byte.
pub(super) fn until_nul(s: &[u8]) -> &[u8] {
    let mut n = 0;
    while n < s.len() {
        if s.get(n) == Some(&0) {
            break;
        }
        n += 1;
    }
    s.get(..n).unwrap_or(&[])
}
