//! zdtm tests of event descriptors and IPC: eventfd, timerfd, signalfd,
//! inotify, epoll, System V IPC, POSIX message queues and pidfds. Every
//! descriptor and IPC object is made at home before `READY`; the tests
//! that tick use them every 100 ms while they wait, wherever the process
//! runs, and each round must give exactly what it would at home.
//!
//! * `eventfd` — an eventfd whose counter was raised to 0x1234_5678_9ac0
//!   (two writes) and an `EFD_SEMAPHORE` one started at 5 and raised by 2
//!   before `READY`: after the moves `/proc/self/fdinfo` shows both
//!   counters (and the semaphore flag, where the kernel shows it), one
//!   read of the first gives the whole count and the next `EAGAIN`, and
//!   the semaphore gives 1 seven times, then `EAGAIN`. Every 100 ms, on
//!   two other eventfds: `poll` sees one not readable but writable, two
//!   writes are summed by one read, a write of 2^64 − 1 fails with
//!   `EINVAL`, one that would pass the largest count (2^64 − 2) with
//!   `EAGAIN` and the count stays; a semaphore eventfd raised by n
//!   (3..=6) gives 1 n times, then `EAGAIN`.
//! * `timerfd` — a periodic CLOCK_MONOTONIC timerfd (50 ms) and a
//!   one-shot CLOCK_REALTIME one an hour away, both armed before `READY`.
//!   Every 100 ms the periodic one is read (nonblocking) and its
//!   expirations counted; on a third timerfd an absolute CLOCK_MONOTONIC
//!   time 30 s from the process's own clock shows 22..=38 s remaining
//!   (the remote's clock continues home's, within what its drift allows),
//!   and a relative 20 ms one-shot ends a blocking `read` with exactly
//!   one expiration within 10 s and is disarmed after. After the moves
//!   the periodic one counted between a quarter and twice (+2) of the
//!   time elapsed / 50 ms, still has its 50 ms interval and at most 50 ms
//!   to go; the one-shot has no interval and an hour minus the elapsed
//!   time (±5 s) to go.
//! * `signalfd` — SIGUSR1, SIGUSR2 and SIGRTMIN+3 blocked and a signalfd
//!   for them; before `READY`: SIGUSR1 sent twice with `kill` (a standard
//!   signal is pending once), SIGUSR2 with `sigqueue` and a value, and
//!   SIGRTMIN+3 queued three times with values. After the moves: exactly
//!   those three are pending, and reading the signalfd gives each once
//!   (SIGRTMIN+3 three times, in order) with its `ssi_code` (`SI_USER`,
//!   `SI_QUEUE`), `ssi_pid`, `ssi_uid` and `ssi_int`/`ssi_ptr`; then
//!   nothing is pending.
//! * `signalfd_live` — the same while it waits: every 100 ms, with
//!   SIGUSR1 and SIGUSR2 blocked, `kill` sends itself SIGUSR1 and
//!   `sigqueue` SIGUSR2 with the round's value; the signalfd (made at
//!   home) gives exactly these two, with code, pid, uid and value, and
//!   nothing more.
//! * `inotify` — a watch on a directory under /tmp: every 100 ms a file is
//!   created, written, closed, `chmod`ed, renamed and unlinked in it;
//!   `FIONREAD` and one read give exactly the eight events (`IN_CREATE`,
//!   `IN_OPEN`, `IN_MODIFY`, `IN_CLOSE_WRITE`, `IN_ATTRIB`,
//!   `IN_MOVED_FROM`/`IN_MOVED_TO` with one new nonzero cookie,
//!   `IN_DELETE`), each with the watch's descriptor and its name, and
//!   exactly the bytes `FIONREAD` announced. A second instance watching
//!   two files under /tmp holds the four events made before `READY`
//!   (`IN_ATTRIB` of one; `IN_MODIFY`, `IN_CLOSE_WRITE`, `IN_ATTRIB` of
//!   the other), unread across the moves; `inotify_rm_watch` at the end
//!   gives `IN_IGNORED`. Needs `CONFIG_INOTIFY_USER`.
//! * `epoll` — an epoll instance with three pipes' read ends and an
//!   eventfd, each with its own 64-bit `data`: A level-triggered and kept
//!   readable, B `EPOLLET`, C `EPOLLONESHOT` (fired and so disarmed
//!   before `READY`, with a byte left in it), E level-triggered. Every
//!   100 ms `epoll_wait` (timeout 0) returns exactly A, twice; after a
//!   write to B, A and B, then A alone (edge consumed though B still
//!   holds data); after an eventfd write A and E, twice, until it is
//!   read; C stays silent until `EPOLL_CTL_MOD` re-arms it, then A and C
//!   once. After the moves one more such round passes, `EPOLL_CTL_ADD` of
//!   a registered descriptor gives `EEXIST`, A and C still hold their
//!   byte each, and once drained nothing is ready.
//! * `sysv_msg` — a System V message queue holding six messages of types
//!   1..=4 (one of 4000 bytes) queued before `READY`: after the moves
//!   `IPC_STAT` shows six messages, their bytes, the sender and mode 0600,
//!   and `msgrcv` by type (2, 2, −2, 0, type 4 into too small a buffer:
//!   `E2BIG` and it stays, `MSG_EXCEPT` 3, 0) gives each message's type
//!   and content in the order System V defines; then `ENOMSG`, and the
//!   process is the last receiver; the queue is removed (`IPC_RMID`).
//! * `sysv_sem` — a System V set of four semaphores set to 3, 0, 7, 32767
//!   (`SETALL`) and then raised by `semop` (+2 on the second) before
//!   `READY`: after the moves `GETALL`, `GETVAL`, `GETPID` (the process),
//!   `GETNCNT`, `GETZCNT` and `IPC_STAT` (4 semaphores, mode 0600) are as
//!   set; an atomic two-operation `semop` applies, one that would take a
//!   semaphore below zero and a wait-for-zero on a nonzero value fail
//!   with `EAGAIN` (`IPC_NOWAIT`) and change nothing, a wait-for-zero on
//!   zero succeeds; `SETVAL` above 32767 gives `ERANGE`; the set is
//!   removed.
//! * `sysv_shm` — a System V shared memory segment (3 pages + 100 bytes)
//!   attached twice, read-write and `SHM_RDONLY`, filled with a pattern
//!   before `READY`: after the moves both attachments show every byte
//!   (and zeroes to the end of the last page), `/proc/self/maps` gives
//!   them `rw-s` and `r--s`, a write through one is seen through the
//!   other, and `IPC_STAT` shows the size, two attachments, the creator
//!   and the last to attach; after both are detached none is left, and
//!   the segment is removed. A process with writable shared memory is
//!   refused a move (`roamctl why`), so the harness sees no move here:
//!   this test is on its own so that no other is affected.
//!
//!   While they wait, every 100 ms wherever they run, `sysv_msg` sends a
//!   message of type 9 (its bytes depend on the round), sees it counted
//!   by `IPC_STAT`, gets `E2BIG` for a 10-byte buffer and then the whole
//!   message, then `ENOMSG`; `sysv_sem` raises and lowers the third
//!   semaphore (`GETVAL` and `GETPID` see the step), and a `semtimedop`
//!   waiting 30 ms for zero on the second times out with `EAGAIN`. These
//!   calls are forwarded home (`docs/syscalls.md`), and the harness fails
//!   a process that leaves the node it was sent to while it waits, so a
//!   call that brought it home would fail the test.
//! * `mqueue` — a POSIX message queue (`/zdtm-mq-PID`, `O_NONBLOCK`, 8
//!   messages of 64 bytes at most) holding six messages of priorities 3,
//!   1, 7, 3, 0, 7 queued before `READY`. Every 100 ms two more
//!   (priorities 20 and 25) make `mq_getattr` count 8, a ninth gives
//!   `EAGAIN` (full), `mq_receive` gives the priority-25 one, then the 20
//!   one (content and priority), and 6 are left. After the moves: the
//!   attributes are as set, a receive into too small a buffer gives
//!   `EMSGSIZE`, and the six come out by priority, first in first out
//!   within one (7, 7, 3, 3, 1, 0), each with its bytes; then `EAGAIN`;
//!   the queue is unlinked. Needs `CONFIG_POSIX_MQUEUE` (not the
//!   `/dev/mqueue` mount).
//! * `pidfd` — a child forked at home (it waits in `sigtimedwait`) and a
//!   `pidfd_open` of it before `READY`: every 100 ms `poll` shows the
//!   pidfd not readable, and `pidfd_send_signal` sends the child SIGUSR1,
//!   alternately without a `siginfo` (the child sees `SI_USER` from the
//!   process's pid and uid) and with an `SI_QUEUE` one carrying the
//!   round's value; the child reports what it got through a pipe (within
//!   10 s). After the moves the pidfd's fdinfo names the child; SIGUSR2
//!   with value 7 makes the child exit with status 7, the pidfd becomes
//!   readable, and `waitid(P_PIDFD)` reaps it (`SIGCHLD`, `CLD_EXITED`,
//!   its pid, status 7); then fdinfo shows `Pid: -1` and another `waitid`
//!   gives `ECHILD`. The child dies with the process (`PR_SET_PDEATHSIG`)
//!   and by itself after 600 s without a signal.

