// SPDX-License-Identifier: GPL-2.0

//! Eligibility: which processes may migrate and, for those that may not,
//! every reason why ("cantmove", the question openMosix users asked most);
//! who may act on a process; pinning a process to its node (`lock`) and
//! the nodes it may go to (`allow`). Owns [`Migration`]; calls only `sys`
//! and `lists`.

use crate::abi::cantmove;
use crate::lists::retain;
use crate::sys::task::TaskRef;
use kernel::{new_mutex, prelude::*, sync::Arc, sync::Mutex};

/// Most processes that may be locked at once on a node.
pub(crate) const MAX_LOCKED: usize = 4096;

/// A locked process: pid plus start time, so a reused pid is not locked.
#[derive(Clone, Copy, PartialEq, Eq)]
struct LockedProc {
    pid: u32,
    start_time: u64,
}

/// Per-node migration state.
#[pin_data]
pub(crate) struct Migration {
    #[pin]
    locked: Mutex<KVec<LockedProc>>,
    /// Processes with an allowed-nodes mask (`ROAM_IOC_ALLOW`).
    #[pin]
    allowed: Mutex<KVec<(LockedProc, u64)>>,
}

impl Migration {
    pub(crate) fn new() -> Result<Arc<Self>> {
        Arc::pin_init(
            pin_init!(Migration {
                locked <- new_mutex!(KVec::new(), "roam_locked"),
                allowed <- new_mutex!(KVec::new(), "roam_allowed"),
            }),
            GFP_KERNEL,
        )
    }

    /// Finds `pid` and checks the caller may act on it: root, or a
    /// caller that could attach to it with ptrace (its real ids match all
    /// of the target's, and the target is dumpable: not a setuid program
    /// nor a process that gave up being dumped), since moving it reads
    /// and sends its whole memory.
    /// `pid` is the caller's name for it (its pid namespace's).
    pub(crate) fn find_permitted(pid: u32) -> Result<TaskRef> {
        let t = TaskRef::find_visible(pid)?;
        if crate::sys::cred::may_configure() || t.may_ptrace() {
            Ok(t)
        } else {
            Err(EPERM)
        }
    }

    /// Whether the caller may see where process `pid` (an id in the
    /// initial pid namespace, as roam keeps them) runs: root, or a caller
    /// that could attach to it with ptrace. Placement is what `/proc`
    /// mounted with `hidepid=invisible` would hide from other users, so
    /// `ROAM_IOC_WHERE` and the `guests`, `away`, `locked` and `events`
    /// files show a user only such processes.
    pub(crate) fn may_see(pid: u32) -> bool {
        crate::sys::cred::may_configure() || TaskRef::find(pid).map(|t| t.may_ptrace()).unwrap_or(false)
    }

    fn is_locked(&self, t: &TaskRef) -> bool {
        let me = LockedProc { pid: t.tgid(), start_time: t.start_time() };
        self.locked.lock().iter().any(|l| *l == me)
    }

    /// Why `t` cannot migrate (0: it can).
    pub(crate) fn reasons(&self, t: &TaskRef) -> u32 {
        let mut r = 0;
        if t.is_kthread() {
            r |= cantmove::KERNEL_THREAD;
        }
        if t.is_init() {
            r |= cantmove::INIT;
        }
        if t.is_exiting() {
            r |= cantmove::EXITING;
        }
        if t.nr_threads() > 1 {
            r |= cantmove::MULTITHREADED;
        }
        if self.is_locked(t) {
            r |= cantmove::LOCKED;
        }
        if t.under_seccomp() {
            // Its filter stays with the task at home: a remote's calls
            // would not go through it.
            r |= cantmove::SECCOMP;
        }
        if !t.is_kthread() && t.in_foreign_namespace() {
            r |= cantmove::NAMESPACE;
        }
        if t.ngroups() > crate::image::MAX_GROUPS {
            r |= cantmove::GROUPS;
        }
        if t.is_traced() {
            r |= cantmove::TRACED;
        }
        if !t.is_kthread() && t.refuses_exec_memory() {
            r |= cantmove::MDWE;
        }
        if !t.is_kthread() {
            match t.map_summary() {
                None => r |= cantmove::NO_MM,
                Some(m) => {
                    if m.shared_writable {
                        r |= cantmove::SHARED_MEMORY;
                    }
                    if m.device {
                        r |= cantmove::DEVICE_MAPPING;
                    }
                }
            }
        }
        r
    }

