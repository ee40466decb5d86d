//! The `Signals` message: round trips, the layout of an entry, and every
//! rejection (count, length, numbers, queue, a `siginfo` of another
//! signal).

use super::*;

#[test]
fn signals_round_trip() {
    for n in [0usize, 1, 6] {
        let s: Vec<PendingSignal> = pending().into_iter().cycle().take(n).collect();
        let msg = signals_msg(&s);
        assert_eq!(msg.len(), SIGNALS_HEAD_LEN + n * PENDING_LEN);
        assert_eq!(msg_kind(&msg), Ok(MsgKind::Signals));
        let v = decode_signals(&msg).unwrap();
        assert_eq!(v.len(), n);
        assert_eq!(v.is_empty(), n == 0);
        let back: Vec<PendingSignal> = (0..v.len()).map(|i| v.get(i).unwrap()).collect();
        assert_eq!(back, s);
        assert_eq!(v.get(n), None);
        assert_eq!(decode(&msg), Ok(MigrateMsg::Signals(v)));
    }
    // As many as allowed.
    let full: Vec<PendingSignal> = (0..MAX_PENDING).map(|i| PendingSignal::new(34 + (i % 31) as u32, i % 2 == 0, -1, 1, 2, i as u64)).collect();
    let msg = signals_msg(&full);
    assert_eq!(decode_signals(&msg).unwrap().len(), MAX_PENDING);
}

#[test]
fn signal_entry_layout() {
    let s = PendingSignal::new(35, true, -1, 4240, 1000, 0x1122_3344_5566_7788);
    assert_eq!(s.code(), -1);
    // struct kernel_siginfo: signo, errno, code, pad, then _rt: pid, uid, value.
    assert_eq!(&s.info[0..4], &35i32.to_le_bytes());
    assert_eq!(&s.info[8..12], &(-1i32).to_le_bytes());
    assert_eq!(&s.info[16..20], &4240u32.to_le_bytes());
    assert_eq!(&s.info[20..24], &1000u32.to_le_bytes());
    assert_eq!(&s.info[24..32], &0x1122_3344_5566_7788u64.to_le_bytes());
    let msg = signals_msg(&[s]);
    assert_eq!(&msg[4..8], &1u32.to_le_bytes());
    assert_eq!(&msg[8..12], &35u32.to_le_bytes());
    assert_eq!(&msg[12..16], &1u32.to_le_bytes());
    assert_eq!(&msg[16..], &s.info[..]);
}

#[test]
fn signals_rejections() {
    let msg = signals_msg(&pending());
    check_lengths(&msg, |b| decode_signals(b).map(|_| ()));
    check_lengths(&msg, |b| decode(b).map(|_| ()));

    // The encoder: too many, bad entries, no room.
    let many = vec![pending()[0]; MAX_PENDING + 1];
    let mut out = vec![0u8; signals_len(MAX_PENDING + 1)];
    assert_eq!(encode_signals(&many, &mut out), Err(ImageError::TooLarge));
    for signo in [0u32, 9, 19, 65, 1000] {
        let bad = PendingSignal::new(signo, false, 0, 1, 1, 0);
        assert_eq!(bad.check(), Err(ImageError::BadSignal), "signal {signo}");
        assert_eq!(encode_signals(&[bad], &mut out), Err(ImageError::BadSignal));
    }
    let mut other = PendingSignal::new(10, false, 0, 1, 1, 0);
    other.info[0] = 12;
    assert_eq!(encode_signals(&[other], &mut out), Err(ImageError::BadSignal));
    assert_eq!(encode_signals(&pending(), &mut out[..msg.len() - 1]), Err(ImageError::Truncated));

    // The decoder: a count past the maximum, whatever the length.
    let mut m = msg.clone();
    m[4..8].copy_from_slice(&(MAX_PENDING as u32 + 1).to_le_bytes());
    assert_eq!(decode_signals(&m), Err(ImageError::TooLarge));
    m[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(decode_signals(&m), Err(ImageError::TooLarge));
    // A count that does not match the entries.
    let mut m = msg.clone();
    m[4..8].copy_from_slice(&5u32.to_le_bytes());
    assert_eq!(decode_signals(&m), Err(ImageError::BadLength));
    m[4..8].copy_from_slice(&7u32.to_le_bytes());
    assert_eq!(decode_signals(&m), Err(ImageError::Truncated));
    // Each entry: number, queue, siginfo's own number.
    let entry = |i: usize, off: usize| SIGNALS_HEAD_LEN + i * PENDING_LEN + off;
    for (off, v) in [(0usize, 0u32), (0, 9), (0, 19), (0, 65), (4, 2), (4, u32::MAX), (8, 11)] {
        for i in [0usize, 5] {
            let mut m = msg.clone();
            m[entry(i, off)..entry(i, off) + 4].copy_from_slice(&v.to_le_bytes());
            assert_eq!(decode_signals(&m), Err(ImageError::BadSignal), "entry {i} offset {off} value {v}");
            assert_eq!(decode(&m), Err(ImageError::BadSignal));
        }
    }
    // Prefix: version, kind, reserved byte.
    let mut m = msg.clone();
    m[0] ^= 1;
    assert_eq!(decode_signals(&m), Err(ImageError::BadVersion));
    let mut m = msg.clone();
    m[3] = 1;
    assert_eq!(decode_signals(&m), Err(ImageError::BadVersion));
    assert_eq!(ImageError::BadSignal.name(), "bad_signal");
    assert_eq!(ImageError::BadSignal.refuse_reason(), RefuseReason::BadImage);
}
