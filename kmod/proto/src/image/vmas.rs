//! The memory areas of an image: [`Vma`], its protection and flag bits,
//! the checks on a list of areas, and the `Vmas` message that carries
//! them ([`encode_vmas`], [`decode_vmas`], [`VmasView`]).
//!
//! Calls [`super::codec`], [`super::error`] and the bounds of
//! [`super::header`].

use super::codec::{check_total, copy, read_prefix_of, until_nul, MsgKind, Reader, Writer, PREFIX_LEN};
use super::error::ImageError;
use super::header::{MAX_VMAS, PAGE, USER_END};
use crate::wire::MAX_PAYLOAD;

/// Most areas in one `Vmas` message.
pub const MAX_VMAS_PER_MSG: usize = 2048;

/// Length of an encoded [`Vma`].
pub const VMA_WIRE_LEN: usize = 96;

/// Length of a `Vmas` message before its areas.
pub const VMAS_HEAD_LEN: usize = PREFIX_LEN + 8;

/// `PROT_READ`.
pub const PROT_READ: u32 = 1;
/// `PROT_WRITE`.
pub const PROT_WRITE: u32 = 2;
/// `PROT_EXEC`.
pub const PROT_EXEC: u32 = 4;
/// The protection bits an area may have.
pub const PROT_MASK: u32 = PROT_READ | PROT_WRITE | PROT_EXEC;

/// [`Vma::flags`]: the area grows down (`VM_GROWSDOWN`).
pub const VMA_GROWSDOWN: u32 = 1 << 0;
/// The main thread's stack (`[stack]`).
pub const VMA_STACK: u32 = 1 << 1;
/// The brk heap (`[heap]`).
pub const VMA_HEAP: u32 = 1 << 2;
/// Maps a file (`name` is its path at home).
pub const VMA_FILE: u32 = 1 << 3;
/// A shared mapping (`VM_SHARED`). Never migrates; present so a source can
/// describe what it refuses.
pub const VMA_SHARED: u32 = 1 << 4;
/// Device memory (`VM_IO`/`VM_PFNMAP`). Never migrates.
pub const VMA_IO: u32 = 1 << 5;
/// Locked in memory (`VM_LOCKED`).
pub const VMA_LOCKED: u32 = 1 << 6;
/// The vDSO text; the destination maps its own.
pub const VMA_VDSO: u32 = 1 << 7;
/// The vDSO data page; the destination maps its own.
pub const VMA_VVAR: u32 = 1 << 8;
/// Pre-copy, in the final list of areas: the destination keeps the copy
/// of this area it built from the pre-copy rounds (an area of `PreVmas`
/// with the same bounds, protection, kind and offset), and gets only the
/// pages written since. Without it an area is mapped afresh.
pub const VMA_KEEP: u32 = 1 << 9;
/// Every flag defined above; other bits make an area invalid.
pub const VMA_KNOWN: u32 =
    VMA_GROWSDOWN | VMA_STACK | VMA_HEAP | VMA_FILE | VMA_SHARED | VMA_IO | VMA_LOCKED | VMA_VDSO | VMA_VVAR | VMA_KEEP;
/// Areas whose pages are never sent: [`batch_in_vmas`](super::batch_in_vmas) refuses
/// them.
pub const VMA_NO_PAGES: u32 = VMA_IO | VMA_VDSO | VMA_VVAR;

// The message must fit one transport frame.
const _: () = assert!(VMAS_HEAD_LEN + MAX_VMAS_PER_MSG * VMA_WIRE_LEN <= MAX_PAYLOAD);

/// One memory area of the process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Vma {
    /// First address (page-aligned).
    pub start: u64,
    /// Address after the last byte (page-aligned, above `start`).
    pub end: u64,
    /// `PROT_*` bits ([`PROT_MASK`]).
    pub prot: u32,
    /// roam's `VMA_*` bits ([`VMA_KNOWN`]).
    pub flags: u32,
    /// Offset in the file, in pages (for file areas).
    pub pgoff: u64,
    /// The file's path at home, or `[heap]`, `[stack]`, `[vdso]`...:
    /// NUL-padded, truncated to 63 bytes.
    pub name: [u8; 64],
}

impl Default for Vma {
    fn default() -> Self {
        Vma::new(0, 0, 0, 0)
    }
}

impl Vma {
    /// An area without offset or name.
    pub const fn new(start: u64, end: u64, prot: u32, flags: u32) -> Vma {
        Vma { start, end, prot, flags, pgoff: 0, name: [0; 64] }
    }

    /// The area with `name` (truncated to 63 bytes, NUL-padded).
    pub fn with_name(mut self, name: &[u8]) -> Vma {
        self.name = [0; 64];
        let keep = name.get(..63).unwrap_or(name);
        copy(&mut self.name, keep);
        self
    }

