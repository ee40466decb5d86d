//! The signal frame `rt_sigreturn` reads: every field at its offset, its
//! alignment, the alternate stack forms.

use super::*;

#[test]
fn frame_layout() {
    let mut buf = scratch();
    let mut b = Builder::new(BASE, &mut buf).unwrap();
    // 5 bytes of data push the frame to the next multiple of 64.
    assert_eq!(b.data(&[9; 5], 1).unwrap(), BASE + D0 as u64);
    let r = regs();
    let blocked = 0x8000_0000_0001_4002;
    let alt = AltStack { sp: 0x7f00_0010_0000, flags: 0, size: 0x8000 };
    let x = xstate(1000);
    let used = b.finish(&r, blocked, &alt, &x).unwrap();

    let (steps, frame_addr) = decode_code(&buf);
    assert!(steps.is_empty());
    assert_eq!(frame_addr, BASE + 0x8440);
    let f = off(frame_addr);

    assert_eq!(le64(&buf, f), 0, "pretcode");
    assert_eq!(le64(&buf, f + 8), 7, "uc_flags: UC_FP_XSTATE | UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS");
    assert_eq!(le64(&buf, f + 16), 0, "uc_link");
    assert_eq!(le64(&buf, f + 24), alt.sp, "ss_sp");
    assert_eq!(le32(&buf, f + 32), 0, "ss_flags");
    assert_eq!(le32(&buf, f + 36), 0, "stack_t padding");
    assert_eq!(le64(&buf, f + 40), alt.size, "ss_size");

    let want = [
        r.r8, r.r9, r.r10, r.r11, r.r12, r.r13, r.r14, r.r15, r.rdi, r.rsi, r.rbp, r.rbx, r.rdx, r.rax, r.rcx, r.rsp,
        r.rip, r.eflags,
    ];
    assert_eq!(frame_gprs(&buf, f), want);
    assert_eq!(le16(&buf, f + 48 + 144), 0x33, "cs");
    assert_eq!(le16(&buf, f + 48 + 146), 0, "gs");
    assert_eq!(le16(&buf, f + 48 + 148), 0, "fs");
    assert_eq!(le16(&buf, f + 48 + 150), 0x2b, "ss");
    for (name, at) in [("err", 152), ("trapno", 160), ("oldmask", 168), ("cr2", 176)] {
        assert_eq!(le64(&buf, f + 48 + at), 0, "{name}");
    }
    let fp_addr = le64(&buf, f + 48 + 184);
    assert!(buf[f + 48 + 192..f + 304].iter().all(|b| *b == 0), "reserved1");
    assert_eq!(le64(&buf, f + 304), blocked, "uc_sigmask");
    assert!(buf[f + 312..f + 440].iter().all(|b| *b == 0), "siginfo");

    // The xstate: 64-aligned, after the frame, a copy of the input except
    // the software bytes, then magic2.
    assert_eq!(fp_addr % 64, 0);
    assert_eq!(fp_addr, frame_addr + 448);
    let fp = off(fp_addr);
    assert_eq!(buf[fp..fp + 464], x[..464]);
    assert_eq!(buf[fp + 512..fp + 1000], x[512..]);
    assert_eq!(le32(&buf, fp + 464), MAGIC1);
    assert_eq!(le32(&buf, fp + 468), 1004, "extended_size");
    assert_eq!(le64(&buf, fp + 472), 0b111, "xfeatures = XSTATE_BV");
    assert_eq!(le32(&buf, fp + 480), 1000, "xstate_size");
    assert!(buf[fp + 484..fp + 512].iter().all(|b| *b == 0), "sw padding");
    assert_eq!(le32(&buf, fp + 1000), MAGIC2);
    assert_eq!(used, fp + 1004);
    assert!(buf[used..].iter().all(|b| *b == 0), "nothing past the end");
    // The data item is still there, and the gap before the frame is zero.
    assert_eq!(buf[D0..0x8405], [9; 5]);
    assert!(buf[0x8405..f].iter().all(|b| *b == 0));
}

#[test]
fn frame_is_64_aligned_after_any_data() {
    for n in 0..130usize {
        let mut buf = scratch();
        let mut b = Builder::new(BASE, &mut buf).unwrap();
        if n > 0 {
            b.data(&vec![1; n], 1).unwrap();
        }
        let used = b.finish(&regs(), 0, &AltStack::default(), &xstate(576)).unwrap();
        let (_, frame) = decode_code(&buf);
        assert_eq!(frame % 64, 0);
        assert!(frame >= BASE + D0 as u64 + n as u64 && frame < BASE + D0 as u64 + n as u64 + 64);
        assert_eq!(used, off(frame) + 448 + 576 + 4);
    }
}

#[test]
fn altstack_forms() {
    let cases = [
        (AltStack { sp: 0, flags: 0, size: 0 }, (0, 2, 0)),
        (AltStack { sp: 0x7000_0000, flags: 2, size: 0x4000 }, (0, 2, 0)),
        (AltStack { sp: 0x7000_0000, flags: 0, size: 0 }, (0, 2, 0)),
        (AltStack { sp: 0x7000_0000, flags: 0, size: 0x4000 }, (0x7000_0000, 0, 0x4000)),
        (AltStack { sp: 0x7000_0000, flags: 1 << 31, size: 0x4000 }, (0x7000_0000, 1 << 31, 0x4000)),
    ];
    for (alt, (sp, flags, size)) in cases {
        let mut buf = scratch();
        let b = Builder::new(BASE, &mut buf).unwrap();
        b.finish(&regs(), 0, &alt, &xstate(576)).unwrap();
        let (_, frame) = decode_code(&buf);
        let f = off(frame);
        assert_eq!((le64(&buf, f + 24), le32(&buf, f + 32), le64(&buf, f + 40)), (sp, flags, size), "{alt:?}");
    }
}
