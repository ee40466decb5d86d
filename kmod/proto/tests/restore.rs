//! Host tests of the restorer builder: the exact code bytes, the signal
//! frame decoded at offsets derived by hand from the kernel headers, the
//! xstate handling, every error, that all addresses stay inside the
//! scratch area, property tests over arbitrary input, and (on x86-64
//! Linux) a run of real restorers in child processes.
//!
//! Frame offsets used below, from Linux 6.12 (x86-64):
//!
//! * `struct rt_sigframe` (`arch/x86/include/asm/sigframe.h`):
//!   `char *pretcode` at 0 (8), `struct ucontext uc` at 8 (304),
//!   `struct siginfo info` at 312 (128): 440 bytes.
//! * `struct ucontext` (`include/uapi/asm-generic/ucontext.h`):
//!   `uc_flags` +0 (u64), `uc_link` +8 (ptr), `uc_stack` +16 (`stack_t`:
//!   `ss_sp` u64 +0, `ss_flags` int +8, 4 bytes padding, `ss_size` u64
//!   +16: 24 bytes), `uc_mcontext` +40 (`struct sigcontext`, 256 bytes),
//!   `uc_sigmask` +296 (u64). So from the frame: 8, 16, 24/32/40, 48, 304.
//! * `struct sigcontext` (`arch/x86/include/uapi/asm/sigcontext.h`):
//!   18 u64 (r8 r9 r10 r11 r12 r13 r14 r15 rdi rsi rbp rbx rdx rax rcx rsp
//!   rip eflags) at 0..144, then u16 cs, gs, fs, ss at 144, 146, 148, 150,
//!   then u64 err, trapno, oldmask, cr2, fpstate at 152, 160, 168, 176,
//!   184, then reserved1[8] at 192..256. From the frame: add 48.
//! * XSAVE area: MXCSR at 24, `sw_reserved` (`struct _fpx_sw_bytes`:
//!   magic1 u32, extended_size u32, xfeatures u64, xstate_size u32,
//!   padding) at 464..512, XSTATE_BV at 512, XCOMP_BV at 520.

use proptest::prelude::*;
use roam_proto::image::{AltStack, Regs, SigAction, MAX_XSTATE, USER_END};
use roam_proto::restore::*;

/// A page-aligned base well inside user space.
const BASE: u64 = 0x7f12_3456_0000;

const MAGIC1: u32 = 0x4650_5853;
const MAGIC2: u32 = 0x4650_5845;

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(b[at..at + 2].try_into().unwrap())
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn le64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

fn set32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn set64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

/// The buffer offset of user address `addr`.
fn off(addr: u64) -> usize {
    assert!(addr >= BASE && addr < BASE + SCRATCH_LEN as u64, "{addr:#x} outside the area");
    (addr - BASE) as usize
}

/// Registers with a distinct value in every field.
fn regs() -> Regs {
    let mut a = [0u64; Regs::COUNT];
    for (i, w) in a.iter_mut().enumerate() {
        *w = 0x0a0b_0c0d_0000_0000 + ((i as u64 + 1) << 8) + i as u64;
    }
    Regs::from_array(&a)
}

/// A valid XSAVE area of `len` bytes in the regset's form (no magic1; the
/// XCR0 mask in the first word of `sw_reserved`), with FP, SSE and AVX in
/// use and a pattern everywhere else.
fn xstate(len: usize) -> Vec<u8> {
    let mut x: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(7).wrapping_add(3)).collect();
    x[0..2].copy_from_slice(&0x037fu16.to_le_bytes()); // FCW
    set32(&mut x, 24, 0x1f80); // MXCSR
    set32(&mut x, 28, 0xffff); // MXCSR_MASK
    x[464..512].fill(0);
    set64(&mut x, 464, 0x2e7); // what REGSET_XSTATE puts there: XCR0
    x[512..576].fill(0);
    set64(&mut x, 512, 0b111); // XSTATE_BV: FP, SSE, YMM
    x
}

