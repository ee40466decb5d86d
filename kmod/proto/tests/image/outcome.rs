//! The small messages that end a migration (`Commit`, `Accept`, `Refuse`,
//! `Abort`), refusal reasons and error names.

use super::*;

#[test]
fn small_messages() {
    let m = commit_msg(123, 0xfeed_f00d_dead_beef);
    assert_eq!(decode_commit(&m), Ok((123, 0xfeed_f00d_dead_beef)));
    assert_eq!(decode(&m), Ok(MigrateMsg::Commit { nr_pages: 123, checksum: 0xfeed_f00d_dead_beef }));
    check_lengths(&m, |b| decode_commit(b).map(|_| ()));

    let m = accept_msg(31337);
    assert_eq!(decode_accept(&m), Ok(31337));
    assert_eq!(decode(&m), Ok(MigrateMsg::Accept { remote_pid: 31337 }));
    check_lengths(&m, |b| decode_accept(b).map(|_| ()));

    for r in RefuseReason::ALL {
        let m = refuse_msg(r);
        assert_eq!(decode_refuse(&m), Ok(r));
        assert_eq!(decode(&m), Ok(MigrateMsg::Refuse { reason: r }));
        check_lengths(&m, |b| decode_refuse(b).map(|_| ()));
    }
    let mut m = refuse_msg(RefuseReason::Busy);
    m[4..6].copy_from_slice(&99u16.to_le_bytes());
    assert_eq!(decode_refuse(&m), Err(ImageError::BadVersion));

    let m = abort_msg();
    assert_eq!(decode_abort(&m), Ok(()));
    assert_eq!(decode(&m), Ok(MigrateMsg::Abort));
    check_lengths(&m, |b| decode_abort(b).map(|_| ()));

    for (len, f) in [
        (COMMIT_LEN, encode_commit(1, 2, &mut [0u8; COMMIT_LEN - 1])),
        (ACCEPT_LEN, encode_accept(1, &mut [0u8; ACCEPT_LEN - 1])),
        (REFUSE_LEN, encode_refuse(RefuseReason::Busy, &mut [0u8; REFUSE_LEN - 1])),
        (ABORT_LEN, encode_abort(&mut [0u8; ABORT_LEN - 1])),
    ] {
        assert_eq!(f, Err(ImageError::Truncated), "{len}");
    }
}

#[test]
fn reasons_and_errors() {
    for (i, r) in RefuseReason::ALL.iter().enumerate() {
        assert_eq!(usize::from(r.code()), i + 1);
        assert_eq!(RefuseReason::from_code(r.code()), Some(*r));
        assert!(r.errno() > 0);
        assert!(!r.reason().is_empty());
    }
    assert_eq!(RefuseReason::from_code(0), None);
    assert_eq!(RefuseReason::from_code(9), None);
    assert_eq!(RefuseReason::NoCgroup.errno(), 2);
    assert_eq!(RefuseReason::NotLighter.errno(), 11);
    assert_eq!(RefuseReason::NoMemory.errno(), 12);
    assert_eq!(RefuseReason::Busy.errno(), 16);
    assert_eq!(ImageError::BadVersion.refuse_reason(), RefuseReason::Version);
    assert_eq!(ImageError::BadVma.refuse_reason(), RefuseReason::BadImage);
    assert_eq!(ImageError::TooLarge.name(), "too_large");
}
