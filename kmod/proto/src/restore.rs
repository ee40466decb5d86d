//! The restorer: a few pages of machine code and data that a migrated
//! process runs once, in user mode, to finish restoring itself.
//!
//! The destination kernel maps an anonymous read-write-execute scratch area
//! of [`SCRATCH_LEN`] bytes at a page-aligned user address `base`, copies
//! the bytes built here into it, and returns to user mode with
//! `rip = `[`Builder::entry`], `rsp = `[`Builder::stack_top`] and every other
//! general register zero. The code then makes a list of Linux x86-64
//! system calls, in order (moving the vDSO, installing signal handlers,
//! setting the thread pointer, ...), and ends with `rt_sigreturn` over a
//! signal frame written here. That one call restores every general
//! register, `rip`, `rsp`, the flags, the FPU/SSE/AVX state, the blocked
//! signal mask and the alternate signal stack: afterwards the process runs
//! exactly where it stopped on its home node.
//!
//! # Layout of the scratch area
//!
//! | offset                 | length        | contents                                     |
//! |------------------------|---------------|----------------------------------------------|
//! | 0                      | [`CODE_LEN`]  | the code; unused bytes are `int3` (`0xCC`)   |
//! | [`DATA_OFFSET`]        | [`STACK_LEN`] | the stack (`rsp` starts at its top)          |
//! | `DATA_OFFSET + STACK_LEN` | as needed  | [`Builder::data`] items, in call order       |
//! | next multiple of 64    | [`FRAME_LEN`] | the `struct rt_sigframe`                     |
//! | frame + [`FPSTATE_OFFSET`] | xstate + 4 | the xstate (64-byte aligned), then `FP_XSTATE_MAGIC2` |
//! | after that             | the rest      | zero                                         |
//!
//! # The code
//!
//! Each system call is one step of exactly [`STEP_LEN`] (82) bytes:
//!
//! ```text
//! 48 B8 imm64     movabs rax, nr
//! 48 BF imm64     movabs rdi, arg0
//! 48 BE imm64     movabs rsi, arg1
//! 48 BA imm64     movabs rdx, arg2
//! 49 BA imm64     movabs r10, arg3
//! 49 B8 imm64     movabs r8,  arg4
//! 49 B9 imm64     movabs r9,  arg5
//! 0F 05           syscall
//! 48 3D 01 F0 FF FF   cmp rax, -4095   (imm32, sign-extended)
//! 72 02           jb  +2               (unsigned: rax below -4095, success)
//! 0F 0B           ud2                  (rax in -4095..=-1: an errno)
//! ```
//!
//! So a failed call kills the process with `SIGILL` rather than letting it
//! run half restored. The steps that queue pending signals again
//! ([`Builder::queue_signal`]) have `EB 02` (`jmp +2`) in place of the
//! `jb`: their errors are ignored. All six argument registers are always loaded (the
//! kernel ignores the ones a call does not take), which keeps every step
//! the same length. The code ends with [`FINAL_LEN`] (24) bytes:
//!
//! ```text
//! 48 BC imm64     movabs rsp, frame + 8
//! 48 B8 imm64     movabs rax, 15      (rt_sigreturn)
//! 0F 05           syscall
//! 0F 0B           ud2                 (only reached if rt_sigreturn returns)
//! ```
//!
//! The code never uses the stack (no push, no call), so the stack only
//! gives `rsp` a sane value while the steps run.
//!
//! # The signal frame
//!
//! `rt_sigreturn` (Linux `arch/x86/kernel/signal_64.c`) reads its
//! `struct rt_sigframe` at `rsp - 8`: a `pretcode` pointer (written 0),
//! then `struct ucontext`, then `struct siginfo` (128 bytes, written 0),
//! 440 bytes in all. Offsets from the start of the frame:
//!
//! | offset | field                                                              |
//! |--------|--------------------------------------------------------------------|
//! | 0      | `pretcode` (0)                                                     |
//! | 8      | `uc_flags`: 7, i.e. `UC_FP_XSTATE`, `UC_SIGCONTEXT_SS` and `UC_STRICT_RESTORE_SS` |
//! | 16     | `uc_link` (0)                                                      |
//! | 24     | `uc_stack`: `ss_sp` u64, `ss_flags` i32 (at 32), padding, `ss_size` u64 (at 40) |
//! | 48     | `uc_mcontext` (`struct sigcontext`, 256 bytes): r8..r15, rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp, rip, eflags (u64 each, 48..192), cs, gs, fs, ss (u16 each, 192..200), err, trapno, oldmask, cr2, fpstate (u64 each, 200..240), reserved (240..304) |
//! | 304    | `uc_sigmask` (u64, `_NSIG` = 64)                                   |
//! | 312    | `info` (`struct siginfo`, 128 bytes, 0)                            |
//!
//! `cs` is [`USER_CS`], `ss` is [`USER_DS`] (with `UC_STRICT_RESTORE_SS`
//! the kernel takes `ss` as given, only forcing privilege level 3); the `gs`/`fs` selector slots are 0 (the
//! fs and gs *bases* are not part of a signal frame: set them with
//! `arch_prctl` steps). The kernel restores only the arithmetic and
//! control bits of `eflags` (its `FIX_EFLAGS`), and sets `orig_rax` to -1,
//! so the process does not restart a system call.
//!
//! The alternate stack is written as given, except that an [`AltStack`]
//! with `SS_DISABLE` in its flags or a zero size is written as
//! `{ ss_sp: 0, ss_flags: SS_DISABLE, ss_size: 0 }` (no alternate stack).
//!
//! # The xstate
//!
//! `sigcontext.fpstate` points at a 64-byte aligned copy of the XSAVE
//! area (the user ABI, non-compacted layout). The kernel
//! (`arch/x86/kernel/fpu/signal.c`, `check_xstate_in_sigframe`) restores
//! the extended state only if bytes 464..512 (`sw_reserved`) hold a
//! `struct _fpx_sw_bytes` — `magic1` u32 = `FP_XSTATE_MAGIC1`,
//! `extended_size` u32, `xfeatures` u64, `xstate_size` u32, padding — and
//! the u32 `FP_XSTATE_MAGIC2` follows the area at `fpstate + xstate_size`;
//! otherwise it silently restores the legacy FXSAVE part only.
//! [`Builder::finish`] therefore always rewrites `sw_reserved`:
//!
//! * if the given area already has `magic1`, its `xstate_size` (which must
//!   lie in 576..=len) and `xfeatures` are kept, and only `xstate_size`
//!   bytes are copied;
//! * otherwise (this is what the kernel's `REGSET_XSTATE` regset gives: it
//!   puts the user XCR0 mask in the first word of `sw_reserved`, not a
//!   `_fpx_sw_bytes`), `xstate_size` is the length given and `xfeatures`
//!   is the XSAVE header's `XSTATE_BV` (bytes 512..520), the components in
//!   use; the kernel resets the others to their initial state;
//!
//! and in both cases `extended_size = xstate_size + 4`, the padding is
//! zero, and `FP_XSTATE_MAGIC2` is written right after the copy.
//!
//! The kernel also ignores the extended state if `xstate_size` exceeds the
//! *destination* task's `fpstate->user_size`. The regset always has the
//! system's largest size, which on CPUs with AMX exceeds the `user_size`
//! of every task that has not used AMX; the part beyond is zero for such
//! a task. The caller should therefore pass the regset buffer cut to at
//! most the destination task's `user_size`.
//!
//! # What the caller must also do
//!
//! * Block every signal before the process first returns to user mode:
//!   a handler installed by an early step could otherwise run on the
//!   small scratch stack, in the middle of the restore. The frame's mask
//!   replaces that at the end.
//! * Place the scratch area clear of the image's own areas. It stays
//!   mapped after the restore (the code cannot unmap the pages it runs
//!   from); the restored process never touches it again.
//!
//! `core` only, no panics, whatever the input.

