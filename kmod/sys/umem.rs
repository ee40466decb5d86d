// SPDX-License-Identifier: GPL-2.0

//! A process's user memory, seen from its own context or from a kernel
//! thread that borrowed its address space: the list of areas, mapping and
//! unmapping, copying pages in and out, and the layout fields (`brk`,
//! argument and environment bounds).

use crate::image::{MmLayout, Vma, PROT_EXEC, PROT_READ, PROT_WRITE, VMA_FILE, VMA_GROWSDOWN, VMA_IO, VMA_SHARED, VMA_VDSO, VMA_VVAR};
use kernel::{bindings, prelude::*, uaccess::UserSlice};

/// A referenced address space (`mmget`), which a kernel thread may borrow
/// with [`MmRef::borrow`].
///
/// # Invariants
///
/// `mm` is a valid `mm_struct` on which we hold one user reference
/// (`mm_users`), dropped once in `Drop`.
pub(crate) struct MmRef {
    mm: *mut bindings::mm_struct,
}

// SAFETY: an `mm_struct` reference may be used and dropped from any thread.
unsafe impl Send for MmRef {}
// SAFETY: borrowing is serialised by the kernel (`kthread_use_mm`); the
// wrapper has no interior state.
unsafe impl Sync for MmRef {}

impl MmRef {
    /// The current task's address space, referenced.
    pub(crate) fn current() -> Result<Self> {
        // SAFETY: `get_current` is valid; `get_task_mm` returns a referenced
        // mm or null (kernel thread, exiting).
        let mm = unsafe { bindings::get_task_mm(bindings::get_current()) };
        if mm.is_null() {
            return Err(ESRCH);
        }
        // INVARIANT: referenced by `get_task_mm`.
        Ok(MmRef { mm })
    }

    /// Whether this is the current task's address space (it is not after
    /// an `execve`).
    pub(crate) fn is_current(&self) -> bool {
        cur_mm().is_ok_and(|m| m == self.mm)
    }

    /// Runs `f` with this address space as the current kernel thread's
    /// user space, so that the functions below act on it. Must be called
    /// from a kernel thread.
    pub(crate) fn borrow<R>(&self, f: impl FnOnce() -> R) -> Result<R> {
        // SAFETY: checks the current task's flags.
        let kthread = unsafe { (*bindings::get_current()).flags } & bindings::PF_KTHREAD != 0;
        if !kthread {
            return Err(EINVAL);
        }
        // SAFETY: we are a kernel thread without a user mm of its own (roam's
        // threads never adopt one otherwise); `mm` is referenced (invariant)
        // and is given back before we return.
        unsafe { bindings::kthread_use_mm(self.mm) };
        let r = f();
        // SAFETY: undoes the `kthread_use_mm` above.
        unsafe { bindings::kthread_unuse_mm(self.mm) };
        Ok(r)
    }
}

impl Drop for MmRef {
    fn drop(&mut self) {
        // SAFETY: we hold one user reference (invariant), dropped once.
        unsafe { bindings::mmput(self.mm) };
    }
}

/// The current mm, or `ESRCH`.
fn cur_mm() -> Result<*mut bindings::mm_struct> {
    // SAFETY: reading the current task's `mm` pointer (own context or a
    // kthread that borrowed one).
    let mm = unsafe { (*bindings::get_current()).mm };
    if mm.is_null() {
        Err(ESRCH)
    } else {
        Ok(mm)
    }
}

/// The areas of the current address space, in address order, classified
/// for migration. `vdso` is where the vDSO is mapped.
pub(crate) fn areas(vdso: u64) -> Result<KVec<Vma>> {
    let mm = cur_mm()?;
    let mut out = KVec::new();
    let shared = bindings::VM_SHARED as u64;
    let io = bindings::VM_IO as u64 | bindings::VM_PFNMAP as u64 | bindings::VM_MIXEDMAP as u64;
    // SAFETY: `mm` is the current (referenced by running) address space;
    // VMAs are only read between down_read and up_read of its mmap lock.
    unsafe {
        bindings::down_read(&raw mut (*mm).__bindgen_anon_1.mmap_lock);
        let mut addr: u64 = 0;
        let mut result: Result = Ok(());
        loop {
            let vma = bindings::find_vma(mm, addr as _);
            if vma.is_null() {
                break;
            }
            let start = (*vma).__bindgen_anon_1.__bindgen_anon_1.vm_start as u64;
            let end = (*vma).__bindgen_anon_1.__bindgen_anon_1.vm_end as u64;
            let vf = (*vma).__bindgen_anon_2.vm_flags as u64;
            let mut prot = 0;
            if vf & bindings::VM_READ as u64 != 0 {
                prot |= PROT_READ;
            }
            if vf & bindings::VM_WRITE as u64 != 0 {
                prot |= PROT_WRITE;
            }
            if vf & bindings::VM_EXEC as u64 != 0 {
                prot |= PROT_EXEC;
            }
            let mut flags = 0;
            if vf & bindings::VM_GROWSDOWN as u64 != 0 {
                flags |= VMA_GROWSDOWN;
            }
            if !(*vma).vm_file.is_null() {
                flags |= VMA_FILE;
            }
            if vf & shared != 0 {
                flags |= VMA_SHARED;
            }
            if start == vdso && vdso != 0 {
                flags |= VMA_VDSO;
            } else if vf & io != 0 {
                flags |= if (*vma).vm_file.is_null() { VMA_VVAR } else { VMA_IO };
            }
            let mut v = Vma::new(start, end, prot, flags);
            v.pgoff = (*vma).vm_pgoff as u64;
            if let Err(e) = out.push(v, GFP_KERNEL) {
                result = Err(e.into());
                break;
            }
            if end <= addr {
                break;
            }
            addr = end;
        }
        bindings::up_read(&raw mut (*mm).__bindgen_anon_1.mmap_lock);
        result?;
    }
    Ok(out)
}