/// The same area carrying its own `_fpx_sw_bytes`.
fn xstate_with_magic(len: usize, size: u32, xfeatures: u64) -> Vec<u8> {
    let mut x = xstate(len);
    set32(&mut x, 464, MAGIC1);
    set32(&mut x, 468, 0x1234); // extended_size: rewritten by finish
    set64(&mut x, 472, xfeatures);
    set32(&mut x, 480, size);
    set32(&mut x, 484, 0xdead); // padding: rewritten by finish
    x
}

fn scratch() -> Vec<u8> {
    vec![0u8; SCRATCH_LEN]
}

/// One decoded system call step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Step {
    nr: u64,
    args: [u64; 6],
}

/// The code region, decoded strictly: steps of exactly the documented
/// form, then the final sequence, then int3 to the end of the region.
/// Panics on any other byte. Returns the steps and the frame address.
fn decode_code(buf: &[u8]) -> (Vec<Step>, u64) {
    const ARG_OPS: [[u8; 2]; 6] = [[0x48, 0xBF], [0x48, 0xBE], [0x48, 0xBA], [0x49, 0xBA], [0x49, 0xB8], [0x49, 0xB9]];
    const TAIL: [u8; 12] = [0x0F, 0x05, 0x48, 0x3D, 0x01, 0xF0, 0xFF, 0xFF, 0x72, 0x02, 0x0F, 0x0B];
    let mut pos = 0;
    let mut steps = Vec::new();
    loop {
        match buf[pos..pos + 2] {
            [0x48, 0xB8] => {
                let nr = le64(buf, pos + 2);
                pos += 10;
                let mut args = [0u64; 6];
                for (a, op) in args.iter_mut().zip(ARG_OPS) {
                    assert_eq!(buf[pos..pos + 2], op, "argument opcode at {pos}");
                    *a = le64(buf, pos + 2);
                    pos += 10;
                }
                assert_eq!(buf[pos..pos + 12], TAIL, "syscall and check at {pos}");
                pos += 12;
                steps.push(Step { nr, args });
            }
            [0x48, 0xBC] => {
                let rsp = le64(buf, pos + 2);
                pos += 10;
                assert_eq!(buf[pos..pos + 14], [0x48, 0xB8, 15, 0, 0, 0, 0, 0, 0, 0, 0x0F, 0x05, 0x0F, 0x0B]);
                pos += 14;
                assert!(buf[pos..8192].iter().all(|b| *b == 0xCC), "int3 fill after the code");
                return (steps, rsp - 8);
            }
            _ => panic!("unexpected code bytes at {pos}: {:02x?}", &buf[pos..pos + 2]),
        }
    }
}

/// The sigcontext registers at a frame, in `struct sigcontext` order.
fn frame_gprs(buf: &[u8], frame: usize) -> [u64; 18] {
    let mut g = [0u64; 18];
    for (i, v) in g.iter_mut().enumerate() {
        *v = le64(buf, frame + 48 + 8 * i);
    }
    g
}

#[test]
fn sizes_fit_the_worst_case() {
    assert_eq!(SCRATCH_LEN, SCRATCH_PAGES * 4096);
    assert!((5..=8).contains(&SCRATCH_PAGES));
    const { assert!(MAX_CALLS >= 64 + 8) };
    assert_eq!(CODE_LEN, 8192);
    assert_eq!(DATA_OFFSET, 8192);
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
    // two code pages.
    assert_eq!(b.stack_top(), BASE + 0x2000 + 0x400);
    assert_eq!(b.stack_top() % 16, 0);
    assert!(b.stack_top() > BASE + CODE_LEN as u64 && b.stack_top() < BASE + SCRATCH_LEN as u64);
    assert_eq!(b.calls(), 0);
}

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
    // stack, offset 0x2400 (already 64-aligned); rsp = frame + 8.
    let rsp = (BASE + 0x2408).to_le_bytes();
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
fn frame_layout() {
    let mut buf = scratch();
    let mut b = Builder::new(BASE, &mut buf).unwrap();
    // 5 bytes of data push the frame to the next multiple of 64.
    assert_eq!(b.data(&[9; 5], 1).unwrap(), BASE + 0x2400);
    let r = regs();
    let blocked = 0x8000_0000_0001_4002;
    let alt = AltStack { sp: 0x7f00_0010_0000, flags: 0, size: 0x8000 };
    let x = xstate(1000);
    let used = b.finish(&r, blocked, &alt, &x).unwrap();

    let (steps, frame_addr) = decode_code(&buf);
    assert!(steps.is_empty());
    assert_eq!(frame_addr, BASE + 0x2440);
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
    assert_eq!(buf[0x2400..0x2405], [9; 5]);
    assert!(buf[0x2405..f].iter().all(|b| *b == 0));
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
        assert!(frame >= BASE + 0x2400 + n as u64 && frame < BASE + 0x2400 + n as u64 + 64);
        assert_eq!(used, off(frame) + 448 + 576 + 4);
    }
}

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

