// SPDX-License-Identifier: GPL-2.0

//! Moving processes: capture at a clean point, transfer, adoption on the
//! destination, the deputy at home and exit replay.
//!
//! * **Source** (the migrating task, in its own task_work): captures
//!   registers, xstate, signal state, layout and areas, sends the image
//!   (`image.rs` messages in `Migrate` frames, all frames of one migration
//!   carrying its id as `request_id`), and waits for the destination's
//!   verdict. Until then nothing at the source changed: a refusal or a lost
//!   link leaves the process running where it was.
//! * **Destination**: the receiver thread that reads the frames starts the
//!   adopt stub (`/bin/roam-adopt TICKET`), borrows its address space
//!   (`kthread_use_mm`), replaces the stub's areas with the image's, copies
//!   the pages in and writes a *restorer* (`restore.rs`) into a scratch
//!   area; the stub, waiting in `ROAM_IOC_ADOPT`, then takes the owner's
//!   identity and returns into the restorer, which finishes with
//!   `rt_sigreturn` into the program. A process coming home is adopted the
//!   same way by its own deputy.
//! * **Deputy**: the original task stays in its task_work, drops its
//!   memory, forwards signals, and replays the remote's exit status (or
//!   death by signal) by returning into a two-call trampoline, so the parent
//!   reaps exactly what it would have. If the remote's node goes down, the
//!   process ends at home with SIGKILL.
//! * **Guest**: on the destination, a `sys_enter` hook runs the calls that
//!   only touch the user context locally, answers `getpid`/`gettid` from
//!   the home values, and brings the process home for everything else
//!   (forwarding those calls is the next step).

use super::Migration;
use crate::abi::{self, place, refusal, Where};
use crate::cluster::{tx, Cluster, Peer};
use crate::fwd;
use crate::image::{self, ImageHeader, MigrateMsg, MmLayout, PageBatchHeader, Progress, RefuseReason, Regs, SigState, Vma};
use crate::restore::{self, Builder};
use crate::sys::task::TaskRef;
use crate::sys::taskwork::ModuleRef;
use crate::sys::thread::KThread;
use crate::sys::{cred, err, time, uctx, umem, umh};
use crate::syscalls::{self, Disposition};
use crate::wire::MsgType;
use core::sync::atomic::{AtomicU32, Ordering};
use kernel::{
    bindings, c_str, new_condvar, new_mutex, new_spinlock,
    alloc::KVVec,
    prelude::*,
    sync::{Arc, CondVar, Mutex, SpinLock},
    time::msecs_to_jiffies,
};

/// Slots of the system-call hook's table: guests plus deputies.
pub(crate) const HOOK_SLOTS: usize = 512;
/// How long the source waits for the destination to get ready / commit.
const READY_TIMEOUT_MS: u64 = 20_000;
const COMMIT_TIMEOUT_MS: u64 = 60_000;
/// How long the destination waits for the adopt stub to check in.
const ATTACH_TIMEOUT_MS: u64 = 15_000;
/// Where the adopt stub lives on every node.
const STUB: &kernel::str::CStr = c_str!("/bin/roam-adopt");

const SIGKILL: u32 = 9;
/// The deputy trampoline's "call done" gate (result in rdi).
const MAGIC_RET: i64 = 0x524f_0001;
/// The deputy signal gate (saved rax in rdi, saved rip in rsi, signal in r10).
const MAGIC_SIG: i64 = 0x524f_0002;
/// Deputy scratch layout: trampoline, gate, stack, then buffers.
const CALL_OFF: u64 = 0;
const GATE_OFF: u64 = 64;
const STACK_TOP: u64 = 64 * 1024;
const DATA_OFF: u64 = 64 * 1024;
const DEPUTY_SCRATCH_LEN: u64 = 384 * 1024;
const PAGE: u64 = image::PAGE_SIZE as u64;
const NR_GETPID: i64 = 39;
const NR_GETTID: i64 = 186;
const NR_EXIT: i64 = 60;
const NR_EXIT_GROUP: i64 = 231;
const ENOMEM_: i64 = 12;

/// Process events between nodes (`Proc` frames): 16 bytes, `kind u32,
/// home_pid u32, a u32, b u32`, little-endian.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ProcMsg {
    /// The remote ended with this wait status.
    Exit { home_pid: u32, status: u32 },
    /// Deliver this signal to the remote.
    Signal { home_pid: u32, sig: u32 },
    /// Move the remote to node `dest` (0: home).
    Recall { home_pid: u32, dest: u32 },
    /// The process now runs on `node` with local pid `pid`.
    Moved { home_pid: u32, node: u32, pid: u32 },
    /// The source's commit point: start migration `id` (the destination
    /// accepted it; the source has given it up).
    Go { id: u32 },
}

impl ProcMsg {
    fn encode(&self) -> [u8; 16] {
        let (k, p, a, b) = match *self {
            ProcMsg::Exit { home_pid, status } => (1, home_pid, status, 0),
            ProcMsg::Signal { home_pid, sig } => (2, home_pid, sig, 0),
            ProcMsg::Recall { home_pid, dest } => (3, home_pid, dest, 0),
            ProcMsg::Moved { home_pid, node, pid } => (4, home_pid, node, pid),
            ProcMsg::Go { id } => (5, 0, id, 0),
        };
        let mut out = [0u8; 16];
        for (i, v) in [k, p, a, b].iter().enumerate() {
            out[i * 4..i * 4 + 4].copy_from_slice(&u32::to_le_bytes(*v));
        }
        out
    }

    fn decode(b: &[u8]) -> Option<ProcMsg> {
        if b.len() != 16 {
            return None;
        }
        let w = |i: usize| u32::from_le_bytes([b[i * 4], b[i * 4 + 1], b[i * 4 + 2], b[i * 4 + 3]]);
        Some(match w(0) {
            1 => ProcMsg::Exit { home_pid: w(1), status: w(2) },
            2 => ProcMsg::Signal { home_pid: w(1), sig: w(2) },
            3 => ProcMsg::Recall { home_pid: w(1), dest: w(2) },
            4 => ProcMsg::Moved { home_pid: w(1), node: w(2), pid: w(3) },
            5 => ProcMsg::Go { id: w(2) },
            _ => return None,
        })
    }
}

/// The destination's answer to an outgoing migration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    /// Ready for the areas and pages.
    Ready,
    /// Committed: runs there with this local pid (0 at home).
    Accepted(u32),
    /// Refused, with a `refusal` code.
    Refused(u32),
}

/// A migration this node is sending.
#[pin_data]
struct Outgoing {
    id: u32,
    dest: u32,
    #[pin]
    verdict: Mutex<Option<Verdict>>,
    #[pin]
    cv: CondVar,
}

/// What the target of an arriving image (a stub or a deputy) is told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Install {
    /// Nothing yet.
    Waiting,
    /// Everything is in place: return into the restorer.
    Done { entry: u64, stack: u64, scratch: u64 },
    /// The migration failed; the target goes on as before (a stub exits).
    Failed,
}

/// The target's side of an arrival.
struct TargetState {
    /// Its address space, once it checked in.
    mm: Option<Arc<umem::MmRef>>,
    /// Where its vDSO is.
    vdso: u64,
    /// Its (local) pid, once it checked in.
    pid: u32,
    install: Install,
    /// Installed and waiting for the source's Go: (entry, stack, scratch).
    prepared: Option<(u64, u64, u64)>,
}

/// An image arriving on this node.
#[pin_data]
struct Incoming {
    /// (sender node, migration id).
    from: u32,
    id: u32,
    ticket: u64,
    /// Coming home to its deputy rather than to a new stub.
    home: bool,
    #[pin]
    state: Mutex<Arrival>,
    #[pin]
    target: Mutex<TargetState>,
    #[pin]
    cv: CondVar,
}

/// The image received so far.
struct Arrival {
    header: ImageHeader,
    regs: Regs,
    mm: MmLayout,
    sig: SigState,
    xstate: KVec<u8>,
    vmas: KVec<Vma>,
    progress: Progress,
}

/// A process whose home is this node and which runs elsewhere.
#[pin_data]
struct Deputy {
    pid: u32,
    tgid: u32,
    node: AtomicU32,
    remote_pid: AtomicU32,
    /// The remote confirmed it runs (its first `Moved`).
    confirmed: core::sync::atomic::AtomicBool,
    /// In user mode, making a forwarded call natively.
    native: core::sync::atomic::AtomicBool,
    /// When it became a deputy (ms), for the confirmation timeout.
    since_ms: u64,
    /// Its scratch area: call trampoline, signal gate, stack, buffers.
    scratch: u64,
    #[pin]
    ev: Mutex<DeputyEvents>,
    #[pin]
    cv: CondVar,
    _mref: ModuleRef,
}

#[derive(Default)]
struct DeputyEvents {
    exit: Option<u32>,
    arriving: Option<Arc<Incoming>>,
    /// The forwarded call waiting to be made (a `fwd` Call payload; the
    /// remote has at most one outstanding).
    call: Option<KVec<u8>>,
    /// The call being made natively.
    inflight: Option<Inflight>,
}

/// A forwarded call the deputy is making in user mode.
struct Inflight {
    id: u32,
    plans: [fwd::Plan; 6],
    /// Where each argument's buffer is in the scratch area.
    addrs: [u64; 6],
}

/// A remote's forwarded call waiting for its answer.
#[pin_data]
struct CallWait {
    id: u32,
    home: u32,
    #[pin]
    ret: Mutex<Option<KVec<u8>>>,
    #[pin]
    cv: CondVar,
}

/// Why a process moved (the event log).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) enum Cause {
    /// `roamctl migrate`.
    #[default]
    Manual,
    /// The balancer: load.
    Load,
    /// The balancer: memory ushering.
    Memory,
    /// Its home asked (`migrate PID home/NODE` at home, `bring`).
    Recall,
    /// This node expelled its guests.
    Expel,
    /// A call that must run at home (fork, exec, ...).
    Syscall,
}

impl Cause {
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Cause::Manual => "manual",
            Cause::Load => "load",
            Cause::Memory => "memory",
            Cause::Recall => "recall",
            Cause::Expel => "expel",
            Cause::Syscall => "syscall",
        }
    }

    /// Its code in the image header ([`image::cause`]).
    const fn code(self) -> u16 {
        match self {
            Cause::Manual => image::cause::MANUAL,
            Cause::Load => image::cause::LOAD,
            Cause::Memory => image::cause::MEMORY,
            Cause::Recall => image::cause::RECALL,
            Cause::Expel => image::cause::EXPEL,
            Cause::Syscall => image::cause::SYSCALL,
        }
    }
}

/// One migration, as `/sys/kernel/roam/events` shows it.
#[derive(Clone, Copy, Default)]
pub(crate) struct Event {
    seq: u64,
    ms: u64,
    pid: u32,
    comm: [u8; 16],
    from: u32,
    to: u32,
    cause: Cause,
    /// 0, or the `refusal` code it failed with.
    result: u32,
}

/// The last [`EVENTS`] migrations started from this node.
const EVENTS: usize = 256;

struct EventLog {
    /// `EVENTS` slots (allocated once: too big for the stack).
    ring: KVec<Event>,
    next: u64,
}

/// An event that arrived before its deputy registered.
enum Early {
    Moved { node: u32, pid: u32 },
    Call(KVec<u8>),
    Exit(u32),
}

/// A process running here whose home is another node.
struct Guest {
    pid: u32,
    home_node: u32,
    home_pid: u32,
    home_tgid: u32,
    /// It left this node (to another node or home): its end is not news.
    left: bool,
    /// The scratch area of its restorer (not migrated further).
    scratch: u64,
    comm: [u8; 16],
    /// When it arrived (ms).
    arrived_ms: u64,
    /// Forwarded calls since the balancer last looked.
    calls: u32,
    /// The nodes it may run on (0: any), as it brought them.
    allowed: u64,
}

