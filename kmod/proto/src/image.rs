//! The migration image: what moves from the source node to the destination.
//!
//! A migration is a sequence of messages, each the payload of one transport
//! frame (so each at most [`crate::wire::MAX_PAYLOAD`] bytes):
//!
//! 1. `Begin` (source to destination): the [`ImageHeader`], the registers
//!    ([`Regs`]), the memory layout ([`MmLayout`]), the signal state
//!    ([`SigState`]) and the extended FPU state (`xstate`, opaque here);
//! 2. `Vmas`: the memory areas ([`Vma`]), in address order, at most
//!    [`MAX_VMAS_PER_MSG`] per message, `header.nr_vmas` in all;
//! 3. `Pages`: batches of up to [`MAX_BATCH_PAGES`] consecutive pages, each
//!    inside one area, `header.nr_pages` pages in all;
//! 4. `Commit`: the page count and the [`Checksum`] of every batch;
//! 5. the destination answers `Accept` (with the new local pid) or
//!    `Refuse` (with a [`RefuseReason`]); either side may send `Abort` at
//!    any time.
//!
//! Every message starts with a 4-byte prefix: the image version
//! ([`IMAGE_VERSION`], u16), the message kind ([`MsgKind`], u8) and a zero
//! byte. All integers are little-endian; there is no padding. Bodies:
//!
//! | kind   | body                                                              |
//! |--------|-------------------------------------------------------------------|
//! | Begin  | header (76) · regs (216) · mm (88) · signals (2076) · xstate      |
//! | Vmas   | first index u32 · count u32 · count × vma (96)                     |
//! | Pages  | first address u64 · count u32 · count × 4096 bytes                 |
//! | Commit | page count u64 · checksum u64                                      |
//! | Accept | remote pid u32                                                     |
//! | Refuse | reason u16                                                         |
//! | Abort  | nothing                                                            |
//!
//! Decoders check, in order: the prefix (`BadVersion`), the fixed part
//! (`Truncated`), versions and bounds (`BadVersion`, `TooLarge`), the total
//! length (`Truncated` if short, `BadLength` if long), then the content
//! (`BadVma`, `BadBatch`). So any strict prefix of a valid message decodes
//! to `Truncated`. Frames are already authenticated; these checks keep a
//! buggy or mismatched peer from corrupting the destination.
//!
//! `core` only, no panics, whatever the input.

use crate::wire::MAX_PAYLOAD;

/// Version of the image format. Bumped on any incompatible change.
pub const IMAGE_VERSION: u16 = 2;

/// Size of a page on x86-64.
pub const PAGE_SIZE: usize = 4096;

/// [`PAGE_SIZE`] as a u64, for address arithmetic.
const PAGE: u64 = PAGE_SIZE as u64;

/// End of the user address space with 4-level paging (`TASK_SIZE_MAX`:
/// one guard page below 2^47). Every area and batch lies below it.
pub const USER_END: u64 = 0x0000_7fff_ffff_f000;

/// Most pages an image can hold: the whole user address space.
pub const MAX_PAGES: u64 = USER_END / PAGE;

/// Largest extended FPU state accepted (the XSAVE area of current CPUs is
/// well below this, AMX included).
pub const MAX_XSTATE: u32 = 8192;

/// Most memory areas an image may have (the default `vm.max_map_count` is
/// 65530).
pub const MAX_VMAS: u32 = 65536;

/// Most areas in one `Vmas` message.
pub const MAX_VMAS_PER_MSG: usize = 2048;

/// Most pages in one batch: 128 KiB of data.
pub const MAX_BATCH_PAGES: u32 = 32;

/// Number of signals with an action (1 to 64).
pub const NSIG: usize = 64;

/// Length of the prefix every message starts with.
pub const PREFIX_LEN: usize = 4;

/// Length of an encoded [`ImageHeader`].
pub const HEADER_LEN: usize = 76;

/// Length of the fixed part of a `Begin` message (everything but xstate).
pub const BEGIN_FIXED_LEN: usize = PREFIX_LEN + HEADER_LEN + Regs::SIZE + MmLayout::SIZE + SigState::SIZE;

/// Length of an encoded [`Vma`].
pub const VMA_WIRE_LEN: usize = 96;

/// Length of a `Vmas` message before its areas.
pub const VMAS_HEAD_LEN: usize = PREFIX_LEN + 8;

/// Length of a `Pages` message before its page data.
pub const BATCH_HEAD_LEN: usize = PREFIX_LEN + 12;

/// Length of a `Commit` message.
pub const COMMIT_LEN: usize = PREFIX_LEN + 16;

/// Length of an `Accept` message.
pub const ACCEPT_LEN: usize = PREFIX_LEN + 4;

/// Length of a `Refuse` message.
pub const REFUSE_LEN: usize = PREFIX_LEN + 2;

/// Length of an `Abort` message.
pub const ABORT_LEN: usize = PREFIX_LEN;

/// `PROT_READ`.
pub const PROT_READ: u32 = 1;
/// `PROT_WRITE`.
pub const PROT_WRITE: u32 = 2;
/// `PROT_EXEC`.
pub const PROT_EXEC: u32 = 4;
/// The protection bits an area may have.
pub const PROT_MASK: u32 = PROT_READ | PROT_WRITE | PROT_EXEC;

/// [`Vma::flags`]: the area grows down (`VM_GROWSDOWN`).
pub const VMA_GROWSDOWN: u32 = 1 << 0;
/// The main thread's stack (`[stack]`).
pub const VMA_STACK: u32 = 1 << 1;
/// The brk heap (`[heap]`).
pub const VMA_HEAP: u32 = 1 << 2;
/// Maps a file (`name` is its path at home).
pub const VMA_FILE: u32 = 1 << 3;
/// A shared mapping (`VM_SHARED`). Never migrates; present so a source can
/// describe what it refuses.
pub const VMA_SHARED: u32 = 1 << 4;
/// Device memory (`VM_IO`/`VM_PFNMAP`). Never migrates.
pub const VMA_IO: u32 = 1 << 5;
/// Locked in memory (`VM_LOCKED`).
pub const VMA_LOCKED: u32 = 1 << 6;
/// The vDSO text; the destination maps its own.
pub const VMA_VDSO: u32 = 1 << 7;
/// The vDSO data page; the destination maps its own.
pub const VMA_VVAR: u32 = 1 << 8;
/// Every flag defined above; other bits make an area invalid.
pub const VMA_KNOWN: u32 =
    VMA_GROWSDOWN | VMA_STACK | VMA_HEAP | VMA_FILE | VMA_SHARED | VMA_IO | VMA_LOCKED | VMA_VDSO | VMA_VVAR;
/// Areas whose pages are never sent: [`batch_in_vmas`] refuses them.
pub const VMA_NO_PAGES: u32 = VMA_IO | VMA_VDSO | VMA_VVAR;

