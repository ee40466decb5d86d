// SPDX-License-Identifier: GPL-2.0

//! What the node has: CPUs, free memory, and how many tasks are runnable.

use kernel::bindings;

/// CPUs online now.
pub(crate) fn online_cpus() -> u32 {
    // SAFETY: `__num_online_cpus` is a global atomic the kernel keeps
    // current; reading it is what `num_online_cpus()` does.
    let n = unsafe { core::ptr::read_volatile(&raw const bindings::__num_online_cpus.counter) };
    n.max(1) as u32
}

/// Free memory in MiB.
pub(crate) fn free_mem_mb() -> u32 {
    // SAFETY: sysinfo is plain data; `si_meminfo` fills the memory fields.
    let mut si: bindings::sysinfo = unsafe { core::mem::zeroed() };
    // SAFETY: `si` is a valid sysinfo to fill.
    unsafe { bindings::si_meminfo(&mut si) };
    let bytes = (si.freeram as u64).saturating_mul(si.mem_unit as u64);
    (bytes >> 20).min(u32::MAX as u64) as u32
}

/// User tasks runnable right now (running or waiting for a CPU).
///
/// Kernel threads are left out: the sampler wakes on a timer tick, and
/// so do the kernel's periodic threads (RCU, workqueues, roam's own), so
/// a count taken then includes a burst of them that are runnable only for
/// an instant. On an idle debug-kernel guest that burst averaged about 1.7
/// tasks (`load_now` 1.2 to 2.9 with nothing running); user tasks are
/// what competes for the CPUs and what the balancer can move. The kernel's
/// `nr_running()` is not exported anyway.
pub(crate) fn nr_running() -> u32 {
    extern "C" {
        fn roam_nr_running() -> u32;
    }
    // SAFETY: the helper walks the task list under RCU and reads each
    // task's state; it has no preconditions beyond process context.
    unsafe { roam_nr_running() }
}
