// SPDX-License-Identifier: GPL-2.0

//! A migration coming in, on the destination, driven by the receiver
//! thread that reads its frames: admit it (or refuse, with a reason), get
//! a target address space (a new adopt stub, or the deputy when the
//! process comes home: `adopt.rs`), clear it, map the areas, copy the
//! pages in, and at the commit check the image whole, write the restorer
//! (`restore.rs`) into a scratch area and answer with the local pid. The
//! source's Go then lets the target return into the restorer.
//!
//! Owns [`Incoming`] and what it holds. Calls the engine's send helpers,
//! the registry, and `adopt.rs` to start a stub.

use super::fileareas::{in_taken, map_taken, Taken};
use super::prearrival::{drop_stale, keep_area};
use super::msg::Verdict;
use super::{has_pages, wait_ms, Mover, SIGKILL};
use crate::image::{
    self, Creds, ImageHeader, MigrateMsg, MmLayout, PageBatchHeader, PendingSignal, Progress, RefuseReason, Regs, SigState, TimerState,
    Vma,
};
use crate::faults::Phase;
use crate::restore::{self, Builder};
use crate::sys::{placement, time, uctx, umem};
use core::sync::atomic::{AtomicU64, Ordering};
use kernel::{
    new_condvar, new_mutex,
    prelude::*,
    sync::{Arc, CondVar, Mutex},
};

/// How long the destination waits for the adopt stub to check in.
const ATTACH_TIMEOUT_MS: u64 = 15_000;

/// What the target of an arriving image (a stub or a deputy) is told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Install {
    /// Nothing yet.
    Waiting,
    /// Everything is in place: return into the restorer.
    Done { entry: u64, stack: u64, scratch: u64, timer_id: Option<u32> },
    /// The migration failed; the target goes on as before (a stub exits).
    Failed,
}

/// The target's side of an arrival.
pub(super) struct TargetState {
    /// Its address space, once it checked in.
    pub(super) mm: Option<Arc<umem::MmRef>>,
    /// Where its vDSO is.
    pub(super) vdso: u64,
    /// Its (local) pid, once it checked in.
    pub(super) pid: u32,
    pub(super) install: Install,
    /// Installed and waiting for the source's Go: entry, stack, scratch,
    /// and the id the process's first timer must get.
    pub(super) prepared: Option<(u64, u64, u64, Option<u32>)>,
}

/// An image arriving on this node.
#[pin_data]
pub(super) struct Incoming {
    /// (sender node, migration id).
    pub(super) from: u32,
    pub(super) id: u32,
    pub(super) ticket: u64,
    /// Coming home to its deputy rather than to a new stub.
    pub(super) home: bool,
    /// The offsets (ns) a new stub's time namespace adds to this node's
    /// CLOCK_MONOTONIC and CLOCK_BOOTTIME so that the process's clocks go
    /// on from where they were when it left (the time on the way is not
    /// counted, so they never step back). Zero at home.
    pub(super) clock_off: (i64, i64),
    /// When its `Begin` came, and when its target was ready (ns, 0 until
    /// then): the phases of an arrival (`metrics.rs`).
    begun_ns: u64,
    ready_ns: AtomicU64,
    /// When this node accepted the image (ms, 0 until then): the sender's
    /// Go comes right after, or never (lost, or the sender failed).
    pub(super) accepted_ms: AtomicU64,
    #[pin]
    pub(super) state: Mutex<Arrival>,
    #[pin]
    pub(super) target: Mutex<TargetState>,
    #[pin]
    pub(super) cv: CondVar,
}

