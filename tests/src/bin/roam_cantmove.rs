//! Eligibility ("why can't it migrate?") and locking, on real processes:
//! a plain child can migrate; init, a kernel thread, a multithreaded
//! process and one with writable shared memory cannot, each for its own
//! reason; a locked process cannot until unlocked; other users get EPERM,
//! as does a user acting on a root process that runs with their uid as
//! its effective uid (the rule is ptrace's); a process under seccomp
//! cannot (its filter cannot go with it), nor can one in a pid namespace
//! of its own (its ids mean something only there), nor a traced one, nor
//! one that forbids executable memory (`PR_SET_MDWE`);
//! a pid that does not exist gets ESRCH; exited locked processes are
//! forgotten.

use roam_proto::abi::{cantmove, refusal, Migrate, PidArg, Why, NODE_HOME, ROAM_IOC_LOCK, ROAM_IOC_MIGRATE, ROAM_IOC_UNLOCK, ROAM_IOC_WHY};
use roam_tests::guest::{self, IoctlArg, NOBODY};
use roam_tests::ktap::Ktap;
use std::os::fd::AsRawFd;
use std::process::{Child, Command};
use std::time::Duration;

fn why(pid: u32) -> std::io::Result<Why> {
    let dev = guest::open_dev()?;
    let mut buf = [0u8; 64];
    buf[..Why::SIZE].copy_from_slice(&Why { pid, ..Why::default() }.to_bytes());
    guest::ioctl(dev.as_raw_fd(), ROAM_IOC_WHY, IoctlArg::Buf(&mut buf))?;
    let mut w = [0u8; Why::SIZE];
    w.copy_from_slice(&buf[..Why::SIZE]);
    Ok(Why::from_bytes(&w))
}

/// `ROAM_IOC_MIGRATE` of `pid` to `node`: the errno (if any) and the
/// refusal reason the module filled in.
fn migrate(pid: u32, node: u32) -> (Option<i32>, u32) {
    let Ok(dev) = guest::open_dev() else { return (Some(-1), 0) };
    let mut buf = [0u8; 64];
    buf[..Migrate::SIZE].copy_from_slice(&Migrate { pid, node, ..Migrate::default() }.to_bytes());
    let r = guest::ioctl(dev.as_raw_fd(), ROAM_IOC_MIGRATE, IoctlArg::Buf(&mut buf));
    let mut m = [0u8; Migrate::SIZE];
    m.copy_from_slice(&buf[..Migrate::SIZE]);
    (r.err().and_then(|e| e.raw_os_error()), Migrate::from_bytes(&m).reason)
}

/// The node after this one (a real peer in the test cluster).
fn other_node() -> u32 {
    let me: u32 = guest::read_sysfs("node_id").ok().and_then(|s| s.trim().parse().ok()).unwrap_or(1);
    me % 4 + 1
}

fn lock(pid: u32, on: bool) -> std::io::Result<()> {
    let dev = guest::open_dev()?;
    let mut buf = [0u8; 64];
    buf[..PidArg::SIZE].copy_from_slice(&PidArg { pid }.to_bytes());
    let cmd = if on { ROAM_IOC_LOCK } else { ROAM_IOC_UNLOCK };
    guest::ioctl(dev.as_raw_fd(), cmd, IoctlArg::Buf(&mut buf)).map(|_| ())
}

fn locked_list() -> Vec<u32> {
    guest::read_sysfs("locked").unwrap_or_default().lines().filter_map(|l| l.trim().parse().ok()).collect()
}

fn self_exe() -> String {
    std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_else(|_| "/usr/lib/roam/tests/roam_cantmove".into())
}

fn spawn(mode: &str) -> Child {
    Command::new(self_exe()).arg(mode).spawn().expect("spawn a child of this test")
}

/// Starts a child in `mode`, waits (up to 10 s) until `ready` holds for
/// its pid, asks why it cannot move and tries to move it, then ends it:
/// whether it got ready, the answer and the migration's outcome.
fn refused_child(mode: &str, ready: impl Fn(u32) -> bool) -> (bool, std::io::Result<Why>, (Option<i32>, u32)) {
    let mut c = spawn(mode);
    let pid = c.id();
    let ok = guest::wait_for(Duration::from_secs(10), Duration::from_millis(50), || ready(pid));
    let w = why(pid);
    let m = migrate(pid, other_node());
    let _ = c.kill();
    let _ = c.wait();
    (ok, w, m)
}

