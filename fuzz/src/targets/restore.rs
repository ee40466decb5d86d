//! `restore`: the restorer built from a decoded image, with the steps a
//! destination's commit adds (`kmod/migrate/incoming.rs`): an
//! `rt_sigaction` per handled signal, `arch_prctl` for the fs and gs
//! bases, the timers ([`rearm`]), `prlimit` for a CPU limit, the pending
//! signals, then [`Builder::finish`] with the registers, mask, alternate
//! stack and xstate. (The engine's `mremap` of the vDSO and `mprotect`
//! per area are left out: their count depends on the areas, not on what
//! the format bounds.)
//!
//! The input is a message sequence ([`crate::framed`]): `Begin`,
//! `Signals`, `Timers`, optionally `Creds`, then 21 bytes of parameters
//! (scratch base u64, the process's clock now u64, its new pid u32, and
//! whether it is at home u8).
//!
//! Checks: [`Builder::new`] refuses exactly the bases its documentation
//! names; the scratch layout holds every image the decoders accept (the
//! restorer's constant assertions say so), so building fails only with
//! `BadXstate`, and exactly for the xstates its documentation rejects;
//! a finished restorer starts at the base, keeps its stack where it
//! says, uses at most the scratch area and makes at most [`MAX_CALLS`]
//! calls, and [`rearm`] names the first timer id exactly when there are
//! timers.

use super::image::sample::Sample;
use crate::ensure;
use crate::framed;
use crate::target::{Cx, Target, Violation};
use roam_proto::image::{
    decode_begin, decode_creds, decode_signals, decode_timers, PendingSignal, Regs, SigState, TimerState, MAX_XSTATE,
    USER_END,
};
use roam_proto::rearm::rearm;
use roam_proto::restore::{Builder, RestoreError, DATA_OFFSET, MAX_CALLS, SCRATCH_LEN, STACK_LEN, XSTATE_MIN};

/// What the restorer is built from: the decoded parts of an image and
/// the destination's own numbers.
pub struct Parts<'a> {
    pub regs: Regs,
    pub sig: SigState,
    pub xstate: &'a [u8],
    pub pending: &'a [PendingSignal],
    pub timers: &'a TimerState,
    /// The soft and hard `RLIMIT_CPU`.
    pub cpu_limit: (u64, u64),
    pub tgid: u32,
    pub tid: u32,
    /// Where the scratch area is mapped.
    pub base: u64,
    /// The process's CLOCK_MONOTONIC now.
    pub now_ns: u64,
    /// Its pid where it now runs.
    pub pid: u32,
    /// Whether it came home (every action is then set).
    pub home: bool,
}

/// Whether the restorer documentation rejects `x` (`BadXstate`).
fn xstate_bad(x: &[u8]) -> bool {
    let word = |at: usize| u32::from_le_bytes([x[at], x[at + 1], x[at + 2], x[at + 3]]);
    if x.len() < XSTATE_MIN || x.len() > MAX_XSTATE as usize {
        return true;
    }
    if word(24) >> 16 != 0 || x[520..XSTATE_MIN].iter().any(|b| *b != 0) {
        return true;
    }
    word(464) == roam_proto::restore::FP_XSTATE_MAGIC1 && !(XSTATE_MIN..=x.len()).contains(&(word(480) as usize))
}

