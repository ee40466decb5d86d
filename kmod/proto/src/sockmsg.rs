//! `sendmsg` and `recvmsg` forwarded whole: the *message image* that
//! carries a `struct msghdr` and what it points to between a remote and
//! its deputy.
//!
//! A `msghdr` holds pointers (the address, the vector of buffers, the
//! ancillary data), so the generic argument descriptions cannot marshal
//! it. The remote reads it and everything it names into one image: the
//! address, the ancillary data and, for a send, the data gathered from the
//! vectors. The deputy lays the image out in its scratch area as a real
//! `msghdr` with one vector ([`layout`]), makes the call at home, and for
//! a receive sends back an image of what the call left: the address and
//! its full length, the ancillary data, the flags and the bytes received,
//! which the remote writes to the program's `msghdr` and scatters over its
//! vectors.
//!
//! Descriptors passed in `SCM_RIGHTS` are home descriptors on both sides:
//! every descriptor of a migrated process lives at home, so a send passes
//! the program's own and a receive installs the new ones where the program
//! has its others. Credentials (`SCM_CREDENTIALS`) are the home task's,
//! as they would be.
//!
//! Image layout (little-endian): `present` u32 (bit 0: an address
//! pointer, bit 1: an ancillary-data pointer) · `namelen` u32 ·
//! `controllen` u32 · `flags` u32 · `datalen` u32 · address bytes ·
//! ancillary bytes · data bytes. In a request the lengths are the
//! caller's capacities (for a send, `datalen` bytes of data follow; for a
//! receive none do); in an answer they are what the call left, and the
//! bytes that follow are what goes back. `core` only; no panics.

use crate::bytes::{put, u32_at as half, u64_at as word};
use crate::fwd::{FwdError, MAX_BUF};

/// Largest socket address (`struct sockaddr_storage`).
pub const NAME_MAX: usize = 128;
/// Largest ancillary buffer forwarded; a larger capacity is lowered (a
/// receive then truncates the ancillary data sooner, with `MSG_CTRUNC`).
pub const CONTROL_MAX: usize = 4096;
/// Fixed part of an image.
pub const HEAD: usize = 20;
/// Largest data forwarded in one call: a larger send is a short one, a
/// larger receive gets no more. Chosen so that the deputy's layout
/// ([`SCRATCH`]) is one forwarded buffer's worth, [`MAX_BUF`].
pub const DATA_MAX: usize = MAX_BUF - MSGHDR_LEN - IOVEC_LEN - NAME_MAX - CONTROL_MAX;
/// Bytes of an x86-64 `struct msghdr`.
pub const MSGHDR_LEN: usize = 56;
/// Bytes of an x86-64 `struct iovec`.
pub const IOVEC_LEN: usize = crate::bytes::IOVEC_LEN;
/// Scratch the deputy lays an image out in: the `msghdr`, its one
/// `iovec`, the address, the ancillary data and the data.
pub const SCRATCH: usize = MSGHDR_LEN + IOVEC_LEN + NAME_MAX + CONTROL_MAX + DATA_MAX;
/// `UIO_MAXIOV`: more vectors fail with `EMSGSIZE`.
pub const MAX_IOV: u64 = 1024;

const HAS_NAME: u32 = 1;
const HAS_CONTROL: u32 = 2;

/// A `struct msghdr` as the program's memory holds it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MsgHdr {
    pub name: u64,
    pub namelen: u32,
    pub iov: u64,
    pub iovlen: u64,
    pub control: u64,
    pub controllen: u64,
    pub flags: u32,
}

impl MsgHdr {
    /// Reads the x86-64 layout.
    pub fn parse(b: &[u8; MSGHDR_LEN]) -> MsgHdr {
        MsgHdr {
            name: word(b, 0),
            namelen: half(b, 8),
            iov: word(b, 16),
            iovlen: word(b, 24),
            control: word(b, 32),
            controllen: word(b, 40),
            flags: half(b, 48),
        }
    }

