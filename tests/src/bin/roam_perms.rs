//! The permission matrix: every ioctl of `/dev/roam` and every writable
//! file of `/sys/kernel/roam`, tried by root, by the owner of the target
//! process (uid 1000), by another user (nobody), by root without
//! `CAP_SYS_ADMIN`, and by the owner inside a user and pid namespace of
//! their own (root there); each gets exactly the answer the rules give
//! (docs/security.md: only root configures the cluster; a user acts only
//! on processes they could ptrace; only the module's own stub adopts),
//! and nothing a refused caller tried changed anything. Where a process
//! runs, and whether it is locked, is shown only to those who could
//! ptrace it: another user gets EPERM from `WHERE` and does not find the
//! locked target in `locked`.
//!
//! Two modes serve the cluster's security scenario: `--run-as UID PROG
//! ARGS...` execs PROG as UID (a process of that user's, dumpable), and
//! `--views PID` prints, for root, the owner (uid 1000) and nobody, whether
//! each finds PID in `guests`, `away` and `events` and what `WHERE` on it
//! returns: `who=root guests=0 away=1 events=1 where=Ok(())`.

use roam_proto::abi::{
    Adopt, AdoptClocks, AdoptUser, Allow, Migrate, PidArg, Ping, Status, Where, Why, NODE_HOME, ROAM_IOC_ADOPT, ROAM_IOC_ADOPT_CLOCKS, ROAM_IOC_ADOPT_USER,
    ROAM_IOC_ALLOW, ROAM_IOC_LOCK, ROAM_IOC_MIGRATE, ROAM_IOC_PING, ROAM_IOC_STATUS, ROAM_IOC_UNLOCK, ROAM_IOC_WHERE, ROAM_IOC_WHY,
};
use roam_tests::guest::{self, IoctlArg, NOBODY, SYSFS_DIR};
use roam_tests::ktap::{self, Ktap};
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::Duration;

/// The target's owner.
const OWNER: u32 = 1000;
/// `CAP_SYS_ADMIN`.
const CAP_SYS_ADMIN: u32 = 21;

/// What an ioctl returned: Ok, or the errno.
type Outcome = Result<(), i32>;

fn call(cmd: u32, bytes: &[u8]) -> Outcome {
    let dev = guest::open_dev().map_err(|e| e.raw_os_error().unwrap_or(-1))?;
    // Room for the largest argument (AdoptUser, 528 bytes).
    let mut buf = [0u8; 1024];
    buf[..bytes.len()].copy_from_slice(bytes);
    guest::ioctl(dev.as_raw_fd(), cmd, IoctlArg::Buf(&mut buf)).map(|_| ()).map_err(|e| e.raw_os_error().unwrap_or(-1))
}

/// Every ioctl, on process `pid`: its name and what it returned.
fn every_ioctl(pid: u32, node: u32) -> Vec<(&'static str, Outcome)> {
    vec![
        ("STATUS", call(ROAM_IOC_STATUS, &[0u8; Status::SIZE])),
        ("PING", call(ROAM_IOC_PING, &Ping { node, count: 1, size: 16, ..Ping::default() }.to_bytes())),
        ("WHY", call(ROAM_IOC_WHY, &Why { pid, ..Why::default() }.to_bytes())),
        ("LOCK", call(ROAM_IOC_LOCK, &PidArg { pid }.to_bytes())),
        ("UNLOCK", call(ROAM_IOC_UNLOCK, &PidArg { pid }.to_bytes())),
        ("ALLOW", call(ROAM_IOC_ALLOW, &Allow { pid, set: 1, nodes: 0 }.to_bytes())),
        // Home, where it is: a permitted caller hears EALREADY.
        ("MIGRATE", call(ROAM_IOC_MIGRATE, &Migrate { pid, node: NODE_HOME, ..Migrate::default() }.to_bytes())),
        ("WHERE", call(ROAM_IOC_WHERE, &Where { pid, ..Where::default() }.to_bytes())),
        ("ADOPT", call(ROAM_IOC_ADOPT, &Adopt { ticket: 1 }.to_bytes())),
        ("ADOPT_CLOCKS", call(ROAM_IOC_ADOPT_CLOCKS, &AdoptClocks { ticket: 1, ..AdoptClocks::default() }.to_bytes())),
        ("ADOPT_USER", call(ROAM_IOC_ADOPT_USER, &AdoptUser { ticket: 1, ..AdoptUser::default() }.to_bytes())),
    ]
}