use crate::image::{
    AltStack, PendingSignal, Regs, SigAction, MAX_PENDING, MAX_TIMERS, MAX_TIMER_HOLES, MAX_XSTATE, NSIG, PAGE_SIZE, USER_CS, USER_DS, USER_END,
};

/// Pages of code at the start of the scratch area.
pub const CODE_PAGES: usize = 8;

/// Length of the code region in bytes.
pub const CODE_LEN: usize = CODE_PAGES * PAGE_SIZE;

/// Total size of the scratch area in pages: [`CODE_PAGES`] of code and
/// twelve of data (stack, data items, signal frame, xstate).
pub const SCRATCH_PAGES: usize = 20;

/// Total size of the scratch area in bytes.
pub const SCRATCH_LEN: usize = SCRATCH_PAGES * PAGE_SIZE;

/// Offset of the data region (right after the code).
pub const DATA_OFFSET: usize = CODE_LEN;

/// Size of the stack at the start of the data region.
pub const STACK_LEN: usize = 1024;

/// Most system calls one restorer makes (enough for 64 `rt_sigaction`
/// calls, re-queueing [`MAX_PENDING`] signals, making every timer an
/// image carries again (`crate::rearm`) and a few dozen others).
pub const MAX_CALLS: usize = 384;

/// Length of the code of one system call step.
pub const STEP_LEN: usize = 82;

