//! The `Begin` message: round trips and every rejection of the encoder
//! and the decoder.

use super::*;

#[test]
fn begin_round_trip() {
    for xlen in [0usize, 1, 576, 2696, MAX_XSTATE as usize] {
        let xstate: Vec<u8> = (0..xlen).map(|i| (i * 7) as u8).collect();
        let msg = begin_msg(&xstate);
        assert_eq!(msg_kind(&msg), Ok(MsgKind::Begin));
        let v = decode_begin(&msg).unwrap();
        assert_eq!(v.header, header(5, 10, xlen as u32));
        assert_eq!(v.header.comm_bytes(), b"hello");
        assert_eq!(v.regs, regs());
        assert_eq!(v.mm, mm());
        assert_eq!(v.xstate, &xstate[..]);
        assert_eq!(v.sig_state(), sig());
        let mut into = SigState::EMPTY;
        v.sig_state_into(&mut into);
        assert_eq!(into, sig());
        assert_eq!(v.blocked(), sig().blocked);
        assert_eq!(v.altstack(), sig().altstack);
        assert_eq!(v.saved(), sig().saved);
        for signo in 1..=64 {
            assert_eq!(v.sig_action(signo), Some(sig().actions[signo - 1]));
        }
        assert_eq!(v.sig_action(0), None);
        assert_eq!(v.sig_action(65), None);
        assert_eq!(decode(&msg), Ok(MigrateMsg::Begin(v)));
    }
}

#[test]
fn begin_carries_the_context_and_refuses_paths_that_leave_the_mount() {
    let h = header(1, 1, 0);
    assert_eq!((h.ctx.cgroup(), h.ctx.label()), (&b"/jobs/42"[..], &b"roamtest"[..]));
    let enc = |h: &ImageHeader| {
        let mut out = vec![0u8; begin_len(0)];
        encode_begin(h, &regs(), &mm(), &sig(), &[], &mut out).map(|_| out)
    };
    for ok in [&b""[..], b"/", b"/a", b"/a.b/c..d/.e"] {
        let h = ImageHeader { ctx: context(ok, b""), ..header(1, 1, 0) };
        let m = enc(&h).unwrap_or_else(|e| panic!("{:?}: {e:?}", String::from_utf8_lossy(ok)));
        assert_eq!(decode_begin(&m).map(|v| v.header), Ok(h));
    }
    let mut long = header(1, 1, 0);
    long.ctx.cgroup[0] = b'/';
    long.ctx.cgroup[1..CONTEXT_LEN - 1].fill(b'x');
    assert!(enc(&long).is_ok());
    long.ctx.cgroup[CONTEXT_LEN - 1] = b'x';
    assert_eq!(long.check(), Err(ImageError::BadCreds), "no room for the NUL");
    let bad_paths = [&b"a"[..], b"//", b"/a/", b"/..", b"/a/../b", b"/./a", b"/a\nb", b"/a\0b"];
    let bad_labels = [&b"a b"[..], b"a\nb", b"\x7f", b"a\0b"];
    let bad = bad_paths.iter().map(|p| context(p, b"")).chain(bad_labels.iter().map(|l| context(b"/", l)));
    for ctx in bad {
        let h = ImageHeader { ctx, ..header(1, 1, 0) };
        assert_eq!(h.check(), Err(ImageError::BadCreds), "{ctx:?}");
        assert_eq!(enc(&h).err(), Some(ImageError::BadCreds));
        // The same bytes written by hand: refused on decoding.
        let mut m = enc(&header(1, 1, 0)).unwrap();
        let at = PREFIX_LEN + HEADER_LEN - 2 * CONTEXT_LEN;
        m[at..at + CONTEXT_LEN].copy_from_slice(&ctx.cgroup);
        m[at + CONTEXT_LEN..at + 2 * CONTEXT_LEN].copy_from_slice(&ctx.label);
        assert_eq!(decode_begin(&m).err(), Some(ImageError::BadCreds));
    }
}

#[test]
fn a_stub_joins_only_what_it_lacks() {
    let want = context(b"/jobs/42", b"roamtest");
    // Nothing yet: both.
    assert_eq!(want.missing_from(&context(b"/", b"_")), want);
    // The cgroup already: the label only, and the other way round.
    let lack = want.missing_from(&context(b"/jobs/42", b"_"));
    assert_eq!((lack.cgroup(), lack.label()), (&b""[..], &b"roamtest"[..]));
    let lack = want.missing_from(&context(b"/jobs", b"roamtest"));
    assert_eq!((lack.cgroup(), lack.label()), (&b"/jobs/42"[..], &b""[..]));
    // Both: nothing, which is what the module requires before it installs.
    assert!(want.missing_from(&want).is_empty());
    assert!(!want.missing_from(&context(b"/jobs/4", b"roamtest")).is_empty());
    // A prefix is not the same path; an empty context lacks nothing.
    assert!(!context(b"/jobs/42", b"").missing_from(&context(b"/jobs/42/x", b"")).is_empty());
    // An empty part cannot be joined, so nothing is missing, but a task
    // with a cgroup or label does not have the empty context.
    assert!(Context::default().missing_from(&context(b"/", b"_")).is_empty());
    assert!(!Context::default().is_had_by(&context(b"/", b"_")));
    assert!(Context::default().is_had_by(&Context::default()));
    assert!(want.is_had_by(&want) && !want.is_had_by(&context(b"/jobs/42", b"roamtes")));
}

