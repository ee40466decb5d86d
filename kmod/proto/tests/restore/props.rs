//! Property tests: any sequence of operations decodes back, any xstate
//! and any base are handled without panics.

use super::*;

#[derive(Clone, Debug)]
enum Op {
    Data(Vec<u8>, usize),
    Call(u64, [u64; 6]),
    Sig(u32, [u64; 4]),
}

fn arb_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (prop::collection::vec(any::<u8>(), 0..600), prop_oneof![0..130usize, any::<usize>()])
            .prop_map(|(d, a)| Op::Data(d, a)),
        (any::<u64>(), any::<[u64; 6]>()).prop_map(|(n, a)| Op::Call(n, a)),
        (any::<u32>(), any::<[u64; 4]>()).prop_map(|(s, a)| Op::Sig(s, a)),
    ]
}

proptest! {
    #[test]
    fn prop_any_sequence_decodes(
        page in 1u64..(USER_END / 4096 - SCRATCH_PAGES as u64),
        ops in prop::collection::vec(arb_op(), 0..120),
        r in any::<[u64; 27]>(),
        blocked in any::<u64>(),
        xlen in 576usize..2048,
    ) {
        let base = page * 4096;
        let mut buf = vec![0u8; SCRATCH_LEN];
        let mut b = Builder::new(base, &mut buf).unwrap();
        let mut want = Vec::new();
        for op in ops {
            match op {
                Op::Data(d, a) => {
                    if let Ok(addr) = b.data(&d, a) {
                        prop_assert_eq!(addr % a.max(1) as u64, 0);
                        prop_assert!(addr >= base + D0 as u64 && addr + d.len() as u64 <= base + SCRATCH_LEN as u64);
                    }
                }
                Op::Call(n, a) => match b.syscall(n, a) {
                    Ok(()) => want.push(Step { nr: n, args: a, checked: true }),
                    Err(e) => prop_assert_eq!(e, RestoreError::TooManyCalls),
                },
                Op::Sig(s, a) => {
                    let act = SigAction { handler: a[0], flags: a[1], restorer: a[2], mask: a[3] };
                    if b.sigaction(s, &act).is_ok() {
                        want.push(Step { nr: 13, args: [u64::from(s), 0, 0, 8, 0, 0], checked: true });
                    }
                }
            }
        }
        prop_assert!(b.calls() <= MAX_CALLS);
        let res = b.finish(&Regs::from_array(&r), blocked, &AltStack::default(), &xstate(xlen));
        let Ok(used) = res else {
            prop_assert_eq!(res, Err(RestoreError::NoRoom));
            return Ok(());
        };
        prop_assert!(used <= SCRATCH_LEN);
        prop_assert!(buf[used..].iter().all(|b| *b == 0));
        // Re-base the decoder's address checks on this base.
        let (mut steps, rsp_frame) = decode_code(&buf);
        for (s, w) in steps.iter_mut().zip(&want) {
            if w.nr == 13 && s.nr == 13 {
                let at = s.args[1];
                prop_assert!(at >= base + D0 as u64 && at + 32 <= base + SCRATCH_LEN as u64 && at % 8 == 0);
                s.args[1] = 0;
            }
        }
        prop_assert_eq!(steps, want);
        prop_assert!(rsp_frame % 64 == 0 && rsp_frame >= base + D0 as u64);
        let f = (rsp_frame - base) as usize;
        prop_assert_eq!(le64(&buf, f + 304), blocked);
        let reg = Regs::from_array(&r);
        prop_assert_eq!(le64(&buf, f + 48 + 128), reg.rip);
        prop_assert_eq!(le64(&buf, f + 48 + 120), reg.rsp);
    }

    #[test]
    fn prop_any_xstate_never_panics(
        x in prop::collection::vec(any::<u8>(), 0..9000),
        magic in any::<bool>(),
        clean in any::<bool>(),
    ) {
        let mut x = x;
        if magic && x.len() >= 484 {
            set32(&mut x, 464, MAGIC1);
        }
        // Often make the header valid, so both outcomes are exercised.
        if clean && x.len() >= 576 {
            x[26..28].fill(0);
            x[520..576].fill(0);
        }
        let mut buf = vec![0u8; SCRATCH_LEN];
        let b = Builder::new(BASE, &mut buf).unwrap();
        match b.finish(&Regs::default(), 0, &AltStack::default(), &x) {
            Ok(used) => {
                prop_assert!(used <= SCRATCH_LEN && x.len() >= 576 && x.len() <= MAX_XSTATE as usize);
                let (_, frame) = decode_code(&buf);
                let fp = off(le64(&buf, off(frame) + 48 + 184));
                let size = le32(&buf, fp + 480) as usize;
                prop_assert_eq!(le32(&buf, fp + 464), MAGIC1);
                prop_assert_eq!(le32(&buf, fp + 468) as usize, size + 4);
                prop_assert_eq!(le32(&buf, fp + size), MAGIC2);
                prop_assert_eq!(used, fp + size + 4);
            }
            Err(e) => prop_assert_eq!(e, RestoreError::BadXstate),
        }
    }

    #[test]
    fn prop_any_base(base in any::<u64>()) {
        let mut buf = vec![0u8; SCRATCH_LEN];
        let ok = base != 0 && base % 4096 == 0 && base <= USER_END - SCRATCH_LEN as u64;
        match Builder::new(base, &mut buf) {
            Ok(b) => {
                prop_assert!(ok);
                prop_assert_eq!(b.entry(), base);
            }
            Err(e) => {
                prop_assert!(!ok);
                prop_assert_eq!(e, RestoreError::BadBase);
            }
        }
    }
}