mod epoll;
mod inotify;
mod mqueue;
mod pidfd;
mod signalfd;
mod sysv;

use super::rounds::{every_100ms, Rounds};
use super::{now_ns, Check, Group};
use std::sync::Mutex;

pub(crate) const GROUP: Group = Group {
    tests: &[
        ("eventfd", eventfd),
        ("timerfd", timerfd),
        ("signalfd", signalfd::signalfd),
        ("inotify", inotify::inotify),
        ("epoll", epoll::epoll),
        ("sysv_msg", sysv::msg),
        ("sysv_sem", sysv::sem),
        ("mqueue", mqueue::mqueue),
        ("pidfd", pidfd::pidfd),
    ],
    busy: &[],
    ticks: &[
        ("eventfd", eventfd_tick),
        ("timerfd", timerfd_tick),
        ("signalfd_live", signalfd::tick),
        ("inotify", inotify::tick),
        ("epoll", epoll::tick),
        ("mqueue", mqueue::tick),
        ("sysv_msg", sysv::msg_tick),
        ("sysv_sem", sysv::sem_tick),
        ("pidfd", pidfd::tick),
    ],
    known: &[("signalfd_live", signalfd::live)],
    stays: &[("sysv_shm", sysv::shm)],
};

pub(super) fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// `r` if the call succeeded (not negative), else what failed and why.
pub(super) fn sys(what: &str, r: i64) -> Result<i64, String> {
    if r < 0 {
        Err(format!("{what}: {}", std::io::Error::last_os_error()))
    } else {
        Ok(r)
    }
}

