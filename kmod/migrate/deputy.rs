// SPDX-License-Identifier: GPL-2.0

//! The deputy: the home side of a process that runs elsewhere. After a
//! departure the original task stays in the kernel (in its task_work),
//! drops its memory and maps a scratch area. It then serves its remote:
//! a forwarded system call is made *natively* — inputs copied into the
//! scratch area, registers pointed at a `syscall` trampoline, and the
//! result caught at the next kernel entry (the `MAGIC_RET` gate) and sent
//! back; signals arriving at home are caught by a gate (`MAGIC_SIG`) and
//! forwarded; the remote's exit (or death by signal) is replayed so the
//! parent reaps exactly what it would have; a lost remote node ends the
//! process with SIGKILL. When the process comes home, the deputy adopts it
//! (`adopt.rs`).
//!
//! Owns [`Deputy`], its events and the scratch layout. Calls the
//! registry, the hook table, the send helpers and `adopt.rs`.

use super::adopt::{catch_up_clock, enter_restorer};
use super::hook::GuestIds;
use super::incoming::Incoming;
use super::msg::ProcMsg;
use super::{wait_ms, Mover, READY_TIMEOUT_MS, SIGKILL};
use crate::fwd;
use crate::image;
use crate::restore::{self, Builder};
use crate::sys::task::TaskRef;
use crate::sys::taskwork::ModuleRef;
use crate::image::CpuTimes;
use crate::sys::{time, timers, uctx, umem};
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use kernel::{
    new_condvar, new_mutex,
    prelude::*,
    sync::{Arc, CondVar, Mutex},
};

/// The deputy trampoline's "call done" gate (result in rdi).
pub(super) const MAGIC_RET: i64 = 0x524f_0001;
/// The deputy signal gate (saved rax in rdi, saved rip in rsi, signal in r10).
pub(super) const MAGIC_SIG: i64 = 0x524f_0002;
/// Deputy scratch layout: trampoline, gate, stack, then buffers.
pub(super) const CALL_OFF: u64 = 0;
const GATE_OFF: u64 = 64;
const STACK_TOP: u64 = 64 * 1024;
pub(super) const DATA_OFF: u64 = 64 * 1024;
pub(super) const DEPUTY_SCRATCH_LEN: u64 = 384 * 1024;
const NR_EXIT_GROUP: u64 = 231;
const NR_GETPID: u64 = 39;
const SIGSTOP: u32 = 19;
/// The signal a deputy sends itself to interrupt the call it makes for
/// its remote (SIGRTMAX: queued, so a real one sent meanwhile is not
/// merged with it and still reaches the remote).
pub(super) const INTERRUPT_SIG: u32 = 64;
/// Most events kept for one process before its deputy registers (a
/// confirmation, a call, an exit: a few are all a real remote sends).
const MAX_EARLY: usize = 8;

/// A process whose home is this node and which runs elsewhere.
#[pin_data]
pub(super) struct Deputy {
    pub(super) pid: u32,
    pub(super) tgid: u32,
    pub(super) node: AtomicU32,
    pub(super) remote_pid: AtomicU32,
    /// The pages its last move brought to `node` (as the node reported).
    pub(super) pages: AtomicU32,
    /// The remote confirmed it runs (its first `Moved`).
    pub(super) confirmed: AtomicBool,
    /// Its host could not carry out the last recall: why (a refusal
    /// code; 0: nothing heard).
    pub(super) stayed: AtomicU32,
    /// In user mode, making a forwarded call natively.
    pub(super) native: AtomicBool,
    /// Its remote asked to interrupt the call being made: the next
    /// [`INTERRUPT_SIG`] the gate catches is that request, not a signal
    /// for the process.
    pub(super) interrupting: AtomicBool,
    /// When it became a deputy (ms), for the confirmation timeout.
    pub(super) since_ms: u64,
    /// Its scratch area: call trampoline, signal gate, stack, buffers.
    pub(super) scratch: u64,
    /// The task's CPU times when the process left.
    pub(super) cpu_left: CpuTimes,
    /// The token of the image it left in (`ImageHeader::token`): its
    /// hosts' `Moved` reports and its return must carry it.
    pub(super) token: u64,
    #[pin]
    pub(super) ev: Mutex<DeputyEvents>,
    #[pin]
    pub(super) cv: CondVar,
    _mref: ModuleRef,
}

