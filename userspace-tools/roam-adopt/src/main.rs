//! `roam-adopt TICKET` or `roam-adopt --park`: the adopt stub.
//!
//! When a process migrates to this node, roam starts this program (with
//! `call_usermodehelper`, installed in the guest image as `/bin/roam-adopt`)
//! and passes it a ticket, a decimal `u64` naming the arriving process. The
//! stub opens `/dev/roam` read-write and calls `ROAM_IOC_ADOPT` with that
//! ticket; on success the kernel turns the stub into the arriving process
//! and the call never returns here.
//!
//! Usually the stub was started ahead of time instead, with `--park` (the
//! module keeps a pool of them, see `kmod/migrate/pool.rs`): it renames
//! itself `roam-parked` and waits for SIGUSR1, which the kernel blocked
//! for it before the program started, holding nothing of the module
//! meanwhile. The signal means an arrival was given to it: it renames
//! itself back to `roam-adopt` and goes on as above with ticket 0, which
//! the module reads as "the arrival given to me".
//!
//! First it keeps the process on its home clock: `ROAM_IOC_ADOPT_CLOCKS`
//! gives the offsets that make this node's CLOCK_MONOTONIC and
//! CLOCK_BOOTTIME continue the clocks the process saw, and the stub enters
//! a new time namespace with them (`unshare(CLONE_NEWTIME)`, the offsets
//! written to `/proc/self/timens_offsets`, `setns` into
//! `/proc/self/ns/time_for_children`) before it adopts. If the kernel has
//! no time namespaces it says so on stderr and adopts anyway (the
//! process's monotonic clock then follows this node's).
//!
//! Then it takes on what the process has at home beyond its memory and
//! registers, as the kernel's own calls do it (a module cannot allocate
//! the per-user structures, move a task into a cgroup by path or set a
//! label): `ROAM_IOC_ADOPT_USER` names them, and the stub joins the
//! process's cgroup (writes `0` to `/sys/fs/cgroup<path>/cgroup.procs`),
//! takes its security label (writes it to
//! `/proc/thread-self/attr/current`), and takes its real user id with
//! `setresuid(uid, -1, -1)` (still root: its effective and saved ids stay
//! 0). The kernel then counts the process as that user's on this node
//! (pending signals, processes), as it would a process of theirs started
//! here. The module refuses a stub that did not, and failing here fails
//! the move (the process stays where it was).
//!
//! If anything fails, one line goes to stderr (which may be closed; write
//! errors are ignored) and the stub exits with:
//!
//! | status | meaning |
//! | --- | --- |
//! | 112 + (errno mod 16) | opening `/dev/roam`, taking the process's cgroup, label or user, or the adopt ioctl failed with errno (line: `roam-adopt: adopt failed: <strerror>` or `roam-adopt: cannot open /dev/roam: <strerror>`) |
//! | 111 | the adopt ioctl returned success, which it never should |
//! | 2 | usage: not exactly one argument, or neither a decimal `u64` nor `--park` |
//! | 110 | parked, waiting for SIGUSR1 failed |
//!
//! So 112..=127 always mean "errno ≡ status − 112 (mod 16)"; the usual
//! ones are: 112 EBUSY, 113 EPERM (or EEXIST), 114 ENOENT, 115 ESRCH (or
//! ENODEV), 116 EINTR, 117 EIO, 118 ENXIO (or EINVAL), 121 EBADF (or
//! ENOTTY), 123 EAGAIN, 124 ENOMEM (or ENOSPC), 125 EACCES, 126 EFAULT (or
//! ETIMEDOUT). The stderr line says which.
//!
//! The stub is kept minimal on purpose: everything it changes in its own
//! process is what the kernel has to undo when it adopts. It therefore
//! does not use std's runtime entry point (`#![no_main]`), which would set
//! `SIGPIPE` to ignored, install `SIGSEGV`/`SIGBUS` handlers with an
//! alternate signal stack, and open `/dev/null` on closed standard fds
//! (aborting if it cannot) — all before `main`. It reads `argv` directly,
//! allocates nothing, starts no threads and, after the static C library's
//! own start-up, makes only the system calls `open`, `ioctl`, `close`,
//! `write`, `unshare`, `setns`, `setresuid` and `exit_group` (and, parked, `prctl` and
//! `rt_sigtimedwait`).