/// The image received so far.
pub(super) struct Arrival {
    /// The header and the signal state are boxed: an `Arrival` is built in
    /// the receiver's context, deep in its stack, and these are its two
    /// largest parts (about 0.6 and 2 KiB).
    pub(super) header: KBox<ImageHeader>,
    pub(super) regs: Regs,
    pub(super) mm: MmLayout,
    pub(super) sig: KBox<SigState>,
    /// The signals pending at the source, in queue order.
    pub(super) pending: KVec<PendingSignal>,
    /// Its timers and CPU times.
    pub(super) timers: KBox<TimerState>,
    /// Its credentials and limits, and its supplementary groups (what a
    /// new stub takes on; ignored at home, where the task kept its own).
    pub(super) creds: Creds,
    pub(super) groups: KVec<u32>,
    pub(super) xstate: KVec<u8>,
    pub(super) vmas: KVec<Vma>,
    /// The file offers taken: areas mapped from files here.
    pub(super) files: KVec<Taken>,
    pub(super) progress: Progress,
    /// Pre-copy: the areas the rounds filled (`prearrival.rs`), and which
    /// of them a final area kept.
    pub(super) pre_vmas: KVec<Vma>,
    pub(super) pre_kept: KVec<bool>,
}

impl Incoming {
    /// Fails the arrival if its target is still waiting, and wakes it.
    pub(super) fn fail(&self) {
        {
            let mut t = self.target.lock();
            if t.install == Install::Waiting {
                t.install = Install::Failed;
            }
        }
        self.cv.notify_all();
    }
}

impl Mover {
    /// Drops arrival `id` from `from`, if any, and tells the source why.
    pub(super) fn fail_incoming(&self, from: u32, id: u32, why: RefuseReason) {
        let inc = self.reg.lock().incoming(from, id);
        if let Some(inc) = inc {
            self.drop_incoming(&inc);
            self.metrics.arrived(false);
            self.reply(from, id, Verdict::Refused(why.code() as u32));
        }
    }

    /// Whether arrival `id` from `from` is under way.
    pub(super) fn has_incoming(&self, from: u32, id: u32) -> bool {
        self.reg.lock().incoming(from, id).is_some()
    }

    pub(super) fn drop_incoming(&self, inc: &Arc<Incoming>) {
        inc.fail();
        self.reg.lock().drop_incoming(inc.from, inc.id);
    }