#[derive(Default)]
pub(super) struct DeputyEvents {
    pub(super) exit: Option<u32>,
    pub(super) arriving: Option<Arc<Incoming>>,
    /// The forwarded call waiting to be made (a `fwd` Call payload; the
    /// remote has at most one outstanding).
    pub(super) call: Option<KVec<u8>>,
    /// The call being made natively.
    pub(super) inflight: Option<Inflight>,
    /// Calls the deputy makes for itself before it serves (system call
    /// number and arguments), in order; results are not looked at.
    pub(super) chores: KVec<(u64, [u64; 6])>,
    /// The next chore's index.
    pub(super) chore_next: usize,
    /// A chore is being made natively.
    pub(super) chore_running: bool,
    /// It went to user mode only to stop there (a `SIGSTOP` for the
    /// process): what comes back through its gates is not a call's end.
    pub(super) pausing: bool,
}

/// A forwarded call the deputy is making in user mode.
pub(super) struct Inflight {
    pub(super) id: u32,
    pub(super) plans: [fwd::Plan; 6],
    /// Where each argument's buffer is in the scratch area.
    pub(super) addrs: [u64; 6],
    /// Each sized buffer's capacity (its length word, capped).
    pub(super) caps: [usize; 6],
}

/// An event that arrived before its deputy registered.
pub(super) enum Early {
    Moved { node: u32, pid: u32, pages: u32, token: u64 },
    Call(KVec<u8>),
    Exit { node: u32, status: u32, token: u64 },
}

impl Deputy {
    /// Its process is coming home as `inc`.
    pub(super) fn arrive(&self, inc: Arc<Incoming>) {
        self.ev.lock().arriving = Some(inc);
        self.cv.notify_all();
    }
}

impl Mover {
    /// The deputy of `tgid`; if it is not registered yet but its process
    /// is leaving, `early()` is kept for it instead.
    fn deputy_or_early(&self, tgid: u32, early: impl FnOnce() -> Early) -> Option<Arc<Deputy>> {
        let mut r = self.reg.lock();
        let d = r.deputy(tgid);
        // Bounded: a peer cannot grow the list by sending frames about a
        // process that is leaving.
        if d.is_none() && r.is_capturing(tgid) && r.early.iter().filter(|e| e.0 == tgid).count() < MAX_EARLY {
            let _ = r.early.push((tgid, early()), GFP_KERNEL);
        }
        d
    }

    /// A `Call` frame: the remote of `tgid` on node `from` asks its deputy
    /// to make a system call.
    pub(super) fn deputy_call(&self, from: u32, tgid: u32, payload: &[u8]) {
        let mut v = KVec::new();
        if crate::sys::bytes::extend(&mut v, payload, GFP_KERNEL).is_err() {
            return;
        }
        let mut v = Some(v);
        let Some(d) = self.deputy_or_early(tgid, || Early::Call(v.take().unwrap_or_default())) else { return };
        if d.node.load(Ordering::Relaxed) != from {
            self.ignored(from, "Call", tgid);
            return;
        }
        if let Some(v) = v {
            d.ev.lock().call = Some(v);
            d.cv.notify_all();
        }
        self.metrics.served();
    }

    /// The remote of `home_pid` on node `from` ended with wait `status`.
    pub(super) fn deputy_exit(&self, from: u32, home_pid: u32, status: u32, token: u64) {
        let Some(d) = self.deputy_or_early(home_pid, || Early::Exit { node: from, status, token }) else { return };
        if d.node.load(Ordering::Relaxed) != from || token != d.token {
            self.ignored(from, "Exit", home_pid);
            return;
        }
        d.ev.lock().exit = Some(status);
        d.cv.notify_all();
        if d.native.load(Ordering::Acquire) {
            // Busy in a call for a remote that is gone.
            if let Ok(t) = TaskRef::find(d.pid) {
                t.signal(SIGKILL);
            }
        }
    }