/// Maps anonymous private memory at exactly `addr` (replacing whatever
/// was there), or anywhere if `addr` is 0; returns the address.
pub(crate) fn map_anon(addr: u64, len: u64, prot: u32, growsdown: bool) -> Result<u64> {
    let mut flags = bindings::MAP_PRIVATE | bindings::MAP_ANONYMOUS;
    if addr != 0 {
        flags |= bindings::MAP_FIXED;
    }
    if growsdown {
        flags |= bindings::MAP_GROWSDOWN;
    }
    // SAFETY: `vm_mmap` with no file maps into the current mm, taking its
    // own locks; every argument is a plain value it checks.
    let r = unsafe { bindings::vm_mmap(core::ptr::null_mut(), addr as _, len as _, prot as _, flags as _, 0) };
    let r = r as i64;
    if (-4095..0).contains(&r) {
        return Err(Error::from_errno(r as i32));
    }
    Ok(r as u64)
}

/// Maps `len` bytes of private anonymous memory with protection `prot`
/// in the current mm, as `mmap` would with the caller's `flags` (placement
/// and reservation bits such as `MAP_FIXED`, `MAP_FIXED_NOREPLACE`,
/// `MAP_32BIT`, `MAP_NORESERVE`, `MAP_POPULATE`; the mapping type and
/// `MAP_ANONYMOUS` are set here). `addr` is the hint or the fixed address.
/// Returns the address, or the errno `mmap` would give.
pub(crate) fn map_private_anon(addr: u64, len: u64, prot: u32, flags: u32) -> core::result::Result<u64, i64> {
    let keep = bindings::MAP_FIXED
        | bindings::MAP_FIXED_NOREPLACE
        | bindings::MAP_32BIT
        | bindings::MAP_NORESERVE
        | bindings::MAP_POPULATE
        | bindings::MAP_LOCKED
        | bindings::MAP_STACK
        | bindings::MAP_GROWSDOWN;
    let flags = (flags & keep) | bindings::MAP_PRIVATE | bindings::MAP_ANONYMOUS;
    // SAFETY: `vm_mmap` with no file maps into the current mm, taking its
    // own locks; every argument is a plain value it checks.
    let r = unsafe { bindings::vm_mmap(core::ptr::null_mut(), addr as _, len as _, prot as _, flags as _, 0) } as i64;
    if (-4095..0).contains(&r) {
        return Err(r);
    }
    Ok(r as u64)
}

/// Maps `len` bytes of shared anonymous memory, readable and writable,
/// anywhere in the current mm; returns the address. Such an area has a
/// file of its own (shmem), so it never merges with a neighbour: mapping
/// and unmapping it leaves the other areas as they were (their
/// soft-dirty state included).
pub(crate) fn map_scratch(len: u64) -> Result<u64> {
    let flags = bindings::MAP_SHARED | bindings::MAP_ANONYMOUS;
    let prot = bindings::PROT_READ | bindings::PROT_WRITE;
    // SAFETY: `vm_mmap` with no file maps into the current mm, taking its
    // own locks; every argument is a plain value it checks.
    let r = unsafe { bindings::vm_mmap(core::ptr::null_mut(), 0, len as _, prot as _, flags as _, 0) } as i64;
    if (-4095..0).contains(&r) {
        return Err(Error::from_errno(r as i32));
    }
    Ok(r as u64)
}

/// Unmaps `[addr, addr + len)` of the current mm.
pub(crate) fn unmap(addr: u64, len: u64) -> Result {
    // SAFETY: `vm_munmap` acts on the current mm and takes its own locks.
    let r = unsafe { bindings::vm_munmap(addr as _, len as _) };
    if r < 0 {
        return Err(Error::from_errno(r));
    }
    Ok(())
}

/// Copies user memory at `addr` into `buf`.
pub(crate) fn read(addr: u64, buf: &mut [u8]) -> Result {
    UserSlice::new(addr as usize, buf.len()).reader().read_slice(buf)
}