/// Length of the final `rt_sigreturn` sequence.
pub const FINAL_LEN: usize = 24;

/// `sizeof(struct rt_sigframe)` on x86-64: `pretcode` (8),
/// `struct ucontext` (304), `struct siginfo` (128).
pub const FRAME_LEN: usize = 440;

/// Offset of the xstate copy from the start of the frame: [`FRAME_LEN`]
/// rounded up to 64 (the frame itself starts 64-byte aligned).
pub const FPSTATE_OFFSET: usize = 448;

/// Smallest xstate accepted: the 512-byte legacy area and the 64-byte
/// XSAVE header (the kernel's `min_xstate_size`).
pub const XSTATE_MIN: usize = 576;

/// `rt_sigaction` system call number.
pub const SYS_RT_SIGACTION: u64 = 13;

/// `rt_sigreturn` system call number.
pub const SYS_RT_SIGRETURN: u64 = 15;

/// `rt_sigqueueinfo` system call number: a signal on the process's
/// shared queue.
pub const SYS_RT_SIGQUEUEINFO: u64 = 129;

/// `rt_tgsigqueueinfo` system call number: a signal on one thread's
/// private queue.
pub const SYS_RT_TGSIGQUEUEINFO: u64 = 297;

/// `sizeof(siginfo_t)` in user space: the kernel's `siginfo` and zeros.
pub const SIGINFO_T_LEN: usize = 128;

/// `FP_XSTATE_MAGIC1`: marks `sw_reserved` as a `struct _fpx_sw_bytes`.
pub const FP_XSTATE_MAGIC1: u32 = 0x4650_5853;

/// `FP_XSTATE_MAGIC2`: follows the xstate in a signal frame.
pub const FP_XSTATE_MAGIC2: u32 = 0x4650_5845;

/// `SS_DISABLE`: no alternate signal stack.
pub const SS_DISABLE: u32 = 2;

/// `uc_flags` of the frame: `UC_FP_XSTATE` (1), `UC_SIGCONTEXT_SS` (2)
/// and `UC_STRICT_RESTORE_SS` (4).
pub const UC_FLAGS: u64 = 1 | 2 | 4;

/// Where data items start: after the stack.
const DATA_START: usize = DATA_OFFSET + STACK_LEN;

/// Size of the kernel's `sigset_t` passed to `rt_sigaction`.
const SIGSET_SIZE: u64 = 8;

// Offsets inside the frame (see the module documentation).
const F_UC_FLAGS: usize = 8;
const F_UC_LINK: usize = 16;
const F_SS_SP: usize = 24;
const F_SS_FLAGS: usize = 32;
const F_SS_SIZE: usize = 40;
const F_SC: usize = 48;
const F_SIGMASK: usize = 304;
// Offsets inside `struct sigcontext`, after the 18 u64 registers.
const SC_CS: usize = 144;
const SC_GS: usize = 146;
const SC_FS: usize = 148;
const SC_SS: usize = 150;
const SC_FPSTATE: usize = 184;
const SC_LEN: usize = 256;

// Offsets inside the XSAVE area.
const X_MXCSR: usize = 24;
const X_SW: usize = 464;
const X_SW_LEN: usize = 48;
const X_XSTATE_BV: usize = 512;
const X_XCOMP_BV: usize = 520;

