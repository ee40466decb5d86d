//! Helpers for the test programs that run inside the QEMU guests.
//!
//! The guest is a busybox initramfs running as root, with roam.ko loaded at
//! boot and the node id set from `/etc/roam/node`. Everything that needs
//! `unsafe` in the test programs (fork, setuid, ioctl, the module syscalls,
//! non-blocking pipes) is wrapped here, one small function each.
//!
//! The parsing helpers (`parse_*`) are plain functions over text so they
//! can be unit-tested on the host.

use std::ffi::CString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::io::{AsRawFd, RawFd};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use roam_proto::abi::{ioc_size, Status, ROAM_IOC_STATUS};

/// Where roam's sysfs attributes live.
pub const SYSFS_DIR: &str = "/sys/kernel/roam";
/// roam's character device.
pub const DEV_PATH: &str = "/dev/roam";
/// This guest's node id, one decimal number.
pub const NODE_FILE: &str = "/etc/roam/node";
/// All nodes of the test cluster, one `ID IP` pair a line.
pub const PEERS_FILE: &str = "/etc/roam/peers";
/// The module image loaded at boot.
pub const MODULE_PATH: &str = "/lib/modules/roam.ko";
/// The module's name in `/proc/modules` and for `delete_module`.
pub const MODULE_NAME: &str = "roam";
/// The control tool.
pub const ROAMCTL: &str = "/usr/bin/roamctl";
/// The unprivileged user (and group) the tests switch to.
pub const NOBODY: u32 = 65534;

/// Parses the content of [`NODE_FILE`].
pub fn parse_node(text: &str) -> Option<u32> {
    text.trim().parse().ok()
}

/// This guest's node id from [`NODE_FILE`], or 0 if the file is missing or
/// malformed. 0 is never a valid node id, so a test comparing against it
/// fails rather than passing by accident.
pub fn node_id() -> u32 {
    fs::read_to_string(NODE_FILE)
        .ok()
        .and_then(|t| parse_node(&t))
        .unwrap_or(0)
}

/// Parses the content of [`PEERS_FILE`]: `ID IP` per line. Blank lines and
/// lines starting with `#` are skipped, as are lines that do not have a
/// number and an address.
pub fn parse_peers(text: &str) -> Vec<(u32, String)> {
    let mut peers = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words = line.split_whitespace();
        let (Some(id), Some(ip)) = (words.next(), words.next()) else {
            continue;
        };
        if let Ok(id) = id.parse::<u32>() {
            peers.push((id, ip.to_string()));
        }
    }
    peers
}

/// All nodes listed in [`PEERS_FILE`] (this one included); empty if the
/// file cannot be read.
pub fn peers() -> Vec<(u32, String)> {
    fs::read_to_string(PEERS_FILE)
        .map(|t| parse_peers(&t))
        .unwrap_or_default()
}

/// `/sys/kernel/roam/<attr>`.
pub fn sysfs_path(attr: &str) -> PathBuf {
    PathBuf::from(SYSFS_DIR).join(attr)
}

/// Reads `/sys/kernel/roam/<attr>` whole.
pub fn read_sysfs(attr: &str) -> io::Result<String> {
    fs::read_to_string(sysfs_path(attr))
}

/// The node id as the module shows it in sysfs.
pub fn sysfs_node_id() -> io::Result<u32> {
    let text = read_sysfs("node_id")?;
    text.trim().parse().map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("node_id reads {text:?}"),
        )
    })
}

/// Opens `path` for writing and hands `bytes` to exactly one write(2).
/// The errno of the open or the write comes back as the error; a write
/// that took fewer bytes than given is an error of kind `WriteZero`.
pub fn write_once(path: &str, bytes: &[u8]) -> io::Result<()> {
    let mut f = OpenOptions::new().write(true).open(path)?;
    // `Write::write` on a File is a single write(2), unlike `write_all`.
    let n = f.write(bytes)?;
    if n != bytes.len() {
        return Err(io::Error::new(
            io::ErrorKind::WriteZero,
            format!("short write: {n} of {} bytes", bytes.len()),
        ));
    }
    Ok(())
}

