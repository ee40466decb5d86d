// SPDX-License-Identifier: GPL-2.0

//! Running a closure in a task's own context at its next return to user
//! mode (`task_work_add`), where it may sleep and sees its user registers.
//!
//! Each queued closure holds a reference on the module, dropped after it
//! ran, so `rmmod` waits (fails with EBUSY) while any is pending.

use kernel::{bindings, prelude::*};

/// A queued closure.
///
/// # Invariants
///
/// `head` is the first field (`repr(C)`), so a pointer to it is a pointer
/// to the `Work`; a `Work` reaches the kernel only through `KBox::into_raw`
/// and comes back exactly once, in [`run`].
#[repr(C)]
struct Work<F: FnOnce() + Send + 'static> {
    head: bindings::callback_head,
    f: Option<F>,
}

/// The task_work callback: takes the box back and runs the closure.
///
/// # Safety
///
/// `head` must be the `head` of a `Work<F>` leaked by [`queue`], called once.
unsafe extern "C" fn run<F: FnOnce() + Send + 'static>(head: *mut bindings::callback_head) {
    // SAFETY: per the contract and the type invariant, `head` is the first
    // field of a leaked `KBox<Work<F>>`, returned to us once.
    let mut w = unsafe { KBox::from_raw(head.cast::<Work<F>>()) };
    if let Some(f) = w.f.take() {
        f();
    }
    drop(w);
    // SAFETY: drops the reference taken in `queue`.
    unsafe { bindings::module_put(crate::THIS_MODULE.as_ptr()) };
}

/// Queues `f` on `task` (a valid, referenced task). `interrupt` uses
/// `TWA_SIGNAL` (breaks interruptible sleeps, like a signal) instead of
/// `TWA_RESUME`. `flags` is `GFP_ATOMIC` from atomic context.
///
/// # Safety
///
/// `task` must be a valid task on which the caller holds a reference for
/// the duration of the call.
pub(crate) unsafe fn queue<F: FnOnce() + Send + 'static>(
    task: *mut bindings::task_struct,
    f: F,
    interrupt: bool,
    flags: kernel::alloc::Flags,
) -> Result {
    let mode = if interrupt { bindings::task_work_notify_mode_TWA_SIGNAL } else { bindings::task_work_notify_mode_TWA_RESUME };
    // SAFETY: per our own contract.
    unsafe { queue_mode(task, f, mode, flags) }
}

/// [`queue`] with an explicit notification mode.
///
/// # Safety
///
/// As for [`queue`].
unsafe fn queue_mode<F: FnOnce() + Send + 'static>(
    task: *mut bindings::task_struct,
    f: F,
    mode: bindings::task_work_notify_mode,
    flags: kernel::alloc::Flags,
) -> Result {
    let w = KBox::new(Work { head: bindings::callback_head::default(), f: Some(f) }, flags)?;
    let p = KBox::into_raw(w);
    // SAFETY: `p` is valid; the callback recovers it (type invariant).
    unsafe { (*p).head.func = Some(run::<F>) };
    // SAFETY: keeps the module (and `run`) alive until the work ran.
    unsafe { bindings::__module_get(crate::THIS_MODULE.as_ptr()) };
    // SAFETY: `task` is valid (contract); `p.head` stays allocated until the
    // callback runs or we take it back below.
    let r = unsafe { bindings::task_work_add(task, &raw mut (*p).head, mode) };
    if r != 0 {
        // The task is exiting: the work was not queued, take it back.
        // SAFETY: not queued, so we still own `p` (from `into_raw`).
        drop(unsafe { KBox::from_raw(p) });
        // SAFETY: undoes the `__module_get` above.
        unsafe { bindings::module_put(crate::THIS_MODULE.as_ptr()) };
        return Err(ESRCH);
    }
    Ok(())
}

/// Queues `f` on the current task (usable from a syscall probe with
/// `GFP_ATOMIC`).
pub(crate) fn queue_current<F: FnOnce() + Send + 'static>(f: F, flags: kernel::alloc::Flags) -> Result {
    // SAFETY: the current task is valid and cannot go away under itself.
    unsafe { queue(bindings::get_current(), f, false, flags) }
}

