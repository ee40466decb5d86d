//! Real runs: a child process (this test binary again, selecting
//! `exec::child` and told what to do through the environment) maps a
//! scratch area, builds a restorer into it and jumps to it. The restorer
//! sets the thread pointer and a signal action, then `rt_sigreturn` lands
//! in checking code placed as a data item, which compares every general
//! register, the flags, xmm0, the thread pointer, the blocked mask, the
//! action and the alternate stack with what the frame said, and exits
//! with 77 if all match or with the number of the first failed check.

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
