//! `locks`: file locks taken at home are still held, by the same owners,
//! wherever the process runs. Before `READY`: `flock(LOCK_EX)` on one
//! file; on a second file, POSIX record locks (`F_SETLK`): a read lock on
//! bytes 0..99 and a write lock on 200..299, and through another open
//! file an OFD write lock (`F_OFD_SETLK`) on 400..499. The same two files
//! are opened once more (new open files, for asking). Every 100 ms while
//! it waits, wherever it runs, through those: `flock(LOCK_SH|LOCK_NB)`
//! fails with `EWOULDBLOCK`; `F_OFD_GETLK` for a write lock on 0..99
//! reports the POSIX read lock (0, length 100, the process's pid), for a
//! read lock at 250 the write lock (200, 100, the pid), for a write lock
//! on 100..199 nothing (`F_UNLCK`), for a read lock at 420 the OFD lock
//! (400, 100, pid -1); and the process's own `F_GETLK` at 450 sees the
//! OFD lock too (an OFD lock is not the process's). At the check: the
//! lines of `/proc/locks` for the two files are those seen at home (a
//! `FLOCK` write lock, two `POSIX` locks with the pid, an `OFDLCK` with
//! -1); a child forked at home opens both files itself and finds the same
//! conflicts (`flock(LOCK_EX|LOCK_NB)`: `EWOULDBLOCK`; `F_GETLK` for a
//! write lock on 0..99: the read lock with the test's pid; a read lock
//! on 50..59: none; a read lock at 250: the write lock with the pid; a
//! write lock on 100..199: none; `F_OFD_GETLK` at 450: the OFD lock;
//! `F_SETLK` for a write lock on byte 0: `EAGAIN`/`EACCES`; a read lock
//! on 0..99: granted) and exits 0; finally, once the process lets go of
//! its `flock`, the asking descriptor gets `LOCK_EX|LOCK_NB`.

use super::super::rounds::{every_100ms, Rounds};
use super::super::Check;
use super::{close, cstr, errno, fork_child, guard, open, os_err, read_exact, reap, tmp, unlink};
use std::sync::Mutex;

struct State {
    paths: [String; 2],
    /// The flock'd file, the POSIX-locked file, the OFD lock's open file.
    held: [i32; 3],
    /// The two files opened again, for asking.
    ask: [i32; 2],
    /// The `/proc/locks` lines for the two files at home.
    proc_locks: Vec<String>,
    rounds: Rounds,
}

static STATE: Mutex<Option<State>> = Mutex::new(None);

fn flock_of(ty: i32, start: i64, len: i64) -> libc::flock {
    // SAFETY: a zeroed flock is valid.
    let mut f: libc::flock = unsafe { std::mem::zeroed() };
    f.l_type = ty as libc::c_short;
    f.l_whence = libc::SEEK_SET as libc::c_short;
    f.l_start = start;
    f.l_len = len;
    f
}

/// A record-lock command on `fd`; the call's result, errno and the
/// (possibly rewritten) `struct flock`.
fn lk(fd: i32, cmd: i32, ty: i32, start: i64, len: i64) -> (i32, i32, libc::flock) {
    let mut f = flock_of(ty, start, len);
    // SAFETY: `f` is a valid struct flock.
    let r = unsafe { libc::fcntl(fd, cmd, &mut f) };
    (r, errno(), f)
}

/// What a lock query found: type, start, length, pid.
fn found(f: &libc::flock) -> [i64; 4] {
    [f.l_type as i64, f.l_start, f.l_len, f.l_pid as i64]
}

/// The `/proc/locks` lines for the inodes `inos`, without their ordinal.
fn proc_locks(inos: &[u64]) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string("/proc/locks").map_err(|e| format!("/proc/locks: {e}"))?;
    let mut lines: Vec<String> = text
        .lines()
        .filter(|l| !l.contains("->"))
        .map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>().join(" "))
        .filter(|l| {
            let ino = l.split(' ').nth(4).and_then(|d| d.rsplit(':').next()).and_then(|i| i.parse::<u64>().ok());
            ino.is_some_and(|i| inos.contains(&i))
        })
        .collect();
    lines.sort();
    Ok(lines)
}

fn inodes(st_fds: &[i32]) -> Result<Vec<u64>, String> {
    st_fds.iter().map(|&fd| super::fstat(fd).map(|s| s.st_ino)).collect()
}