/// A reference on this module: `rmmod` fails with EBUSY while one exists.
/// Held by every migrated process (deputy or guest) this node serves.
pub(crate) struct ModuleRef(());

impl ModuleRef {
    pub(crate) fn new() -> Self {
        // SAFETY: we are running module code, so the module is live.
        unsafe { bindings::__module_get(crate::THIS_MODULE.as_ptr()) };
        ModuleRef(())
    }
}

impl Drop for ModuleRef {
    fn drop(&mut self) {
        // SAFETY: drops the reference taken in `new`.
        unsafe { bindings::module_put(crate::THIS_MODULE.as_ptr()) };
    }
}

/// A closure allocated ahead of time, to be queued later from a context
/// that may not allocate (the context-switch hook). Dropping it unqueued
/// frees it.
///
/// # Invariants
///
/// `head` is the `head` of a leaked `KBox<Work<F>>` (holding a module
/// reference) for the `F` that `drop_fn` was instantiated with; owned by
/// this value until [`Prepared::into_raw`].
pub(crate) struct Prepared {
    head: *mut bindings::callback_head,
    drop_fn: unsafe fn(*mut bindings::callback_head),
}

// SAFETY: the closure is `Send`; the pointer is owned.
unsafe impl Send for Prepared {}

/// Frees an unqueued `Work<F>`.
///
/// # Safety
///
/// `head` must come from [`Prepared::new`] with this `F`, not queued, and
/// not used afterwards.
unsafe fn drop_work<F: FnOnce() + Send + 'static>(head: *mut bindings::callback_head) {
    // SAFETY: per the contract, a leaked `KBox<Work<F>>` we own again.
    drop(unsafe { KBox::from_raw(head.cast::<Work<F>>()) });
    // SAFETY: drops the reference taken in `Prepared::new`.
    unsafe { bindings::module_put(crate::THIS_MODULE.as_ptr()) };
}

impl Prepared {
    pub(crate) fn new<F: FnOnce() + Send + 'static>(f: F) -> Result<Self> {
        let w = KBox::new(Work { head: bindings::callback_head::default(), f: Some(f) }, GFP_KERNEL)?;
        let p = KBox::into_raw(w);
        // SAFETY: `p` is valid; `run::<F>` recovers it.
        unsafe { (*p).head.func = Some(run::<F>) };
        // SAFETY: keeps the module alive while the work exists.
        unsafe { bindings::__module_get(crate::THIS_MODULE.as_ptr()) };
        // INVARIANT: leaked box of `F`, with its module reference.
        Ok(Prepared { head: unsafe { &raw mut (*p).head }, drop_fn: drop_work::<F> })
    }

    /// Gives up ownership: whoever queues the pointer hands it to the
    /// kernel, which runs (and so frees) it once.
    pub(crate) fn into_raw(self) -> (*mut bindings::callback_head, unsafe fn(*mut bindings::callback_head)) {
        let r = (self.head, self.drop_fn);
        core::mem::forget(self);
        r
    }

    /// Runs the work now, in the caller's context (which frees it).
    pub(crate) fn run(self) {
        let (head, _) = self.into_raw();
        // SAFETY: `head` is the head of a leaked `Work<F>` whose `func` is
        // `run::<F>` (set in `new`), which takes the box back and drops the
        // module reference exactly once; it is no longer ours after this.
        unsafe {
            if let Some(f) = (*head).func {
                f(head);
            }
        }
    }

    /// Takes back a pointer from [`Prepared::into_raw`] that was not queued.
    ///
    /// # Safety
    ///
    /// `head` and `drop_fn` must come from one `into_raw` call and the work
    /// must not have been queued.
    pub(crate) unsafe fn from_raw(head: *mut bindings::callback_head, drop_fn: unsafe fn(*mut bindings::callback_head)) -> Self {
        Prepared { head, drop_fn }
    }
}

impl Drop for Prepared {
    fn drop(&mut self) {
        // SAFETY: owned and unqueued (type invariant).
        unsafe { (self.drop_fn)(self.head) };
    }
}
