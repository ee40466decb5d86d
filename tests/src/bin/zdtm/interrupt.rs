//! `interrupt`: a signal that arrives where the process runs interrupts
//! a call blocked at home, as it would have at home. Every 100 ms while it
//! waits, wherever it runs: a one-shot 150 ms `ITIMER_REAL` fires while
//! `read` blocks on an empty pipe (home's): with a SIGALRM handler
//! without `SA_RESTART` the read fails with `EINTR` once the handler ran;
//! with `SA_RESTART` and a handler that writes a byte into the pipe, the
//! read is restarted and returns that byte. Neither may take longer than
//! 10 s (without the interrupt the read would never end; a move between
//! may delay it), and the handler runs once each time.

use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::Mutex;

struct State {
    pipe: (i32, i32),
    rounds: super::rounds::Rounds,
}

static STATE: Mutex<Option<State>> = Mutex::new(None);
static ALRM: AtomicU64 = AtomicU64::new(0);
/// The pipe's write end, for the restarting handler.
static WRITE_END: AtomicI32 = AtomicI32::new(-1);

extern "C" fn count(_: libc::c_int) {
    ALRM.fetch_add(1, Ordering::SeqCst);
}

extern "C" fn count_and_write(_: libc::c_int) {
    ALRM.fetch_add(1, Ordering::SeqCst);
    let b = [b'x'];
    // SAFETY: write is async-signal-safe; the descriptor is the pipe's.
    unsafe { libc::write(WRITE_END.load(Ordering::SeqCst), b.as_ptr().cast(), 1) };
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Installs `handler` for SIGALRM, with `SA_RESTART` if `restart`.
fn on_alarm(handler: extern "C" fn(libc::c_int), restart: bool) {
    // SAFETY: a zeroed sigaction is valid; the handlers only touch atomics
    // and write(2).
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = handler as usize;
        sa.sa_flags = if restart { libc::SA_RESTART } else { 0 };
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGALRM, &sa, std::ptr::null_mut());
    }
}

fn arm_150ms() {
    let it = libc::itimerval { it_interval: libc::timeval { tv_sec: 0, tv_usec: 0 }, it_value: libc::timeval { tv_sec: 0, tv_usec: 150_000 } };
    // SAFETY: a valid itimerval.
    unsafe { libc::setitimer(libc::ITIMER_REAL, &it, std::ptr::null_mut()) };
}

/// What a one-byte `read` on the pipe did with `handler` installed for a
/// SIGALRM due in 150 ms: its result, errno, the byte, how long it took
/// and how often the handler ran.
struct Read {
    n: isize,
    errno: i32,
    byte: u8,
    took: std::time::Duration,
    ran: u64,
}

fn read_with_alarm(st: &State, handler: extern "C" fn(libc::c_int), restart: bool) -> Read {
    let mut b = [0u8; 1];
    on_alarm(handler, restart);
    let before = ALRM.load(Ordering::SeqCst);
    let t0 = std::time::Instant::now();
    arm_150ms();
    // SAFETY: one byte of room.
    let n = unsafe { libc::read(st.pipe.0, b.as_mut_ptr().cast(), 1) };
    Read { n, errno: errno(), byte: b[0], took: t0.elapsed(), ran: ALRM.load(Ordering::SeqCst) - before }
}

/// One round; an error message if anything differs.
fn round(st: &State) -> Result<(), String> {
    // Without SA_RESTART: EINTR.
    let r = read_with_alarm(st, count, false);
    if r.n != -1 || r.errno != libc::EINTR || r.ran != 1 || r.took.as_secs_f64() > 10.0 {
        return Err(format!("read with SIGALRM (no SA_RESTART) due in 150 ms gave {} (errno {}) after {:?}, handler ran {} times", r.n, r.errno, r.took, r.ran));
    }
    // With SA_RESTART: the read goes on and gets the handler's byte.
    let r = read_with_alarm(st, count_and_write, true);
    if r.n != 1 || r.byte != b'x' || r.ran != 1 || r.took.as_secs_f64() > 10.0 {
        return Err(format!("read with SIGALRM (SA_RESTART) due in 150 ms gave {} (errno {}, byte {:#x}) after {:?}, handler ran {} times", r.n, r.errno, r.byte, r.took, r.ran));
    }
    Ok(())
}

pub(crate) fn interrupt() -> super::Check {
    let mut p = [0i32; 2];
    // SAFETY: room for two descriptors.
    if unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Box::new(|| Err("pipe2 failed at home".into()));
    }
    WRITE_END.store(p[1], Ordering::SeqCst);
    let mut st = State { pipe: (p[0], p[1]), rounds: Default::default() };
    let first = round(&st);
    st.rounds.record(first);
    *STATE.lock().unwrap_or_else(|e| e.into_inner()) = Some(st);
    Box::new(|| {
        let st = STATE.lock().unwrap_or_else(|e| e.into_inner()).take().ok_or("no state")?;
        st.rounds.verdict()
    })
}

/// One round every 100 ms.
pub(crate) fn tick(n: u64) {
    super::rounds::every_100ms(n, &STATE, |st| {
        let r = round(st);
        st.rounds.record(r);
    });
}
