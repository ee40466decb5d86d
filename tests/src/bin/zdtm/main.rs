//! Self-checking transparency programs in the style of CRIU's zdtm static
//! tests: each sets up some process state, says `READY`, waits (idle) while
//! the harness migrates it around the cluster, and on SIGTERM checks that
//! the state is exactly what it set up, by content.
//!
//! `zdtm NAME` runs one test: it prints `READY NAME` on stdout once its
//! state is in place, waits for SIGTERM (at most 600 s, sleeping 10 ms at a
//! time: no call that would bring it home), then prints `PASS NAME` and
//! exits 0, or `FAIL NAME: what differs` and exits 1. `zdtm list` prints
//! the names. The harness (`xtask/src/scenarios/`) starts each test on
//! node 1, moves it 1 → 2 → 3 → home and compares with an unmigrated run.
//!
//! Tests:
//! * `mprotect` — a private anonymous region of 10 pages, each filled with
//!   its own pattern and then given its own protection (none, r, rw, rwx,
//!   r-x, twice), plus a separate 3-page mapping that held data and was
//!   then made `PROT_NONE`: every page's bytes and protection survive.
//! * `mprotect_file` — the same over a private mapping of a file: pages
//!   written by the process (copied on write) keep what was written, the
//!   others still read the file's bytes, and each page keeps its
//!   protection.
//! * `sigpending` — signals blocked and pending: SIGUSR1 and SIGUSR2
//!   raised (`tgkill`: the thread's private queue, `SI_TKILL`), SIGHUP and
//!   SIGWINCH sent with `kill` (the process's shared queue, `SI_USER`),
//!   and for SIGRTMIN..=SIGRTMIN+2 three values each with `sigqueue`
//!   (shared, `SI_QUEUE`) and two with `rt_tgsigqueueinfo` (private):
//!   each queue holds exactly its signals (`/proc/self/status`), and
//!   draining them with `rt_sigtimedwait` gives every one once, in queue
//!   order, with its code, value, sender pid and uid.
//! * `monotonic` — CLOCK_MONOTONIC and CLOCK_BOOTTIME, sampled every
//!   10 ms while waiting, never step back.
//!
//! * `timers` — `setitimer` (REAL, VIRTUAL, PROF), a periodic
//!   CLOCK_MONOTONIC POSIX timer signalling SIGRTMIN+1 with a cookie and a
//!   one-shot CLOCK_REALTIME one an hour away: SIGALRM and the periodic
//!   timer keep firing after the moves, every timer signal has `SI_TIMER`
//!   and the cookie, the intervals are as set, the timers keep their ids
//!   and the one-shot timer its remaining time.
//! * `cputimers` — a busy process (its wait spins instead of sleeping)
//!   with ITIMER_VIRTUAL, ITIMER_PROF and a CLOCK_PROCESS_CPUTIME_ID timer
//!   every 10 ms: each counted about one expiry per 10 ms of the CPU time
//!   the process used in all (user, user + system, the CPU clock), so they
//!   counted it wherever it ran; the process and thread CPU clocks never
//!   stepped back, and `getrusage` and `times` agree with the CPU clock,
//!   every 100 ms while it waits (wherever it runs) and at the end.
//! * `identity` — while it waits, every 100 ms wherever it runs: `uname`
//!   (node name, release, version, machine), `getpid`, `getppid`, the ids,
//!   groups and `RLIMIT_NOFILE`, and the `Pid:` of `/proc/self/status`
//!   are what they were at home.
//! * `iovec` — while it waits, every 100 ms: `pwritev`/`preadv` and
//!   `writev`/`readv` of three vectors each, split differently, on a file
//!   at home; every byte comes back.
//! * `sockets` — while it waits, every 100 ms: a TCP connection to its
//!   own listener through `epoll_wait`, `accept4`, `getsockname`,
//!   `getpeername` (also with a short length word), `getsockopt`, `ppoll`
//!   and `select` (a set exactly as long as its count), a UDP datagram
//!   through `sendto`/`recvfrom`, and a `ppoll`/`epoll_pwait` whose mask
//!   unblocks a pending SIGUSR1: EINTR at once, the handler run once.
//! * `interrupt` — while it waits, every 100 ms: a 150 ms `ITIMER_REAL`
//!   (which fires where the process runs) interrupts a `read` blocked on
//!   an empty pipe at home: `EINTR` without `SA_RESTART`; with it, the
//!   read restarts and gets the byte the handler wrote.
//! * `sockmsg` — while it waits, every 100 ms: `sendmsg` gathering three
//!   vectors with a pipe's write end in `SCM_RIGHTS`, `recvmsg` scattering
//!   it over two with the descriptor (`MSG_CMSG_CLOEXEC`) and the
//!   process's own credentials; a truncated datagram's `MSG_TRUNC`; three
//!   datagrams through one `sendmmsg` and one `recvmmsg`; UDP with the
//!   peer's address in `msg_name`.
//!
//! The modules `procstate`, `memory`, `files` and `events` hold 41 more
//! tests in the suite (process attributes; memory, FPU/AVX and signal
//! state; descriptors, pipes, sockets and locks; event descriptors and
//! IPC), each documented in its module. Defects not fixed yet are listed
//! by `zdtm list-known` (runnable by name, not in the cluster suite until
//! they pass): `maps_layout` (a private file area arrives as an anonymous
//! one, and a read-write area next to it comes back split) and `signalfd_live` (a signal sent while away is
//! read from a signalfd at home). `zdtm list-stays` names `sysv_shm`,
//! whose writable shared memory keeps it home by design: the suite checks
//! that its move is refused.

