//! What a migrated process may do where it runs: one entry per x86-64
//! system call.
//!
//! A process running away from its home node (a "remote") still makes
//! system calls. roam intercepts each one and looks it up here:
//!
//! * [`Disposition::Local`]: the call only touches the process's own
//!   context (memory, signal handling, clocks), so the remote kernel runs
//!   it as usual;
//! * [`Disposition::Forward`]: the call needs something that stays at home
//!   (files, sockets, other processes, credentials), so its arguments are
//!   marshalled to the home node's deputy, which runs it there and sends the
//!   result and any output back;
//! * [`Disposition::BringHome`]: the process migrates home before the call
//!   runs: process creation, `execve`, changes of credentials or limits
//!   (which must hold on both sides), and every call that can neither run
//!   on the remote with the answer it would have at home nor be forwarded
//!   yet (administration, System V shared memory, io_uring, ptrace, ... — and
//!   numbers no system call has, which get `ENOSYS` at home as anywhere).
//!
//! There is no "refuse": no call made on a remote fails with an errno it
//! would not get at home.
//!
//! The [`Arg`] descriptors say how to marshal a forwarded call's arguments,
//! in the spirit of strace's signatures. The numbers and names are those of
//! Linux 6.12's `arch/x86/entry/syscalls/syscall_64.tbl` (the `common` and
//! `64` ABIs; x32 numbers are not handled). `docs/syscalls.md` explains the
//! choices and lists the whole table.
//!
//! `core` only, no panics: [`lookup`] takes any number.

/// What happens to a system call made by a migrated process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disposition {
    /// Run it on the node where the process is.
    Local,
    /// Run it at home, through the deputy.
    Forward,
    /// Migrate the process home, then run it there.
    BringHome,
}

impl Disposition {
    /// The snake_case name used in `docs/syscalls.md` and in counters.
    pub const fn name(self) -> &'static str {
        match self {
            Disposition::Local => "local",
            Disposition::Forward => "forward",
            Disposition::BringHome => "bring_home",
        }
    }
}

/// How one system-call argument is marshalled when the call is forwarded.
///
/// Argument indices (`len_arg`) count from 0. A null pointer is forwarded
/// as a null pointer for every pointer kind: many calls take optional
/// pointers. Sizes are those of the x86-64 structures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arg {
    /// No such argument (the call takes fewer).
    None,
    /// A plain integer (flags, modes, lengths, pids, ids, offsets),
    /// forwarded as is.
    Int,
    /// A file descriptor. Every descriptor of a migrated process lives at
    /// home, so forwarding passes the number unchanged.
    Fd,
    /// A NUL-terminated input string (a path, or a name such as an
    /// extended attribute's), copied from the caller up to `PATH_MAX`.
    Path,
    /// An input buffer whose length in bytes is argument `len_arg`.
    InBuf {
        /// Index of the length argument.
        len_arg: u8,
    },
    /// An output buffer whose capacity in bytes is argument `len_arg`; a
    /// non-negative return value is the number of bytes to copy back.
    OutBuf {
        /// Index of the capacity argument.
        len_arg: u8,
    },
    /// An input structure of this many bytes.
    InFixed(u16),
    /// An output structure of this many bytes, copied back when the call
    /// succeeds.
    OutFixed(u16),
    /// A structure of this many bytes that the call reads and updates.
    InOutFixed(u16),
    /// An array the call reads and updates: argument `count_arg` elements
    /// of `elem` bytes (a `pollfd` array).
    InOutArray {
        /// Index of the element-count argument.
        count_arg: u8,
        /// Bytes per element.
        elem: u16,
    },
    /// An output array of argument `count_arg` elements of `elem` bytes;
    /// a non-negative return value is the number of elements written
    /// (`epoll_wait`'s events). A count too large to forward is lowered:
    /// the call then returns fewer, as it may anyway.
    OutArray {
        /// Index of the element-count argument.
        count_arg: u8,
        /// Bytes per element.
        elem: u16,
    },
    /// A buffer whose capacity is the `socklen_t` that argument `lenp`
    /// (an `InOutFixed(4)`) points to, at most `max` bytes: a socket
    /// address or option value. The call reads it, may write it and sets
    /// `*lenp` to the full length; at most the smaller of the capacity and
    /// that length is copied back, as the kernel does.
    InOutSized {
        /// Index of the length-pointer argument.
        lenp: u8,
        /// Largest capacity forwarded (a larger one is lowered).
        max: u16,
    },
    /// An input array of argument `count_arg` elements of `elem` bytes
    /// (`semop`'s operations); never written back.
    InArray {
        /// Index of the element-count argument.
        count_arg: u8,
        /// Bytes per element.
        elem: u16,
    },
    /// `msgsnd`'s `struct msgbuf`: an 8-byte message type followed by
    /// argument `len_arg` bytes of text. A text too long to forward in one
    /// call is not forwarded (shortening it would change the message).
    InMsg {
        /// Index of the text-length argument.
        len_arg: u8,
    },
    /// `msgrcv`'s `struct msgbuf`: room for an 8-byte type and argument
    /// `len_arg` bytes of text; a non-negative result counts the text
    /// bytes, which go back with the type.
    OutMsg {
        /// Index of the text-capacity argument.
        len_arg: u8,
    },
    /// A set of argument `count_arg` bits (an `fd_set` of `select`), read
    /// and updated: the bits rounded up to 64-bit words.
    InOutBits {
        /// Index of the bit-count argument.
        count_arg: u8,
    },
    /// A signal mask (`sigset_t`, its size in argument `size_arg`) that
    /// replaces the caller's blocked mask while the call waits (`ppoll`,
    /// `epoll_pwait`). The caller's side applies it; the deputy gets none.
    SigMask {
        /// Index of the size argument.
        size_arg: u8,
    },
    /// `pselect6`'s sixth argument: a pointer to a pointer to a signal
    /// mask and its size, handled as [`Arg::SigMask`].
    SigMaskPair,
    /// Any other pointer (arrays counted in elements, structures holding
    /// pointers, command-dependent arguments), not described here. A call
    /// with one is local or refused, except for the forwarded calls that
    /// `docs/syscalls.md` lists as handled specially by the forwarding
    /// layer.
    Ptr,
}

