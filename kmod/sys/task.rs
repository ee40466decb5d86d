// SPDX-License-Identifier: GPL-2.0

//! Looking at other processes: find one by pid, read its credentials,
//! flags, thread count and memory map.

use kernel::{bindings, prelude::*};

extern "C" {
    /// Takes a `struct task_struct *` (declared opaque here: the struct is
    /// not FFI-safe on every configuration).
    fn roam_may_ptrace(task: *mut core::ffi::c_void) -> i32;
    fn roam_task_seccomp(task: *mut core::ffi::c_void) -> i32;
    fn roam_task_foreign_ns(task: *mut core::ffi::c_void) -> i32;
    fn roam_find_task_global(nr: i32) -> *mut core::ffi::c_void;
    fn roam_task_privileged(task: *mut core::ffi::c_void) -> i32;
    fn roam_task_ngroups(task: *mut core::ffi::c_void) -> u32;
    fn roam_task_traced(task: *mut core::ffi::c_void) -> i32;
    fn roam_task_mdwe(task: *mut core::ffi::c_void) -> i32;
}

/// A reference to a task (process), found by pid.
///
/// # Invariants
///
/// `task` is a valid task on which we hold one reference (from
/// `get_pid_task` or `get_task_struct`), dropped exactly once in `Drop`.
/// Its `signal` struct stays allocated while the reference is held.
pub(crate) struct TaskRef {
    task: *mut bindings::task_struct,
}

// SAFETY: the reference may be dropped on any thread (`put_task_struct`
// is), and every method uses the task through kernel APIs that take the
// locks they need.
unsafe impl Send for TaskRef {}

/// What a process's memory map contains, for the eligibility check.
#[derive(Default, Clone, Copy)]
pub(crate) struct MapSummary {
    pub(crate) vmas: u32,
    /// Some mapping is shared with other processes and writable.
    pub(crate) shared_writable: bool,
    /// Some mapping is device memory (mapped from a driver's file).
    pub(crate) device: bool,
}

impl TaskRef {
    /// The task with global pid `pid` (its id in the initial pid
    /// namespace: every id roam stores is one), whoever asks. Kernel
    /// threads and tasks in other namespaces see the same task.
    pub(crate) fn find(pid: u32) -> Result<Self> {
        if pid == 0 || pid > i32::MAX as u32 {
            return Err(ESRCH);
        }
        // SAFETY: the helper looks the number up in the initial pid
        // namespace under RCU and returns a referenced task or null.
        let task = unsafe { roam_find_task_global(pid as i32) };
        if task.is_null() {
            return Err(ESRCH);
        }
        // INVARIANT: the helper returned a referenced task.
        Ok(TaskRef { task: task.cast() })
    }

    /// The calling task (a user process, or a new one not yet running its
    /// program).
    pub(crate) fn current() -> Self {
        // SAFETY: `get_current` is valid in process context; the reference
        // taken here is the one the invariant speaks of.
        let task = unsafe {
            let t = bindings::get_current();
            bindings::get_task_struct(t);
            t
        };
        // INVARIANT: referenced above.
        TaskRef { task }
    }

    /// The task the caller names `pid`: the number is looked up in the
    /// caller's pid namespace (a pid given by a user, in an ioctl). From
    /// the result on, roam uses its global id ([`Self::tgid`]).
    pub(crate) fn find_visible(pid: u32) -> Result<Self> {
        if pid == 0 || pid > i32::MAX as u32 {
            return Err(ESRCH);
        }
        // SAFETY: `find_get_pid` looks the number up in the current pid
        // namespace and returns a referenced `struct pid` or null.
        let p = unsafe { bindings::find_get_pid(pid as i32) };
        if p.is_null() {
            return Err(ESRCH);
        }
        // SAFETY: `p` is a valid referenced pid; `get_pid_task` returns a
        // referenced task or null. We then drop our pid reference.
        let task = unsafe {
            let t = bindings::get_pid_task(p, bindings::pid_type_PIDTYPE_PID);
            bindings::put_pid(p);
            t
        };
        if task.is_null() {
            return Err(ESRCH);
        }
        // INVARIANT: `get_pid_task` returned a referenced task.
        Ok(TaskRef { task })
    }

    /// `PF_*` flags.
    pub(crate) fn flags(&self) -> u32 {
        // SAFETY: the task is valid (type invariant); `flags` is a plain word
        // read racily, as the kernel itself does for these checks.
        unsafe { core::ptr::read_volatile(&raw const (*self.task).flags) }
    }

    pub(crate) fn is_kthread(&self) -> bool {
        self.flags() & bindings::PF_KTHREAD != 0
    }

    pub(crate) fn is_exiting(&self) -> bool {
        self.flags() & bindings::PF_EXITING != 0
    }

    /// Thread-group id (process id) in the initial pid namespace.
    pub(crate) fn tgid(&self) -> u32 {
        // SAFETY: the task is valid; `tgid` is set at creation and constant.
        unsafe { (*self.task).tgid as u32 }
    }

    /// Monotonic start time (ns): with the pid, identifies the process
    /// even after its pid is reused.
    pub(crate) fn start_time(&self) -> u64 {
        // SAFETY: the task is valid; `start_time` is constant after fork.
        unsafe { (*self.task).start_time }
    }

    /// Threads in its thread group.
    pub(crate) fn nr_threads(&self) -> u32 {
        // SAFETY: the task is valid and holds its `signal` struct while we
        // hold the task (type invariant); a racy read of the count is fine.
        unsafe {
            let sig = (*self.task).signal;
            if sig.is_null() {
                return 0;
            }
            core::ptr::read_volatile(&raw const (*sig).nr_threads).max(0) as u32
        }
    }