    /// The process `home_pid` now runs on `node` as `pid`, having brought
    /// `pages` pages (this also confirms a migration's start). Taken only
    /// with the process's token: a node that never hosted it cannot
    /// claim it.
    pub(super) fn deputy_moved(&self, node: u32, home_pid: u32, pid: u32, pages: u32, token: u64) {
        let Some(d) = self.deputy_or_early(home_pid, || Early::Moved { node, pid, pages, token }) else { return };
        if token != d.token {
            pr_warn!("node {} reported pid {} as moved there without its token: ignored\n", node, home_pid);
            self.ignored(node, "Moved", home_pid);
            return;
        }
        d.pages.store(pages, Ordering::Relaxed);
        // Release: whoever sees the new node sees its pages too.
        d.node.store(node, Ordering::Release);
        d.remote_pid.store(pid, Ordering::Relaxed);
        d.confirmed.store(true, Ordering::Release);
        d.cv.notify_all();
    }

    /// Node `node` could not carry out a recall of `home_pid` (code
    /// `code`): taken only from the node the deputy knows it runs on,
    /// with the process's token.
    pub(super) fn deputy_stayed(&self, node: u32, home_pid: u32, code: u32, token: u64) {
        let Some(d) = self.reg.lock().deputy(home_pid) else { return };
        if d.node.load(Ordering::Acquire) != node || token != d.token || code == 0 {
            self.ignored(node, "Stayed", home_pid);
            return;
        }
        d.stayed.store(code, Ordering::Release);
        d.cv.notify_all();
    }

    /// Node `node` asks to interrupt forwarded call `id` of `home_pid`: a
    /// signal arrived there while the call blocks here. Taken only from
    /// the node the deputy knows it runs on, with the process's token,
    /// and only for the call being made.
    pub(super) fn deputy_interrupt(&self, node: u32, home_pid: u32, id: u32, token: u64) {
        let Some(d) = self.reg.lock().deputy(home_pid) else { return };
        if d.node.load(Ordering::Acquire) != node || token != d.token {
            self.ignored(node, "Interrupt", home_pid);
            return;
        }
        let ev = d.ev.lock();
        if !matches!(&ev.inflight, Some(inf) if inf.id == id) || !d.native.load(Ordering::Acquire) {
            // Answered already, or not started: nothing to interrupt.
            return;
        }
        if !d.interrupting.swap(true, Ordering::AcqRel) {
            if let Ok(t) = TaskRef::find(d.pid) {
                t.signal(INTERRUPT_SIG);
            }
        }
        drop(ev);
    }