/// Writes `bytes` to `/sys/kernel/roam/<attr>` in a single write(2); see
/// [`write_once`].
pub fn write_sysfs(attr: &str, bytes: &[u8]) -> io::Result<()> {
    write_once(&sysfs_path(attr).to_string_lossy(), bytes)
}

/// Sets the node id through sysfs and reads it back; the error explains
/// what went wrong.
pub fn set_node_id(id: u32) -> Result<(), String> {
    write_sysfs("node_id", format!("{id}\n").as_bytes())
        .map_err(|e| format!("writing {id} to node_id: {}", errno_name(&e)))?;
    match sysfs_node_id() {
        Ok(v) if v == id => Ok(()),
        Ok(v) => Err(format!("wrote {id} to node_id but it reads {v}")),
        Err(e) => Err(format!("reading node_id back: {e}")),
    }
}

/// The symbolic name and number of an OS error, e.g. `EINVAL (22)`, or
/// the error's text if it carries no errno.
pub fn errno_name(err: &io::Error) -> String {
    let Some(code) = err.raw_os_error() else {
        return err.to_string();
    };
    let name = match code {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::EINTR => "EINTR",
        libc::EIO => "EIO",
        libc::ENXIO => "ENXIO",
        libc::E2BIG => "E2BIG",
        libc::EBADF => "EBADF",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EFAULT => "EFAULT",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::ENODEV => "ENODEV",
        libc::EINVAL => "EINVAL",
        libc::ENOTTY => "ENOTTY",
        libc::ENOSPC => "ENOSPC",
        libc::EROFS => "EROFS",
        libc::ERANGE => "ERANGE",
        libc::ENOSYS => "ENOSYS",
        libc::ENOEXEC => "ENOEXEC",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        _ => "errno",
    };
    format!("{name} ({code})")
}

/// Whether `err` carries one of `codes` as its errno.
pub fn errno_is(err: &io::Error, codes: &[i32]) -> bool {
    err.raw_os_error().is_some_and(|c| codes.contains(&c))
}

/// Describes a result for a diagnostic line: `ok` or the errno name.
pub fn describe<T>(res: &io::Result<T>) -> String {
    match res {
        Ok(_) => "success".to_string(),
        Err(e) => errno_name(e),
    }
}

/// The error for the calling thread's errno.
fn last_error() -> io::Error {
    io::Error::last_os_error()
}

/// Number of threads in this process, from `/proc/self/task`.
fn thread_count() -> io::Result<usize> {
    Ok(fs::read_dir("/proc/self/task")?.count())
}

/// How long [`as_user`] lets the child run before killing it.
pub const AS_USER_TIMEOUT: Duration = Duration::from_secs(30);

/// Drops every group and switches to `uid`/`uid` for good.
fn become_user(uid: u32) -> io::Result<()> {
    // SAFETY: a zero-length list: the pointer is never read.
    if unsafe { libc::setgroups(0, std::ptr::null()) } != 0 {
        return Err(last_error());
    }
    // SAFETY: plain integer argument, no memory is involved.
    if unsafe { libc::setgid(uid) } != 0 {
        return Err(last_error());
    }
    // SAFETY: plain integer argument, no memory is involved.
    if unsafe { libc::setuid(uid) } != 0 {
        return Err(last_error());
    }
    // SAFETY: no arguments; these calls cannot fail.
    let (ruid, euid) = unsafe { (libc::getuid(), libc::geteuid()) };
    if ruid != uid || euid != uid {
        return Err(io::Error::other("uid did not change"));
    }
    Ok(())
}

