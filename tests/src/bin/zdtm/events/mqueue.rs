//! `mqueue`: a POSIX message queue filled at home before `READY`, used
//! every 100 ms wherever the process runs and drained after the moves.
//! The module doc of `events` describes it.

use super::super::rounds::{every_100ms, Rounds};
use super::super::Check;
use super::{put, setup_failed, sys, take};
use std::ffi::CString;
use std::sync::Mutex;

const MAXMSG: i64 = 8;
const MSGSIZE: i64 = 64;

/// The messages queued before `READY`: (priority, bytes).
const BEFORE: [(u32, &[u8]); 6] = [(3, b"three-a"), (1, b"one"), (7, b"seven-a"), (3, b"three-b"), (0, b"zero"), (7, b"seven-b: the last one of 7")];

struct State {
    mq: libc::mqd_t,
    name: CString,
    rounds: Rounds,
}

static STATE: Mutex<Option<State>> = Mutex::new(None);

fn send(mq: libc::mqd_t, prio: u32, data: &[u8]) -> Result<(), String> {
    // SAFETY: `data` is valid for its length.
    sys("mq_send", unsafe { libc::mq_send(mq, data.as_ptr().cast(), data.len(), prio) } as i64).map(drop)
}

/// `mq_receive` into `room` bytes: Ok((priority, bytes)) or Err(errno).
fn receive(mq: libc::mqd_t, room: usize) -> Result<(u32, Vec<u8>), i32> {
    let mut buf = vec![0u8; room];
    let mut prio = u32::MAX;
    // SAFETY: `buf` has `room` bytes; `prio` is written.
    let n = unsafe { libc::mq_receive(mq, buf.as_mut_ptr().cast(), room, &mut prio) };
    if n < 0 {
        return Err(super::errno());
    }
    buf.truncate(n as usize);
    Ok((prio, buf))
}

/// (flags, maxmsg, msgsize, curmsgs).
fn attrs(mq: libc::mqd_t) -> Result<(i64, i64, i64, i64), String> {
    // SAFETY: plain data, filled by the call.
    let mut a: libc::mq_attr = unsafe { std::mem::zeroed() };
    // SAFETY: `a` is a valid mq_attr.
    sys("mq_getattr", unsafe { libc::mq_getattr(mq, &mut a) } as i64)?;
    Ok((a.mq_flags, a.mq_maxmsg, a.mq_msgsize, a.mq_curmsgs))
}

fn show(r: &Result<(u32, Vec<u8>), i32>) -> String {
    match r {
        Ok((p, d)) => format!("priority {p}, {:?}", String::from_utf8_lossy(d)),
        Err(e) => format!("errno {e}"),
    }
}

fn round(mq: libc::mqd_t, r: u64) -> Result<(), String> {
    let nb = libc::O_NONBLOCK as i64;
    let (lo, hi) = (format!("round {r} low"), format!("round {r} high"));
    send(mq, 20, lo.as_bytes())?;
    send(mq, 25, hi.as_bytes())?;
    let a = attrs(mq)?;
    if a != (nb, MAXMSG, MSGSIZE, 8) {
        return Err(format!("round {r}: attributes (flags, max, size, count) {a:?} with two more queued, expected ({nb}, {MAXMSG}, {MSGSIZE}, 8)"));
    }
    // Full: one more would block.
    // SAFETY: one valid byte.
    let (full, e) = (unsafe { libc::mq_send(mq, b"x".as_ptr().cast(), 1, 30) }, super::errno());
    if full != -1 || e != libc::EAGAIN {
        return Err(format!("round {r}: sending to a full queue gave {full} (errno {e}), expected EAGAIN"));
    }
    for (want_p, want) in [(25, hi), (20, lo)] {
        let got = receive(mq, MSGSIZE as usize);
        let want = Ok((want_p, want.into_bytes()));
        if got != want {
            return Err(format!("round {r}: received {}, expected {}", show(&got), show(&want)));
        }
    }
    let a = attrs(mq)?;
    if a.3 != 6 {
        return Err(format!("round {r}: {} messages left, expected 6", a.3));
    }
    Ok(())
}

pub(super) fn mqueue() -> Check {
    let name = CString::new(format!("/zdtm-mq-{}", std::process::id())).unwrap_or_default();
    let setup = || -> Result<libc::mqd_t, String> {
        // SAFETY: plain data; the fields the call reads are set.
        let mut a: libc::mq_attr = unsafe { std::mem::zeroed() };
        a.mq_maxmsg = MAXMSG;
        a.mq_msgsize = MSGSIZE;
        let flags = libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_NONBLOCK | libc::O_CLOEXEC;
        // SAFETY: a valid name and mq_attr.
        let mq = unsafe { libc::mq_open(name.as_ptr(), flags, 0o600 as libc::mode_t, &mut a as *mut libc::mq_attr) };
        sys("mq_open", mq as i64).map_err(|e| super::config_hint(e, "CONFIG_POSIX_MQUEUE"))?;
        for (p, d) in BEFORE {
            send(mq, p, d)?;
        }
        Ok(mq)
    };
    let mq = match setup() {
        Ok(mq) => mq,
        Err(e) => {
            // SAFETY: a valid name.
            unsafe { libc::mq_unlink(name.as_ptr()) };
            return setup_failed(e);
        }
    };
    let mut st = State { mq, name, rounds: Rounds::default() };
    let first = round(mq, 0);
    st.rounds.record(first);
    put(&STATE, st);
    Box::new(|| {
        let st = take(&STATE)?;
        let res = check(&st);
        // SAFETY: a valid name: the queue this test made.
        unsafe { libc::mq_unlink(st.name.as_ptr()) };
        res
    })
}

fn check(st: &State) -> Result<(), String> {
    st.rounds.verdict()?;
    let a = attrs(st.mq)?;
    let want = (libc::O_NONBLOCK as i64, MAXMSG, MSGSIZE, BEFORE.len() as i64);
    if a != want {
        return Err(format!("attributes (flags, max, size, count) {a:?}, expected {want:?}"));
    }
    let small = receive(st.mq, MSGSIZE as usize - 1);
    if small != Err(libc::EMSGSIZE) {
        return Err(format!("receiving into {} bytes gave {}, expected EMSGSIZE", MSGSIZE - 1, show(&small)));
    }
    // Highest priority first; first in, first out within one.
    for k in [2, 5, 0, 3, 1, 4] {
        let got = receive(st.mq, MSGSIZE as usize);
        let want = Ok((BEFORE[k].0, BEFORE[k].1.to_vec()));
        if got != want {
            return Err(format!("received {}, expected {}", show(&got), show(&want)));
        }
    }
    let end = receive(st.mq, MSGSIZE as usize);
    if end != Err(libc::EAGAIN) {
        return Err(format!("the drained queue gave {}, expected EAGAIN", show(&end)));
    }
    Ok(())
}

pub(super) fn tick(n: u64) {
    every_100ms(n, &STATE, |st| {
        let r = round(st.mq, st.rounds.count);
        st.rounds.record(r);
    });
}