    /// The current task, whose process now runs on `node` as `remote_pid`,
    /// becomes its deputy: the scratch area forwarded calls are made from
    /// is mapped and the deputy is registered (so `where` and the next
    /// request see the process as away from now on). None, with the
    /// process ended on both sides, if that fails.
    pub(super) fn become_deputy(self: &Arc<Self>, pid: u32, tgid: u32, node: u32, remote_pid: u32) -> Option<Arc<Deputy>> {
        let token = self.reg.lock().token_of(tgid).unwrap_or(0);
        let give_up = |why: &str| {
            pr_warn!("pid {}: {}; ending it\n", tgid, why);
            let _ = self.send_proc(node, ProcMsg::Signal { home_pid: tgid, sig: SIGKILL, token });
            uctx::signal_self(SIGKILL);
            None
        };
        let Ok(scratch) = setup_deputy_scratch(0) else { return give_up("cannot map its deputy's scratch area") };
        let Ok(d) = Arc::pin_init(
            pin_init!(Deputy {
                pid,
                tgid,
                node: AtomicU32::new(node),
                remote_pid: AtomicU32::new(remote_pid),
                pages: AtomicU32::new(0),
                confirmed: AtomicBool::new(false),
                stayed: AtomicU32::new(0),
                native: AtomicBool::new(false),
                interrupting: AtomicBool::new(false),
                since_ms: time::now_ms(),
                scratch,
                cpu_left: timers::cputime(),
                token,
                ev <- new_mutex!(DeputyEvents::default(), "roam_deputy"),
                cv <- new_condvar!("roam_deputy"),
                _mref: ModuleRef::new(),
            }),
            GFP_KERNEL,
        ) else {
            return give_up("no memory for its deputy");
        };
        {
            let mut r = self.reg.lock();
            if r.deputies.push(d.clone(), GFP_KERNEL).is_err() {
                drop(r);
                return give_up("no memory for its deputy");
            }
            let mut keep = KVec::new();
            for (t, e) in core::mem::take(&mut r.early) {
                if t != tgid {
                    let _ = keep.push((t, e), GFP_KERNEL);
                    continue;
                }
                match e {
                    Early::Moved { token: t, .. } if t != token => {}
                    Early::Moved { node: n, pid: p, pages, .. } => {
                        d.pages.store(pages, Ordering::Relaxed);
                        d.node.store(n, Ordering::Release);
                        d.remote_pid.store(p, Ordering::Relaxed);
                        d.confirmed.store(true, Ordering::Release);
                    }
                    Early::Call(v) => d.ev.lock().call = Some(v),
                    Early::Exit { node: n, status, token: t } if t == token && n == node => d.ev.lock().exit = Some(status),
                    Early::Exit { .. } => {}
                }
            }
            r.early = keep;
            r.release(tgid);
        }
        if !self.hook(GuestIds { pid: tgid, home_pid: pid, home_tgid: tgid, deputy: true, restoring: false, held: false, skipped: 0, back: false, saved: None }) {
            self.reg.lock().drop_deputy(tgid);
            return give_up("too many migrated processes on this node");
        }
        Some(d)
    }

    /// The deputy's life after [`Self::become_deputy`]: the memory now
    /// lives on the remote and is given back here, every signal is
    /// caught by the gate and handed to the remote, and the deputy serves
    /// until its process ends or comes home.
    pub(super) fn deputy_run(self: &Arc<Self>, d: &Arc<Deputy>) {
        drop_user_memory(d.scratch);
        // The timers went with the process: they are deleted here, with
        // every signal held meanwhile (no handler is left to run).
        let chores = timer_chores(d.scratch + DATA_OFF);
        if !chores.is_empty() {
            uctx::block_all_signals();
            d.ev.lock().chores = chores;
            if self.next_chore(d) {
                return;
            }
        }
        self.deputy_start(d);
    }

    /// Gates the signals and starts serving, once the chores are done.
    pub(super) fn deputy_start(self: &Arc<Self>, d: &Arc<Deputy>) {
        self.drop_timer_signals(d);
        uctx::gate_all_signals(d.scratch + GATE_OFF);
        pr_info!("pid {} runs on node {}; its deputy stays here\n", d.tgid, d.node.load(Ordering::Relaxed));
        self.deputy_serve(d);
    }

    /// Sets the deputy up to make its next chore on the return to user
    /// mode; false if there is none left.
    pub(super) fn next_chore(self: &Arc<Self>, d: &Arc<Deputy>) -> bool {
        let next = {
            let mut ev = d.ev.lock();
            let next = ev.chores.get(ev.chore_next).copied();
            ev.chore_next += 1;
            ev.chore_running = next.is_some();
            next
        };
        let Some((nr, args)) = next else { return false };
        d.native.store(true, Ordering::Release);
        self.enter_call(d, nr, args);
        true
    }