mod events;
mod filemap;
mod files;
mod identity;
mod interrupt;
mod iovec;
mod memory;
mod procstate;
mod rounds;
mod sockets;
mod sockmsg;
mod timers;

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

static TERM: AtomicBool = AtomicBool::new(false);
const PAGE: usize = 4096;
/// A test: its name and its setup, which returns its check.
pub(crate) type Test = (&'static str, fn() -> Check);
/// A test that looks at something each time round the wait loop (every
/// 10 ms; the argument counts the rounds).
pub(crate) type Tick = (&'static str, fn(u64));

/// The tests of one module of the suite.
pub(crate) struct Group {
    pub(crate) tests: &'static [Test],
    /// Tests that keep the CPU busy while they wait, instead of sleeping.
    pub(crate) busy: &'static [&'static str],
    pub(crate) ticks: &'static [Tick],
    /// Tests of defects not fixed yet: runnable by name, not in `list` (so
    /// not in the cluster suite); `zdtm list-known` names them.
    pub(crate) known: &'static [Test],
    /// Tests whose process roam must refuse to move (it keeps writable
    /// memory shared with another process): `zdtm list-stays` names them,
    /// and the cluster suite checks the refusal and that they pass.
    pub(crate) stays: &'static [Test],
}

/// The tests defined in this file and in the older modules.
const CORE: Group = Group {
    tests: &[
        ("mprotect", mprotect_anon),
        ("mprotect_file", mprotect_file),
        ("sigpending", sigpending),
        ("monotonic", monotonic),
        ("timers", timers::timers),
        ("cputimers", timers::cputimers),
        ("identity", identity::identity),
        ("iovec", iovec::iovec),
        ("sockets", sockets::sockets),
        ("interrupt", interrupt::interrupt),
    ],
    busy: &["cputimers"],
    ticks: &[
        ("identity", identity::tick),
        ("iovec", iovec::tick),
        ("sockets", sockets::tick),
        ("interrupt", interrupt::tick),
        ("cputimers", timers::cputimers_tick),
    ],
    known: &[],
    stays: &[],
};

/// The modules whose tests the cluster suite runs, in the order `list`
/// prints them.
const GROUPS: &[&Group] = &[
    &CORE,
    &filemap::GROUP,
    &sockmsg::GROUP,
    &procstate::GROUP,
    &memory::GROUP,
    &files::GROUP,
    &events::GROUP,
];

fn tests() -> impl Iterator<Item = &'static Test> {
    GROUPS.iter().flat_map(|g| g.tests.iter())
}

fn known() -> impl Iterator<Item = &'static Test> {
    GROUPS.iter().flat_map(|g| g.known.iter())
}

fn stays() -> impl Iterator<Item = &'static Test> {
    GROUPS.iter().flat_map(|g| g.stays.iter())
}

/// The largest backward step of CLOCK_MONOTONIC and CLOCK_BOOTTIME seen
/// between two samples of the waiting loop (ns).
static MONO_BACK: AtomicI64 = AtomicI64::new(0);
static BOOT_BACK: AtomicI64 = AtomicI64::new(0);

/// The check a test runs after SIGTERM: Ok, or what differs.
pub(crate) type Check = Box<dyn FnOnce() -> Result<(), String>>;