#![cfg_attr(not(test), no_main)]

/// Exit status for a usage error.
pub const STATUS_USAGE: i32 = 2;
/// Exit status when the adopt ioctl returns success (it must not return).
pub const STATUS_RETURNED: i32 = 111;
/// Exit status when a parked stub cannot wait for its signal.
pub const STATUS_PARK: i32 = 110;

/// What the stub was asked to do.
#[derive(Debug, PartialEq, Eq)]
pub enum Mode {
    /// Adopt the arrival with this ticket.
    Ticket(u64),
    /// Park until given an arrival (ticket 0).
    Park,
}

/// Parses the one argument.
pub fn parse_mode(s: &[u8]) -> Option<Mode> {
    if s == b"--park" {
        return Some(Mode::Park);
    }
    parse_ticket(s).map(Mode::Ticket)
}

/// The exit status for a failure with `errno`: 112 + (errno mod 16).
pub const fn status_for(errno: i32) -> i32 {
    112 + errno.rem_euclid(16)
}

/// Parses a ticket: one or more ASCII digits, no sign or spaces, at most
/// `u64::MAX`.
pub fn parse_ticket(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let mut v: u64 = 0;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    Some(v)
}

/// Where the cgroup v2 hierarchy is mounted (as systemd mounts it).
pub const CGROUP_MOUNT: &[u8] = b"/sys/fs/cgroup";
/// The file a process writes `0` to to join a cgroup.
pub const CGROUP_PROCS: &[u8] = b"/cgroup.procs";

/// Writes `<CGROUP_MOUNT><cgroup>/cgroup.procs` and a NUL into `out` and
/// returns the length with the NUL (for `/`, the root's file); text
/// beyond `out` is dropped, the NUL always fits.
pub fn cgroup_procs_path(cgroup: &[u8], out: &mut [u8]) -> usize {
    let cgroup = if cgroup == b"/" { &b""[..] } else { cgroup };
    let room = out.len().saturating_sub(1);
    let mut n = 0;
    for part in [CGROUP_MOUNT, cgroup, CGROUP_PROCS] {
        let k = part.len().min(room - n);
        out[n..n + k].copy_from_slice(&part[..k]);
        n += k;
    }
    if let Some(b) = out.get_mut(n) {
        *b = 0;
        n += 1;
    }
    n
}

/// A line assembled in a fixed buffer, without allocating; text beyond its
/// capacity is dropped (the newline always fits).
pub struct Line {
    pub buf: [u8; 256],
    pub len: usize,
}

impl Line {
    pub fn new() -> Self {
        Line { buf: [0; 256], len: 0 }
    }

    pub fn push(&mut self, s: &[u8]) -> &mut Self {
        let room = self.buf.len() - 1 - self.len;
        let n = s.len().min(room);
        self.buf[self.len..self.len + n].copy_from_slice(&s[..n]);
        self.len += n;
        self
    }

    /// The text with a newline.
    pub fn finish(&mut self) -> &[u8] {
        self.buf[self.len] = b'\n';
        &self.buf[..self.len + 1]
    }
}

impl Default for Line {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(not(test))]
mod stub {
    use super::*;
    use core::ffi::{c_char, c_int, CStr};
    use roam_proto::abi::{Adopt, AdoptClocks, AdoptUser, ROAM_IOC_ADOPT, ROAM_IOC_ADOPT_CLOCKS, ROAM_IOC_ADOPT_USER};
    use roam_proto::image::CONTEXT_LEN;

    /// Room for `/sys/fs/cgroup`, a path and `/cgroup.procs` with its NUL.
    const CGROUP_PROCS_MAX: usize = CGROUP_MOUNT.len() + CONTEXT_LEN + CGROUP_PROCS.len() + 1;