// Every message must fit one transport frame.
const _: () = assert!(BEGIN_FIXED_LEN + MAX_XSTATE as usize <= MAX_PAYLOAD);
const _: () = assert!(VMAS_HEAD_LEN + MAX_VMAS_PER_MSG * VMA_WIRE_LEN <= MAX_PAYLOAD);
const _: () = assert!(BATCH_HEAD_LEN + MAX_BATCH_PAGES as usize * PAGE_SIZE <= MAX_PAYLOAD);

/// Why an image message was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageError {
    /// Fewer bytes than the message needs, or an output buffer too small.
    Truncated,
    /// Another image version, an unknown or unexpected message kind, or a
    /// non-zero prefix byte.
    BadVersion,
    /// A length or count that does not match the bytes present, or a
    /// message out of sequence.
    BadLength,
    /// An invalid memory area, or areas out of order or overlapping.
    BadVma,
    /// An invalid page batch, or one outside every area, or page totals or
    /// checksum not matching the commit.
    BadBatch,
    /// A bound exceeded (xstate, areas, pages, batch size).
    TooLarge,
}

impl ImageError {
    /// The snake_case name used for counters and messages.
    pub const fn name(self) -> &'static str {
        match self {
            ImageError::Truncated => "truncated",
            ImageError::BadVersion => "bad_version",
            ImageError::BadLength => "bad_length",
            ImageError::BadVma => "bad_vma",
            ImageError::BadBatch => "bad_batch",
            ImageError::TooLarge => "too_large",
        }
    }

    /// The reason a destination gives when refusing an image for this
    /// error.
    pub const fn refuse_reason(self) -> RefuseReason {
        match self {
            ImageError::BadVersion => RefuseReason::Version,
            _ => RefuseReason::BadImage,
        }
    }
}

/// Why a destination refuses a migration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefuseReason {
    /// The node does not take guests (configuration or policy).
    NotAccepting,
    /// The node already runs as many guests as it allows.
    TooManyGuests,
    /// Not enough memory for the image.
    NoMemory,
    /// The image is malformed or inconsistent.
    BadImage,
    /// The node is busy (e.g. shutting down or migrating); try later.
    Busy,
    /// The image or protocol version is not one this node speaks.
    Version,
    /// A balancing migration, but this node is no longer lighter than the
    /// sender by the stability margin.
    NotLighter,
}

impl RefuseReason {
    /// Every reason, in wire-code order.
    pub const ALL: [RefuseReason; 7] = [
        RefuseReason::NotAccepting,
        RefuseReason::TooManyGuests,
        RefuseReason::NoMemory,
        RefuseReason::BadImage,
        RefuseReason::Busy,
        RefuseReason::Version,
        RefuseReason::NotLighter,
    ];

    /// The wire code (1..=7).
    pub const fn code(self) -> u16 {
        match self {
            RefuseReason::NotAccepting => 1,
            RefuseReason::TooManyGuests => 2,
            RefuseReason::NoMemory => 3,
            RefuseReason::BadImage => 4,
            RefuseReason::Busy => 5,
            RefuseReason::Version => 6,
            RefuseReason::NotLighter => 7,
        }
    }

    /// The reason with wire code `code`, if any.
    pub const fn from_code(code: u16) -> Option<RefuseReason> {
        Some(match code {
            1 => RefuseReason::NotAccepting,
            2 => RefuseReason::TooManyGuests,
            3 => RefuseReason::NoMemory,
            4 => RefuseReason::BadImage,
            5 => RefuseReason::Busy,
            6 => RefuseReason::Version,
            7 => RefuseReason::NotLighter,
            _ => return None,
        })
    }

    /// The (positive) errno a failed migration request reports.
    pub const fn errno(self) -> i32 {
        match self {
            RefuseReason::NotAccepting => 111, // ECONNREFUSED
            RefuseReason::TooManyGuests => 11, // EAGAIN
            RefuseReason::NoMemory => 12,      // ENOMEM
            RefuseReason::BadImage => 22,      // EINVAL
            RefuseReason::Busy => 16,          // EBUSY
            RefuseReason::Version => 71,       // EPROTO
            RefuseReason::NotLighter => 11,    // EAGAIN
        }
    }

    /// A short explanation for logs and tools.
    pub const fn reason(self) -> &'static str {
        match self {
            RefuseReason::NotAccepting => "the node does not accept guest processes",
            RefuseReason::TooManyGuests => "the node runs as many guest processes as it allows",
            RefuseReason::NoMemory => "the node has not enough free memory for the image",
            RefuseReason::BadImage => "the migration image is malformed",
            RefuseReason::Busy => "the node is busy, try again later",
            RefuseReason::Version => "the node speaks another image version",
            RefuseReason::NotLighter => "the node is no longer lighter than the sender",
        }
    }
}

/// The kind of a migration message (third byte of the prefix).
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MsgKind {
    /// Header, registers, layout, signals, xstate.
    Begin = 1,
    /// A run of memory areas.
    Vmas = 2,
    /// A batch of pages.
    Pages = 3,
    /// End of the image: page count and checksum.
    Commit = 4,
    /// The destination runs the process.
    Accept = 5,
    /// The destination refuses the process.
    Refuse = 6,
    /// Either side gives up.
    Abort = 7,
}

impl MsgKind {
    /// The kind with wire value `v`, if any.
    pub const fn from_u8(v: u8) -> Option<MsgKind> {
        Some(match v {
            1 => MsgKind::Begin,
            2 => MsgKind::Vmas,
            3 => MsgKind::Pages,
            4 => MsgKind::Commit,
            5 => MsgKind::Accept,
            6 => MsgKind::Refuse,
            7 => MsgKind::Abort,
            _ => return None,
        })
    }

    /// The wire value.
    pub const fn as_u8(self) -> u8 {
        self as u8
    }
}

/// Sequential little-endian reads from a byte slice.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    const fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    fn bytes(&mut self, n: usize) -> Result<&'a [u8], ImageError> {
        let end = self.pos.checked_add(n).ok_or(ImageError::Truncated)?;
        let s = self.buf.get(self.pos..end).ok_or(ImageError::Truncated)?;
        self.pos = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], ImageError> {
        <[u8; N]>::try_from(self.bytes(N)?).map_err(|_| ImageError::Truncated)
    }

    fn u8(&mut self) -> Result<u8, ImageError> {
        Ok(u8::from_le_bytes(self.array()?))
    }

    fn u16(&mut self) -> Result<u16, ImageError> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32, ImageError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, ImageError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// Everything not read yet.
    fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or(&[])
    }
}

/// Sequential little-endian writes into a byte slice.
struct Writer<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl<'a> Writer<'a> {
    fn new(buf: &'a mut [u8]) -> Self {
        Writer { buf, pos: 0 }
    }

