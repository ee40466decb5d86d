//! The code region: the exact bytes of a system call step and of the
//! final sequence, the limit on calls, the `rt_sigaction` step.

use super::*;

#[test]
fn one_step_exact_bytes() {
    let mut buf = scratch();
    let mut b = Builder::new(BASE, &mut buf).unwrap();
    b.syscall(
        0x19,
        [0x1122_3344_5566_7788, 0x0102_0304_0506_0708, 0xa1, 0xffff_ffff_ffff_fff0, 0x0b0b, 0x7f00_0000_1000],
    )
    .unwrap();
    b.syscall(0x3c, [1, 2, 3, 4, 5, 6]).unwrap();
    assert_eq!(b.calls(), 2);
    #[rustfmt::skip]
    let want: [u8; 82] = [
        0x48, 0xB8, 0x19, 0, 0, 0, 0, 0, 0, 0,                          // movabs rax, 0x19
        0x48, 0xBF, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11,     // movabs rdi
        0x48, 0xBE, 0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,     // movabs rsi
        0x48, 0xBA, 0xa1, 0, 0, 0, 0, 0, 0, 0,                          // movabs rdx
        0x49, 0xBA, 0xf0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,     // movabs r10
        0x49, 0xB8, 0x0b, 0x0b, 0, 0, 0, 0, 0, 0,                      // movabs r8
        0x49, 0xB9, 0x00, 0x10, 0, 0, 0, 0x7f, 0, 0,                    // movabs r9
        0x0F, 0x05,                                                     // syscall
        0x48, 0x3D, 0x01, 0xF0, 0xFF, 0xFF,                             // cmp rax, -4095
        0x72, 0x02,                                                     // jb +2
        0x0F, 0x0B,                                                     // ud2
    ];
    assert_eq!(buf[..82], want);
    #[rustfmt::skip]
    let second: [u8; 82] = [
        0x48, 0xB8, 0x3c, 0, 0, 0, 0, 0, 0, 0,
        0x48, 0xBF, 1, 0, 0, 0, 0, 0, 0, 0,
        0x48, 0xBE, 2, 0, 0, 0, 0, 0, 0, 0,
        0x48, 0xBA, 3, 0, 0, 0, 0, 0, 0, 0,
        0x49, 0xBA, 4, 0, 0, 0, 0, 0, 0, 0,
        0x49, 0xB8, 5, 0, 0, 0, 0, 0, 0, 0,
        0x49, 0xB9, 6, 0, 0, 0, 0, 0, 0, 0,
        0x0F, 0x05, 0x48, 0x3D, 0x01, 0xF0, 0xFF, 0xFF, 0x72, 0x02, 0x0F, 0x0B,
    ];
    assert_eq!(buf[82..164], second);
    // Nothing else written before finish.
    assert!(buf[164..].iter().all(|b| *b == 0));
}

#[test]
fn final_sequence_exact_bytes() {
    let mut buf = scratch();
    let mut b = Builder::new(BASE, &mut buf).unwrap();
    b.syscall(39, [0; 6]).unwrap();
    b.finish(&regs(), 0, &AltStack::default(), &xstate(576)).unwrap();
    // No data items: the frame sits at the first data byte after the
    // stack, offset D0 (already 64-aligned); rsp = frame + 8.
    let rsp = (BASE + D0 as u64 + 8).to_le_bytes();
    #[rustfmt::skip]
    let want: [u8; 24] = [
        0x48, 0xBC, rsp[0], rsp[1], rsp[2], rsp[3], rsp[4], rsp[5], rsp[6], rsp[7], // movabs rsp
        0x48, 0xB8, 0x0F, 0, 0, 0, 0, 0, 0, 0,                                        // movabs rax, 15
        0x0F, 0x05,                                                                   // syscall
        0x0F, 0x0B,                                                                   // ud2
    ];
    assert_eq!(buf[82..106], want);
    assert!(buf[106..8192].iter().all(|b| *b == 0xCC));
    // With no steps at all the sequence starts the code.
    let mut buf = scratch();
    let b = Builder::new(BASE, &mut buf).unwrap();
    b.finish(&regs(), 0, &AltStack::default(), &xstate(576)).unwrap();
    assert_eq!(buf[..24], want);
}

