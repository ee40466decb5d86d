// SPDX-License-Identifier: GPL-2.0

//! Files behind memory areas (`files.c`): the file a clean private area
//! maps, a file's identity and the SHA-256 of a range of it, opening a
//! file by path, and mapping one privately into the current mm. A
//! migration uses them to let the destination map program text and
//! libraries from its own identical copies instead of receiving them.

use kernel::prelude::*;

/// What identifies a file's content: when any of it changes, a hash of
/// the file is stale (`struct roam_file_id`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct FileId {
    pub(crate) dev: u64,
    pub(crate) ino: u64,
    pub(crate) size: u64,
    pub(crate) mtime_ns: i64,
    pub(crate) ctime_ns: i64,
    pub(crate) mode: u32,
    pad: u32,
}

impl FileId {
    /// Whether everyone may read the file (`S_IROTH`).
    pub(crate) fn world_readable(&self) -> bool {
        self.mode & 0o004 != 0
    }
}

/// `struct file`, never looked into from Rust.
#[repr(C)]
pub(crate) struct RawFile {
    _opaque: [u8; 0],
}

extern "C" {
    fn roam_area_clean_file(start: core::ffi::c_ulong) -> *mut RawFile;
    fn roam_file_id(f: *mut RawFile, id: *mut FileId) -> i32;
    fn roam_file_path(f: *mut RawFile, buf: *mut u8, len: i32) -> i32;
    fn roam_file_sha256(f: *mut RawFile, off: u64, len: u64, out: *mut u8) -> i32;
    fn roam_file_open_as(path: *const u8, write: i32, err: *mut i32) -> *mut RawFile;
    fn roam_file_read_user(f: *mut RawFile, ubuf: core::ffi::c_ulong, len: usize, pos: i64) -> core::ffi::c_long;
    fn roam_file_write_user(f: *mut RawFile, ubuf: core::ffi::c_ulong, len: usize, pos: i64) -> core::ffi::c_long;
    fn roam_file_put(f: *mut RawFile);
    fn roam_file_map(f: *mut RawFile, addr: u64, len: u64, prot: u32, off: u64) -> core::ffi::c_long;
}

/// A file this module holds a reference to.
///
/// # Invariants
///
/// `ptr` is a valid `struct file` on which this value owns one reference,
/// dropped exactly once (in `Drop`).
pub(crate) struct File {
    ptr: *mut RawFile,
}

// SAFETY: a referenced `struct file` may be used and released from any
// task; the helpers take the locks they need.
unsafe impl Send for File {}
// SAFETY: every method takes `&self` and the file's own locking covers
// concurrent reads, hashing and mapping.
unsafe impl Sync for File {}

impl File {
    /// The file the area starting at `start` of the current mm maps, if
    /// that area is a private mapping of a regular file in which no page
    /// was ever written (so it shows exactly the file's bytes).
    pub(crate) fn of_clean_area(start: u64) -> Option<File> {
        // SAFETY: the helper looks the area up under the current mm's
        // mmap lock and returns a new reference or NULL.
        let ptr = unsafe { roam_area_clean_file(start as _) };
        if ptr.is_null() {
            return None;
        }
        // INVARIANT: a non-null result carries one reference for us.
        Some(File { ptr })
    }

    /// Opens the file at absolute `path` (NUL-terminated) for reading,
    /// as the calling (kernel) thread.
    pub(crate) fn open(path: &kernel::str::CStr) -> Result<File> {
        Self::open_as(path, false)
    }

    /// Opens the file at `path` (NUL-terminated) for reading or, with
    /// `write`, for writing, as the calling task: its root, its mounts,
    /// its credentials.
    pub(crate) fn open_as(path: &kernel::str::CStr, write: bool) -> Result<File> {
        let mut err = 0i32;
        // SAFETY: `path` is NUL-terminated and lives across the call;
        // `err` is a valid out-parameter.
        let ptr = unsafe { roam_file_open_as(path.as_char_ptr(), i32::from(write), &mut err) };
        if ptr.is_null() {
            return Err(Error::from_errno(if err < 0 { err } else { -22 }));
        }
        // INVARIANT: filp_open's result is ours to put.
        Ok(File { ptr })
    }

