//! Access to the `/dev/roam` control device.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

use roam_proto::abi::ioc_size;

/// Where the module's misc device appears.
pub const DEV_PATH: &str = "/dev/roam";

/// An open `/dev/roam`.
pub struct Device {
    file: File,
}

impl Device {
    /// Opens `/dev/roam` read-only; querying state needs no more.
    pub fn open() -> io::Result<Self> {
        File::open(DEV_PATH).map(|file| Device { file })
    }

    /// Opens `/dev/roam` read-write, for ioctls that act.
    pub fn open_rw() -> io::Result<Self> {
        std::fs::OpenOptions::new().read(true).write(true).open(DEV_PATH).map(|file| Device { file })
    }

    /// Issues a "read" ioctl (`_IOR`): the module fills `buf`, whose length
    /// must be the size encoded in `cmd`.
    pub fn ioctl_read(&self, cmd: u32, buf: &mut [u8]) -> io::Result<()> {
        self.ioctl_rw(cmd, buf)
    }

    /// Issues an ioctl whose argument points to `buf` (read, write or both
    /// directions), which must be the size encoded in `cmd`.
    pub fn ioctl_rw(&self, cmd: u32, buf: &mut [u8]) -> io::Result<()> {
        if buf.len() != ioc_size(cmd) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("ioctl {cmd:#x} needs a {}-byte buffer, got {}", ioc_size(cmd), buf.len()),
            ));
        }
        // SAFETY: the fd is open for as long as `self.file` lives. The
        // pointer is valid for reads and writes of `buf.len()` bytes, which
        // equals the size encoded in `cmd`, and that is all roam copies in or
        // out. The kernel keeps no reference to `buf` after returning.
        let rc = unsafe { libc::ioctl(self.file.as_raw_fd(), cmd as _, buf.as_mut_ptr()) };
        if rc < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }
}
