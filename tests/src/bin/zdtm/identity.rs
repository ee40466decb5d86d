//! `identity`: who the process is, as it asks while it waits (every
//! 100 ms, wherever it runs): `uname` (node name, release, version,
//! machine), `getpid`, `getppid`, the ids and groups, `RLIMIT_NOFILE`, and
//! the `Pid:` line of `/proc/self/status`. Every sample must equal what it
//! saw at home before the moves.

use std::sync::Mutex;

/// What the process saw at setup, the samples taken, and the first
/// difference.
struct State {
    home: String,
    samples: u64,
    differs: Option<String>,
}

static STATE: Mutex<Option<State>> = Mutex::new(None);

fn field(b: &[libc::c_char]) -> String {
    let bytes: Vec<u8> = b.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Everything the test compares, as one line.
fn observe() -> String {
    // SAFETY: a zeroed utsname is valid to fill.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `u` is valid for writes.
    unsafe { libc::uname(&mut u) };
    let mut groups = [0 as libc::gid_t; 64];
    // SAFETY: room for 64 groups.
    let n = unsafe { libc::getgroups(64, groups.as_mut_ptr()) };
    let mut l = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `l` is valid for writes.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) };
    // SAFETY: no arguments.
    let (pid, ppid, uid, gid, euid) = unsafe { (libc::getpid(), libc::getppid(), libc::getuid(), libc::getgid(), libc::geteuid()) };
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let proc_pid = status.lines().find(|l| l.starts_with("Pid:")).unwrap_or("").split_whitespace().nth(1).unwrap_or("").to_string();
    format!(
        "uname {} {} {} {}; pid {pid} ppid {ppid} /proc pid {proc_pid}; uid {uid} gid {gid} euid {euid}; groups {:?}; nofile {} {}",
        field(&u.nodename),
        field(&u.release),
        field(&u.version),
        field(&u.machine),
        &groups[..n.max(0) as usize],
        l.rlim_cur,
        l.rlim_max
    )
}

pub(crate) fn identity() -> super::Check {
    *STATE.lock().unwrap_or_else(|e| e.into_inner()) = Some(State { home: observe(), samples: 0, differs: None });
    Box::new(|| {
        let st = STATE.lock().unwrap_or_else(|e| e.into_inner()).take().ok_or("no state")?;
        let last = observe();
        match st.differs {
            Some(d) => Err(format!("saw {d}; at home it saw {}", st.home)),
            None if st.samples == 0 => Err("took no sample while waiting".into()),
            None if last != st.home => Err(format!("now {last}; at first {}", st.home)),
            None => Ok(()),
        }
    })
}

/// One sample, every 10th call (the wait loop calls it every 10 ms).
pub(crate) fn tick(n: u64) {
    if n % 10 != 0 {
        return;
    }
    let now = observe();
    let mut g = STATE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(st) = g.as_mut() {
        st.samples += 1;
        if st.differs.is_none() && now != st.home {
            st.differs = Some(now);
        }
    }
}