    fn bytes(&mut self, src: &[u8]) -> Result<(), ImageError> {
        let end = self.pos.checked_add(src.len()).ok_or(ImageError::Truncated)?;
        let dst = self.buf.get_mut(self.pos..end).ok_or(ImageError::Truncated)?;
        copy(dst, src);
        self.pos = end;
        Ok(())
    }

    fn u8(&mut self, v: u8) -> Result<(), ImageError> {
        self.bytes(&[v])
    }

    fn u16(&mut self, v: u16) -> Result<(), ImageError> {
        self.bytes(&v.to_le_bytes())
    }

    fn u32(&mut self, v: u32) -> Result<(), ImageError> {
        self.bytes(&v.to_le_bytes())
    }

    fn u64(&mut self, v: u64) -> Result<(), ImageError> {
        self.bytes(&v.to_le_bytes())
    }

    fn prefix(&mut self, kind: MsgKind) -> Result<(), ImageError> {
        self.u16(IMAGE_VERSION)?;
        self.u8(kind.as_u8())?;
        self.u8(0)
    }
}

/// Copies as much of `src` as fits into `dst` (callers pass equal
/// lengths). Unlike `copy_from_slice` it has no panic path.
fn copy(dst: &mut [u8], src: &[u8]) {
    for (d, s) in dst.iter_mut().zip(src.iter()) {
        *d = *s;
    }
}

/// The u64 at byte `at` of `b`, 0 if `b` is too short.
fn le64(b: &[u8], at: usize) -> u64 {
    b.get(at..at.saturating_add(8)).and_then(|s| <[u8; 8]>::try_from(s).ok()).map_or(0, u64::from_le_bytes)
}

/// Writes `v` at byte `at` of `b` (dropped if `b` is too short).
fn put64(b: &mut [u8], at: usize, v: u64) {
    if let Some(d) = b.get_mut(at..at.saturating_add(8)) {
        copy(d, &v.to_le_bytes());
    }
}

/// Reads and checks a message prefix: the version and kind `want`.
fn read_prefix(r: &mut Reader<'_>, want: MsgKind) -> Result<(), ImageError> {
    let version = r.u16()?;
    let kind = r.u8()?;
    let zero = r.u8()?;
    if version != IMAGE_VERSION || kind != want.as_u8() || zero != 0 {
        return Err(ImageError::BadVersion);
    }
    Ok(())
}

/// Checks that the message ends exactly at `total` bytes.
fn check_total(buf: &[u8], total: usize) -> Result<(), ImageError> {
    if buf.len() < total {
        Err(ImageError::Truncated)
    } else if buf.len() > total {
        Err(ImageError::BadLength)
    } else {
        Ok(())
    }
}

/// The kind of the message in `buf`, from its prefix: `Truncated` if
/// shorter than the prefix, `BadVersion` for another version, an unknown
/// kind or a non-zero fourth byte.
pub fn msg_kind(buf: &[u8]) -> Result<MsgKind, ImageError> {
    let mut r = Reader::new(buf);
    let version = r.u16()?;
    let kind = r.u8()?;
    let zero = r.u8()?;
    if version != IMAGE_VERSION || zero != 0 {
        return Err(ImageError::BadVersion);
    }
    MsgKind::from_u8(kind).ok_or(ImageError::BadVersion)
}

/// Identity and sizes of a migrating process.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImageHeader {
    /// Image version; must be [`IMAGE_VERSION`].
    pub version: u16,
    /// The process's home node.
    pub home_node: u32,
    /// Its pid at home (the thread's id).
    pub pid: u32,
    /// Its thread-group id at home (what `getpid` returns).
    pub tgid: u32,
    /// Real user id.
    pub uid: u32,
    /// Real group id.
    pub gid: u32,
    /// Effective user id.
    pub euid: u32,
    /// Effective group id.
    pub egid: u32,
    /// The command name (`task->comm`), NUL-padded.
    pub comm: [u8; 16],
    /// Number of memory areas that follow.
    pub nr_vmas: u32,
    /// Most pages that follow (pages that read as zero are not sent, so
    /// fewer may come; `Commit` says how many did).
    pub nr_pages: u64,
    /// Length of the xstate in the `Begin` message.
    pub xstate_len: u32,
    /// Why it moves: one of [`cause`].
    pub cause: u16,
    /// The sender's load (`LoadEntry::load`) when it decided; the target
    /// of a [`cause::LOAD`] migration refuses unless it is still lighter.
    pub sender_load: u32,
    /// The nodes it may run on: bit `n - 1` for node `n`, 0 for any.
    /// Its home is always allowed.
    pub allowed: u64,
}

/// Why a process moves ([`ImageHeader::cause`]).
pub mod cause {
    /// Asked for by a person (`roamctl migrate`, `roamrun`).
    pub const MANUAL: u16 = 0;
    /// The balancer: the sender is heavier.
    pub const LOAD: u16 = 1;
    /// The balancer: the sender is short of memory.
    pub const MEMORY: u16 = 2;
    /// Its home called it back (`bring`, `migrate PID home`).
    pub const RECALL: u16 = 3;
    /// The node it ran on expelled it.
    pub const EXPEL: u16 = 4;
    /// It made a call that runs only at home (fork, exec, ...).
    pub const SYSCALL: u16 = 5;
    /// The highest cause.
    pub const MAX: u16 = SYSCALL;
}

impl ImageHeader {
    /// `comm` up to its first NUL.
    pub fn comm_bytes(&self) -> &[u8] {
        until_nul(&self.comm)
    }

    /// Checks the version and the bounds.
    pub fn check(&self) -> Result<(), ImageError> {
        if self.version != IMAGE_VERSION || self.cause > cause::MAX {
            return Err(ImageError::BadVersion);
        }
        if self.xstate_len > MAX_XSTATE || self.nr_vmas > MAX_VMAS || self.nr_pages > MAX_PAGES {
            return Err(ImageError::TooLarge);
        }
        Ok(())
    }

    fn write(&self, w: &mut Writer<'_>) -> Result<(), ImageError> {
        w.u16(self.version)?;
        for v in [self.home_node, self.pid, self.tgid, self.uid, self.gid, self.euid, self.egid] {
            w.u32(v)?;
        }
        w.bytes(&self.comm)?;
        w.u32(self.nr_vmas)?;
        w.u64(self.nr_pages)?;
        w.u32(self.xstate_len)?;
        w.u16(self.cause)?;
        w.u32(self.sender_load)?;
        w.u64(self.allowed)
    }