pub(super) fn locks() -> Check {
    guard(|| {
        let base = tmp("locks");
        let paths = [format!("{base}.flock"), format!("{base}.posix")];
        let fa = open(&paths[0], libc::O_RDWR | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC, 0o600)?;
        let fb = open(&paths[1], libc::O_RDWR | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC, 0o600)?;
        let fo = open(&paths[1], libc::O_RDWR | libc::O_CLOEXEC, 0)?;
        // SAFETY: plain flock.
        if unsafe { libc::flock(fa, libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            return Err(os_err("flock LOCK_EX"));
        }
        for (fd, cmd, ty, start) in
            [(fb, libc::F_SETLK, libc::F_RDLCK, 0), (fb, libc::F_SETLK, libc::F_WRLCK, 200), (fo, libc::F_OFD_SETLK, libc::F_WRLCK, 400)]
        {
            let (r, e, _) = lk(fd, cmd, ty, start, 100);
            if r != 0 {
                return Err(format!("lock command {cmd} type {ty} at {start}: errno {e}"));
            }
        }
        let ask = [open(&paths[0], libc::O_RDWR | libc::O_CLOEXEC, 0)?, open(&paths[1], libc::O_RDWR | libc::O_CLOEXEC, 0)?];
        let proc_locks = proc_locks(&inodes(&[fa, fb])?)?;
        let pid = std::process::id();
        let kinds: Vec<String> = proc_locks.iter().map(|l| l.split(' ').take(4).collect::<Vec<_>>().join(" ")).collect();
        let want = [
            format!("FLOCK ADVISORY WRITE {pid}"),
            "OFDLCK ADVISORY WRITE -1".into(),
            format!("POSIX ADVISORY READ {pid}"),
            format!("POSIX ADVISORY WRITE {pid}"),
        ];
        if kinds != want {
            return Err(format!("/proc/locks at home: {proc_locks:?}"));
        }
        let mut st = State { paths, held: [fa, fb, fo], ask, proc_locks, rounds: Rounds::default() };
        let first = round(&st);
        st.rounds.record(first);
        *STATE.lock().unwrap_or_else(|e| e.into_inner()) = Some(st);
        Ok(Box::new(|| {
            let st = STATE.lock().unwrap_or_else(|e| e.into_inner()).take().ok_or("no state")?;
            let r = check(&st);
            for fd in st.held.iter().chain(&st.ask) {
                close(*fd);
            }
            for p in &st.paths {
                unlink(p);
            }
            r.and(st.rounds.verdict())
        }) as Check)
    })
}

/// A query of a round: what, command, type, start, length, and the
/// expected type, start, length and pid (-2 for this process's pid).
type Query = (&'static str, i32, i32, i64, i64, [i64; 4]);

const QUERIES: [Query; 5] = [
    ("F_OFD_GETLK write 0..99", libc::F_OFD_GETLK, libc::F_WRLCK, 0, 100, [libc::F_RDLCK as i64, 0, 100, -2]),
    ("F_OFD_GETLK read at 250", libc::F_OFD_GETLK, libc::F_RDLCK, 250, 1, [libc::F_WRLCK as i64, 200, 100, -2]),
    ("F_OFD_GETLK write 100..199", libc::F_OFD_GETLK, libc::F_WRLCK, 100, 100, [libc::F_UNLCK as i64, 100, 100, 0]),
    ("F_OFD_GETLK read at 420", libc::F_OFD_GETLK, libc::F_RDLCK, 420, 1, [libc::F_WRLCK as i64, 400, 100, -1]),
    ("F_GETLK read at 450", libc::F_GETLK, libc::F_RDLCK, 450, 1, [libc::F_WRLCK as i64, 400, 100, -1]),
];

fn expect(want: [i64; 4]) -> [i64; 4] {
    let pid = std::process::id() as i64;
    [want[0], want[1], want[2], if want[3] == -2 { pid } else { want[3] }]
}

fn round(st: &State) -> Result<(), String> {
    let r = st.rounds.count;
    // SAFETY: plain flock.
    let f = unsafe { libc::flock(st.ask[0], libc::LOCK_SH | libc::LOCK_NB) };
    let e = errno();
    if f != -1 || e != libc::EWOULDBLOCK {
        return Err(format!("round {r}: flock(LOCK_SH|LOCK_NB) on the flock'd file gave {f} (errno {e}), expected EWOULDBLOCK"));
    }
    for (what, cmd, ty, start, len, want) in QUERIES {
        let (rc, e, fl) = lk(st.ask[1], cmd, ty, start, len);
        let want = expect(want);
        if rc != 0 || found(&fl) != want {
            return Err(format!("round {r}: {what} gave {rc} (errno {e}), found type/start/len/pid {:?}, expected {want:?}", found(&fl)));
        }
    }
    Ok(())
}

/// What the child reports: one entry per question, in order.
const CHILD_ANSWERS: usize = 10;

/// The child's questions, asked on files it opens itself.
fn child_asks(a: &std::ffi::CStr, b: &std::ffi::CStr, out: i32) -> i32 {
    let mut ans = [0i64; 4 * CHILD_ANSWERS];
    // SAFETY: raw calls on paths and descriptors the child owns.
    unsafe {
        let fa = libc::open(a.as_ptr(), libc::O_RDWR);
        let fb = libc::open(b.as_ptr(), libc::O_RDWR);
        if fa < 0 || fb < 0 {
            return 30;
        }
        let f = libc::flock(fa, libc::LOCK_EX | libc::LOCK_NB);
        ans[0] = f as i64;
        ans[1] = *libc::__errno_location() as i64;
        let queries = [
            (libc::F_GETLK, libc::F_WRLCK, 0, 100),
            (libc::F_GETLK, libc::F_RDLCK, 50, 10),
            (libc::F_GETLK, libc::F_RDLCK, 250, 10),
            (libc::F_GETLK, libc::F_WRLCK, 100, 100),
            (libc::F_OFD_GETLK, libc::F_RDLCK, 450, 1),
        ];
        for (i, (cmd, ty, start, len)) in queries.into_iter().enumerate() {
            let mut fl = flock_of(ty, start, len);
            let rc = libc::fcntl(fb, cmd, &mut fl);
            let got = if rc == 0 { found(&fl) } else { [-100, *libc::__errno_location() as i64, 0, 0] };
            ans[4 * (i + 1)..4 * (i + 2)].copy_from_slice(&got);
        }
        let mut w = flock_of(libc::F_WRLCK, 0, 1);
        ans[24] = libc::fcntl(fb, libc::F_SETLK, &mut w) as i64;
        ans[25] = *libc::__errno_location() as i64;
        let mut rd = flock_of(libc::F_RDLCK, 0, 100);
        ans[28] = libc::fcntl(fb, libc::F_SETLK, &mut rd) as i64;
        ans[29] = *libc::__errno_location() as i64;
        let n = libc::write(out, ans.as_ptr().cast(), std::mem::size_of_val(&ans));
        if n != std::mem::size_of_val(&ans) as isize {
            return 31;
        }
    }
    0
}

fn check(st: &State) -> Result<(), String> {
    let now = proc_locks(&inodes(&st.held[..2])?)?;
    if now != st.proc_locks {
        return Err(format!("/proc/locks: {now:?}, at home {:?}", st.proc_locks));
    }
    let (a, b) = (cstr(&st.paths[0]), cstr(&st.paths[1]));
    let mut p = [0i32; 2];
    // SAFETY: room for two descriptors.
    if unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(os_err("pipe2"));
    }
    let child = fork_child(|| child_asks(&a, &b, p[1]));
    close(p[1]);
    let raw = child.as_ref().map_err(|e| e.clone()).and_then(|_| read_exact(p[0], 8 * 4 * CHILD_ANSWERS));
    close(p[0]);
    let status = child.and_then(reap);
    let raw = raw.map_err(|e| format!("the child's answers: {e}; child {status:?}"))?;
    if status != Ok(0) {
        return Err(format!("the asking child: {status:?}"));
    }
    let ans: Vec<i64> = raw.chunks(8).map(|c| i64::from_ne_bytes(c.try_into().unwrap_or([0; 8]))).collect();
    let pid = std::process::id() as i64;
    let (rd, wr, un) = (libc::F_RDLCK as i64, libc::F_WRLCK as i64, libc::F_UNLCK as i64);
    // What was asked, the answer's words, the acceptable answers.
    type Answer<'a> = (&'a str, &'a [i64], Vec<[i64; 4]>);
    let checks: [Answer; 8] = [
        ("flock(LOCK_EX|LOCK_NB): result, errno", &ans[0..2], vec![[-1, libc::EWOULDBLOCK as i64, 0, 0]]),
        ("F_GETLK write 0..99", &ans[4..8], vec![[rd, 0, 100, pid]]),
        ("F_GETLK read 50..59", &ans[8..12], vec![[un, 50, 10, 0]]),
        ("F_GETLK read 250..259", &ans[12..16], vec![[wr, 200, 100, pid]]),
        ("F_GETLK write 100..199", &ans[16..20], vec![[un, 100, 100, 0]]),
        ("F_OFD_GETLK read at 450", &ans[20..24], vec![[wr, 400, 100, -1]]),
        ("F_SETLK write on byte 0: result, errno", &ans[24..26], vec![[-1, libc::EAGAIN as i64, 0, 0], [-1, libc::EACCES as i64, 0, 0]]),
        ("F_SETLK read 0..99: result", &ans[28..29], vec![[0, 0, 0, 0]]),
    ];
    for (what, got, ok) in checks {
        if !ok.iter().any(|w| w[..got.len()] == *got) {
            return Err(format!("the child at home asked {what}: {got:?}, expected one of {ok:?}"));
        }
    }
    // Ours: let go of the flock, and the asking descriptor gets it.
    // SAFETY: plain flock calls.
    let (u, f) = unsafe { (libc::flock(st.held[0], libc::LOCK_UN), libc::flock(st.ask[0], libc::LOCK_EX | libc::LOCK_NB)) };
    if u != 0 || f != 0 {
        return Err(format!("after LOCK_UN ({u}) the other open file's LOCK_EX|LOCK_NB gave {f} (errno {})", errno()));
    }
    Ok(())
}

pub(super) fn tick(n: u64) {
    every_100ms(n, &STATE, |st| {
        let r = round(st);
        st.rounds.record(r);
    });
}
