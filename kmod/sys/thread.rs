// SPDX-License-Identifier: GPL-2.0

//! Kernel threads running a Rust closure.
//!
//! A [`KThread`] holds a reference on its task, so it may be stopped
//! whether or not the closure has already returned; dropping it stops the
//! thread and waits for it. The closure must return promptly once
//! [`should_stop`] is true (blocking calls it makes must be woken by the
//! owner, e.g. by shutting down the socket it reads).

use kernel::{bindings, ffi::c_void, prelude::*};

/// A running kernel thread.
///
/// # Invariants
///
/// `task` is a kthread created by `kthread_create_on_node` on which we hold
/// a task reference (`get_task_struct`), not yet passed to `kthread_stop`.
/// `data` is the thread's `Start<F>` box and `free` frees it; the thread
/// only uses `data` until it exits, which `kthread_stop` waits for.
pub(crate) struct KThread {
    task: *mut bindings::task_struct,
    data: *mut c_void,
    free: unsafe fn(*mut c_void),
}

// SAFETY: the task pointer is only used with thread-safe kernel APIs, and
// `data` holds an `F: Send`.
unsafe impl Send for KThread {}
// SAFETY: `&KThread` exposes nothing.
unsafe impl Sync for KThread {}

/// The closure, shared by the thread and its [`KThread`]: the thread takes
/// it if it gets to run; otherwise (stopped before it ran) `KThread` frees
/// it, so its captures are never leaked.
///
/// `repr(C)` with `done` first, so that [`KThread::finished`] can read it
/// without knowing `F`.
#[repr(C)]
struct Start<F: FnOnce() + Send + 'static> {
    /// The closure has returned (the thread only waits to be stopped).
    done: core::sync::atomic::AtomicBool,
    taken: core::sync::atomic::AtomicBool,
    f: core::cell::UnsafeCell<Option<F>>,
}

/// # Safety
///
/// `data` must come from `KBox::into_raw` of a `Start<F>`, and no longer be
/// used by any thread.
unsafe fn free_start<F: FnOnce() + Send + 'static>(data: *mut c_void) {
    // SAFETY: per the contract we own the box.
    drop(unsafe { KBox::from_raw(data.cast::<Start<F>>()) });
}

/// # Safety
///
/// `data` must point to a `Start<F>` that outlives the thread (its
/// `KThread` frees it only after `kthread_stop` returned).
unsafe extern "C" fn trampoline<F: FnOnce() + Send + 'static>(data: *mut c_void) -> kernel::ffi::c_int {
    // SAFETY: per the function's contract `data` is a live `Start<F>`.
    let start = unsafe { &*data.cast::<Start<F>>() };
    if !start.taken.swap(true, core::sync::atomic::Ordering::AcqRel) {
        // SAFETY: whoever flips `taken` first is the only one to touch `f`.
        if let Some(f) = unsafe { (*start.f.get()).take() } {
            f();
        }
    }
    start.done.store(true, core::sync::atomic::Ordering::Release);
    // kthread_stop() may be called after we return; wait for it so the
    // owner's view ("stopped means finished") stays simple.
    while !should_stop() {
        // SAFETY: plain sleep in our own process context.
        unsafe { bindings::msleep_interruptible(20) };
    }
    0
}

impl KThread {
    /// Starts `f` on a new kernel thread named `name` (at most 15 bytes
    /// are shown by ps).
    pub(crate) fn spawn<F: FnOnce() + Send + 'static>(name: &CStr, f: F) -> Result<Self> {
        let start = Start {
            done: core::sync::atomic::AtomicBool::new(false),
            taken: core::sync::atomic::AtomicBool::new(false),
            f: core::cell::UnsafeCell::new(Some(f)),
        };
        let data: *mut c_void = KBox::into_raw(KBox::new(start, GFP_KERNEL)?).cast();
        // SAFETY: `trampoline::<F>` matches the `threadfn` signature and only
        // uses `data` while the thread lives; the name is passed through a
        // "%s" format so it is never interpreted as one.
        let task = unsafe {
            bindings::kthread_create_on_node(
                Some(trampoline::<F>),
                data,
                bindings::NUMA_NO_NODE,
                c"%s".as_ptr().cast(),
                name.as_char_ptr(),
            )
        };
        // SAFETY: IS_ERR only looks at the pointer value.
        if unsafe { bindings::IS_ERR(task.cast()) } {
            // SAFETY: no thread was created, so nobody else uses `data`.
            unsafe { free_start::<F>(data) };
            // SAFETY: as for IS_ERR.
            let err = unsafe { bindings::PTR_ERR(task.cast()) };
            return Err(Error::from_errno(err as i32));
        }
        // SAFETY: `task` is a valid, newly created (not yet running) kthread.
        unsafe {
            bindings::get_task_struct(task);
            bindings::wake_up_process(task);
        }
        // INVARIANT: created above, reference taken; `free` matches `data`.
        Ok(KThread { task, data, free: free_start::<F> })
    }

    /// Whether its closure has returned: dropping it then only reaps the
    /// thread (no waiting on work).
    pub(crate) fn finished(&self) -> bool {
        // SAFETY: `data` is a live `Start<F>` until drop (invariant), and
        // `Start` is `repr(C)` with the `AtomicBool` `done` first.
        let done = unsafe { &*self.data.cast::<core::sync::atomic::AtomicBool>() };
        done.load(core::sync::atomic::Ordering::Acquire)
    }
}

impl Drop for KThread {
    fn drop(&mut self) {
        // SAFETY: by the type invariant the task is a kthread we hold a
        // reference on; `kthread_stop_put` stops it, waits, and drops the ref.
        unsafe { bindings::kthread_stop_put(self.task) };
        // SAFETY: the thread has exited, so `data` is ours alone (invariant).
        unsafe { (self.free)(self.data) };
    }
}

/// Whether the current kthread has been asked to stop.
pub(crate) fn should_stop() -> bool {
    // SAFETY: only meaningful (and only called) from a kthread; it reads the
    // current task's kthread flags.
    unsafe { bindings::kthread_should_stop() }
}

/// Sleeps up to `ms` milliseconds; returns early when woken or signalled.
pub(crate) fn sleep_ms(ms: u32) {
    // SAFETY: sleeping is allowed in our process context (never called with
    // locks held: callers are thread main loops).
    unsafe { bindings::msleep_interruptible(ms) };
}

/// Sleeps `ms` milliseconds whatever signals are pending (for short
/// waits in a task that has a signal pending it must not act on yet).
pub(crate) fn sleep_ms_uninterruptible(ms: u32) {
    // SAFETY: sleeping is allowed in process context; no lock is held.
    unsafe { bindings::msleep(ms) };
}