    fn read(r: &mut Reader<'_>) -> Result<ImageHeader, ImageError> {
        Ok(ImageHeader {
            version: r.u16()?,
            home_node: r.u32()?,
            pid: r.u32()?,
            tgid: r.u32()?,
            uid: r.u32()?,
            gid: r.u32()?,
            euid: r.u32()?,
            egid: r.u32()?,
            comm: r.array()?,
            nr_vmas: r.u32()?,
            nr_pages: r.u64()?,
            xstate_len: r.u32()?,
            cause: r.u16()?,
            sender_load: r.u32()?,
            allowed: r.u64()?,
        })
    }
}

/// `s` up to its first NUL byte.
fn until_nul(s: &[u8]) -> &[u8] {
    let mut n = 0;
    while n < s.len() {
        if s.get(n) == Some(&0) {
            break;
        }
        n += 1;
    }
    s.get(..n).unwrap_or(&[])
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

    fn write(&self, w: &mut Writer<'_>) -> Result<(), ImageError> {
        w.bytes(&self.to_bytes())
    }

    fn read(r: &mut Reader<'_>) -> Result<Regs, ImageError> {
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

    fn write(&self, w: &mut Writer<'_>) -> Result<(), ImageError> {
        for v in self.to_array() {
            w.u64(v)?;
        }
        Ok(())
    }

    fn read(r: &mut Reader<'_>) -> Result<MmLayout, ImageError> {
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

/// One signal's action (the kernel's `struct sigaction` on x86-64).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SigAction {
    /// Handler address, or `SIG_DFL` (0) / `SIG_IGN` (1).
    pub handler: u64,
    /// `SA_*` flags.
    pub flags: u64,
    /// The `SA_RESTORER` trampoline.
    pub restorer: u64,
    /// Signals blocked while the handler runs.
    pub mask: u64,
}

impl SigAction {
    /// Encoded size in bytes.
    pub const SIZE: usize = 32;
}

/// The alternate signal stack (`stack_t`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AltStack {
    /// Base address.
    pub sp: u64,
    /// `SS_*` flags.
    pub flags: u32,
    /// Size in bytes.
    pub size: u64,
}

impl AltStack {
    /// Encoded size in bytes.
    pub const SIZE: usize = 20;
}

/// The process's signal handling state. Pending signals are not part of
/// it: the source delivers or keeps them before the image is taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SigState {
    /// The blocked mask (bit `n - 1` is signal `n`).
    pub blocked: u64,
    /// `actions[n - 1]` is the action of signal `n`.
    pub actions: [SigAction; NSIG],
    /// The alternate signal stack.
    pub altstack: AltStack,
}

impl Default for SigState {
    fn default() -> Self {
        SigState::EMPTY
    }
}

impl SigState {
    /// Encoded size in bytes.
    pub const SIZE: usize = 8 + NSIG * SigAction::SIZE + AltStack::SIZE;

    /// Nothing blocked, every action default, no alternate stack.
    pub const EMPTY: SigState = SigState {
        blocked: 0,
        actions: [SigAction { handler: 0, flags: 0, restorer: 0, mask: 0 }; NSIG],
        altstack: AltStack { sp: 0, flags: 0, size: 0 },
    };

    /// Writes the encoding into the start of `out` and returns
    /// [`SigState::SIZE`]; `Truncated` if `out` is too small.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, ImageError> {
        let mut w = Writer::new(out);
        self.write(&mut w)?;
        Ok(w.pos)
    }

    /// Decodes the first [`SigState::SIZE`] bytes of `buf`; `Truncated` if
    /// there are fewer.
    pub fn decode(buf: &[u8]) -> Result<SigState, ImageError> {
        SigState::read(&mut Reader::new(buf))
    }

    fn write(&self, w: &mut Writer<'_>) -> Result<(), ImageError> {
        w.u64(self.blocked)?;
        let mut i = 0;
        while i < NSIG {
            let a = self.actions.get(i).copied().unwrap_or_default();
            w.u64(a.handler)?;
            w.u64(a.flags)?;
            w.u64(a.restorer)?;
            w.u64(a.mask)?;
            i += 1;
        }
        w.u64(self.altstack.sp)?;
        w.u32(self.altstack.flags)?;
        w.u64(self.altstack.size)
    }

    fn read(r: &mut Reader<'_>) -> Result<SigState, ImageError> {
        let mut s = SigState::EMPTY;
        s.blocked = r.u64()?;
        let mut i = 0;
        while i < NSIG {
            let a = SigAction { handler: r.u64()?, flags: r.u64()?, restorer: r.u64()?, mask: r.u64()? };
            if let Some(slot) = s.actions.get_mut(i) {
                *slot = a;
            }
            i += 1;
        }
        s.altstack = AltStack { sp: r.u64()?, flags: r.u32()?, size: r.u64()? };
        Ok(s)
    }
}

/// One memory area of the process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Vma {
    /// First address (page-aligned).
    pub start: u64,
    /// Address after the last byte (page-aligned, above `start`).
    pub end: u64,
    /// `PROT_*` bits ([`PROT_MASK`]).
    pub prot: u32,
    /// roam's `VMA_*` bits ([`VMA_KNOWN`]).
    pub flags: u32,
    /// Offset in the file, in pages (for file areas).
    pub pgoff: u64,
    /// The file's path at home, or `[heap]`, `[stack]`, `[vdso]`...:
    /// NUL-padded, truncated to 63 bytes.
    pub name: [u8; 64],
}

impl Default for Vma {
    fn default() -> Self {
        Vma::new(0, 0, 0, 0)
    }
}

impl Vma {
    /// An area without offset or name.
    pub const fn new(start: u64, end: u64, prot: u32, flags: u32) -> Vma {
        Vma { start, end, prot, flags, pgoff: 0, name: [0; 64] }
    }

    /// The area with `name` (truncated to 63 bytes, NUL-padded).
    pub fn with_name(mut self, name: &[u8]) -> Vma {
        self.name = [0; 64];
        let keep = name.get(..63).unwrap_or(name);
        copy(&mut self.name, keep);
        self
    }

    /// The name up to its first NUL.
    pub fn name_bytes(&self) -> &[u8] {
        until_nul(&self.name)
    }

    /// Number of pages covered (0 if `end <= start`).
    pub const fn pages(&self) -> u64 {
        self.end.saturating_sub(self.start) / PAGE
    }

    /// Whether the area itself is valid: page-aligned, non-empty, below
    /// [`USER_END`], only known protection and flag bits.
    pub const fn is_valid(&self) -> bool {
        self.start & (PAGE - 1) == 0
            && self.end & (PAGE - 1) == 0
            && self.start < self.end
            && self.end <= USER_END
            && self.prot & !PROT_MASK == 0
            && self.flags & !VMA_KNOWN == 0
    }

