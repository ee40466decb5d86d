//! How a migration ends: the source's `Commit`, the destination's
//! `Accept` or `Refuse`, and `Abort` from either side.
//!
//! Calls [`super::codec`] and [`super::error`] only.

use super::codec::{check_total, read_prefix, MsgKind, Reader, Writer, PREFIX_LEN};
use super::error::{ImageError, RefuseReason};

/// Length of a `Commit` message.
pub const COMMIT_LEN: usize = PREFIX_LEN + 16;

/// Length of an `Accept` message.
pub const ACCEPT_LEN: usize = PREFIX_LEN + 4;

/// Length of a `Refuse` message.
pub const REFUSE_LEN: usize = PREFIX_LEN + 2;

/// Length of an `Abort` message.
pub const ABORT_LEN: usize = PREFIX_LEN;

/// Writes a `Commit` message and returns its length.
pub fn encode_commit(nr_pages: u64, checksum: u64, out: &mut [u8]) -> Result<usize, ImageError> {
    let mut w = Writer::new(out.get_mut(..COMMIT_LEN).ok_or(ImageError::Truncated)?);
    w.prefix(MsgKind::Commit)?;
    w.u64(nr_pages)?;
    w.u64(checksum)?;
    Ok(COMMIT_LEN)
}

/// Decodes a `Commit` message into (page count, checksum).
pub fn decode_commit(buf: &[u8]) -> Result<(u64, u64), ImageError> {
    let mut r = Reader::new(buf);
    read_prefix(&mut r, MsgKind::Commit)?;
    check_total(buf, COMMIT_LEN)?;
    Ok((r.u64()?, r.u64()?))
}

/// Writes an `Accept` message and returns its length.
pub fn encode_accept(remote_pid: u32, out: &mut [u8]) -> Result<usize, ImageError> {
    let mut w = Writer::new(out.get_mut(..ACCEPT_LEN).ok_or(ImageError::Truncated)?);
    w.prefix(MsgKind::Accept)?;
    w.u32(remote_pid)?;
    Ok(ACCEPT_LEN)
}

/// Decodes an `Accept` message into the process's pid on the destination.
pub fn decode_accept(buf: &[u8]) -> Result<u32, ImageError> {
    let mut r = Reader::new(buf);
    read_prefix(&mut r, MsgKind::Accept)?;
    check_total(buf, ACCEPT_LEN)?;
    r.u32()
}

/// Writes a `Refuse` message and returns its length.
pub fn encode_refuse(reason: RefuseReason, out: &mut [u8]) -> Result<usize, ImageError> {
    let mut w = Writer::new(out.get_mut(..REFUSE_LEN).ok_or(ImageError::Truncated)?);
    w.prefix(MsgKind::Refuse)?;
    w.u16(reason.code())?;
    Ok(REFUSE_LEN)
}

/// Decodes a `Refuse` message. An unknown reason code gives `BadVersion`
/// (only a peer speaking another version sends one).
pub fn decode_refuse(buf: &[u8]) -> Result<RefuseReason, ImageError> {
    let mut r = Reader::new(buf);
    read_prefix(&mut r, MsgKind::Refuse)?;
    check_total(buf, REFUSE_LEN)?;
    RefuseReason::from_code(r.u16()?).ok_or(ImageError::BadVersion)
}

/// Writes an `Abort` message and returns its length.
pub fn encode_abort(out: &mut [u8]) -> Result<usize, ImageError> {
    let mut w = Writer::new(out.get_mut(..ABORT_LEN).ok_or(ImageError::Truncated)?);
    w.prefix(MsgKind::Abort)?;
    Ok(ABORT_LEN)
}

/// Checks an `Abort` message.
pub fn decode_abort(buf: &[u8]) -> Result<(), ImageError> {
    let mut r = Reader::new(buf);
    read_prefix(&mut r, MsgKind::Abort)?;
    check_total(buf, ABORT_LEN)
}