/// Child modes: stay alive (bounded) in a given shape until killed.
fn child_mode(mode: &str) -> ! {
    match mode {
        "--threads-child" => {
            let _t = std::thread::spawn(|| std::thread::sleep(Duration::from_secs(60)));
            std::thread::sleep(Duration::from_secs(60));
        }
        "--shm-child" => {
            // SAFETY: an anonymous shared mapping; no existing memory is touched.
            let p = unsafe {
                libc::mmap(std::ptr::null_mut(), 4096, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED | libc::MAP_ANONYMOUS, -1, 0)
            };
            assert_ne!(p, libc::MAP_FAILED);
            std::thread::sleep(Duration::from_secs(60));
        }
        "--seccomp-child" => {
            // Under a seccomp filter (allow everything).
            let filter = [libc::sock_filter { code: 0x06, jt: 0, jf: 0, k: 0x7fff_0000 }];
            let prog = libc::sock_fprog { len: 1, filter: filter.as_ptr().cast_mut() };
            // SAFETY: plain prctl calls with a valid filter that outlives them.
            unsafe {
                assert_eq!(libc::prctl(38, 1 as libc::c_ulong, 0 as libc::c_ulong, 0 as libc::c_ulong, 0 as libc::c_ulong), 0);
                assert_eq!(libc::prctl(22, 2 as libc::c_ulong, &prog as *const libc::sock_fprog, 0 as libc::c_ulong, 0 as libc::c_ulong), 0);
            }
            std::thread::sleep(Duration::from_secs(60));
        }
        "--pidns-child" => {
            // A new pid namespace for the next child, which is its init.
            // SAFETY: unshare of this process's pid namespace for children.
            assert_eq!(unsafe { libc::unshare(libc::CLONE_NEWPID) }, 0);
            let mut c = spawn("--plain-child");
            std::thread::sleep(Duration::from_secs(60));
            let _ = c.kill();
            let _ = c.wait();
        }
        "--mdwe-child" => {
            // Its memory may never become executable (PR_SET_MDWE with
            // PR_MDWE_REFUSE_EXEC_GAIN).
            // SAFETY: a plain prctl on this process.
            assert_eq!(unsafe { libc::prctl(65, 1 as libc::c_ulong, 0 as libc::c_ulong, 0 as libc::c_ulong, 0 as libc::c_ulong) }, 0);
            std::thread::sleep(Duration::from_secs(60));
        }
        "--euid-child" => {
            // A root daemon that acts as another user for a while: its
            // effective uid is that user's, its real and saved are root.
            // SAFETY: plain setresuid on this process.
            assert_eq!(unsafe { libc::setresuid(0, NOBODY, 0) }, 0);
            std::thread::sleep(Duration::from_secs(60));
        }
        _ => std::thread::sleep(Duration::from_secs(60)),
    }
    std::process::exit(0)
}

/// A child of `parent`, found by the parent pid in `/proc/PID/stat`.
fn child_of(parent: u32) -> Option<u32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // pid (comm) state ppid ...: the comm may hold spaces.
        let ppid: u32 = stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()?;
        (ppid == parent).then_some(pid)
    })
}

fn reasons_of(w: &std::io::Result<Why>) -> String {
    match w {
        Ok(w) => format!("reasons {:#x}, threads {}", w.reasons, w.nr_threads),
        Err(e) => guest::errno_name(e),
    }
}