    /// Whether it is init of the initial pid namespace.
    pub(crate) fn is_init(&self) -> bool {
        self.tgid() == 1
    }

    /// Whether it runs under seccomp (strict mode or a filter).
    pub(crate) fn under_seccomp(&self) -> bool {
        // SAFETY: the task is valid (we hold a reference); the C helper
        // reads one word of it.
        unsafe { roam_task_seccomp(self.task.cast()) != 0 }
    }

    /// Whether it lives in a user or pid namespace other than the initial
    /// ones (its ids and capabilities mean something only there).
    pub(crate) fn in_foreign_namespace(&self) -> bool {
        // SAFETY: the task is valid (we hold a reference); the C helper
        // reads its namespaces under RCU.
        unsafe { roam_task_foreign_ns(self.task.cast()) != 0 }
    }

    /// Whether a tracer (ptrace: a debugger, strace) is attached to it.
    pub(crate) fn is_traced(&self) -> bool {
        // SAFETY: the task is valid (we hold a reference); the C helper
        // reads one word of it.
        unsafe { roam_task_traced(self.task.cast()) != 0 }
    }

    /// Whether its memory may never become executable (`PR_SET_MDWE`).
    pub(crate) fn refuses_exec_memory(&self) -> bool {
        // SAFETY: the task is valid (we hold a reference); the C helper
        // reads its mm's flags under the task lock.
        unsafe { roam_task_mdwe(self.task.cast()) != 0 }
    }

    /// Whether it has root's ids (real, effective, saved or filesystem
    /// uid 0) or any capability (permitted, effective or ambient), as
    /// `Creds::privileged` says of an image: what `accept_root` 0 refuses.
    pub(crate) fn privileged(&self) -> bool {
        // SAFETY: the task is valid (we hold a reference); the C helper
        // reads its credentials under RCU.
        unsafe { roam_task_privileged(self.task.cast()) != 0 }
    }

    /// How many supplementary groups it has.
    pub(crate) fn ngroups(&self) -> usize {
        // SAFETY: the task is valid (we hold a reference); the C helper
        // reads its credentials under RCU.
        unsafe { roam_task_ngroups(self.task.cast()) as usize }
    }

    /// Whether the caller could attach to it with ptrace
    /// (`PTRACE_MODE_ATTACH_REALCREDS`: the caller's real ids match all of
    /// the task's, or it has CAP_SYS_PTRACE, and the task is dumpable).
    pub(crate) fn may_ptrace(&self) -> bool {
        // SAFETY: the task is valid (we hold a reference); the C helper
        // takes the task lock as `ptrace_may_access` requires.
        unsafe { roam_may_ptrace(self.task.cast()) != 0 }
    }

    /// Whether both name the same task.
    pub(crate) fn same(&self, other: &TaskRef) -> bool {
        self.task == other.task
    }

    /// Whether this is the calling task.
    pub(crate) fn is_current(&self) -> bool {
        // SAFETY: compares pointers only.
        self.task == unsafe { bindings::get_current() }
    }

    /// Queues `f` to run in this task's context at its next return to user
    /// mode; `interrupt` breaks an interruptible sleep to get there sooner.
    pub(crate) fn queue_work<F: FnOnce() + Send + 'static>(&self, f: F, interrupt: bool) -> Result {
        // SAFETY: the task is valid and referenced (type invariant).
        unsafe { super::taskwork::queue(self.task, f, interrupt, GFP_KERNEL) }
    }

    /// Sends it `sig` from the kernel.
    pub(crate) fn signal(&self, sig: u32) {
        // SAFETY: the task is valid (type invariant); `send_sig` takes the
        // locks it needs.
        unsafe { bindings::send_sig(sig as i32, self.task, 1) };
    }

    /// Walks its memory map (under the map's read lock).
    pub(crate) fn map_summary(&self) -> Option<MapSummary> {
        // SAFETY: the task is valid; `get_task_mm` returns its mm with a user
        // reference, or null for kernel threads and exiting tasks.
        let mm = unsafe { bindings::get_task_mm(self.task) };
        if mm.is_null() {
            return None;
        }
        let mut s = MapSummary::default();
        // SAFETY: `mm` is valid while we hold the reference; `find_vma` needs
        // the mmap lock held for reading, which we hold between down_read and
        // up_read; VMAs are only dereferenced under it.
        unsafe {
            bindings::down_read(&raw mut (*mm).__bindgen_anon_1.mmap_lock);
            let mut addr: u64 = 0;
            loop {
                let vma = bindings::find_vma(mm, addr as _);
                if vma.is_null() {
                    break;
                }
                let flags = (*vma).__bindgen_anon_2.vm_flags as u64;
                let shared = bindings::VM_SHARED as u64;
                let maywrite = bindings::VM_MAYWRITE as u64;
                if flags & shared != 0 && flags & maywrite != 0 {
                    s.shared_writable = true;
                }
                // Device memory comes from a driver's file; the kernel's own
                // special mappings (vvar) are VM_IO|VM_PFNMAP without a file.
                let device_bits = bindings::VM_IO as u64 | bindings::VM_PFNMAP as u64 | bindings::VM_MIXEDMAP as u64;
                if flags & device_bits != 0 && !(*vma).vm_file.is_null() {
                    s.device = true;
                }
                s.vmas += 1;
                let end = (*vma).__bindgen_anon_1.__bindgen_anon_1.vm_end as u64;
                if end <= addr {
                    break;
                }
                addr = end;
            }
            bindings::up_read(&raw mut (*mm).__bindgen_anon_1.mmap_lock);
            bindings::mmput(mm);
        }
        Some(s)
    }
}

impl Drop for TaskRef {
    fn drop(&mut self) {
        // SAFETY: by the type invariant we hold one reference; dropped once.
        unsafe { bindings::put_task_struct(self.task) };
    }
}