    /// The 96-byte encoding: start, end, prot, flags, pgoff, name.
    pub fn to_bytes(&self) -> [u8; VMA_WIRE_LEN] {
        let mut b = [0u8; VMA_WIRE_LEN];
        let mut w = Writer::new(&mut b);
        // Cannot fail: the buffer has exactly the room needed.
        let _ = self.write(&mut w);
        b
    }

    /// Decodes the 96-byte encoding (no validity check).
    pub fn from_bytes(b: &[u8; VMA_WIRE_LEN]) -> Vma {
        Vma::read(&mut Reader::new(b)).unwrap_or_default()
    }

    fn write(&self, w: &mut Writer<'_>) -> Result<(), ImageError> {
        w.u64(self.start)?;
        w.u64(self.end)?;
        w.u32(self.prot)?;
        w.u32(self.flags)?;
        w.u64(self.pgoff)?;
        w.bytes(&self.name)
    }

    fn read(r: &mut Reader<'_>) -> Result<Vma, ImageError> {
        Ok(Vma { start: r.u64()?, end: r.u64()?, prot: r.u32()?, flags: r.u32()?, pgoff: r.u64()?, name: r.array()? })
    }
}

/// Checks a list of areas: at most [`MAX_VMAS`] (`TooLarge`), each valid,
/// sorted by address and not overlapping (`BadVma`).
pub fn validate_vmas(vmas: &[Vma]) -> Result<(), ImageError> {
    if vmas.len() > MAX_VMAS as usize {
        return Err(ImageError::TooLarge);
    }
    check_run(vmas.iter(), 0)
}

/// Checks that every area is valid and starts at or after the previous
/// one's end (the first at or after `floor`).
fn check_run<'v>(vmas: impl Iterator<Item = &'v Vma>, floor: u64) -> Result<(), ImageError> {
    let mut floor = floor;
    for v in vmas {
        if !v.is_valid() || v.start < floor {
            return Err(ImageError::BadVma);
        }
        floor = v.end;
    }
    Ok(())
}

/// A run of consecutive pages sent in one `Pages` message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PageBatchHeader {
    /// Address of the first page (page-aligned).
    pub first_addr: u64,
    /// Number of pages, 1..=[`MAX_BATCH_PAGES`].
    pub count: u32,
}

impl PageBatchHeader {
    /// Address after the last page (saturating).
    pub const fn end(&self) -> u64 {
        self.first_addr.saturating_add((self.count as u64).saturating_mul(PAGE))
    }

    /// Number of data bytes that follow the header.
    pub const fn data_len(&self) -> usize {
        (self.count as usize).saturating_mul(PAGE_SIZE)
    }

    /// Checks the batch on its own: `TooLarge` above [`MAX_BATCH_PAGES`]
    /// pages, `BadBatch` for no page, an unaligned address or a range
    /// reaching past [`USER_END`].
    pub fn check(&self) -> Result<(), ImageError> {
        if self.count > MAX_BATCH_PAGES {
            return Err(ImageError::TooLarge);
        }
        if self.count == 0 || self.first_addr & (PAGE - 1) != 0 || self.end() > USER_END {
            return Err(ImageError::BadBatch);
        }
        Ok(())
    }
}

/// Whether batch `h` is valid and lies inside one area of `vmas` (sorted,
/// as [`validate_vmas`] requires) that may carry pages (not
/// [`VMA_NO_PAGES`]).
pub fn batch_in_vmas(h: &PageBatchHeader, vmas: &[Vma]) -> bool {
    if h.check().is_err() {
        return false;
    }
    // The last area starting at or below the batch.
    let (mut lo, mut hi) = (0usize, vmas.len());
    while lo < hi {
        let mid = lo.saturating_add(hi.saturating_sub(lo) / 2);
        match vmas.get(mid) {
            Some(v) if v.start <= h.first_addr => lo = mid.saturating_add(1),
            Some(_) => hi = mid,
            None => return false,
        }
    }
    match lo.checked_sub(1).and_then(|i| vmas.get(i)) {
        Some(v) => h.end() <= v.end && v.flags & VMA_NO_PAGES == 0,
        None => false,
    }
}

/// Length of a `Begin` message with `xstate_len` bytes of xstate
/// (saturating).
pub const fn begin_len(xstate_len: usize) -> usize {
    BEGIN_FIXED_LEN.saturating_add(xstate_len)
}

/// Length of a `Vmas` message with `count` areas (saturating).
pub const fn vmas_len(count: usize) -> usize {
    VMAS_HEAD_LEN.saturating_add(count.saturating_mul(VMA_WIRE_LEN))
}

/// Length of a `Pages` message with `count` pages (saturating).
pub const fn batch_len(count: u32) -> usize {
    BATCH_HEAD_LEN.saturating_add((count as usize).saturating_mul(PAGE_SIZE))
}

/// Writes a `Begin` message into `out` and returns its length.
///
/// Fails with `BadVersion` if `h.version` is not [`IMAGE_VERSION`],
/// `TooLarge` if a bound of [`ImageHeader::check`] is exceeded,
/// `BadLength` if `xstate` is not `h.xstate_len` bytes, `Truncated` if
/// `out` is too small.
pub fn encode_begin(
    h: &ImageHeader,
    regs: &Regs,
    mm: &MmLayout,
    sig: &SigState,
    xstate: &[u8],
    out: &mut [u8],
) -> Result<usize, ImageError> {
    h.check()?;
    if usize::try_from(h.xstate_len) != Ok(xstate.len()) {
        return Err(ImageError::BadLength);
    }
    let total = begin_len(xstate.len());
    let mut w = Writer::new(out.get_mut(..total).ok_or(ImageError::Truncated)?);
    w.prefix(MsgKind::Begin)?;
    h.write(&mut w)?;
    regs.write(&mut w)?;
    mm.write(&mut w)?;
    sig.write(&mut w)?;
    w.bytes(xstate)?;
    Ok(total)
}

/// A decoded `Begin` message. The signal state stays encoded (it is 2 KiB)
/// until asked for; the xstate is borrowed from the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BeginView<'a> {
    /// The header (version and bounds checked).
    pub header: ImageHeader,
    /// The general registers (not checked: see [`Regs::user_mode_ok`]).
    pub regs: Regs,
    /// The address-space layout.
    pub mm: MmLayout,
    /// The encoded signal state, exactly [`SigState::SIZE`] bytes.
    sig: &'a [u8],
    /// The xstate, exactly `header.xstate_len` bytes.
    pub xstate: &'a [u8],
}