/// `e`, naming the kernel option a missing system call (`ENOSYS`) needs.
pub(super) fn config_hint(e: String, option: &str) -> String {
    if e.ends_with(&format!("(os error {})", libc::ENOSYS)) {
        format!("{e} (the kernel lacks {option})")
    } else {
        e
    }
}

/// The check of a test whose setup failed at home.
pub(super) fn setup_failed(e: String) -> Check {
    Box::new(move || Err(format!("setup at home: {e}")))
}

/// A signal set holding `sigs`.
pub(super) fn sigset(sigs: &[i32]) -> libc::sigset_t {
    // SAFETY: sigset_t is plain data; the libc calls fill it.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid sigset_t.
    unsafe { libc::sigemptyset(&mut set) };
    for &s in sigs {
        // SAFETY: as above.
        unsafe { libc::sigaddset(&mut set, s) };
    }
    set
}

/// Blocks `sigs` for this (only) thread.
pub(super) fn block(sigs: &[i32]) -> Result<(), String> {
    let set = sigset(sigs);
    // SAFETY: a valid set; the old mask is not asked for.
    sys("sigprocmask", unsafe { libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) } as i64).map(drop)
}

/// The text of `/proc/self/fdinfo/FD`.
pub(super) fn fdinfo(fd: i32) -> Result<String, String> {
    std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")).map_err(|e| format!("/proc/self/fdinfo/{fd}: {e}"))
}

/// The value of field `name` (with its colon) in an fdinfo text.
pub(super) fn field<'a>(info: &'a str, name: &str) -> Option<&'a str> {
    info.lines().find_map(|l| l.strip_prefix(name)).map(str::trim)
}

/// Takes a test's state out of its slot for the check.
pub(super) fn take<S>(slot: &Mutex<Option<S>>) -> Result<S, String> {
    slot.lock().unwrap_or_else(|e| e.into_inner()).take().ok_or_else(|| "no state".to_string())
}

/// Stores a test's state for its ticks and check.
pub(super) fn put<S>(slot: &Mutex<Option<S>>, s: S) {
    *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(s);
}

// ---------------------------------------------------------------- eventfd

