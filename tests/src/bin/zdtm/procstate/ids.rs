//! `pgid_sid`: process group and session, which belong to the home
//! process tree. Before `READY` the process (started by the harness's
//! shell, so not a group leader) calls `setsid`: it leads a new session
//! and group, both its pid. (Run by a shell with job control, it already
//! leads a group: then `setpgid(0, 0)` and the session it has.) It then
//! forks a child, which stays at home, sleeping, and puts it in a group
//! of its own (`setpgid(child, child)`, the child does the same). Each
//! round, wherever the process runs:
//!
//! * `getpid`, `getppid` (the harness's shell) are as at setup;
//!   `getpgrp`, `getpgid(0)` and `getpgid(getpid())` are the group,
//!   `getsid(0)` and `getsid(getpid())` the session;
//! * `getpgid(child)` is the child's own group and `getsid(child)` the
//!   process's session;
//! * `kill(-group, 0)` succeeds for both groups;
//! * `setsid` fails with `EPERM` (the process leads its group);
//! * `/proc/self/stat` shows the parent, group and session, and
//!   `/proc/CHILD/stat` the child's parent (the process), group and
//!   session, and a state other than dead (a killed child would keep its
//!   ids until reaped).
//!
//! The check kills the child and reaps it: it must have died of that
//! SIGKILL, not before.

use super::{errno, same, setup_failed, stat_fields, Slot};

struct Ids {
    pid: libc::pid_t,
    ppid: libc::pid_t,
    pgid: libc::pid_t,
    sid: libc::pid_t,
    child: libc::pid_t,
}

static IDS: Slot<Ids> = Slot::new(None);

pub(crate) fn pgid_sid() -> super::Check {
    // SAFETY: plain system calls with no memory arguments.
    let (pid, ppid) = unsafe { (libc::getpid(), libc::getppid()) };
    // SAFETY: as above.
    if unsafe { libc::setsid() } < 0 {
        // Already a group leader: make sure, and keep its session.
        // SAFETY: as above.
        if errno() != libc::EPERM || unsafe { libc::setpgid(0, 0) } != 0 {
            setup_failed("setsid and setpgid");
        }
    }
    // SAFETY: as above.
    let (pgid, sid) = unsafe { (libc::getpgrp(), libc::getsid(0)) };
    if pgid != pid {
        eprintln!("group {pgid} after setsid/setpgid, not {pid}");
        std::process::exit(2);
    }
    // SAFETY: the child makes only system calls (no allocation, no locks)
    // until it is killed.
    let child = unsafe { libc::fork() };
    if child < 0 {
        setup_failed("fork");
    }
    if child == 0 {
        // SAFETY: async-signal-safe calls only; the child never returns.
        unsafe {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            if libc::getppid() != pid {
                libc::_exit(1);
            }
            libc::setpgid(0, 0);
            loop {
                libc::pause();
            }
        }
    }
    // Parent and child both make the child's group, whichever runs first.
    // SAFETY: a plain system call on our own child.
    if unsafe { libc::setpgid(child, child) } != 0 {
        setup_failed("setpgid(child, child)");
    }
    super::start(&IDS, Ids { pid, ppid, pgid, sid, child }, round, |st| {
        // SAFETY: our own child, killed and then reaped.
        unsafe { libc::kill(st.child, libc::SIGKILL) };
        let mut status = 0;
        // SAFETY: `status` is valid for writes.
        let r = unsafe { libc::waitpid(st.child, &mut status, 0) };
        let killed = libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGKILL;
        if r != st.child || !killed {
            return Err(format!("the child {}: waitpid gave {r}, status {status:#x}, not killed by SIGKILL", st.child));
        }
        Ok(())
    })
}

fn round(st: &mut Ids) -> Result<(), String> {
    let (pid, child) = (st.pid, st.child);
    // SAFETY: plain system calls with no memory arguments.
    let ids = unsafe {
        (
            libc::getpid(),
            libc::getppid(),
            libc::getpgrp(),
            libc::getpgid(0),
            libc::getpgid(pid),
            libc::getsid(0),
            libc::getsid(pid),
        )
    };
    same(
        "getpid, getppid, getpgrp, getpgid(0), getpgid(pid), getsid(0), getsid(pid)",
        ids,
        (pid, st.ppid, st.pgid, st.pgid, st.pgid, st.sid, st.sid),
    )?;
    // SAFETY: as above.
    let theirs = unsafe { (libc::getpgid(child), libc::getsid(child)) };
    same("the child's getpgid, getsid", theirs, (child, st.sid))?;
    for g in [st.pgid, child] {
        // SAFETY: signal 0: only checks that the group exists.
        if unsafe { libc::kill(-g, 0) } != 0 {
            return Err(format!("kill(-{g}, 0): errno {}", errno()));
        }
    }
    // SAFETY: fails, changing nothing, for a group leader.
    let r = unsafe { libc::setsid() };
    same(
        "setsid by a group leader (result, errno)",
        (r, if r < 0 { errno() } else { 0 }),
        (-1, libc::EPERM),
    )?;
    let (_, f) = stat_fields("/proc/self/stat")?;
    let want = [st.ppid, st.pgid, st.sid].map(|v| v.to_string());
    same("/proc/self/stat parent, group, session", f.get(1..4), Some(&want[..]))?;
    let (_, f) = stat_fields(&format!("/proc/{child}/stat"))?;
    let want = [pid, child, st.sid].map(|v| v.to_string());
    same("/proc/CHILD/stat parent, group, session", f.get(1..4), Some(&want[..]))?;
    // A dead child keeps its ids until it is reaped: it must be alive.
    if matches!(f[0].as_str(), "Z" | "X" | "x") {
        return Err(format!("the child {child} is dead (state {})", f[0]));
    }
    Ok(())
}

pub(crate) fn tick(n: u64) {
    super::tick(n, &IDS, round);
}