/// Runs `f` in a child process that has switched to user and group `uid`
/// (with no supplementary groups) and returns whether `f` returned true
/// there. A child that cannot switch, panics, or runs longer than
/// [`AS_USER_TIMEOUT`] (it is then killed) counts as false.
///
/// The child shares stdout with the parent, so `f` may print diagnostics
/// with [`crate::ktap::diag`], but must not report results. Refuses (and
/// returns false) when the process has more than one thread, because only
/// a single-threaded process may run arbitrary code after fork.
pub fn as_user<F: FnOnce() -> bool>(uid: u32, f: F) -> bool {
    in_child(&format!("switching to uid {uid}"), || become_user(uid), f)
}

/// Drops capability `cap` from the effective and permitted sets, for good.
fn drop_capability(cap: u32) -> io::Result<()> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    let hdr = Header { version: 0x2008_0522, pid: 0 };
    let mut data = [0u32; 6];
    // SAFETY: a version-3 header and room for its two 3-word data sets.
    if unsafe { libc::syscall(libc::SYS_capget, &hdr as *const Header, data.as_mut_ptr()) } != 0 {
        return Err(last_error());
    }
    let (word, bit) = ((cap / 32) as usize * 3, 1u32 << (cap % 32));
    data[word] &= !bit;
    data[word + 1] &= !bit;
    // SAFETY: the same header and data, as capset reads them.
    if unsafe { libc::syscall(libc::SYS_capset, &hdr as *const Header, data.as_ptr()) } != 0 {
        return Err(last_error());
    }
    Ok(())
}

/// Like [`as_user`], but the child stays root and gives up capability
/// `cap` (for example `CAP_SYS_ADMIN`, 21).
pub fn as_root_without<F: FnOnce() -> bool>(cap: u32, f: F) -> bool {
    in_child(&format!("dropping capability {cap}"), || drop_capability(cap), f)
}

/// Runs `f` in a child process after `setup`; see [`as_user`].
fn in_child<F: FnOnce() -> bool>(what: &str, setup: impl FnOnce() -> io::Result<()>, f: F) -> bool {
    match thread_count() {
        Ok(1) => {}
        other => {
            crate::ktap::diag(&format!(
                "as_user: refusing to fork, thread count {other:?}"
            ));
            return false;
        }
    }
    let _ = io::stdout().flush();
    // SAFETY: the process has one thread (checked above), so the child is a
    // full copy that may allocate and run `f` normally.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        crate::ktap::diag(&format!("as_user: fork: {}", errno_name(&last_error())));
        return false;
    }
    if pid == 0 {
        let ok = match setup() {
            Ok(()) => std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or(false),
            Err(e) => {
                crate::ktap::diag(&format!("as_user: {what}: {}", errno_name(&e)));
                false
            }
        };
        let _ = io::stdout().flush();
        // SAFETY: ends the child at once, without unwinding into the
        // parent's code or running its exit handlers twice.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) }
    }

    let mut status: libc::c_int = 0;
    let mut reaped = false;
    let finished = wait_for(AS_USER_TIMEOUT, Duration::from_millis(5), || {
        // SAFETY: `status` is a live c_int for the duration of the call.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            reaped = true;
        } else if r < 0 && last_error().raw_os_error() != Some(libc::EINTR) {
            // Cannot wait for it (should not happen): stop polling.
            return true;
        }
        reaped
    });
    if !finished || !reaped {
        crate::ktap::diag(&format!("as_user: child {pid} did not finish, killing it"));
        // SAFETY: plain integer arguments; `pid` is our own unreaped child.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        // SAFETY: `status` is a live c_int for the duration of the call.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        return false;
    }
    libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0
}

/// The argument of an [`ioctl`] call.
#[derive(Debug)]
pub enum IoctlArg<'a> {
    /// Pass 0.
    Zero,
    /// Pass a pointer to this buffer. It must be at least as long as the
    /// size encoded in the command and at least [`Status::SIZE`], so that
    /// even a driver that ignores the encoded size and writes a whole
    /// status cannot write past it.
    Buf(&'a mut [u8]),
    /// Pass an address no user mapping can have: below 4096 (the page the
    /// kernel never lets user space map by default) or in the kernel half
    /// of the address space. Used to provoke EFAULT.
    Unmapped(usize),
}

