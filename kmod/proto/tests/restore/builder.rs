//! Setting up a `Builder`: the sizes of the area, the checks on the base
//! and the buffer, entry point and stack, error names.

use super::*;

#[test]
fn sizes_fit_the_worst_case() {
    assert_eq!(SCRATCH_LEN, SCRATCH_PAGES * 4096);
    assert!((5..=20).contains(&SCRATCH_PAGES));
    const { assert!(MAX_CALLS >= 64 + roam_proto::image::MAX_PENDING + 8) };
    assert_eq!(CODE_LEN, 32768);
    assert_eq!(DATA_OFFSET, 32768);
    assert_eq!(STEP_LEN, 82);
    assert_eq!(FINAL_LEN, 24);
    assert_eq!(FRAME_LEN, 440);
    assert_eq!(FPSTATE_OFFSET, 448);

    // 64 actions, 8 other calls, the largest xstate.
    let mut buf = scratch();
    let mut b = Builder::new(BASE, &mut buf).unwrap();
    for sig in 1..=64u32 {
        let act = SigAction { handler: 0x40_0000 + u64::from(sig), flags: 0x0400_0000, restorer: 0x40_8000, mask: 1 };
        b.sigaction(sig, &act).unwrap();
    }
    for nr in 0..8u64 {
        b.syscall(nr, [nr; 6]).unwrap();
    }
    let used = b.finish(&regs(), 0, &AltStack::default(), &xstate(MAX_XSTATE as usize)).unwrap();
    assert!(used <= SCRATCH_LEN);
    let (steps, _) = decode_code(&buf);
    assert_eq!(steps.len(), 72);
}

#[test]
fn new_checks_the_base() {
    let mut buf = scratch();
    for base in [0, 0x1001, 0x800, BASE + 8, 0xffff_ffff_ffff_f000, USER_END, USER_END - SCRATCH_LEN as u64 + 4096] {
        assert_eq!(Builder::new(base, &mut buf).err(), Some(RestoreError::BadBase), "{base:#x}");
    }
    // The highest possible base ends exactly at USER_END.
    let top = USER_END - SCRATCH_LEN as u64;
    assert_eq!(top % 4096, 0);
    assert!(Builder::new(top, &mut buf).is_ok());
    assert!(Builder::new(0x1000, &mut buf).is_ok());
}

#[test]
fn new_checks_and_zeroes_the_buffer() {
    let mut short = vec![0u8; SCRATCH_LEN - 1];
    assert_eq!(Builder::new(BASE, &mut short).err(), Some(RestoreError::NoRoom));
    // The base is checked first.
    assert_eq!(Builder::new(BASE + 1, &mut short).err(), Some(RestoreError::BadBase));

    let mut long = vec![0xAAu8; SCRATCH_LEN + 100];
    Builder::new(BASE, &mut long).unwrap();
    assert!(long[..SCRATCH_LEN].iter().all(|x| *x == 0));
    assert!(long[SCRATCH_LEN..].iter().all(|x| *x == 0xAA), "bytes past the area untouched");
}

#[test]
fn entry_and_stack() {
    let mut buf = scratch();
    let b = Builder::new(BASE, &mut buf).unwrap();
    assert_eq!(b.entry(), BASE);
    // Stack: the first KiB of the data region, which starts after the
    // eight code pages.
    assert_eq!(b.stack_top(), BASE + 0x8000 + 0x400);
    assert_eq!(b.stack_top() % 16, 0);
    assert!(b.stack_top() > BASE + CODE_LEN as u64 && b.stack_top() < BASE + SCRATCH_LEN as u64);
    assert_eq!(b.calls(), 0);
}

#[test]
fn error_names() {
    let all = [RestoreError::NoRoom, RestoreError::TooManyCalls, RestoreError::BadXstate, RestoreError::BadBase];
    let names: Vec<_> = all.iter().map(|e| e.name()).collect();
    assert_eq!(names, ["no_room", "too_many_calls", "bad_xstate", "bad_base"]);
}
