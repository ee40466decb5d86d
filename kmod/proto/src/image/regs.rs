//! The CPU and address-space state a `Begin` message carries: the general
//! registers ([`Regs`], as `struct user_regs_struct`) and the memory
//! layout ([`MmLayout`], the `mm_struct` boundaries).
//!
//! Calls [`super::codec`], [`super::error`] and the bounds of
//! [`super::header`].

use super::codec::{copy, le64, Reader, Writer};
use super::error::ImageError;
use super::header::USER_END;

/// Writes `v` at byte `at` of `b` (dropped if `b` is too short).
fn put64(b: &mut [u8], at: usize, v: u64) {
    if let Some(d) = b.get_mut(at..at.saturating_add(8)) {
        copy(d, &v.to_le_bytes());
    }
}

/// The general registers, in the order and size of Linux x86-64
/// `struct user_regs_struct` (the `REGSET_GENERAL` regset and
/// `PTRACE_GETREGS`): 27 u64, 216 bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Regs {
    /// r15.
    pub r15: u64,
    /// r14.
    pub r14: u64,
    /// r13.
    pub r13: u64,
    /// r12.
    pub r12: u64,
    /// rbp (frame pointer).
    pub rbp: u64,
    /// rbx.
    pub rbx: u64,
    /// r11 (holds rflags after `syscall`).
    pub r11: u64,
    /// r10 (fourth system-call argument).
    pub r10: u64,
    /// r9.
    pub r9: u64,
    /// r8.
    pub r8: u64,
    /// rax (system-call number, then return value).
    pub rax: u64,
    /// rcx (holds the return address after `syscall`).
    pub rcx: u64,
    /// rdx.
    pub rdx: u64,
    /// rsi.
    pub rsi: u64,
    /// rdi.
    pub rdi: u64,
    /// The system-call number at entry (-1 outside a system call).
    pub orig_rax: u64,
    /// Instruction pointer.
    pub rip: u64,
    /// Code segment selector ([`USER_CS`]).
    pub cs: u64,
    /// Flags register.
    pub eflags: u64,
    /// Stack pointer.
    pub rsp: u64,
    /// Stack segment selector ([`USER_DS`]).
    pub ss: u64,
    /// Fs base (thread pointer).
    pub fs_base: u64,
    /// Gs base.
    pub gs_base: u64,
    /// Ds selector.
    pub ds: u64,
    /// Es selector.
    pub es: u64,
    /// Fs selector.
    pub fs: u64,
    /// Gs selector.
    pub gs: u64,
}

/// `__USER_CS`, the 64-bit user code segment selector.
pub const USER_CS: u64 = 0x33;
/// `__USER_DS`, the user data (and stack) segment selector.
pub const USER_DS: u64 = 0x2b;

impl Regs {
    /// Number of registers.
    pub const COUNT: usize = 27;
    /// Size in bytes (`sizeof(struct user_regs_struct)`).
    pub const SIZE: usize = Self::COUNT * 8;

    /// The registers as an array in `user_regs_struct` order.
    pub const fn to_array(&self) -> [u64; Self::COUNT] {
        [
            self.r15,
            self.r14,
            self.r13,
            self.r12,
            self.rbp,
            self.rbx,
            self.r11,
            self.r10,
            self.r9,
            self.r8,
            self.rax,
            self.rcx,
            self.rdx,
            self.rsi,
            self.rdi,
            self.orig_rax,
            self.rip,
            self.cs,
            self.eflags,
            self.rsp,
            self.ss,
            self.fs_base,
            self.gs_base,
            self.ds,
            self.es,
            self.fs,
            self.gs,
        ]
    }

    /// The registers from an array in `user_regs_struct` order.
    pub const fn from_array(a: &[u64; Self::COUNT]) -> Regs {
        Regs {
            r15: a[0],
            r14: a[1],
            r13: a[2],
            r12: a[3],
            rbp: a[4],
            rbx: a[5],
            r11: a[6],
            r10: a[7],
            r9: a[8],
            r8: a[9],
            rax: a[10],
            rcx: a[11],
            rdx: a[12],
            rsi: a[13],
            rdi: a[14],
            orig_rax: a[15],
            rip: a[16],
            cs: a[17],
            eflags: a[18],
            rsp: a[19],
            ss: a[20],
            fs_base: a[21],
            gs_base: a[22],
            ds: a[23],
            es: a[24],
            fs: a[25],
            gs: a[26],
        }
    }