impl Arg {
    /// Whether the argument is a pointer into the caller's memory.
    pub const fn is_pointer(self) -> bool {
        !matches!(self, Arg::None | Arg::Int | Arg::Fd)
    }
}

/// One system call: its number, name, disposition and arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyscallInfo {
    /// The x86-64 system-call number.
    pub nr: u16,
    /// The name in `syscall_64.tbl` (`"unassigned"` for a free number).
    pub name: &'static str,
    /// What a remote does with the call.
    pub disposition: Disposition,
    /// The arguments in order, padded with [`Arg::None`].
    pub args: [Arg; 6],
}

impl SyscallInfo {
    /// Number of arguments the call takes (those before the first
    /// [`Arg::None`]).
    pub fn nargs(&self) -> usize {
        let mut n = 0;
        while n < self.args.len() {
            if matches!(self.args.get(n), Some(Arg::None) | None) {
                break;
            }
            n += 1;
        }
        n
    }
}

/// The highest system-call number in Linux 6.12 (`mseal`).
pub const MAX_NR: u16 = 462;

/// Number of slots in [`SYSCALLS`]: every number from 0 to [`MAX_NR`].
pub const NR_SLOTS: usize = MAX_NR as usize + 1;

/// The entry for a number no system call uses.
const UNASSIGNED: SyscallInfo =
    SyscallInfo { nr: 0, name: "unassigned", disposition: Disposition::BringHome, args: [Arg::None; 6] };

/// The entry for number `nr`; numbers without a system call (including
/// those above [`MAX_NR`]) give name `"unassigned"` and `BringHome`
/// (home answers `ENOSYS`, or makes the call if its kernel is newer),
/// with `nr` saturated to `u16::MAX`.
pub fn lookup(nr: u64) -> SyscallInfo {
    let slot = usize::try_from(nr).ok().and_then(|i| SYSCALLS.get(i));
    match slot {
        Some(info) => *info,
        None => SyscallInfo { nr: u16::try_from(nr).unwrap_or(u16::MAX), ..UNASSIGNED },
    }
}

/// The name of system call `nr` (`"unassigned"` if there is none).
pub fn name(nr: u64) -> &'static str {
    lookup(nr).name
}

/// Every number from 0 to [`MAX_NR`], indexed by number; free numbers hold
/// an `"unassigned"` entry.
pub static SYSCALLS: [SyscallInfo; NR_SLOTS] = fill(&ENTRIES);

/// Places the sparse list into a dense table at compile time. A number
/// out of range or listed twice stops the build.
const fn fill(entries: &[SyscallInfo]) -> [SyscallInfo; NR_SLOTS] {
    let mut table = [UNASSIGNED; NR_SLOTS];
    let mut n = 0;
    while n < NR_SLOTS {
        table[n].nr = n as u16;
        n += 1;
    }
    let mut seen = [false; NR_SLOTS];
    let mut i = 0;
    while i < entries.len() {
        let e = entries[i];
        let at = e.nr as usize;
        assert!(at < NR_SLOTS, "system call number above MAX_NR");
        assert!(!seen[at], "system call number listed twice");
        seen[at] = true;
        table[at] = e;
        i += 1;
    }
    table
}

// Short names for the table below.
const L: Disposition = Disposition::Local;
const F: Disposition = Disposition::Forward;
const H: Disposition = Disposition::BringHome;
const N: Arg = Arg::None;
const I: Arg = Arg::Int;
const FD: Arg = Arg::Fd;
const P: Arg = Arg::Path;
const X: Arg = Arg::Ptr;

const fn ib(len_arg: u8) -> Arg {
    Arg::InBuf { len_arg }
}

const fn ob(len_arg: u8) -> Arg {
    Arg::OutBuf { len_arg }
}

const fn inf(size: u16) -> Arg {
    Arg::InFixed(size)
}

const fn outf(size: u16) -> Arg {
    Arg::OutFixed(size)
}