// Instruction bytes.
const MOV_RAX: [u8; 2] = [0x48, 0xB8];
const MOV_RSP: [u8; 2] = [0x48, 0xBC];
const MOV_ARGS: [[u8; 2]; 6] = [
    [0x48, 0xBF], // rdi
    [0x48, 0xBE], // rsi
    [0x48, 0xBA], // rdx
    [0x49, 0xBA], // r10
    [0x49, 0xB8], // r8
    [0x49, 0xB9], // r9
];
const SYSCALL: [u8; 2] = [0x0F, 0x05];
const UD2: [u8; 2] = [0x0F, 0x0B];
const CHECK: [u8; 10] = [0x48, 0x3D, 0x01, 0xF0, 0xFF, 0xFF, 0x72, 0x02, 0x0F, 0x0B];
/// [`CHECK`] with `jmp +2` for `jb +2`: the error is ignored.
const NO_CHECK: [u8; 10] = [0x48, 0x3D, 0x01, 0xF0, 0xFF, 0xFF, 0xEB, 0x02, 0x0F, 0x0B];
const INT3: u8 = 0xCC;

// The code of MAX_CALLS steps and the final sequence fits the code region.
const _: () = assert!(STEP_LEN == 7 * 10 + SYSCALL.len() + CHECK.len());
const _: () = assert!(FINAL_LEN == 2 * 10 + SYSCALL.len() + UD2.len());
const _: () = assert!(MAX_CALLS * STEP_LEN + FINAL_LEN <= CODE_LEN);
// The data region holds the stack, the actions of every signal, a frame
// (after up to 63 bytes of alignment) and the largest xstate with its
// trailing magic, with room to spare.
const _: () = assert!(FPSTATE_OFFSET >= FRAME_LEN && FPSTATE_OFFSET.is_multiple_of(64));
// It also holds the `siginfo_t` of every pending signal and what the
// timer steps place there (`crate::rearm`: a sigevent, an id slot and an
// itimerspec per timer, an id slot per hole, three itimervals).
const _: () = assert!(
    DATA_START
        + NSIG * SigAction::SIZE
        + MAX_PENDING * SIGINFO_T_LEN
        + MAX_TIMERS * (64 + 8 + 32 + 8)
        + MAX_TIMER_HOLES as usize * 8
        + 64
        + 3 * 32
        + 63
        + FPSTATE_OFFSET
        + MAX_XSTATE as usize
        + 4
        + 1024
        <= SCRATCH_LEN
);
const _: () = assert!(MAX_CALLS >= NSIG + MAX_PENDING + 3 + 2 * MAX_TIMERS + 2 * MAX_TIMER_HOLES as usize + 32);
const _: () = assert!(STACK_LEN.is_multiple_of(16) && DATA_OFFSET.is_multiple_of(16));

/// Why a restorer could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestoreError {
    /// The buffer is shorter than [`SCRATCH_LEN`], or the data region (or
    /// the code region) is full.
    NoRoom,
    /// More than [`MAX_CALLS`] system calls.
    TooManyCalls,
    /// The xstate is too short or too long, or its contents are invalid
    /// (reserved MXCSR bits, a compacted or dirty XSAVE header, a
    /// `_fpx_sw_bytes` size out of range).
    BadXstate,
    /// The base address is zero, not page-aligned, or the area would not
    /// end below [`USER_END`].
    BadBase,
}

impl RestoreError {
    /// The snake_case name used for counters and messages.
    pub const fn name(self) -> &'static str {
        match self {
            RestoreError::NoRoom => "no_room",
            RestoreError::TooManyCalls => "too_many_calls",
            RestoreError::BadXstate => "bad_xstate",
            RestoreError::BadBase => "bad_base",
        }
    }
}

/// Copies `src` to `buf[at..]`; `NoRoom` if it does not fit.
fn put(buf: &mut [u8], at: usize, src: &[u8]) -> Result<(), RestoreError> {
    let end = at.checked_add(src.len()).ok_or(RestoreError::NoRoom)?;
    let dst = buf.get_mut(at..end).ok_or(RestoreError::NoRoom)?;
    for (d, s) in dst.iter_mut().zip(src.iter()) {
        *d = *s;
    }
    Ok(())
}

fn put16(buf: &mut [u8], at: usize, v: u16) -> Result<(), RestoreError> {
    put(buf, at, &v.to_le_bytes())
}