#[test]
fn too_many_calls() {
    let mut buf = scratch();
    let mut b = Builder::new(BASE, &mut buf).unwrap();
    for i in 0..MAX_CALLS as u64 {
        b.syscall(i, [i; 6]).unwrap();
    }
    assert_eq!(b.calls(), MAX_CALLS);
    assert_eq!(b.syscall(0, [0; 6]), Err(RestoreError::TooManyCalls));
    let act = SigAction { handler: 1, flags: 2, restorer: 3, mask: 4 };
    assert_eq!(b.sigaction(10, &act), Err(RestoreError::TooManyCalls));
    // The refused sigaction took no data.
    assert_eq!(b.data(&[1], 1), Ok(BASE + D0 as u64));
    b.finish(&regs(), 0, &AltStack::default(), &xstate(576)).unwrap();
    let (steps, _) = decode_code(&buf);
    assert_eq!(steps.len(), MAX_CALLS);
    for (i, s) in steps.iter().enumerate() {
        assert_eq!(*s, Step { nr: i as u64, args: [i as u64; 6], checked: true });
    }
}

#[test]
fn sigaction_step() {
    let mut buf = scratch();
    let mut b = Builder::new(BASE, &mut buf).unwrap();
    b.data(&[0xEE; 3], 1).unwrap();
    let act = SigAction { handler: 0x40_1234, flags: 0x0400_0004, restorer: 0x40_5678, mask: 0x8000_0000_0000_0101 };
    b.sigaction(17, &act).unwrap();
    b.finish(&regs(), 0, &AltStack::default(), &xstate(576)).unwrap();
    let (steps, _) = decode_code(&buf);
    // The action goes after the 3 bytes, 8-aligned: 0x2408.
    let at = BASE + D0 as u64 + 8;
    assert_eq!(steps, vec![Step { nr: 13, args: [17, at, 0, 8, 0, 0], checked: true }]);
    let a = off(at);
    assert_eq!(
        [le64(&buf, a), le64(&buf, a + 8), le64(&buf, a + 16), le64(&buf, a + 24)],
        [act.handler, act.flags, act.restorer, act.mask]
    );
}

/// `queue_signal`: `rt_sigqueueinfo` for the shared queue,
/// `rt_tgsigqueueinfo` for the private one, each with its `siginfo_t`
/// (the 48 bytes given, then zeros) in the data region; errors ignored.
#[test]
fn queue_signal_steps() {
    use roam_proto::image::PendingSignal;
    let mut buf = scratch();
    let mut b = Builder::new(BASE, &mut buf).unwrap();
    b.syscall(39, [0; 6]).unwrap();
    let shared = PendingSignal::new(34, true, -1, 4240, 1000, 77);
    let private = PendingSignal::new(10, false, -6, 4240, 1000, 0);
    b.queue_signal(4240, 4242, &shared).unwrap();
    b.queue_signal(4240, 4242, &private).unwrap();
    assert_eq!(b.calls(), 3);
    b.finish(&regs(), 0, &AltStack::default(), &xstate(576)).unwrap();
    let (steps, _) = decode_code(&buf);
    assert!(steps[0].checked);
    let (s, p) = (&steps[1], &steps[2]);
    assert!(!s.checked && !p.checked);
    assert_eq!((s.nr, s.args[0], s.args[1]), (SYS_RT_SIGQUEUEINFO, 4240, 34));
    assert_eq!((p.nr, p.args[0], p.args[1], p.args[2]), (SYS_RT_TGSIGQUEUEINFO, 4240, 4242, 10));
    for (at, sig) in [(s.args[2], &shared), (p.args[3], &private)] {
        assert_eq!(at % 8, 0);
        let off = (at - BASE) as usize;
        assert!(off >= D0 && off + SIGINFO_T_LEN <= SCRATCH_LEN);
        assert_eq!(buf[off..off + 48], sig.info);
        assert!(buf[off + 48..off + SIGINFO_T_LEN].iter().all(|b| *b == 0));
    }
}