#[test]
fn data_alignment_and_addresses() {
    let mut buf = scratch();
    let mut b = Builder::new(BASE, &mut buf).unwrap();
    // Data items start after the 1 KiB stack at 0x2000.
    assert_eq!(b.data(&[1, 2, 3], 1), Ok(BASE + 0x2400));
    assert_eq!(b.data(&[4], 1), Ok(BASE + 0x2403));
    assert_eq!(b.data(&[5; 8], 8), Ok(BASE + 0x2408));
    assert_eq!(b.data(&[6], 0), Ok(BASE + 0x2410), "align 0 counts as 1");
    assert_eq!(b.data(&[7; 2], 64), Ok(BASE + 0x2440));
    // Alignment is of the user address: the next multiple of 3 at or
    // after BASE + 0x2442 (BASE is a multiple of 4096, not of 3).
    let by3 = (BASE + 0x2442).next_multiple_of(3);
    assert!(by3 - BASE < 0x2445);
    assert_eq!(b.data(&[8], 3), Ok(by3), "a non-power of two aligns too");
    assert_eq!(b.data(&[], 16), Ok(BASE + 0x2450), "empty items take only alignment");
    assert_eq!(b.data(&[9], 1), Ok(BASE + 0x2450));
    assert_eq!(b.data(&[10], 4096), Ok(BASE + 0x3000));
    assert_eq!(buf[0x2400..0x2404], [1, 2, 3, 4]);
    assert_eq!(buf[0x2408..0x2410], [5; 8]);
    assert_eq!(buf[0x2410], 6);
    assert_eq!(buf[0x2440..0x2442], [7, 7]);
    assert_eq!(buf[off(by3)], 8);
    assert_eq!(buf[0x2450], 9);
    assert_eq!(buf[0x3000], 10);
    assert!(buf[0x3001..].iter().all(|b| *b == 0));
    assert!(buf[..0x2400].iter().all(|b| *b == 0), "code and stack untouched");
}