    pub(super) fn on_image(self: &Arc<Self>, from: u32, id: u32, m: MigrateMsg<'_>) {
        match m {
            MigrateMsg::Ready { .. } | MigrateMsg::Accept { .. } | MigrateMsg::Refuse { .. } => {
                let v = match m {
                    MigrateMsg::Ready { have } => Verdict::Ready(have),
                    MigrateMsg::Accept { remote_pid } => Verdict::Accepted(remote_pid),
                    MigrateMsg::Refuse { reason } => Verdict::Refused(reason.code() as u32),
                    _ => return,
                };
                let out = self.reg.lock().outgoing.iter().find(|o| o.id == id && o.dest == from).cloned();
                if let Some(o) = out {
                    o.answer(v);
                }
            }
            MigrateMsg::Begin(b) => {
                // Answered after the file offers that follow (`Ready`).
                let r = self.begin(from, id, &b);
                match r {
                    Ok(()) => {}
                    Err(why) => {
                        pr_info!("migration {} from node {} refused: {}\n", id, from, why.reason());
                        self.fail_incoming(from, id, why);
                        // Not registered (refused before): answer anyway.
                        if self.reg.lock().incoming(from, id).is_none() {
                            self.metrics.arrived(false);
                            self.reply(from, id, Verdict::Refused(why.code() as u32));
                        }
                    }
                }
            }
            MigrateMsg::Files(f) => {
                let Some(inc) = self.reg.lock().incoming(from, id) else { return };
                if inc.state.lock().progress.files().is_err() {
                    self.fail_incoming(from, id, RefuseReason::BadImage);
                    return;
                }
                let (taken, have) = self.take_offers(&f);
                inc.state.lock().files = taken;
                self.reply(from, id, Verdict::Ready(have));
            }
            MigrateMsg::Signals(s) => {
                let Some(inc) = self.reg.lock().incoming(from, id) else { return };
                if let Err(e) = Self::signals(&inc, &s) {
                    let why = if e == ENOMEM { RefuseReason::NoMemory } else { RefuseReason::BadImage };
                    self.fail_incoming(from, id, why);
                }
            }
            MigrateMsg::Timers(t) => {
                let Some(inc) = self.reg.lock().incoming(from, id) else { return };
                let mut st = inc.state.lock();
                if st.progress.timers().is_err() || t.read_into(&mut st.timers).is_err() {
                    drop(st);
                    self.fail_incoming(from, id, RefuseReason::BadImage);
                }
            }
            MigrateMsg::Creds(c) => {
                let Some(inc) = self.reg.lock().incoming(from, id) else { return };
                let mut st = inc.state.lock();
                // A node that takes no privileged guests (`accept_root`
                // 0) refuses one before its memory comes.
                if !inc.home && c.creds.privileged() && self.cluster.tun.accept_root.load(Ordering::Relaxed) == 0 {
                    let (tgid, home) = (st.header.tgid, st.header.home_node);
                    drop(st);
                    pr_info!("refused pid {} of node {}: it has root's ids or capabilities, and this node takes no privileged guests (accept_root 0)\n", tgid, home);
                    self.fail_incoming(from, id, RefuseReason::NotAccepting);
                    return;
                }
                // The stub took the header's uid (`ROAM_IOC_ADOPT_USER`):
                // credentials naming another user would not match it.
                let ok = st.progress.creds().is_ok() && c.creds.uid == st.header.uid && {
                    st.creds = c.creds;
                    st.groups = KVec::new();
                    st.groups.reserve(c.len(), GFP_KERNEL).is_ok() && c.groups().all(|g| st.groups.push(g, GFP_KERNEL).is_ok())
                };
                if !ok {
                    drop(st);
                    self.fail_incoming(from, id, RefuseReason::BadImage);
                }
            }
            MigrateMsg::Vmas(v) => {
                let Some(inc) = self.reg.lock().incoming(from, id) else { return };
                if self.vmas(&inc, &v).is_err() {
                    self.fail_incoming(from, id, RefuseReason::BadImage);
                }
            }
            MigrateMsg::Pages(h, data) => {
                let Some(inc) = self.reg.lock().incoming(from, id) else { return };
                if let Err(e) = self.pages(&inc, &h, data) {
                    let why = if e == ENOMEM { RefuseReason::NoMemory } else { RefuseReason::BadImage };
                    self.fail_incoming(from, id, why);
                }
            }
            MigrateMsg::PreVmas(v) => {
                let Some(inc) = self.reg.lock().incoming(from, id) else { return };
                if self.pre_vmas(&inc, &v).is_err() {
                    self.fail_incoming(from, id, RefuseReason::BadImage);
                }
            }
            MigrateMsg::PrePages(h, data) => {
                let Some(inc) = self.reg.lock().incoming(from, id) else { return };
                if let Err(e) = self.pre_pages(&inc, &h, data) {
                    let why = if e == ENOMEM { RefuseReason::NoMemory } else { RefuseReason::BadImage };
                    self.fail_incoming(from, id, why);
                }
            }
            MigrateMsg::Final(b) => {
                let Some(inc) = self.reg.lock().incoming(from, id) else { return };
                if self.final_state(&inc, &b).is_err() {
                    self.fail_incoming(from, id, RefuseReason::BadImage);
                }
            }
            MigrateMsg::Commit { nr_pages, checksum } => {
                let Some(inc) = self.reg.lock().incoming(from, id) else { return };
                let t = time::now_ns();
                match self.commit(&inc, nr_pages, checksum) {
                    Ok(pid) => {
                        self.metrics.arrived(true);
                        let ready = inc.ready_ns.load(Ordering::Relaxed);
                        let us = |a: u64, b: u64| b.saturating_sub(a) / 1000;
                        self.metrics.arrival_phases([us(inc.begun_ns, ready), us(ready, t), us(t, time::now_ns())]);
                        inc.accepted_ms.store(time::now_ms(), Ordering::Release);
                        self.reply(from, id, Verdict::Accepted(pid));
                        // Without Go (within the target's wait) it is dropped.
                    }
                    Err(why) => self.fail_incoming(from, id, why),
                }
            }
            MigrateMsg::Abort => {
                let inc = self.reg.lock().incoming(from, id);
                if let Some(inc) = inc {
                    self.drop_incoming(&inc);
                }
            }
        }
    }

