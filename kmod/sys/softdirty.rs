// SPDX-License-Identifier: GPL-2.0

//! Which pages of the current process were written since a mark: the
//! kernel's soft-dirty bits (`CONFIG_MEM_SOFT_DIRTY`), set by `clear_refs`
//! and read from `pagemap` under `/proc/self` — what CRIU's incremental
//! dumps use, reached from the module the same way, since the page-table
//! walkers are not exported to modules.
//!
//! Both files are opened by the process itself (its root, its `/proc`,
//! its credentials): a process that cannot (no `/proc` in its root,
//! another pid namespace's `/proc`, not dumpable) is not tracked, and
//! its migration fails with why. Their reads and writes need a buffer in
//! the process's own memory: a shared anonymous area (which merges with
//! no neighbour: a merge would mark the neighbour all dirty) mapped for
//! the call and unmapped before it returns, so calls are made only while
//! the process is stopped in the kernel (its task_work), where it cannot
//! see the area.

use super::files::File;
use super::umem;
use kernel::{c_str, prelude::*};

/// `pagemap` bits.
pub(crate) const PM_PRESENT: u64 = 1 << 63;
/// The page is in swap.
pub(crate) const PM_SWAP: u64 = 1 << 62;
/// Written since the last [`Tracker::clear`] (or its area is new since).
pub(crate) const PM_SOFT_DIRTY: u64 = 1 << 55;

/// Entries read from `pagemap` per call (a 64 KiB buffer).
const CHUNK: usize = 8192;

const PAGE: u64 = 4096;

/// The current process's `pagemap` and `clear_refs`.
pub(crate) struct Tracker {
    pagemap: File,
    clear_refs: File,
}

impl Tracker {
    /// Opens `/proc/self/pagemap` and `/proc/self/clear_refs` as the
    /// current task.
    pub(crate) fn open() -> Result<Tracker> {
        Ok(Tracker {
            pagemap: File::open_as(c_str!("/proc/self/pagemap"), false)?,
            clear_refs: File::open_as(c_str!("/proc/self/clear_refs"), true)?,
        })
    }

    /// Clears every soft-dirty bit of the current mm (`clear_refs` 4):
    /// from now on a write sets its page's bit again.
    pub(crate) fn clear(&self) -> Result {
        let buf = umem::map_scratch(PAGE)?;
        let r = umem::write(buf, b"4").and_then(|()| self.clear_refs.write_user(buf, 1, 0));
        let u = umem::unmap(buf, PAGE);
        r?;
        u
    }

    /// Calls `each(k, addr, entry)` with the `pagemap` entry of every page
    /// of each range `k` of `ranges` (`[start, end)` of the current mm),
    /// through one buffer mapped for the whole call.
    pub(crate) fn scan(&self, ranges: &[(u64, u64)], mut each: impl FnMut(usize, u64, u64)) -> Result {
        let len = (CHUNK * 8) as u64;
        let buf = umem::map_scratch(len)?;
        let r = (|| -> Result {
            let mut raw = super::bytes::zeroed_kv(CHUNK * 8, GFP_KERNEL)?;
            for (k, &(start, end)) in ranges.iter().enumerate() {
                let mut addr = start;
                while addr < end {
                    let n = (((end - addr) / PAGE) as usize).min(CHUNK);
                    let got = self.pagemap.read_user(buf, n * 8, addr / PAGE * 8)?;
                    if got != n * 8 {
                        return Err(EIO);
                    }
                    umem::read(buf, &mut raw[..got])?;
                    for (i, e) in raw[..got].chunks_exact(8).enumerate() {
                        let mut w = [0u8; 8];
                        w.copy_from_slice(e);
                        each(k, addr + i as u64 * PAGE, u64::from_le_bytes(w));
                    }
                    addr += n as u64 * PAGE;
                }
            }
            Ok(())
        })();
        let u = umem::unmap(buf, len);
        r?;
        u
    }
}