    /// Signals the deleted timers raised between the capture and their
    /// deletion (a POSIX timer's, `SI_TIMER`; an interval timer's
    /// SIGALRM, SIGVTALRM or SIGPROF, `SI_KERNEL`): the same expiries
    /// happen where the process now runs, from the timers it took along,
    /// so they are dropped here. Any other signal goes to the remote.
    fn drop_timer_signals(&self, d: &Deputy) {
        const SI_TIMER: i32 = -2;
        const SI_KERNEL: i32 = 0x80;
        while let Some(sig) = uctx::take_signal() {
            let code = sig.code();
            let from_timer = code == SI_TIMER || (code == SI_KERNEL && matches!(sig.signo, 14 | 26 | 27));
            if !from_timer {
                let _ = self.send_proc(d.node.load(Ordering::Relaxed), ProcMsg::Signal { home_pid: d.tgid, sig: sig.signo, token: d.token });
            }
        }
    }

    /// Runs after each call the deputy of `tgid` makes natively (queued
    /// by the hook at the call's entry): if the task is exiting or about
    /// to — killed at home in the call — the remote is ended too and the deputy is
    /// unregistered (its hook slot and module reference go with it);
    /// otherwise nothing.
    pub(super) fn deputy_exit_watch(&self, tgid: u32) {
        // A SIGKILL runs the task's works before it starts to exit (when
        // the interrupted call returns): pending is as good as exiting.
        if !uctx::is_exiting() && !uctx::fatal_signal_pending() {
            return;
        }
        let Some(d) = self.reg.lock().deputy(tgid) else { return };
        pr_info!("pid {}: killed at home in a call it made for node {}; ending it there\n", tgid, d.node.load(Ordering::Relaxed));
        let _ = self.send_proc(d.node.load(Ordering::Relaxed), ProcMsg::Signal { home_pid: tgid, sig: SIGKILL, token: d.token });
        self.unhook(tgid);
        self.reg.lock().drop_deputy(tgid);
    }

    /// The process was sent `SIGSTOP` (passed on to its remote, which
    /// stops): the deputy stops too, as the process would have at home, so
    /// that its parent's `waitpid(WUNTRACED)` and `SIGCHLD` see the stop,
    /// and a `SIGCONT` its `WCONTINUED`. The kernel makes a job-control
    /// stop only on the way to user mode, so the deputy goes there with
    /// `SIGSTOP` queued again and a harmless `getpid` to make; it comes
    /// back through a gate (the `SIGCONT` that ended the stop, or the
    /// call's end) and serves again (`after_native`). Killed while
    /// stopped, it never comes back: [`Mover::sweep_deputies`] ends its
    /// remote.
    fn stop_at_home(self: &Arc<Self>, d: &Arc<Deputy>) {
        if let Ok(t) = TaskRef::find(d.tgid) {
            t.signal(SIGSTOP);
        }
        d.ev.lock().pausing = true;
        d.native.store(true, Ordering::Release);
        self.enter_call(d, NR_GETPID, [0; 6]);
    }

    /// Every tick of the balancer thread: deputies whose task is gone or
    /// exiting without having ended their remote (killed while stopped at
    /// home, where no call of theirs was in flight to notice) have their
    /// remote ended and are forgotten, with their hook slot and module
    /// reference.
    pub(super) fn sweep_deputies(&self) {
        let list: KVec<(u32, u32, u64)> = {
            let reg = self.reg.lock();
            let mut v = KVec::new();
            for d in reg.deputies.iter() {
                let _ = v.push((d.tgid, d.node.load(Ordering::Relaxed), d.token), GFP_KERNEL);
            }
            v
        };
        for (tgid, node, token) in list {
            let alive = TaskRef::find(tgid).map(|t| t.tgid() == tgid && !t.is_exiting()).unwrap_or(false);
            if alive {
                continue;
            }
            pr_info!("pid {}: ended at home while away on node {}; ending it there\n", tgid, node);
            let _ = self.send_proc(node, ProcMsg::Signal { home_pid: tgid, sig: SIGKILL, token });
            self.unhook(tgid);
            self.reg.lock().drop_deputy(tgid);
        }
    }