    /// Writes the x86-64 layout (padding zeroed).
    pub fn write(&self, b: &mut [u8; MSGHDR_LEN]) {
        *b = [0u8; MSGHDR_LEN];
        put(b, 0, &self.name.to_le_bytes());
        put(b, 8, &self.namelen.to_le_bytes());
        put(b, 16, &self.iov.to_le_bytes());
        put(b, 24, &self.iovlen.to_le_bytes());
        put(b, 32, &self.control.to_le_bytes());
        put(b, 40, &self.controllen.to_le_bytes());
        put(b, 48, &self.flags.to_le_bytes());
    }
}

/// Where a `msghdr`'s fields are, for writing back what a receive left.
pub const OFF_NAMELEN: usize = 8;
/// Offset of `msg_controllen`.
pub const OFF_CONTROLLEN: usize = 40;
/// Offset of `msg_flags`.
pub const OFF_FLAGS: usize = 48;

/// A decoded image.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Image<'a> {
    /// The program gave an address pointer.
    pub has_name: bool,
    /// The program gave an ancillary-data pointer.
    pub has_control: bool,
    /// The address length (capacity in a receive request; the full length
    /// in an answer).
    pub namelen: u32,
    /// The ancillary capacity (request) or length used (answer).
    pub controllen: u32,
    /// `msg_flags` after a receive (0 in a request).
    pub flags: u32,
    /// The data length (a send's bytes, a receive's capacity, or the bytes
    /// received).
    pub datalen: u32,
    /// The address bytes.
    pub name: &'a [u8],
    /// The ancillary bytes.
    pub control: &'a [u8],
    /// The data bytes (none in a receive request).
    pub data: &'a [u8],
}

impl Image<'_> {
    /// Bytes [`encode`] needs.
    pub fn len(&self) -> usize {
        HEAD + self.name.len() + self.control.len() + self.data.len()
    }

    /// Whether it carries no bytes after its head.
    pub fn is_empty(&self) -> bool {
        self.name.is_empty() && self.control.is_empty() && self.data.is_empty()
    }
}

/// Encodes `img` into `out`; returns the length.
pub fn encode(img: &Image<'_>, out: &mut [u8]) -> Result<usize, FwdError> {
    if img.name.len() > NAME_MAX || img.control.len() > CONTROL_MAX || img.data.len() > DATA_MAX {
        return Err(FwdError::Bad);
    }
    let n = img.len();
    let dst = out.get_mut(..n).ok_or(FwdError::NoRoom)?;
    let present = if img.has_name { HAS_NAME } else { 0 } | if img.has_control { HAS_CONTROL } else { 0 };
    put(dst, 0, &present.to_le_bytes());
    put(dst, 4, &img.namelen.to_le_bytes());
    put(dst, 8, &img.controllen.to_le_bytes());
    put(dst, 12, &img.flags.to_le_bytes());
    put(dst, 16, &img.datalen.to_le_bytes());
    let mut at = HEAD;
    for part in [img.name, img.control, img.data] {
        put(dst, at, part);
        at += part.len();
    }
    Ok(n)
}

/// Decodes an image whose address, ancillary and data parts are
/// `name_len`, `control_len` and `data_len` bytes long (the reader knows
/// them: [`request_parts`], [`answer_parts`]). Any other total length,
/// or a part beyond its maximum, is malformed.
pub fn decode(buf: &[u8], parts: (usize, usize, usize)) -> Result<Image<'_>, FwdError> {
    let (nl, cl, dl) = parts;
    if nl > NAME_MAX || cl > CONTROL_MAX || dl > DATA_MAX {
        return Err(FwdError::Bad);
    }
    if buf.len() != HEAD + nl + cl + dl {
        return Err(FwdError::Truncated);
    }
    let present = half(buf, 0);
    if present & !(HAS_NAME | HAS_CONTROL) != 0 {
        return Err(FwdError::Bad);
    }
    let name = buf.get(HEAD..HEAD + nl).ok_or(FwdError::Truncated)?;
    let control = buf.get(HEAD + nl..HEAD + nl + cl).ok_or(FwdError::Truncated)?;
    let data = buf.get(HEAD + nl + cl..).ok_or(FwdError::Truncated)?;
    Ok(Image {
        has_name: present & HAS_NAME != 0,
        has_control: present & HAS_CONTROL != 0,
        namelen: half(buf, 4),
        controllen: half(buf, 8),
        flags: half(buf, 12),
        datalen: half(buf, 16),
        name,
        control,
        data,
    })
}

