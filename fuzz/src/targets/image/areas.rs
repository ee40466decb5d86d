//! `image_vmas` and `image_pages`: the memory of an image, its areas and
//! its page batches, decoded as the destination decodes them.
//!
//! * `Vmas`: 1 to [`MAX_VMAS_PER_MSG`] areas, numbered within
//!   [`MAX_VMAS`], each valid, sorted and not overlapping (so the list
//!   passes [`validate_vmas`]); the message is exactly `vmas_len` bytes
//!   and re-encodes to the same bytes.
//! * `Pages`: a batch that passes its own check, with exactly its pages'
//!   data, re-encoding to the same bytes; placed in the sample's areas,
//!   [`decode_batch`] and [`batch_in_vmas`] agree with a plain search for
//!   an area holding it that may carry pages; and the [`Checksum`] gives
//!   the same result however the data is split.

use super::parts::BIG;
use super::sample::Sample;
use crate::ensure;
use crate::target::{Cx, Field, Target, Violation};
use roam_proto::image::*;

/// The `image_vmas` target.
pub struct Vmas;

static VMAS_FIELDS: [Field; 6] = [
    Field::len(8, 4, VMAS_HEAD_LEN, VMA_WIRE_LEN),
    Field::value(4, 4),
    Field::value(12, 8),
    Field::value(20, 8),
    Field::value(28, 4),
    Field::value(32, 4),
];

impl Target for Vmas {
    fn name(&self) -> &'static str {
        "image_vmas"
    }

    fn about(&self) -> &'static str {
        "Vmas messages (image::decode_vmas: the memory areas, in order)"
    }

    fn seeds(&self) -> Vec<Vec<u8>> {
        let s = Sample::new(0);
        let mut out = s.vmas_msgs(5);
        out.extend(s.vmas_msgs(2));
        out.extend(s.vmas_msgs(1));
        out
    }

    fn max_len(&self) -> usize {
        BIG
    }

    fn fields(&self) -> &'static [Field] {
        &VMAS_FIELDS
    }

    fn run(&self, data: &[u8], cx: &mut Cx) -> Result<(), Violation> {
        check_vmas(data, cx)
    }
}

/// The `image_pages` target.
pub struct Pages;

static PAGES_FIELDS: [Field; 2] = [Field::len(12, 4, BATCH_HEAD_LEN, PAGE_SIZE), Field::value(4, 8)];

impl Target for Pages {
    fn name(&self) -> &'static str {
        "image_pages"
    }

    fn about(&self) -> &'static str {
        "Pages messages (image::parse_batch, decode_batch, batch_in_vmas, the page checksum)"
    }

    fn seeds(&self) -> Vec<Vec<u8>> {
        Sample::new(0).pages_msgs().into_iter().chain(Sample::new(1).pages_msgs()).collect()
    }

    fn max_len(&self) -> usize {
        batch_len(MAX_BATCH_PAGES) + 64
    }

    fn fields(&self) -> &'static [Field] {
        &PAGES_FIELDS
    }

    fn run(&self, data: &[u8], cx: &mut Cx) -> Result<(), Violation> {
        check_pages(data, cx)
    }
}

/// A decoded `Vmas`'s promises.
pub fn check_vmas(data: &[u8], cx: &mut Cx) -> Result<(), Violation> {
    let v = match decode_vmas(data) {
        Ok(v) => v,
        Err(e) => {
            cx.hit("vmas", e.name());
            return Ok(());
        }
    };
    cx.hit("vmas", "ok");
    let n = v.len();
    ensure!((1..=MAX_VMAS_PER_MSG).contains(&n) && !v.is_empty(), "{n} areas in one message");
    ensure!(
        u64::from(v.first) + n as u64 <= u64::from(MAX_VMAS),
        "areas {} to {} of at most {MAX_VMAS}",
        v.first,
        v.first as usize + n
    );
    ensure!(data.len() == vmas_len(n), "{n} areas in {} bytes", data.len());
    let mut list = Vec::with_capacity(n);
    for i in 0..n {
        let a = v.get(i);
        ensure!(a.is_some_and(|a| a.is_valid() && a.pages() > 0), "area {i} of a decoded message: {a:?}");
        let a = a.unwrap_or_default();
        ensure!(Vma::from_bytes(&a.to_bytes()) == a, "area {i} does not round-trip");
        let _ = a.name_bytes();
        list.push(a);
    }
    ensure!(v.get(n).is_none(), "an area past the end");
    ensure!(validate_vmas(&list).is_ok(), "decoded areas fail validate_vmas: {:?}", validate_vmas(&list));
    let mut again = vec![0u8; data.len()];
    let r = encode_vmas(v.first, &list, &mut again);
    ensure!(r == Ok(data.len()) && again == data, "re-encoding the areas gives {r:?} and other bytes");
    Ok(())
}

/// The sample image's areas (built once).
fn sample_vmas() -> &'static [Vma] {
    static VMAS: std::sync::OnceLock<Vec<Vma>> = std::sync::OnceLock::new();
    VMAS.get_or_init(|| Sample::new(0).vmas)
}

/// Whether a plain search finds an area of `vmas` holding the whole
/// batch that may carry pages.
fn holds(vmas: &[Vma], h: &PageBatchHeader) -> bool {
    h.check().is_ok() && vmas.iter().any(|v| v.start <= h.first_addr && h.end() <= v.end && v.flags & VMA_NO_PAGES == 0)
}

/// A decoded `Pages`'s promises.
pub fn check_pages(data: &[u8], cx: &mut Cx) -> Result<(), Violation> {
    let (h, pages) = match parse_batch(data) {
        Ok(x) => x,
        Err(e) => {
            cx.hit("pages", e.name());
            return Ok(());
        }
    };
    cx.hit("pages", "ok");
    ensure!(h.check().is_ok(), "a parsed batch fails its check: {h:?}");
    ensure!(pages.len() == h.data_len(), "{} bytes of data for {} pages", pages.len(), h.count);
    ensure!(data.len() == batch_len(h.count), "{} pages in {} bytes", h.count, data.len());
    let mut again = vec![0u8; data.len()];
    let r = encode_batch(&h, pages, &mut again);
    ensure!(r == Ok(data.len()) && again == data, "re-encoding the batch gives {r:?} and other bytes");
    let sample = sample_vmas();
    let lists: [&[Vma]; 3] = [sample, &sample[..1], &[]];
    for vmas in lists {
        let inside = batch_in_vmas(&h, vmas);
        ensure!(inside == holds(vmas, &h), "batch_in_vmas says {inside} for {h:?}");
        let d = decode_batch(data, vmas);
        ensure!(d.is_ok() == inside && !matches!(d, Err(e) if e != ImageError::BadBatch), "decode_batch gives {d:?}");
    }
    cx.hit("placed", if batch_in_vmas(&h, sample) { "inside" } else { "outside" });
    let mut whole = Checksum::new();
    whole.add_batch(&h, pages);
    let mut split = Checksum::new();
    split.update(&h.first_addr.to_le_bytes());
    split.update(&u64::from(h.count).to_le_bytes());
    let cut = pages.len() / 3 + 5;
    split.update(&pages[..cut.min(pages.len())]);
    split.update(&pages[cut.min(pages.len())..]);
    ensure!(whole.finish() == split.finish(), "the checksum depends on how the data is split");
    Ok(())
}