/// Lowest address of the kernel half of the x86-64 address space.
const KERNEL_HALF: usize = 0xffff_8000_0000_0000;

/// ioctl(2) on `fd`. Returns the call's non-negative result or its errno.
/// Arguments that could let the kernel write outside memory we own are
/// refused with `InvalidInput` before the call (see [`IoctlArg`]).
pub fn ioctl(fd: RawFd, cmd: u32, arg: IoctlArg<'_>) -> io::Result<i32> {
    let addr: usize = match arg {
        IoctlArg::Zero => 0,
        IoctlArg::Buf(buf) => {
            if buf.len() < ioc_size(cmd) || buf.len() < Status::SIZE {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "ioctl buffer of {} bytes is too small for {cmd:#x}",
                        buf.len()
                    ),
                ));
            }
            buf.as_mut_ptr() as usize
        }
        IoctlArg::Unmapped(a) => {
            if (4096..KERNEL_HALF).contains(&a) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{a:#x} might be mapped in this process"),
                ));
            }
            a
        }
    };
    // SAFETY: `addr` is 0, an address nothing of ours is mapped at, or a
    // buffer we exclusively borrow that is long enough for what the command
    // lets the kernel write (checked above).
    let r = unsafe { libc::syscall(libc::SYS_ioctl, fd, cmd as libc::c_ulong, addr) };
    if r < 0 {
        Err(last_error())
    } else {
        Ok(r as i32)
    }
}

/// `ROAM_IOC_STATUS` on `fd`: the raw reply.
pub fn status_ioctl(fd: RawFd) -> io::Result<[u8; Status::SIZE]> {
    let mut buf = [0u8; Status::SIZE];
    ioctl(fd, ROAM_IOC_STATUS, IoctlArg::Buf(&mut buf))?;
    Ok(buf)
}

/// Opens [`DEV_PATH`] read-only.
pub fn open_dev() -> io::Result<File> {
    File::open(DEV_PATH)
}

/// Opens [`DEV_PATH`], asks for the status and decodes it.
pub fn query_status() -> Result<Status, String> {
    let dev = open_dev().map_err(|e| format!("open {DEV_PATH}: {}", errno_name(&e)))?;
    let raw = status_ioctl(dev.as_raw_fd())
        .map_err(|e| format!("ROAM_IOC_STATUS: {}", errno_name(&e)))?;
    Status::from_bytes(&raw).map_err(|e| format!("decoding the status: {e:?}"))
}

/// Calls `cond` every `poll_interval` until it returns true (then returns
/// true) or `timeout` has passed (then returns false). `cond` is always
/// called at least once, and once more at the deadline.
pub fn wait_for(
    timeout: Duration,
    poll_interval: Duration,
    mut cond: impl FnMut() -> bool,
) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        std::thread::sleep(poll_interval.min(deadline - now));
    }
}

/// What a program started by [`run`] did.
#[derive(Clone, Debug, Default)]
pub struct Run {
    /// The exit status; `None` if it was killed by a signal.
    pub code: Option<i32>,
    /// Everything it wrote to stdout (lossily decoded).
    pub stdout: String,
    /// Everything it wrote to stderr (lossily decoded).
    pub stderr: String,
    /// It did not end in time and was killed.
    pub timed_out: bool,
}

impl Run {
    /// Exited with status 0 in time.
    pub fn success(&self) -> bool {
        self.code == Some(0) && !self.timed_out
    }

    /// A summary for diagnostics: status, stdout and stderr.
    pub fn describe(&self) -> String {
        let status = if self.timed_out {
            "timed out".to_string()
        } else {
            match self.code {
                Some(c) => format!("exit status {c}"),
                None => "no exit status (killed by a signal, or never started)".to_string(),
            }
        };
        format!(
            "{status}\nstdout: {:?}\nstderr: {:?}",
            self.stdout, self.stderr
        )
    }
}

/// Makes a pipe non-blocking so it can be drained while polling.
fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: F_GETFL takes no pointer argument.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(last_error());
    }
    // SAFETY: F_SETFL takes an integer argument.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(last_error());
    }
    Ok(())
}

