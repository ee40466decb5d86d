//! Areas the destination may map from its own copy of a file instead of
//! receiving their pages: the source's `Files` offer (right after
//! `Begin`) and the destination's `Ready` answer, a bit per offer it
//! takes.
//!
//! An offer names one area of the image (its index in the `Vmas` list
//! that follows) that maps a byte range of a regular file privately and
//! holds no page of its own (nothing in it was ever written): what the
//! process sees there is the file's bytes. The offer carries the file's
//! path, its size and the SHA-256 of the range. The destination takes it
//! only if the file at that path has the same size and the same bytes in
//! the range; it then maps the area from that file, and the source sends
//! none of its pages.
//!
//! Calls [`super::codec`] and [`super::error`] only.

use super::codec::{check_total, read_prefix, MsgKind, Reader, Writer, PREFIX_LEN};
use super::error::ImageError;
use super::header::PAGE;

/// Most offers in one image (the answer is a 64-bit mask).
pub const MAX_FILES: usize = 64;

/// Longest path an offer carries (longer ones are not offered).
pub const MAX_FILE_PATH: usize = 255;

/// Length of an offer before its path.
pub const FILE_ENTRY_HEAD: usize = 4 + 2 + 2 + 8 + 8 + 8 + 32;

/// Length of a `Files` message before its offers.
pub const FILES_HEAD_LEN: usize = PREFIX_LEN + 4;

/// Length of a `Ready` message.
pub const READY_LEN: usize = PREFIX_LEN + 8;

/// Longest `Files` message.
pub const fn files_max_len() -> usize {
    FILES_HEAD_LEN + MAX_FILES * (FILE_ENTRY_HEAD + MAX_FILE_PATH)
}

/// One offer, as decoded or to be encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileOffer<'a> {
    /// Index of the area in the image's list of areas.
    pub vma: u32,
    /// Offset in the file of the area's first byte (page-aligned).
    pub off: u64,
    /// Length of the area (page-aligned, not zero).
    pub len: u64,
    /// The file's size.
    pub size: u64,
    /// SHA-256 of the file's bytes from `off` to `off + len` or its end.
    pub hash: [u8; 32],
    /// Absolute path of the file on the source: no NUL, at most
    /// [`MAX_FILE_PATH`] bytes.
    pub path: &'a [u8],
}

impl FileOffer<'_> {
    /// Whether the offer is well-formed on its own.
    pub fn is_valid(&self) -> bool {
        !self.path.is_empty()
            && self.path.len() <= MAX_FILE_PATH
            && self.path.first() == Some(&b'/')
            && !self.path.contains(&0)
            && self.off % PAGE == 0
            && self.len % PAGE == 0
            && self.len != 0
            && self.off.checked_add(self.len).is_some()
    }
}

/// Writes a `Files` message with `offers` (at most [`MAX_FILES`], each
/// valid, areas in increasing order) and returns its length.
pub fn encode_files(offers: &[FileOffer<'_>], out: &mut [u8]) -> Result<usize, ImageError> {
    if offers.len() > MAX_FILES {
        return Err(ImageError::TooLarge);
    }
    let mut w = Writer::new(out);
    w.prefix(MsgKind::Files)?;
    w.u32(offers.len() as u32)?;
    let mut last: Option<u32> = None;
    for o in offers {
        if !o.is_valid() || last.is_some_and(|l| o.vma <= l) {
            return Err(ImageError::BadVma);
        }
        last = Some(o.vma);
        w.u32(o.vma)?;
        w.u16(o.path.len() as u16)?;
        w.u16(0)?;
        w.u64(o.off)?;
        w.u64(o.len)?;
        w.u64(o.size)?;
        w.bytes(&o.hash)?;
        w.bytes(o.path)?;
    }
    Ok(w.pos)
}

/// A decoded `Files` message: every offer was checked ([`FileOffer::is_valid`],
/// areas in strictly increasing order, nothing after the last).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FilesView<'a> {
    count: u32,
    raw: &'a [u8],
}

impl<'a> FilesView<'a> {
    /// Number of offers.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The offers, in order.
    pub fn iter(&self) -> impl Iterator<Item = FileOffer<'a>> + 'a {
        let mut r = Reader::new(self.raw);
        (0..self.count).map_while(move |_| read_offer(&mut r).ok())
    }
}

fn read_offer<'a>(r: &mut Reader<'a>) -> Result<FileOffer<'a>, ImageError> {
    let vma = r.u32()?;
    let path_len = r.u16()? as usize;
    if r.u16()? != 0 {
        return Err(ImageError::BadVma);
    }
    let off = r.u64()?;
    let len = r.u64()?;
    let size = r.u64()?;
    let hash = r.array::<32>()?;
    let path = r.bytes(path_len)?;
    Ok(FileOffer { vma, off, len, size, hash, path })
}