    /// `ROAM_IOC_LOCK`: the process stays on this node until unlocked.
    pub(crate) fn lock(&self, pid: u32) -> Result {
        let t = Self::find_permitted(pid)?;
        if t.is_kthread() {
            return Err(EINVAL);
        }
        let me = LockedProc { pid: t.tgid(), start_time: t.start_time() };
        let mut l = self.locked.lock();
        if l.iter().any(|x| *x == me) {
            return Ok(());
        }
        if l.len() >= MAX_LOCKED {
            drop(l);
            self.prune();
            l = self.locked.lock();
            if l.len() >= MAX_LOCKED {
                pr_warn!("lock: refused pid {}: {} processes are locked already\n", pid, MAX_LOCKED);
                return Err(ENOSPC);
            }
        }
        l.push(me, GFP_KERNEL)?;
        pr_info!("pid {} locked to this node\n", pid);
        Ok(())
    }

    /// `ROAM_IOC_UNLOCK`.
    pub(crate) fn unlock(&self, pid: u32) -> Result {
        let t = Self::find_permitted(pid)?;
        let me = LockedProc { pid: t.tgid(), start_time: t.start_time() };
        let mut l = self.locked.lock();
        let before = l.len();
        let keep = retain(&mut l, |x| *x != me);
        if keep.is_err() {
            return Err(ENOMEM);
        }
        if l.len() != before {
            pr_info!("pid {} unlocked\n", pid);
        }
        Ok(())
    }

    /// The allowed-nodes mask of the local process `tgid` (0: any node).
    pub(crate) fn allowed_of(&self, tgid: u32) -> u64 {
        let Ok(t) = TaskRef::find(tgid) else { return 0 };
        let me = LockedProc { pid: t.tgid(), start_time: t.start_time() };
        self.allowed.lock().iter().find(|a| a.0 == me).map(|a| a.1).unwrap_or(0)
    }

    /// Gives the local process `tgid` the mask `nodes` (0: any node);
    /// used for arriving processes, which bring theirs.
    pub(crate) fn set_allowed(&self, tgid: u32, nodes: u64) -> Result {
        let t = TaskRef::find(tgid)?;
        let me = LockedProc { pid: t.tgid(), start_time: t.start_time() };
        self.prune_allowed();
        let mut l = self.allowed.lock();
        retain(&mut l, |a| a.0 != me)?;
        if nodes != 0 {
            if l.len() >= MAX_LOCKED {
                pr_warn!("allow: refused pid {}: {} processes have allowed nodes already\n", tgid, MAX_LOCKED);
                return Err(ENOSPC);
            }
            l.push((me, nodes), GFP_KERNEL)?;
        }
        Ok(())
    }

    /// `ROAM_IOC_ALLOW`: reads, and with `set` changes, the nodes `pid`
    /// may be moved to; returns the mask in force.
    pub(crate) fn allow(&self, pid: u32, set: bool, nodes: u64) -> Result<u64> {
        let t = Self::find_permitted(pid)?;
        if t.is_kthread() {
            return Err(EINVAL);
        }
        if set {
            self.set_allowed(t.tgid(), nodes)?;
            pr_info!("pid {} may run on nodes {:#x} (0: any)\n", t.tgid(), nodes);
        }
        Ok(self.allowed_of(t.tgid()))
    }

    /// Forgets allowed-node masks of processes that have exited.
    fn prune_allowed(&self) {
        forget_exited(&self.allowed, |a| a.0);
    }

    /// Forgets locked processes that have exited.
    fn prune(&self) {
        forget_exited(&self.locked, |l| *l);
    }

    /// Locked processes still alive, for `/sys/kernel/roam/locked`.
    pub(crate) fn locked_pids(&self, out: &mut impl core::fmt::Write) -> core::fmt::Result {
        self.prune();
        let mut pids: KVec<u32> = KVec::new();
        for p in self.locked.lock().iter() {
            if pids.push(p.pid, GFP_KERNEL).is_err() {
                break;
            }
        }
        // Looked up without the lock held.
        for &pid in pids.iter().filter(|&&p| Self::may_see(p)) {
            writeln!(out, "{}", pid)?;
        }
        Ok(())
    }
}

/// Drops the entries of `list` whose process (`key`) has exited. The
/// processes are looked up without the lock held.
fn forget_exited<T: Copy>(list: &Mutex<KVec<T>>, key: impl Fn(&T) -> LockedProc) {
    let snapshot: KVec<LockedProc> = {
        let l = list.lock();
        let mut v = KVec::new();
        for x in l.iter() {
            if v.push(key(x), GFP_KERNEL).is_err() {
                return;
            }
        }
        v
    };
    let mut gone = KVec::new();
    for p in snapshot.iter() {
        let alive = TaskRef::find(p.pid).map(|t| t.start_time() == p.start_time).unwrap_or(false);
        if !alive && gone.push(*p, GFP_KERNEL).is_err() {
            break;
        }
    }
    let mut l = list.lock();
    let _ = retain(&mut l, |x| !gone.iter().any(|g| *g == key(x)));
}