    /// Points the task's registers at the call trampoline for system call
    /// `nr` with `args`.
    pub(super) fn enter_call(&self, d: &Deputy, nr: u64, args: [u64; 6]) {
        let entry = d.scratch + CALL_OFF;
        let stack = d.scratch + STACK_TOP;
        uctx::with_pt_regs(|r| {
            r.ax = nr as _;
            r.di = args[0] as _;
            r.si = args[1] as _;
            r.dx = args[2] as _;
            r.r10 = args[3] as _;
            r.r8 = args[4] as _;
            r.r9 = args[5] as _;
            r.ip = entry as _;
            r.sp = stack as _;
            r.orig_ax = u64::MAX as _;
            r.__bindgen_anon_1.csx = image::USER_CS;
            r.__bindgen_anon_2.ssx = image::USER_DS;
            r.flags = 0x202;
        });
    }

    /// The deputy's work in the kernel: until there is a call to make
    /// natively (then it returns with the registers set up for it), or the
    /// process ends or comes home.
    pub(super) fn deputy_serve(self: &Arc<Self>, d: &Arc<Deputy>) {
        let tgid = d.tgid;
        let outcome = loop {
            if uctx::fatal_signal_pending() {
                let _ = self.send_proc(d.node.load(Ordering::Relaxed), ProcMsg::Signal { home_pid: tgid, sig: SIGKILL, token: d.token });
                break None;
            }
            let mut stop = false;
            while let Some(sig) = uctx::dequeue_signal() {
                // An interrupt request that came after its call ended.
                if sig == INTERRUPT_SIG && d.interrupting.swap(false, Ordering::AcqRel) {
                    continue;
                }
                let _ = self.send_proc(d.node.load(Ordering::Relaxed), ProcMsg::Signal { home_pid: tgid, sig, token: d.token });
                stop |= sig == SIGSTOP;
            }
            if stop {
                return self.stop_at_home(d);
            }
            let (exit, arriving, call) = {
                let mut ev = d.ev.lock();
                if ev.exit.is_none() && ev.arriving.is_none() && ev.call.is_none() {
                    wait_ms(&d.cv, &mut ev, 200);
                }
                (ev.exit.take(), ev.arriving.take(), ev.call.take())
            };
            if let Some(status) = exit {
                break Some(status);
            }
            if let Some(inc) = arriving {
                if let Some(scratch) = self.take_over(&inc, &d.cpu_left) {
                    pr_info!("pid {} is back home\n", tgid);
                    let (bounced, pages, seen_ns, saved) = {
                        let st = inc.state.lock();
                        (st.header.cause == image::cause::SYSCALL, st.progress.pages_received(), st.header.mono_ns, st.sig.saved)
                    };
                    self.reg.lock().came_home(tgid, bounced, pages, scratch, time::now_ms());
                    // Its entry stays until its restorer has finished,
                    // which then unmaps the restorer's scratch area.
                    let _ = self.hook_back(tgid, saved);
                    uctx::ungate_signals();
                    self.reg.lock().drop_deputy(tgid);
                    // Home already (`where` says so); the process runs once
                    // this node's clock has caught up with what it saw.
                    catch_up_clock(seen_ns);
                    return;
                }
                // The homecoming failed after the arrival cleared this
                // task's memory (and perhaps mapped part of the image);
                // the process still runs where it was. Its scratch area
                // is made again where it was, so that its next forwarded
                // call (and its signal gate) find it.
                drop_user_memory(0);
                // This node had accepted it and the Go never came: lost
                // on the way, or never sent. The remote either ended its
                // copy (it sent the Go) or goes on (it never heard the
                // acceptance); this side cannot tell which, so it ends
                // both: never a process lost with its deputy waiting on.
                if inc.accepted_ms.load(Ordering::Acquire) != 0 {
                    pr_warn!("pid {}: accepted home, but node {} never gave the Go; ending it (SIGKILL)\n", tgid, d.node.load(Ordering::Relaxed));
                    let _ = self.send_proc(d.node.load(Ordering::Relaxed), ProcMsg::Signal { home_pid: tgid, sig: SIGKILL, token: d.token });
                    break Some(SIGKILL);
                }
                if setup_deputy_scratch(d.scratch).is_err() {
                    pr_warn!("pid {}: its return home failed and its deputy's scratch area cannot be made again; ending it (SIGKILL)\n", tgid);
                    let _ = self.send_proc(d.node.load(Ordering::Relaxed), ProcMsg::Signal { home_pid: tgid, sig: SIGKILL, token: d.token });
                    break Some(SIGKILL);
                }
            }
            if let Some(payload) = call {
                if self.start_native(d, &payload) {
                    return;
                }
            }
            if !d.confirmed.load(Ordering::Acquire) && time::now_ms() > d.since_ms + READY_TIMEOUT_MS {
                pr_warn!("pid {}: node {} never confirmed it runs the process; ending it (SIGKILL)\n", tgid, d.node.load(Ordering::Relaxed));
                break Some(SIGKILL);
            }
            if !self.peer_up(d.node.load(Ordering::Relaxed)) {
                pr_warn!("pid {}: node {} is down; the process is lost (SIGKILL)\n", tgid, d.node.load(Ordering::Relaxed));
                break Some(SIGKILL);
            }
        };
        self.unhook(tgid);
        self.reg.lock().drop_deputy(tgid);
        if let Some(status) = outcome {
            uctx::ungate_signals();
            replay_exit(tgid, status);
        }
    }
}

