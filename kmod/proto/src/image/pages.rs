//! Page batches: [`PageBatchHeader`], where a batch may lie
//! ([`batch_in_vmas`]) and the `Pages` message that carries one
//! ([`encode_batch`], [`parse_batch`], [`decode_batch`]).
//!
//! Calls [`super::vmas`] (to place a batch), [`super::codec`],
//! [`super::error`] and the bounds of [`super::header`].

use super::codec::{check_total, copy, read_prefix_of, MsgKind, Reader, Writer, PREFIX_LEN};
use super::error::ImageError;
use super::header::{PAGE, PAGE_SIZE, USER_END};
use super::vmas::{Vma, VMA_NO_PAGES};
use crate::wire::MAX_PAYLOAD;

/// Most pages in one batch: 128 KiB of data.
pub const MAX_BATCH_PAGES: u32 = 32;

/// Length of a `Pages` message before its page data.
pub const BATCH_HEAD_LEN: usize = PREFIX_LEN + 12;

// The message must fit one transport frame.
const _: () = assert!(BATCH_HEAD_LEN + MAX_BATCH_PAGES as usize * PAGE_SIZE <= MAX_PAYLOAD);

/// A run of consecutive pages sent in one `Pages` message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PageBatchHeader {
    /// Address of the first page (page-aligned).
    pub first_addr: u64,
    /// Number of pages, 1..=[`MAX_BATCH_PAGES`].
    pub count: u32,
}

impl PageBatchHeader {
    /// Address after the last page (saturating).
    pub const fn end(&self) -> u64 {
        self.first_addr.saturating_add((self.count as u64).saturating_mul(PAGE))
    }

    /// Number of data bytes that follow the header.
    pub const fn data_len(&self) -> usize {
        (self.count as usize).saturating_mul(PAGE_SIZE)
    }

    /// Checks the batch on its own: `TooLarge` above [`MAX_BATCH_PAGES`]
    /// pages, `BadBatch` for no page, an unaligned address or a range
    /// reaching past [`USER_END`].
    pub fn check(&self) -> Result<(), ImageError> {
        if self.count > MAX_BATCH_PAGES {
            return Err(ImageError::TooLarge);
        }
        if self.count == 0 || self.first_addr & (PAGE - 1) != 0 || self.end() > USER_END {
            return Err(ImageError::BadBatch);
        }
        Ok(())
    }
}

/// Whether batch `h` is valid and lies inside one area of `vmas` (sorted,
/// as [`validate_vmas`](super::validate_vmas) requires) that may carry pages (not
/// [`VMA_NO_PAGES`]).
pub fn batch_in_vmas(h: &PageBatchHeader, vmas: &[Vma]) -> bool {
    if h.check().is_err() {
        return false;
    }
    // The last area starting at or below the batch.
    let (mut lo, mut hi) = (0usize, vmas.len());
    while lo < hi {
        let mid = lo.saturating_add(hi.saturating_sub(lo) / 2);
        match vmas.get(mid) {
            Some(v) if v.start <= h.first_addr => lo = mid.saturating_add(1),
            Some(_) => hi = mid,
            None => return false,
        }
    }
    match lo.checked_sub(1).and_then(|i| vmas.get(i)) {
        Some(v) => h.end() <= v.end && v.flags & VMA_NO_PAGES == 0,
        None => false,
    }
}

/// Length of a `Pages` message with `count` pages (saturating).
pub const fn batch_len(count: u32) -> usize {
    BATCH_HEAD_LEN.saturating_add((count as usize).saturating_mul(PAGE_SIZE))
}

/// Writes the start of a `Pages` message (prefix and batch header) into
/// `out` and returns [`BATCH_HEAD_LEN`]; the caller puts the
/// `h.data_len()` bytes of page data right after it. Fails as
/// [`PageBatchHeader::check`], or `Truncated` if `out` is too small.
pub fn encode_batch_header(h: &PageBatchHeader, out: &mut [u8]) -> Result<usize, ImageError> {
    h.check()?;
    let mut w = Writer::new(out.get_mut(..BATCH_HEAD_LEN).ok_or(ImageError::Truncated)?);
    w.prefix(MsgKind::Pages)?;
    w.u64(h.first_addr)?;
    w.u32(h.count)?;
    Ok(BATCH_HEAD_LEN)
}

/// Writes a whole `Pages` message and returns its length. Fails as
/// [`encode_batch_header`], or `BadLength` if `data` is not
/// `h.data_len()` bytes.
pub fn encode_batch(h: &PageBatchHeader, data: &[u8], out: &mut [u8]) -> Result<usize, ImageError> {
    h.check()?;
    if data.len() != h.data_len() {
        return Err(ImageError::BadLength);
    }
    let total = batch_len(h.count);
    let msg = out.get_mut(..total).ok_or(ImageError::Truncated)?;
    encode_batch_header(h, msg)?;
    copy(msg.get_mut(BATCH_HEAD_LEN..).unwrap_or(&mut []), data);
    Ok(total)
}

/// Decodes a `Pages` message on its own: the header (as
/// [`PageBatchHeader::check`]) and the length. Returns the header and the
/// page data.
pub fn parse_batch(buf: &[u8]) -> Result<(PageBatchHeader, &[u8]), ImageError> {
    let mut r = Reader::new(buf);
    read_prefix_of(&mut r, MsgKind::Pages, MsgKind::PrePages)?;
    let h = PageBatchHeader { first_addr: r.u64()?, count: r.u32()? };
    h.check()?;
    check_total(buf, batch_len(h.count))?;
    Ok((h, r.rest()))
}

/// Decodes a `Pages` message as [`parse_batch`] and checks that it lies
/// inside one area of `vmas` ([`batch_in_vmas`]), else `BadBatch`.
pub fn decode_batch<'a>(buf: &'a [u8], vmas: &[Vma]) -> Result<(PageBatchHeader, &'a [u8]), ImageError> {
    let (h, data) = parse_batch(buf)?;
    if !batch_in_vmas(&h, vmas) {
        return Err(ImageError::BadBatch);
    }
    Ok((h, data))
}