fn put32(buf: &mut [u8], at: usize, v: u32) -> Result<(), RestoreError> {
    put(buf, at, &v.to_le_bytes())
}

fn put64(buf: &mut [u8], at: usize, v: u64) -> Result<(), RestoreError> {
    put(buf, at, &v.to_le_bytes())
}

/// The u32 at `b[at..]`, if present.
fn get32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(<[u8; 4]>::try_from(s).ok()?))
}

/// The u64 at `b[at..]`, if present.
fn get64(b: &[u8], at: usize) -> Option<u64> {
    let s = b.get(at..at.checked_add(8)?)?;
    Some(u64::from_le_bytes(<[u8; 8]>::try_from(s).ok()?))
}

/// `v` rounded up to a multiple of `align` (not 0), if representable.
fn round_up(v: u64, align: u64) -> Option<u64> {
    let bumped = v.checked_add(align.checked_sub(1)?)?;
    bumped.checked_div(align)?.checked_mul(align)
}

/// Writes one `movabs` (two opcode bytes, then the immediate) at `at`.
fn movabs(buf: &mut [u8], at: usize, op: [u8; 2], imm: u64) -> Result<usize, RestoreError> {
    put(buf, at, &op)?;
    let next = at.checked_add(2).ok_or(RestoreError::NoRoom)?;
    put64(buf, next, imm)?;
    next.checked_add(8).ok_or(RestoreError::NoRoom)
}

/// The [`STEP_LEN`] bytes of one system call step; with `checked`, an
/// error stops the restorer (`ud2`).
fn encode_step(nr: u64, args: [u64; 6], checked: bool) -> Result<[u8; STEP_LEN], RestoreError> {
    let mut step = [0u8; STEP_LEN];
    let mut at = movabs(&mut step, 0, MOV_RAX, nr)?;
    for (op, arg) in MOV_ARGS.iter().zip(args.iter()) {
        at = movabs(&mut step, at, *op, *arg)?;
    }
    put(&mut step, at, &SYSCALL)?;
    let check = if checked { &CHECK } else { &NO_CHECK };
    put(&mut step, at.checked_add(SYSCALL.len()).ok_or(RestoreError::NoRoom)?, check)?;
    Ok(step)
}

/// The [`FINAL_LEN`] bytes of the final sequence for a frame at `frame`.
fn encode_final(frame: u64) -> Result<[u8; FINAL_LEN], RestoreError> {
    let mut code = [0u8; FINAL_LEN];
    let at = movabs(&mut code, 0, MOV_RSP, frame.checked_add(8).ok_or(RestoreError::NoRoom)?)?;
    let at = movabs(&mut code, at, MOV_RAX, SYS_RT_SIGRETURN)?;
    put(&mut code, at, &SYSCALL)?;
    put(&mut code, at.checked_add(SYSCALL.len()).ok_or(RestoreError::NoRoom)?, &UD2)?;
    Ok(code)
}

/// What goes into the xstate's `sw_reserved`, and how much to copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SwBytes {
    xfeatures: u64,
    xstate_size: u32,
}

impl SwBytes {
    /// Checks an XSAVE area and works out its `_fpx_sw_bytes` (see the
    /// module documentation).
    fn of(x: &[u8]) -> Result<SwBytes, RestoreError> {
        let bad = RestoreError::BadXstate;
        if x.len() < XSTATE_MIN || x.len() > MAX_XSTATE as usize {
            return Err(bad);
        }
        // MXCSR bits 16..32 are reserved: XRSTOR faults on them.
        if get32(x, X_MXCSR).ok_or(bad)? >> 16 != 0 {
            return Err(bad);
        }
        // Standard (non-compacted) form: XCOMP_BV and the rest of the
        // header must be zero, else XRSTOR faults.
        let rest = x.get(X_XCOMP_BV..XSTATE_MIN).ok_or(bad)?;
        if rest.iter().any(|b| *b != 0) {
            return Err(bad);
        }
        let len = u32::try_from(x.len()).map_err(|_| bad)?;
        if get32(x, X_SW).ok_or(bad)? == FP_XSTATE_MAGIC1 {
            let xstate_size = get32(x, X_SW + 16).ok_or(bad)?;
            if (xstate_size as usize) < XSTATE_MIN || xstate_size > len {
                return Err(bad);
            }
            Ok(SwBytes { xfeatures: get64(x, X_SW + 8).ok_or(bad)?, xstate_size })
        } else {
            Ok(SwBytes { xfeatures: get64(x, X_XSTATE_BV).ok_or(bad)?, xstate_size: len })
        }
    }