/// Builds the restorer for `p` as a destination's commit does and checks
/// the builder's promises.
pub fn build(p: &Parts<'_>, cx: &mut Cx) -> Result<(), Violation> {
    let mut buf = vec![0u8; SCRATCH_LEN];
    let fits = matches!(p.base.checked_add(SCRATCH_LEN as u64), Some(end) if end <= USER_END);
    let bad_base = p.base == 0 || !p.base.is_multiple_of(4096) || !fits;
    let mut b = match Builder::new(p.base, &mut buf) {
        Ok(b) => b,
        Err(e) => {
            cx.hit("restorer", e.name());
            ensure!(e == RestoreError::BadBase && bad_base, "Builder::new({:#x}) refused with {e:?}", p.base);
            return Ok(());
        }
    };
    ensure!(!bad_base, "Builder::new took base {:#x}", p.base);
    let step = |r: Result<(), RestoreError>, what: &str| -> Result<(), Violation> {
        match r {
            Ok(()) => Ok(()),
            Err(e) => Err(Violation {
                check: "the restorer holds every image the decoders accept",
                detail: format!("{what} failed with {e:?}"),
            }),
        }
    };
    for (i, a) in p.sig.actions.iter().enumerate() {
        let signo = i as u32 + 1;
        if (a.handler != 0 || p.home) && signo != 9 && signo != 19 {
            step(b.sigaction(signo, a), "rt_sigaction")?;
        }
    }
    step(b.syscall(158, [0x1002, p.regs.fs_base, 0, 0, 0, 0]), "arch_prctl(ARCH_SET_FS)")?;
    if p.regs.gs_base != 0 {
        step(b.syscall(158, [0x1001, p.regs.gs_base, 0, 0, 0, 0]), "arch_prctl(ARCH_SET_GS)")?;
    }
    let first_id = rearm(&mut b, p.timers, p.now_ns, p.pid);
    step(first_id.map(|_| ()), "rearm")?;
    let first = p.timers.posix().first().map(|t| t.id);
    ensure!(first_id == Ok(first), "rearm returned {first_id:?} for first timer {first:?}");
    if !p.home && p.cpu_limit.0 != u64::MAX {
        let mut l = [0u8; 16];
        l[..8].copy_from_slice(&p.cpu_limit.0.to_le_bytes());
        l[8..].copy_from_slice(&p.cpu_limit.1.to_le_bytes());
        let at = b.data(&l, 8);
        step(at.map(|_| ()), "prlimit's data")?;
        step(b.syscall(302, [0, 0, at.unwrap_or(0), 0, 0, 0]), "prlimit64")?;
    }
    for s in p.pending {
        step(b.queue_signal(p.tgid, p.tid, s), "rt_sigqueueinfo")?;
    }
    let (entry, stack, calls) = (b.entry(), b.stack_top(), b.calls());
    ensure!(
        entry == p.base && stack == p.base + (DATA_OFFSET + STACK_LEN) as u64,
        "entry {entry:#x}, stack {stack:#x}"
    );
    ensure!(calls <= MAX_CALLS, "{calls} calls");
    let done = b.finish(&p.regs, p.sig.blocked, &p.sig.altstack, p.xstate);
    let bad = xstate_bad(p.xstate);
    match done {
        Ok(used) => {
            cx.hit("restorer", "built");
            ensure!(!bad, "finish took an xstate its documentation rejects");
            ensure!(used <= SCRATCH_LEN && used > DATA_OFFSET + STACK_LEN, "the restorer uses {used} bytes");
            ensure!(buf[DATA_OFFSET - 1] == 0xcc, "the code region does not end in int3");
        }
        Err(RestoreError::BadXstate) => {
            cx.hit("restorer", "bad_xstate");
            ensure!(bad, "finish refused an xstate its documentation accepts");
        }
        Err(e) => step(Err(e), "finish")?,
    }
    Ok(())
}

/// The `restore` target.
pub struct Restore;

/// The parameters message: base, clock, pid, home.
fn params(base: u64, now_ns: u64, pid: u32, home: bool) -> Vec<u8> {
    let mut p = base.to_le_bytes().to_vec();
    p.extend_from_slice(&now_ns.to_le_bytes());
    p.extend_from_slice(&pid.to_le_bytes());
    p.push(u8::from(home));
    p
}

impl Target for Restore {
    fn name(&self) -> &'static str {
        "restore"
    }

    fn about(&self) -> &'static str {
        "the restorer built from decoded Begin, Signals, Timers and Creds (restore::Builder, rearm::rearm)"
    }

    fn seeds(&self) -> Vec<Vec<u8>> {
        (0..8)
            .map(|v| {
                let s = Sample::new(v);
                let base = 0x7f00_1234_0000 + v as u64 * 0x1000_0000;
                framed::join(&[
                    s.begin(),
                    s.signals(),
                    s.timers(),
                    s.creds(),
                    params(base, 9_000_000_000, 777, v % 3 == 0),
                ])
            })
            .collect()
    }

    fn max_len(&self) -> usize {
        40 * 1024
    }

    fn framed(&self) -> bool {
        true
    }

    fn run(&self, data: &[u8], cx: &mut Cx) -> Result<(), Violation> {
        let msgs = framed::split(data);
        let get = |i: usize| msgs.get(i).copied().unwrap_or(&[]);
        let begin = match decode_begin(get(0)) {
            Ok(b) => b,
            Err(e) => {
                cx.hit("begin", e.name());
                return Ok(());
            }
        };
        let signals = match decode_signals(get(1)) {
            Ok(s) => s,
            Err(e) => {
                cx.hit("signals", e.name());
                return Ok(());
            }
        };
        let timers = match decode_timers(get(2)).and_then(|t| t.state()) {
            Ok(t) => t,
            Err(e) => {
                cx.hit("timers", e.name());
                return Ok(());
            }
        };
        let (cpu_limit, rest) = match decode_creds(get(3)) {
            Ok(c) => ((c.creds.rlimits[0].cur, c.creds.rlimits[0].max), 4),
            Err(_) => ((u64::MAX, u64::MAX), 3),
        };
        let p = get(rest);
        let word = |at: usize, n: usize| {
            p.get(at..at + n).map_or(0, |b| b.iter().rev().fold(0u64, |v, x| v << 8 | u64::from(*x)))
        };
        let pending: Vec<PendingSignal> = (0..signals.len()).filter_map(|i| signals.get(i)).collect();
        ensure!(pending.len() == signals.len(), "a decoded Signals has unreadable entries");
        let parts = Parts {
            regs: begin.regs,
            sig: begin.sig_state(),
            xstate: begin.xstate,
            pending: &pending,
            timers: &timers,
            cpu_limit,
            tgid: begin.header.tgid,
            tid: begin.header.pid,
            base: word(0, 8),
            now_ns: word(8, 8),
            pid: word(16, 4) as u32,
            home: p.get(20).is_some_and(|h| h & 1 != 0),
        };
        build(&parts, cx)
    }
}