#[test]
fn data_no_room() {
    let mut buf = scratch();
    let mut b = Builder::new(BASE, &mut buf).unwrap();
    let free = SCRATCH_LEN - 0x2400;
    assert_eq!(b.data(&vec![1; free + 1], 1), Err(RestoreError::NoRoom));
    assert_eq!(b.data(&[1], usize::MAX), Err(RestoreError::NoRoom));
    assert_eq!(b.data(&[1], 1 << 40), Err(RestoreError::NoRoom));
    // Failures change nothing: the next item still goes first.
    assert_eq!(b.data(&vec![2; free - 1], 1), Ok(BASE + 0x2400));
    assert_eq!(b.data(&[3; 2], 1), Err(RestoreError::NoRoom));
    assert_eq!(b.data(&[3], 1), Ok(BASE + SCRATCH_LEN as u64 - 1));
    assert_eq!(b.data(&[4], 1), Err(RestoreError::NoRoom));
    assert_eq!(b.data(&[], 1), Ok(BASE + SCRATCH_LEN as u64), "an empty item at the very end");
    // The frame no longer fits.
    assert_eq!(b.finish(&regs(), 0, &AltStack::default(), &xstate(576)), Err(RestoreError::NoRoom));
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
        b.data(&vec![1; frame - 0x2400], 1).unwrap();
        b.finish(&regs(), 0, &AltStack::default(), x)
    };
    assert_eq!(build(&xstate(636)), Ok(SCRATCH_LEN));
    assert_eq!(build(&xstate(637)), Err(RestoreError::NoRoom));
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
    assert_eq!(b.data(&[1], 1), Ok(BASE + 0x2400));
    b.finish(&regs(), 0, &AltStack::default(), &xstate(576)).unwrap();
    let (steps, _) = decode_code(&buf);
    assert_eq!(steps.len(), MAX_CALLS);
    for (i, s) in steps.iter().enumerate() {
        assert_eq!(*s, Step { nr: i as u64, args: [i as u64; 6] });
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
    let at = BASE + 0x2408;
    assert_eq!(steps, vec![Step { nr: 13, args: [17, at, 0, 8, 0, 0] }]);
    let a = off(at);
    assert_eq!(
        [le64(&buf, a), le64(&buf, a + 8), le64(&buf, a + 16), le64(&buf, a + 24)],
        [act.handler, act.flags, act.restorer, act.mask]
    );
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

#[test]
fn error_names() {
    let all = [RestoreError::NoRoom, RestoreError::TooManyCalls, RestoreError::BadXstate, RestoreError::BadBase];
    let names: Vec<_> = all.iter().map(|e| e.name()).collect();
    assert_eq!(names, ["no_room", "too_many_calls", "bad_xstate", "bad_base"]);
}

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
                        prop_assert!(addr >= base + 0x2400 && addr + d.len() as u64 <= base + SCRATCH_LEN as u64);
                    }
                }
                Op::Call(n, a) => match b.syscall(n, a) {
                    Ok(()) => want.push(Step { nr: n, args: a }),
                    Err(e) => prop_assert_eq!(e, RestoreError::TooManyCalls),
                },
                Op::Sig(s, a) => {
                    let act = SigAction { handler: a[0], flags: a[1], restorer: a[2], mask: a[3] };
                    if b.sigaction(s, &act).is_ok() {
                        want.push(Step { nr: 13, args: [u64::from(s), 0, 0, 8, 0, 0] });
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
                prop_assert!(at >= base + 0x2400 && at + 32 <= base + SCRATCH_LEN as u64 && at % 8 == 0);
                s.args[1] = 0;
            }
        }
        prop_assert_eq!(steps, want);
        prop_assert!(rsp_frame % 64 == 0 && rsp_frame >= base + 0x2400);
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