fn replay_exit(tgid: u32, status: u32) {
    let sig = status & 0x7f;
    // A signal number no signal has (a peer's bad status) ends it as a
    // kill would.
    if sig == SIGKILL || sig > 64 {
        uctx::signal_self(SIGKILL);
        return;
    }
    let Ok(mut buf) = crate::sys::bytes::zeroed_kv(restore::SCRATCH_LEN, GFP_KERNEL) else {
        uctx::signal_self(SIGKILL);
        return;
    };
    let r = (|| -> Result<(u64, u64)> {
        let scratch = umem::map_anon(0, restore::SCRATCH_LEN as u64, image::PROT_READ | image::PROT_WRITE | image::PROT_EXEC, false)?;
        let mut b = Builder::new(scratch, &mut buf).map_err(|_| EINVAL)?;
        if sig == 0 {
            b.syscall(NR_EXIT_GROUP, [((status >> 8) & 0xff) as u64, 0, 0, 0, 0, 0]).map_err(|_| EINVAL)?;
        } else {
            // Default action, unblocked, then the signal itself.
            b.sigaction(sig, &image::SigAction::default()).map_err(|_| EINVAL)?;
            let mask = b.data(&(1u64 << (sig - 1)).to_le_bytes(), 8).map_err(|_| EINVAL)?;
            b.syscall(14, [1, mask, 0, 8, 0, 0]).map_err(|_| EINVAL)?;
            b.syscall(62, [tgid as u64, sig as u64, 0, 0, 0, 0]).map_err(|_| EINVAL)?;
            b.syscall(NR_EXIT_GROUP, [128 + sig as u64, 0, 0, 0, 0, 0]).map_err(|_| EINVAL)?;
        }
        let (entry, stack) = (b.entry(), b.stack_top());
        umem::write(scratch, &buf).map_err(|_| EFAULT)?;
        Ok((entry, stack))
    })();
    match r {
        Ok((entry, stack)) => enter_restorer(entry, stack, None),
        Err(_) => uctx::signal_self(SIGKILL),
    }
}