impl BeginView<'_> {
    /// The blocked-signal mask.
    pub fn blocked(&self) -> u64 {
        le64(self.sig, 0)
    }

    /// The action of signal `signo` (1..=64), `None` for other numbers.
    pub fn sig_action(&self, signo: usize) -> Option<SigAction> {
        let i = signo.checked_sub(1).filter(|i| *i < NSIG)?;
        let at = i.saturating_mul(SigAction::SIZE).saturating_add(8);
        Some(SigAction {
            handler: le64(self.sig, at),
            flags: le64(self.sig, at.saturating_add(8)),
            restorer: le64(self.sig, at.saturating_add(16)),
            mask: le64(self.sig, at.saturating_add(24)),
        })
    }

    /// The alternate signal stack.
    pub fn altstack(&self) -> AltStack {
        let mut r = Reader::new(self.sig.get(8 + NSIG * SigAction::SIZE..).unwrap_or(&[]));
        match (r.u64(), r.u32(), r.u64()) {
            (Ok(sp), Ok(flags), Ok(size)) => AltStack { sp, flags, size },
            _ => AltStack::default(),
        }
    }

    /// The whole signal state.
    pub fn sig_state(&self) -> SigState {
        SigState::decode(self.sig).unwrap_or(SigState::EMPTY)
    }
}

/// Decodes and checks a `Begin` message (see the module documentation for
/// the order of checks).
pub fn decode_begin(buf: &[u8]) -> Result<BeginView<'_>, ImageError> {
    let mut r = Reader::new(buf);
    read_prefix(&mut r, MsgKind::Begin)?;
    if buf.len() < BEGIN_FIXED_LEN {
        return Err(ImageError::Truncated);
    }
    let header = ImageHeader::read(&mut r)?;
    header.check()?;
    let xstate_len = usize::try_from(header.xstate_len).map_err(|_| ImageError::TooLarge)?;
    check_total(buf, begin_len(xstate_len))?;
    let regs = Regs::read(&mut r)?;
    let mm = MmLayout::read(&mut r)?;
    let sig = r.bytes(SigState::SIZE)?;
    let xstate = r.bytes(xstate_len)?;
    Ok(BeginView { header, regs, mm, sig, xstate })
}

/// Writes a `Vmas` message carrying `vmas`, the areas numbered `first`
/// onwards, and returns its length.
///
/// Fails with `BadLength` for no area, `TooLarge` for more than
/// [`MAX_VMAS_PER_MSG`] or past [`MAX_VMAS`] in all, `BadVma` for an
/// invalid, unsorted or overlapping area, `Truncated` if `out` is too
/// small.
pub fn encode_vmas(first: u32, vmas: &[Vma], out: &mut [u8]) -> Result<usize, ImageError> {
    let count = vmas_count_ok(first, vmas.len())?;
    check_run(vmas.iter(), 0)?;
    let total = vmas_len(vmas.len());
    let mut w = Writer::new(out.get_mut(..total).ok_or(ImageError::Truncated)?);
    w.prefix(MsgKind::Vmas)?;
    w.u32(first)?;
    w.u32(count)?;
    for v in vmas {
        v.write(&mut w)?;
    }
    Ok(total)
}

/// Checks the count of a `Vmas` message starting at index `first`.
fn vmas_count_ok(first: u32, count: usize) -> Result<u32, ImageError> {
    if count == 0 {
        return Err(ImageError::BadLength);
    }
    if count > MAX_VMAS_PER_MSG {
        return Err(ImageError::TooLarge);
    }
    let c = u32::try_from(count).map_err(|_| ImageError::TooLarge)?;
    match first.checked_add(c) {
        Some(end) if end <= MAX_VMAS => Ok(c),
        _ => Err(ImageError::TooLarge),
    }
}

/// A decoded `Vmas` message; the areas are decoded on access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VmasView<'a> {
    /// Index of the first area in the whole list.
    pub first: u32,
    /// The encoded areas, a whole number of [`VMA_WIRE_LEN`].
    raw: &'a [u8],
}

impl VmasView<'_> {
    /// Number of areas in the message.
    pub fn len(&self) -> usize {
        self.raw.len() / VMA_WIRE_LEN
    }

    /// Whether the message has no area (never true for a decoded one).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Area `i` of the message (not of the whole list).
    pub fn get(&self, i: usize) -> Option<Vma> {
        let at = i.checked_mul(VMA_WIRE_LEN)?;
        let b = self.raw.get(at..at.checked_add(VMA_WIRE_LEN)?)?;
        Some(Vma::from_bytes(&<[u8; VMA_WIRE_LEN]>::try_from(b).ok()?))
    }
}

/// Decodes and checks a `Vmas` message: the count (as for [`encode_vmas`]),
/// the length, and every area (valid, sorted, not overlapping within the
/// message; [`Progress`] checks across messages).
pub fn decode_vmas(buf: &[u8]) -> Result<VmasView<'_>, ImageError> {
    let mut r = Reader::new(buf);
    read_prefix(&mut r, MsgKind::Vmas)?;
    let first = r.u32()?;
    let count = usize::try_from(r.u32()?).map_err(|_| ImageError::TooLarge)?;
    vmas_count_ok(first, count)?;
    check_total(buf, vmas_len(count))?;
    let view = VmasView { first, raw: r.rest() };
    let mut floor = 0;
    let mut i = 0;
    while i < count {
        let v = view.get(i).ok_or(ImageError::Truncated)?;
        if !v.is_valid() || v.start < floor {
            return Err(ImageError::BadVma);
        }
        floor = v.end;
        i += 1;
    }
    Ok(view)
}

/// Writes the start of a `Pages` message (prefix and batch header) into
/// `out` and returns [`BATCH_HEAD_LEN`]; the caller puts the
/// `h.data_len()` bytes of page data right after it. Fails as
/// [`PageBatchHeader::check`], or `Truncated` if `out` is too small.
pub fn encode_batch_header(h: &PageBatchHeader, out: &mut [u8]) -> Result<usize, ImageError> {
    h.check()?;
    let mut w = Writer::new(out.get_mut(..BATCH_HEAD_LEN).ok_or(ImageError::Truncated)?);
    w.prefix(MsgKind::Pages)?;
    w.u64(h.first_addr)?;
    w.u32(h.count)?;
    Ok(BATCH_HEAD_LEN)
}

/// Writes a whole `Pages` message and returns its length. Fails as
/// [`encode_batch_header`], or `BadLength` if `data` is not
/// `h.data_len()` bytes.
pub fn encode_batch(h: &PageBatchHeader, data: &[u8], out: &mut [u8]) -> Result<usize, ImageError> {
    h.check()?;
    if data.len() != h.data_len() {
        return Err(ImageError::BadLength);
    }
    let total = batch_len(h.count);
    let msg = out.get_mut(..total).ok_or(ImageError::Truncated)?;
    encode_batch_header(h, msg)?;
    copy(msg.get_mut(BATCH_HEAD_LEN..).unwrap_or(&mut []), data);
    Ok(total)
}