/// Reads whatever is available without blocking. Returns true at EOF.
fn drain(src: &mut impl Read, into: &mut Vec<u8>) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        match src.read(&mut buf) {
            Ok(0) => return true,
            Ok(n) => into.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
}

/// Runs `cmd` with no stdin, collecting stdout and stderr, and kills it if
/// it has not ended after `timeout`. Set arguments, uid etc. on `cmd`
/// before calling.
pub fn run(cmd: &mut Command, timeout: Duration) -> io::Result<Run> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut out = child
        .stdout
        .take()
        .ok_or_else(|| io::Error::other("no stdout pipe"))?;
    let mut err = child
        .stderr
        .take()
        .ok_or_else(|| io::Error::other("no stderr pipe"))?;
    set_nonblocking(out.as_raw_fd())?;
    set_nonblocking(err.as_raw_fd())?;
    let (mut out_buf, mut err_buf) = (Vec::new(), Vec::new());
    let mut status = None;
    let mut wait_err = None;
    let done = wait_for(timeout, Duration::from_millis(5), || {
        drain(&mut out, &mut out_buf);
        drain(&mut err, &mut err_buf);
        match child.try_wait() {
            Ok(Some(s)) => {
                status = Some(s);
                true
            }
            Ok(None) => false,
            Err(e) => {
                wait_err = Some(e);
                true
            }
        }
    });
    if let Some(e) = wait_err {
        let _ = child.kill();
        let _ = child.wait();
        return Err(e);
    }
    let timed_out = !done;
    if timed_out {
        let _ = child.kill();
        status = child.wait().ok();
    }
    // Collect what was written between the last poll and the exit; a
    // grandchild holding the pipe open cannot make this block.
    drain(&mut out, &mut out_buf);
    drain(&mut err, &mut err_buf);
    Ok(Run {
        code: status.and_then(|s| s.code()),
        stdout: String::from_utf8_lossy(&out_buf).into_owned(),
        stderr: String::from_utf8_lossy(&err_buf).into_owned(),
        timed_out,
    })
}

/// One line of `/proc/modules`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuleEntry {
    /// Size in bytes.
    pub size: u64,
    /// Reference count (the third column).
    pub refcount: u32,
    /// `Live`, `Loading` or `Unloading`.
    pub state: String,
}

/// Finds module `name` in the text of `/proc/modules`.
pub fn parse_proc_modules(text: &str, name: &str) -> Option<ModuleEntry> {
    text.lines().find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 5 || f[0] != name {
            return None;
        }
        Some(ModuleEntry {
            size: f[1].parse().ok()?,
            refcount: f[2].parse().ok()?,
            state: f[4].to_string(),
        })
    })
}

/// Module `name`'s entry in `/proc/modules`, if it is loaded.
pub fn module_entry(name: &str) -> Option<ModuleEntry> {
    fs::read_to_string("/proc/modules")
        .ok()
        .and_then(|t| parse_proc_modules(&t, name))
}

/// delete_module(2): unloads module `name`. `flags` is usually
/// `libc::O_NONBLOCK` (fail with EWOULDBLOCK instead of waiting for users).
pub fn delete_module(name: &str, flags: i32) -> io::Result<()> {
    let name = CString::new(name).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // SAFETY: `name` is a NUL-terminated string that outlives the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_delete_module,
            name.as_ptr(),
            flags as libc::c_long,
        )
    };
    if r != 0 {
        return Err(last_error());
    }
    Ok(())
}

