//! Page batches and the `Pages` message, and where a batch may lie.

use super::*;

#[test]
fn batch_round_trip_and_rejections() {
    let h = PageBatchHeader { first_addr: 0x40_0000, count: MAX_BATCH_PAGES };
    let data = page_data(MAX_BATCH_PAGES, 9);
    let msg = batch_msg(&h, &data);
    assert_eq!(msg.len(), 16 + 32 * 4096);
    assert_eq!(parse_batch(&msg), Ok((h, &data[..])));
    assert_eq!(decode_batch(&msg, &vmas()), Ok((h, &data[..])));
    assert_eq!(decode(&msg), Ok(MigrateMsg::Pages(h, &data[..])));

    // Header and data written separately give the same bytes.
    let mut out = vec![0u8; batch_len(h.count)];
    assert_eq!(encode_batch_header(&h, &mut out), Ok(BATCH_HEAD_LEN));
    out[BATCH_HEAD_LEN..].copy_from_slice(&data);
    assert_eq!(out, msg);

    let small = PageBatchHeader { first_addr: 0x60_0000, count: 2 };
    let small_msg = batch_msg(&small, &page_data(2, 3));
    check_lengths(&small_msg, |b| parse_batch(b).map(|_| ()));
    check_lengths(&small_msg, |b| decode_batch(b, &vmas()).map(|_| ()));

    let mut out = vec![0u8; batch_len(MAX_BATCH_PAGES + 1)];
    let cases = [
        (PageBatchHeader { first_addr: 0x40_0000, count: 0 }, ImageError::BadBatch),
        (PageBatchHeader { first_addr: 0x40_0000, count: MAX_BATCH_PAGES + 1 }, ImageError::TooLarge),
        (PageBatchHeader { first_addr: 0x40_0800, count: 1 }, ImageError::BadBatch),
        (PageBatchHeader { first_addr: USER_END, count: 1 }, ImageError::BadBatch),
        (PageBatchHeader { first_addr: USER_END - 4096, count: 2 }, ImageError::BadBatch),
        (PageBatchHeader { first_addr: !0xfff, count: 32 }, ImageError::BadBatch),
    ];
    for (bad, e) in cases {
        assert_eq!(encode_batch_header(&bad, &mut out), Err(e), "{bad:?}");
        let d = vec![0u8; bad.data_len()];
        assert_eq!(encode_batch(&bad, &d, &mut out), Err(e), "{bad:?}");
        // The same header forced onto the wire.
        let mut m = small_msg.clone();
        m[4..12].copy_from_slice(&bad.first_addr.to_le_bytes());
        m[12..16].copy_from_slice(&bad.count.to_le_bytes());
        assert_eq!(parse_batch(&m).err(), Some(e), "{bad:?}");
    }
    assert_eq!(encode_batch(&small, &page_data(1, 0), &mut out), Err(ImageError::BadLength));
    assert_eq!(encode_batch(&small, &page_data(2, 0), &mut out[..batch_len(2) - 1]), Err(ImageError::Truncated));
    assert_eq!(encode_batch_header(&small, &mut out[..BATCH_HEAD_LEN - 1]), Err(ImageError::Truncated));

    // Outside every area.
    let outside = PageBatchHeader { first_addr: 0x50_0000, count: 1 };
    let m = batch_msg(&outside, &page_data(1, 0));
    assert!(parse_batch(&m).is_ok());
    assert_eq!(decode_batch(&m, &vmas()).err(), Some(ImageError::BadBatch));
    assert_eq!(decode_batch(&m, &[]).err(), Some(ImageError::BadBatch));
}

#[test]
fn batches_against_areas() {
    let v = vmas();
    let inside = |first_addr: u64, count: u32| batch_in_vmas(&PageBatchHeader { first_addr, count }, &v);
    assert!(inside(0x40_0000, 1));
    assert!(inside(0x40_0000, 32));
    assert!(inside(0x40_0000 + MB - 4096, 1));
    assert!(!inside(0x40_0000 + MB - 4096, 2)); // runs past the end
    assert!(!inside(0x40_0000 + MB, 1)); // in the gap
    assert!(!inside(0x3f_f000, 2)); // starts before the first area
    assert!(!inside(0x1000, 1));
    assert!(inside(0x60_0000, 4));
    assert!(!inside(0x60_2000, 4)); // spans two adjacent areas
    assert!(inside(0x60_4000, 4));
    assert!(inside(0x7ffd_0001_f000, 1));
    assert!(!inside(0x7ffd_0010_0000, 1)); // the vDSO carries no pages
    assert!(!inside(0x7fff_0000_0000, 1)); // after the last area
    assert!(!inside(0x40_0000, 0));
    assert!(!inside(0x40_0800, 1));
    assert!(!batch_in_vmas(&PageBatchHeader { first_addr: 0x40_0000, count: 1 }, &[]));
    for flag in [VMA_IO, VMA_VDSO, VMA_VVAR] {
        let one = [Vma::new(0x1000, 0x9000, PROT_READ, flag)];
        assert!(!batch_in_vmas(&PageBatchHeader { first_addr: 0x1000, count: 1 }, &one));
    }
}
