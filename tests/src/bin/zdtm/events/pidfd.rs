//! `pidfd`: a pidfd of a child forked at home, used every 100 ms wherever
//! the process runs (`poll`, `pidfd_send_signal`) and, after the moves,
//! to end and reap the child (`waitid(P_PIDFD)`). The module doc of
//! `events` describes it.

use super::super::rounds::{every_100ms, Rounds};
use super::super::Check;
use super::{fdinfo, field, put, setup_failed, sigset, sys, take};
use std::sync::Mutex;

struct State {
    child: i32,
    pidfd: i32,
    /// The child's reports: (signo, code, pid, uid, value) as five i32s.
    reply: i32,
    rounds: Rounds,
}

static STATE: Mutex<Option<State>> = Mutex::new(None);
const EXIT_STATUS: i32 = 7;
const REPORT: usize = 20;

/// The child: reports every SIGUSR1 it takes; SIGUSR2 ends it with the
/// signal's value as its status. Raw system calls only. It dies with its
/// parent, and by itself after 600 s without a signal.
fn child(reply: i32, parent: i32) -> ! {
    let set = sigset(&[libc::SIGUSR1, libc::SIGUSR2]);
    // SAFETY: plain system calls on this process; `set`, `info` and
    // `report` are valid for what each call reads or writes.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
        if libc::getppid() != parent {
            libc::_exit(98);
        }
        loop {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            let limit = libc::timespec { tv_sec: 600, tv_nsec: 0 };
            let s = libc::syscall(libc::SYS_rt_sigtimedwait, &set, &mut info, &limit, 8usize) as i32;
            if s < 0 {
                if *libc::__errno_location() == libc::EINTR {
                    continue;
                }
                libc::_exit(99);
            }
            let value = info.si_value().sival_ptr as usize as i32;
            if s == libc::SIGUSR2 {
                libc::_exit(value);
            }
            let mut report = [0u8; REPORT];
            for (i, w) in [s, info.si_code, info.si_pid(), info.si_uid() as i32, value].iter().enumerate() {
                report[4 * i..4 * i + 4].copy_from_slice(&w.to_ne_bytes());
            }
            libc::write(reply, report.as_ptr().cast(), REPORT);
        }
    }
}

/// `pidfd_send_signal(pidfd, sig, info, 0)`: with `value`, an `SI_QUEUE`
/// siginfo carrying it (and the process's pid and uid); without, none.
fn send(pidfd: i32, sig: i32, value: Option<i32>) -> Result<(), String> {
    let r = match value {
        None => {
            // SAFETY: no siginfo: the kernel makes an SI_USER one.
            unsafe { libc::syscall(libc::SYS_pidfd_send_signal, pidfd, sig, std::ptr::null::<libc::siginfo_t>(), 0) }
        }
        Some(v) => {
            // SAFETY: a zeroed siginfo_t is valid; the fields are set below.
            let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
            info.si_signo = sig;
            info.si_code = libc::SI_QUEUE;
            // The `_rt` layout: pid, uid, value after signo, errno, code.
            // SAFETY: siginfo_t is 128 bytes; these offsets are inside it;
            // then a plain call with a valid siginfo.
            unsafe {
                let p = (&mut info as *mut libc::siginfo_t).cast::<u8>();
                p.add(16).cast::<i32>().write_unaligned(libc::getpid());
                p.add(20).cast::<u32>().write_unaligned(libc::getuid());
                p.add(24).cast::<usize>().write_unaligned(v as usize);
                libc::syscall(libc::SYS_pidfd_send_signal, pidfd, sig, &info, 0)
            }
        }
    };
    sys("pidfd_send_signal", r).map(drop)
}

/// `poll` on one descriptor for `POLLIN`: its revents (0 if none).
fn poll_in(fd: i32, ms: i32) -> Result<i16, String> {
    let mut p = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid pollfd.
    sys("poll", unsafe { libc::poll(&mut p, 1, ms) } as i64)?;
    Ok(p.revents)
}

fn round(st: &State, r: u64) -> Result<(), String> {
    let ev = poll_in(st.pidfd, 0)?;
    if ev != 0 {
        return Err(format!("round {r}: the live child's pidfd polls {ev:#x}"));
    }
    let value = (r % 2 == 1).then_some(0x2000 + r as i32);
    send(st.pidfd, libc::SIGUSR1, value)?;
    // The child answers at once; a move between may take seconds.
    let ev = poll_in(st.reply, 10_000)?;
    let mut report = [0u8; REPORT];
    // SAFETY: `report` has REPORT bytes of room.
    let n = if ev & libc::POLLIN != 0 { unsafe { libc::read(st.reply, report.as_mut_ptr().cast(), REPORT) } } else { 0 };
    if n != REPORT as isize {
        return Err(format!("round {r}: no report from the child within 10 s (poll {ev:#x}, read {n})"));
    }
    let w = |i: usize| i32::from_ne_bytes([report[4 * i], report[4 * i + 1], report[4 * i + 2], report[4 * i + 3]]);
    let (signo, code, pid, uid, v) = (w(0), w(1), w(2), w(3), w(4));
    // SAFETY: plain calls.
    let (me, my_uid) = unsafe { (libc::getpid(), libc::getuid() as i32) };
    let want_code = if value.is_some() { libc::SI_QUEUE } else { libc::SI_USER };
    let ok = signo == libc::SIGUSR1 && code == want_code && pid == me && uid == my_uid && value.is_none_or(|x| x == v);
    if !ok {
        return Err(format!(
            "round {r}: the child got signal {signo}, code {code}, pid {pid}, uid {uid}, value {v:#x}; expected {}, {want_code}, {me}, {my_uid}, {value:#x?}",
            libc::SIGUSR1
        ));
    }
    Ok(())
}

