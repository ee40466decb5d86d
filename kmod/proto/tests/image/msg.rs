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
        assert_eq!(MsgKind::from_u8(v).is_some(), (1..=12).contains(&v));
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
    m[2] = 13;
    assert_eq!(msg_kind(&m), Err(ImageError::BadVersion));
    assert_eq!(decode(&m), Err(ImageError::BadVersion));
    assert_eq!(msg_kind(&[]), Err(ImageError::Truncated));
    assert_eq!(msg_kind(&[1, 0, 7]), Err(ImageError::Truncated));
}