/// Copies the current task's memory at `addr` into `buf` whatever its
/// protection, as ptrace and core dumps read it (`FOLL_FORCE`), so pages a
/// process made unreadable (`PROT_NONE`, write- or exec-only) travel too.
/// Anonymous pages never touched are not faulted in (`FOLL_DUMP`): the
/// read stops there. Returns how many bytes were read from the start of
/// `buf`; the caller treats the rest as not present (zero).
pub(crate) fn read_forced(addr: u64, buf: &mut [u8]) -> usize {
    let Ok(len) = i32::try_from(buf.len()) else { return 0 };
    let flags = bindings::FOLL_FORCE | bindings::FOLL_DUMP;
    // SAFETY: `get_current` is the running task, valid for the call;
    // `access_process_vm` takes its own reference on the mm and its lock,
    // and writes at most `len` bytes into `buf`, which has room for them.
    let n = unsafe { bindings::access_process_vm(bindings::get_current(), addr as _, buf.as_mut_ptr().cast(), len, flags as _) };
    usize::try_from(n).unwrap_or(0).min(buf.len())
}

/// Copies `data` into the current task's private memory at `addr` whatever
/// its protection, as ptrace writes it (`FOLL_FORCE`: a read-only or
/// `PROT_NONE` private page gets its own copy). Returns whether every byte
/// was written.
pub(crate) fn write_forced(addr: u64, data: &[u8]) -> bool {
    let Ok(len) = i32::try_from(data.len()) else { return false };
    let flags = bindings::FOLL_FORCE | bindings::FOLL_WRITE;
    // The pointer is cast to mutable for the signature only: with
    // `FOLL_WRITE` the call reads `data`, it never writes it.
    let src = data.as_ptr().cast_mut().cast();
    // SAFETY: the running task is valid for the call, which takes its own
    // mm reference and lock and reads `len` bytes from `src` (`data`'s).
    let n = unsafe { bindings::access_process_vm(bindings::get_current(), addr as _, src, len, flags as _) };
    n == len
}

/// Copies `data` to user memory at `addr`.
pub(crate) fn write(addr: u64, data: &[u8]) -> Result {
    UserSlice::new(addr as usize, data.len()).writer().write_slice(data)
}

/// The current mm's layout fields.
pub(crate) fn layout() -> Result<MmLayout> {
    let mm = cur_mm()?;
    // SAFETY: `mm` is live; these are plain words read under the read lock.
    unsafe {
        bindings::down_read(&raw mut (*mm).__bindgen_anon_1.mmap_lock);
        let a = &(*mm).__bindgen_anon_1;
        let l = MmLayout {
            start_code: a.start_code as u64,
            end_code: a.end_code as u64,
            start_data: a.start_data as u64,
            end_data: a.end_data as u64,
            start_brk: a.start_brk as u64,
            brk: a.brk as u64,
            start_stack: a.start_stack as u64,
            arg_start: a.arg_start as u64,
            arg_end: a.arg_end as u64,
            env_start: a.env_start as u64,
            env_end: a.env_end as u64,
        };
        bindings::up_read(&raw mut (*mm).__bindgen_anon_1.mmap_lock);
        Ok(l)
    }
}

/// Sets the current mm's layout fields (as `prctl(PR_SET_MM_MAP)` would).
pub(crate) fn set_layout(l: &MmLayout) -> Result {
    let mm = cur_mm()?;
    // SAFETY: `mm` is live; the fields are written under the write lock, as
    // `prctl_set_mm_map` does.
    unsafe {
        bindings::down_write(&raw mut (*mm).__bindgen_anon_1.mmap_lock);
        let a = &mut (*mm).__bindgen_anon_1;
        a.start_code = l.start_code as _;
        a.end_code = l.end_code as _;
        a.start_data = l.start_data as _;
        a.end_data = l.end_data as _;
        a.start_brk = l.start_brk as _;
        a.brk = l.brk as _;
        a.start_stack = l.start_stack as _;
        a.arg_start = l.arg_start as _;
        a.arg_end = l.arg_end as _;
        a.env_start = l.env_start as _;
        a.env_end = l.env_end as _;
        bindings::up_write(&raw mut (*mm).__bindgen_anon_1.mmap_lock);
    }
    Ok(())
}

/// Copies the NUL-terminated user string at `addr` into `buf` (at most
/// `buf.len() - 1` bytes); returns its length without the NUL.
pub(crate) fn read_str(addr: u64, buf: &mut [u8]) -> Result<usize> {
    if buf.is_empty() {
        return Err(EINVAL);
    }
    // SAFETY: `buf` has room for `buf.len()` bytes; the kernel checks the
    // user range and copies at most that many.
    let n = unsafe { bindings::strncpy_from_user(buf.as_mut_ptr().cast(), addr as *const _, buf.len() as _) };
    if n < 0 {
        return Err(Error::from_errno(n as i32));
    }
    let n = n as usize;
    if n >= buf.len() {
        return Err(ENAMETOOLONG_());
    }
    Ok(n)
}

#[allow(non_snake_case)]
fn ENAMETOOLONG_() -> Error {
    Error::from_errno(-(bindings::ENAMETOOLONG as i32))
}