/// What the balancer needs to know of a process, beyond the scheduler's
/// numbers.
pub(crate) struct Profile {
    /// It is a deputy (its process runs elsewhere).
    pub(crate) deputy: bool,
    /// It is being captured.
    pub(crate) moving: bool,
    /// It is a guest here.
    pub(crate) guest: bool,
    /// When it arrived here (guests, and processes back home).
    pub(crate) arrived_ms: Option<u64>,
    /// A node it made forwarded calls to since the last look (0: none).
    pub(crate) talks_to: u32,
    /// Times it came home because a call needed its home.
    pub(crate) bounces: u32,
    /// The nodes it may run on (0: any).
    pub(crate) allowed: u64,
    /// Its home node (0: this node).
    pub(crate) home: u32,
}

/// A process of this node that came back home.
#[derive(Clone, Copy)]
struct Homecoming {
    tgid: u32,
    /// When (ms).
    at_ms: u64,
    /// How many of its homecomings were for a call only home can serve.
    bounces: u32,
}

/// The hook's view of the guests: looked up with preemption disabled.
#[derive(Clone, Copy, Default)]
struct GuestIds {
    pid: u32,
    home_pid: u32,
    home_tgid: u32,
    /// A deputy (its gate calls are caught) rather than a guest.
    deputy: bool,
}

/// A migration request made through `ROAM_IOC_MIGRATE`, waited on by the
/// caller and completed by the migrating task.
#[pin_data]
struct Request {
    #[pin]
    done: Mutex<Option<core::result::Result<(u32, u64), u32>>>,
    #[pin]
    cv: CondVar,
}

/// All of this node's moving processes.
struct Registry {
    outgoing: KVec<Arc<Outgoing>>,
    incoming: KVec<Arc<Incoming>>,
    deputies: KVec<Arc<Deputy>>,
    guests: KVec<Guest>,
    /// Threads waiting for adopt stubs to end.
    stubs: KVec<(u64, KThread)>,
    /// Processes being captured (tgid), so a second request is refused.
    capturing: KVec<u32>,
    /// Events for a process that came before its deputy registered (the
    /// remote may run, call home and even exit while the source is still
    /// finishing its side), by home tgid.
    early: KVec<(u32, Early)>,
    /// Forwarded calls of guests here, waiting for their deputies.
    waits: KVec<Arc<CallWait>>,
    /// Processes that came back home, and when (ms), for the residency rule.
    homecomings: KVec<Homecoming>,
}

/// The migration engine of one node.
#[pin_data]
pub(crate) struct Mover {
    cluster: Arc<Cluster>,
    migration: Arc<Migration>,
    #[pin]
    reg: Mutex<Registry>,
    #[pin]
    hook_ids: SpinLock<KVec<GuestIds>>,
    nguests: AtomicU32,
    next_id: AtomicU32,
    /// Whether this node takes guests (`/sys/kernel/roam/accept`).
    pub(crate) accept: AtomicU32,
    /// Balancing tunables and node controls.
    pub(crate) ctl: super::balance::Controls,
    #[pin]
    events: Mutex<EventLog>,
    pub(crate) balancer: Arc<super::balance::Balancer>,
}

fn wait_ms<T>(cv: &CondVar, g: &mut kernel::sync::lock::Guard<'_, T, kernel::sync::lock::mutex::MutexBackend>, ms: u64) {
    let _ = cv.wait_interruptible_timeout(g, msecs_to_jiffies(ms.min(u32::MAX as u64) as u32));
}

fn refusal_of(r: RefuseReason) -> u32 {
    r.code() as u32
}

impl Mover {
    pub(crate) fn new(cluster: Arc<Cluster>, migration: Arc<Migration>) -> Result<Arc<Self>> {
        let balancer = super::balance::Balancer::new()?;
        // Allocated here: as values they would not fit on the stack.
        let events_ring = KVec::from_elem(Event::default(), EVENTS, GFP_KERNEL)?;
        let hook_slots = KVec::from_elem(GuestIds::default(), HOOK_SLOTS, GFP_KERNEL)?;
        Arc::pin_init(
            pin_init!(Mover {
                cluster,
                migration,
                reg <- new_mutex!(
                    Registry {
                        outgoing: KVec::new(),
                        incoming: KVec::new(),
                        deputies: KVec::new(),
                        guests: KVec::new(),
                        stubs: KVec::new(),
                        capturing: KVec::new(),
                        early: KVec::new(),
                        waits: KVec::new(),
                        homecomings: KVec::new(),
                    },
                    "roam_moving"
                ),
                hook_ids <- new_spinlock!(hook_slots, "roam_guest_ids"),
                nguests: AtomicU32::new(0),
                next_id: AtomicU32::new((time::random_u64() as u32) | 1),
                accept: AtomicU32::new(1),
                ctl: super::balance::Controls::new(),
                events <- new_mutex!(EventLog { ring: events_ring, next: 1 }, "roam_events"),
                balancer,
            }),
            GFP_KERNEL,
        )
    }

    fn me(&self) -> u32 {
        self.cluster.me()
    }