    /// Its identity, or `EINVAL` for anything but a regular file.
    pub(crate) fn id(&self) -> Result<FileId> {
        let mut id = FileId::default();
        // SAFETY: `ptr` is valid (invariant); `id` is a valid out-parameter
        // of the layout the helper writes.
        let r = unsafe { roam_file_id(self.ptr, &mut id) };
        if r < 0 {
            return Err(Error::from_errno(r));
        }
        Ok(id)
    }

    /// Its path (as `d_path` gives it) into `buf`; returns the length.
    pub(crate) fn path(&self, buf: &mut [u8]) -> Result<usize> {
        let len = buf.len().min(i32::MAX as usize) as i32;
        // SAFETY: `ptr` is valid (invariant); `buf` is writable for `len`
        // bytes, and the helper writes at most that many.
        let r = unsafe { roam_file_path(self.ptr, buf.as_mut_ptr(), len) };
        if r < 0 {
            return Err(Error::from_errno(r));
        }
        Ok(r as usize)
    }

    /// SHA-256 of its bytes from `off` to `off + len` or its end.
    pub(crate) fn sha256(&self, off: u64, len: u64) -> Result<[u8; 32]> {
        let mut out = [0u8; 32];
        // SAFETY: `ptr` is valid (invariant); `out` has the 32 bytes the
        // helper writes.
        let r = unsafe { roam_file_sha256(self.ptr, off, len, out.as_mut_ptr()) };
        if r < 0 {
            return Err(Error::from_errno(r));
        }
        Ok(out)
    }

    /// Reads up to `len` bytes at `pos` into the current mm's memory at
    /// `ubuf`, as `pread(2)` would (for files with no read iterator, such
    /// as `/proc/PID/pagemap`); returns the bytes read.
    pub(crate) fn read_user(&self, ubuf: u64, len: usize, pos: u64) -> Result<usize> {
        // SAFETY: `ptr` is valid (invariant); the file's read copies to
        // `ubuf` with copy_to_user, which checks the user address.
        let r = unsafe { roam_file_read_user(self.ptr, ubuf as _, len, pos as i64) } as i64;
        if r < 0 {
            return Err(Error::from_errno(r as i32));
        }
        Ok(r as usize)
    }

    /// Writes `len` bytes from the current mm's memory at `ubuf`, as
    /// `pwrite(2)` would at `pos` (for files with no write iterator, such
    /// as `/proc/PID/clear_refs`); returns the bytes written.
    pub(crate) fn write_user(&self, ubuf: u64, len: usize, pos: u64) -> Result<usize> {
        // SAFETY: `ptr` is valid (invariant); the file's write copies from
        // `ubuf` with copy_from_user, which checks the user address.
        let r = unsafe { roam_file_write_user(self.ptr, ubuf as _, len, pos as i64) } as i64;
        if r < 0 {
            return Err(Error::from_errno(r as i32));
        }
        Ok(r as usize)
    }

    /// Maps `len` bytes of it from offset `off` privately at exactly
    /// `addr` of the current mm (replacing what was there), with `prot`.
    pub(crate) fn map_private(&self, addr: u64, len: u64, prot: u32, off: u64) -> Result<u64> {
        // SAFETY: `ptr` is valid (invariant); `vm_mmap` maps into the
        // current mm, takes its own locks and checks every argument.
        let r = unsafe { roam_file_map(self.ptr, addr, len, prot, off) } as i64;
        if (-4095..0).contains(&r) {
            return Err(Error::from_errno(r as i32));
        }
        Ok(r as u64)
    }
}

impl Drop for File {
    fn drop(&mut self) {
        // SAFETY: we own one reference (invariant), dropped here once.
        unsafe { roam_file_put(self.ptr) };
    }
}
