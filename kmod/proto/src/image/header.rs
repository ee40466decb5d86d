//! The [`ImageHeader`] (who moves, why, and how big the image is) and the
//! image-wide bounds it is checked against (page size, end of user
//! space, most areas, pages and xstate).
//!
//! Calls [`super::codec`] and [`super::error`] only.

use super::codec::{until_nul, Reader, Writer, IMAGE_VERSION};
use super::creds::{Context, CONTEXT_LEN};
use super::error::ImageError;

/// Size of a page on x86-64.
pub const PAGE_SIZE: usize = 4096;

/// [`PAGE_SIZE`] as a u64, for address arithmetic.
pub(super) const PAGE: u64 = PAGE_SIZE as u64;

/// End of the user address space with 4-level paging (`TASK_SIZE_MAX`:
/// one guard page below 2^47). Every area and batch lies below it.
pub const USER_END: u64 = 0x0000_7fff_ffff_f000;

/// Most pages an image can hold: the whole user address space.
pub const MAX_PAGES: u64 = USER_END / PAGE;

/// Largest extended FPU state accepted. The kernel's XSAVE regset is
/// sized for every feature the CPU has: about 2.7 KiB with AVX-512 and
/// about 11 KiB with AMX's tiles (which an earlier bound of 8 KiB made
/// every capture on such a CPU fail).
pub const MAX_XSTATE: u32 = 16384;

/// Most memory areas an image may have (the default `vm.max_map_count` is
/// 65530).
pub const MAX_VMAS: u32 = 65536;

/// Length of an encoded [`ImageHeader`].
pub const HEADER_LEN: usize = 100 + 2 * CONTEXT_LEN;

/// Identity and sizes of a migrating process.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImageHeader {
    /// Image version; must be [`IMAGE_VERSION`].
    pub version: u16,
    /// The process's home node.
    pub home_node: u32,
    /// Its pid at home (the thread's id).
    pub pid: u32,
    /// Its thread-group id at home (what `getpid` returns).
    pub tgid: u32,
    /// Real user id.
    pub uid: u32,
    /// Real group id.
    pub gid: u32,
    /// Effective user id.
    pub euid: u32,
    /// Effective group id.
    pub egid: u32,
    /// The command name (`task->comm`), NUL-padded.
    pub comm: [u8; 16],
    /// Number of memory areas that follow.
    pub nr_vmas: u32,
    /// Most pages that follow (pages that read as zero are not sent, so
    /// fewer may come; `Commit` says how many did).
    pub nr_pages: u64,
    /// Length of the xstate in the `Begin` message.
    pub xstate_len: u32,
    /// Why it moves: one of [`cause`].
    pub cause: u16,
    /// The sender's load (`LoadEntry::load`) when it decided; the target
    /// of a [`cause::LOAD`] migration refuses unless it is still lighter.
    pub sender_load: u32,
    /// The nodes it may run on: bit `n - 1` for node `n`, 0 for any.
    /// Its home is always allowed.
    pub allowed: u64,
    /// CLOCK_MONOTONIC as the process saw it at capture (ns): its home
    /// node's clock, which it keeps wherever it runs (the destination puts
    /// it in a time namespace with the offset that continues it).
    pub mono_ns: u64,
    /// CLOCK_BOOTTIME as the process saw it at capture (ns).
    pub boot_ns: u64,
    /// A secret its home node drew when the process left it, known only
    /// to the nodes that have hosted it since: home takes the process's
    /// `Moved` reports and its return only with it, so a member that
    /// never hosted the process cannot claim it.
    pub token: u64,
    /// Its cgroup and security label, which a guest takes on where it
    /// runs (a destination without its cgroup refuses it at once).
    pub ctx: Context,
}

/// Why a process moves ([`ImageHeader::cause`]).
pub mod cause {
    /// Asked for by a person (`roamctl migrate`, `roamrun`).
    pub const MANUAL: u16 = 0;
    /// The balancer: the sender is heavier.
    pub const LOAD: u16 = 1;
    /// The balancer: the sender is short of memory.
    pub const MEMORY: u16 = 2;
    /// Its home called it back (`bring`, `migrate PID home`).
    pub const RECALL: u16 = 3;
    /// The node it ran on expelled it.
    pub const EXPEL: u16 = 4;
    /// It made a call that runs only at home (fork, exec, ...).
    pub const SYSCALL: u16 = 5;
    /// The highest cause.
    pub const MAX: u16 = SYSCALL;
}

impl ImageHeader {
    /// `comm` up to its first NUL.
    pub fn comm_bytes(&self) -> &[u8] {
        until_nul(&self.comm)
    }

    /// Checks the version, the bounds and the context
    /// ([`Context::valid`], `BadCreds`).
    pub fn check(&self) -> Result<(), ImageError> {
        if self.version != IMAGE_VERSION || self.cause > cause::MAX {
            return Err(ImageError::BadVersion);
        }
        if !self.ctx.valid() {
            return Err(ImageError::BadCreds);
        }
        if self.xstate_len > MAX_XSTATE || self.nr_vmas > MAX_VMAS || self.nr_pages > MAX_PAGES {
            return Err(ImageError::TooLarge);
        }
        Ok(())
    }

    pub(super) fn write(&self, w: &mut Writer<'_>) -> Result<(), ImageError> {
        w.u16(self.version)?;
        for v in [self.home_node, self.pid, self.tgid, self.uid, self.gid, self.euid, self.egid] {
            w.u32(v)?;
        }
        w.bytes(&self.comm)?;
        w.u32(self.nr_vmas)?;
        w.u64(self.nr_pages)?;
        w.u32(self.xstate_len)?;
        w.u16(self.cause)?;
        w.u32(self.sender_load)?;
        w.u64(self.allowed)?;
        w.u64(self.mono_ns)?;
        w.u64(self.boot_ns)?;
        w.u64(self.token)?;
        w.bytes(&self.ctx.cgroup)?;
        w.bytes(&self.ctx.label)
    }

    pub(super) fn read(r: &mut Reader<'_>) -> Result<ImageHeader, ImageError> {
        Ok(ImageHeader {
            version: r.u16()?,
            home_node: r.u32()?,
            pid: r.u32()?,
            tgid: r.u32()?,
            uid: r.u32()?,
            gid: r.u32()?,
            euid: r.u32()?,
            egid: r.u32()?,
            comm: r.array()?,
            nr_vmas: r.u32()?,
            nr_pages: r.u64()?,
            xstate_len: r.u32()?,
            cause: r.u16()?,
            sender_load: r.u32()?,
            allowed: r.u64()?,
            mono_ns: r.u64()?,
            boot_ns: r.u64()?,
            token: r.u64()?,
            ctx: Context { cgroup: r.array()?, label: r.array()? },
        })
    }
}