pub(super) fn pidfd() -> Check {
    let setup = || -> Result<State, String> {
        let mut p = [0i32; 2];
        // SAFETY: room for two descriptors.
        sys("pipe2", unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) } as i64)?;
        // The child takes SIGUSR1 and SIGUSR2 only through sigtimedwait:
        // blocked before the fork, back as they were here after.
        let mut old = sigset(&[]);
        let both = sigset(&[libc::SIGUSR1, libc::SIGUSR2]);
        // SAFETY: valid sets.
        sys("sigprocmask", unsafe { libc::sigprocmask(libc::SIG_BLOCK, &both, &mut old) } as i64)?;
        // SAFETY: a plain call.
        let parent = unsafe { libc::getpid() };
        // SAFETY: this process has one thread; the child makes only raw
        // system calls and never returns.
        let c = unsafe { libc::fork() };
        if c == 0 {
            // SAFETY: closing the read end the child does not use.
            unsafe { libc::close(p[0]) };
            child(p[1], parent);
        }
        // SAFETY: restores the mask; closes the write end the child holds.
        unsafe {
            libc::sigprocmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
            libc::close(p[1]);
        }
        sys("fork", c as i64)?;
        // SAFETY: a plain call.
        let pidfd = sys("pidfd_open", unsafe { libc::syscall(libc::SYS_pidfd_open, c, 0) })? as i32;
        Ok(State { child: c, pidfd, reply: p[0], rounds: Rounds::default() })
    };
    let mut st = match setup() {
        Ok(s) => s,
        Err(e) => return setup_failed(e),
    };
    let first = round(&st, 0);
    st.rounds.record(first);
    put(&STATE, st);
    Box::new(|| {
        let st = take(&STATE)?;
        let res = check(&st);
        if res.is_err() {
            // Leave nothing behind.
            // SAFETY: the child this test forked; reaped if still there.
            unsafe {
                libc::kill(st.child, libc::SIGKILL);
                libc::waitpid(st.child, std::ptr::null_mut(), libc::WNOHANG);
            }
        }
        res
    })
}

fn check(st: &State) -> Result<(), String> {
    let info = fdinfo(st.pidfd)?;
    if field(&info, "Pid:") != Some(st.child.to_string().as_str()) {
        return Err(format!("the pidfd's fdinfo names {:?}, expected {}", field(&info, "Pid:"), st.child));
    }
    st.rounds.verdict()?;
    send(st.pidfd, libc::SIGUSR2, Some(EXIT_STATUS))?;
    let ev = poll_in(st.pidfd, 10_000)?;
    if ev & libc::POLLIN == 0 {
        return Err(format!("the pidfd of a child told to exit polls {ev:#x} after 10 s"));
    }
    // SAFETY: plain data, filled by the call.
    let mut si: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: `si` is a valid siginfo_t; no rusage.
    sys("waitid", unsafe { libc::waitid(libc::P_PIDFD, st.pidfd as libc::id_t, &mut si, libc::WEXITED) } as i64)?;
    // SAFETY: the kernel filled the SIGCHLD fields.
    let (pid, status) = unsafe { (si.si_pid(), si.si_status()) };
    let got = (si.si_signo, si.si_code, pid, status);
    let want = (libc::SIGCHLD, libc::CLD_EXITED, st.child, EXIT_STATUS);
    if got != want {
        return Err(format!("waitid(P_PIDFD) gave (signo, code, pid, status) {got:?}, expected {want:?}"));
    }
    let info = fdinfo(st.pidfd)?;
    if field(&info, "Pid:") != Some("-1") {
        return Err(format!("the reaped child's pidfd fdinfo says Pid {:?}, expected -1", field(&info, "Pid:")));
    }
    // SAFETY: as above.
    let (r, e) = (unsafe { libc::waitid(libc::P_PIDFD, st.pidfd as libc::id_t, &mut si, libc::WEXITED | libc::WNOHANG) }, super::errno());
    if r != -1 || e != libc::ECHILD {
        return Err(format!("a second waitid gave {r} (errno {e}), expected ECHILD"));
    }
    Ok(())
}

pub(super) fn tick(n: u64) {
    every_100ms(n, &STATE, |st| {
        let r = round(st, st.rounds.count);
        st.rounds.record(r);
    });
}