/// The calls that delete the current task's timers: `timer_delete` for
/// each POSIX timer and `setitimer(which, zero, NULL)` for each armed
/// interval timer, with the zero `itimerval` written at `zero` (in the
/// deputy's scratch area).
fn timer_chores(zero: u64) -> KVec<(u64, [u64; 6])> {
    const NR_SETITIMER: u64 = 38;
    const NR_TIMER_DELETE: u64 = 226;
    let mut v = KVec::new();
    // Ids and armed interval timers only: what the kernel can tell.
    let (pid, tgid) = uctx::ids();
    let Ok(t) = timers::read(0, &[pid, tgid]) else { return v };
    if umem::write(zero, &[0u8; 32]).is_err() {
        return v;
    }
    for (which, it) in t.itimers.iter().enumerate() {
        if it.remaining_ns != 0 {
            let _ = v.push((NR_SETITIMER, [which as u64, zero, 0, 0, 0, 0]), GFP_KERNEL);
        }
    }
    for p in t.posix() {
        let _ = v.push((NR_TIMER_DELETE, [u64::from(p.id), 0, 0, 0, 0, 0]), GFP_KERNEL);
    }
    v
}

/// Unmaps every area of the current task but the vDSO pair, the one at
/// `keep`, and the pages that hold the argument and environment strings:
/// home's `/proc/PID/cmdline` and `environ`, which a remote's forwarded
/// `open` reads through its deputy, are read from them (a copy as they
/// were when the process left: changes made away, as `setproctitle`
/// makes, do not show).
fn drop_user_memory(keep: u64) {
    let vdso = uctx::vdso();
    let strings = umem::layout().ok().and_then(|l| {
        let (lo, hi) = (l.arg_start.min(l.env_start), l.arg_end.max(l.env_end));
        (lo != 0 && hi > lo && hi - lo <= 1 << 20).then_some((lo & !0xfff, (hi + 0xfff) & !0xfff))
    });
    if let Ok(areas) = umem::areas(vdso) {
        for v in areas.iter() {
            if v.flags & (image::VMA_VDSO | image::VMA_VVAR) != 0 || v.start == keep {
                continue;
            }
            match strings {
                Some((lo, hi)) if v.start < hi && lo < v.end => {
                    // Only the parts of the area around the strings go.
                    if v.start < lo {
                        let _ = umem::unmap(v.start, lo - v.start);
                    }
                    if hi < v.end {
                        let _ = umem::unmap(hi, v.end - hi);
                    }
                }
                _ => {
                    let _ = umem::unmap(v.start, v.end - v.start);
                }
            }
        }
    }
}

/// Maps the deputy's scratch area in the current (deputy) task and writes
/// its two code sequences: the call trampoline (`syscall`, then report the
/// result through the `MAGIC_RET` gate) and the signal gate (report the
/// signal, the interrupted rax and rip through `MAGIC_SIG`).
/// At `at` if it is not 0 (the same area made again), anywhere if it is.
fn setup_deputy_scratch(at: u64) -> Result<u64> {
    let base = umem::map_anon(at, DEPUTY_SCRATCH_LEN, image::PROT_READ | image::PROT_WRITE | image::PROT_EXEC, false)?;
    let mut code = [0xccu8; 128];
    let ret = (MAGIC_RET as u32).to_le_bytes();
    let call: [u8; 14] = [0x0f, 0x05, 0x48, 0x89, 0xc7, 0xb8, ret[0], ret[1], ret[2], ret[3], 0x0f, 0x05, 0x0f, 0x0b];
    let sig = (MAGIC_SIG as u32).to_le_bytes();
    // mov r10, rdi; mov rdi, [rdx+0x90] (uc_mcontext.rax); mov rsi,
    // [rdx+0xa8] (uc_mcontext.rip); mov eax, MAGIC_SIG; syscall; ud2
    let gate: [u8; 26] = [
        0x49, 0x89, 0xfa, 0x48, 0x8b, 0xba, 0x90, 0, 0, 0, 0x48, 0x8b, 0xb2, 0xa8, 0, 0, 0, 0xb8, sig[0], sig[1], sig[2], sig[3], 0x0f, 0x05,
        0x0f, 0x0b,
    ];
    code[CALL_OFF as usize..CALL_OFF as usize + call.len()].copy_from_slice(&call);
    code[GATE_OFF as usize..GATE_OFF as usize + gate.len()].copy_from_slice(&gate);
    umem::write(base, &code)?;
    Ok(base)
}
