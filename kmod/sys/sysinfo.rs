// SPDX-License-Identifier: GPL-2.0

//! What the node has: CPUs, free memory, and how many tasks are runnable.

use kernel::{bindings, c_str, prelude::*};

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

/// Tasks runnable right now, system-wide, not counting the caller.
///
/// `nr_running()` is not exported to modules; `/proc/loadavg` prints it
/// (its fourth field is `running/total`), so read it there.
pub(crate) fn nr_running() -> Result<u32> {
    let mut buf = [0u8; 128];
    let n = read_small_file(c_str!("/proc/loadavg"), &mut buf)?;
    let text = &buf[..n];
    let field = text.split(|&c| c == b' ').nth(3).ok_or(EINVAL)?;
    let running = field.split(|&c| c == b'/').next().ok_or(EINVAL)?;
    let v = crate::abi::parse_u32(running).map_err(|_| EINVAL)?;
    Ok(v.saturating_sub(1))
}

/// Reads up to `buf.len()` bytes from the start of a (procfs) file.
fn read_small_file(path: &CStr, buf: &mut [u8]) -> Result<usize> {
    // SAFETY: `path` is NUL-terminated; opening read-only has no other
    // requirements in process context.
    let file = unsafe { bindings::filp_open(path.as_char_ptr(), bindings::O_RDONLY as i32, 0) };
    // SAFETY: IS_ERR only inspects the pointer value.
    if unsafe { bindings::IS_ERR(file.cast()) } {
        // SAFETY: as above.
        return Err(Error::from_errno(unsafe { bindings::PTR_ERR(file.cast()) } as i32));
    }
    let mut pos: bindings::loff_t = 0;
    // SAFETY: `file` is open for reading; `buf` is valid for `buf.len()`
    // bytes of writes.
    let n = unsafe { bindings::kernel_read(file, buf.as_mut_ptr().cast(), buf.len(), &mut pos) };
    // SAFETY: `file` came from `filp_open` and is closed exactly once.
    unsafe { bindings::filp_close(file, core::ptr::null_mut()) };
    if n < 0 {
        return Err(Error::from_errno(n as i32));
    }
    Ok((n as usize).min(buf.len()))
}