/// Decodes a `Pages` message on its own: the header (as
/// [`PageBatchHeader::check`]) and the length. Returns the header and the
/// page data.
pub fn parse_batch(buf: &[u8]) -> Result<(PageBatchHeader, &[u8]), ImageError> {
    let mut r = Reader::new(buf);
    read_prefix(&mut r, MsgKind::Pages)?;
    let h = PageBatchHeader { first_addr: r.u64()?, count: r.u32()? };
    h.check()?;
    check_total(buf, batch_len(h.count))?;
    Ok((h, r.rest()))
}

/// Decodes a `Pages` message as [`parse_batch`] and checks that it lies
/// inside one area of `vmas` ([`batch_in_vmas`]), else `BadBatch`.
pub fn decode_batch<'a>(buf: &'a [u8], vmas: &[Vma]) -> Result<(PageBatchHeader, &'a [u8]), ImageError> {
    let (h, data) = parse_batch(buf)?;
    if !batch_in_vmas(&h, vmas) {
        return Err(ImageError::BadBatch);
    }
    Ok((h, data))
}

/// Writes a `Commit` message and returns its length.
pub fn encode_commit(nr_pages: u64, checksum: u64, out: &mut [u8]) -> Result<usize, ImageError> {
    let mut w = Writer::new(out.get_mut(..COMMIT_LEN).ok_or(ImageError::Truncated)?);
    w.prefix(MsgKind::Commit)?;
    w.u64(nr_pages)?;
    w.u64(checksum)?;
    Ok(COMMIT_LEN)
}

/// Decodes a `Commit` message into (page count, checksum).
pub fn decode_commit(buf: &[u8]) -> Result<(u64, u64), ImageError> {
    let mut r = Reader::new(buf);
    read_prefix(&mut r, MsgKind::Commit)?;
    check_total(buf, COMMIT_LEN)?;
    Ok((r.u64()?, r.u64()?))
}

/// Writes an `Accept` message and returns its length.
pub fn encode_accept(remote_pid: u32, out: &mut [u8]) -> Result<usize, ImageError> {
    let mut w = Writer::new(out.get_mut(..ACCEPT_LEN).ok_or(ImageError::Truncated)?);
    w.prefix(MsgKind::Accept)?;
    w.u32(remote_pid)?;
    Ok(ACCEPT_LEN)
}

/// Decodes an `Accept` message into the process's pid on the destination.
pub fn decode_accept(buf: &[u8]) -> Result<u32, ImageError> {
    let mut r = Reader::new(buf);
    read_prefix(&mut r, MsgKind::Accept)?;
    check_total(buf, ACCEPT_LEN)?;
    r.u32()
}

/// Writes a `Refuse` message and returns its length.
pub fn encode_refuse(reason: RefuseReason, out: &mut [u8]) -> Result<usize, ImageError> {
    let mut w = Writer::new(out.get_mut(..REFUSE_LEN).ok_or(ImageError::Truncated)?);
    w.prefix(MsgKind::Refuse)?;
    w.u16(reason.code())?;
    Ok(REFUSE_LEN)
}

/// Decodes a `Refuse` message. An unknown reason code gives `BadVersion`
/// (only a peer speaking another version sends one).
pub fn decode_refuse(buf: &[u8]) -> Result<RefuseReason, ImageError> {
    let mut r = Reader::new(buf);
    read_prefix(&mut r, MsgKind::Refuse)?;
    check_total(buf, REFUSE_LEN)?;
    RefuseReason::from_code(r.u16()?).ok_or(ImageError::BadVersion)
}

/// Writes an `Abort` message and returns its length.
pub fn encode_abort(out: &mut [u8]) -> Result<usize, ImageError> {
    let mut w = Writer::new(out.get_mut(..ABORT_LEN).ok_or(ImageError::Truncated)?);
    w.prefix(MsgKind::Abort)?;
    Ok(ABORT_LEN)
}

/// Checks an `Abort` message.
pub fn decode_abort(buf: &[u8]) -> Result<(), ImageError> {
    let mut r = Reader::new(buf);
    read_prefix(&mut r, MsgKind::Abort)?;
    check_total(buf, ABORT_LEN)
}

/// Any decoded migration message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)] // Lives on the stack briefly; no allocator.
pub enum MigrateMsg<'a> {
    /// See [`decode_begin`].
    Begin(BeginView<'a>),
    /// See [`decode_vmas`].
    Vmas(VmasView<'a>),
    /// A page batch, checked on its own only ([`parse_batch`]): the
    /// receiver still checks it against the areas ([`batch_in_vmas`]).
    Pages(PageBatchHeader, &'a [u8]),
    /// End of the image.
    Commit {
        /// Pages sent.
        nr_pages: u64,
        /// [`Checksum`] of every batch sent.
        checksum: u64,
    },
    /// The destination runs the process.
    Accept {
        /// Its pid there.
        remote_pid: u32,
    },
    /// The destination refuses the process.
    Refuse {
        /// Why.
        reason: RefuseReason,
    },
    /// The migration is abandoned.
    Abort,
}

impl MigrateMsg<'_> {
    /// The message's kind.
    pub const fn kind(&self) -> MsgKind {
        match self {
            MigrateMsg::Begin(_) => MsgKind::Begin,
            MigrateMsg::Vmas(_) => MsgKind::Vmas,
            MigrateMsg::Pages(..) => MsgKind::Pages,
            MigrateMsg::Commit { .. } => MsgKind::Commit,
            MigrateMsg::Accept { .. } => MsgKind::Accept,
            MigrateMsg::Refuse { .. } => MsgKind::Refuse,
            MigrateMsg::Abort => MsgKind::Abort,
        }
    }
}

/// Decodes any migration message, dispatching on its prefix.
pub fn decode(buf: &[u8]) -> Result<MigrateMsg<'_>, ImageError> {
    Ok(match msg_kind(buf)? {
        MsgKind::Begin => MigrateMsg::Begin(decode_begin(buf)?),
        MsgKind::Vmas => MigrateMsg::Vmas(decode_vmas(buf)?),
        MsgKind::Pages => {
            let (h, data) = parse_batch(buf)?;
            MigrateMsg::Pages(h, data)
        }
        MsgKind::Commit => {
            let (nr_pages, checksum) = decode_commit(buf)?;
            MigrateMsg::Commit { nr_pages, checksum }
        }
        MsgKind::Accept => MigrateMsg::Accept { remote_pid: decode_accept(buf)? },
        MsgKind::Refuse => MigrateMsg::Refuse { reason: decode_refuse(buf)? },
        MsgKind::Abort => {
            decode_abort(buf)?;
            MigrateMsg::Abort
        }
    })
}

const CK_SEED: u64 = 0xcbf2_9ce4_8422_2325;
const CK_PRIME: u64 = 0x0000_0100_0000_01b3;