/// Ok if every part is; otherwise every failure, joined by "; " (so one
/// failure does not hide another that may be its cause).
pub(crate) fn all_ok(parts: &[&Result<(), String>]) -> Result<(), String> {
    let errs: Vec<&str> = parts.iter().filter_map(|r| r.as_ref().err().map(String::as_str)).collect();
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs.join("; "))
    }
}

extern "C" fn on_term(_: libc::c_int) {
    TERM.store(true, Ordering::SeqCst);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let name = args.get(1).map(String::as_str).unwrap_or("");
    if name == "list" || name == "list-known" || name == "list-stays" {
        let names: Vec<&str> = match name {
            "list" => tests().map(|t| t.0).collect(),
            "list-stays" => stays().map(|t| t.0).collect(),
            _ => known().map(|t| t.0).collect(),
        };
        for n in names {
            println!("{n}");
        }
        return;
    }
    let Some((name, setup)) = tests().chain(known()).chain(stays()).find(|(n, _)| *n == name) else {
        eprintln!("usage: zdtm NAME | list | list-known | list-stays");
        std::process::exit(2);
    };
    // SAFETY: installing a handler that only stores to an atomic.
    unsafe { libc::signal(libc::SIGTERM, on_term as extern "C" fn(libc::c_int) as libc::sighandler_t) };
    let check = setup();
    println!("READY {name}");
    let _ = std::io::stdout().flush();
    let mut waited_ms = 0;
    let (mut mono, mut boot) = (now_ns(libc::CLOCK_MONOTONIC), now_ns(libc::CLOCK_BOOTTIME));
    while !TERM.load(Ordering::SeqCst) {
        let (m, b) = (now_ns(libc::CLOCK_MONOTONIC), now_ns(libc::CLOCK_BOOTTIME));
        MONO_BACK.fetch_max(mono - m, Ordering::SeqCst);
        BOOT_BACK.fetch_max(boot - b, Ordering::SeqCst);
        (mono, boot) = (m, b);
        if waited_ms >= 600_000 {
            eprintln!("zdtm {name}: no SIGTERM within 600 s");
            std::process::exit(3);
        }
        if let Some((_, tick)) = GROUPS.iter().flat_map(|g| g.ticks.iter()).find(|(n, _)| n == name) {
            tick(waited_ms / 10);
        }
        if GROUPS.iter().any(|g| g.busy.contains(name)) {
            timers::spin_ms(10);
        } else {
            sleep_ms(10);
        }
        waited_ms += 10;
    }
    match check() {
        Ok(()) => println!("PASS {name}"),
        Err(e) => {
            println!("FAIL {name}: {e}");
            std::process::exit(1);
        }
    }
}

/// Clock `clock` now, in ns.
pub(crate) fn now_ns(clock: libc::clockid_t) -> i64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid timespec to write.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

pub(crate) fn sleep_ms(ms: u64) {
    let ts = libc::timespec { tv_sec: 0, tv_nsec: (ms * 1_000_000) as libc::c_long };
    // SAFETY: plain nanosleep with a valid timespec.
    unsafe { libc::nanosleep(&ts, std::ptr::null_mut()) };
}

/// The protection of page `i` in the patterns of both mprotect tests.
fn prot_of(i: usize) -> i32 {
    [libc::PROT_NONE, libc::PROT_READ, libc::PROT_READ | libc::PROT_WRITE, libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC, libc::PROT_READ | libc::PROT_EXEC][i % 5]
}

/// The byte at offset `off` of page `page` of pattern `seed`.
fn pattern(seed: u64, page: usize, off: usize) -> u8 {
    let mut x = seed ^ ((page as u64) << 32) ^ off as u64;
    x = x.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (x >> 56) as u8
}

fn mmap(len: usize, prot: i32, flags: i32, fd: i32) -> *mut u8 {
    // SAFETY: a fresh mapping the kernel chooses; checked below.
    let p = unsafe { libc::mmap(std::ptr::null_mut(), len, prot, flags, fd, 0) };
    if p == libc::MAP_FAILED {
        eprintln!("mmap: {}", std::io::Error::last_os_error());
        std::process::exit(2);
    }
    p.cast()
}

fn mprotect(addr: *mut u8, len: usize, prot: i32) {
    // SAFETY: `addr..addr+len` is a mapping this program made.
    if unsafe { libc::mprotect(addr.cast(), len, prot) } != 0 {
        eprintln!("mprotect: {}", std::io::Error::last_os_error());
        std::process::exit(2);
    }
}

