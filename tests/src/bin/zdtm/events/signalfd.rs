//! `signalfd` (signals made pending before `READY`, read through a
//! signalfd after the moves) and `signalfd_live` (signals sent and read
//! through a signalfd every 100 ms while waiting). The module doc of
//! `events` describes both.

use super::super::rounds::{every_100ms, Rounds};
use super::super::Check;
use super::{block, put, setup_failed, sigset, sys, take};
use std::sync::Mutex;

/// One signal as read from a signalfd, in the fields the tests compare.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Got {
    signo: i32,
    code: i32,
    pid: u32,
    uid: u32,
    /// `ssi_int` and `ssi_ptr` of a queued signal.
    value: Option<(i32, u64)>,
}

/// Everything a nonblocking signalfd holds now, read eight at a time.
fn drain(fd: i32) -> Result<Vec<Got>, String> {
    const SZ: usize = std::mem::size_of::<libc::signalfd_siginfo>();
    let mut out = Vec::new();
    loop {
        // SAFETY: signalfd_siginfo is plain data; zeroes are valid.
        let mut buf: [libc::signalfd_siginfo; 8] = unsafe { std::mem::zeroed() };
        // SAFETY: `buf` has room for eight records.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), SZ * 8) };
        if n < 0 {
            if super::errno() == libc::EAGAIN {
                return Ok(out);
            }
            return Err(format!("signalfd read: {}", std::io::Error::last_os_error()));
        }
        let n = n as usize;
        if n == 0 || !n.is_multiple_of(SZ) {
            return Err(format!("signalfd read gave {n} bytes, not a multiple of {SZ}"));
        }
        for i in &buf[..n / SZ] {
            let queued = i.ssi_code == libc::SI_QUEUE;
            out.push(Got { signo: i.ssi_signo as i32, code: i.ssi_code, pid: i.ssi_pid, uid: i.ssi_uid, value: queued.then_some((i.ssi_int, i.ssi_ptr)) });
        }
        if out.len() > 100 {
            return Err(format!("signalfd keeps giving signals: {out:?}"));
        }
    }
}

fn signalfd_of(sigs: &[i32]) -> Result<i32, String> {
    let set = sigset(sigs);
    // SAFETY: a valid set; a new descriptor.
    let fd = unsafe { libc::signalfd(-1, &set, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC) };
    sys("signalfd", fd as i64).map(|fd| fd as i32)
}

fn sigqueue(pid: i32, sig: i32, v: i32) -> Result<(), String> {
    let value = libc::sigval { sival_ptr: v as usize as *mut libc::c_void };
    // SAFETY: queues a blocked signal to this process.
    sys("sigqueue", unsafe { libc::sigqueue(pid, sig, value) } as i64).map(drop)
}

fn kill_self(pid: i32, sig: i32) -> Result<(), String> {
    // SAFETY: a blocked signal to this process.
    sys("kill", unsafe { libc::kill(pid, sig) } as i64).map(drop)
}

/// The process's pid and uid, as the signals it sends itself carry them.
fn ids() -> (i32, u32) {
    // SAFETY: plain calls.
    unsafe { (libc::getpid(), libc::getuid()) }
}

fn queued(signo: i32, pid: i32, uid: u32, v: i32) -> Got {
    Got { signo, code: libc::SI_QUEUE, pid: pid as u32, uid, value: Some((v, v as u32 as u64)) }
}

fn pending() -> Result<Vec<i32>, String> {
    // SAFETY: plain data, filled below.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid sigset_t.
    sys("sigpending", unsafe { libc::sigpending(&mut set) } as i64)?;
    // SAFETY: `set` is a valid sigset_t.
    Ok((1..=64).filter(|&s| unsafe { libc::sigismember(&set, s) } == 1).collect())
}

/// Signals made pending at home, read after the moves.
pub(super) fn signalfd() -> Check {
    let rt = libc::SIGRTMIN() + 3;
    let sigs = [libc::SIGUSR1, libc::SIGUSR2, rt];
    let (pid, uid) = ids();
    let setup = || -> Result<i32, String> {
        block(&sigs)?;
        let fd = signalfd_of(&sigs)?;
        kill_self(pid, libc::SIGUSR1)?;
        kill_self(pid, libc::SIGUSR1)?;
        sigqueue(pid, libc::SIGUSR2, 0x5eed)?;
        for v in [101, 102, 103] {
            sigqueue(pid, rt, v)?;
        }
        Ok(fd)
    };
    let fd = match setup() {
        Ok(fd) => fd,
        Err(e) => return setup_failed(e),
    };
    let want = [
        Got { signo: libc::SIGUSR1, code: libc::SI_USER, pid: pid as u32, uid, value: None },
        queued(libc::SIGUSR2, pid, uid, 0x5eed),
        queued(rt, pid, uid, 101),
        queued(rt, pid, uid, 102),
        queued(rt, pid, uid, 103),
    ];
    Box::new(move || {
        let p = pending()?;
        let mut expected = sigs.to_vec();
        expected.sort();
        if p != expected {
            return Err(format!("pending signals {p:?}, expected {expected:?}"));
        }
        let got = drain(fd)?;
        // Each number's signals in the order they were sent.
        for s in sigs {
            let g: Vec<&Got> = got.iter().filter(|x| x.signo == s).collect();
            let w: Vec<&Got> = want.iter().filter(|x| x.signo == s).collect();
            if g != w {
                return Err(format!("signal {s} through the signalfd: {g:?}, expected {w:?}"));
            }
        }
        if got.len() != want.len() {
            return Err(format!("the signalfd gave {got:?}, expected {want:?}"));
        }
        let p = pending()?;
        if !p.is_empty() {
            return Err(format!("signals {p:?} still pending after the signalfd was read"));
        }
        Ok(())
    })
}

struct Live {
    fd: i32,
    rounds: Rounds,
}

static LIVE: Mutex<Option<Live>> = Mutex::new(None);

fn live_round(fd: i32, r: u64) -> Result<(), String> {
    let (pid, uid) = ids();
    let before = drain(fd)?;
    if !before.is_empty() {
        return Err(format!("round {r}: the signalfd held {before:?} before anything was sent"));
    }
    let v = 0x1000 + r as i32;
    kill_self(pid, libc::SIGUSR1)?;
    sigqueue(pid, libc::SIGUSR2, v)?;
    let got = drain(fd)?;
    let want = vec![Got { signo: libc::SIGUSR1, code: libc::SI_USER, pid: pid as u32, uid, value: None }, queued(libc::SIGUSR2, pid, uid, v)];
    if got != want {
        return Err(format!("round {r}: the signalfd gave {got:?}, expected {want:?}"));
    }
    Ok(())
}

/// Signals sent and read every 100 ms wherever the process runs.
pub(super) fn live() -> Check {
    let sigs = [libc::SIGUSR1, libc::SIGUSR2];
    let fd = match block(&sigs).and_then(|()| signalfd_of(&sigs)) {
        Ok(fd) => fd,
        Err(e) => return setup_failed(e),
    };
    let mut st = Live { fd, rounds: Rounds::default() };
    let first = live_round(fd, 0);
    st.rounds.record(first);
    put(&LIVE, st);
    Box::new(|| take(&LIVE)?.rounds.verdict())
}

pub(super) fn tick(n: u64) {
    every_100ms(n, &LIVE, |st| {
        let r = live_round(st.fd, st.rounds.count);
        st.rounds.record(r);
    });
}