    /// Writes `line` to stderr with one `write`; a closed or broken stderr
    /// is not an error worth reporting.
    fn say(line: &[u8]) {
        // SAFETY: `line` is valid for reads of `line.len()` bytes; write()
        // does not keep the pointer.
        let _ = unsafe { libc::write(2, line.as_ptr().cast(), line.len()) };
    }

    /// The current errno.
    fn errno() -> c_int {
        // SAFETY: __errno_location() returns this thread's errno slot,
        // valid for the life of the thread.
        unsafe { *libc::__errno_location() }
    }

    /// Reports `what: <strerror>` and returns the exit status for `err`.
    fn fail(what: &[u8], err: c_int) -> c_int {
        let mut line = Line::new();
        line.push(b"roam-adopt: ").push(what).push(b": ");
        // SAFETY: strerror() returns a NUL-terminated string valid until the
        // next strerror() call; this process has one thread and makes none.
        let msg = unsafe { CStr::from_ptr(libc::strerror(err)) };
        line.push(msg.to_bytes());
        say(line.finish());
        status_for(err)
    }

    /// Enters a time namespace whose CLOCK_MONOTONIC and CLOCK_BOOTTIME
    /// continue the arriving process's clocks (see the top of this file).
    /// Failures are reported and otherwise ignored.
    fn keep_home_clock(dev: c_int, ticket: u64) {
        let mut arg = AdoptClocks { ticket, ..AdoptClocks::default() }.to_bytes();
        // SAFETY: `arg` is valid for AdoptClocks::SIZE bytes, the size
        // encoded in ROAM_IOC_ADOPT_CLOCKS; the kernel keeps no reference.
        if unsafe { libc::ioctl(dev, ROAM_IOC_ADOPT_CLOCKS as _, arg.as_mut_ptr()) } < 0 {
            fail(b"cannot learn the home clock", errno());
            return;
        }
        let c = AdoptClocks::from_bytes(&arg);
        if c.monotonic_ns == 0 && c.boottime_ns == 0 {
            return;
        }
        // SAFETY: plain system call on this (single-threaded) process.
        if unsafe { libc::unshare(libc::CLONE_NEWTIME) } < 0 {
            fail(b"cannot keep the home clock (time namespace)", errno());
            return;
        }
        let mut text = [0u8; 128];
        let mut line = [0u8; 64];
        let n = AdoptClocks::offsets_line("monotonic", c.monotonic_ns, &mut line);
        text[..n].copy_from_slice(&line[..n]);
        let m = AdoptClocks::offsets_line("boottime", c.boottime_ns, &mut line);
        text[n..n + m].copy_from_slice(&line[..m]);
        // SAFETY: NUL-terminated literal paths; `text` is valid for n + m
        // bytes; the descriptors are ours and closed here.
        unsafe {
            let f = libc::open(c"/proc/self/timens_offsets".as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
            let wrote = f >= 0 && libc::write(f, text.as_ptr().cast(), n + m) == (n + m) as isize;
            let err = errno();
            if f >= 0 {
                libc::close(f);
            }
            if !wrote {
                fail(b"cannot set the time namespace's offsets", err);
                return;
            }
            let ns = libc::open(c"/proc/self/ns/time_for_children".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
            let joined = ns >= 0 && libc::setns(ns, libc::CLONE_NEWTIME) == 0;
            let err = errno();
            if ns >= 0 {
                libc::close(ns);
            }
            if !joined {
                fail(b"cannot enter the time namespace", err);
            }
        }
    }

    /// Writes `text` to the file at `path` (a NUL-terminated byte string)
    /// with one `write`; the errno of what failed.
    fn write_file(path: &[u8], text: &[u8]) -> Result<(), c_int> {
        // SAFETY: `path` is NUL-terminated (the callers build it so);
        // `text` is valid for its length; the descriptor is ours and
        // closed here.
        unsafe {
            let f = libc::open(path.as_ptr().cast(), libc::O_WRONLY | libc::O_CLOEXEC);
            if f < 0 {
                return Err(errno());
            }
            let wrote = libc::write(f, text.as_ptr().cast(), text.len());
            let e = errno();
            libc::close(f);
            if wrote != text.len() as isize {
                return Err(if wrote < 0 { e } else { libc::EIO });
            }
        }
        Ok(())
    }

    /// Takes on the arriving process's cgroup, label and real uid (see
    /// the top of this file), in that order (the first two need root's
    /// privileges, which the uid alone does not drop); the errno of what
    /// failed, with what was said about it.
    fn take_user(dev: c_int, ticket: u64) -> Result<(), c_int> {
        let mut arg = AdoptUser { ticket, ..AdoptUser::default() }.to_bytes();
        // SAFETY: `arg` is valid for AdoptUser::SIZE bytes, the size
        // encoded in ROAM_IOC_ADOPT_USER; the kernel keeps no reference.
        if unsafe { libc::ioctl(dev, ROAM_IOC_ADOPT_USER as _, arg.as_mut_ptr()) } < 0 {
            let e = errno();
            fail(b"cannot learn the process's user", e);
            return Err(e);
        }
        let u = AdoptUser::from_bytes(&arg);
        let cgroup = u.join.cgroup();
        if !cgroup.is_empty() {
            let mut path = [0u8; CGROUP_PROCS_MAX];
            let n = cgroup_procs_path(cgroup, &mut path);
            if let Err(e) = write_file(&path[..n], b"0") {
                let mut what = Line::new();
                what.push(b"cannot join cgroup ").push(cgroup);
                fail(&what.buf[..what.len], e);
                return Err(e);
            }
        }
        let label = u.join.label();
        if !label.is_empty() {
            if let Err(e) = write_file(b"/proc/thread-self/attr/current\0", label) {
                let mut what = Line::new();
                what.push(b"cannot take security label ").push(label);
                fail(&what.buf[..what.len], e);
                return Err(e);
            }
        }
        // SAFETY: plain system call on this (single-threaded) process; -1
        // (as uid_t) leaves the effective and saved ids as they are.
        if unsafe { libc::setresuid(u.uid, libc::uid_t::MAX, libc::uid_t::MAX) } < 0 {
            let e = errno();
            fail(b"cannot take the process's user id", e);
            return Err(e);
        }
        Ok(())
    }

    /// Parked: waits for SIGUSR1 (blocked by the kernel before this program
    /// started, so one sent early waits pending), named `roam-parked`
    /// meanwhile. Returns the errno of a failed wait.
    fn park() -> Result<(), c_int> {
        // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16
        // bytes from the pointer.
        unsafe { libc::prctl(libc::PR_SET_NAME, c"roam-parked".as_ptr()) };
        // SAFETY: `set` is a local sigset_t that sigemptyset/sigaddset
        // initialise before sigwaitinfo reads it; a null siginfo pointer is
        // allowed.
        unsafe {
            let mut set: libc::sigset_t = core::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGUSR1);
            loop {
                if libc::sigwaitinfo(&set, core::ptr::null_mut()) == libc::SIGUSR1 {
                    break;
                }
                let e = errno();
                if e != libc::EINTR {
                    return Err(e);
                }
            }
            libc::prctl(libc::PR_SET_NAME, c"roam-adopt".as_ptr());
        }
        Ok(())
    }

    /// The entry point, called by the C runtime.
    #[no_mangle]
    pub extern "C" fn main(argc: c_int, argv: *const *const c_char) -> c_int {
        let arg = if argc == 2 && !argv.is_null() {
            // SAFETY: the C runtime passes argc valid pointers to
            // NUL-terminated strings in argv (followed by a null one).
            let p = unsafe { *argv.add(1) };
            // SAFETY: as above, `p` is a NUL-terminated string or null.
            (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) })
        } else {
            None
        };
        let ticket = match arg.and_then(|a| parse_mode(a.to_bytes())) {
            Some(Mode::Ticket(t)) => t,
            Some(Mode::Park) => {
                if let Err(e) = park() {
                    fail(b"cannot wait parked", e);
                    return STATUS_PARK;
                }
                0
            }
            None => {
                say(Line::new().push(b"roam-adopt: usage: roam-adopt TICKET (a decimal u64) | roam-adopt --park").finish());
                return STATUS_USAGE;
            }
        };