    /// Writes the 48 bytes of `sw_reserved` at `buf[at..]`.
    fn write(&self, buf: &mut [u8], at: usize) -> Result<(), RestoreError> {
        let mut sw = [0u8; X_SW_LEN];
        put32(&mut sw, 0, FP_XSTATE_MAGIC1)?;
        put32(&mut sw, 4, self.xstate_size.checked_add(4).ok_or(RestoreError::BadXstate)?)?;
        put64(&mut sw, 8, self.xfeatures)?;
        put32(&mut sw, 16, self.xstate_size)?;
        put(buf, at, &sw)
    }
}

/// Builds a restorer into a caller-provided buffer of [`SCRATCH_LEN`]
/// bytes: [`Builder::syscall`] and [`Builder::sigaction`] append steps,
/// [`Builder::data`] places what they point at, [`Builder::finish`]
/// writes the signal frame and the final `rt_sigreturn`.
#[derive(Debug)]
pub struct Builder<'a> {
    /// User address of the scratch area.
    base: u64,
    /// The scratch area's bytes (exactly [`SCRATCH_LEN`]).
    buf: &'a mut [u8],
    /// Offset of the next step.
    code: usize,
    /// Offset of the first free data byte.
    data: usize,
    /// Steps so far.
    calls: usize,
}

impl<'a> Builder<'a> {
    /// Starts a restorer for a scratch area at user address `base`,
    /// written into the first [`SCRATCH_LEN`] bytes of `buf` (which are
    /// zeroed; the rest of `buf` is not touched). `BadBase` if `base` is 0,
    /// not page-aligned, or `base + SCRATCH_LEN` exceeds [`USER_END`];
    /// then `NoRoom` if `buf` is shorter than [`SCRATCH_LEN`].
    pub fn new(base: u64, buf: &'a mut [u8]) -> Result<Self, RestoreError> {
        if base == 0 || !base.is_multiple_of(PAGE_SIZE as u64) {
            return Err(RestoreError::BadBase);
        }
        match base.checked_add(SCRATCH_LEN as u64) {
            Some(end) if end <= USER_END => {}
            _ => return Err(RestoreError::BadBase),
        }
        let buf = buf.get_mut(..SCRATCH_LEN).ok_or(RestoreError::NoRoom)?;
        buf.fill(0);
        Ok(Builder { base, buf, code: 0, data: DATA_START, calls: 0 })
    }

    /// The user address of offset `off` of the area.
    fn addr(&self, off: usize) -> u64 {
        self.base.saturating_add(off as u64)
    }

    /// Whether one more step fits (count and code room, keeping room for
    /// the final sequence).
    fn step_room(&self) -> Result<(), RestoreError> {
        if self.calls >= MAX_CALLS {
            return Err(RestoreError::TooManyCalls);
        }
        let end = self.code.checked_add(STEP_LEN).and_then(|e| e.checked_add(FINAL_LEN));
        match end {
            Some(e) if e <= CODE_LEN => Ok(()),
            _ => Err(RestoreError::NoRoom),
        }
    }

    /// Copies `bytes` into the data region at the next user address that
    /// is a multiple of `align` (0 counts as 1; any value works, not only
    /// powers of two) and returns that address. `NoRoom` if the data
    /// region cannot hold it; nothing changes then.
    pub fn data(&mut self, bytes: &[u8], align: usize) -> Result<u64, RestoreError> {
        let align = (align as u64).max(1);
        let addr = round_up(self.addr(self.data), align).ok_or(RestoreError::NoRoom)?;
        let off = usize::try_from(addr.saturating_sub(self.base)).map_err(|_| RestoreError::NoRoom)?;
        let end = off.checked_add(bytes.len()).ok_or(RestoreError::NoRoom)?;
        if end > SCRATCH_LEN {
            return Err(RestoreError::NoRoom);
        }
        put(self.buf, off, bytes)?;
        self.data = end;
        Ok(addr)
    }

