//! The XSAVE area behind the frame: software bytes kept or written, bad
//! areas refused, room for the largest one.

use super::*;

#[test]
fn xstate_with_its_own_sw_bytes() {
    let mut buf = scratch();
    let b = Builder::new(BASE, &mut buf).unwrap();
    let x = xstate_with_magic(900, 832, 0x2e7);
    let used = b.finish(&regs(), 0, &AltStack::default(), &x).unwrap();
    let (_, frame) = decode_code(&buf);
    let fp = off(le64(&buf, off(frame) + 48 + 184));
    assert_eq!(le32(&buf, fp + 464), MAGIC1);
    assert_eq!(le32(&buf, fp + 468), 836, "extended_size rewritten");
    assert_eq!(le64(&buf, fp + 472), 0x2e7, "xfeatures kept");
    assert_eq!(le32(&buf, fp + 480), 832, "xstate_size kept");
    assert!(buf[fp + 484..fp + 512].iter().all(|b| *b == 0));
    // Only xstate_size bytes are copied.
    assert_eq!(buf[fp + 512..fp + 832], x[512..832]);
    assert_eq!(le32(&buf, fp + 832), MAGIC2);
    assert_eq!(used, fp + 836);
    assert!(buf[used..].iter().all(|b| *b == 0));

    // xstate_size equal to the length is fine too.
    let mut buf = scratch();
    let b = Builder::new(BASE, &mut buf).unwrap();
    assert!(b.finish(&regs(), 0, &AltStack::default(), &xstate_with_magic(640, 640, 3)).is_ok());
}

#[test]
fn bad_xstate() {
    let mut cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("575 bytes", xstate(576)[..575].to_vec()),
        ("too long", xstate(MAX_XSTATE as usize + 1)),
        ("magic1, size below 576", xstate_with_magic(700, 575, 3)),
        ("magic1, size above the length", xstate_with_magic(700, 701, 3)),
    ];
    let mut x = xstate(600);
    set32(&mut x, 24, 0x1_1f80);
    cases.push(("reserved MXCSR bit", x));
    let mut x = xstate(600);
    set64(&mut x, 520, 1 << 63);
    cases.push(("compacted header", x));
    let mut x = xstate(600);
    x[575] = 1;
    cases.push(("header reserved byte", x));
    for (name, x) in cases {
        let mut buf = scratch();
        let mut b = Builder::new(BASE, &mut buf).unwrap();
        b.syscall(1, [0; 6]).unwrap();
        assert_eq!(b.finish(&regs(), 0, &AltStack::default(), &x), Err(RestoreError::BadXstate), "{name}");
        // Nothing written on error: no final code, no frame.
        assert!(buf[82..].iter().all(|b| *b == 0), "{name}");
    }
    // The bounds themselves are accepted.
    for len in [576, MAX_XSTATE as usize] {
        let mut buf = scratch();
        let b = Builder::new(BASE, &mut buf).unwrap();
        assert!(b.finish(&regs(), 0, &AltStack::default(), &xstate(len)).is_ok(), "{len}");
    }
}

#[test]
fn finish_needs_room_for_the_xstate() {
    // Data up to a 64-aligned offset 1088 bytes before the end: the frame
    // goes there, and an xstate of 1088 - 448 - 4 = 636 bytes fills the
    // area exactly; one byte more does not fit.
    let frame = SCRATCH_LEN - 1088;
    assert_eq!(frame % 64, 0);
    let build = |x: &[u8]| {
        let mut buf = scratch();
        let mut b = Builder::new(BASE, &mut buf).unwrap();
        b.data(&vec![1; frame - D0], 1).unwrap();
        b.finish(&regs(), 0, &AltStack::default(), x)
    };
    assert_eq!(build(&xstate(636)), Ok(SCRATCH_LEN));
    assert_eq!(build(&xstate(637)), Err(RestoreError::NoRoom));
}