    /// The name up to its first NUL.
    pub fn name_bytes(&self) -> &[u8] {
        until_nul(&self.name)
    }

    /// Whether `other` is this area unchanged for a destination that
    /// holds a copy of it (pre-copy): the same bounds, protection, kind
    /// (flags but [`VMA_KEEP`]) and file offset.
    pub const fn same_area(&self, other: &Vma) -> bool {
        self.start == other.start
            && self.end == other.end
            && self.prot == other.prot
            && self.flags & !VMA_KEEP == other.flags & !VMA_KEEP
            && self.pgoff == other.pgoff
    }

    /// Number of pages covered (0 if `end <= start`).
    pub const fn pages(&self) -> u64 {
        self.end.saturating_sub(self.start) / PAGE
    }

    /// The area without the range `lo..hi`: what lies below it and what
    /// lies above it (the part above keeps its file offset right). An
    /// area the range does not touch is returned whole, as the first.
    pub fn without(&self, lo: u64, hi: u64) -> [Option<Vma>; 2] {
        if hi <= self.start || lo >= self.end || lo >= hi {
            return [Some(*self), None];
        }
        let below = (lo > self.start).then(|| Vma { end: lo, ..*self });
        let above = (hi < self.end).then(|| Vma { start: hi, pgoff: self.pgoff + (hi - self.start) / PAGE, ..*self });
        [below, above]
    }

    /// Whether the area itself is valid: page-aligned, non-empty, below
    /// [`USER_END`], only known protection and flag bits.
    pub const fn is_valid(&self) -> bool {
        self.start & (PAGE - 1) == 0
            && self.end & (PAGE - 1) == 0
            && self.start < self.end
            && self.end <= USER_END
            && self.prot & !PROT_MASK == 0
            && self.flags & !VMA_KNOWN == 0
    }

    /// The 96-byte encoding: start, end, prot, flags, pgoff, name.
    pub fn to_bytes(&self) -> [u8; VMA_WIRE_LEN] {
        let mut b = [0u8; VMA_WIRE_LEN];
        let mut w = Writer::new(&mut b);
        // Cannot fail: the buffer has exactly the room needed.
        let _ = self.write(&mut w);
        b
    }

    /// Decodes the 96-byte encoding (no validity check).
    pub fn from_bytes(b: &[u8; VMA_WIRE_LEN]) -> Vma {
        Vma::read(&mut Reader::new(b)).unwrap_or_default()
    }

    fn write(&self, w: &mut Writer<'_>) -> Result<(), ImageError> {
        w.u64(self.start)?;
        w.u64(self.end)?;
        w.u32(self.prot)?;
        w.u32(self.flags)?;
        w.u64(self.pgoff)?;
        w.bytes(&self.name)
    }

    fn read(r: &mut Reader<'_>) -> Result<Vma, ImageError> {
        Ok(Vma { start: r.u64()?, end: r.u64()?, prot: r.u32()?, flags: r.u32()?, pgoff: r.u64()?, name: r.array()? })
    }
}

/// Checks a list of areas: at most [`MAX_VMAS`] (`TooLarge`), each valid,
/// sorted by address and not overlapping (`BadVma`).
pub fn validate_vmas(vmas: &[Vma]) -> Result<(), ImageError> {
    if vmas.len() > MAX_VMAS as usize {
        return Err(ImageError::TooLarge);
    }
    check_run(vmas.iter(), 0)
}

/// Checks that every area is valid and starts at or after the previous
/// one's end (the first at or after `floor`).
fn check_run<'v>(vmas: impl Iterator<Item = &'v Vma>, floor: u64) -> Result<(), ImageError> {
    let mut floor = floor;
    for v in vmas {
        if !v.is_valid() || v.start < floor {
            return Err(ImageError::BadVma);
        }
        floor = v.end;
    }
    Ok(())
}

/// Length of a `Vmas` message with `count` areas (saturating).
pub const fn vmas_len(count: usize) -> usize {
    VMAS_HEAD_LEN.saturating_add(count.saturating_mul(VMA_WIRE_LEN))
}

/// Writes a `Vmas` message carrying `vmas`, the areas numbered `first`
/// onwards, and returns its length.
///
/// Fails with `BadLength` for no area, `TooLarge` for more than
/// [`MAX_VMAS_PER_MSG`] or past [`MAX_VMAS`] in all, `BadVma` for an
/// invalid, unsorted or overlapping area, `Truncated` if `out` is too
/// small.
pub fn encode_vmas(first: u32, vmas: &[Vma], out: &mut [u8]) -> Result<usize, ImageError> {
    let count = vmas_count_ok(first, vmas.len())?;
    check_run(vmas.iter(), 0)?;
    let total = vmas_len(vmas.len());
    let mut w = Writer::new(out.get_mut(..total).ok_or(ImageError::Truncated)?);
    w.prefix(MsgKind::Vmas)?;
    w.u32(first)?;
    w.u32(count)?;
    for v in vmas {
        v.write(&mut w)?;
    }
    Ok(total)
}