fn main() {
    if let Some(mode) = std::env::args().nth(1) {
        child_mode(&mode);
    }
    let mut t = Ktap::plan(24);

    let mut plain = spawn("--plain-child");
    let pid = plain.id();
    let ok = guest::wait_for(Duration::from_secs(10), Duration::from_millis(50), || why(pid).map(|w| w.reasons == 0).unwrap_or(false));
    t.check(ok, "a plain single-threaded process can migrate", &reasons_of(&why(pid)));

    let w = why(1);
    t.check(w.as_ref().map(|w| w.reasons & cantmove::INIT != 0).unwrap_or(false), "init cannot migrate: init", &reasons_of(&w));

    let w = why(2);
    t.check(w.as_ref().map(|w| w.reasons & cantmove::KERNEL_THREAD != 0).unwrap_or(false), "kthreadd cannot migrate: kernel thread", &reasons_of(&w));

    let (ok, w, m) = refused_child("--threads-child", |p| why(p).is_ok_and(|w| w.reasons & cantmove::MULTITHREADED != 0 && w.nr_threads == 2));
    t.check(ok, "a process with two threads cannot migrate: multithreaded", &reasons_of(&w));
    t.check(m == (Some(libc::EINVAL), refusal::CANT_MOVE), "migrating it is refused: EINVAL, cannot migrate", &format!("{m:?}"));

    let (ok, w, m) = refused_child("--shm-child", |p| why(p).is_ok_and(|w| w.reasons & cantmove::SHARED_MEMORY != 0));
    t.check(ok, "a process with writable shared memory cannot migrate: shared memory", &reasons_of(&w));
    t.check(m == (Some(libc::EINVAL), refusal::CANT_MOVE), "migrating it is refused: EINVAL, cannot migrate", &format!("{m:?}"));

    let r = lock(pid, true);
    let w = why(pid);
    t.check(
        r.is_ok() && w.as_ref().map(|w| w.reasons == cantmove::LOCKED).unwrap_or(false),
        "a locked process cannot migrate: locked",
        &format!("lock: {}; {}", guest::describe(&r), reasons_of(&w)),
    );
    t.check(locked_list().contains(&pid), "/sys/kernel/roam/locked lists it", &format!("{:?}", locked_list()));
    let m = migrate(pid, other_node());
    t.check(m == (Some(libc::EBUSY), refusal::CANT_MOVE), "migrating it is refused: EBUSY, cannot migrate", &format!("{m:?}"));
    let out = Command::new(guest::ROAMCTL).args(["why", &pid.to_string()]).output();
    let text = out.as_ref().map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default();
    t.check(text.contains("cannot migrate") && text.contains("locked"), "roamctl why explains it", &text);

    let r = lock(pid, false);
    let w = why(pid);
    t.check(
        r.is_ok() && w.as_ref().map(|w| w.reasons == 0).unwrap_or(false) && !locked_list().contains(&pid),
        "unlocked, it can migrate again",
        &format!("unlock: {}; {}", guest::describe(&r), reasons_of(&w)),
    );

    let other = guest::as_user(NOBODY, || {
        let w = why(pid);
        let l = lock(pid, true);
        matches!(&w, Err(e) if guest::errno_is(e, &[libc::EPERM])) && matches!(&l, Err(e) if guest::errno_is(e, &[libc::EPERM]))
    });
    t.check(other, "another user gets EPERM for why and lock", "");
    let node = other_node();
    let m = guest::as_user(NOBODY, || migrate(pid, node).0 == Some(libc::EPERM));
    t.check(m, "another user gets EPERM for migrate", "");
    // The rule is ptrace's (PTRACE_MODE_ATTACH_REALCREDS), not kill's: a
    // user whose uid is a root process's effective uid may not act on it.
    let mut daemon = spawn("--euid-child");
    let dpid = daemon.id();
    let settled = guest::wait_for(Duration::from_secs(10), Duration::from_millis(50), || {
        std::fs::read_to_string(format!("/proc/{dpid}/status")).is_ok_and(|st| st.lines().any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some(&NOBODY.to_string())))
    });
    let node = other_node();
    let denied = guest::as_user(NOBODY, || {
        let w = why(dpid);
        let l = lock(dpid, true);
        let m = migrate(dpid, node).0;
        matches!(&w, Err(e) if guest::errno_is(e, &[libc::EPERM])) && matches!(&l, Err(e) if guest::errno_is(e, &[libc::EPERM])) && m == Some(libc::EPERM)
    });
    let _ = daemon.kill();
    let _ = daemon.wait();
    t.check(settled && denied, "a root process running with the caller's uid as its effective uid: EPERM for why, lock and migrate", &format!("euid set {settled}"));
    let (under, w, m) = refused_child("--seccomp-child", |p| {
        std::fs::read_to_string(format!("/proc/{p}/status")).is_ok_and(|st| st.lines().any(|l| l.starts_with("Seccomp:") && l.trim_end().ends_with('2')))
    });
    t.check(
        under && w.as_ref().is_ok_and(|w| w.reasons == cantmove::SECCOMP) && m == (Some(libc::EINVAL), refusal::CANT_MOVE),
        "a process under a seccomp filter cannot migrate: seccomp; migrate refused, EINVAL",
        &format!("filter on {under}; {}; migrate {m:?}", reasons_of(&w)),
    );
    let mut nsparent = spawn("--pidns-child");
    let npid = nsparent.id();
    let mut inner = 0u32;
    let found = guest::wait_for(Duration::from_secs(10), Duration::from_millis(50), || {
        inner = child_of(npid).unwrap_or(0);
        inner != 0
    });
    let w = why(inner);
    let m = migrate(inner, other_node());
    if inner != 0 {
        // SAFETY: a signal to the child this test started (init of its
        // namespace: its end ends the namespace).
        unsafe { libc::kill(inner as i32, libc::SIGKILL) };
    }
    let _ = nsparent.kill();
    let _ = nsparent.wait();
    t.check(
        found && w.as_ref().is_ok_and(|w| w.reasons & cantmove::NAMESPACE != 0) && m == (Some(libc::EINVAL), refusal::CANT_MOVE),
        "a process in a pid namespace of its own cannot migrate: namespace; migrate refused, EINVAL",
        &format!("child in the namespace {inner}; {}; migrate {m:?}", reasons_of(&w)),
    );
    let (on, w, m) = refused_child("--mdwe-child", |p| why(p).is_ok_and(|w| w.reasons & cantmove::MDWE != 0));
    t.check(
        on && w.as_ref().is_ok_and(|w| w.reasons == cantmove::MDWE) && m == (Some(libc::EINVAL), refusal::CANT_MOVE),
        "a process that forbids executable memory (PR_SET_MDWE) cannot migrate: mdwe; migrate refused, EINVAL",
        &format!("{}; migrate {m:?}", reasons_of(&w)),
    );
    // Traced (as by strace or a debugger): its tracer stays here.
    let mut traced = spawn("--plain-child");
    let tpid = traced.id();
    // SAFETY: PTRACE_SEIZE of our own child: it is not stopped.
    let seized = unsafe { libc::ptrace(libc::PTRACE_SEIZE, tpid as libc::pid_t, 0usize, 0usize) } == 0;
    let w = why(tpid);
    let m = migrate(tpid, other_node());
    // Detaching needs the tracee stopped: interrupt it, wait for the
    // stop, then detach.
    // SAFETY: ptrace requests and a wait on the child seized above.
    unsafe {
        libc::ptrace(libc::PTRACE_INTERRUPT, tpid as libc::pid_t, 0usize, 0usize);
        let mut status = 0;
        libc::waitpid(tpid as libc::pid_t, &mut status, libc::__WALL);
        libc::ptrace(libc::PTRACE_DETACH, tpid as libc::pid_t, 0usize, 0usize);
    }
    let after = why(tpid);
    let _ = traced.kill();
    let _ = traced.wait();
    t.check(
        seized && w.as_ref().is_ok_and(|w| w.reasons == cantmove::TRACED) && m == (Some(libc::EINVAL), refusal::CANT_MOVE) && after.as_ref().is_ok_and(|w| w.reasons == 0),
        "a traced process cannot migrate: traced; migrate refused, EINVAL; once detached it can",
        &format!("seized {seized}; {}; migrate {m:?}; detached: {}", reasons_of(&w), reasons_of(&after)),
    );
    let m = migrate(1, other_node());
    t.check(m == (Some(libc::EINVAL), refusal::CANT_MOVE), "init: migrate refused, EINVAL", &format!("{m:?}"));
    let m = migrate(pid, NODE_HOME);
    t.check(m == (Some(libc::EALREADY), refusal::ALREADY_THERE), "a process at home sent home: EALREADY", &format!("{m:?}"));
    t.check(locked_list().is_empty() || !locked_list().contains(&pid), "and locked nothing", &format!("{:?}", locked_list()));

    let w = why(999_999);
    t.check(matches!(&w, Err(e) if guest::errno_is(e, &[libc::ESRCH])), "a pid that does not exist: ESRCH", &reasons_of(&w));

    let r = lock(pid, true);
    let _ = plain.kill();
    let _ = plain.wait();
    let gone = guest::wait_for(Duration::from_secs(10), Duration::from_millis(100), || !locked_list().contains(&pid));
    t.check(r.is_ok() && gone, "a locked process that exits is forgotten", &format!("{:?}", locked_list()));
    t.finish();
}