/// The head fields of an image (no parts read).
fn head(buf: &[u8]) -> Result<(u32, u32, u32, u32, u32), FwdError> {
    if buf.len() < HEAD {
        return Err(FwdError::Truncated);
    }
    Ok((half(buf, 0), half(buf, 4), half(buf, 8), half(buf, 12), half(buf, 16)))
}

/// The part lengths of a request image for a send (`send`) or a receive:
/// a send carries its address, ancillary data and data; a receive none.
pub fn request_parts(buf: &[u8], send: bool) -> Result<(usize, usize, usize), FwdError> {
    let (present, nl, cl, _, dl) = head(buf)?;
    if !send {
        return Ok((0, 0, 0));
    }
    // A send's address part is what the call may read of it: the length
    // (which the call checks itself) up to the largest address.
    let nl = if present & HAS_NAME != 0 { (nl as usize).min(NAME_MAX) } else { 0 };
    let cl = if present & HAS_CONTROL != 0 { cl as usize } else { 0 };
    Ok((nl, cl, dl as usize))
}

/// The part lengths of an answer image: the address bytes that fit the
/// capacity `name_cap` the request gave, the ancillary bytes used and the
/// data received.
pub fn answer_parts(buf: &[u8], name_cap: usize) -> Result<(usize, usize, usize), FwdError> {
    let (present, nl, cl, _, dl) = head(buf)?;
    let nl = if present & HAS_NAME != 0 { (nl as usize).min(name_cap).min(NAME_MAX) } else { 0 };
    let cl = if present & HAS_CONTROL != 0 { cl as usize } else { 0 };
    Ok((nl, cl, dl as usize))
}

/// What to do with a program's `msghdr`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// Forward it, with these capacities: (address, ancillary, data).
    Forward { name: usize, control: usize, data: usize },
    /// Fail with this errno, as the call would at home.
    Fail(i64),
    /// Make the call at home (a send's ancillary data larger than
    /// [`CONTROL_MAX`]).
    Home,
}

/// What to do with `h` for a send (`send`) or a receive, when its vectors
/// hold `total` bytes (`None`: their sum overflows): the checks the
/// kernel makes before it reads anything, and the capacities to forward.
pub fn check(h: &MsgHdr, total: Option<u64>, send: bool) -> Check {
    if h.iovlen > MAX_IOV {
        return Check::Fail(-90); // EMSGSIZE
    }
    match total {
        Some(t) if t <= i64::MAX as u64 => {}
        _ => return Check::Fail(-22), // EINVAL
    }
    if h.name != 0 && (h.namelen as i32) < 0 {
        return Check::Fail(-22);
    }
    if send && h.control != 0 && h.controllen > CONTROL_MAX as u64 {
        return Check::Home;
    }
    let name = if h.name == 0 { 0 } else { (h.namelen as usize).min(NAME_MAX) };
    let control = if h.control == 0 { 0 } else { h.controllen.min(CONTROL_MAX as u64) as usize };
    let data = total.unwrap_or(0).min(DATA_MAX as u64) as usize;
    Check::Forward { name, control, data }
}

/// Addresses of the parts of an image laid out at `base` in the deputy's
/// scratch area: (`msghdr`, `iovec`, address, ancillary, data).
pub fn layout(base: u64) -> (u64, u64, u64, u64, u64) {
    let iov = base + MSGHDR_LEN as u64;
    let name = iov + IOVEC_LEN as u64;
    let control = name + NAME_MAX as u64;
    let data = control + CONTROL_MAX as u64;
    (base, iov, name, control, data)
}