    // Not inlined: its locals (a header, boxes being filled) stay off the
    // receiver's stack while the other messages are handled.
    #[inline(never)]
    fn begin(self: &Arc<Self>, from: u32, id: u32, b: &image::BeginView<'_>) -> core::result::Result<(), RefuseReason> {
        let begun_ns = time::now_ns();
        let h = b.header;
        // Registers no user process has (a kernel segment, an address
        // outside user space) mean a forged or broken image.
        if !b.regs.user_mode_ok() {
            pr_warn!("migration {} from node {}: registers not of a user process: refused\n", id, from);
            return Err(RefuseReason::BadImage);
        }
        if self.ctl.failpoint.hit(Phase::InAdmit) {
            return Err(RefuseReason::Busy);
        }
        let home = h.home_node == self.me();
        if home {
            // Only the node its deputy knows it runs on, with the token
            // of its image, may send it home.
            match self.reg.lock().deputy(h.tgid) {
                Some(d) if d.node.load(Ordering::Acquire) == from && d.pid == h.pid && d.token == h.token => {}
                _ => {
                    pr_warn!("node {} sent home pid {}, which does not run there: refused\n", from, h.tgid);
                    return Err(RefuseReason::BadImage);
                }
            }
        } else {
            if self.cluster.tun.accept.load(Ordering::Relaxed) == 0 {
                return Err(RefuseReason::NotAccepting);
            }
            if !crate::policy::allowed_on(h.allowed, self.me()) {
                return Err(RefuseReason::NotAccepting);
            }
            // A guest runs in its home cgroup's namesake here.
            if !placement::cgroup_exists(&h.ctx.cgroup) {
                pr_info!("refused pid {} of node {}: its cgroup {} does not exist here\n", h.tgid, h.home_node, placement::text(h.ctx.cgroup()));
                return Err(RefuseReason::NoCgroup);
            }
            let guests = {
                let r = self.reg.lock();
                r.live_guests().count() + r.incoming.len()
            };
            if guests >= self.ctl.max_guests.load(Ordering::Relaxed) as usize {
                return Err(RefuseReason::TooManyGuests);
            }
            // A balancing move: take it only while still lighter (the
            // sender's view of this node may be an interval old).
            if h.cause == image::cause::LOAD {
                let t = crate::policy::Tunables {
                    stability_margin: self.ctl.margin.load(Ordering::Relaxed),
                    ..crate::policy::Tunables::DEFAULT
                };
                let me = self.cluster.own_entry_now();
                if crate::policy::accept(&me, h.sender_load, 0, &t, false).is_err() {
                    pr_info!("refused pid {} of node {}: load here {}, there {} (margin {})\n", h.tgid, h.home_node, me.load, h.sender_load, t.stability_margin);
                    return Err(RefuseReason::NotLighter);
                }
            }
        }
        let need_mb = h.nr_pages / 256 + 16;
        if (crate::sys::sysinfo::free_mem_mb() as u64) < need_mb {
            return Err(RefuseReason::NoMemory);
        }
        let mut progress = Progress::new();
        progress.begin(&h).map_err(|e| e.refuse_reason())?;
        let mut xstate = KVec::new();
        crate::sys::bytes::extend(&mut xstate, b.xstate, GFP_KERNEL).map_err(|_| RefuseReason::NoMemory)?;
        let timers = boxed(TimerState::default).map_err(|_| RefuseReason::NoMemory)?;
        let header = KBox::new(h, GFP_KERNEL).map_err(|_| RefuseReason::NoMemory)?;
        let mut sig = boxed(|| SigState::EMPTY).map_err(|_| RefuseReason::NoMemory)?;
        b.sig_state_into(&mut sig);
        let clock_off = if home {
            (0, 0)
        } else {
            (h.mono_ns as i64 - time::now_ns() as i64, h.boot_ns as i64 - time::boot_ns() as i64)
        };
        let ticket = ((from as u64) << 32) | id as u64 ^ (time::random_u64() & 0xffff_0000_0000_0000);
        let inc = Arc::pin_init(
            pin_init!(Incoming {
                from,
                id,
                ticket,
                home,
                clock_off,
                begun_ns,
                ready_ns: AtomicU64::new(0),
                accepted_ms: AtomicU64::new(0),
                state <- new_mutex!(
                    Arrival {
                        header,
                        regs: b.regs,
                        mm: b.mm,
                        sig,
                        pending: KVec::new(),
                        timers,
                        creds: Creds::default(),
                        groups: KVec::new(),
                        xstate,
                        vmas: KVec::new(),
                        files: KVec::new(),
                        progress,
                        pre_vmas: KVec::new(),
                        pre_kept: KVec::new(),
                    },
                    "roam_arrival"
                ),
                target <- new_mutex!(TargetState { mm: None, vdso: 0, pid: 0, install: Install::Waiting, prepared: None }, "roam_target"),
                cv <- new_condvar!("roam_arrival"),
            }),
            GFP_KERNEL,
        )
        .map_err(|_| RefuseReason::NoMemory)?;
        self.reg.lock().incoming.push(inc.clone(), GFP_KERNEL).map_err(|_| RefuseReason::NoMemory)?;
        if home {
            let d = self.reg.lock().deputy(h.tgid).ok_or(RefuseReason::BadImage)?;
            d.arrive(inc.clone());
        } else {
            self.start_stub(&inc).map_err(|_| RefuseReason::NoMemory)?;
        }
        // Wait for the target to check in, then clear its address space.
        let mm = {
            let deadline = time::now_ms() + ATTACH_TIMEOUT_MS;
            let mut t = inc.target.lock();
            loop {
                if let Some(mm) = t.mm.clone() {
                    break mm;
                }
                if t.install == Install::Failed || time::now_ms() > deadline {
                    return Err(RefuseReason::Busy);
                }
                wait_ms(&inc.cv, &mut t, 100);
            }
        };
        mm.borrow(|| -> Result {
            let vdso = uctx::vdso();
            for v in umem::areas(vdso)?.iter() {
                if v.flags & (image::VMA_VDSO | image::VMA_VVAR) == 0 {
                    umem::unmap(v.start, v.end - v.start)?;
                }
            }
            Ok(())
        })
        .and_then(|r| r)
        .map_err(|_| RefuseReason::Busy)?;
        inc.ready_ns.store(time::now_ns(), Ordering::Relaxed);
        Ok(())
    }