    fn send(&self, node: u32, ty: MsgType, id: u32, payload: &[u8]) -> Result {
        let peer = self.cluster.peer(node).ok_or(ENOENT)?;
        let mut tries = 0;
        loop {
            match tx::send(&self.cluster, &peer, ty, id, payload) {
                Ok(()) => return Ok(()),
                // A backoff after an earlier failure: wait it out briefly.
                Err(e) if e == EAGAIN && tries < 40 => {
                    tries += 1;
                    crate::sys::thread::sleep_ms(50);
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn send_proc(&self, node: u32, m: ProcMsg) -> Result {
        self.send(node, MsgType::Proc, 0, &m.encode())
    }

    fn send_image_msg(&self, node: u32, id: u32, buf: &[u8]) -> Result {
        self.send(node, MsgType::Migrate, id, buf)
    }

    fn reply(&self, node: u32, id: u32, v: Verdict) {
        let mut b = [0u8; image::ACCEPT_LEN + image::REFUSE_LEN];
        let n = match v {
            Verdict::Ready => image::encode_accept(0, &mut b),
            Verdict::Accepted(pid) => image::encode_accept(pid, &mut b),
            Verdict::Refused(code) => {
                let r = RefuseReason::from_code(code as u16).unwrap_or(RefuseReason::BadImage);
                image::encode_refuse(r, &mut b)
            }
        };
        if let Ok(n) = n {
            let _ = self.send_image_msg(node, id, &b[..n]);
        }
    }

    // ------------------------------------------------------------------
    // Requests from userspace.

    /// `ROAM_IOC_MIGRATE`.
    pub(crate) fn migrate(self: &Arc<Self>, req: &mut abi::Migrate) -> Result {
        let t = Migration::find_permitted(req.pid)?;
        let tgid = t.tgid();
        let me = self.me();
        // A process of ours running elsewhere: ask its host to move it.
        if let Some(d) = self.deputy(tgid) {
            let node = d.node.load(Ordering::Relaxed);
            let dest = if req.node == abi::NODE_HOME { me } else { req.node };
            if dest == node {
                req.reason = refusal::ALREADY_THERE;
                return Err(err::ealready());
            }
            if dest != me && !self.peer_up(dest) {
                req.reason = refusal::UNKNOWN_NODE;
                return Err(err::ehostunreach());
            }
            let start = time::now_ns();
            self.send_proc(node, ProcMsg::Recall { home_pid: tgid, dest: if dest == me { 0 } else { dest } })
                .inspect_err(|_| req.reason = refusal::LINK)?;
            // Wait until it has moved (or came home) or the move failed.
            let deadline = time::now_ms() + COMMIT_TIMEOUT_MS + READY_TIMEOUT_MS;
            loop {
                match self.deputy(tgid) {
                    None => {
                        req.remote_pid = 0;
                        break;
                    }
                    Some(d) if d.node.load(Ordering::Relaxed) == dest => {
                        req.remote_pid = d.remote_pid.load(Ordering::Relaxed);
                        break;
                    }
                    _ => {}
                }
                if time::now_ms() > deadline {
                    req.reason = refusal::LINK;
                    return Err(crate::sys::err::etimedout());
                }
                if uctx::signal_pending() {
                    return Err(EINTR);
                }
                crate::sys::thread::sleep_ms(20);
            }
            req.elapsed_ns = time::now_ns() - start;
            return Ok(());
        }
        // A guest here: it moves on (or home) from here.
        let guest_home = self.reg.lock().guests.iter().find(|g| g.pid == tgid && !g.left).map(|g| g.home_node);
        let dest = match (guest_home, req.node) {
            (Some(h), abi::NODE_HOME) => h,
            (None, abi::NODE_HOME) => {
                req.reason = refusal::ALREADY_THERE;
                return Err(err::ealready());
            }
            (_, n) => n,
        };
        if dest == me {
            req.reason = refusal::ALREADY_THERE;
            return Err(err::ealready());
        }
        let reasons = self.migration.reasons(&t);
        if reasons != 0 {
            req.reason = refusal::CANT_MOVE;
            return Err(cant_move_errno(reasons));
        }
        if !self.cluster.running.load(Ordering::Relaxed) || me == 0 {
            req.reason = refusal::NO_TRANSPORT;
            return Err(err::enotconn());
        }
        if !self.peer_up(dest) {
            req.reason = refusal::UNKNOWN_NODE;
            return Err(err::ehostunreach());
        }
        {
            let mut r = self.reg.lock();
            if r.capturing.iter().any(|p| *p == tgid) {
                req.reason = refusal::IN_PROGRESS;
                return Err(EBUSY);
            }
            r.capturing.push(tgid, GFP_KERNEL)?;
        }
        let request = Arc::pin_init(pin_init!(Request { done <- new_mutex!(None, "roam_req"), cv <- new_condvar!("roam_req") }), GFP_KERNEL)?;
        let me2 = self.clone();
        let rq = request.clone();
        let start = time::now_ns();
        let queued = t.queue_work(
            move || {
                let r = me2.move_current(dest, Cause::Manual);
                if r.is_err() {
                    let mut reg = me2.reg.lock();
                    let tg = uctx::ids().1;
                    let _ = super::retain(&mut reg.capturing, |p| *p != tg);
                }
                *rq.done.lock() = Some(r);
                rq.cv.notify_all();
                if let Ok((pid, _)) = r {
                    me2.after_departure(dest, pid);
                }
            },
            true,
        );
        if let Err(e) = queued {
            let _ = super::retain(&mut self.reg.lock().capturing, |p| *p != tgid);
            req.reason = refusal::GONE;
            return Err(e);
        }
        if t.is_current() {
            return Ok(());
        }
        drop(t);
        let mut g = request.done.lock();
        loop {
            if let Some(r) = *g {
                req.elapsed_ns = time::now_ns() - start;
                return match r {
                    Ok((pid, bytes)) => {
                        req.remote_pid = pid;
                        req.bytes = bytes;
                        Ok(())
                    }
                    Err(code) => {
                        req.reason = code;
                        Err(errno_of(code))
                    }
                };
            }
            if uctx::signal_pending() {
                return Err(EINTR);
            }
            wait_ms(&request.cv, &mut g, 200);
            // The process may have exited before it could run the work.
            if g.is_none() && TaskRef::find(req.pid).map(|x| x.tgid() != tgid).unwrap_or(true) {
                req.reason = refusal::GONE;
                return Err(ESRCH);
            }
        }
    }

    /// `ROAM_IOC_WHERE`.
    pub(crate) fn where_is(&self, pid: u32) -> Result<Where> {
        let t = TaskRef::find(pid)?;
        let tgid = t.tgid();
        let me = self.me();
        if let Some(d) = self.deputy(tgid) {
            return Ok(Where { pid, state: place::AWAY, node: d.node.load(Ordering::Relaxed), other_pid: d.remote_pid.load(Ordering::Relaxed) });
        }
        let r = self.reg.lock();
        if let Some(g) = r.guests.iter().find(|g| g.pid == tgid && !g.left) {
            return Ok(Where { pid, state: place::GUEST, node: g.home_node, other_pid: g.home_tgid });
        }
        if r.capturing.iter().any(|p| *p == tgid) {
            return Ok(Where { pid, state: place::MOVING, node: me, other_pid: 0 });
        }
        Ok(Where { pid, state: place::HOME, node: me, other_pid: 0 })
    }

    /// `/sys/kernel/roam/guests` and `away`.
    pub(crate) fn show(&self, guests: bool, out: &mut impl core::fmt::Write) -> core::fmt::Result {
        let r = self.reg.lock();
        if guests {
            for g in r.guests.iter().filter(|g| !g.left) {
                let comm = core::str::from_utf8(until_nul(&g.comm)).unwrap_or("?");
                writeln!(out, "pid={} home={} home_pid={} comm={}", g.pid, g.home_node, g.home_tgid, comm)?;
            }
        } else {
            for d in r.deputies.iter() {
                writeln!(out, "pid={} node={} remote_pid={}", d.tgid, d.node.load(Ordering::Relaxed), d.remote_pid.load(Ordering::Relaxed))?;
            }
        }
        Ok(())
    }

    pub(crate) fn cluster(&self) -> &Arc<Cluster> {
        &self.cluster
    }

    pub(crate) fn controls(&self) -> &super::balance::Controls {
        &self.ctl
    }

    pub(crate) fn peer_is_up(&self, node: u32) -> bool {
        self.peer_up(node)
    }

    /// The balancer's view of process `tgid`.
    pub(crate) fn profile(&self, tgid: u32) -> Option<Profile> {
        let mut r = self.reg.lock();
        let deputy = r.deputies.iter().any(|d| d.tgid == tgid);
        let moving = r.capturing.iter().any(|p| *p == tgid);
        if let Some(g) = r.guests.iter_mut().find(|g| g.pid == tgid && !g.left) {
            let talks_to = if g.calls > 0 { g.home_node } else { 0 };
            g.calls = 0;
            let allowed = g.allowed;
            let home = g.home_node;
            return Some(Profile { deputy, moving, guest: true, arrived_ms: Some(g.arrived_ms), talks_to, bounces: 0, allowed, home });
        }
        let back = r.homecomings.iter().find(|h| h.tgid == tgid).copied();
        drop(r);
        Some(Profile {
            deputy,
            moving,
            guest: false,
            arrived_ms: back.map(|h| h.at_ms),
            talks_to: 0,
            bounces: back.map(|h| h.bounces).unwrap_or(0),
            allowed: self.migration.allowed_of(tgid),
            home: 0,
        })
    }

    /// Marks `tgid` as being captured; false if it already is.
    pub(crate) fn capturing(&self, tgid: u32) -> bool {
        let mut r = self.reg.lock();
        if r.capturing.iter().any(|p| *p == tgid) {
            return false;
        }
        r.capturing.push(tgid, GFP_KERNEL).is_ok()
    }

    pub(crate) fn not_capturing(&self, tgid: u32) {
        let _ = super::retain(&mut self.reg.lock().capturing, |p| *p != tgid);
    }

    /// The migration work the balancer arms the context-switch hook with.
    pub(crate) fn auto_work(self: &Arc<Self>, to: u32, cause: Cause) -> impl FnOnce() + Send + 'static {
        let me = self.clone();
        move || {
            let tgid = uctx::ids().1;
            me.balancer.taken(tgid);
            let interval = me.cluster.tun.interval_ms.load(Ordering::Relaxed) as u64;
            match me.move_current(to, cause) {
                Ok((pid, _)) => {
                    me.balancer.done.fetch_add(1, Ordering::Relaxed);
                    me.balancer.settled(tgid, true, interval);
                    me.after_departure(to, pid)
                }
                Err(code) => {
                    me.balancer.settled(tgid, false, interval);
                    me.not_capturing(tgid);
                    if matches!(
                        code,
                        refusal::NOT_ACCEPTING | refusal::TOO_MANY_GUESTS | refusal::NO_MEMORY | refusal::BUSY | refusal::UNKNOWN_NODE | refusal::LINK
                    ) {
                        me.balancer.refused_by(to);
                    }
                    pr_info!("balancer: pid {} stays: {}\n", tgid, refusal::explain(code));
                }
            }
        }
    }

    /// The deputy of `tgid`; if it is not registered yet but its process
    /// is leaving, `early()` is kept for it instead.
    fn deputy_or_early(&self, tgid: u32, early: impl FnOnce() -> Early) -> Option<Arc<Deputy>> {
        let mut r = self.reg.lock();
        let d = r.deputies.iter().find(|d| d.tgid == tgid).cloned();
        if d.is_none() && r.capturing.iter().any(|p| *p == tgid) {
            let _ = r.early.push((tgid, early()), GFP_KERNEL);
        }
        d
    }

    fn deputy(&self, tgid: u32) -> Option<Arc<Deputy>> {
        self.reg.lock().deputies.iter().find(|d| d.tgid == tgid).cloned()
    }

    fn peer_up(&self, node: u32) -> bool {
        self.cluster.peer(node).map(|p| p.up.load(Ordering::Relaxed)).unwrap_or(false)
    }

    // ------------------------------------------------------------------
    // Source side, in the migrating task's own context.

    /// Captures the current task and sends it to `dest`. On success the
    /// destination runs it; the caller decides what becomes of this task.
    /// [`Self::move_inner`], recorded in the event log.
    fn move_current(&self, dest: u32, cause: Cause) -> core::result::Result<(u32, u64), u32> {
        let (_, tgid) = uctx::ids();
        let comm = uctx::comm();
        let from = self.me();
        let r = self.move_inner(dest, cause);
        self.record(Event { seq: 0, ms: time::now_ms(), pid: tgid, comm, from, to: dest, cause, result: r.err().unwrap_or(0) });
        r
    }

    fn move_inner(&self, dest: u32, cause: Cause) -> core::result::Result<(u32, u64), u32> {
        let peer: Arc<Peer> = self.cluster.peer(dest).ok_or(refusal::UNKNOWN_NODE)?;
        if !peer.up.load(Ordering::Relaxed) {
            return Err(refusal::UNKNOWN_NODE);
        }
        if uctx::fatal_signal_pending() {
            return Err(refusal::GONE);
        }
        let (pid, tgid) = uctx::ids();
        // Home identity: ours, or the one we carry as a guest.
        let guest = {
            let r = self.reg.lock();
            r.guests.iter().find(|g| g.pid == tgid && !g.left).map(|g| (g.home_node, g.home_pid, g.home_tgid, g.scratch, g.allowed))
        };
        let (home_node, home_pid, home_tgid, scratch, allowed) = match guest {
            Some(g) => g,
            None => (self.me(), pid, tgid, 0, self.migration.allowed_of(tgid)),
        };
        let mut regs = uctx::regs().map_err(|_| refusal::CAPTURE)?;
        // Interrupted in a system call that the kernel would restart: make
        // the destination re-issue it instead of seeing -ERESTART*.
        if (regs.orig_rax as i64) >= 0 {
            match regs.rax as i64 {
                -512 | -513 | -514 => {
                    regs.rax = regs.orig_rax;
                    regs.rip = regs.rip.wrapping_sub(2);
                }
                -516 => regs.rax = (-4i64) as u64,
                _ => {}
            }
        }
        regs.orig_rax = u64::MAX;
        let mut xstate = KVec::new();
        uctx::xstate(&mut xstate).map_err(|_| refusal::CAPTURE)?;
        let sig = uctx::sig_state();
        let layout = umem::layout().map_err(|_| refusal::CAPTURE)?;
        let vdso = uctx::vdso();
        let all = umem::areas(vdso).map_err(|_| refusal::CAPTURE)?;
        let mut vmas = KVec::new();
        for v in all.iter() {
            if v.start == scratch && scratch != 0 {
                continue;
            }
            vmas.push(*v, GFP_KERNEL).map_err(|_| refusal::CAPTURE)?;
        }
        let nr_pages: u64 = vmas.iter().filter(|v| has_pages(v)).map(|v| v.pages()).sum();
        let (uid, gid, euid, egid) = cred::current_ids();
        let header = ImageHeader {
            version: image::IMAGE_VERSION,
            home_node,
            pid: home_pid,
            tgid: home_tgid,
            uid,
            gid,
            euid,
            egid,
            comm: uctx::comm(),
            nr_vmas: vmas.len() as u32,
            nr_pages,
            xstate_len: xstate.len() as u32,
            cause: cause.code(),
            sender_load: self.cluster.own_entry_now().load,
            allowed,
        };
        let id = self.next_id.fetch_add(2, Ordering::Relaxed);
        let out = Arc::pin_init(
            pin_init!(Outgoing { id, dest, verdict <- new_mutex!(None, "roam_out"), cv <- new_condvar!("roam_out") }),
            GFP_KERNEL,
        )
        .map_err(|_| refusal::CAPTURE)?;
        self.reg.lock().outgoing.push(out.clone(), GFP_KERNEL).map_err(|_| refusal::CAPTURE)?;
        let r = self.send_image(&out, &header, &regs, &layout, &sig, &xstate, &vmas);
        let _ = super::retain_arc(&mut self.reg.lock().outgoing, |o| o.id != id);
        if r.is_err() {
            let mut b = [0u8; image::ABORT_LEN];
            if let Ok(n) = image::encode_abort(&mut b) {
                let _ = self.send_image_msg(dest, id, &b[..n]);
            }
        }
        r
    }

    fn wait_verdict(&self, out: &Outgoing, ms: u64) -> Option<Verdict> {
        let deadline = time::now_ms() + ms;
        let mut g = out.verdict.lock();
        loop {
            if let Some(v) = g.take() {
                return Some(v);
            }
            if time::now_ms() > deadline || uctx::fatal_signal_pending() {
                return None;
            }
            if !self.peer_up(out.dest) {
                return None;
            }
            wait_ms(&out.cv, &mut g, 100);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn send_image(
        &self,
        out: &Outgoing,
        header: &ImageHeader,
        regs: &Regs,
        layout: &MmLayout,
        sig: &SigState,
        xstate: &[u8],
        vmas: &[Vma],
    ) -> core::result::Result<(u32, u64), u32> {
        let (dest, id) = (out.dest, out.id);
        let link = |_| refusal::LINK;
        let len = image::batch_len(image::MAX_BATCH_PAGES).max(image::begin_len(xstate.len())).max(image::vmas_len(image::MAX_VMAS_PER_MSG));
        let mut buf = KVVec::from_elem(0u8, len, GFP_KERNEL).map_err(|_| refusal::CAPTURE)?;
        let n = image::encode_begin(header, regs, layout, sig, xstate, &mut buf).map_err(|_| refusal::CAPTURE)?;
        self.send_image_msg(dest, id, &buf[..n]).map_err(link)?;
        match self.wait_verdict(out, READY_TIMEOUT_MS) {
            Some(Verdict::Ready) => {}
            Some(Verdict::Refused(code)) => return Err(code),
            _ => return Err(refusal::LINK),
        }
        for (i, chunk) in vmas.chunks(image::MAX_VMAS_PER_MSG).enumerate() {
            let n = image::encode_vmas((i * image::MAX_VMAS_PER_MSG) as u32, chunk, &mut buf).map_err(|_| refusal::CAPTURE)?;
            self.send_image_msg(dest, id, &buf[..n]).map_err(link)?;
        }
        let mut sum = image::Checksum::new();
        let mut pages: u64 = 0;
        let mut data = KVVec::from_elem(0u8, image::MAX_BATCH_PAGES as usize * image::PAGE_SIZE, GFP_KERNEL).map_err(|_| refusal::CAPTURE)?;
        for v in vmas.iter().filter(|v| has_pages(v)) {
            let mut addr = v.start;
            while addr < v.end {
                if uctx::fatal_signal_pending() {
                    return Err(refusal::GONE);
                }
                let n = ((v.end - addr) / PAGE).min(image::MAX_BATCH_PAGES as u64) as usize;
                let chunk = &mut data[..n * image::PAGE_SIZE];
                if umem::read(addr, chunk).is_err() {
                    // Some page cannot be read (e.g. a file mapping past the
                    // end of its file): read page by page, zero the rest.
                    for (k, pg) in chunk.chunks_mut(image::PAGE_SIZE).enumerate() {
                        if umem::read(addr + k as u64 * PAGE, pg).is_err() {
                            pg.fill(0);
                        }
                    }
                }
                // Runs of non-zero pages become batches; zero pages are not
                // sent (the destination's fresh mappings read as zero).
                let mut k = 0;
                while k < n {
                    if is_zero(&chunk[k * image::PAGE_SIZE..(k + 1) * image::PAGE_SIZE]) {
                        k += 1;
                        continue;
                    }
                    let s = k;
                    while k < n && !is_zero(&chunk[k * image::PAGE_SIZE..(k + 1) * image::PAGE_SIZE]) {
                        k += 1;
                    }
                    let h = PageBatchHeader { first_addr: addr + s as u64 * PAGE, count: (k - s) as u32 };
                    let body = &chunk[s * image::PAGE_SIZE..k * image::PAGE_SIZE];
                    let len = image::encode_batch(&h, body, &mut buf).map_err(|_| refusal::CAPTURE)?;
                    self.send_image_msg(dest, id, &buf[..len]).map_err(link)?;
                    sum.add_batch(&h, body);
                    pages += h.count as u64;
                }
                addr += n as u64 * PAGE;
            }
        }
        let n = image::encode_commit(pages, sum.finish(), &mut buf).map_err(|_| refusal::CAPTURE)?;
        self.send_image_msg(dest, id, &buf[..n]).map_err(link)?;
        match self.wait_verdict(out, COMMIT_TIMEOUT_MS) {
            // The commit point: once Go is sent, the process is there. If the
            // destination never sees it, it drops the prepared process and
            // the deputy, hearing nothing, ends it (never two copies).
            Some(Verdict::Accepted(pid)) => {
                self.send_proc(dest, ProcMsg::Go { id }).map_err(link)?;
                Ok((pid, pages * PAGE))
            }
            Some(Verdict::Refused(code)) => Err(code),
            _ => Err(refusal::LINK),
        }
    }

    /// After a successful departure: a guest ends here silently; a home
    /// process becomes its deputy.
    fn after_departure(self: &Arc<Self>, dest: u32, remote_pid: u32) {
        let (pid, tgid) = uctx::ids();
        let was_guest = {
            let mut r = self.reg.lock();
            let g = r.guests.iter_mut().find(|g| g.pid == tgid && !g.left);
            match g {
                Some(g) => {
                    g.left = true;
                    Some((g.home_node, g.home_tgid))
                }
                None => None,
            }
        };
        if let Some((home, home_tgid)) = was_guest {
            let _ = super::retain(&mut self.reg.lock().capturing, |p| *p != tgid);
            self.unhook(tgid);
            // The new host tells home itself (ProcMsg::Moved).
            let _ = (home, home_tgid);
            uctx::signal_self(SIGKILL);
            return;
        }
        self.deputy_loop(pid, tgid, dest, remote_pid);
    }

    // ------------------------------------------------------------------
    // The deputy.

    fn deputy_loop(self: &Arc<Self>, pid: u32, tgid: u32, node: u32, remote_pid: u32) {
        // The memory now lives on the remote: give it back here, and map
        // the scratch area forwarded calls are made from.
        drop_user_memory();
        let scratch = match setup_deputy_scratch() {
            Ok(a) => a,
            Err(_) => {
                pr_warn!("pid {}: cannot map its deputy's scratch area; ending it\n", tgid);
                let _ = self.send_proc(node, ProcMsg::Signal { home_pid: tgid, sig: SIGKILL });
                uctx::signal_self(SIGKILL);
                return;
            }
        };
        let Ok(d) = Arc::pin_init(
            pin_init!(Deputy {
                pid,
                tgid,
                node: AtomicU32::new(node),
                remote_pid: AtomicU32::new(remote_pid),
                confirmed: core::sync::atomic::AtomicBool::new(false),
                native: core::sync::atomic::AtomicBool::new(false),
                since_ms: time::now_ms(),
                scratch,
                ev <- new_mutex!(DeputyEvents::default(), "roam_deputy"),
                cv <- new_condvar!("roam_deputy"),
                _mref: ModuleRef::new(),
            }),
            GFP_KERNEL,
        ) else {
            let _ = self.send_proc(node, ProcMsg::Signal { home_pid: tgid, sig: SIGKILL });
            uctx::signal_self(SIGKILL);
            return;
        };
        {
            let mut r = self.reg.lock();
            if r.deputies.push(d.clone(), GFP_KERNEL).is_err() {
                drop(r);
                let _ = self.send_proc(node, ProcMsg::Signal { home_pid: tgid, sig: SIGKILL });
                uctx::signal_self(SIGKILL);
                return;
            }
            let mut keep = KVec::new();
            for (t, e) in core::mem::take(&mut r.early) {
                if t != tgid {
                    let _ = keep.push((t, e), GFP_KERNEL);
                    continue;
                }
                match e {
                    Early::Moved { node: n, pid: p } => {
                        d.node.store(n, Ordering::Relaxed);
                        d.remote_pid.store(p, Ordering::Relaxed);
                        d.confirmed.store(true, Ordering::Release);
                    }
                    Early::Call(v) => d.ev.lock().call = Some(v),
                    Early::Exit(st) => d.ev.lock().exit = Some(st),
                }
            }
            r.early = keep;
            let _ = super::retain(&mut r.capturing, |p| *p != tgid);
        }
        if !self.hook(GuestIds { pid: tgid, home_pid: pid, home_tgid: tgid, deputy: true }) {
            pr_warn!("pid {}: too many migrated processes on this node; ending it\n", tgid);
            let _ = super::retain_arc(&mut self.reg.lock().deputies, |x| x.tgid != tgid);
            let _ = self.send_proc(node, ProcMsg::Signal { home_pid: tgid, sig: SIGKILL });
            uctx::signal_self(SIGKILL);
            return;
        }
        // Every signal arriving here is caught by the gate and handed to
        // the remote, which decides what it means.
        uctx::gate_all_signals(scratch + GATE_OFF);
        pr_info!("pid {} runs on node {}; its deputy stays here\n", tgid, node);
        self.deputy_serve(&d);
    }

    /// The deputy's work in the kernel: until there is a call to make
    /// natively (then it returns with the registers set up for it), or the
    /// process ends or comes home.
    fn deputy_serve(self: &Arc<Self>, d: &Arc<Deputy>) {
        let tgid = d.tgid;
        let outcome = loop {
            if uctx::fatal_signal_pending() {
                let _ = self.send_proc(d.node.load(Ordering::Relaxed), ProcMsg::Signal { home_pid: tgid, sig: SIGKILL });
                break None;
            }
            while let Some(sig) = uctx::dequeue_signal() {
                let _ = self.send_proc(d.node.load(Ordering::Relaxed), ProcMsg::Signal { home_pid: tgid, sig });
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
                if self.take_over(&inc) {
                    pr_info!("pid {} is back home\n", tgid);
                    {
                        let bounced = inc.state.lock().header.cause == image::cause::SYSCALL;
                        let mut r = self.reg.lock();
                        let before = r.homecomings.iter().find(|h| h.tgid == tgid).map(|h| h.bounces).unwrap_or(0);
                        let _ = super::retain(&mut r.homecomings, |h| h.tgid != tgid && TaskRef::find(h.tgid).is_ok());
                        let bounces = before + u32::from(bounced);
                        let _ = r.homecomings.push(Homecoming { tgid, at_ms: time::now_ms(), bounces }, GFP_KERNEL);
                    }
                    self.unhook(tgid);
                    uctx::ungate_signals();
                    let _ = super::retain_arc(&mut self.reg.lock().deputies, |x| x.tgid != tgid);
                    return;
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
        let _ = super::retain_arc(&mut self.reg.lock().deputies, |x| x.tgid != tgid);
        if let Some(status) = outcome {
            uctx::ungate_signals();
            replay_exit(tgid, status);
        }
    }

    /// Sets the deputy up to make the forwarded call in `payload` natively
    /// on its return to user mode. False if the call was answered at once
    /// (malformed, or its buffers did not fit).
    fn start_native(self: &Arc<Self>, d: &Arc<Deputy>, payload: &[u8]) -> bool {
        let Ok(call) = fwd::decode_call(payload) else { return false };
        let node = d.node.load(Ordering::Relaxed);
        let info = syscalls::lookup(call.nr as u64);
        let answer = |me: &Self, result: i64| {
            let mut b = [0u8; fwd::RET_HEAD];
            if let Ok(n) = fwd::encode_ret(call.id, result, &[], &mut b) {
                let _ = me.send(node, MsgType::Ret, d.tgid, &b[..n]);
            }
        };
        let Ok((plans, mut args)) = fwd::plan(&info, &call.args) else {
            answer(self, -38); // ENOSYS
            return false;
        };
        // Lay the buffers out in the scratch data area and copy inputs in.
        let mut addrs = [0u64; 6];
        let mut at = d.scratch + DATA_OFF;
        let end = d.scratch + DEPUTY_SCRATCH_LEN;
        for i in 0..6 {
            let need = plans[i].scratch() as u64;
            if need == 0 {
                continue;
            }
            at = (at + 15) & !15;
            if at + need > end {
                answer(self, -7); // E2BIG
                return false;
            }
            addrs[i] = at;
            args[i] = at;
            if plans[i].is_in() {
                if let Some(seg) = call.segs.get(i as u8) {
                    if umem::write(at, seg.data).is_err() {
                        answer(self, -14); // EFAULT
                        return false;
                    }
                }
            }
            at += need;
        }
        d.ev.lock().inflight = Some(Inflight { id: call.id, plans, addrs });
        d.native.store(true, Ordering::Release);
        // Should the task die while in user mode (SIGKILL at home), this
        // runs from its exit and takes the remote with it.
        let me2 = self.clone();
        let (tgid, node2) = (d.tgid, node);
        let _ = crate::sys::taskwork::queue_current_quiet(move || {
            if uctx::is_exiting() {
                let _ = me2.send_proc(node2, ProcMsg::Signal { home_pid: tgid, sig: SIGKILL });
            }
        });
        let entry = d.scratch + CALL_OFF;
        let stack = d.scratch + STACK_TOP;
        uctx::with_pt_regs(|r| {
            r.ax = call.nr as _;
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
        true
    }

    /// Back from a native call (`gate` is the magic number the trampoline
    /// or the signal gate used; `a`, `b`, `c` its registers).
    fn after_native(self: &Arc<Self>, gate: i64, a: u64, b: u64, c: u64) {
        let tgid = uctx::ids().1;
        let Some(d) = self.deputy(tgid) else { return };
        d.native.store(false, Ordering::Release);
        let node = d.node.load(Ordering::Relaxed);
        let inflight = d.ev.lock().inflight.take();
        let Some(inf) = inflight else {
            self.deputy_serve(&d);
            return;
        };
        let call_insn = d.scratch + CALL_OFF;
        let result: i64 = if gate == MAGIC_RET {
            a as i64
        } else {
            // A signal arrived: the remote decides what it means. The
            // call had not run, or is to be restarted, if the interrupted
            // ip is the `syscall` instruction itself.
            let _ = self.send_proc(node, ProcMsg::Signal { home_pid: tgid, sig: c as u32 });
            if b == call_insn {
                -512 // ERESTARTSYS
            } else if b == call_insn + 2 {
                a as i64
            } else {
                -4 // EINTR
            }
        };
        // Outputs.
        let mut total = 0usize;
        for (i, p) in inf.plans.iter().enumerate() {
            if p.is_out() && inf.addrs[i] != 0 {
                total += fwd::out_len(p, result) + fwd::SEG_HEAD;
            }
        }
        let mut bufs: KVec<(u8, KVVec<u8>)> = KVec::new();
        for (i, p) in inf.plans.iter().enumerate() {
            if !p.is_out() || inf.addrs[i] == 0 {
                continue;
            }
            let n = fwd::out_len(p, result);
            let Ok(mut v) = KVVec::from_elem(0u8, n, GFP_KERNEL) else { continue };
            if umem::read(inf.addrs[i], &mut v).is_ok() {
                let _ = bufs.push((i as u8, v), GFP_KERNEL);
            }
        }
        let mut segs: KVec<fwd::Segment<'_>> = KVec::new();
        for (i, v) in bufs.iter() {
            let _ = segs.push(fwd::Segment { arg: *i, data: v }, GFP_KERNEL);
        }
        if let Ok(mut out) = KVVec::from_elem(0u8, fwd::RET_HEAD + total, GFP_KERNEL) {
            if let Ok(n) = fwd::encode_ret(inf.id, result, &segs, &mut out) {
                let _ = self.send(node, MsgType::Ret, tgid, &out[..n]);
            }
        }
        drop(segs);
        drop(bufs);
        self.deputy_serve(&d);
    }

    /// On a guest: makes forwarded call `nr` through the deputy at home.
    fn forward_call(self: &Arc<Self>, nr: i64, args: [u64; 6], plans: [fwd::Plan; 6], largs: [u64; 6]) {
        let tgid = uctx::ids().1;
        let home = {
            let mut r = self.reg.lock();
            r.guests.iter_mut().find(|g| g.pid == tgid && !g.left).map(|g| {
                g.calls = g.calls.saturating_add(1);
                (g.home_node, g.home_tgid)
            })
        };
        let Some((home, home_tgid)) = home else { return };
        let fail = |e: i64| uctx::with_pt_regs(|r| r.ax = e as u64 as _);
        // Inputs.
        let mut bufs: KVec<(u8, KVVec<u8>)> = KVec::new();
        let mut total = 0usize;
        for (i, p) in plans.iter().enumerate() {
            let fwd::Plan::In { len, path } = *p else {
                if let fwd::Plan::InOut { len } = *p {
                    let Ok(mut v) = KVVec::from_elem(0u8, len, GFP_KERNEL) else { return fail(-12) };
                    if umem::read(args[i], &mut v).is_err() {
                        return fail(-14);
                    }
                    total += len + fwd::SEG_HEAD;
                    let _ = bufs.push((i as u8, v), GFP_KERNEL);
                }
                continue;
            };
            let Ok(mut v) = KVVec::from_elem(0u8, len, GFP_KERNEL) else { return fail(-12) };
            if path {
                match umem::read_str(args[i], &mut v) {
                    Ok(n) => {
                        // Keep the NUL.
                        let keep = KVVec::from_elem(0u8, n + 1, GFP_KERNEL);
                        let Ok(mut k) = keep else { return fail(-12) };
                        k[..n].copy_from_slice(&v[..n]);
                        v = k;
                    }
                    Err(e) => return fail(e.to_errno() as i64),
                }
            } else if umem::read(args[i], &mut v).is_err() {
                return fail(-14);
            }
            total += v.len() + fwd::SEG_HEAD;
            let _ = bufs.push((i as u8, v), GFP_KERNEL);
        }
        let id = self.next_id.fetch_add(2, Ordering::Relaxed);
        let payload = {
            let mut segs: KVec<fwd::Segment<'_>> = KVec::new();
            for (i, v) in bufs.iter() {
                let _ = segs.push(fwd::Segment { arg: *i, data: v }, GFP_KERNEL);
            }
            let Ok(mut out) = KVVec::from_elem(0u8, fwd::CALL_HEAD + total, GFP_KERNEL) else { return fail(-12) };
            match fwd::encode_call(id, nr as u32, &largs, &segs, &mut out) {
                Ok(n) => {
                    let mut p = KVVec::new();
                    if p.extend_from_slice(&out[..n], GFP_KERNEL).is_err() {
                        return fail(-12);
                    }
                    p
                }
                Err(_) => return fail(-7),
            }
        };
        drop(bufs);
        let Ok(w) = Arc::pin_init(pin_init!(CallWait { id, home, ret <- new_mutex!(None, "roam_call"), cv <- new_condvar!("roam_call") }), GFP_KERNEL)
        else {
            return fail(-12);
        };
        if self.reg.lock().waits.push(w.clone(), GFP_KERNEL).is_err() {
            return fail(-12);
        }
        let sent = self.send(home, MsgType::Call, home_tgid, &payload);
        let ret = if sent.is_ok() { self.wait_ret(&w) } else { None };
        let _ = super::retain_arc(&mut self.reg.lock().waits, |x| x.id != id);
        let Some(ret) = ret else {
            // Home is gone (this guest is being killed) or we are dying.
            return fail(-5);
        };
        let Ok(r) = fwd::decode_ret(&ret) else { return fail(-5) };
        for seg in r.segs.iter() {
            let i = seg.arg as usize;
            if i < 6 && plans[i].is_out() && args[i] != 0 && seg.data.len() <= plans[i].scratch() {
                if umem::write(args[i], seg.data).is_err() && r.result >= 0 {
                    return fail(-14);
                }
            }
        }
        if r.result == -512 {
            // Interrupted at home by a signal that was forwarded here first:
            // let this kernel's signal code restart it or fail it with EINTR
            // as the handler's flags say. With no signal pending (it was
            // ignored here), simply issue it again.
            if uctx::signal_pending() {
                uctx::with_pt_regs(|rg| {
                    rg.ax = (-512i64) as u64 as _;
                    rg.orig_ax = nr as u64 as _;
                });
            } else {
                uctx::with_pt_regs(|rg| {
                    rg.ax = nr as u64 as _;
                    rg.ip = (rg.ip as u64).wrapping_sub(2) as _;
                });
            }
            return;
        }
        uctx::with_pt_regs(|rg| rg.ax = r.result as u64 as _);
    }

    /// Waits for the answer to `w`: None if home went down or we are being
    /// killed. Other signals wait until the answer is in (the deputy sends
    /// it right after any signal it forwards).
    fn wait_ret(&self, w: &CallWait) -> Option<KVec<u8>> {
        let mut g = w.ret.lock();
        loop {
            if let Some(r) = g.take() {
                return Some(r);
            }
            if uctx::fatal_signal_pending() || !self.peer_up(w.home) {
                return None;
            }
            if uctx::signal_pending() {
                drop(g);
                crate::sys::thread::sleep_ms_uninterruptible(2);
                g = w.ret.lock();
            } else {
                wait_ms(&w.cv, &mut g, 200);
            }
        }
    }

    // ------------------------------------------------------------------
    // Destination side: frames from the receiver threads.

    /// A `Migrate` or `Proc` frame from `from`.
    pub(crate) fn on_frame(self: &Arc<Self>, from: u32, ty: MsgType, id: u32, payload: &[u8]) {
        match ty {
            MsgType::Proc => {
                if let Some(m) = ProcMsg::decode(payload) {
                    self.on_proc(from, m);
                }
            }
            MsgType::Call => {
                let mut v = KVec::new();
                if v.extend_from_slice(payload, GFP_KERNEL).is_err() {
                    return;
                }
                let mut v = Some(v);
                let Some(d) = self.deputy_or_early(id, || Early::Call(v.take().unwrap_or_default())) else { return };
                if d.node.load(Ordering::Relaxed) != from {
                    return;
                }
                if let Some(v) = v {
                    d.ev.lock().call = Some(v);
                    d.cv.notify_all();
                }
            }
            MsgType::Ret => {
                let Some(rid) = payload.get(..4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])) else { return };
                let w = self.reg.lock().waits.iter().find(|w| w.id == rid && w.home == from).cloned();
                if let Some(w) = w {
                    let mut v = KVec::new();
                    if v.extend_from_slice(payload, GFP_KERNEL).is_ok() {
                        *w.ret.lock() = Some(v);
                        w.cv.notify_all();
                    }
                }
            }
            MsgType::Migrate => match image::decode(payload) {
                Ok(m) => self.on_image(from, id, m),
                Err(e) => {
                    pr_warn!("migration {} from node {}: malformed message: {}\n", id, from, e.name());
                    self.fail_incoming(from, id, RefuseReason::BadImage);
                }
            },
            _ => {}
        }
    }

    fn on_proc(self: &Arc<Self>, from: u32, m: ProcMsg) {
        match m {
            ProcMsg::Exit { home_pid, status } => {
                if let Some(d) = self.deputy_or_early(home_pid, || Early::Exit(status)) {
                    if d.node.load(Ordering::Relaxed) == from {
                        d.ev.lock().exit = Some(status);
                        d.cv.notify_all();
                        if d.native.load(Ordering::Acquire) {
                            // Busy in a call for a remote that is gone.
                            if let Ok(t) = TaskRef::find(d.pid) {
                                t.signal(SIGKILL);
                            }
                        }
                    }
                }
            }
            ProcMsg::Moved { home_pid, node, pid } => {
                let Some(d) = self.deputy_or_early(home_pid, || Early::Moved { node, pid }) else { return };
                let d = Some(d);
                if let Some(d) = d {
                    d.node.store(node, Ordering::Relaxed);
                    d.remote_pid.store(pid, Ordering::Relaxed);
                    d.confirmed.store(true, Ordering::Release);
                    d.cv.notify_all();
                }
            }
            ProcMsg::Signal { home_pid, sig } => {
                if let Some(pid) = self.guest_pid(from, home_pid) {
                    if let Ok(t) = TaskRef::find(pid) {
                        t.signal(sig);
                    }
                }
            }
            ProcMsg::Go { id } => {
                let Some(inc) = self.incoming(from, id) else { return };
                {
                    let mut t = inc.target.lock();
                    if let Some((entry, stack, scratch)) = t.prepared.take() {
                        t.install = Install::Done { entry, stack, scratch };
                    }
                }
                inc.cv.notify_all();
                let _ = super::retain_arc(&mut self.reg.lock().incoming, |i| !(i.from == from && i.id == id));
            }
            ProcMsg::Recall { home_pid, dest } => {
                let Some(pid) = self.guest_pid(from, home_pid) else { return };
                let Ok(t) = TaskRef::find(pid) else { return };
                let dest = if dest == 0 { from } else { dest };
                let me2 = self.clone();
                let _ = t.queue_work(
                    move || {
                        if let Ok((pid, _)) = me2.move_current(dest, Cause::Recall) {
                            me2.after_departure(dest, pid);
                        }
                    },
                    true,
                );
            }
        }
    }

    fn guest_pid(&self, home: u32, home_pid: u32) -> Option<u32> {
        self.reg.lock().guests.iter().find(|g| g.home_node == home && g.home_tgid == home_pid && !g.left).map(|g| g.pid)
    }

    fn incoming(&self, from: u32, id: u32) -> Option<Arc<Incoming>> {
        self.reg.lock().incoming.iter().find(|i| i.from == from && i.id == id).cloned()
    }

    fn fail_incoming(&self, from: u32, id: u32, why: RefuseReason) {
        if let Some(inc) = self.incoming(from, id) {
            self.drop_incoming(&inc);
            self.reply(from, id, Verdict::Refused(refusal_of(why)));
        }
    }

    fn drop_incoming(&self, inc: &Arc<Incoming>) {
        {
            let mut t = inc.target.lock();
            if t.install == Install::Waiting {
                t.install = Install::Failed;
            }
        }
        inc.cv.notify_all();
        let _ = super::retain_arc(&mut self.reg.lock().incoming, |i| !(i.from == inc.from && i.id == inc.id));
    }

    fn on_image(self: &Arc<Self>, from: u32, id: u32, m: MigrateMsg<'_>) {
        match m {
            MigrateMsg::Accept { .. } | MigrateMsg::Refuse { .. } => {
                let v = match m {
                    MigrateMsg::Accept { remote_pid: 0 } => Verdict::Ready,
                    MigrateMsg::Accept { remote_pid } => Verdict::Accepted(remote_pid),
                    MigrateMsg::Refuse { reason } => Verdict::Refused(refusal_of(reason)),
                    _ => return,
                };
                let out = self.reg.lock().outgoing.iter().find(|o| o.id == id && o.dest == from).cloned();
                if let Some(o) = out {
                    *o.verdict.lock() = Some(v);
                    o.cv.notify_all();
                }
            }
            MigrateMsg::Begin(b) => {
                let r = self.begin(from, id, &b);
                match r {
                    Ok(()) => self.reply(from, id, Verdict::Ready),
                    Err(why) => {
                        pr_info!("migration {} from node {} refused: {}\n", id, from, why.reason());
                        self.fail_incoming(from, id, why);
                        // Not registered (refused before): answer anyway.
                        if self.incoming(from, id).is_none() {
                            self.reply(from, id, Verdict::Refused(refusal_of(why)));
                        }
                    }
                }
            }
            MigrateMsg::Vmas(v) => {
                let Some(inc) = self.incoming(from, id) else { return };
                if self.vmas(&inc, &v).is_err() {
                    self.fail_incoming(from, id, RefuseReason::BadImage);
                }
            }
            MigrateMsg::Pages(h, data) => {
                let Some(inc) = self.incoming(from, id) else { return };
                if let Err(e) = self.pages(&inc, &h, data) {
                    let why = if e == ENOMEM { RefuseReason::NoMemory } else { RefuseReason::BadImage };
                    self.fail_incoming(from, id, why);
                }
            }
            MigrateMsg::Commit { nr_pages, checksum } => {
                let Some(inc) = self.incoming(from, id) else { return };
                match self.commit(&inc, nr_pages, checksum) {
                    Ok(pid) => {
                        self.reply(from, id, Verdict::Accepted(pid));
                        // Without Go (within the target's wait) it is dropped.
                    }
                    Err(why) => self.fail_incoming(from, id, why),
                }
            }
            MigrateMsg::Abort => {
                if let Some(inc) = self.incoming(from, id) {
                    self.drop_incoming(&inc);
                }
            }
        }
    }

    fn begin(self: &Arc<Self>, from: u32, id: u32, b: &image::BeginView<'_>) -> core::result::Result<(), RefuseReason> {
        let h = b.header;
        let home = h.home_node == self.me();
        if !home {
            if self.accept.load(Ordering::Relaxed) == 0 {
                return Err(RefuseReason::NotAccepting);
            }
            if !crate::policy::allowed_on(h.allowed, self.me()) {
                return Err(RefuseReason::NotAccepting);
            }
            let guests = {
                let r = self.reg.lock();
                r.guests.iter().filter(|g| !g.left).count() + r.incoming.len()
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
        xstate.extend_from_slice(b.xstate, GFP_KERNEL).map_err(|_| RefuseReason::NoMemory)?;
        let ticket = ((from as u64) << 32) | id as u64 ^ (time::random_u64() & 0xffff_0000_0000_0000);
        let inc = Arc::pin_init(
            pin_init!(Incoming {
                from,
                id,
                ticket,
                home,
                state <- new_mutex!(
                    Arrival { header: h, regs: b.regs, mm: b.mm, sig: b.sig_state(), xstate, vmas: KVec::new(), progress },
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
            let d = self.deputy(h.tgid).ok_or(RefuseReason::BadImage)?;
            d.ev.lock().arriving = Some(inc.clone());
            d.cv.notify_all();
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
        Ok(())
    }

    fn target_mm(inc: &Incoming) -> Result<(Arc<umem::MmRef>, u64)> {
        let t = inc.target.lock();
        Ok((t.mm.clone().ok_or(EINVAL)?, t.vdso))
    }

    fn vmas(&self, inc: &Incoming, v: &image::VmasView<'_>) -> Result {
        let (mm, _) = Self::target_mm(inc)?;
        let mut st = inc.state.lock();
        st.progress.vmas(v).map_err(|_| EINVAL)?;
        for i in 0..v.len() {
            let a = v.get(i).ok_or(EINVAL)?;
            st.vmas.push(a, GFP_KERNEL)?;
        }
        let first = v.first as usize;
        let list = &st.vmas[first..];
        mm.borrow(|| -> Result {
            for a in list.iter() {
                if a.flags & (image::VMA_VDSO | image::VMA_VVAR) != 0 {
                    continue;
                }
                let prot = if has_pages(a) { a.prot | image::PROT_READ | image::PROT_WRITE } else { a.prot };
                umem::map_anon(a.start, a.end - a.start, prot, a.flags & image::VMA_GROWSDOWN != 0)?;
            }
            Ok(())
        })?
    }

    fn pages(&self, inc: &Incoming, h: &PageBatchHeader, data: &[u8]) -> Result {
        let (mm, _) = Self::target_mm(inc)?;
        let mut st = inc.state.lock();
        if !image::batch_in_vmas(h, &st.vmas) || data.len() != h.data_len() {
            return Err(EINVAL);
        }
        st.progress.pages(h, data).map_err(|_| EINVAL)?;
        drop(st);
        mm.borrow(|| umem::write(h.first_addr, data))?
    }

    fn commit(&self, inc: &Incoming, nr_pages: u64, checksum: u64) -> core::result::Result<u32, RefuseReason> {
        let (mm, stub_vdso) = Self::target_mm(inc).map_err(|_| RefuseReason::BadImage)?;
        let st = inc.state.lock();
        st.progress.commit(nr_pages, checksum).map_err(|e| e.refuse_reason())?;
        let mut buf = KVec::from_elem(0u8, restore::SCRATCH_LEN, GFP_KERNEL).map_err(|_| RefuseReason::NoMemory)?;
        let r = mm.borrow(|| -> core::result::Result<(u64, u64, u64), RefuseReason> {
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
                if (a.handler != 0 || inc.home) && signo != SIGKILL && signo != 19 {
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
            let entry = b.entry();
            let stack = b.stack_top();
            let used = b.finish(&st.regs, st.sig.blocked, &st.sig.altstack, &st.xstate).map_err(|_| RefuseReason::BadImage)?;
            umem::write(scratch, &buf[..used]).map_err(|_| RefuseReason::NoMemory)?;
            umem::set_layout(&st.mm).map_err(|_| RefuseReason::BadImage)?;
            Ok((entry, stack, scratch))
        });
        let (entry, stack, scratch) = match r {
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
        t.prepared = Some((entry, stack, scratch));
        Ok(t.pid)
    }

    fn start_stub(self: &Arc<Self>, inc: &Arc<Incoming>) -> Result {
        let me2 = self.clone();
        let inc2 = inc.clone();
        let th = KThread::spawn(c_str!("roam-guest"), move || me2.run_stub(&inc2))?;
        // Reap the threads of stubs that ended, outside the lock (each
        // `kthread_stop` waits for its thread to notice).
        let (ended, pushed) = {
            let mut r = self.reg.lock();
            let ended = take_done(&mut r.stubs);
            (ended, r.stubs.push((inc.ticket, th), GFP_KERNEL))
        };
        drop(ended);
        pushed.map_err(Into::into)
    }

    /// Body of a `roam-guest` thread: runs the stub (which becomes the
    /// guest) and reports its end to its home node.
    fn run_stub(&self, inc: &Arc<Incoming>) {
        let _mref = ModuleRef::new();
        let mut arg = [0u8; 24];
        let s = fmt_u64(inc.ticket, &mut arg);
        let Ok(cs) = kernel::str::CStr::from_bytes_with_nul(s) else { return };
        let status = umh::run_and_wait(STUB, &[cs]);
        let (home_node, home_tgid) = {
            let st = inc.state.lock();
            (st.header.home_node, st.header.tgid)
        };
        // Not started: the arrival fails (if it has not yet).
        {
            let mut t = inc.target.lock();
            if t.install == Install::Waiting {
                t.install = Install::Failed;
            }
        }
        inc.cv.notify_all();
        let pid = inc.target.lock().pid;
        let left = {
            let mut r = self.reg.lock();
            let left = r.guests.iter().find(|g| g.pid == pid && g.home_tgid == home_tgid).map(|g| g.left);
            let _ = super::retain_owned(&mut r.guests, |g| !(g.pid == pid && g.home_tgid == home_tgid));
            left
        };
        self.unhook(pid);
        if left == Some(false) {
            let status = status.unwrap_or(SIGKILL as i32) as u32;
            pr_info!("guest pid {} (pid {} of node {}) ended: status {:#x}\n", pid, home_tgid, home_node, status);
            let _ = self.send_proc(home_node, ProcMsg::Exit { home_pid: home_tgid, status });
        }
        // This thread's handle is joined on unload (joining ourselves here
        // would deadlock).
    }

    /// `ROAM_IOC_ADOPT`, in the stub's context.
    pub(crate) fn adopt(&self, ticket: u64) -> Result {
        if !cred::may_configure() || !cred::parent_is_kthread() {
            return Err(EPERM);
        }
        let inc = self.reg.lock().incoming.iter().find(|i| i.ticket == ticket && !i.home).cloned().ok_or(ENOENT)?;
        self.take_over_as_stub(&inc)
    }

    /// Checks in as `inc`'s target and waits for the install; on success
    /// the current task's registers point into the restorer.
    fn wait_install(&self, inc: &Incoming) -> Result<(u64, u64, u64)> {
        let mm = Arc::new(umem::MmRef::current()?, GFP_KERNEL)?;
        {
            let mut t = inc.target.lock();
            if t.mm.is_some() || t.install != Install::Waiting {
                return Err(EBUSY);
            }
            t.mm = Some(mm);
            t.vdso = uctx::vdso();
            t.pid = uctx::ids().1;
        }
        inc.cv.notify_all();
        let deadline = time::now_ms() + READY_TIMEOUT_MS + 2 * COMMIT_TIMEOUT_MS;
        let mut t = inc.target.lock();
        loop {
            if t.install == Install::Waiting && time::now_ms() > deadline {
                // The source never gave the Go: it kept the process.
                t.install = Install::Failed;
                drop(t);
                let _ = super::retain_arc(&mut self.reg.lock().incoming, |i| !(i.from == inc.from && i.id == inc.id));
                t = inc.target.lock();
            }
            match t.install {
                Install::Done { entry, stack, scratch } => return Ok((entry, stack, scratch)),
                Install::Failed => {
                    let cleared = t.mm.take().is_some();
                    drop(t);
                    if cleared && !inc.home {
                        // A stub whose address space was already cleared
                        // has nothing to return to.
                        uctx::signal_self(SIGKILL);
                    }
                    return Err(err::ecanceled());
                }
                Install::Waiting => {}
            }
            if uctx::fatal_signal_pending() {
                t.install = Install::Failed;
                t.mm = None;
                return Err(EINTR);
            }
            wait_ms(&inc.cv, &mut t, 200);
        }
    }

    fn take_over_as_stub(&self, inc: &Incoming) -> Result {
        let (entry, stack, scratch) = self.wait_install(inc)?;
        let h = inc.state.lock().header;
        cred::assume_ids(h.uid, h.gid, h.euid, h.egid)?;
        uctx::set_comm(&h.comm);
        let pid = uctx::ids().1;
        {
            let mut r = self.reg.lock();
            r.guests.push(
                Guest {
                    pid,
                    home_node: h.home_node,
                    home_pid: h.pid,
                    home_tgid: h.tgid,
                    left: false,
                    scratch,
                    comm: h.comm,
                    arrived_ms: time::now_ms(),
                    calls: 0,
                    allowed: h.allowed,
                },
                GFP_KERNEL,
            )?;
        }
        if !self.hook(GuestIds { pid, home_pid: h.pid, home_tgid: h.tgid, deputy: false }) {
            let _ = super::retain_owned(&mut self.reg.lock().guests, |g| g.pid != pid);
            uctx::signal_self(SIGKILL);
            return Err(EBUSY);
        }
        enter_restorer(entry, stack);
        inc.target.lock().mm = None;
        pr_info!("pid {} of node {} runs here as pid {}\n", h.tgid, h.home_node, pid);
        // Tell home where it runs now (this also confirms the start).
        let _ = self.send_proc(h.home_node, ProcMsg::Moved { home_pid: h.tgid, node: self.me(), pid });
        Ok(())
    }

    /// The deputy takes its process back.
    fn take_over(&self, inc: &Incoming) -> bool {
        let Ok((entry, stack, _)) = self.wait_install(inc) else { return false };
        enter_restorer(entry, stack);
        inc.target.lock().mm = None;
        true
    }

    // ------------------------------------------------------------------
    // The system-call hook's table.

    /// Enters `ids` in the hook's table and makes sure the probe is
    /// registered. Process context (may sleep).
    fn hook(&self, ids: GuestIds) -> bool {
        if crate::sys::hook::get().is_err() {
            return false;
        }
        let mut t = self.hook_ids.lock();
        if let Some(slot) = t.iter_mut().find(|s| s.pid == 0) {
            *slot = ids;
            filter_slot(ids.pid).fetch_add(1, Ordering::Release);
            self.nguests.fetch_add(1, Ordering::Release);
            return true;
        }
        drop(t);
        crate::sys::hook::put();
        false
    }

    /// Removes `pid` from the hook's table (the probe goes with the last
    /// entry). Process context (may sleep).
    fn unhook(&self, pid: u32) {
        let found = {
            let mut t = self.hook_ids.lock();
            match t.iter_mut().find(|s| s.pid == pid && pid != 0) {
                Some(slot) => {
                    *slot = GuestIds::default();
                    filter_slot(pid).fetch_sub(1, Ordering::Release);
                    self.nguests.fetch_sub(1, Ordering::Release);
                    true
                }
                None => false,
            }
        };
        if found {
            crate::sys::hook::put();
        }
    }

    fn record(&self, mut e: Event) {
        let mut l = self.events.lock();
        e.seq = l.next;
        l.next += 1;
        let i = (e.seq as usize) % EVENTS;
        if let Some(slot) = l.ring.get_mut(i) {
            *slot = e;
        }
    }

    /// `/sys/kernel/roam/events`: the last 36 migrations started here,
    /// oldest first, one per line (the log keeps 256).
    pub(crate) fn show_events(&self, out: &mut impl core::fmt::Write) -> core::fmt::Result {
        let l = self.events.lock();
        // The newest SHOWN fit in one sysfs page.
        const SHOWN: u64 = 36;
        let first = l.next.saturating_sub(SHOWN).max(1);
        for seq in first..l.next {
            let Some(e) = l.ring.get((seq as usize) % EVENTS) else { continue };
            if e.seq != seq {
                continue;
            }
            let comm = core::str::from_utf8(until_nul(&e.comm)).unwrap_or("?");
            writeln!(
                out,
                "seq={} ms={} pid={} comm={} from={} to={} cause={} result={}",
                e.seq,
                e.ms,
                e.pid,
                comm,
                e.from,
                e.to,
                e.cause.name(),
                refusal::name(e.result)
            )?;
        }
        Ok(())
    }

    /// `/sys/kernel/roam/balancer`.
    pub(crate) fn show_balancer(&self, out: &mut impl core::fmt::Write) -> core::fmt::Result {
        writeln!(out, "context_switches {}", self.balancer.switches())?;
        writeln!(out, "migrations_started {}", self.balancer.started.load(Ordering::Relaxed))?;
        writeln!(out, "migrations_done {}", self.balancer.done.load(Ordering::Relaxed))?;
        Ok(())
    }

    /// Sends every guest away (home), and returns when none is left (or
    /// after a minute, with ETIMEDOUT).
    pub(crate) fn expel(self: &Arc<Self>) -> Result {
        let guests: KVec<(u32, u32)> = {
            let r = self.reg.lock();
            let mut v = KVec::new();
            for g in r.guests.iter().filter(|g| !g.left) {
                v.push((g.pid, g.home_node), GFP_KERNEL)?;
            }
            v
        };
        for &(pid, home) in guests.iter() {
            if let Ok(t) = TaskRef::find(pid) {
                let me2 = self.clone();
                let _ = t.queue_work(
                    move || {
                        if let Ok((p, _)) = me2.move_current(home, Cause::Expel) {
                            me2.after_departure(home, p);
                        }
                    },
                    true,
                );
            }
        }
        self.wait_until(|r| r.guests.iter().all(|g| g.left))
    }

    /// Brings every process of this node home, and returns when all are
    /// back (or after a minute, with ETIMEDOUT).
    pub(crate) fn bring(self: &Arc<Self>) -> Result {
        let away: KVec<(u32, u32)> = {
            let r = self.reg.lock();
            let mut v = KVec::new();
            for d in r.deputies.iter() {
                v.push((d.tgid, d.node.load(Ordering::Relaxed)), GFP_KERNEL)?;
            }
            v
        };
        for &(tgid, node) in away.iter() {
            let _ = self.send_proc(node, ProcMsg::Recall { home_pid: tgid, dest: 0 });
        }
        self.wait_until(|r| r.deputies.is_empty())
    }

    fn wait_until(&self, done: impl Fn(&Registry) -> bool) -> Result {
        let deadline = time::now_ms() + 60_000;
        loop {
            if done(&self.reg.lock()) {
                return Ok(());
            }
            if time::now_ms() > deadline {
                return Err(err::etimedout());
            }
            if uctx::signal_pending() {
                return Err(EINTR);
            }
            crate::sys::thread::sleep_ms(50);
        }
    }

    /// A node went down: guests from it die; deputies notice by polling.
    pub(crate) fn node_down(&self, node: u32) {
        // Deputies busy in a call for a remote on that node end now (idle
        // ones notice by themselves); the guests' waits for home wake up.
        let (busy, waits): (KVec<u32>, KVec<Arc<CallWait>>) = {
            let r = self.reg.lock();
            let mut b = KVec::new();
            for d in r.deputies.iter().filter(|d| d.node.load(Ordering::Relaxed) == node && d.native.load(Ordering::Acquire)) {
                let _ = b.push(d.pid, GFP_KERNEL);
            }
            let mut w = KVec::new();
            for x in r.waits.iter().filter(|w| w.home == node) {
                let _ = w.push(x.clone(), GFP_KERNEL);
            }
            (b, w)
        };
        for pid in busy.iter() {
            pr_warn!("pid {}: node {} is down; the process is lost (SIGKILL)\n", pid, node);
            if let Ok(t) = TaskRef::find(*pid) {
                t.signal(SIGKILL);
            }
        }
        for w in waits.iter() {
            w.cv.notify_all();
        }
        let pids: KVec<u32> = {
            let r = self.reg.lock();
            let mut v = KVec::new();
            for g in r.guests.iter().filter(|g| g.home_node == node && !g.left) {
                let _ = v.push(g.pid, GFP_KERNEL);
            }
            v
        };
        for pid in pids.iter() {
            pr_warn!("guest pid {}: its home node {} is down; killing it\n", pid, node);
            if let Ok(t) = TaskRef::find(*pid) {
                t.signal(SIGKILL);
            }
        }
    }

    /// Stops every guest (module unload).
    pub(crate) fn stop(&self) {
        self.balancer.stop();
        let stubs = core::mem::take(&mut self.reg.lock().stubs);
        drop(stubs);
    }
}

/// The guest hook: called for every system call on this node with
/// preemption disabled. Must not sleep.
pub(crate) fn on_syscall(m: &Mover, regs: &mut bindings::pt_regs, nr: i64) {
    if m.nguests.load(Ordering::Acquire) == 0 {
        return;
    }
    let tgid = uctx::ids().1;
    // Most callers are not in the table: say so without the lock.
    if filter_slot(tgid).load(Ordering::Acquire) == 0 {
        return;
    }
    let ids = {
        let t = m.hook_ids.lock();
        t.iter().find(|s| s.pid == tgid && tgid != 0).copied()
    };
    let Some(ids) = ids else { return };
    if ids.deputy {
        // A deputy back from a call it made for its remote, or caught by
        // its signal gate.
        if nr == MAGIC_RET || nr == MAGIC_SIG {
            regs.orig_ax = u64::MAX as _;
            let (a, b, c) = (regs.di as u64, regs.si as u64, regs.r10 as u64);
            if let Some(me) = MOVER.get() {
                let _ = crate::sys::taskwork::queue_current(move || me.after_native(nr, a, b, c), GFP_ATOMIC);
            }
        }
        return;
    }
    match nr {
        NR_GETPID => {
            regs.orig_ax = u64::MAX as _;
            regs.ax = ids.home_tgid as _;
            return;
        }
        NR_GETTID => {
            regs.orig_ax = u64::MAX as _;
            regs.ax = ids.home_pid as _;
            return;
        }
        NR_EXIT | NR_EXIT_GROUP => return,
        _ => {}
    }
    match syscalls::lookup(nr as u64).disposition {
        Disposition::Local => {}
        Disposition::Refuse(e) => {
            regs.orig_ax = u64::MAX as _;
            regs.ax = (-(e as i64)) as u64 as _;
            if first_time(nr) {
                pr_warn!("migrated processes may not call {} ({}): it fails with errno {} (docs/syscalls.md)\n", syscalls::name(nr as u64), nr, e);
            }
        }
        Disposition::Forward => {
            let args = [regs.di as u64, regs.si as u64, regs.dx as u64, regs.r10 as u64, regs.r8 as u64, regs.r9 as u64];
            if let Ok((plans, largs)) = fwd::plan(&syscalls::lookup(nr as u64), &args) {
                regs.orig_ax = u64::MAX as _;
                regs.ax = (-ENOMEM_) as u64 as _;
                let Some(me) = MOVER.get() else { return };
                let _ = crate::sys::taskwork::queue_current(move || me.forward_call(nr, args, plans, largs), GFP_ATOMIC);
                return;
            }
            if first_time(nr) {
                pr_info!("{} ({}) is not forwarded yet: a migrated process calling it is brought home first\n", syscalls::name(nr as u64), nr);
            }
            bring_home(regs, nr);
        }
        Disposition::BringHome => bring_home(regs, nr),
    }
}

/// How many entries of the hook's table have a pid in each class (pid
/// modulo 256): a system call whose caller's class is empty skips the
/// table's lock.
static HOOK_FILTER: [core::sync::atomic::AtomicU32; 256] = [const { core::sync::atomic::AtomicU32::new(0) }; 256];

fn filter_slot(pid: u32) -> &'static core::sync::atomic::AtomicU32 {
    &HOOK_FILTER[(pid % 256) as usize]
}

/// System calls already reported in dmesg (one bit per number).
static REPORTED: [core::sync::atomic::AtomicU64; 8] = [const { core::sync::atomic::AtomicU64::new(0) }; 8];

/// Whether this is the first time `nr` is reported (then marks it).
fn first_time(nr: i64) -> bool {
    let Ok(n) = usize::try_from(nr) else { return false };
    let Some(word) = REPORTED.get(n / 64) else { return false };
    let bit = 1u64 << (n % 64);
    word.fetch_or(bit, Ordering::Relaxed) & bit == 0
}

/// Skips call `nr` and moves the process home, where it is made again.
fn bring_home(regs: &mut bindings::pt_regs, nr: i64) {
    regs.orig_ax = u64::MAX as _;
    regs.ax = (-ENOMEM_) as u64 as _;
    let Some(me) = MOVER.get() else { return };
    let _ = crate::sys::taskwork::queue_current(
        move || {
            // Re-issue the call at home: back to the `syscall` instruction
            // with its number in rax.
            uctx::with_pt_regs(|r| {
                r.ax = nr as u64 as _;
                r.ip = (r.ip as u64).wrapping_sub(2) as _;
            });
            let home = me.reg.lock().guests.iter().find(|g| g.pid == uctx::ids().1 && !g.left).map(|g| g.home_node);
            let Some(home) = home else { return };
            match me.move_current(home, Cause::Syscall) {
                Ok((pid, _)) => me.after_departure(home, pid),
                Err(code) => {
                    pr_warn!("guest pid {}: cannot go home for syscall {}: {}\n", uctx::ids().1, syscalls::name(nr as u64), refusal::explain(code));
                    uctx::with_pt_regs(|r| {
                        r.ip = (r.ip as u64).wrapping_add(2) as _;
                        r.ax = (-5i64) as u64 as _;
                    });
                }
            }
        },
        GFP_ATOMIC,
    );
}

/// The node's mover, for the hook (set while the module is loaded).
pub(crate) static MOVER: MoverSlot = MoverSlot(core::sync::atomic::AtomicPtr::new(core::ptr::null_mut()));

/// Holds one `Arc<Mover>` reference as a raw pointer for the hook.
pub(crate) struct MoverSlot(core::sync::atomic::AtomicPtr<Mover>);

impl MoverSlot {
    pub(crate) fn set(&self, m: &Arc<Mover>) {
        let raw = Arc::into_raw(m.clone()).cast_mut();
        let old = self.0.swap(raw, Ordering::AcqRel);
        if !old.is_null() {
            // SAFETY: `old` came from `Arc::into_raw` in an earlier `set`.
            drop(unsafe { Arc::from_raw(old) });
        }
    }

    pub(crate) fn clear(&self) {
        let old = self.0.swap(core::ptr::null_mut(), Ordering::AcqRel);
        if !old.is_null() {
            // SAFETY: `old` came from `Arc::into_raw` in `set`.
            drop(unsafe { Arc::from_raw(old) });
        }
    }

    /// A new reference to the mover, if set.
    pub(crate) fn get(&self) -> Option<Arc<Mover>> {
        let p = self.0.load(Ordering::Acquire);
        if p.is_null() {
            return None;
        }
        // SAFETY: `p` holds a reference (from `set`) that `clear` drops only
        // after the hook is unregistered and no probe runs any more; we
        // take one more for the caller.
        let b: kernel::sync::ArcBorrow<'_, Mover> = unsafe { kernel::sync::ArcBorrow::from_raw(p) };
        Some(b.into())
    }

    /// Borrows the mover for the duration of `f` (no refcount traffic).
    pub(crate) fn with<R>(&self, f: impl FnOnce(&Mover) -> R) -> Option<R> {
        let p = self.0.load(Ordering::Acquire);
        if p.is_null() {
            return None;
        }
        // SAFETY: as in `get`; the reference outlives the call.
        Some(f(unsafe { &*p }))
    }
}

/// Sets the current task's registers to start the restorer.
fn enter_restorer(entry: u64, stack: u64) {
    uctx::block_all_signals();
    uctx::with_pt_regs(|r| {
        *r = bindings::pt_regs::default();
        r.ip = entry as _;
        r.sp = stack as _;
        r.__bindgen_anon_1.csx = image::USER_CS;
        r.__bindgen_anon_2.ssx = image::USER_DS;
        r.flags = 0x202;
        r.orig_ax = u64::MAX as _;
    });
}

/// Ends the current (deputy) task with wait status `status` by returning
/// into a trampoline: `exit_group(code)`, or the default action of the
/// fatal signal.
fn replay_exit(tgid: u32, status: u32) {
    let sig = status & 0x7f;
    if sig == SIGKILL {
        uctx::signal_self(SIGKILL);
        return;
    }
    let Ok(mut buf) = KVec::from_elem(0u8, restore::SCRATCH_LEN, GFP_KERNEL) else {
        uctx::signal_self(SIGKILL);
        return;
    };
    let r = (|| -> Result<(u64, u64)> {
        let scratch = umem::map_anon(0, restore::SCRATCH_LEN as u64, image::PROT_READ | image::PROT_WRITE | image::PROT_EXEC, false)?;
        let mut b = Builder::new(scratch, &mut buf).map_err(|_| EINVAL)?;
        if sig == 0 {
            b.syscall(NR_EXIT_GROUP as u64, [((status >> 8) & 0xff) as u64, 0, 0, 0, 0, 0]).map_err(|_| EINVAL)?;
        } else {
            // Default action, unblocked, then the signal itself.
            b.sigaction(sig, &image::SigAction::default()).map_err(|_| EINVAL)?;
            let mask = b.data(&(1u64 << (sig - 1)).to_le_bytes(), 8).map_err(|_| EINVAL)?;
            b.syscall(14, [1, mask, 0, 8, 0, 0]).map_err(|_| EINVAL)?;
            b.syscall(62, [tgid as u64, sig as u64, 0, 0, 0, 0]).map_err(|_| EINVAL)?;
            b.syscall(NR_EXIT_GROUP as u64, [128 + sig as u64, 0, 0, 0, 0, 0]).map_err(|_| EINVAL)?;
        }
        let (entry, stack) = (b.entry(), b.stack_top());
        umem::write(scratch, &buf).map_err(|_| EFAULT)?;
        Ok((entry, stack))
    })();
    match r {
        Ok((entry, stack)) => enter_restorer(entry, stack),
        Err(_) => uctx::signal_self(SIGKILL),
    }
}

/// Unmaps every area of the current task but the vDSO pair.
fn drop_user_memory() {
    let vdso = uctx::vdso();
    if let Ok(areas) = umem::areas(vdso) {
        for v in areas.iter() {
            if v.flags & (image::VMA_VDSO | image::VMA_VVAR) == 0 {
                let _ = umem::unmap(v.start, v.end - v.start);
            }
        }
    }
}

/// A one-word name for a refusal code (events).
fn has_pages(v: &Vma) -> bool {
    v.flags & image::VMA_NO_PAGES == 0 && v.prot & image::PROT_READ != 0
}

fn is_zero(b: &[u8]) -> bool {
    b.iter().all(|x| *x == 0)
}

fn until_nul(s: &[u8]) -> &[u8] {
    let n = s.iter().position(|c| *c == 0).unwrap_or(s.len());
    &s[..n]
}

/// `v` in decimal, NUL-terminated, in `buf`.
fn fmt_u64(mut v: u64, buf: &mut [u8; 24]) -> &[u8] {
    let mut i = buf.len() - 1;
    buf[i] = 0;
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    &buf[i..]
}

fn errno_of(code: u32) -> Error {
    match code {
        refusal::UNKNOWN_NODE => err::ehostunreach(),
        refusal::LINK => err::econnreset(),
        refusal::CANT_MOVE => EPERM,
        refusal::ALREADY_THERE => err::ealready(),
        refusal::IN_PROGRESS => EBUSY,
        refusal::GONE => ESRCH,
        refusal::NO_TRANSPORT => err::enotconn(),
        refusal::CAPTURE => EIO,
        c => RefuseReason::from_code(c as u16).map(|r| Error::from_errno(-r.errno())).unwrap_or(EIO),
    }
}

/// The errno for a process that cannot move: EBUSY when only the lock
/// stands in the way (it may move once unlocked), EINVAL otherwise.
fn cant_move_errno(reasons: u32) -> Error {
    if reasons == abi::cantmove::LOCKED {
        EBUSY
    } else {
        EINVAL
    }
}

/// Takes the stub threads whose work has ended out of `v`, for the caller
/// to drop (reap). On allocation failure nothing is taken.
fn take_done(v: &mut KVec<(u64, KThread)>) -> KVec<(u64, KThread)> {
    let mut done = KVec::new();
    let _ = super::split_off(v, &mut done, |t| t.1.finished());
    done
}

/// The mover's registrations while the module is loaded: the system-call
/// hook and the link from the transport. Dropped before the cluster stops.
pub(crate) struct Running {
    cluster: Arc<Cluster>,
    mover: Arc<Mover>,
    balancer_thread: Option<KThread>,
    hook: Option<crate::sys::hook::Hook>,
}

fn hook_entry(regs: &mut bindings::pt_regs, nr: i64) {
    MOVER.with(|m| on_syscall(m, regs, nr));
}

impl Running {
    pub(crate) fn start(cluster: &Arc<Cluster>, mover: &Arc<Mover>) -> Result<Self> {
        MOVER.set(mover);
        let hook = match crate::sys::hook::Hook::install(hook_entry) {
            Ok(h) => h,
            Err(e) => {
                MOVER.clear();
                pr_err!("cannot hook system calls (sys_enter tracepoint): {:?}\n", e);
                return Err(e);
            }
        };
        *cluster.sink.lock() = Some(mover.clone());
        let (m2, mg) = (mover.clone(), mover.migration.clone());
        let th = KThread::spawn(c_str!("roam-balance"), move || {
            while !crate::sys::thread::should_stop() {
                m2.balancer.tick(&m2, &mg);
                let ms = m2.cluster.tun.interval_ms.load(Ordering::Relaxed).max(100);
                crate::sys::thread::sleep_ms(ms);
            }
        });
        let th = match th {
            Ok(t) => t,
            Err(e) => {
                *cluster.sink.lock() = None;
                drop(hook);
                MOVER.clear();
                return Err(e);
            }
        };
        Ok(Running { cluster: cluster.clone(), mover: mover.clone(), balancer_thread: Some(th), hook: Some(hook) })
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        drop(self.balancer_thread.take());
        *self.cluster.sink.lock() = None;
        // Unregistering waits for running probes; only then may the hook's
        // reference to the mover go.
        drop(self.hook.take());
        MOVER.clear();
        self.mover.stop();
    }
}

/// Maps the deputy's scratch area in the current (deputy) task and writes
/// its two code sequences: the call trampoline (`syscall`, then report the
/// result through the `MAGIC_RET` gate) and the signal gate (report the
/// signal, the interrupted rax and rip through `MAGIC_SIG`).
fn setup_deputy_scratch() -> Result<u64> {
    let base = umem::map_anon(0, DEPUTY_SCRATCH_LEN, image::PROT_READ | image::PROT_WRITE | image::PROT_EXEC, false)?;
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
