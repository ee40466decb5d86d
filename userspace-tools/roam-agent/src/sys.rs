//! The few system calls std does not wrap: terminal modes and pipes.

use std::fs::{File, OpenOptions};
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Turns a libc return value into an `io::Result`.
fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// Opens a serial tty for reading and writing in raw mode: no echo, no
/// line editing, no newline translation, no signals; the baud rate is kept.
/// Modem lines are ignored (`CLOCAL`), so neither the open nor later reads
/// depend on carrier detect.
pub fn open_raw_tty(path: &Path) -> io::Result<File> {
    // O_NONBLOCK so the open does not wait for carrier; O_NOCTTY so the
    // port never becomes our controlling terminal.
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK)
        .open(path)?;
    let fd = file.as_raw_fd();

    let mut attrs = tcgetattr(fd)?;
    // SAFETY: `attrs` is a valid, initialized termios; cfmakeraw only
    // rewrites flag fields of the struct it is given.
    unsafe { libc::cfmakeraw(&mut attrs) };
    attrs.c_cflag |= libc::CLOCAL | libc::CREAD;
    // Block in read() until at least one byte is there.
    attrs.c_cc[libc::VMIN] = 1;
    attrs.c_cc[libc::VTIME] = 0;
    // SAFETY: `fd` is open (owned by `file`) and `attrs` is a valid termios
    // that tcsetattr only reads.
    check(unsafe { libc::tcsetattr(fd, libc::TCSANOW, &attrs) })?;

    // Now that CLOCAL is set, go back to blocking I/O.
    // SAFETY: F_GETFL/F_SETFL on an open fd take no pointers.
    let flags = check(unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
    // SAFETY: as above.
    check(unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) })?;
    Ok(file)
}

/// Reads the terminal attributes of `fd`.
fn tcgetattr(fd: RawFd) -> io::Result<libc::termios> {
    let mut attrs = MaybeUninit::<libc::termios>::uninit();
    // SAFETY: the pointer is valid for writing one termios; on success
    // tcgetattr fills in the whole struct.
    check(unsafe { libc::tcgetattr(fd, attrs.as_mut_ptr()) })?;
    // SAFETY: tcgetattr succeeded, so `attrs` is initialized.
    Ok(unsafe { attrs.assume_init() })
}

/// Creates a pipe, returning (read end, write end). Both ends are
/// close-on-exec; `Command` dups the ones a child needs onto its stdio.
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` is valid for writing the two descriptors pipe2 returns.
    check(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: pipe2 succeeded, so both descriptors are open and owned by no
    // one else; each is wrapped exactly once.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}
