// SPDX-License-Identifier: GPL-2.0

//! Areas the destination maps from its own copy of a file instead of
//! receiving their pages: program text, read-only data and libraries,
//! most of what a small process is made of.
//!
//! The source offers every area that privately maps a byte range of a
//! world-readable regular file and in which no page was ever written (so
//! it shows exactly the file's bytes): the area's index, the file's path
//! and size, and the SHA-256 of the range (`image::FileOffer`). The
//! destination takes an offer only if the file at that path is a
//! world-readable regular file of the same size with the same bytes in
//! the range; it maps the area from that file (as the program would see
//! it at home: a private file mapping, named in `/proc/PID/maps`), and
//! the source sends none of its pages. Everything else travels as
//! before. Only world-readable files take part, so the answer tells a
//! peer nothing about files that every user of the destination could not
//! read for themselves.
//!
//! Hashes are cached on both sides by the file's identity (device, inode,
//! size, modification and change times) and range, so a program's text
//! is read once per node, not once per migration.
//!
//! Owns [`FileHashes`], [`Offer`] and [`Taken`]; calls `sys::files`.

use super::{has_pages, Mover, PAGE};
use crate::image::{self, FileOffer, FilesView, Vma};
use crate::sys::files::{File, FileId};
use kernel::prelude::*;

/// Longest range offered: its hash is a read of the range on both sides
/// the first time (a few ms per MiB under emulation).
const MAX_OFFER_LEN: u64 = 16 << 20;

/// Ranges whose hash is kept.
const CACHED: usize = 64;

/// The SHA-256 of ranges of files, by identity and range.
pub(super) struct FileHashes {
    entries: KVec<(FileId, u64, u64, [u8; 32])>,
    next: usize,
}

impl FileHashes {
    pub(super) const fn new() -> Self {
        FileHashes { entries: KVec::new(), next: 0 }
    }

    fn get(&self, id: &FileId, off: u64, len: u64) -> Option<[u8; 32]> {
        self.entries.iter().find(|e| e.0 == *id && e.1 == off && e.2 == len).map(|e| e.3)
    }

    /// Keeps a hash, replacing the oldest once full.
    fn put(&mut self, id: FileId, off: u64, len: u64, hash: [u8; 32]) {
        if self.entries.len() < CACHED {
            let _ = self.entries.push((id, off, len, hash), GFP_KERNEL);
            return;
        }
        if let Some(e) = self.entries.get_mut(self.next % CACHED) {
            *e = (id, off, len, hash);
        }
        self.next = self.next.wrapping_add(1);
    }
}

/// An area the source offers.
pub(super) struct Offer {
    pub(super) vma: u32,
    off: u64,
    len: u64,
    size: u64,
    hash: [u8; 32],
    path: KVec<u8>,
}

impl Offer {
    pub(super) fn wire(&self) -> FileOffer<'_> {
        FileOffer { vma: self.vma, off: self.off, len: self.len, size: self.size, hash: self.hash, path: &self.path }
    }
}

/// An offer the destination took: the area and the file it maps it from.
pub(super) struct Taken {
    pub(super) vma: u32,
    off: u64,
    len: u64,
    file: File,
    /// Where the area was mapped (0 until then).
    pub(super) start: u64,
    pub(super) end: u64,
}

impl Mover {
    /// The SHA-256 of `len` bytes of `f` from `off`, cached while the
    /// file's identity stays `id`.
    fn hash_of(&self, f: &File, id: &FileId, off: u64, len: u64) -> Result<[u8; 32]> {
        if let Some(h) = self.file_hashes.lock().get(id, off, len) {
            return Ok(h);
        }
        let h = f.sha256(off, len)?;
        // Kept only if the file did not change while it was read.
        if f.id().ok().as_ref() == Some(id) {
            self.file_hashes.lock().put(*id, off, len, h);
        }
        Ok(h)
    }

