//! `epoll`: level-triggered, edge-triggered and one-shot registrations of
//! an epoll instance made at home, exercised every 100 ms wherever the
//! process runs. The module doc of `events` describes it.

use super::super::rounds::{every_100ms, Rounds};
use super::super::Check;
use super::{put, setup_failed, sys, take};
use std::sync::Mutex;

/// Each registration's `data`: distinct in every byte, high bits set.
const A: u64 = 0xa1a2_a3a4_a5a6_a7a8;
const B: u64 = 0xb1b2_b3b4_b5b6_b7b8;
const C: u64 = 0xc1c2_c3c4_c5c6_c7c8;
const E: u64 = 0xe1e2_e3e4_e5e6_e7e8;
const IN: u32 = libc::EPOLLIN as u32;

struct State {
    ep: i32,
    /// Read and write ends of the three pipes.
    a: (i32, i32),
    b: (i32, i32),
    c: (i32, i32),
    efd: i32,
    rounds: Rounds,
}

static STATE: Mutex<Option<State>> = Mutex::new(None);

fn pipe() -> Result<(i32, i32), String> {
    let mut p = [0i32; 2];
    // SAFETY: room for two descriptors.
    sys("pipe2", unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } as i64)?;
    Ok((p[0], p[1]))
}

fn put_byte(fd: i32) -> Result<(), String> {
    // SAFETY: one byte.
    let n = unsafe { libc::write(fd, b"x".as_ptr().cast(), 1) };
    if n != 1 {
        return Err(format!("write to {fd} gave {n} (errno {})", super::errno()));
    }
    Ok(())
}

/// Reads everything a nonblocking descriptor holds; how many bytes.
fn drain(fd: i32) -> usize {
    let mut buf = [0u8; 64];
    let mut total = 0;
    loop {
        // SAFETY: `buf` has its length of room.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            return total;
        }
        total += n as usize;
    }
}

fn ctl(ep: i32, op: i32, fd: i32, events: u32, data: u64) -> Result<(), String> {
    let mut ev = libc::epoll_event { events, u64: data };
    // SAFETY: a valid epoll_event.
    sys("epoll_ctl", unsafe { libc::epoll_ctl(ep, op, fd, &mut ev) } as i64).map(drop)
}

/// What `epoll_wait` (timeout 0) returns now: (data, events), sorted.
fn ready(ep: i32) -> Result<Vec<(u64, u32)>, String> {
    let mut evs = [libc::epoll_event { events: 0, u64: 0 }; 8];
    // SAFETY: room for eight events.
    let n = sys("epoll_wait", unsafe { libc::epoll_wait(ep, evs.as_mut_ptr(), 8, 0) } as i64)? as usize;
    let mut v: Vec<(u64, u32)> = evs[..n].iter().map(|e| (e.u64, e.events)).collect();
    v.sort();
    Ok(v)
}

/// `epoll_wait` must return exactly `want` (data values, each `EPOLLIN`).
fn expect(st: &State, r: u64, step: &str, want: &[u64]) -> Result<(), String> {
    let got = ready(st.ep)?;
    let mut w: Vec<(u64, u32)> = want.iter().map(|&d| (d, IN)).collect();
    w.sort();
    if got != w {
        let show = |v: &[(u64, u32)]| v.iter().map(|(d, e)| format!("{d:#x}/{e:#x}")).collect::<Vec<_>>().join(", ");
        return Err(format!("round {r}, {step}: epoll_wait gave [{}], expected [{}]", show(&got), show(&w)));
    }
    Ok(())
}

fn round(st: &State, r: u64) -> Result<(), String> {
    // At rest: A only (B's edge was consumed, C is disarmed, E is zero).
    expect(st, r, "at rest", &[A])?;
    expect(st, r, "at rest, again", &[A])?;
    // An edge on B: reported once, though B keeps its byte.
    put_byte(st.b.1)?;
    expect(st, r, "after a write to B", &[A, B])?;
    expect(st, r, "B's edge consumed", &[A])?;
    if drain(st.b.0) != 1 {
        return Err(format!("round {r}: B did not hold one byte"));
    }
    // E: level-triggered while the count is nonzero.
    let one = 1u64;
    // SAFETY: eight bytes.
    if unsafe { libc::write(st.efd, (&one as *const u64).cast(), 8) } != 8 {
        return Err(format!("round {r}: eventfd write: errno {}", super::errno()));
    }
    expect(st, r, "after an eventfd write", &[A, E])?;
    expect(st, r, "eventfd still nonzero", &[A, E])?;
    let mut v = 0u64;
    // SAFETY: eight bytes of room.
    let n = unsafe { libc::read(st.efd, (&mut v as *mut u64).cast(), 8) };
    if n != 8 || v != 1 {
        return Err(format!("round {r}: eventfd read gave {n}, value {v}"));
    }
    expect(st, r, "eventfd read", &[A])?;
    // C: one-shot, disarmed with a byte in it until re-armed.
    ctl(st.ep, libc::EPOLL_CTL_MOD, st.c.0, IN | libc::EPOLLONESHOT as u32, C)?;
    expect(st, r, "C re-armed", &[A, C])?;
    expect(st, r, "C fired, disarmed", &[A])?;
    Ok(())
}

pub(super) fn epoll() -> Check {
    let setup = || -> Result<State, String> {
        // SAFETY: plain calls.
        let (ep, efd) = unsafe { (libc::epoll_create1(libc::EPOLL_CLOEXEC), libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC)) };
        sys("epoll_create1", ep as i64)?;
        sys("eventfd", efd as i64)?;
        let (a, b, c) = (pipe()?, pipe()?, pipe()?);
        ctl(ep, libc::EPOLL_CTL_ADD, a.0, IN, A)?;
        ctl(ep, libc::EPOLL_CTL_ADD, b.0, IN | libc::EPOLLET as u32, B)?;
        ctl(ep, libc::EPOLL_CTL_ADD, c.0, IN | libc::EPOLLONESHOT as u32, C)?;
        ctl(ep, libc::EPOLL_CTL_ADD, efd, IN, E)?;
        // A stays readable; C fires once and keeps its byte, disarmed.
        put_byte(a.1)?;
        put_byte(c.1)?;
        let st = State { ep, a, b, c, efd, rounds: Rounds::default() };
        expect(&st, 0, "setup", &[A, C])?;
        Ok(st)
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
        st.rounds.verdict()?;
        let r = st.rounds.count;
        round(&st, r).map_err(|e| format!("after the moves: {e}"))?;
        let mut ev = libc::epoll_event { events: IN, u64: A };
        // SAFETY: a valid epoll_event.
        let (dup, e) = (unsafe { libc::epoll_ctl(st.ep, libc::EPOLL_CTL_ADD, st.a.0, &mut ev) }, super::errno());
        if dup != -1 || e != libc::EEXIST {
            return Err(format!("adding A again gave {dup} (errno {e}), expected EEXIST"));
        }
        // C still holds its byte, A its byte: nothing was lost.
        let (a, c) = (drain(st.a.0), drain(st.c.0));
        if (a, c) != (1, 1) {
            return Err(format!("pipes A and C hold {a} and {c} bytes, expected 1 each"));
        }
        expect(&st, r, "all drained", &[])
    })
}

pub(super) fn tick(n: u64) {
    every_100ms(n, &STATE, |st| {
        let r = round(st, st.rounds.count);
        st.rounds.record(r);
    });
}