/// One word step: FNV-1a's xor-multiply on a whole 64-bit word, then a
/// xor-shift so high bits also reach the low ones. Both steps are
/// bijective, so changing one word always changes the state.
const fn ck_mix(h: u64, w: u64) -> u64 {
    let x = (h ^ w).wrapping_mul(CK_PRIME);
    x ^ (x >> 29)
}

/// A streaming 64-bit checksum of the image's pages.
///
/// FNV-1a over little-endian 64-bit words (8 times fewer multiplications
/// than bytewise FNV-1a), with a xor-shift per word; the last partial word
/// is zero-padded, then the total length is mixed in and the result goes
/// through a final avalanche. It catches lost, repeated, reordered or
/// damaged batches; it is not a cryptographic hash (frames carry an HMAC
/// for that). Feeding the same bytes in any split gives the same result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checksum {
    h: u64,
    tail: [u8; 8],
    tail_len: usize,
    total: u64,
}

impl Default for Checksum {
    fn default() -> Self {
        Checksum::new()
    }
}

impl Checksum {
    /// The checksum of nothing yet.
    pub const fn new() -> Checksum {
        Checksum { h: CK_SEED, tail: [0; 8], tail_len: 0, total: 0 }
    }

    /// Adds `data`.
    pub fn update(&mut self, data: &[u8]) {
        self.total = self.total.wrapping_add(data.len() as u64);
        let mut i = 0;
        // Complete a partial word left by the previous call.
        if self.tail_len > 0 {
            while self.tail_len < 8 {
                match (data.get(i), self.tail.get_mut(self.tail_len)) {
                    (Some(b), Some(slot)) => *slot = *b,
                    _ => return,
                }
                self.tail_len = self.tail_len.saturating_add(1);
                i = i.saturating_add(1);
            }
            self.h = ck_mix(self.h, u64::from_le_bytes(self.tail));
            self.tail_len = 0;
        }
        // Whole words straight from `data`.
        while data.len().saturating_sub(i) >= 8 {
            self.h = ck_mix(self.h, le64(data, i));
            i = i.saturating_add(8);
        }
        // Keep the rest for later.
        while let Some(b) = data.get(i) {
            if let Some(slot) = self.tail.get_mut(self.tail_len) {
                *slot = *b;
            }
            self.tail_len = self.tail_len.saturating_add(1);
            i = i.saturating_add(1);
        }
    }

    /// Adds one page batch: its first address and page count (as two
    /// u64), then its data. Source and destination both use this.
    pub fn add_batch(&mut self, h: &PageBatchHeader, data: &[u8]) {
        self.update(&h.first_addr.to_le_bytes());
        self.update(&u64::from(h.count).to_le_bytes());
        self.update(data);
    }

    /// The checksum of everything added so far (more may be added after).
    pub fn finish(&self) -> u64 {
        let mut h = self.h;
        if self.tail_len > 0 {
            let mut last = [0u8; 8];
            copy(&mut last, self.tail.get(..self.tail_len).unwrap_or(&[]));
            h = ck_mix(h, u64::from_le_bytes(last));
        }
        h = ck_mix(h, self.total);
        // splitmix64's finalizer.
        h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        h ^ (h >> 31)
    }
}

/// The [`Checksum`] of `data` in one go.
pub fn checksum(data: &[u8]) -> u64 {
    let mut c = Checksum::new();
    c.update(data);
    c.finish()
}

/// A destination's view of how far an incoming image has got: enforces
/// the message order (Begin, then every area in order, then pages, then
/// Commit), the announced totals and the checksum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    begun: bool,
    nr_vmas: u32,
    nr_pages: u64,
    vmas: u32,
    last_end: u64,
    pages: u64,
    sum: Checksum,
}

impl Default for Progress {
    fn default() -> Self {
        Progress::new()
    }
}

impl Progress {
    /// Nothing received yet.
    pub const fn new() -> Progress {
        Progress { begun: false, nr_vmas: 0, nr_pages: 0, vmas: 0, last_end: 0, pages: 0, sum: Checksum::new() }
    }

    /// Takes the `Begin` header: `BadLength` if one was taken already,
    /// else as [`ImageHeader::check`].
    pub fn begin(&mut self, h: &ImageHeader) -> Result<(), ImageError> {
        if self.begun {
            return Err(ImageError::BadLength);
        }
        h.check()?;
        self.begun = true;
        self.nr_vmas = h.nr_vmas;
        self.nr_pages = h.nr_pages;
        Ok(())
    }

    /// Takes a `Vmas` message: `BadVma` before `Begin`, if it does not
    /// start where the previous one ended (index or address), `TooLarge`
    /// past the announced number of areas.
    pub fn vmas(&mut self, v: &VmasView<'_>) -> Result<(), ImageError> {
        if !self.begun || v.first != self.vmas {
            return Err(ImageError::BadVma);
        }
        let count = u32::try_from(v.len()).map_err(|_| ImageError::TooLarge)?;
        let total = self.vmas.checked_add(count).ok_or(ImageError::TooLarge)?;
        if total > self.nr_vmas {
            return Err(ImageError::TooLarge);
        }
        let mut last_end = self.last_end;
        let mut i = 0;
        while i < v.len() {
            let a = v.get(i).ok_or(ImageError::BadVma)?;
            if !a.is_valid() || a.start < last_end {
                return Err(ImageError::BadVma);
            }
            last_end = a.end;
            i += 1;
        }
        self.vmas = total;
        self.last_end = last_end;
        Ok(())
    }

    /// Whether every announced area has arrived.
    pub fn vmas_done(&self) -> bool {
        self.begun && self.vmas == self.nr_vmas
    }

    /// Takes a page batch (already checked against the areas): `BadBatch`
    /// before every area has arrived, `TooLarge` past the announced number
    /// of pages. Adds it to the checksum.
    pub fn pages(&mut self, h: &PageBatchHeader, data: &[u8]) -> Result<(), ImageError> {
        if !self.vmas_done() {
            return Err(ImageError::BadBatch);
        }
        let total = self.pages.checked_add(u64::from(h.count)).ok_or(ImageError::TooLarge)?;
        if total > self.nr_pages {
            return Err(ImageError::TooLarge);
        }
        self.pages = total;
        self.sum.add_batch(h, data);
        Ok(())
    }

    /// Checks the `Commit`: every area and page arrived, and the commit's
    /// count and checksum match what was received; else `BadBatch`.
    pub fn commit(&self, nr_pages: u64, checksum: u64) -> Result<(), ImageError> {
        if !self.vmas_done()
            || nr_pages != self.pages
            || checksum != self.sum.finish()
        {
            return Err(ImageError::BadBatch);
        }
        Ok(())
    }

    /// Pages received so far.
    pub fn pages_received(&self) -> u64 {
        self.pages
    }

    /// The checksum of the batches received so far.
    pub fn checksum(&self) -> u64 {
        self.sum.finish()
    }
}
