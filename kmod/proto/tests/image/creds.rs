//! The `Creds` message: round trip, lengths, and what a destination
//! refuses (credentials the kernel would not build).

use super::*;

fn read(m: &[u8]) -> Result<(Creds, Vec<u32>), ImageError> {
    let v = decode_creds(m)?;
    Ok((v.creds, v.groups().collect()))
}

#[test]
fn creds_round_trip_and_lengths() {
    let c = creds();
    let m = creds_msg(&c, &GROUPS);
    assert_eq!(m.len(), CREDS_HEAD_LEN + 3 * 4);
    assert_eq!(read(&m), Ok((c, GROUPS.to_vec())));
    assert!(matches!(decode(&m), Ok(MigrateMsg::Creds(v)) if v.creds == c && v.len() == 3));
    assert!(c.privileged());
    check_lengths(&m, |b| decode_creds(b).map(|_| ()));
    // A plain user: no groups, no capabilities.
    let user = Creds { uid: 1000, euid: 1000, suid: 1000, fsuid: 1000, gid: 1000, egid: 1000, sgid: 1000, fsgid: 1000, ..Creds::default() };
    assert!(!user.privileged());
    assert_eq!(read(&creds_msg(&user, &[])), Ok((user, vec![])));
    // The most groups, and one more.
    let many: Vec<u32> = (0..MAX_GROUPS as u32).map(|g| g + 5000).collect();
    assert!(creds_len(many.len()) <= roam_proto::wire::MAX_PAYLOAD);
    assert_eq!(read(&creds_msg(&c, &many)), Ok((c, many.clone())));
    let mut more = many.clone();
    more.push(1);
    let mut out = vec![0u8; creds_len(more.len())];
    assert_eq!(encode_creds(&c, &more, &mut out), Err(ImageError::TooLarge));
    let mut m = creds_msg(&c, &many);
    let at = CREDS_HEAD_LEN - 4;
    m[at..at + 4].copy_from_slice(&(MAX_GROUPS as u32 + 1).to_le_bytes());
    m.extend_from_slice(&[0; 4]);
    assert_eq!(decode_creds(&m), Err(ImageError::TooLarge));
}

/// Each of these the kernel would refuse to build (or never has): the
/// encoder will not write it and the decoder will not take it.
#[test]
fn creds_refuses_what_the_kernel_would_not_build() {
    let bad: [fn(&mut Creds, &mut [u32]); 16] = [
        |c, _| c.attrs.nice = 20,
        |c, _| c.attrs.nice = -21,
        |c, _| c.attrs.policy = 6,
        |c, _| c.attrs.rt_priority = 3,
        |c, _| (c.attrs.policy, c.attrs.rt_priority) = (1, 0),
        |c, _| c.attrs.pdeath_signal = 65,
        |c, _| c.attrs.flags = 8,
        |c, _| c.euid = u32::MAX,
        |c, _| c.fsgid = u32::MAX,
        |c, _| c.cap_bset |= 1 << 41,
        |c, _| c.cap_effective |= 1 << 20,
        |c, _| c.cap_ambient |= 1 << 5,
        |c, _| c.securebits |= 0x100,
        |c, _| c.flags |= 2,
        |c, _| c.rlimits[3] = Rlimit { cur: 10, max: 9 },
        |_, g| g[1] = u32::MAX,
    ];
    // The C side's struct roam_attrs has the same size (creds.c asserts 40).
    assert_eq!(std::mem::size_of::<Attrs>(), 40);
    // A real-time policy with its priority is fine.
    let mut rt = creds();
    (rt.attrs.policy, rt.attrs.rt_priority) = (2, 50);
    assert_eq!(rt.check(&GROUPS), Ok(()));
    for (i, f) in bad.iter().enumerate() {
        let (mut c, mut g) = (creds(), GROUPS);
        f(&mut c, &mut g);
        assert_eq!(c.check(&g), Err(ImageError::BadCreds), "case {i}");
        let mut out = vec![0u8; creds_len(g.len())];
        assert_eq!(encode_creds(&c, &g, &mut out), Err(ImageError::BadCreds), "case {i}");
        // The same bytes written by hand: refused on decoding.
        assert_eq!(decode_creds(&unchecked(&c, &g)), Err(ImageError::BadCreds), "case {i}");
    }
}

/// A `Creds` message for `c` and `groups`, without the encoder's check.
fn unchecked(c: &Creds, groups: &[u32]) -> Vec<u8> {
    let mut m = creds_msg(&Creds::default(), &vec![0; groups.len()]);
    let mut at = PREFIX_LEN;
    let mut put = |b: &[u8]| {
        m[at..at + b.len()].copy_from_slice(b);
        at += b.len();
    };
    for v in [c.uid, c.euid, c.suid, c.fsuid, c.gid, c.egid, c.sgid, c.fsgid, c.securebits, c.flags] {
        put(&v.to_le_bytes());
    }
    for v in [c.cap_inheritable, c.cap_permitted, c.cap_effective, c.cap_bset, c.cap_ambient] {
        put(&v.to_le_bytes());
    }
    for l in &c.rlimits {
        put(&l.cur.to_le_bytes());
        put(&l.max.to_le_bytes());
    }
    let a = &c.attrs;
    for v in [a.personality, a.nice as u32, a.policy, a.rt_priority] {
        put(&v.to_le_bytes());
    }
    put(&a.timer_slack_ns.to_le_bytes());
    for v in [a.pdeath_signal, a.flags, a.mce_kill] {
        put(&v.to_le_bytes());
    }
    put(&(groups.len() as u32).to_le_bytes());
    for g in groups {
        put(&g.to_le_bytes());
    }
    m
}