/// The permissions `/proc/self/maps` shows for the page at `addr` (e.g.
/// `r-xp`).
fn perms_at(maps: &str, addr: usize) -> Option<String> {
    maps.lines().find_map(|l| {
        let (range, rest) = l.split_once(' ')?;
        let (a, b) = range.split_once('-')?;
        let (a, b) = (usize::from_str_radix(a, 16).ok()?, usize::from_str_radix(b, 16).ok()?);
        (a <= addr && addr < b).then(|| rest.split(' ').next().unwrap_or("").to_string())
    })
}

fn perms_of(prot: i32) -> String {
    let r = if prot & libc::PROT_READ != 0 { 'r' } else { '-' };
    let w = if prot & libc::PROT_WRITE != 0 { 'w' } else { '-' };
    let x = if prot & libc::PROT_EXEC != 0 { 'x' } else { '-' };
    format!("{r}{w}{x}p")
}

/// Checks that page `i` at `base` has protection `prot_of(i)` and holds
/// `want(offset)`; makes it readable to look, then restores it.
fn check_page(maps: &str, base: *mut u8, i: usize, prot: i32, want: impl Fn(usize) -> u8) -> Result<(), String> {
    // SAFETY: page `i` lies inside the mapping at `base`.
    let p = unsafe { base.add(i * PAGE) };
    let seen = perms_at(maps, p as usize).ok_or_else(|| format!("page {i}: not mapped"))?;
    if seen != perms_of(prot) {
        return Err(format!("page {i}: protection {seen}, expected {}", perms_of(prot)));
    }
    mprotect(p, PAGE, libc::PROT_READ);
    // SAFETY: the page is mapped and now readable.
    let bytes = unsafe { std::slice::from_raw_parts(p, PAGE) };
    let bad = (0..PAGE).find(|&o| bytes[o] != want(o));
    mprotect(p, PAGE, prot);
    match bad {
        Some(o) => Err(format!("page {i}: data corrupted at offset {o}: {:#04x}, expected {:#04x}", bytes[o], want(o))),
        None => Ok(()),
    }
}

fn mprotect_anon() -> Check {
    const N: usize = 10;
    const NONE_PAGES: usize = 3;
    let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
    let rw = libc::PROT_READ | libc::PROT_WRITE;
    let base = mmap(N * PAGE, rw, flags, -1);
    let hidden = mmap(NONE_PAGES * PAGE, rw, flags, -1);
    for i in 0..N {
        for o in 0..PAGE {
            // SAFETY: inside the fresh rw mapping.
            unsafe { *base.add(i * PAGE + o) = pattern(1, i, o) };
        }
        // SAFETY: page `i` lies inside the mapping at `base`.
        mprotect(unsafe { base.add(i * PAGE) }, PAGE, prot_of(i));
    }
    for i in 0..NONE_PAGES {
        for o in 0..PAGE {
            // SAFETY: inside the fresh rw mapping.
            unsafe { *hidden.add(i * PAGE + o) = pattern(2, i, o) };
        }
    }
    mprotect(hidden, NONE_PAGES * PAGE, libc::PROT_NONE);
    let (b, h) = (base as usize, hidden as usize);
    Box::new(move || {
        let maps = std::fs::read_to_string("/proc/self/maps").map_err(|e| format!("/proc/self/maps: {e}"))?;
        for i in 0..N {
            check_page(&maps, b as *mut u8, i, prot_of(i), |o| pattern(1, i, o))?;
        }
        for i in 0..NONE_PAGES {
            check_page(&maps, h as *mut u8, i, libc::PROT_NONE, |o| pattern(2, i, o)).map_err(|e| format!("PROT_NONE mapping: {e}"))?;
        }
        Ok(())
    })
}

