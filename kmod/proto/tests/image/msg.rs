//! Message kinds and the dispatch of `decode`: each decoder takes its own
//! kind only.

use super::*;

#[test]
fn kinds_and_dispatch() {
    let all = every_message();
    let kinds = [
        MsgKind::Begin,
        MsgKind::Files,
        MsgKind::Ready,
        MsgKind::Signals,
        MsgKind::Timers,
        MsgKind::Creds,
        MsgKind::Vmas,
        MsgKind::Pages,
        MsgKind::Commit,
        MsgKind::Accept,
        MsgKind::Refuse,
        MsgKind::Abort,
    ];
    for (m, k) in all.iter().zip(kinds) {
        assert_eq!(msg_kind(m), Ok(k));
        assert_eq!(decode(m).map(|d| d.kind()), Ok(k));
        assert_eq!(MsgKind::from_u8(k.as_u8()), Some(k));
    }
    for v in 0..=255u8 {
        assert_eq!(MsgKind::from_u8(v).is_some(), (1..=15).contains(&v));
    }
    // Each specific decoder refuses every other kind.
    type Dec = fn(&[u8]) -> bool;
    let decoders: [(MsgKind, Dec); 12] = [
        (MsgKind::Begin, |b| decode_begin(b) == Err(ImageError::BadVersion)),
        (MsgKind::Files, |b| decode_files(b) == Err(ImageError::BadVersion)),
        (MsgKind::Ready, |b| decode_ready(b) == Err(ImageError::BadVersion)),
        (MsgKind::Signals, |b| decode_signals(b) == Err(ImageError::BadVersion)),
        (MsgKind::Timers, |b| decode_timers(b) == Err(ImageError::BadVersion)),
        (MsgKind::Creds, |b| decode_creds(b) == Err(ImageError::BadVersion)),
        (MsgKind::Vmas, |b| decode_vmas(b) == Err(ImageError::BadVersion)),
        (MsgKind::Pages, |b| parse_batch(b) == Err(ImageError::BadVersion)),
        (MsgKind::Commit, |b| decode_commit(b) == Err(ImageError::BadVersion)),
        (MsgKind::Accept, |b| decode_accept(b) == Err(ImageError::BadVersion)),
        (MsgKind::Refuse, |b| decode_refuse(b) == Err(ImageError::BadVersion)),
        (MsgKind::Abort, |b| decode_abort(b) == Err(ImageError::BadVersion)),
    ];
    for m in &all {
        for (k, refuses) in &decoders {
            if msg_kind(m) != Ok(*k) {
                assert!(refuses(m), "{k:?} decoder took a {:?}", msg_kind(m));
            }
        }
    }
    let mut m = abort_msg();
    m[2] = 16;
    assert_eq!(msg_kind(&m), Err(ImageError::BadVersion));
    assert_eq!(decode(&m), Err(ImageError::BadVersion));
    assert_eq!(msg_kind(&[]), Err(ImageError::Truncated));
    assert_eq!(msg_kind(&[1, 0, 7]), Err(ImageError::Truncated));
}

/// The pre-copy kinds are renamed `Vmas`, `Pages` and `Begin`: `retag`
/// renames only the kind it is told, and `decode` dispatches on the new
/// name.
#[test]
fn precopy_kinds_are_renamed_messages() {
    let b = PageBatchHeader { first_addr: 0x60_0000, count: 2 };
    let cases = [
        (vmas_msg(0, &vmas()), MsgKind::Vmas, MsgKind::PreVmas),
        (batch_msg(&b, &page_data(2, 1)), MsgKind::Pages, MsgKind::PrePages),
        (begin_msg(&[7u8; 100]), MsgKind::Begin, MsgKind::Final),
    ];
    for (m, from, to) in cases {
        let mut r = m.clone();
        assert_eq!(retag(&mut r, to, from), Err(ImageError::BadVersion));
        assert_eq!(retag(&mut r, from, to), Ok(()));
        assert_eq!(msg_kind(&r), Ok(to));
        assert_eq!(decode(&r).map(|d| d.kind()), Ok(to));
        assert_eq!(&r[..2], &m[..2]);
        assert_eq!(&r[3..], &m[3..]);
        match (decode(&m).unwrap(), decode(&r).unwrap()) {
            (MigrateMsg::Vmas(a), MigrateMsg::PreVmas(c)) => assert_eq!(a, c),
            (MigrateMsg::Pages(h1, d1), MigrateMsg::PrePages(h2, d2)) => assert_eq!((h1, d1), (h2, d2)),
            (MigrateMsg::Begin(a), MigrateMsg::Final(c)) => assert_eq!(a, c),
            other => panic!("unexpected {other:?}"),
        }
    }
    // Other decoders still refuse them.
    let mut r = vmas_msg(0, &vmas());
    retag(&mut r, MsgKind::Vmas, MsgKind::PreVmas).unwrap();
    assert_eq!(decode_begin(&r).map(|_| ()), Err(ImageError::BadVersion));
    assert_eq!(parse_batch(&r).map(|_| ()), Err(ImageError::BadVersion));
    assert_eq!(retag(&mut [1u8], MsgKind::Vmas, MsgKind::PreVmas), Err(ImageError::Truncated));
}