    /// Appends one system call step: `rax = nr`, `rdi, rsi, rdx, r10, r8,
    /// r9 = args`, `syscall`, then the result check (`ud2` on -4095..=-1).
    /// `TooManyCalls` past [`MAX_CALLS`].
    pub fn syscall(&mut self, nr: u64, args: [u64; 6]) -> Result<(), RestoreError> {
        self.step(nr, args, true)
    }

    fn step(&mut self, nr: u64, args: [u64; 6], checked: bool) -> Result<(), RestoreError> {
        self.step_room()?;
        let step = encode_step(nr, args, checked)?;
        put(self.buf, self.code, &step)?;
        self.code = self.code.checked_add(STEP_LEN).ok_or(RestoreError::NoRoom)?;
        self.calls = self.calls.saturating_add(1);
        Ok(())
    }

    /// Appends `rt_sigaction(signo, &act, NULL, 8)`, with `act` (the
    /// kernel's x86-64 `struct sigaction`: handler, flags, restorer, mask,
    /// u64 each) placed in the data region, 8-byte aligned. The kernel
    /// refuses signal 0, numbers above 64, `SIGKILL` and `SIGSTOP`, so the
    /// restorer would stop there with `SIGILL`: leave them out.
    /// `TooManyCalls` or `NoRoom` leave the builder unchanged.
    pub fn sigaction(&mut self, signo: u32, act: &SigAction) -> Result<(), RestoreError> {
        self.step_room()?;
        let mut raw = [0u8; SigAction::SIZE];
        put64(&mut raw, 0, act.handler)?;
        put64(&mut raw, 8, act.flags)?;
        put64(&mut raw, 16, act.restorer)?;
        put64(&mut raw, 24, act.mask)?;
        let at = self.data(&raw, 8)?;
        self.syscall(SYS_RT_SIGACTION, [u64::from(signo), at, 0, SIGSET_SIZE, 0, 0])
    }

    /// Appends a step that queues `sig` again on the queue it came from:
    /// `rt_sigqueueinfo(tgid, signo, &info)` for the shared queue,
    /// `rt_tgsigqueueinfo(tgid, tid, signo, &info)` for the private one,
    /// with `info` (the signal's `siginfo`, zero-padded to
    /// [`SIGINFO_T_LEN`]) placed in the data region, 8-byte aligned. A
    /// process may send itself any `si_code`, so the `siginfo` arrives as
    /// it was sent. The result is not checked: a signal the destination
    /// cannot queue (its `RLIMIT_SIGPENDING` reached) is lost rather than
    /// the process. Put these after every `rt_sigaction` step: setting an
    /// action discards a pending signal that it makes ignored.
    /// `TooManyCalls` or `NoRoom` leave the builder unchanged.
    pub fn queue_signal(&mut self, tgid: u32, tid: u32, sig: &PendingSignal) -> Result<(), RestoreError> {
        self.step_room()?;
        let mut raw = [0u8; SIGINFO_T_LEN];
        put(&mut raw, 0, &sig.info)?;
        let at = self.data(&raw, 8)?;
        let (tgid, tid, signo) = (u64::from(tgid), u64::from(tid), u64::from(sig.signo));
        if sig.shared {
            self.step(SYS_RT_SIGQUEUEINFO, [tgid, signo, at, 0, 0, 0], false)
        } else {
            self.step(SYS_RT_TGSIGQUEUEINFO, [tgid, tid, signo, at, 0, 0], false)
        }
    }

