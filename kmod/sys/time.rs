// SPDX-License-Identifier: GPL-2.0

//! Clocks.

use kernel::bindings;

/// Monotonic milliseconds since boot.
pub(crate) fn now_ms() -> u64 {
    now_ns() / 1_000_000
}

/// Monotonic nanoseconds since boot.
pub(crate) fn now_ns() -> u64 {
    // SAFETY: `ktime_get` has no preconditions; it returns monotonic ns.
    unsafe { bindings::ktime_get() as u64 }
}

/// CLOCK_BOOTTIME in nanoseconds: monotonic plus the time spent suspended.
pub(crate) fn boot_ns() -> u64 {
    // SAFETY: `ktime_get_with_offset` has no preconditions.
    unsafe { bindings::ktime_get_with_offset(bindings::tk_offsets_TK_OFFS_BOOT) as u64 }
}

/// Wall-clock nanoseconds: strictly later after a reboot or reload, which
/// is what a transport session epoch needs.
pub(crate) fn real_ns() -> u64 {
    let mut ts = bindings::timespec64 { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid timespec64 to fill.
    unsafe { bindings::ktime_get_real_ts64(&mut ts) };
    (ts.tv_sec as u64).wrapping_mul(1_000_000_000).wrapping_add(ts.tv_nsec as u64)
}

/// A random 64-bit value from the kernel's CRNG.
pub(crate) fn random_u64() -> u64 {
    // SAFETY: `get_random_u64` has no preconditions.
    unsafe { bindings::get_random_u64() }
}
