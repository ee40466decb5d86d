// SPDX-License-Identifier: GPL-2.0

//! The scheduler side: the processes of this node as the balancer sees
//! them, and the context-switch hook (`sched_switch`) that hands a chosen
//! process its migration work the moment it is switched in.

use super::taskwork::Prepared;
use core::sync::atomic::{AtomicBool, Ordering};
use kernel::{bindings, prelude::*};

/// `struct roam_proc` of helpers.h.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct RawProc {
    tgid: u32,
    nr_threads: u32,
    start_ns: u64,
    runtime_ns: u64,
    switches: u64,
    rss_pages: u64,
    flags: u32,
    comm: [u8; 16],
}

extern "C" {
    fn roam_collect_procs(out: *mut RawProc, max: i32) -> i32;
    fn roam_switch_hook_find() -> i32;
    fn roam_switch_hook_register() -> i32;
    fn roam_switch_hook_unregister();
    fn roam_switch_count() -> u64;
    fn roam_choose(tgid: i32, work: *mut bindings::callback_head) -> *mut bindings::callback_head;
}

/// A user process of this node.
#[derive(Clone, Copy, Default)]
pub(crate) struct Proc {
    pub(crate) tgid: u32,
    pub(crate) nr_threads: u32,
    /// Monotonic start time (ns).
    pub(crate) start_ns: u64,
    /// CPU time used so far (ns).
    pub(crate) runtime_ns: u64,
    /// Context switches (voluntary and not) so far: evidence that it ran
    /// where the scheduler clock is too coarse to show it (a guest
    /// without a usable TSC counts CPU time in jiffies).
    pub(crate) switches: u64,
    /// Resident memory (bytes).
    pub(crate) rss: u64,
    pub(crate) exiting: bool,
    pub(crate) comm: [u8; 16],
}

/// Up to `max` user processes of this node.
pub(crate) fn processes(max: usize) -> Result<KVec<Proc>> {
    let mut raw = KVec::from_elem(RawProc::default(), max, GFP_KERNEL)?;
    // SAFETY: `raw` has room for `max` entries; the helper walks the task
    // list under RCU and fills at most that many.
    let n = unsafe { roam_collect_procs(raw.as_mut_ptr(), max.min(i32::MAX as usize) as i32) };
    let mut out = KVec::with_capacity(n.max(0) as usize, GFP_KERNEL)?;
    for r in raw.iter().take(n.max(0) as usize) {
        out.push(
            Proc {
                tgid: r.tgid,
                nr_threads: r.nr_threads,
                start_ns: r.start_ns,
                runtime_ns: r.runtime_ns,
                switches: r.switches,
                rss: r.rss_pages.saturating_mul(4096),
                exiting: r.flags & 1 != 0,
                comm: r.comm,
            },
            GFP_KERNEL,
        )?;
    }
    Ok(out)
}

/// Context switches seen by the hook (while it was registered).
pub(crate) fn switches() -> u64 {
    // SAFETY: sums per-CPU counters; no pointer is involved.
    unsafe { roam_switch_count() }
}

/// The context-switch hook. It is registered only while a work is armed
/// ([`Self::choose`] registers, [`Self::release`] unregisters), so the
/// scheduler pays for it only then; it unregisters on drop.
///
/// The owner serializes `choose`, `disarm` and `release` (the balancer
/// calls them with its state lock held).
pub(crate) struct SwitchHook {
    registered: AtomicBool,
}

impl SwitchHook {
    /// Checks that the kernel has the `sched_switch` tracepoint.
    pub(crate) fn install() -> Result<Self> {
        // SAFETY: looks the tracepoint up; registers nothing.
        let r = unsafe { roam_switch_hook_find() };
        if r != 0 {
            return Err(Error::from_errno(r));
        }
        Ok(SwitchHook { registered: AtomicBool::new(false) })
    }

    /// Registers the probe if it is not registered.
    fn register(&self) -> Result {
        if self.registered.load(Ordering::Relaxed) {
            return Ok(());
        }
        // SAFETY: registers the C probe; undone by `release` or `Drop`.
        let r = unsafe { roam_switch_hook_register() };
        if r != 0 {
            return Err(Error::from_errno(r));
        }
        self.registered.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// Unregisters the probe (waiting for running ones) if it is
    /// registered. Call it with nothing armed.
    pub(crate) fn release(&self) {
        if self.registered.swap(false, Ordering::Relaxed) {
            // SAFETY: the probe was registered by `register`.
            unsafe { roam_switch_hook_unregister() };
        }
    }

    /// Arms the hook: `work` goes to process `tgid` when it is next
    /// switched in (replacing whatever was armed, which is freed). Fails
    /// (freeing `work`) if the probe cannot be registered.
    pub(crate) fn choose(&self, tgid: u32, work: Prepared) -> Result {
        self.register()?;
        let (head, drop_fn) = work.into_raw();
        // SAFETY: hands `head` to the hook; what comes back was armed
        // before and not queued, so it is ours again.
        let old = unsafe { roam_choose(tgid as i32, head) };
        if !old.is_null() {
            // SAFETY: every armed work is a `Prepared` of the same closure
            // type (one call site), so `drop_fn` fits it.
            drop(unsafe { Prepared::from_raw(old, drop_fn) });
        }
        Ok(())
    }

    /// Disarms the hook; frees the armed work if it was not taken.
    pub(crate) fn disarm(&self, drop_fn: unsafe fn(*mut bindings::callback_head)) -> bool {
        // SAFETY: as in `choose`.
        let old = unsafe { roam_choose(0, core::ptr::null_mut()) };
        if old.is_null() {
            return false;
        }
        // SAFETY: as in `choose`.
        drop(unsafe { Prepared::from_raw(old, drop_fn) });
        true
    }
}

impl Drop for SwitchHook {
    fn drop(&mut self) {
        self.release();
    }
}