fn mprotect_file() -> Check {
    const N: usize = 10;
    let path = format!("/tmp/zdtm-mprotect-{}.dat", std::process::id());
    let mut data = vec![0u8; N * PAGE];
    for i in 0..N {
        for o in 0..PAGE {
            data[i * PAGE + o] = pattern(3, i, o);
        }
    }
    if let Err(e) = std::fs::write(&path, &data) {
        eprintln!("{path}: {e}");
        std::process::exit(2);
    }
    let f = std::fs::File::open(&path).unwrap_or_else(|e| {
        eprintln!("{path}: {e}");
        std::process::exit(2)
    });
    use std::os::fd::AsRawFd;
    let base = mmap(N * PAGE, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_PRIVATE, f.as_raw_fd());
    drop(f);
    let _ = std::fs::remove_file(&path);
    // Even pages are written (copied on write); odd ones keep the file's.
    let written = |i: usize| i % 2 == 0;
    for i in (0..N).filter(|&i| written(i)) {
        for o in 0..PAGE {
            // SAFETY: inside the rw private mapping.
            unsafe { *base.add(i * PAGE + o) = pattern(4, i, o) };
        }
    }
    for i in 0..N {
        // SAFETY: page `i` lies inside the mapping at `base`.
        mprotect(unsafe { base.add(i * PAGE) }, PAGE, prot_of(i));
    }
    let b = base as usize;
    Box::new(move || {
        let maps = std::fs::read_to_string("/proc/self/maps").map_err(|e| format!("/proc/self/maps: {e}"))?;
        for i in 0..N {
            let seed = if written(i) { 4 } else { 3 };
            check_page(&maps, b as *mut u8, i, prot_of(i), |o| pattern(seed, i, o))?;
        }
        Ok(())
    })
}

/// CLOCK_MONOTONIC and CLOCK_BOOTTIME, sampled every 10 ms while waiting,
/// never step back.
fn monotonic() -> Check {
    Box::new(|| {
        let (m, b) = (MONO_BACK.load(Ordering::SeqCst), BOOT_BACK.load(Ordering::SeqCst));
        if m > 0 || b > 0 {
            return Err(format!("CLOCK_MONOTONIC stepped back {m} ns, CLOCK_BOOTTIME {b} ns"));
        }
        Ok(())
    })
}

/// One signal as `sigpending` sends it and expects it back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Sent {
    signo: i32,
    code: i32,
    /// `si_value` of a queued signal.
    value: Option<usize>,
}

/// The standard signals of `sigpending`, how each is sent, and on which
/// queue it waits (true: shared).
const STD_SIGNALS: [(i32, bool); 4] = [(libc::SIGUSR1, false), (libc::SIGHUP, true), (libc::SIGUSR2, false), (libc::SIGWINCH, true)];

/// The real-time signals of `sigpending` and the values queued with
/// each: private ones (sent second) get the lower values, since a
/// thread's private queue is drained before the process's shared one.
fn rt_values(r: i32) -> ([usize; 3], [usize; 2]) {
    let base = 1000 * (r as usize + 1);
    ([base + 3, base + 4, base + 5], [base + 1, base + 2])
}

