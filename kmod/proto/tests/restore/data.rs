//! Data items: alignment, addresses, running out of room, and every
//! address the restorer uses staying inside the scratch area.

use super::*;

#[test]
fn data_alignment_and_addresses() {
    let mut buf = scratch();
    let mut b = Builder::new(BASE, &mut buf).unwrap();
    // Data items start after the 1 KiB stack at 0x8000.
    assert_eq!(b.data(&[1, 2, 3], 1), Ok(BASE + D0 as u64));
    assert_eq!(b.data(&[4], 1), Ok(BASE + 0x8403));
    assert_eq!(b.data(&[5; 8], 8), Ok(BASE + D0 as u64 + 8));
    assert_eq!(b.data(&[6], 0), Ok(BASE + 0x8410), "align 0 counts as 1");
    assert_eq!(b.data(&[7; 2], 64), Ok(BASE + 0x8440));
    // Alignment is of the user address: the next multiple of 3 at or
    // after BASE + 0x8442 (BASE is a multiple of 4096, not of 3).
    let by3 = (BASE + 0x8442).next_multiple_of(3);
    assert!(by3 - BASE < 0x8445);
    assert_eq!(b.data(&[8], 3), Ok(by3), "a non-power of two aligns too");
    assert_eq!(b.data(&[], 16), Ok(BASE + 0x8450), "empty items take only alignment");
    assert_eq!(b.data(&[9], 1), Ok(BASE + 0x8450));
    assert_eq!(b.data(&[10], 4096), Ok(BASE + 0x9000));
    assert_eq!(buf[D0..0x8404], [1, 2, 3, 4]);
    assert_eq!(buf[0x8408..0x8410], [5; 8]);
    assert_eq!(buf[0x8410], 6);
    assert_eq!(buf[0x8440..0x8442], [7, 7]);
    assert_eq!(buf[off(by3)], 8);
    assert_eq!(buf[0x8450], 9);
    assert_eq!(buf[0x9000], 10);
    assert!(buf[0x9001..].iter().all(|b| *b == 0));
    assert!(buf[..D0].iter().all(|b| *b == 0), "code and stack untouched");
}

#[test]
fn data_no_room() {
    let mut buf = scratch();
    let mut b = Builder::new(BASE, &mut buf).unwrap();
    let free = SCRATCH_LEN - D0;
    assert_eq!(b.data(&vec![1; free + 1], 1), Err(RestoreError::NoRoom));
    assert_eq!(b.data(&[1], usize::MAX), Err(RestoreError::NoRoom));
    assert_eq!(b.data(&[1], 1 << 40), Err(RestoreError::NoRoom));
    // Failures change nothing: the next item still goes first.
    assert_eq!(b.data(&vec![2; free - 1], 1), Ok(BASE + D0 as u64));
    assert_eq!(b.data(&[3; 2], 1), Err(RestoreError::NoRoom));
    assert_eq!(b.data(&[3], 1), Ok(BASE + SCRATCH_LEN as u64 - 1));
    assert_eq!(b.data(&[4], 1), Err(RestoreError::NoRoom));
    assert_eq!(b.data(&[], 1), Ok(BASE + SCRATCH_LEN as u64), "an empty item at the very end");
    // The frame no longer fits.
    assert_eq!(b.finish(&regs(), 0, &AltStack::default(), &xstate(576)), Err(RestoreError::NoRoom));
}

#[test]
fn every_referenced_address_is_inside() {
    let mut buf = scratch();
    let mut b = Builder::new(BASE, &mut buf).unwrap();
    let entry = b.entry();
    let stack = b.stack_top();
    for sig in 1..=64u32 {
        let act = SigAction { handler: 0x40_0000, flags: 0x0400_0000, restorer: 0x40_8000, mask: u64::from(sig) };
        b.sigaction(sig, &act).unwrap();
        if sig % 8 == 0 {
            b.syscall(158, [0x1002, 0x7f00_0000_0000, 0, 0, 0, 0]).unwrap();
        }
    }
    let used = b.finish(&regs(), u64::MAX, &AltStack::default(), &xstate(MAX_XSTATE as usize)).unwrap();
    let end = BASE + SCRATCH_LEN as u64;
    let inside = |a: u64, len: u64| a >= BASE && a + len <= end;
    assert!(inside(entry, 1));
    assert!(inside(stack - 16, 16) && stack >= BASE + CODE_LEN as u64, "stack in the data region");
    let (steps, frame) = decode_code(&buf);
    assert_eq!(steps.len(), 72);
    for s in steps.iter().filter(|s| s.nr == 13) {
        assert!(inside(s.args[1], 32), "sigaction data {:#x}", s.args[1]);
        assert!(s.args[1] >= BASE + CODE_LEN as u64, "data is not in the code region");
    }
    assert!(inside(frame, 440) && frame >= BASE + CODE_LEN as u64);
    let fp = le64(&buf, off(frame) + 48 + 184);
    assert!(fp >= frame + 440 && inside(fp, MAX_XSTATE as u64 + 4));
    assert_eq!(off(fp) + MAX_XSTATE as usize + 4, used);
}
