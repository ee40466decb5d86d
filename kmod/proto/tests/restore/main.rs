//! Host tests of the restorer builder: the exact code bytes, the signal
//! frame decoded at offsets derived by hand from the kernel headers, the
//! xstate handling, every error, that all addresses stay inside the
//! scratch area, property tests over arbitrary input, and (on x86-64
//! Linux) a run of real restorers in child processes.
//!
//! One file per part of what the builder writes; they share the helpers
//! here (a sample base, registers and xstate, and a strict decoder of the
//! code region). `props` holds the property tests, `exec` the real runs.
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

mod builder;
mod code;
mod data;
mod frame;
mod props;
mod rearm;
mod xstate;

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod exec;

/// A page-aligned base well inside user space.
const BASE: u64 = 0x7f12_3456_0000;

/// Offset of the first data item: after the code and the stack.
const D0: usize = DATA_OFFSET + STACK_LEN;

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
    /// An error stops the restorer (`jb +2`, not `jmp +2`, over the `ud2`).
    checked: bool,
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
                let mut unchecked = TAIL;
                unchecked[8] = 0xEB;
                let checked = buf[pos..pos + 12] == TAIL;
                assert!(checked || buf[pos..pos + 12] == unchecked, "syscall and check at {pos}");
                pos += 12;
                steps.push(Step { nr, args, checked });
            }
            [0x48, 0xBC] => {
                let rsp = le64(buf, pos + 2);
                pos += 10;
                assert_eq!(buf[pos..pos + 14], [0x48, 0xB8, 15, 0, 0, 0, 0, 0, 0, 0, 0x0F, 0x05, 0x0F, 0x0B]);
                pos += 14;
                assert!(buf[pos..CODE_LEN].iter().all(|b| *b == 0xCC), "int3 fill after the code");
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