    /// The bytes of `struct user_regs_struct` (little-endian).
    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let words = self.to_array();
        let mut b = [0u8; Self::SIZE];
        let mut i = 0;
        while i < Self::COUNT {
            put64(&mut b, i.saturating_mul(8), words.get(i).copied().unwrap_or(0));
            i += 1;
        }
        b
    }

    /// The registers from the bytes of `struct user_regs_struct`.
    pub fn from_bytes(b: &[u8; Self::SIZE]) -> Regs {
        let mut words = [0u64; Self::COUNT];
        let mut i = 0;
        while i < Self::COUNT {
            if let Some(w) = words.get_mut(i) {
                *w = le64(b, i.saturating_mul(8));
            }
            i += 1;
        }
        Regs::from_array(&words)
    }

    /// Whether the registers describe 64-bit user mode: user code and stack
    /// segments, instruction and stack pointers and the fs/gs bases in
    /// user space, data selectors null or of privilege level 3. A
    /// destination checks this before restoring an image (the kernel's
    /// regset code also checks what it is given).
    pub fn user_mode_ok(&self) -> bool {
        let sel_ok = |s: u64| s == 0 || (s <= 0xffff && s & 3 == 3);
        self.cs == USER_CS
            && self.ss == USER_DS
            && self.rip < USER_END
            && self.rsp <= USER_END
            && self.fs_base < USER_END
            && self.gs_base < USER_END
            && sel_ok(self.ds)
            && sel_ok(self.es)
            && sel_ok(self.fs)
            && sel_ok(self.gs)
    }

    pub(super) fn write(&self, w: &mut Writer<'_>) -> Result<(), ImageError> {
        w.bytes(&self.to_bytes())
    }

    pub(super) fn read(r: &mut Reader<'_>) -> Result<Regs, ImageError> {
        Ok(Regs::from_bytes(&r.array()?))
    }
}

/// Where the parts of the address space are (the `mm_struct` fields of the
/// same names; `/proc/PID/stat` shows most of them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MmLayout {
    /// Start of the program text.
    pub start_code: u64,
    /// End of the program text.
    pub end_code: u64,
    /// Start of the initialized data.
    pub start_data: u64,
    /// End of the initialized data.
    pub end_data: u64,
    /// Start of the brk heap.
    pub start_brk: u64,
    /// The current program break.
    pub brk: u64,
    /// Top of the main stack at exec time.
    pub start_stack: u64,
    /// Start of the argument strings.
    pub arg_start: u64,
    /// End of the argument strings.
    pub arg_end: u64,
    /// Start of the environment strings.
    pub env_start: u64,
    /// End of the environment strings.
    pub env_end: u64,
}

impl MmLayout {
    /// Number of fields.
    pub const COUNT: usize = 11;
    /// Encoded size in bytes.
    pub const SIZE: usize = Self::COUNT * 8;

    /// The fields in declaration order.
    pub const fn to_array(&self) -> [u64; Self::COUNT] {
        [
            self.start_code,
            self.end_code,
            self.start_data,
            self.end_data,
            self.start_brk,
            self.brk,
            self.start_stack,
            self.arg_start,
            self.arg_end,
            self.env_start,
            self.env_end,
        ]
    }

    /// The layout from its fields in declaration order.
    pub const fn from_array(a: &[u64; Self::COUNT]) -> MmLayout {
        MmLayout {
            start_code: a[0],
            end_code: a[1],
            start_data: a[2],
            end_data: a[3],
            start_brk: a[4],
            brk: a[5],
            start_stack: a[6],
            arg_start: a[7],
            arg_end: a[8],
            env_start: a[9],
            env_end: a[10],
        }
    }

    pub(super) fn write(&self, w: &mut Writer<'_>) -> Result<(), ImageError> {
        for v in self.to_array() {
            w.u64(v)?;
        }
        Ok(())
    }

    pub(super) fn read(r: &mut Reader<'_>) -> Result<MmLayout, ImageError> {
        let mut a = [0u64; Self::COUNT];
        let mut i = 0;
        while i < Self::COUNT {
            let v = r.u64()?;
            if let Some(slot) = a.get_mut(i) {
                *slot = v;
            }
            i += 1;
        }
        Ok(MmLayout::from_array(&a))
    }
}