/// Real runs: a child process (this test binary again, selecting
/// `exec::child` and told what to do through the environment) maps a
/// scratch area, builds a restorer into it and jumps to it. The restorer
/// sets the thread pointer and a signal action, then `rt_sigreturn` lands
/// in checking code placed as a data item, which compares every general
/// register, the flags, xmm0, the thread pointer, the blocked mask, the
/// action and the alternate stack with what the frame said, and exits
/// with 77 if all match or with the number of the first failed check.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod exec {
    use super::*;
    use std::arch::asm;
    use std::os::unix::process::ExitStatusExt;
    use std::process::Command;

    const ENV: &str = "ROAM_RESTORE_CHILD";
    const CHILD_BASE: u64 = 0x5a5a_0000_0000;
    const OK: i32 = 77;

    const SIGUSR1: u32 = 10;
    const ACT: SigAction =
        SigAction { handler: 0x1234_5000, flags: 0x0400_0000 | 0x0800_0000 | 4, restorer: 0x1234_6000, mask: 1 << 1 };
    const BLOCKED: u64 = (1 << 11) | (1 << 14) | (1 << 34) | (1 << 63);
    const ALT_SP: u64 = 0x6b6b_0000_0000;
    const ALT_SIZE: u64 = 0x10000;
    const FS_WORD: u64 = 0x0123_4567_89ab_cdef;
    const XMM0: [u64; 2] = [0x1111_2222_3333_4444, 0x5555_6666_7777_8888];
    const YMM0_HI: [u64; 2] = [0x9999_aaaa_bbbb_cccc, 0xdddd_eeee_ffff_0123];
    // CF, PF, SF, DF, OF plus IF and the always-one bit 1.
    const EFLAGS: u64 = 0x1 | 0x4 | 0x80 | 0x400 | 0x800 | 0x200 | 0x2;

    /// One raw system call.
    unsafe fn sys(nr: u64, a: [u64; 6]) -> u64 {
        let ret: u64;
        asm!(
            "syscall",
            inlateout("rax") nr => ret,
            in("rdi") a[0], in("rsi") a[1], in("rdx") a[2], in("r10") a[3], in("r8") a[4], in("r9") a[5],
            lateout("rcx") _, lateout("r11") _,
            options(nostack),
        );
        ret
    }

    /// A tiny assembler for the checking code, which runs at `at`.
    struct Asm {
        at: u64,
        code: Vec<u8>,
        check: i32,
    }

    impl Asm {
        fn here(&self) -> u64 {
            self.at + self.code.len() as u64
        }

        /// An instruction ending in a rip-relative disp32 to `target`.
        fn riprel(&mut self, head: &[u8], target: u64) {
            self.code.extend_from_slice(head);
            let next = self.here() + 4;
            let disp = i32::try_from(target as i64 - next as i64).unwrap();
            self.code.extend_from_slice(&disp.to_le_bytes());
        }

        fn movabs(&mut self, rex: u8, op: u8, imm: u64) {
            self.code.extend_from_slice(&[rex, op]);
            self.code.extend_from_slice(&imm.to_le_bytes());
        }

        /// `je ok; exit_group(check number); ok:`.
        fn expect_equal(&mut self) {
            self.check += 1;
            self.code.extend_from_slice(&[0x74, 22]);
            self.movabs(0x48, 0xBF, self.check as u64);
            self.movabs(0x48, 0xB8, 231);
            self.code.extend_from_slice(&[0x0F, 0x05]);
        }

        /// `cmp reg64, [target]`, `reg` numbered as in ModRM (r8 = 8).
        fn cmp_mem(&mut self, reg: u8, target: u64) {
            let rex = 0x48 | if reg >= 8 { 0x04 } else { 0 };
            self.riprel(&[rex, 0x3B, ((reg & 7) << 3) | 5], target);
            self.expect_equal();
        }

        /// `mov rax, [target]`.
        fn load_rax(&mut self, target: u64) {
            self.riprel(&[0x48, 0x8B, 0x05], target);
        }

        fn syscall(&mut self, nr: u64, a: [u64; 4]) {
            self.movabs(0x48, 0xB8, nr);
            for (op, v) in [(0xBF, a[0]), (0xBE, a[1]), (0xBA, a[2])] {
                self.movabs(0x48, op, v);
            }
            self.movabs(0x49, 0xBA, a[3]);
            self.code.extend_from_slice(&[0x0F, 0x05]);
        }
    }

    /// Where the upper halves of the ymm registers are in the standard
    /// XSAVE layout, if the CPU and kernel use AVX.
    fn ymm_offset() -> Option<usize> {
        if !std::arch::is_x86_feature_detected!("avx") {
            return None;
        }
        // SAFETY: CPUID leaf 0xD exists wherever AVX is reported. (The
        // intrinsic is safe to call on newer toolchains.)
        #[allow(unused_unsafe)]
        let leaf = unsafe { std::arch::x86_64::__cpuid_count(0xD, 2) };
        Some(leaf.ebx as usize)
    }

    /// An XSAVE area with FP, SSE and (if present) AVX in use: xmm0 and
    /// the upper half of ymm0 hold known values. Without `magic` it has
    /// the regset's form (the XCR0 mask where `_fpx_sw_bytes` would be);
    /// with it, its own software bytes and 64 bytes of junk past
    /// `xstate_size`.
    fn child_xstate(magic: bool) -> Vec<u8> {
        let (size, xfeatures) = match ymm_offset() {
            Some(at) => (at + 256, 0b111),
            None => (576, 0b11),
        };
        let len = if magic { size + 64 } else { size };
        let mut x = vec![0u8; len];
        x[0..2].copy_from_slice(&0x037fu16.to_le_bytes());
        set32(&mut x, 24, 0x1f80);
        set64(&mut x, 160, XMM0[0]);
        set64(&mut x, 168, XMM0[1]);
        set64(&mut x, 512, xfeatures);
        if let Some(at) = ymm_offset() {
            set64(&mut x, at, YMM0_HI[0]);
            set64(&mut x, at + 8, YMM0_HI[1]);
        }
        if magic {
            x[size..].fill(0x5A);
            set32(&mut x, 464, MAGIC1);
            set32(&mut x, 468, size as u32 + 4);
            set64(&mut x, 472, xfeatures);
            set32(&mut x, 480, size as u32);
        } else {
            set64(&mut x, 464, xfeatures);
        }
        x
    }

    /// Builds the restorer for `mode` into `buf`; returns (entry, rsp).
    fn build(buf: &mut [u8], mode: &str) -> (u64, u64) {
        let mut b = Builder::new(CHILD_BASE, buf).unwrap();
        let fs_at = b.data(&FS_WORD.to_le_bytes(), 64).unwrap();
        let mask_slot = b.data(&[0; 8], 8).unwrap();
        let act_slot = b.data(&[0; 32], 8).unwrap();
        let alt_slot = b.data(&[0; 24], 8).unwrap();
        let rax_slot = b.data(&[0; 8], 8).unwrap();
        let stack = b.data(&[0; 512], 16).unwrap() + 512;

        let mut r = Regs::default();
        let gpr_order: [(u8, &mut u64); 16] = [
            (0, &mut r.rax),
            (1, &mut r.rcx),
            (2, &mut r.rdx),
            (3, &mut r.rbx),
            (4, &mut r.rsp),
            (5, &mut r.rbp),
            (6, &mut r.rsi),
            (7, &mut r.rdi),
            (8, &mut r.r8),
            (9, &mut r.r9),
            (10, &mut r.r10),
            (11, &mut r.r11),
            (12, &mut r.r12),
            (13, &mut r.r13),
            (14, &mut r.r14),
            (15, &mut r.r15),
        ];
        let mut expected = Vec::new();
        for (n, slot) in gpr_order {
            *slot = if n == 4 { stack } else { 0x7700_0000_0000_0000 | (u64::from(n) << 32) | 0x00c0_ffee };
            expected.push((n, *slot));
        }
        r.eflags = EFLAGS;
        let mut table = Vec::new();
        for (_, v) in &expected {
            table.extend_from_slice(&v.to_le_bytes());
        }
        for v in [EFLAGS, XMM0[0], XMM0[1], FS_WORD, BLOCKED, ACT.handler, ACT.flags, ACT.restorer, ACT.mask] {
            table.extend_from_slice(&v.to_le_bytes());
        }
        for v in [ALT_SP, 0, ALT_SIZE, YMM0_HI[0], YMM0_HI[1]] {
            table.extend_from_slice(&v.to_le_bytes());
        }
        let table_at = b.data(&table, 8).unwrap();
        let word = |i: usize| table_at + 8 * i as u64;

        // The checking code, assembled for the address it will get.
        let at = b.data(&[], 16).unwrap();
        let mut a = Asm { at, code: Vec::new(), check: 0 };
        a.riprel(&[0x48, 0x89, 0x05], rax_slot); // mov [rax_slot], rax
        a.code.extend_from_slice(&[0x9C, 0x58]); // pushfq; pop rax
        a.cmp_mem(0, word(16)); // check 1: eflags
        a.load_rax(rax_slot);
        for (i, (n, _)) in expected.iter().enumerate() {
            a.cmp_mem(*n, word(i)); // checks 2..=17: rax, rcx, ... r15
        }
        a.code.extend_from_slice(&[0x66, 0x48, 0x0F, 0x7E, 0xC0]); // movq rax, xmm0
        a.cmp_mem(0, word(17));
        a.code.extend_from_slice(&[0x66, 0x48, 0x0F, 0x3A, 0x16, 0xC0, 0x01]); // pextrq rax, xmm0, 1
        a.cmp_mem(0, word(18));
        if ymm_offset().is_some() {
            // Only a real XRSTOR restores these: the kernel's fallback
            // when the software bytes or magic2 are wrong restores the
            // legacy area alone and leaves them zero.
            a.code.extend_from_slice(&[0xC4, 0xE3, 0x7D, 0x19, 0xC1, 0x01]); // vextractf128 xmm1, ymm0, 1
            a.code.extend_from_slice(&[0x66, 0x48, 0x0F, 0x7E, 0xC8]); // movq rax, xmm1
            a.cmp_mem(0, word(28));
            a.code.extend_from_slice(&[0x66, 0x48, 0x0F, 0x3A, 0x16, 0xC8, 0x01]); // pextrq rax, xmm1, 1
            a.cmp_mem(0, word(29));
        }
        a.code.extend_from_slice(&[0x64, 0x48, 0x8B, 0x04, 0x25, 0, 0, 0, 0]); // mov rax, fs:[0]
        a.cmp_mem(0, word(19));
        a.syscall(14, [0, 0, mask_slot, 8]); // rt_sigprocmask(SIG_BLOCK, NULL, &old, 8)
        a.load_rax(mask_slot);
        a.cmp_mem(0, word(20));
        a.syscall(13, [u64::from(SIGUSR1), 0, act_slot, 8]); // rt_sigaction(SIGUSR1, NULL, &old, 8)
        for i in 0..4u64 {
            a.load_rax(act_slot + 8 * i);
            a.cmp_mem(0, word(21 + i as usize));
        }
        a.syscall(131, [0, alt_slot, 0, 0]); // sigaltstack(NULL, &old)
        for i in 0..3u64 {
            a.load_rax(alt_slot + 8 * i);
            a.cmp_mem(0, word(25 + i as usize));
        }
        a.movabs(0x48, 0xBF, OK as u64);
        a.movabs(0x48, 0xB8, 231);
        a.code.extend_from_slice(&[0x0F, 0x05, 0x0F, 0x0B]);
        assert_eq!(b.data(&a.code, 1).unwrap(), at);
        r.rip = at;

        b.syscall(39, [0; 6]).unwrap(); // getpid
        if mode == "fail" {
            b.syscall(3, [u64::MAX, 0, 0, 0, 0, 0]).unwrap(); // close(-1): EBADF
        }
        b.syscall(158, [0x1002, fs_at, 0, 0, 0, 0]).unwrap(); // arch_prctl(ARCH_SET_FS)
        b.sigaction(SIGUSR1, &ACT).unwrap();
        let (entry, top) = (b.entry(), b.stack_top());
        let alt = AltStack { sp: ALT_SP, flags: 0, size: ALT_SIZE };
        b.finish(&r, BLOCKED, &alt, &child_xstate(mode == "magic")).unwrap();
        (entry, top)
    }

    /// The child side: does nothing unless the parent set the variable.
    #[test]
    fn child() {
        let Ok(mode) = std::env::var(ENV) else { return };
        let mut buf = vec![0u8; SCRATCH_LEN];
        let (entry, top) = build(&mut buf, &mode);
        // SAFETY: a fresh mapping at an address nothing else uses (the
        // call fails rather than replace anything), then a jump that
        // never comes back: the restorer ends the process.
        unsafe {
            // PROT_READ|WRITE|EXEC; MAP_PRIVATE|ANONYMOUS|FIXED_NOREPLACE.
            let got = sys(9, [CHILD_BASE, SCRATCH_LEN as u64, 7, 0x2 | 0x20 | 0x10_0000, u64::MAX, 0]);
            if got != CHILD_BASE {
                std::process::exit(3);
            }
            std::ptr::copy_nonoverlapping(buf.as_ptr(), CHILD_BASE as *mut u8, SCRATCH_LEN);
            asm!("mov rsp, {sp}", "jmp {ip}", sp = in(reg) top, ip = in(reg) entry, options(noreturn));
        }
    }

    fn run(mode: &str) -> std::process::ExitStatus {
        Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "exec::child", "--test-threads=1", "--quiet"])
            .env(ENV, mode)
            .output()
            .unwrap()
            .status
    }

    #[test]
    fn restores_everything() {
        for mode in ["plain", "magic"] {
            let st = run(mode);
            assert_eq!(st.code(), Some(OK), "{mode}: child ended with {st:?} (a code below 77 is a failed check)");
        }
    }

    #[test]
    fn failed_step_is_sigill() {
        let st = run("fail");
        assert_eq!(st.signal(), Some(4), "child ended with {st:?}");
    }
}