struct Efd {
    /// Raised to `EFD_COUNT` before `READY`.
    counter: i32,
    /// `EFD_SEMAPHORE`, 7 before `READY`.
    sem: i32,
    /// The ones the rounds use.
    live: i32,
    live_sem: i32,
    rounds: Rounds,
}

static EFD: Mutex<Option<Efd>> = Mutex::new(None);
const EFD_COUNT: u64 = 0x1234_5678_9abc + 4;
const EFD_SEM: u64 = 7;
const EFD_MAX: u64 = u64::MAX - 1;

/// Reads an eventfd: Ok(Some(value)), Ok(None) on `EAGAIN`.
fn efd_read(fd: i32) -> Result<Option<u64>, String> {
    let mut v = 0u64;
    // SAFETY: eight bytes of room.
    let n = unsafe { libc::read(fd, (&mut v as *mut u64).cast(), 8) };
    match n {
        8 => Ok(Some(v)),
        -1 if errno() == libc::EAGAIN => Ok(None),
        _ => Err(format!("eventfd read gave {n} (errno {})", errno())),
    }
}

/// Writes `v` to an eventfd: Ok, or the errno.
fn efd_write(fd: i32, v: u64) -> Result<(), i32> {
    // SAFETY: eight bytes.
    let n = unsafe { libc::write(fd, (&v as *const u64).cast(), 8) };
    if n == 8 {
        Ok(())
    } else {
        Err(errno())
    }
}

fn revents(fd: i32) -> Result<i16, String> {
    let mut p = libc::pollfd { fd, events: libc::POLLIN | libc::POLLOUT, revents: 0 };
    // SAFETY: one valid pollfd.
    sys("poll", unsafe { libc::poll(&mut p, 1, 0) } as i64)?;
    Ok(p.revents)
}

fn eventfd() -> Check {
    let setup = || -> Result<Efd, String> {
        let flags = libc::EFD_NONBLOCK | libc::EFD_CLOEXEC;
        // SAFETY: plain eventfd calls.
        let (counter, sem, live, live_sem) = unsafe {
            (libc::eventfd(0, flags), libc::eventfd(5, flags | libc::EFD_SEMAPHORE), libc::eventfd(0, flags), libc::eventfd(0, flags | libc::EFD_SEMAPHORE))
        };
        for fd in [counter, sem, live, live_sem] {
            sys("eventfd", fd as i64)?;
        }
        let w = |fd, v| efd_write(fd, v).map_err(|e| format!("eventfd write: errno {e}"));
        w(counter, 0x1234_5678_9abc)?;
        w(counter, 4)?;
        w(sem, 2)?;
        Ok(Efd { counter, sem, live, live_sem, rounds: Rounds::default() })
    };
    let mut st = match setup() {
        Ok(s) => s,
        Err(e) => return setup_failed(e),
    };
    let first = efd_round(&st, 0);
    st.rounds.record(first);
    put(&EFD, st);
    Box::new(|| {
        let st = take(&EFD)?;
        st.rounds.verdict()?;
        for (fd, want, semaphore) in [(st.counter, EFD_COUNT, "0"), (st.sem, EFD_SEM, "1")] {
            let info = fdinfo(fd)?;
            let count = field(&info, "eventfd-count:").and_then(|v| u64::from_str_radix(v, 16).ok());
            if count != Some(want) {
                return Err(format!("fdinfo of eventfd {fd}: count {count:x?}, expected {want:x}"));
            }
            if let Some(s) = field(&info, "eventfd-semaphore:") {
                if s != semaphore {
                    return Err(format!("fdinfo of eventfd {fd}: semaphore {s}, expected {semaphore}"));
                }
            }
        }
        let (a, b) = (efd_read(st.counter)?, efd_read(st.counter)?);
        if (a, b) != (Some(EFD_COUNT), None) {
            return Err(format!("eventfd reads gave {a:x?} then {b:x?}, expected {EFD_COUNT:x} then EAGAIN"));
        }
        let mut got = Vec::new();
        while let Some(v) = efd_read(st.sem)? {
            got.push(v);
            if got.len() > 20 {
                break;
            }
        }
        if got != [1; EFD_SEM as usize] {
            return Err(format!("semaphore eventfd reads gave {got:?}, expected 1 seven times then EAGAIN"));
        }
        Ok(())
    })
}