    /// Writes the signal frame (`regs`, the `blocked` mask, `altstack` and
    /// `xstate`, as the module documentation describes) after the data
    /// items, and the final `rt_sigreturn` code after the last step; fills
    /// the rest of the code region with `int3`. `xstate` is an XSAVE area
    /// in the user ABI layout, as the kernel's `REGSET_XSTATE` regset
    /// gives it (cut to the destination task's user xstate size), of
    /// [`XSTATE_MIN`]..=[`MAX_XSTATE`] bytes, else `BadXstate`. Returns the
    /// number of bytes of the area in use; everything beyond is zero.
    /// `NoRoom` if the frame and xstate do not fit after the data items;
    /// the buffer is not modified on error.
    pub fn finish(self, regs: &Regs, blocked: u64, altstack: &AltStack, xstate: &[u8]) -> Result<usize, RestoreError> {
        let no_room = RestoreError::NoRoom;
        let sw = SwBytes::of(xstate)?;
        let size = sw.xstate_size as usize;
        let copy = xstate.get(..size).ok_or(RestoreError::BadXstate)?;

        let frame_addr = round_up(self.addr(self.data), 64).ok_or(no_room)?;
        let frame = usize::try_from(frame_addr.saturating_sub(self.base)).map_err(|_| no_room)?;
        let fp = frame.checked_add(FPSTATE_OFFSET).ok_or(no_room)?;
        let magic2 = fp.checked_add(size).ok_or(no_room)?;
        let used = magic2.checked_add(4).ok_or(no_room)?;
        let code_end = self.code.checked_add(FINAL_LEN).ok_or(no_room)?;
        if used > SCRATCH_LEN || code_end > CODE_LEN {
            return Err(no_room);
        }
        let final_code = encode_final(frame_addr)?;
        let fp_addr = self.addr(fp);
        let buf = self.buf;

        // struct rt_sigframe: pretcode and info stay zero.
        put64(buf, frame, 0)?;
        put64(buf, frame + F_UC_FLAGS, UC_FLAGS)?;
        put64(buf, frame + F_UC_LINK, 0)?;
        let (ss_sp, ss_flags, ss_size) = if altstack.flags & SS_DISABLE != 0 || altstack.size == 0 {
            (0, SS_DISABLE, 0)
        } else {
            (altstack.sp, altstack.flags, altstack.size)
        };
        put64(buf, frame + F_SS_SP, ss_sp)?;
        put32(buf, frame + F_SS_FLAGS, ss_flags)?;
        put32(buf, frame + F_SS_FLAGS + 4, 0)?;
        put64(buf, frame + F_SS_SIZE, ss_size)?;

        // struct sigcontext.
        let sc = frame + F_SC;
        let gprs = [
            regs.r8,
            regs.r9,
            regs.r10,
            regs.r11,
            regs.r12,
            regs.r13,
            regs.r14,
            regs.r15,
            regs.rdi,
            regs.rsi,
            regs.rbp,
            regs.rbx,
            regs.rdx,
            regs.rax,
            regs.rcx,
            regs.rsp,
            regs.rip,
            regs.eflags,
        ];
        let mut at = sc;
        for v in gprs {
            put64(buf, at, v)?;
            at = at.checked_add(8).ok_or(no_room)?;
        }
        put16(buf, sc + SC_CS, USER_CS as u16)?;
        put16(buf, sc + SC_GS, 0)?;
        put16(buf, sc + SC_FS, 0)?;
        put16(buf, sc + SC_SS, USER_DS as u16)?;
        // err, trapno, oldmask, cr2 stay zero; then the xstate pointer;
        // reserved1 stays zero.
        put(buf, sc + SC_CS + 8, &[0u8; 32])?;
        put64(buf, sc + SC_FPSTATE, fp_addr)?;
        put(buf, sc + SC_FPSTATE + 8, &[0u8; SC_LEN - SC_FPSTATE - 8])?;
        put64(buf, frame + F_SIGMASK, blocked)?;

        // The xstate, its software bytes, and the closing magic.
        put(buf, fp, copy)?;
        sw.write(buf, fp + X_SW)?;
        put32(buf, magic2, FP_XSTATE_MAGIC2)?;

        // The final sequence, then int3 up to the end of the code region.
        put(buf, self.code, &final_code)?;
        if let Some(gap) = buf.get_mut(code_end..CODE_LEN) {
            gap.fill(INT3);
        }
        Ok(used)
    }

    /// The address to start at: the first step (`base`).
    pub fn entry(&self) -> u64 {
        self.base
    }

    /// The initial `rsp`: the top of the [`STACK_LEN`]-byte stack at the
    /// start of the data region (`base + DATA_OFFSET + STACK_LEN`, 16-byte
    /// aligned).
    pub fn stack_top(&self) -> u64 {
        self.addr(DATA_START)
    }

    /// Number of system call steps so far.
    pub fn calls(&self) -> usize {
        self.calls
    }
}
