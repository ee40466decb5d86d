//! Memory areas and the `Vmas` message: round trips, validation, names.

use super::*;

#[test]
fn vmas_round_trip_and_rejections() {
    let v = vmas();
    let msg = vmas_msg(7, &v);
    let view = decode_vmas(&msg).unwrap();
    assert_eq!(view.first, 7);
    assert_eq!(view.len(), v.len());
    assert!(!view.is_empty());
    for (i, a) in v.iter().enumerate() {
        assert_eq!(view.get(i), Some(*a));
    }
    assert_eq!(view.get(v.len()), None);
    assert_eq!(view.get(usize::MAX), None);
    assert_eq!(view.get(0).unwrap().name_bytes(), b"/usr/bin/hello");
    assert_eq!(decode(&msg), Ok(MigrateMsg::Vmas(view)));
    check_lengths(&msg, |b| decode_vmas(b).map(|_| ()));

    let mut out = vec![0u8; vmas_len(MAX_VMAS_PER_MSG + 1)];
    assert_eq!(encode_vmas(0, &[], &mut out), Err(ImageError::BadLength));
    let many: Vec<Vma> = (0..MAX_VMAS_PER_MSG as u64 + 1).map(|i| Vma::new(i * 4096, (i + 1) * 4096, 0, 0)).collect();
    assert_eq!(encode_vmas(0, &many, &mut out), Err(ImageError::TooLarge));
    assert_eq!(encode_vmas(0, &many[..MAX_VMAS_PER_MSG], &mut out), Ok(vmas_len(MAX_VMAS_PER_MSG)));
    assert_eq!(encode_vmas(MAX_VMAS - 1, &v[..2], &mut out), Err(ImageError::TooLarge));
    assert_eq!(encode_vmas(u32::MAX, &v[..1], &mut out), Err(ImageError::TooLarge));
    assert_eq!(encode_vmas(0, &v, &mut out[..vmas_len(v.len()) - 1]), Err(ImageError::Truncated));
    let unsorted = [v[1], v[0]];
    assert_eq!(encode_vmas(0, &unsorted, &mut out), Err(ImageError::BadVma));

    // Count fields.
    let mut m = msg.clone();
    m[8..12].copy_from_slice(&0u32.to_le_bytes());
    assert_eq!(decode_vmas(&m).err(), Some(ImageError::BadLength));
    let mut m = msg.clone();
    m[8..12].copy_from_slice(&(MAX_VMAS_PER_MSG as u32 + 1).to_le_bytes());
    assert_eq!(decode_vmas(&m).err(), Some(ImageError::TooLarge));
    let mut m = msg.clone();
    m[4..8].copy_from_slice(&(MAX_VMAS - 2).to_le_bytes());
    assert_eq!(decode_vmas(&m).err(), Some(ImageError::TooLarge));
    // An invalid area inside the message (unaligned start of the first).
    let mut m = msg.clone();
    m[VMAS_HEAD_LEN] = 1;
    assert_eq!(decode_vmas(&m).err(), Some(ImageError::BadVma));
    // Overlap: the third area starts inside the second.
    let mut m = msg.clone();
    let third = VMAS_HEAD_LEN + 2 * VMA_WIRE_LEN;
    m[third..third + 8].copy_from_slice(&0x60_3000u64.to_le_bytes());
    assert_eq!(decode_vmas(&m).err(), Some(ImageError::BadVma));
    // Unknown flag bit.
    let mut m = msg;
    m[VMAS_HEAD_LEN + 20..VMAS_HEAD_LEN + 24].copy_from_slice(&(1u32 << 31).to_le_bytes());
    assert_eq!(decode_vmas(&m).err(), Some(ImageError::BadVma));
}

#[test]
fn vma_validation() {
    assert_eq!(validate_vmas(&vmas()), Ok(()));
    assert_eq!(validate_vmas(&[]), Ok(()));
    let ok = Vma::new(0x1000, 0x3000, PROT_READ, 0);
    let bad = [
        Vma { start: 0x1001, ..ok },
        Vma { end: 0x2fff, ..ok },
        Vma { end: 0x1000, ..ok },
        Vma { start: 0x4000, ..ok },
        Vma::new(0x7fff_ffff_e000, 0x8000_0000_0000, 0, 0),
        Vma::new(0xffff_8880_0000_0000, 0xffff_8880_0000_1000, 0, 0),
        Vma::new(0xffff_ffff_ff60_0000, 0xffff_ffff_ff60_1000, PROT_READ | PROT_EXEC, 0),
        Vma { prot: 8, ..ok },
        Vma { flags: 1 << 10, ..ok },
    ];
    for b in bad {
        assert!(!b.is_valid(), "{b:?}");
        assert_eq!(validate_vmas(&[b]), Err(ImageError::BadVma), "{b:?}");
    }
    assert!(Vma::new(USER_END - 4096, USER_END, 0, VMA_KNOWN).is_valid());
    // Overlapping and unsorted lists.
    let a = Vma::new(0x1000, 0x3000, 0, 0);
    let b = Vma::new(0x2000, 0x4000, 0, 0);
    let c = Vma::new(0x5000, 0x6000, 0, 0);
    assert_eq!(validate_vmas(&[a, b]), Err(ImageError::BadVma));
    assert_eq!(validate_vmas(&[c, a]), Err(ImageError::BadVma));
    assert_eq!(validate_vmas(&[a, a]), Err(ImageError::BadVma));
    assert_eq!(validate_vmas(&[a, c]), Ok(()));
    // Bound on the number of areas.
    let list: Vec<Vma> = (0..u64::from(MAX_VMAS) + 1).map(|i| Vma::new(i * 8192, i * 8192 + 4096, 0, 0)).collect();
    assert_eq!(validate_vmas(&list[..MAX_VMAS as usize]), Ok(()));
    assert_eq!(validate_vmas(&list), Err(ImageError::TooLarge));
}

#[test]
fn vma_names() {
    let long = [b'x'; 100];
    let v = Vma::new(0, 4096, 0, 0).with_name(&long);
    assert_eq!(v.name_bytes().len(), 63);
    assert_eq!(v.name[63], 0);
    let v = v.with_name(b"[heap]");
    assert_eq!(v.name_bytes(), b"[heap]");
    assert!(v.name[6..].iter().all(|b| *b == 0));
    assert_eq!(Vma::from_bytes(&v.to_bytes()), v);
    assert_eq!(v.pages(), 1);
}