        // SAFETY: the path is a NUL-terminated literal.
        let fd = unsafe { libc::open(c"/dev/roam".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
        if fd < 0 {
            return fail(b"cannot open /dev/roam", errno());
        }
        keep_home_clock(fd, ticket);
        if let Err(e) = take_user(fd, ticket) {
            // SAFETY: `fd` is ours and used no more.
            unsafe { libc::close(fd) };
            return status_for(e);
        }
        let mut arg = Adopt { ticket }.to_bytes();
        // SAFETY: `arg` is valid for Adopt::SIZE bytes, the size encoded in
        // ROAM_IOC_ADOPT; the kernel reads only those and keeps no reference.
        let rc = unsafe { libc::ioctl(fd, ROAM_IOC_ADOPT as _, arg.as_mut_ptr()) };
        let err = errno();
        // Closed before reporting: when the stub was started with fd 2
        // closed, the device may have landed on it.
        // SAFETY: `fd` is ours and used no more.
        unsafe { libc::close(fd) };
        if rc >= 0 {
            say(Line::new().push(b"roam-adopt: the adopt ioctl returned without adopting").finish());
            return STATUS_RETURNED;
        }
        fail(b"adopt failed", err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickets() {
        assert_eq!(parse_ticket(b"0"), Some(0));
        assert_eq!(parse_ticket(b"42"), Some(42));
        assert_eq!(parse_ticket(b"18446744073709551615"), Some(u64::MAX));
        for bad in [&b""[..], b"18446744073709551616", b"-1", b"+1", b" 1", b"1 ", b"0x10", b"1\n"] {
            assert_eq!(parse_ticket(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn modes() {
        assert_eq!(parse_mode(b"--park"), Some(Mode::Park));
        assert_eq!(parse_mode(b"17"), Some(Mode::Ticket(17)));
        for bad in [&b"--parked"[..], b"park", b"", b"-p"] {
            assert_eq!(parse_mode(bad), None);
        }
    }

    #[test]
    fn exit_statuses() {
        assert_eq!(status_for(libc::EPERM), 113);
        assert_eq!(status_for(libc::ENOENT), 114);
        assert_eq!(status_for(libc::ESRCH), 115);
        assert_eq!(status_for(libc::EINTR), 116);
        assert_eq!(status_for(libc::EIO), 117);
        assert_eq!(status_for(libc::EINVAL), 118);
        assert_eq!(status_for(libc::ENOTTY), 121);
        assert_eq!(status_for(libc::EAGAIN), 123);
        assert_eq!(status_for(libc::ENOMEM), 124);
        assert_eq!(status_for(libc::EACCES), 125);
        assert_eq!(status_for(libc::EFAULT), 126);
        assert_eq!(status_for(libc::EBUSY), 112);
        assert_eq!(status_for(libc::ETIMEDOUT), 126);
        for e in 0..4096 {
            assert!((112..=127).contains(&status_for(e)));
        }
        assert!(![STATUS_USAGE, STATUS_RETURNED, STATUS_PARK].iter().any(|s| (112..=127).contains(s)));
    }

    #[test]
    fn cgroup_paths() {
        let mut out = [0xffu8; 64];
        let n = cgroup_procs_path(b"/jobs/42", &mut out);
        assert_eq!(&out[..n], b"/sys/fs/cgroup/jobs/42/cgroup.procs\0");
        let n = cgroup_procs_path(b"/", &mut out);
        assert_eq!(&out[..n], b"/sys/fs/cgroup/cgroup.procs\0");
        let mut small = [0xffu8; 8];
        let n = cgroup_procs_path(b"/jobs", &mut small);
        assert_eq!(&small[..n], b"/sys/fs\0");
    }

    #[test]
    fn lines_are_bounded() {
        let mut l = Line::new();
        assert_eq!(l.push(b"roam-adopt: ").push(b"adopt failed").finish(), b"roam-adopt: adopt failed\n");
        let mut l = Line::new();
        let long = [b'x'; 400];
        let out = l.push(&long).push(b"more").finish();
        assert_eq!(out.len(), 256);
        assert_eq!(out[255], b'\n');
    }
}