    pub(super) fn target_mm(inc: &Incoming) -> Result<(Arc<umem::MmRef>, u64)> {
        let t = inc.target.lock();
        Ok((t.mm.clone().ok_or(EINVAL)?, t.vdso))
    }

    /// Keeps the pending signals for the restorer, which queues them again
    /// (`commit`).
    #[inline(never)]
    fn signals(inc: &Incoming, s: &image::SignalsView<'_>) -> Result {
        let mut st = inc.state.lock();
        st.progress.signals().map_err(|_| EINVAL)?;
        for i in 0..s.len() {
            st.pending.push(s.get(i).ok_or(EINVAL)?, GFP_KERNEL)?;
        }
        Ok(())
    }

    #[inline(never)]
    fn vmas(&self, inc: &Incoming, v: &image::VmasView<'_>) -> Result {
        let (mm, _) = Self::target_mm(inc)?;
        let mut st = inc.state.lock();
        st.progress.vmas(v).map_err(|_| EINVAL)?;
        for i in 0..v.len() {
            let a = v.get(i).ok_or(EINVAL)?;
            st.vmas.push(a, GFP_KERNEL)?;
        }
        let first = v.first as usize;
        let st = &mut *st;
        // After pre-copy the offers were for the pre-copy areas, which a
        // final area either keeps or replaces.
        let pre = st.progress.precopied();
        mm.borrow(|| -> Result {
            for i in first..st.vmas.len() {
                let a = st.vmas[i];
                if a.flags & (image::VMA_VDSO | image::VMA_VVAR) != 0 {
                    continue;
                }
                if pre {
                    if keep_area(st, &a)? {
                        continue;
                    }
                } else if a.flags & image::VMA_KEEP != 0 {
                    return Err(EINVAL);
                } else if map_taken(&mut st.files, i as u32, &a)? {
                    continue;
                }
                let prot = if has_pages(&a) { a.prot | image::PROT_READ | image::PROT_WRITE } else { a.prot };
                umem::map_anon(a.start, a.end - a.start, prot, a.flags & image::VMA_GROWSDOWN != 0)?;
            }
            if pre && st.progress.vmas_done() {
                drop_stale(st)?;
            }
            Ok(())
        })?
    }