/// Checks the count of a `Vmas` message starting at index `first`.
fn vmas_count_ok(first: u32, count: usize) -> Result<u32, ImageError> {
    if count == 0 {
        return Err(ImageError::BadLength);
    }
    if count > MAX_VMAS_PER_MSG {
        return Err(ImageError::TooLarge);
    }
    let c = u32::try_from(count).map_err(|_| ImageError::TooLarge)?;
    match first.checked_add(c) {
        Some(end) if end <= MAX_VMAS => Ok(c),
        _ => Err(ImageError::TooLarge),
    }
}

/// A decoded `Vmas` message; the areas are decoded on access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VmasView<'a> {
    /// Index of the first area in the whole list.
    pub first: u32,
    /// The encoded areas, a whole number of [`VMA_WIRE_LEN`].
    raw: &'a [u8],
}

impl VmasView<'_> {
    /// Number of areas in the message.
    pub fn len(&self) -> usize {
        self.raw.len() / VMA_WIRE_LEN
    }

    /// Whether the message has no area (never true for a decoded one).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Area `i` of the message (not of the whole list).
    pub fn get(&self, i: usize) -> Option<Vma> {
        let at = i.checked_mul(VMA_WIRE_LEN)?;
        let b = self.raw.get(at..at.checked_add(VMA_WIRE_LEN)?)?;
        Some(Vma::from_bytes(&<[u8; VMA_WIRE_LEN]>::try_from(b).ok()?))
    }
}

/// Decodes and checks a `Vmas` message: the count (as for [`encode_vmas`]),
/// the length, and every area (valid, sorted, not overlapping within the
/// message; [`Progress`](super::Progress) checks across messages).
pub fn decode_vmas(buf: &[u8]) -> Result<VmasView<'_>, ImageError> {
    let mut r = Reader::new(buf);
    read_prefix_of(&mut r, MsgKind::Vmas, MsgKind::PreVmas)?;
    let first = r.u32()?;
    let count = usize::try_from(r.u32()?).map_err(|_| ImageError::TooLarge)?;
    vmas_count_ok(first, count)?;
    check_total(buf, vmas_len(count))?;
    let view = VmasView { first, raw: r.rest() };
    run_end(&view, 0)?;
    Ok(view)
}

/// Checks a run of areas that must start at or after `floor`, each valid
/// and after the one before: where the last one ends, else `BadVma`.
pub(super) fn run_end(v: &VmasView<'_>, floor: u64) -> Result<u64, ImageError> {
    let mut last_end = floor;
    let mut i = 0;
    while i < v.len() {
        let a = v.get(i).ok_or(ImageError::BadVma)?;
        if !a.is_valid() || a.start < last_end {
            return Err(ImageError::BadVma);
        }
        last_end = a.end;
        i += 1;
    }
    Ok(last_end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_area_ignores_only_the_keep_mark() {
        let v = Vma { pgoff: 3, ..Vma::new(0x10000, 0x20000, PROT_READ | PROT_WRITE, VMA_HEAP) };
        assert!(v.same_area(&v));
        assert!(v.same_area(&Vma { flags: VMA_HEAP | VMA_KEEP, ..v }));
        for other in [
            Vma { start: 0xf000, ..v },
            Vma { end: 0x21000, ..v },
            Vma { prot: PROT_READ, ..v },
            Vma { flags: VMA_FILE, ..v },
            Vma { pgoff: 4, ..v },
        ] {
            assert!(!v.same_area(&other), "{other:?}");
        }
    }

    #[test]
    fn without_a_range() {
        let v = Vma { pgoff: 3, ..Vma::new(0x10000, 0x20000, 7, 0) };
        assert_eq!(v.without(0x30000, 0x31000), [Some(v), None]);
        assert_eq!(v.without(0x8000, 0x10000), [Some(v), None]);
        assert_eq!(v.without(0x10000, 0x20000), [None, None]);
        assert_eq!(v.without(0x0, 0x40000), [None, None]);
        let [b, a] = v.without(0x14000, 0x16000);
        assert_eq!(b, Some(Vma { end: 0x14000, ..v }));
        assert_eq!(a, Some(Vma { start: 0x16000, pgoff: 3 + 6, ..v }));
        assert_eq!(v.without(0x10000, 0x12000), [None, Some(Vma { start: 0x12000, pgoff: 5, ..v })]);
        assert_eq!(v.without(0x1e000, 0x22000), [Some(Vma { end: 0x1e000, ..v }), None]);
    }
}