/// init_module(2): loads a module from its ELF image with parameter string
/// `params` (e.g. "" or "foo=1").
pub fn init_module(image: &[u8], params: &str) -> io::Result<()> {
    let params =
        CString::new(params).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // SAFETY: `image` is valid for `image.len()` bytes and `params` is a
    // NUL-terminated string; the kernel only reads both during the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_init_module,
            image.as_ptr(),
            image.len(),
            params.as_ptr(),
        )
    };
    if r != 0 {
        return Err(last_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_file() {
        assert_eq!(parse_node("3\n"), Some(3));
        assert_eq!(parse_node("  12  "), Some(12));
        assert_eq!(parse_node(""), None);
        assert_eq!(parse_node("x"), None);
    }

    #[test]
    fn peers_file() {
        let p = parse_peers("# cluster\n1 10.0.0.1\n\n2   10.0.0.2  extra\nbad line\n3\n");
        assert_eq!(
            p,
            vec![(1, "10.0.0.1".to_string()), (2, "10.0.0.2".to_string())]
        );
    }

    #[test]
    fn proc_modules_line() {
        let text = "\
virtio_net 65536 0 - Live 0xffffffffc0010000
roam 16384 2 - Live 0xffffffffc0000000 (O)
roamx 1 0 - Live 0x0
";
        let e = parse_proc_modules(text, "roam").unwrap();
        assert_eq!(
            e,
            ModuleEntry {
                size: 16384,
                refcount: 2,
                state: "Live".into()
            }
        );
        assert!(parse_proc_modules(text, "roa").is_none());
        assert!(parse_proc_modules("", "roam").is_none());
    }

    #[test]
    fn errno_names() {
        let e = io::Error::from_raw_os_error(libc::EINVAL);
        assert_eq!(errno_name(&e), "EINVAL (22)");
        assert!(errno_is(&e, &[libc::EACCES, libc::EINVAL]));
        assert!(!errno_is(&e, &[libc::EACCES]));
        assert!(!errno_is(&io::Error::other("x"), &[libc::EINVAL]));
    }

    #[test]
    fn wait_for_is_bounded() {
        let start = Instant::now();
        assert!(!wait_for(
            Duration::from_millis(50),
            Duration::from_millis(10),
            || false
        ));
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(50) && took < Duration::from_secs(2),
            "{took:?}"
        );

        let mut calls = 0;
        assert!(wait_for(
            Duration::from_secs(5),
            Duration::from_millis(1),
            || {
                calls += 1;
                calls == 3
            }
        ));
        assert_eq!(calls, 3);
        // A zero timeout still looks once.
        assert!(wait_for(Duration::ZERO, Duration::from_millis(1), || true));
    }

    #[test]
    fn ioctl_refuses_unsafe_arguments() {
        let mut small = [0u8; 8];
        let e = ioctl(0, ROAM_IOC_STATUS, IoctlArg::Buf(&mut small)).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        let e = ioctl(0, ROAM_IOC_STATUS, IoctlArg::Unmapped(0x7fff_0000_0000)).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn ioctl_reports_errno() {
        // /dev/null knows no roam ioctl.
        let f = File::open("/dev/null").unwrap();
        let e = status_ioctl(f.as_raw_fd()).unwrap_err();
        assert!(errno_is(&e, &[libc::ENOTTY, libc::EINVAL]), "{e}");
        let e = ioctl(f.as_raw_fd(), ROAM_IOC_STATUS, IoctlArg::Unmapped(0x10)).unwrap_err();
        assert!(e.raw_os_error().is_some());
    }

    #[test]
    fn run_collects_output_and_status() {
        let r = run(
            Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]),
            Duration::from_secs(10),
        )
        .unwrap();
        assert_eq!(r.code, Some(3));
        assert_eq!(r.stdout, "out\n");
        assert_eq!(r.stderr, "err\n");
        assert!(!r.timed_out);
        assert!(!r.success());
    }

    #[test]
    fn run_kills_on_timeout() {
        let start = Instant::now();
        let r = run(Command::new("sleep").arg("30"), Duration::from_millis(200)).unwrap();
        assert!(r.timed_out);
        assert!(!r.success());
        assert!(start.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn write_once_reports_errno() {
        let e = write_once("/nonexistent-dir/x", b"1").unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
        // /dev/full refuses every write with ENOSPC.
        if std::path::Path::new("/dev/full").exists() {
            let e = write_once("/dev/full", b"1").unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::ENOSPC));
        }
    }
}