    #[inline(never)]
    fn pages(&self, inc: &Incoming, h: &PageBatchHeader, data: &[u8]) -> Result {
        let (mm, _) = Self::target_mm(inc)?;
        let mut st = inc.state.lock();
        if !image::batch_in_vmas(h, &st.vmas) || data.len() != h.data_len() || in_taken(&st.files, h.first_addr, data.len() as u64) {
            return Err(EINVAL);
        }
        st.progress.pages(h, data).map_err(|_| EINVAL)?;
        drop(st);
        if self.ctl.failpoint.hit(Phase::InPages) {
            return Err(ENOMEM);
        }
        mm.borrow(|| umem::write(h.first_addr, data))?
    }

    #[inline(never)]
    fn commit(&self, inc: &Incoming, nr_pages: u64, checksum: u64) -> core::result::Result<u32, RefuseReason> {
        let (mm, stub_vdso) = Self::target_mm(inc).map_err(|_| RefuseReason::BadImage)?;
        let target_pid = inc.target.lock().pid;
        // The process's own CLOCK_MONOTONIC here (its time namespace's).
        let now_ns = (time::now_ns() as i64).saturating_add(inc.clock_off.0).max(0) as u64;
        let st = inc.state.lock();
        st.progress.commit(nr_pages, checksum).map_err(|e| e.refuse_reason())?;
        // Fault injection (`fail_arrivals`): refused now, every page in.
        if self.ctl.fail_arrivals.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1)).is_ok() || self.ctl.failpoint.hit(Phase::InCommit) {
            pr_info!("migration {} from node {}: refused at its commit (fail_arrivals)\n", inc.id, inc.from);
            return Err(RefuseReason::BadImage);
        }
        let mut buf = crate::sys::bytes::zeroed_kv(restore::SCRATCH_LEN, GFP_KERNEL).map_err(|_| RefuseReason::NoMemory)?;
        let r = mm.borrow(|| -> core::result::Result<(u64, u64, u64, Option<u32>), RefuseReason> {
            let scratch = umem::map_anon(0, restore::SCRATCH_LEN as u64, image::PROT_READ | image::PROT_WRITE | image::PROT_EXEC, false)
                .map_err(|_| RefuseReason::NoMemory)?;
            let mut b = Builder::new(scratch, &mut buf).map_err(|_| RefuseReason::BadImage)?;
            // The vDSO pair goes where the program expects it.
            let cur = umem::areas(stub_vdso).map_err(|_| RefuseReason::NoMemory)?;
            for kind in [image::VMA_VVAR, image::VMA_VDSO] {
                let want = st.vmas.iter().find(|v| v.flags & kind != 0);
                let have = cur.iter().find(|v| v.flags & kind != 0);
                if let (Some(w), Some(h)) = (want, have) {
                    if w.start != h.start {
                        if w.end - w.start != h.end - h.start {
                            return Err(RefuseReason::Version);
                        }
                        // mremap(old, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, new)
                        b.syscall(25, [h.start, h.end - h.start, h.end - h.start, 3, w.start, 0]).map_err(|_| RefuseReason::BadImage)?;
                    }
                }
            }
            for (i, a) in st.sig.actions.iter().enumerate() {
                let signo = i as u32 + 1;
                // At home every action is set: the deputy's gate is on all.
                // Elsewhere every one that differs from a fresh task's: a
                // default action keeps its flags and mask too (a program
                // reads them back with sigaction).
                let fresh = a.handler == 0 && a.flags == 0 && a.mask == 0 && a.restorer == 0;
                if (!fresh || inc.home) && signo != SIGKILL && signo != 19 {
                    b.sigaction(signo, a).map_err(|_| RefuseReason::BadImage)?;
                }
            }
            for a in st.vmas.iter() {
                if has_pages(a) && a.prot != image::PROT_READ | image::PROT_WRITE | (a.prot & image::PROT_EXEC) {
                    b.syscall(10, [a.start, a.end - a.start, a.prot as u64, 0, 0, 0]).map_err(|_| RefuseReason::BadImage)?;
                }
            }
            // arch_prctl(ARCH_SET_FS / ARCH_SET_GS)
            b.syscall(158, [0x1002, st.regs.fs_base, 0, 0, 0, 0]).map_err(|_| RefuseReason::BadImage)?;
            if st.regs.gs_base != 0 {
                b.syscall(158, [0x1001, st.regs.gs_base, 0, 0, 0, 0]).map_err(|_| RefuseReason::BadImage)?;
            }
            // Its timers, made again here with their ids (the target
            // sets the first id before it runs the restorer).
            let timer_id = crate::rearm::rearm(&mut b, &st.timers, now_ns, target_pid).map_err(|_| RefuseReason::BadImage)?;
            // A CPU time limit: the target wrote the limits with its new
            // credentials, but only setting RLIMIT_CPU through the system
            // call arms the CPU timer that enforces it (the same value:
            // no privilege needed).
            let cpu = st.creds.rlimits[0];
            if !inc.home && cpu.cur != u64::MAX {
                let mut l = [0u8; 16];
                l[..8].copy_from_slice(&cpu.cur.to_le_bytes());
                l[8..].copy_from_slice(&cpu.max.to_le_bytes());
                let at = b.data(&l, 8).map_err(|_| RefuseReason::BadImage)?;
                // prlimit64(0, RLIMIT_CPU, &l, NULL)
                b.syscall(302, [0, 0, at, 0, 0, 0]).map_err(|_| RefuseReason::BadImage)?;
            }
            // Last, after every action is set (setting one can discard a
            // pending signal), the pending signals, each on its queue.
            // The header's ids are the home ones: at home they are the
            // process's own; on a guest the hook makes them local
            // (`hook.rs`, signals a guest sends itself).
            for p in st.pending.iter() {
                b.queue_signal(st.header.tgid, st.header.pid, p).map_err(|_| RefuseReason::BadImage)?;
            }
            let entry = b.entry();
            let stack = b.stack_top();
            let used = b.finish(&st.regs, st.sig.blocked, &st.sig.altstack, &st.xstate).map_err(|_| RefuseReason::BadImage)?;
            if self.ctl.failpoint.hit(Phase::InRegisters) {
                return Err(RefuseReason::NoMemory);
            }
            umem::write(scratch, &buf[..used]).map_err(|_| RefuseReason::NoMemory)?;
            umem::set_layout(&st.mm).map_err(|_| RefuseReason::BadImage)?;
            Ok((entry, stack, scratch, timer_id))
        });
        let (entry, stack, scratch, timer_id) = match r {
            Ok(Ok(x)) => x,
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err(RefuseReason::Busy),
        };
        drop(st);
        // Ready: the source decides (Go); until then the target waits.
        let mut t = inc.target.lock();
        if t.install != Install::Waiting || t.mm.is_none() {
            return Err(RefuseReason::Busy);
        }
        t.prepared = Some((entry, stack, scratch, timer_id));
        Ok(t.pid)
    }

    /// The source's Go for arrival `id` from `from`: the prepared target
    /// may enter the restorer.
    pub(super) fn go(&self, from: u32, id: u32) {
        let Some(inc) = self.reg.lock().incoming(from, id) else { return };
        {
            let mut t = inc.target.lock();
            if let Some((entry, stack, scratch, timer_id)) = t.prepared.take() {
                t.install = Install::Done { entry, stack, scratch, timer_id };
            }
        }
        inc.cv.notify_all();
        self.reg.lock().drop_incoming(from, id);
    }
}

/// `make()` in a box, made in a frame of its own: the value's temporary
/// copy (kilobytes for the timers and signal actions) is not kept in the
/// caller's frame, which stays on the receiver's stack while it works.
#[inline(never)]
fn boxed<T>(make: impl FnOnce() -> T) -> Result<KBox<T>> {
    Ok(KBox::new(make(), GFP_KERNEL)?)
}