fn efd_round(st: &Efd, r: u64) -> Result<(), String> {
    let ev = revents(st.live)?;
    if ev != libc::POLLOUT {
        return Err(format!("round {r}: empty eventfd polls {ev:#x}, expected POLLOUT only"));
    }
    let w = |fd, v| efd_write(fd, v).map_err(|e| format!("round {r}: eventfd write of {v:#x}: errno {e}"));
    w(st.live, r + 1)?;
    w(st.live, 0xffff_0000)?;
    let ev = revents(st.live)?;
    if ev != libc::POLLIN | libc::POLLOUT {
        return Err(format!("round {r}: eventfd holding a count polls {ev:#x}, expected POLLIN|POLLOUT"));
    }
    let (a, b) = (efd_read(st.live)?, efd_read(st.live)?);
    if (a, b) != (Some(r + 1 + 0xffff_0000), None) {
        return Err(format!("round {r}: reads gave {a:x?} then {b:x?}, expected {:x} then EAGAIN", r + 1 + 0xffff_0000));
    }
    // The limits: 2^64 - 1 is never a count; the largest is 2^64 - 2.
    if efd_write(st.live, u64::MAX) != Err(libc::EINVAL) {
        return Err(format!("round {r}: writing 2^64 - 1 did not fail with EINVAL"));
    }
    w(st.live, EFD_MAX - 10)?;
    let over = efd_write(st.live, 11);
    w(st.live, 10)?;
    let v = efd_read(st.live)?;
    if over != Err(libc::EAGAIN) || v != Some(EFD_MAX) {
        return Err(format!("round {r}: overflowing write gave {over:?} (expected EAGAIN), then count {v:x?} (expected {EFD_MAX:x})"));
    }
    let n = 3 + r % 4;
    w(st.live_sem, n)?;
    let mut got = Vec::new();
    while let Some(v) = efd_read(st.live_sem)? {
        got.push(v);
        if got.len() > 10 {
            break;
        }
    }
    if got != vec![1; n as usize] {
        return Err(format!("round {r}: semaphore eventfd raised by {n} gave {got:?}"));
    }
    Ok(())
}

fn eventfd_tick(n: u64) {
    every_100ms(n, &EFD, |st| {
        let r = efd_round(st, st.rounds.count);
        st.rounds.record(r);
    });
}

// ---------------------------------------------------------------- timerfd

struct Tfd {
    periodic: i32,
    oneshot: i32,
    /// Armed in each round.
    each: i32,
    /// CLOCK_MONOTONIC when the two were armed.
    start: i64,
    /// Expirations of the periodic one read so far.
    expired: u64,
    rounds: Rounds,
}

static TFD: Mutex<Option<Tfd>> = Mutex::new(None);
const MS: i64 = 1_000_000;
const SEC: i64 = 1_000_000_000;
const PERIOD: i64 = 50 * MS;
const HOUR: i64 = 3600 * SEC;

fn ts(ns: i64) -> libc::timespec {
    libc::timespec { tv_sec: ns / SEC, tv_nsec: ns % SEC }
}

fn ns(t: &libc::timespec) -> i64 {
    t.tv_sec * SEC + t.tv_nsec
}

fn tfd_set(fd: i32, flags: i32, value: i64, interval: i64) -> Result<(), String> {
    let it = libc::itimerspec { it_interval: ts(interval), it_value: ts(value) };
    // SAFETY: a valid itimerspec; the old value is not asked for.
    sys("timerfd_settime", unsafe { libc::timerfd_settime(fd, flags, &it, std::ptr::null_mut()) } as i64).map(drop)
}

/// (value, interval) of a timerfd, in ns.
fn tfd_get(fd: i32) -> Result<(i64, i64), String> {
    let mut it = libc::itimerspec { it_interval: ts(0), it_value: ts(0) };
    // SAFETY: room for one itimerspec.
    sys("timerfd_gettime", unsafe { libc::timerfd_gettime(fd, &mut it) } as i64)?;
    Ok((ns(&it.it_value), ns(&it.it_interval)))
}

/// Reads a timerfd: its expirations, 0 on `EAGAIN`.
fn tfd_read(fd: i32) -> Result<u64, String> {
    let mut v = 0u64;
    // SAFETY: eight bytes of room.
    let n = unsafe { libc::read(fd, (&mut v as *mut u64).cast(), 8) };
    match n {
        8 => Ok(v),
        -1 if errno() == libc::EAGAIN => Ok(0),
        _ => Err(format!("timerfd read gave {n} (errno {})", errno())),
    }
}