/// What the rules give each ioctl, for a caller who is root (`root`),
/// the owner, or neither.
fn expected(name: &str, who: Who) -> Outcome {
    let eperm = Err(libc::EPERM);
    match (name, who) {
        ("STATUS", _) => Ok(()),
        ("WHERE", Who::Root | Who::Owner) => Ok(()),
        ("PING", Who::Root) => Ok(()), // or any error but EPERM: see as_expected
        ("PING", _) => eperm,
        ("MIGRATE", Who::Root | Who::Owner) => Err(libc::EALREADY),
        ("WHY" | "LOCK" | "UNLOCK" | "ALLOW", Who::Root | Who::Owner) => Ok(()),
        ("WHY" | "LOCK" | "UNLOCK" | "ALLOW" | "MIGRATE" | "WHERE", Who::Other) => eperm,
        // Only a stub the module started (root, child of its kernel
        // thread) may adopt: root from a shell may not either.
        ("ADOPT" | "ADOPT_CLOCKS" | "ADOPT_USER", _) => eperm,
        _ => Err(-1),
    }
}

/// Whether `got` is what the rules give: [`expected`], except that root's
/// PING is permitted whatever the transport answers (it may not be
/// running when this program runs), so anything but EPERM.
fn as_expected(name: &str, who: Who, got: Option<Outcome>) -> bool {
    match (name, who) {
        ("PING", Who::Root) => got.is_some_and(|g| g != Err(libc::EPERM)),
        _ => got == Some(expected(name, who)),
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Who {
    Root,
    Owner,
    Other,
}

/// The writable files of /sys/kernel/roam, and the readable ones'
/// contents.
fn sysfs_files() -> Vec<(String, u32)> {
    let mut v: Vec<(String, u32)> = std::fs::read_dir(SYSFS_DIR)
        .map(|d| {
            d.flatten()
                .filter_map(|e| Some((e.file_name().to_str()?.to_string(), e.metadata().ok()?.permissions().mode() & 0o777)))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn settings() -> Vec<(String, String)> {
    sysfs_files()
        .into_iter()
        .filter(|(_, m)| m & 0o222 != 0 && m & 0o444 != 0)
        .map(|(n, _)| {
            let c = guest::read_sysfs(&n).unwrap_or_default();
            (n, c)
        })
        .collect()
}

/// Writes `zz` (which no file takes) to every writable file; the errno of
/// each (0: it was taken).
fn write_all_invalid() -> Vec<(String, i32)> {
    sysfs_files()
        .into_iter()
        .filter(|(_, m)| m & 0o222 != 0)
        .map(|(n, _)| {
            let r = std::fs::OpenOptions::new().write(true).open(guest::sysfs_path(&n)).and_then(|mut f| std::io::Write::write_all(&mut f, b"zz\n"));
            (n, r.err().and_then(|e| e.raw_os_error()).unwrap_or(0))
        })
        .collect()
}

/// Runs `f` as pid 1 of a new pid namespace inside a new user namespace
/// (made by the caller, an unprivileged user): true if `f` returned true.
fn in_new_namespaces(f: impl FnOnce() -> bool) -> bool {
    // SAFETY: unshare of this (single-threaded, forked) process.
    if unsafe { libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWPID) } != 0 {
        ktap::diag(&format!("unshare: {}", std::io::Error::last_os_error()));
        return false;
    }
    // SAFETY: single-threaded: the child may run `f`.
    match unsafe { libc::fork() } {
        0 => {
            let ok = f();
            // SAFETY: ends the child without running the parent's code.
            unsafe { libc::_exit(i32::from(!ok)) }
        }
        -1 => false,
        child => {
            let mut status = 0;
            // SAFETY: waiting for our own child.
            unsafe { libc::waitpid(child, &mut status, 0) };
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0
        }
    }
}

fn other_node() -> u32 {
    guest::sysfs_node_id().unwrap_or(1) % 4 + 1
}

/// Whether `file` of /sys/kernel/roam has a line with the word `pid=PID`.
fn lists(file: &str, pid: u32) -> u8 {
    let text = guest::read_sysfs(file).unwrap_or_default();
    let want = format!("pid={pid}");
    u8::from(text.lines().any(|l| l.split_whitespace().any(|w| w == want)))
}

/// `--views PID`: one line per caller.
fn views(pid: u32) {
    let line = |who: &str| {
        let w = call(ROAM_IOC_WHERE, &Where { pid, ..Where::default() }.to_bytes());
        println!("who={who} guests={} away={} events={} where={w:?}", lists("guests", pid), lists("away", pid), lists("events", pid));
        true
    };
    line("root");
    guest::as_user(OWNER, || line("owner"));
    guest::as_user(NOBODY, || line("other"));
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("--sleep") => {
            std::thread::sleep(Duration::from_secs(120));
            return;
        }
        Some("--views") => {
            views(args.get(2).and_then(|p| p.parse().ok()).unwrap_or(0));
            return;
        }
        Some("--run-as") if args.len() > 3 => {
            let uid: u32 = args[2].parse().unwrap_or(OWNER);
            let e = Command::new(&args[3]).args(&args[4..]).uid(uid).gid(uid).exec();
            eprintln!("roam_perms: exec {} as uid {uid}: {e}", args[3]);
            std::process::exit(127);
        }
        _ => {}
    }
    let rows = ["STATUS", "PING", "WHY", "LOCK", "UNLOCK", "ALLOW", "MIGRATE", "WHERE", "ADOPT", "ADOPT_CLOCKS", "ADOPT_USER"];
    let mut t = Ktap::plan(rows.len() + 6);
    let exe = std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_default();
    // The target: a process of OWNER's (exec'd as that user: dumpable).
    let mut target = Command::new(&exe).arg("--sleep").uid(OWNER).gid(OWNER).spawn().expect("start the target as uid 1000");
    let pid = target.id();
    let node = other_node();
    let before = settings();

    // Each caller's row, printed by the caller itself (a child for the
    // users): "NAME=OUTCOME" per ioctl.
    let show = |v: &[(&str, Outcome)]| v.iter().map(|(n, o)| format!("{n}={o:?}")).collect::<Vec<_>>().join(" ");
    let root = every_ioctl(pid, node);
    ktap::diag(&format!("root: {}", show(&root)));
    let mut owner_ok = Vec::new();
    let mut other_ok = Vec::new();
    for name in rows {
        // Each user runs the whole row once per ioctl checked, so that
        // one cell's result is its own KTAP line.
        let cell = |who: Who| {
            let got = every_ioctl(pid, node);
            let ok = as_expected(name, who, got.iter().find(|(n, _)| *n == name).map(|c| c.1));
            if !ok {
                ktap::diag(&format!("{who:?}: {}", show(&got)));
            }
            ok
        };
        owner_ok.push(guest::as_user(OWNER, || cell(Who::Owner)));
        other_ok.push(guest::as_user(NOBODY, || cell(Who::Other)));
    }
    for (i, name) in rows.iter().enumerate() {
        let r = root.iter().find(|(n, _)| n == name).map(|c| c.1);
        let root_ok = as_expected(name, Who::Root, r);
        t.check(
            root_ok && owner_ok[i] && other_ok[i],
            &format!(
                "{name}: root {:?}, the owner {:?}, another user {:?}",
                expected(name, Who::Root),
                expected(name, Who::Owner),
                expected(name, Who::Other)
            ),
            &format!("root got {r:?}; owner as expected {}; other as expected {}", owner_ok[i], other_ok[i]),
        );
    }

    // sysfs: root's invalid writes are refused as invalid (EINVAL), never
    // as not permitted.
    let root_w = write_all_invalid();
    t.check(
        !root_w.is_empty() && root_w.iter().all(|(_, e)| *e == libc::EINVAL),
        "sysfs: root writing nonsense to any writable file gets EINVAL",
        &format!("{root_w:?}"),
    );
    let refused_with = |errno: i32, who: &str| {
        let got = write_all_invalid();
        let ok = !got.is_empty() && got.iter().all(|(_, e)| *e == errno);
        if !ok {
            ktap::diag(&format!("{who}: {got:?}"));
        }
        ok
    };
    let users = [OWNER, NOBODY].iter().all(|&u| guest::as_user(u, || refused_with(libc::EACCES, &format!("uid {u}"))));
    t.check(users, "sysfs: a user (the owner or not) cannot open any writable file for writing: EACCES", "");
    let capless = guest::as_root_without(CAP_SYS_ADMIN, || refused_with(libc::EPERM, "root without CAP_SYS_ADMIN"));
    t.check(capless, "sysfs: root without CAP_SYS_ADMIN gets EPERM on every writable file", "");
    // The owner in a user and pid namespace of their own, where they are
    // root and pid 1: the target's number names nothing there (ESRCH),
    // the cluster stays root's, the files stay closed, and acting on
    // their own processes (which makes roam tidy its lists) does not make
    // it forget the lock and the allowed nodes root gave the target.
    let lock = call(ROAM_IOC_LOCK, &PidArg { pid }.to_bytes());
    let allow = call(ROAM_IOC_ALLOW, &Allow { pid, set: 1, nodes: 0b11 }.to_bytes());
    let nested = guest::as_user(OWNER, || in_new_namespaces(|| {
        let got = every_ioctl(pid, node);
        let esrch = Err(libc::ESRCH);
        let want = |n: &str| match n {
            "STATUS" => Ok(()),
            "PING" | "ADOPT" | "ADOPT_CLOCKS" | "ADOPT_USER" => Err(libc::EPERM),
            _ => esrch,
        };
        let ioctls_ok = got.iter().all(|(n, o)| *o == want(n));
        // Its own process, pid 1 here.
        let own = [call(ROAM_IOC_LOCK, &PidArg { pid: 1 }.to_bytes()), call(ROAM_IOC_UNLOCK, &PidArg { pid: 1 }.to_bytes())];
        let files = write_all_invalid();
        let files_ok = !files.is_empty() && files.iter().all(|(_, e)| *e == libc::EACCES);
        let ok = ioctls_ok && own == [Ok(()), Ok(())] && files_ok;
        if !ok {
            ktap::diag(&format!("in namespaces: {}; own lock/unlock {own:?}; files {files:?}", show(&got)));
        }
        ok
    }));
    let locked = guest::read_sysfs("locked").unwrap_or_default();
    let kept_lock = locked.lines().any(|l| l.trim() == pid.to_string());
    let mut a = [0u8; 64];
    a[..Allow::SIZE].copy_from_slice(&Allow { pid, set: 0, nodes: 0 }.to_bytes());
    let kept_allow = guest::open_dev()
        .and_then(|d| guest::ioctl(d.as_raw_fd(), ROAM_IOC_ALLOW, IoctlArg::Buf(&mut a)))
        .is_ok_and(|_| {
            let mut b = [0u8; Allow::SIZE];
            b.copy_from_slice(&a[..Allow::SIZE]);
            Allow::from_bytes(&b).nodes & 0b11 == 0b11
        });
    // Still locked by root: the owner finds it in `locked`, nobody does not.
    let seen_by = |uid: u32| guest::as_user(uid, || guest::read_sysfs("locked").unwrap_or_default().lines().any(|l| l.trim() == pid.to_string()));
    let (owner_sees, other_sees) = (seen_by(OWNER), seen_by(NOBODY));
    t.check(
        kept_lock && owner_sees && !other_sees,
        "locked: root and the owner find the locked target in it; another user does not",
        &format!("root {kept_lock}, owner {owner_sees}, other {other_sees}"),
    );
    let _ = call(ROAM_IOC_UNLOCK, &PidArg { pid }.to_bytes());
    let _ = call(ROAM_IOC_ALLOW, &Allow { pid, set: 1, nodes: 0 }.to_bytes());
    t.check(
        lock.is_ok() && allow.is_ok() && nested && kept_lock && kept_allow,
        "in a user and pid namespace of their own: the target is not found (ESRCH), PING and ADOPT are EPERM, files EACCES; root's lock and allowed nodes on the target stay",
        &format!("root lock {lock:?}, allow {allow:?}; as expected there {nested}; lock kept {kept_lock}, allowed nodes kept {kept_allow}"),
    );
    let after = settings();
    let locked = guest::read_sysfs("locked").unwrap_or_default();
    t.check(
        before == after && !before.is_empty() && !locked.lines().any(|l| l.trim() == pid.to_string()),
        "nothing the callers tried changed a setting or left the target locked",
        &format!("before {before:?}\nafter {after:?}\nlocked {locked:?}"),
    );
    let _ = target.kill();
    let _ = target.wait();
    t.finish();
}