/// Decodes and checks a `Files` message.
pub fn decode_files(buf: &[u8]) -> Result<FilesView<'_>, ImageError> {
    let mut r = Reader::new(buf);
    read_prefix(&mut r, MsgKind::Files)?;
    let count = r.u32()?;
    if count as usize > MAX_FILES {
        return Err(ImageError::TooLarge);
    }
    let raw = r.rest();
    let mut rr = Reader::new(raw);
    let mut last: Option<u32> = None;
    for _ in 0..count {
        let o = read_offer(&mut rr)?;
        if !o.is_valid() || last.is_some_and(|l| o.vma <= l) {
            return Err(ImageError::BadVma);
        }
        last = Some(o.vma);
    }
    if !rr.rest().is_empty() {
        return Err(ImageError::BadLength);
    }
    Ok(FilesView { count, raw })
}

/// Writes a `Ready` message (the destination is ready for the rest of
/// the image; bit `i` of `have` set: it took offer `i`) and returns its
/// length.
pub fn encode_ready(have: u64, out: &mut [u8]) -> Result<usize, ImageError> {
    let mut w = Writer::new(out.get_mut(..READY_LEN).ok_or(ImageError::Truncated)?);
    w.prefix(MsgKind::Ready)?;
    w.u64(have)?;
    Ok(READY_LEN)
}

/// Decodes a `Ready` message into its mask.
pub fn decode_ready(buf: &[u8]) -> Result<u64, ImageError> {
    let mut r = Reader::new(buf);
    read_prefix(&mut r, MsgKind::Ready)?;
    check_total(buf, READY_LEN)?;
    r.u64()
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::vec;

    fn offer(vma: u32, path: &[u8]) -> FileOffer<'_> {
        FileOffer { vma, off: 0x5000, len: 0x3000, size: 0x9000, hash: [vma as u8; 32], path }
    }

    #[test]
    fn round_trip() {
        let offers = [offer(2, b"/usr/lib/libc.so.6"), offer(5, b"/bin/x")];
        let mut buf = vec![0u8; files_max_len()];
        let n = encode_files(&offers, &mut buf).unwrap();
        assert_eq!(n, FILES_HEAD_LEN + 2 * FILE_ENTRY_HEAD + 18 + 6);
        let v = decode_files(&buf[..n]).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v.iter().collect::<std::vec::Vec<_>>(), offers.to_vec());
        let n = encode_files(&[], &mut buf).unwrap();
        assert!(decode_files(&buf[..n]).unwrap().is_empty());
        let mut r = [0u8; READY_LEN];
        encode_ready(0x8000_0000_0000_0001, &mut r).unwrap();
        assert_eq!(decode_ready(&r), Ok(0x8000_0000_0000_0001));
    }

    #[test]
    fn bad_offers_are_refused() {
        let mut buf = vec![0u8; files_max_len()];
        for bad in [
            offer(1, b"relative"),
            offer(1, b""),
            offer(1, b"/a\0b"),
            FileOffer { off: 1, ..offer(1, b"/a") },
            FileOffer { len: 0, ..offer(1, b"/a") },
            FileOffer { len: 0x1001, ..offer(1, b"/a") },
        ] {
            assert_eq!(encode_files(&[bad], &mut buf), Err(ImageError::BadVma), "{bad:?}");
        }
        // Areas out of order, on either side.
        assert!(encode_files(&[offer(3, b"/a"), offer(3, b"/b")], &mut buf).is_err());
        let n = encode_files(&[offer(3, b"/a"), offer(4, b"/b")], &mut buf).unwrap();
        buf[FILES_HEAD_LEN + FILE_ENTRY_HEAD + 2] = 3; // second offer: area 3
        assert_eq!(decode_files(&buf[..n]), Err(ImageError::BadVma));
        // A path whose length runs past the end; bytes after the last offer.
        let n = encode_files(&[offer(1, b"/abc")], &mut buf).unwrap();
        assert_eq!(decode_files(&buf[..n - 1]), Err(ImageError::Truncated));
        assert_eq!(decode_files(&buf[..n + 1]), Err(ImageError::BadLength));
        // Too many.
        buf[PREFIX_LEN..PREFIX_LEN + 4].copy_from_slice(&65u32.to_le_bytes());
        assert_eq!(decode_files(&buf[..n]), Err(ImageError::TooLarge));
        let many = vec![offer(0, b"/a"); MAX_FILES + 1];
        assert_eq!(encode_files(&many, &mut buf), Err(ImageError::TooLarge));
    }

    #[test]
    fn the_longest_message_fits_a_frame() {
        assert!(files_max_len() <= crate::wire::MAX_PAYLOAD);
        let paths = vec![[b'/'; MAX_FILE_PATH]; MAX_FILES];
        let offers: std::vec::Vec<_> = paths.iter().enumerate().map(|(i, p)| offer(i as u32, p)).collect();
        let mut buf = vec![0u8; files_max_len()];
        assert_eq!(encode_files(&offers, &mut buf), Ok(files_max_len()));
        assert_eq!(decode_files(&buf).unwrap().len(), MAX_FILES);
    }
}