fn sigpending() -> Check {
    let rt = |r: i32| libc::SIGRTMIN() + r;
    // SAFETY: sigset_t is plain data; the libc calls fill it.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid sigset_t.
    unsafe { libc::sigemptyset(&mut set) };
    let all: Vec<i32> = STD_SIGNALS.iter().map(|s| s.0).chain((0..3).map(rt)).collect();
    for &s in &all {
        // SAFETY: as above.
        unsafe { libc::sigaddset(&mut set, s) };
    }
    // SAFETY: blocks the set for this (only) thread.
    if unsafe { libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) } != 0 {
        eprintln!("sigprocmask: {}", std::io::Error::last_os_error());
        std::process::exit(2);
    }
    // SAFETY: plain system calls.
    let (pid, tid, uid) = unsafe { (libc::getpid(), libc::gettid(), libc::getuid()) };
    let sent = |what: &str, r: libc::c_int| {
        if r != 0 {
            eprintln!("{what}: {}", std::io::Error::last_os_error());
            std::process::exit(2);
        }
    };
    for (s, shared) in STD_SIGNALS {
        // SAFETY: signals to ourselves, blocked.
        sent("kill/raise", unsafe { if shared { libc::kill(pid, s) } else { libc::raise(s) } });
    }
    for r in 0..3 {
        let (shared, private) = rt_values(r);
        for v in shared {
            let value = libc::sigval { sival_ptr: v as *mut libc::c_void };
            // SAFETY: queues a blocked signal to ourselves.
            sent("sigqueue", unsafe { libc::sigqueue(pid, rt(r), value) });
        }
        for v in private {
            // SAFETY: a zeroed siginfo_t is valid; the fields are set below.
            let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
            info.si_signo = rt(r);
            info.si_code = libc::SI_QUEUE;
            // The `_rt` layout: pid, uid, value after signo, errno, code.
            // SAFETY: siginfo_t is 128 bytes; these offsets are inside it.
            unsafe {
                let p = (&mut info as *mut libc::siginfo_t).cast::<u8>();
                p.add(16).cast::<i32>().write_unaligned(pid);
                p.add(20).cast::<u32>().write_unaligned(uid);
                p.add(24).cast::<usize>().write_unaligned(v);
            }
            // SAFETY: rt_tgsigqueueinfo(tgid, tid, sig, &info) to ourselves.
            let r = unsafe { libc::syscall(libc::SYS_rt_tgsigqueueinfo, pid, tid, rt(r), &info) };
            sent("rt_tgsigqueueinfo", r as libc::c_int);
        }
    }
    // What each number should give back, in order: private queue first.
    let mut want: Vec<Sent> = Vec::new();
    for (s, shared) in STD_SIGNALS {
        want.push(Sent { signo: s, code: if shared { libc::SI_USER } else { libc::SI_TKILL }, value: None });
    }
    for r in 0..3 {
        let (shared, private) = rt_values(r);
        for v in private.into_iter().chain(shared) {
            want.push(Sent { signo: rt(r), code: libc::SI_QUEUE, value: Some(v) });
        }
    }
    let bit = |s: i32| 1u64 << (s - 1);
    let private_mask: u64 = STD_SIGNALS.iter().filter(|s| !s.1).map(|s| bit(s.0)).chain((0..3).map(|r| bit(rt(r)))).sum();
    let shared_mask: u64 = STD_SIGNALS.iter().filter(|s| s.1).map(|s| bit(s.0)).chain((0..3).map(|r| bit(rt(r)))).sum();
    Box::new(move || {
        // SAFETY: as above.
        let mut pend: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: `pend` is a valid sigset_t.
        if unsafe { libc::sigpending(&mut pend) } != 0 {
            return Err(format!("sigpending: {}", std::io::Error::last_os_error()));
        }
        let pending: Vec<i32> = (1..=64).filter(|&s| unsafe { libc::sigismember(&pend, s) } == 1).collect();
        let mut expected = all.clone();
        expected.sort();
        if pending != expected {
            return Err(format!("pending signals {pending:?}, expected {expected:?}"));
        }
        let status = std::fs::read_to_string("/proc/self/status").map_err(|e| format!("/proc/self/status: {e}"))?;
        let field = |name: &str| {
            status.lines().find_map(|l| l.strip_prefix(name)).and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        };
        if field("SigPnd:") != Some(private_mask) || field("ShdPnd:") != Some(shared_mask) {
            return Err(format!(
                "queues: private {:x?} shared {:x?}, expected {private_mask:x} and {shared_mask:x}",
                field("SigPnd:"),
                field("ShdPnd:")
            ));
        }
        // Drain: every signal once, each number's in queue order.
        let mut got: Vec<Sent> = Vec::new();
        let zero = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        loop {
            // SAFETY: as above.
            let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
            // The system call itself: the C library's sigtimedwait folds
            // SI_TKILL into SI_USER. SAFETY: valid set, siginfo, timeout
            // and the kernel's sigset size.
            let s = unsafe { libc::syscall(libc::SYS_rt_sigtimedwait, &set, &mut info, &zero, 8usize) } as i32;
            if s < 0 {
                break;
            }
            // SAFETY: the kernel filled `info`; the `_rt`/`_kill` fields sit
            // at 16 (pid) and 20 (uid), the value at 24.
            let (spid, suid, value) = unsafe {
                let p = (&info as *const libc::siginfo_t).cast::<u8>();
                (p.add(16).cast::<i32>().read_unaligned(), p.add(20).cast::<u32>().read_unaligned(), p.add(24).cast::<usize>().read_unaligned())
            };
            if s != info.si_signo || spid != pid || suid != uid {
                return Err(format!("signal {s}: signo {} pid {spid} uid {suid}, expected {s}, {pid}, {uid}", info.si_signo));
            }
            let queued = info.si_code == libc::SI_QUEUE;
            got.push(Sent { signo: s, code: info.si_code, value: queued.then_some(value) });
            if got.len() > want.len() {
                return Err(format!("more signals than were sent: {got:?}"));
            }
        }
        for &s in &all {
            let g: Vec<&Sent> = got.iter().filter(|x| x.signo == s).collect();
            let w: Vec<&Sent> = want.iter().filter(|x| x.signo == s).collect();
            if g != w {
                return Err(format!("signal {s}: got {g:?}, expected {w:?}"));
            }
        }
        if got.len() != want.len() {
            return Err(format!("got {} signals, expected {}: {got:?}", got.len(), want.len()));
        }
        Ok(())
    })
}