    /// In the migrating process: the areas of `vmas` (the image's list)
    /// it offers, at most [`image::MAX_FILES`].
    pub(super) fn file_offers(&self, vmas: &[Vma]) -> KVec<Offer> {
        let mut out = KVec::new();
        for (i, v) in vmas.iter().enumerate() {
            if out.len() >= image::MAX_FILES {
                break;
            }
            if !has_pages(v) || v.flags & image::VMA_FILE == 0 || v.flags & image::VMA_SHARED != 0 {
                continue;
            }
            let len = v.end - v.start;
            let Some(off) = v.pgoff.checked_mul(PAGE) else { continue };
            if len > MAX_OFFER_LEN {
                continue;
            }
            if let Some(o) = self.offer(i as u32, v.start, off, len) {
                if out.push(o, GFP_KERNEL).is_err() {
                    break;
                }
            }
        }
        out
    }

    fn offer(&self, vma: u32, start: u64, off: u64, len: u64) -> Option<Offer> {
        let f = File::of_clean_area(start)?;
        let id = f.id().ok()?;
        if !id.world_readable() {
            return None;
        }
        let mut buf = crate::sys::bytes::zeroed_kv(image::MAX_FILE_PATH + 1, GFP_KERNEL).ok()?;
        let n = f.path(&mut buf).ok()?;
        if n == 0 || n > image::MAX_FILE_PATH {
            return None;
        }
        let mut path = KVec::new();
        path.extend_from_slice(buf.get(..n)?, GFP_KERNEL).ok()?;
        let hash = self.hash_of(&f, &id, off, len).ok()?;
        let o = Offer { vma, off, len, size: id.size, hash, path };
        o.wire().is_valid().then_some(o)
    }

    /// On the destination: the offers it takes (each file held until the
    /// area is mapped) and the mask that tells the source which.
    #[inline(never)]
    pub(super) fn take_offers(&self, v: &FilesView<'_>) -> (KVec<Taken>, u64) {
        let mut taken = KVec::new();
        let mut have = 0u64;
        for (i, o) in v.iter().enumerate() {
            let Some(file) = self.same_file(&o) else { continue };
            let t = Taken { vma: o.vma, off: o.off, len: o.len, file, start: 0, end: 0 };
            if taken.push(t, GFP_KERNEL).is_ok() {
                have |= 1u64 << (i % 64);
            }
        }
        (taken, have)
    }

    /// The file at the offer's path, if it holds what the offer says.
    fn same_file(&self, o: &FileOffer<'_>) -> Option<File> {
        let mut p = KVec::new();
        p.extend_from_slice(o.path, GFP_KERNEL).ok()?;
        p.push(0, GFP_KERNEL).ok()?;
        let path = kernel::str::CStr::from_bytes_with_nul(&p).ok()?;
        let f = File::open(path).ok()?;
        let id = f.id().ok()?;
        if !id.world_readable() || id.size != o.size {
            return None;
        }
        (self.hash_of(&f, &id, o.off, o.len).ok()? == o.hash).then_some(f)
    }
}

/// Maps area `index` (`a`) of an arrival from its taken file, if it was
/// taken: `Ok(true)` when mapped, `Ok(false)` if not taken, `EINVAL` if
/// the area is not the one offered. Runs with the target's mm borrowed.
pub(super) fn map_taken(taken: &mut [Taken], index: u32, a: &Vma) -> Result<bool> {
    let Some(t) = taken.iter_mut().find(|t| t.vma == index) else { return Ok(false) };
    if a.flags & image::VMA_FILE == 0 || !has_pages(a) || a.end - a.start != t.len || a.pgoff.checked_mul(PAGE) != Some(t.off) {
        return Err(EINVAL);
    }
    t.file.map_private(a.start, t.len, a.prot, t.off)?;
    t.start = a.start;
    t.end = a.end;
    Ok(true)
}

/// Whether `[addr, addr + len)` overlaps an area mapped from a file
/// (whose pages the source must not send).
pub(super) fn in_taken(taken: &[Taken], addr: u64, len: u64) -> bool {
    let end = addr.saturating_add(len);
    taken.iter().any(|t| t.start < end && addr < t.end)
}