fn timerfd() -> Check {
    let setup = || -> Result<Tfd, String> {
        let nb = libc::TFD_NONBLOCK | libc::TFD_CLOEXEC;
        // SAFETY: plain timerfd_create calls.
        let (periodic, oneshot, each) = unsafe {
            (
                libc::timerfd_create(libc::CLOCK_MONOTONIC, nb),
                libc::timerfd_create(libc::CLOCK_REALTIME, nb),
                libc::timerfd_create(libc::CLOCK_MONOTONIC, libc::TFD_CLOEXEC),
            )
        };
        for fd in [periodic, oneshot, each] {
            sys("timerfd_create", fd as i64)?;
        }
        let start = now_ns(libc::CLOCK_MONOTONIC);
        tfd_set(periodic, 0, PERIOD, PERIOD)?;
        tfd_set(oneshot, 0, HOUR, 0)?;
        Ok(Tfd { periodic, oneshot, each, start, expired: 0, rounds: Rounds::default() })
    };
    let mut st = match setup() {
        Ok(s) => s,
        Err(e) => return setup_failed(e),
    };
    let first = tfd_round(&mut st);
    st.rounds.record(first);
    put(&TFD, st);
    Box::new(|| {
        let mut st = take(&TFD)?;
        st.rounds.verdict()?;
        st.expired += tfd_read(st.periodic)?;
        let elapsed = now_ns(libc::CLOCK_MONOTONIC) - st.start;
        let expected = (elapsed / PERIOD) as u64;
        if st.expired < expected / 4 || st.expired > 2 * expected + 2 {
            return Err(format!("periodic timerfd expired {} times in {} ms, expected about {expected}", st.expired, elapsed / MS));
        }
        let (value, interval) = tfd_get(st.periodic)?;
        // 0 to go is what the kernel says of a period that has ended but
        // whose expiry it has not handled yet (timerfd_get_remaining
        // clamps the negative rest to 0): a 2026-12-07 run saw it once.
        if interval != PERIOD || value < 0 || value > PERIOD {
            return Err(format!("periodic timerfd: interval {interval} ns, {value} ns to go; expected {PERIOD} and at most that"));
        }
        let (value, interval) = tfd_get(st.oneshot)?;
        let want = HOUR - elapsed;
        if interval != 0 || (value - want).abs() > 5 * SEC {
            return Err(format!("one-shot timerfd: interval {interval} ns, {} ms to go; expected none and {} ms", value / MS, want / MS));
        }
        Ok(())
    })
}

fn tfd_round(st: &mut Tfd) -> Result<(), String> {
    let r = st.rounds.count;
    st.expired += tfd_read(st.periodic).map_err(|e| format!("round {r}: periodic: {e}"))?;
    // An absolute time on the process's own clock.
    let at = now_ns(libc::CLOCK_MONOTONIC) + 30 * SEC;
    tfd_set(st.each, libc::TFD_TIMER_ABSTIME, at, 0)?;
    let (value, interval) = tfd_get(st.each)?;
    if interval != 0 || !(22 * SEC..=38 * SEC).contains(&value) {
        return Err(format!("round {r}: absolute timer 30 s ahead: {} ms to go, interval {interval}", value / MS));
    }
    // A relative 20 ms one: a blocking read waits for it.
    tfd_set(st.each, 0, 20 * MS, 0)?;
    let t0 = now_ns(libc::CLOCK_MONOTONIC);
    let mut v = 0u64;
    // SAFETY: eight bytes of room.
    let n = unsafe { libc::read(st.each, (&mut v as *mut u64).cast(), 8) };
    let took = now_ns(libc::CLOCK_MONOTONIC) - t0;
    if n != 8 || v != 1 || took > 10 * SEC {
        return Err(format!("round {r}: blocking read of a 20 ms timer gave {n} (errno {}), {v} expirations, after {} ms", errno(), took / MS));
    }
    let after = tfd_get(st.each)?;
    if after != (0, 0) {
        return Err(format!("round {r}: expired one-shot timer still armed: {after:?}"));
    }
    Ok(())
}

fn timerfd_tick(n: u64) {
    every_100ms(n, &TFD, |st| {
        let r = tfd_round(st);
        st.rounds.record(r);
    });
}