const fn iof(size: u16) -> Arg {
    Arg::InOutFixed(size)
}

const fn ioa(count_arg: u8, elem: u16) -> Arg {
    Arg::InOutArray { count_arg, elem }
}

const fn ina(count_arg: u8, elem: u16) -> Arg {
    Arg::InArray { count_arg, elem }
}

const fn oa(count_arg: u8, elem: u16) -> Arg {
    Arg::OutArray { count_arg, elem }
}

/// A socket address (`sockaddr_storage`: 128 bytes) sized by `*arg[lenp]`.
const fn addr(lenp: u8) -> Arg {
    Arg::InOutSized { lenp, max: 128 }
}

const fn bits(count_arg: u8) -> Arg {
    Arg::InOutBits { count_arg }
}

const fn mask(size_arg: u8) -> Arg {
    Arg::SigMask { size_arg }
}

const fn s(nr: u16, name: &'static str, disposition: Disposition, args: [Arg; 6]) -> SyscallInfo {
    SyscallInfo { nr, name, disposition, args }
}

/// Every system call of Linux 6.12 x86-64, by number (336 to 423 are
/// free). Structure sizes: `stat` 144, `statfs` 120, `statx` 256,
/// `rusage` 144, `siginfo_t` 128, `sigevent` 64, kernel `sigaction` 32,
/// `stack_t` 24, `sigset_t` 8, `timespec`/`timeval` 16, `itimerval`/
/// `itimerspec` 32, `fd_set` 128, `epoll_event` 12, `mq_attr` 64,
/// `new_utsname` 390, `sysinfo` 112, `tms` 32, `rlimit` 16, `ustat` 32,
/// `timex` 208, `cachestat` 40, `sembuf` 6 (the System V control
/// structures are in [`crate::fwd::ipc_ctl_plan`]).
// Only read at compile time, by `fill`.
#[allow(clippy::large_const_arrays)]
const ENTRIES: [SyscallInfo; 375] = [
    s(0, "read", F, [FD, ob(2), I, N, N, N]),
    s(1, "write", F, [FD, ib(2), I, N, N, N]),
    s(2, "open", F, [P, I, I, N, N, N]),
    s(3, "close", F, [FD, N, N, N, N, N]),
    s(4, "stat", F, [P, outf(144), N, N, N, N]),
    s(5, "fstat", F, [FD, outf(144), N, N, N, N]),
    s(6, "lstat", F, [P, outf(144), N, N, N, N]),
    s(7, "poll", F, [ioa(1, 8), I, I, N, N, N]),
    s(8, "lseek", F, [FD, I, I, N, N, N]),
    s(9, "mmap", L, [I, I, I, I, FD, I]),
    s(10, "mprotect", L, [I, I, I, N, N, N]),
    s(11, "munmap", L, [I, I, N, N, N, N]),
    s(12, "brk", L, [I, N, N, N, N, N]),
    s(13, "rt_sigaction", L, [I, inf(32), outf(32), I, N, N]),
    s(14, "rt_sigprocmask", L, [I, inf(8), outf(8), I, N, N]),
    s(15, "rt_sigreturn", L, [N, N, N, N, N, N]),
    s(16, "ioctl", F, [FD, I, X, N, N, N]),
    s(17, "pread64", F, [FD, ob(2), I, I, N, N]),
    s(18, "pwrite64", F, [FD, ib(2), I, I, N, N]),
    s(19, "readv", F, [FD, X, I, N, N, N]),
    s(20, "writev", F, [FD, X, I, N, N, N]),
    s(21, "access", F, [P, I, N, N, N, N]),
    s(22, "pipe", F, [outf(8), N, N, N, N, N]),
    s(23, "select", F, [I, bits(0), bits(0), bits(0), iof(16), N]),
    s(24, "sched_yield", L, [N, N, N, N, N, N]),
    s(25, "mremap", L, [I, I, I, I, I, N]),
    s(26, "msync", L, [I, I, I, N, N, N]),
    s(27, "mincore", L, [I, I, X, N, N, N]),
    s(28, "madvise", L, [I, I, I, N, N, N]),
    s(29, "shmget", F, [I, I, I, N, N, N]),
    s(30, "shmat", H, [I, I, I, N, N, N]),
    s(31, "shmctl", F, [I, I, X, N, N, N]),
    s(32, "dup", F, [FD, N, N, N, N, N]),
    s(33, "dup2", F, [FD, FD, N, N, N, N]),
    s(34, "pause", L, [N, N, N, N, N, N]),
    s(35, "nanosleep", L, [inf(16), outf(16), N, N, N, N]),
    s(36, "getitimer", L, [I, outf(32), N, N, N, N]),
    s(37, "alarm", L, [I, N, N, N, N, N]),
    s(38, "setitimer", L, [I, inf(32), outf(32), N, N, N]),
    s(39, "getpid", L, [N, N, N, N, N, N]),
    s(40, "sendfile", F, [FD, FD, iof(8), I, N, N]),
    s(41, "socket", F, [I, I, I, N, N, N]),
    s(42, "connect", F, [FD, ib(2), I, N, N, N]),
    s(43, "accept", F, [FD, addr(2), iof(4), N, N, N]),
    s(44, "sendto", F, [FD, ib(2), I, I, ib(5), I]),
    s(45, "recvfrom", F, [FD, ob(2), I, I, addr(5), iof(4)]),
    s(46, "sendmsg", F, [FD, X, I, N, N, N]),
    s(47, "recvmsg", F, [FD, X, I, N, N, N]),
    s(48, "shutdown", F, [FD, I, N, N, N, N]),
    s(49, "bind", F, [FD, ib(2), I, N, N, N]),
    s(50, "listen", F, [FD, I, N, N, N, N]),
    s(51, "getsockname", F, [FD, addr(2), iof(4), N, N, N]),
    s(52, "getpeername", F, [FD, addr(2), iof(4), N, N, N]),
    s(53, "socketpair", F, [I, I, I, outf(8), N, N]),
    s(54, "setsockopt", F, [FD, I, I, ib(4), I, N]),
    s(55, "getsockopt", F, [FD, I, I, Arg::InOutSized { lenp: 4, max: 4096 }, iof(4), N]),
    s(56, "clone", H, [I, I, X, X, I, N]),
    s(57, "fork", H, [N, N, N, N, N, N]),
    s(58, "vfork", H, [N, N, N, N, N, N]),
    s(59, "execve", H, [P, X, X, N, N, N]),
    s(60, "exit", F, [I, N, N, N, N, N]),
    s(61, "wait4", F, [I, outf(4), I, outf(144), N, N]),
    s(62, "kill", F, [I, I, N, N, N, N]),
    s(63, "uname", F, [outf(390), N, N, N, N, N]),
    s(64, "semget", F, [I, I, I, N, N, N]),
    s(65, "semop", F, [I, ina(2, 6), I, N, N, N]),
    s(66, "semctl", F, [I, I, I, X, N, N]),
    s(67, "shmdt", H, [I, N, N, N, N, N]),
    s(68, "msgget", F, [I, I, N, N, N, N]),
    s(69, "msgsnd", F, [I, Arg::InMsg { len_arg: 2 }, I, I, N, N]),
    s(70, "msgrcv", F, [I, Arg::OutMsg { len_arg: 2 }, I, I, I, N]),
    s(71, "msgctl", F, [I, I, X, N, N, N]),
    s(72, "fcntl", F, [FD, I, X, N, N, N]),
    s(73, "flock", F, [FD, I, N, N, N, N]),
    s(74, "fsync", F, [FD, N, N, N, N, N]),
    s(75, "fdatasync", F, [FD, N, N, N, N, N]),
    s(76, "truncate", F, [P, I, N, N, N, N]),
    s(77, "ftruncate", F, [FD, I, N, N, N, N]),
    s(78, "getdents", F, [FD, ob(2), I, N, N, N]),
    s(79, "getcwd", F, [ob(1), I, N, N, N, N]),
    s(80, "chdir", F, [P, N, N, N, N, N]),
    s(81, "fchdir", F, [FD, N, N, N, N, N]),
    s(82, "rename", F, [P, P, N, N, N, N]),
    s(83, "mkdir", F, [P, I, N, N, N, N]),
    s(84, "rmdir", F, [P, N, N, N, N, N]),
    s(85, "creat", F, [P, I, N, N, N, N]),
    s(86, "link", F, [P, P, N, N, N, N]),
    s(87, "unlink", F, [P, N, N, N, N, N]),
    s(88, "symlink", F, [P, P, N, N, N, N]),
    s(89, "readlink", F, [P, ob(2), I, N, N, N]),
    s(90, "chmod", F, [P, I, N, N, N, N]),
    s(91, "fchmod", F, [FD, I, N, N, N, N]),
    s(92, "chown", F, [P, I, I, N, N, N]),
    s(93, "fchown", F, [FD, I, I, N, N, N]),
    s(94, "lchown", F, [P, I, I, N, N, N]),
    s(95, "umask", F, [I, N, N, N, N, N]),
    s(96, "gettimeofday", L, [outf(16), outf(8), N, N, N, N]),
    s(97, "getrlimit", L, [I, outf(16), N, N, N, N]),
    s(98, "getrusage", F, [I, outf(144), N, N, N, N]),
    s(99, "sysinfo", F, [outf(112), N, N, N, N, N]),
    s(100, "times", F, [outf(32), N, N, N, N, N]),
    s(101, "ptrace", H, [I, I, X, X, N, N]),
    s(102, "getuid", L, [N, N, N, N, N, N]),
    s(103, "syslog", F, [I, ob(2), I, N, N, N]),
    s(104, "getgid", L, [N, N, N, N, N, N]),
    s(105, "setuid", H, [I, N, N, N, N, N]),
    s(106, "setgid", H, [I, N, N, N, N, N]),
    s(107, "geteuid", L, [N, N, N, N, N, N]),
    s(108, "getegid", L, [N, N, N, N, N, N]),
    s(109, "setpgid", F, [I, I, N, N, N, N]),
    s(110, "getppid", F, [N, N, N, N, N, N]),
    s(111, "getpgrp", F, [N, N, N, N, N, N]),
    s(112, "setsid", F, [N, N, N, N, N, N]),
    s(113, "setreuid", H, [I, I, N, N, N, N]),
    s(114, "setregid", H, [I, I, N, N, N, N]),
    s(115, "getgroups", L, [I, X, N, N, N, N]),
    s(116, "setgroups", H, [I, X, N, N, N, N]),
    s(117, "setresuid", H, [I, I, I, N, N, N]),
    s(118, "getresuid", L, [outf(4), outf(4), outf(4), N, N, N]),
    s(119, "setresgid", H, [I, I, I, N, N, N]),
    s(120, "getresgid", L, [outf(4), outf(4), outf(4), N, N, N]),
    s(121, "getpgid", F, [I, N, N, N, N, N]),
    s(122, "setfsuid", H, [I, N, N, N, N, N]),
    s(123, "setfsgid", H, [I, N, N, N, N, N]),
    s(124, "getsid", F, [I, N, N, N, N, N]),
    s(125, "capget", L, [iof(8), X, N, N, N, N]),
    s(126, "capset", H, [inf(8), X, N, N, N, N]),
    s(127, "rt_sigpending", L, [outf(8), I, N, N, N, N]),
    s(128, "rt_sigtimedwait", L, [inf(8), outf(128), inf(16), I, N, N]),
    s(129, "rt_sigqueueinfo", F, [I, I, inf(128), N, N, N]),
    s(130, "rt_sigsuspend", L, [inf(8), I, N, N, N, N]),
    s(131, "sigaltstack", L, [inf(24), outf(24), N, N, N, N]),
    s(132, "utime", F, [P, inf(16), N, N, N, N]),
    s(133, "mknod", F, [P, I, I, N, N, N]),
    s(134, "uselib", H, [P, N, N, N, N, N]),
    s(135, "personality", L, [I, N, N, N, N, N]),
    s(136, "ustat", F, [I, outf(32), N, N, N, N]),
    s(137, "statfs", F, [P, outf(120), N, N, N, N]),
    s(138, "fstatfs", F, [FD, outf(120), N, N, N, N]),
    s(139, "sysfs", H, [I, X, X, N, N, N]),
    s(140, "getpriority", F, [I, I, N, N, N, N]),
    s(141, "setpriority", F, [I, I, I, N, N, N]),
    s(142, "sched_setparam", F, [I, inf(4), N, N, N, N]),
    s(143, "sched_getparam", F, [I, outf(4), N, N, N, N]),
    s(144, "sched_setscheduler", F, [I, I, inf(4), N, N, N]),
    s(145, "sched_getscheduler", F, [I, N, N, N, N, N]),
    s(146, "sched_get_priority_max", L, [I, N, N, N, N, N]),
    s(147, "sched_get_priority_min", L, [I, N, N, N, N, N]),
    s(148, "sched_rr_get_interval", F, [I, outf(16), N, N, N, N]),
    s(149, "mlock", L, [I, I, N, N, N, N]),
    s(150, "munlock", L, [I, I, N, N, N, N]),
    s(151, "mlockall", L, [I, N, N, N, N, N]),
    s(152, "munlockall", L, [N, N, N, N, N, N]),
    s(153, "vhangup", F, [N, N, N, N, N, N]),
    s(154, "modify_ldt", L, [I, X, I, N, N, N]),
    s(155, "pivot_root", H, [P, P, N, N, N, N]),
    s(156, "_sysctl", H, [X, N, N, N, N, N]),
    s(157, "prctl", L, [I, I, I, I, I, N]),
    s(158, "arch_prctl", L, [I, X, N, N, N, N]),
    s(159, "adjtimex", H, [iof(208), N, N, N, N, N]),
    s(160, "setrlimit", H, [I, inf(16), N, N, N, N]),
    s(161, "chroot", F, [P, N, N, N, N, N]),
    s(162, "sync", F, [N, N, N, N, N, N]),
    s(163, "acct", H, [P, N, N, N, N, N]),
    s(164, "settimeofday", H, [inf(16), inf(8), N, N, N, N]),
    s(165, "mount", H, [P, P, P, I, X, N]),
    s(166, "umount2", H, [P, I, N, N, N, N]),
    s(167, "swapon", H, [P, I, N, N, N, N]),
    s(168, "swapoff", H, [P, N, N, N, N, N]),
    s(169, "reboot", H, [I, I, I, X, N, N]),
    s(170, "sethostname", H, [ib(1), I, N, N, N, N]),
    s(171, "setdomainname", H, [ib(1), I, N, N, N, N]),
    s(172, "iopl", H, [I, N, N, N, N, N]),
    s(173, "ioperm", H, [I, I, I, N, N, N]),
    s(174, "create_module", H, [P, I, N, N, N, N]),
    s(175, "init_module", H, [ib(1), I, P, N, N, N]),
    s(176, "delete_module", H, [P, I, N, N, N, N]),
    s(177, "get_kernel_syms", H, [X, N, N, N, N, N]),
    s(178, "query_module", H, [P, I, X, I, X, N]),
    s(179, "quotactl", H, [I, P, I, X, N, N]),
    s(180, "nfsservctl", H, [I, X, X, N, N, N]),
    s(181, "getpmsg", H, [N, N, N, N, N, N]),
    s(182, "putpmsg", H, [N, N, N, N, N, N]),
    s(183, "afs_syscall", H, [N, N, N, N, N, N]),
    s(184, "tuxcall", H, [N, N, N, N, N, N]),
    s(185, "security", H, [N, N, N, N, N, N]),
    s(186, "gettid", L, [N, N, N, N, N, N]),
    s(187, "readahead", F, [FD, I, I, N, N, N]),
    s(188, "setxattr", F, [P, P, ib(3), I, I, N]),
    s(189, "lsetxattr", F, [P, P, ib(3), I, I, N]),
    s(190, "fsetxattr", F, [FD, P, ib(3), I, I, N]),
    s(191, "getxattr", F, [P, P, ob(3), I, N, N]),
    s(192, "lgetxattr", F, [P, P, ob(3), I, N, N]),
    s(193, "fgetxattr", F, [FD, P, ob(3), I, N, N]),
    s(194, "listxattr", F, [P, ob(2), I, N, N, N]),
    s(195, "llistxattr", F, [P, ob(2), I, N, N, N]),
    s(196, "flistxattr", F, [FD, ob(2), I, N, N, N]),
    s(197, "removexattr", F, [P, P, N, N, N, N]),
    s(198, "lremovexattr", F, [P, P, N, N, N, N]),
    s(199, "fremovexattr", F, [FD, P, N, N, N, N]),
    s(200, "tkill", F, [I, I, N, N, N, N]),
    s(201, "time", L, [outf(8), N, N, N, N, N]),
    s(202, "futex", L, [X, I, I, X, X, I]),
    s(203, "sched_setaffinity", F, [I, I, ib(1), N, N, N]),
    s(204, "sched_getaffinity", F, [I, I, ob(1), N, N, N]),
    s(205, "set_thread_area", H, [X, N, N, N, N, N]),
    s(206, "io_setup", H, [I, X, N, N, N, N]),
    s(207, "io_destroy", H, [I, N, N, N, N, N]),
    s(208, "io_getevents", H, [I, I, I, X, X, N]),
    s(209, "io_submit", H, [I, I, X, N, N, N]),
    s(210, "io_cancel", H, [I, X, X, N, N, N]),
    s(211, "get_thread_area", H, [X, N, N, N, N, N]),
    s(212, "lookup_dcookie", H, [I, X, I, N, N, N]),
    s(213, "epoll_create", F, [I, N, N, N, N, N]),
    s(214, "epoll_ctl_old", H, [N, N, N, N, N, N]),
    s(215, "epoll_wait_old", H, [N, N, N, N, N, N]),
    s(216, "remap_file_pages", L, [I, I, I, I, I, N]),
    s(217, "getdents64", F, [FD, ob(2), I, N, N, N]),
    s(218, "set_tid_address", L, [X, N, N, N, N, N]),
    s(219, "restart_syscall", L, [N, N, N, N, N, N]),
    s(220, "semtimedop", F, [I, ina(2, 6), I, inf(16), N, N]),
    s(221, "fadvise64", F, [FD, I, I, I, N, N]),
    s(222, "timer_create", L, [I, inf(64), outf(4), N, N, N]),
    s(223, "timer_settime", L, [I, I, inf(32), outf(32), N, N]),
    s(224, "timer_gettime", L, [I, outf(32), N, N, N, N]),
    s(225, "timer_getoverrun", L, [I, N, N, N, N, N]),
    s(226, "timer_delete", L, [I, N, N, N, N, N]),
    s(227, "clock_settime", H, [I, inf(16), N, N, N, N]),
    s(228, "clock_gettime", L, [I, outf(16), N, N, N, N]),
    s(229, "clock_getres", L, [I, outf(16), N, N, N, N]),
    s(230, "clock_nanosleep", L, [I, I, inf(16), outf(16), N, N]),
    s(231, "exit_group", F, [I, N, N, N, N, N]),
    s(232, "epoll_wait", F, [FD, oa(2, 12), I, I, N, N]),
    s(233, "epoll_ctl", F, [FD, I, FD, inf(12), N, N]),
    s(234, "tgkill", F, [I, I, I, N, N, N]),
    s(235, "utimes", F, [P, inf(32), N, N, N, N]),
    s(236, "vserver", H, [N, N, N, N, N, N]),
    s(237, "mbind", L, [I, I, I, X, I, I]),
    s(238, "set_mempolicy", L, [I, X, I, N, N, N]),
    s(239, "get_mempolicy", L, [X, X, I, I, I, N]),
    s(240, "mq_open", F, [P, I, I, inf(64), N, N]),
    s(241, "mq_unlink", F, [P, N, N, N, N, N]),
    s(242, "mq_timedsend", F, [FD, ib(2), I, I, inf(16), N]),
    s(243, "mq_timedreceive", F, [FD, ob(2), I, outf(4), inf(16), N]),
    s(244, "mq_notify", F, [FD, inf(64), N, N, N, N]),
    s(245, "mq_getsetattr", F, [FD, inf(64), outf(64), N, N, N]),
    s(246, "kexec_load", H, [I, I, X, I, N, N]),
    s(247, "waitid", F, [I, I, outf(128), I, outf(144), N]),
    s(248, "add_key", H, [P, P, ib(3), I, I, N]),
    s(249, "request_key", H, [P, P, P, I, N, N]),
    s(250, "keyctl", H, [I, X, X, X, X, N]),
    s(251, "ioprio_set", F, [I, I, I, N, N, N]),
    s(252, "ioprio_get", F, [I, I, N, N, N, N]),
    s(253, "inotify_init", F, [N, N, N, N, N, N]),
    s(254, "inotify_add_watch", F, [FD, P, I, N, N, N]),
    s(255, "inotify_rm_watch", F, [FD, I, N, N, N, N]),
    s(256, "migrate_pages", H, [I, I, X, X, N, N]),
    s(257, "openat", F, [FD, P, I, I, N, N]),
    s(258, "mkdirat", F, [FD, P, I, N, N, N]),
    s(259, "mknodat", F, [FD, P, I, I, N, N]),
    s(260, "fchownat", F, [FD, P, I, I, I, N]),
    s(261, "futimesat", F, [FD, P, inf(32), N, N, N]),
    s(262, "newfstatat", F, [FD, P, outf(144), I, N, N]),
    s(263, "unlinkat", F, [FD, P, I, N, N, N]),
    s(264, "renameat", F, [FD, P, FD, P, N, N]),
    s(265, "linkat", F, [FD, P, FD, P, I, N]),
    s(266, "symlinkat", F, [P, FD, P, N, N, N]),
    s(267, "readlinkat", F, [FD, P, ob(3), I, N, N]),
    s(268, "fchmodat", F, [FD, P, I, N, N, N]),
    s(269, "faccessat", F, [FD, P, I, N, N, N]),
    s(270, "pselect6", F, [I, bits(0), bits(0), bits(0), iof(16), Arg::SigMaskPair]),
    s(271, "ppoll", F, [ioa(1, 8), I, iof(16), mask(4), I, N]),
    s(272, "unshare", H, [I, N, N, N, N, N]),
    s(273, "set_robust_list", L, [X, I, N, N, N, N]),
    s(274, "get_robust_list", L, [I, X, X, N, N, N]),
    s(275, "splice", F, [FD, iof(8), FD, iof(8), I, I]),
    s(276, "tee", F, [FD, FD, I, I, N, N]),
    s(277, "sync_file_range", F, [FD, I, I, I, N, N]),
    s(278, "vmsplice", H, [FD, X, I, I, N, N]),
    s(279, "move_pages", H, [I, I, X, X, X, I]),
    s(280, "utimensat", F, [FD, P, inf(32), I, N, N]),
    s(281, "epoll_pwait", F, [FD, oa(2, 12), I, I, mask(5), I]),
    s(282, "signalfd", H, [FD, inf(8), I, N, N, N]),
    s(283, "timerfd_create", F, [I, I, N, N, N, N]),
    s(284, "eventfd", F, [I, N, N, N, N, N]),
    s(285, "fallocate", F, [FD, I, I, I, N, N]),
    s(286, "timerfd_settime", F, [FD, I, inf(32), outf(32), N, N]),
    s(287, "timerfd_gettime", F, [FD, outf(32), N, N, N, N]),
    s(288, "accept4", F, [FD, addr(2), iof(4), I, N, N]),
    s(289, "signalfd4", H, [FD, inf(8), I, I, N, N]),
    s(290, "eventfd2", F, [I, I, N, N, N, N]),
    s(291, "epoll_create1", F, [I, N, N, N, N, N]),
    s(292, "dup3", F, [FD, FD, I, N, N, N]),
    s(293, "pipe2", F, [outf(8), I, N, N, N, N]),
    s(294, "inotify_init1", F, [I, N, N, N, N, N]),
    s(295, "preadv", F, [FD, X, I, I, I, N]),
    s(296, "pwritev", F, [FD, X, I, I, I, N]),
    s(297, "rt_tgsigqueueinfo", F, [I, I, I, inf(128), N, N]),
    s(298, "perf_event_open", H, [X, I, I, FD, I, N]),
    s(299, "recvmmsg", F, [FD, X, I, I, iof(16), N]),
    s(300, "fanotify_init", F, [I, I, N, N, N, N]),
    s(301, "fanotify_mark", F, [FD, I, I, FD, P, N]),
    s(302, "prlimit64", F, [I, I, inf(16), outf(16), N, N]),
    s(303, "name_to_handle_at", H, [FD, P, X, X, I, N]),
    s(304, "open_by_handle_at", H, [FD, X, I, N, N, N]),
    s(305, "clock_adjtime", H, [I, iof(208), N, N, N, N]),
    s(306, "syncfs", F, [FD, N, N, N, N, N]),
    s(307, "sendmmsg", F, [FD, X, I, I, N, N]),
    s(308, "setns", H, [FD, I, N, N, N, N]),
    s(309, "getcpu", L, [outf(4), outf(4), X, N, N, N]),
    s(310, "process_vm_readv", H, [I, X, I, X, I, I]),
    s(311, "process_vm_writev", H, [I, X, I, X, I, I]),
    s(312, "kcmp", H, [I, I, I, I, I, N]),
    s(313, "finit_module", H, [FD, P, I, N, N, N]),
    s(314, "sched_setattr", H, [I, X, I, N, N, N]),
    s(315, "sched_getattr", H, [I, X, I, I, N, N]),
    s(316, "renameat2", F, [FD, P, FD, P, I, N]),
    s(317, "seccomp", H, [I, I, X, N, N, N]),
    s(318, "getrandom", L, [ob(1), I, I, N, N, N]),
    s(319, "memfd_create", F, [P, I, N, N, N, N]),
    s(320, "kexec_file_load", H, [FD, FD, I, P, I, N]),
    s(321, "bpf", H, [I, X, I, N, N, N]),
    s(322, "execveat", H, [FD, P, X, X, I, N]),
    s(323, "userfaultfd", H, [I, N, N, N, N, N]),
    s(324, "membarrier", L, [I, I, I, N, N, N]),
    s(325, "mlock2", L, [I, I, I, N, N, N]),
    s(326, "copy_file_range", F, [FD, iof(8), FD, iof(8), I, I]),
    s(327, "preadv2", F, [FD, X, I, I, I, I]),
    s(328, "pwritev2", F, [FD, X, I, I, I, I]),
    s(329, "pkey_mprotect", L, [I, I, I, I, N, N]),
    s(330, "pkey_alloc", L, [I, I, N, N, N, N]),
    s(331, "pkey_free", L, [I, N, N, N, N, N]),
    s(332, "statx", F, [FD, P, I, I, outf(256), N]),
    s(333, "io_pgetevents", H, [I, I, I, X, X, X]),
    s(334, "rseq", L, [X, I, I, I, N, N]),
    s(335, "uretprobe", H, [N, N, N, N, N, N]),
    s(424, "pidfd_send_signal", F, [FD, I, inf(128), I, N, N]),
    s(425, "io_uring_setup", H, [I, X, N, N, N, N]),
    s(426, "io_uring_enter", H, [FD, I, I, I, X, I]),
    s(427, "io_uring_register", H, [FD, I, X, I, N, N]),
    s(428, "open_tree", H, [FD, P, I, N, N, N]),
    s(429, "move_mount", H, [FD, P, FD, P, I, N]),
    s(430, "fsopen", H, [P, I, N, N, N, N]),
    s(431, "fsconfig", H, [FD, I, P, X, I, N]),
    s(432, "fsmount", H, [FD, I, I, N, N, N]),
    s(433, "fspick", H, [FD, P, I, N, N, N]),
    s(434, "pidfd_open", F, [I, I, N, N, N, N]),
    s(435, "clone3", H, [ib(1), I, N, N, N, N]),
    s(436, "close_range", F, [I, I, I, N, N, N]),
    s(437, "openat2", F, [FD, P, ib(3), I, N, N]),
    s(438, "pidfd_getfd", F, [FD, I, I, N, N, N]),
    s(439, "faccessat2", F, [FD, P, I, I, N, N]),
    s(440, "process_madvise", H, [FD, X, I, I, I, N]),
    s(441, "epoll_pwait2", F, [FD, oa(2, 12), I, inf(16), mask(5), I]),
    s(442, "mount_setattr", H, [FD, P, I, X, I, N]),
    s(443, "quotactl_fd", H, [FD, I, I, X, N, N]),
    s(444, "landlock_create_ruleset", H, [X, I, I, N, N, N]),
    s(445, "landlock_add_rule", H, [FD, I, X, I, N, N]),
    s(446, "landlock_restrict_self", H, [FD, I, N, N, N, N]),
    s(447, "memfd_secret", H, [I, N, N, N, N, N]),
    s(448, "process_mrelease", F, [FD, I, N, N, N, N]),
    s(449, "futex_waitv", L, [X, I, I, inf(16), I, N]),
    s(450, "set_mempolicy_home_node", L, [I, I, I, I, N, N]),
    s(451, "cachestat", F, [FD, inf(16), outf(40), I, N, N]),
    s(452, "fchmodat2", F, [FD, P, I, I, N, N]),
    s(453, "map_shadow_stack", L, [I, I, I, N, N, N]),
    s(454, "futex_wake", L, [X, I, I, I, N, N]),
    s(455, "futex_wait", L, [X, I, I, I, inf(16), I]),
    s(456, "futex_requeue", L, [X, I, I, I, N, N]),
    s(457, "statmount", H, [X, X, I, I, N, N]),
    s(458, "listmount", H, [X, X, I, I, N, N]),
    s(459, "lsm_get_self_attr", H, [I, X, X, I, N, N]),
    s(460, "lsm_set_self_attr", H, [I, X, I, I, N, N]),
    s(461, "lsm_list_modules", H, [X, X, I, N, N, N]),
    s(462, "mseal", L, [I, I, I, N, N, N]),
];