#[test]
fn begin_rejections() {
    let x = [1u8; 64];
    let mut out = vec![0u8; begin_len(MAX_XSTATE as usize + 1)];
    let enc = |h: &ImageHeader, x: &[u8], out: &mut [u8]| encode_begin(h, &regs(), &mm(), &sig(), x, out);
    assert_eq!(enc(&ImageHeader { version: IMAGE_VERSION + 1, ..header(1, 1, 64) }, &x, &mut out), Err(ImageError::BadVersion));
    assert_eq!(enc(&header(1, 1, 65), &x, &mut out), Err(ImageError::BadLength));
    let big = vec![0u8; MAX_XSTATE as usize + 1];
    assert_eq!(enc(&header(1, 1, MAX_XSTATE + 1), &big, &mut out), Err(ImageError::TooLarge));
    assert_eq!(enc(&header(MAX_VMAS + 1, 1, 64), &x, &mut out), Err(ImageError::TooLarge));
    assert_eq!(enc(&header(1, MAX_PAGES + 1, 64), &x, &mut out), Err(ImageError::TooLarge));
    assert_eq!(enc(&header(1, 1, 64), &x, &mut out[..begin_len(64) - 1]), Err(ImageError::Truncated));
    assert_eq!(enc(&header(MAX_VMAS, MAX_PAGES, 64), &x, &mut out), Ok(begin_len(64)));

    let msg = begin_msg(&x);
    check_lengths(&msg, |b| decode_begin(b).map(|_| ()));
    check_lengths(&msg, |b| decode(b).map(|_| ()));

    // Prefix: version, kind, reserved byte.
    let mut m = msg.clone();
    m[0] = IMAGE_VERSION as u8 + 1;
    assert_eq!(decode_begin(&m).err(), Some(ImageError::BadVersion));
    assert_eq!(msg_kind(&m), Err(ImageError::BadVersion));
    let mut m = msg.clone();
    m[2] = MsgKind::Vmas.as_u8();
    assert_eq!(decode_begin(&m).err(), Some(ImageError::BadVersion));
    let mut m = msg.clone();
    m[3] = 1;
    assert_eq!(decode_begin(&m).err(), Some(ImageError::BadVersion));
    assert_eq!(msg_kind(&m), Err(ImageError::BadVersion));
    // The header's own version.
    let mut m = msg.clone();
    m[4] = IMAGE_VERSION as u8 + 1;
    assert_eq!(decode_begin(&m).err(), Some(ImageError::BadVersion));
    // The held mask's tag: 0 or 1 only.
    let tag = BEGIN_FIXED_LEN - 9;
    let mut m = msg.clone();
    assert_eq!(m[tag], 1);
    m[tag] = 2;
    assert_eq!(decode_begin(&m).err(), Some(ImageError::BadSignal));
    // No mask held: tag 0 and zeros, nothing else.
    m[tag] = 0;
    assert_eq!(decode_begin(&m).err(), Some(ImageError::BadSignal));
    m[tag + 1..tag + 9].fill(0);
    assert_eq!(decode_begin(&m).map(|v| v.saved()), Ok(None));
    // Oversize xstate announced (bytes 4+58..4+62 are xstate_len).
    let mut m = msg.clone();
    m[62..66].copy_from_slice(&(MAX_XSTATE + 1).to_le_bytes());
    assert_eq!(decode_begin(&m).err(), Some(ImageError::TooLarge));
    // xstate_len larger than what is present, but within the bound.
    let mut m = msg.clone();
    m[62..66].copy_from_slice(&65u32.to_le_bytes());
    assert_eq!(decode_begin(&m).err(), Some(ImageError::Truncated));
    // An unknown cause (header bytes 62..64).
    let mut m = msg.clone();
    m[66..68].copy_from_slice(&(cause::MAX + 1).to_le_bytes());
    assert_eq!(decode_begin(&m).err(), Some(ImageError::BadVersion));
    // Cause, sender load and allowed nodes come through.
    let v = decode_begin(&msg).unwrap();
    assert_eq!((v.header.cause, v.header.sender_load, v.header.allowed), (cause::LOAD, 2500, 0b1010));
    // Too many areas or pages (header bytes 46..50 and 50..58).
    let mut m = msg.clone();
    m[50..54].copy_from_slice(&(MAX_VMAS + 1).to_le_bytes());
    assert_eq!(decode_begin(&m).err(), Some(ImageError::TooLarge));
    let mut m = msg;
    m[54..62].copy_from_slice(&(MAX_PAGES + 1).to_le_bytes());
    assert_eq!(decode_begin(&m).err(), Some(ImageError::TooLarge));
}
