//! `image_begin`, `image_signals`, `image_timers`, `image_creds`: the
//! image messages that describe the process before its memory, each
//! decoded as the destination decodes it and checked against what its
//! decoder promises.
//!
//! * `Begin`: the header passes its own check, the xstate is exactly
//!   `xstate_len` bytes, the message exactly `begin_len` bytes; the view's
//!   accessors agree with the decoded signal state; re-encoding gives the
//!   same bytes.
//! * `Signals`: at most [`MAX_PENDING`], every entry readable and valid.
//! * `Timers`: at most [`MAX_TIMERS`], readable, valid, in id order with
//!   at most [`MAX_TIMER_HOLES`] holes.
//! * `Creds`: at most [`MAX_GROUPS`] groups, credentials the kernel
//!   would build.
//!
//! And each re-encodes to the bytes it came from (the formats have no
//! slack: padding must be zero).

use super::sample::Sample;
use crate::ensure;
use crate::target::{Cx, Field, Target, Violation};
use roam_proto::image::*;
use roam_proto::policy::{self, Tunables};

/// Longest input for the message targets.
pub const BIG: usize = 72 * 1024;

/// This node, for the acceptance checks.
const ME: u32 = 1;

/// Defines a target struct whose run is a `check_*` function.
macro_rules! message_target {
    ($ty:ident, $name:literal, $about:literal, $check:ident, $seeds:expr, $fields:expr) => {
        #[doc = concat!("The `", $name, "` target.")]
        pub struct $ty;

        impl Target for $ty {
            fn name(&self) -> &'static str {
                $name
            }
            fn about(&self) -> &'static str {
                $about
            }
            fn seeds(&self) -> Vec<Vec<u8>> {
                $seeds
            }
            fn max_len(&self) -> usize {
                BIG
            }
            fn fields(&self) -> &'static [Field] {
                $fields
            }
            fn run(&self, data: &[u8], cx: &mut Cx) -> Result<(), Violation> {
                $check(data, cx)
            }
        }
    };
}

/// One message per sample image variant.
fn each(f: impl Fn(&Sample) -> Vec<u8>) -> Vec<Vec<u8>> {
    (0..8).map(|v| f(&Sample::new(v))).collect()
}

static BEGIN_FIELDS: [Field; 7] = [
    Field::len(62, 4, BEGIN_FIXED_LEN, 1),
    Field::value(4, 2),
    Field::value(50, 4),
    Field::value(54, 8),
    Field::value(66, 2),
    Field::value(232, 8),
    Field::value(240, 8),
];
message_target!(
    Begin,
    "image_begin",
    "Begin messages (image::decode_begin: header, registers, layout, signal state, xstate)",
    check_begin,
    each(Sample::begin),
    &BEGIN_FIELDS
);

static SIGNALS_FIELDS: [Field; 4] =
    [Field::len(4, 4, SIGNALS_HEAD_LEN, PENDING_LEN), Field::value(8, 4), Field::value(12, 4), Field::value(16, 4)];
message_target!(
    Signals,
    "image_signals",
    "Signals messages (image::decode_signals: the pending signals)",
    check_signals,
    each(Sample::signals),
    &SIGNALS_FIELDS
);

static TIMERS_FIELDS: [Field; 6] = [
    Field::len(TIMERS_HEAD_LEN - 4, 4, TIMERS_HEAD_LEN, PosixTimer::SIZE),
    Field::value(TIMERS_HEAD_LEN, 4),
    Field::value(TIMERS_HEAD_LEN + 4, 4),
    Field::value(TIMERS_HEAD_LEN + 8, 4),
    Field::value(TIMERS_HEAD_LEN + 40, 4),
    Field::value(TIMERS_HEAD_LEN + PosixTimer::SIZE, 4),
];
message_target!(
    Timers,
    "image_timers",
    "Timers messages (image::decode_timers: interval and POSIX timers, CPU times)",
    check_timers,
    each(Sample::timers),
    &TIMERS_FIELDS
);

static CREDS_FIELDS: [Field; 6] = [
    Field::len(CREDS_HEAD_LEN - 4, 4, CREDS_HEAD_LEN, 4),
    Field::value(4, 4),
    Field::value(36, 4),
    Field::value(40, 4),
    Field::value(52, 8),
    Field::value(76, 8),
];
message_target!(
    CredsMsg,
    "image_creds",
    "Creds messages (image::decode_creds: ids, groups, capabilities, limits)",
    check_creds,
    each(Sample::creds),
    &CREDS_FIELDS
);

/// A decoded `Begin`'s promises.
pub fn check_begin(data: &[u8], cx: &mut Cx) -> Result<(), Violation> {
    let v = match decode_begin(data) {
        Ok(v) => v,
        Err(e) => {
            cx.hit("begin", e.name());
            return Ok(());
        }
    };
    cx.hit("begin", "ok");
    let h = v.header;
    ensure!(h.check().is_ok(), "decoded header fails its check: {h:?}");
    let xlen = h.xstate_len as usize;
    ensure!(
        v.xstate.len() == xlen && xlen <= MAX_XSTATE as usize,
        "xstate of {} bytes, header says {xlen}",
        v.xstate.len()
    );
    ensure!(data.len() == begin_len(xlen), "Begin of {} bytes with {xlen} bytes of xstate", data.len());
    let sig = v.sig_state();
    ensure!(v.blocked() == sig.blocked, "blocked() {:#x} differs from the state's {:#x}", v.blocked(), sig.blocked);
    ensure!(v.altstack() == sig.altstack, "altstack() differs from the state's");
    for signo in 0..=NSIG + 1 {
        let want = signo.checked_sub(1).and_then(|i| sig.actions.get(i).copied());
        ensure!(v.sig_action(signo) == want, "sig_action({signo}) differs from the state's");
    }
    let mut raw = [0u8; SigState::SIZE];
    ensure!(
        sig.encode(&mut raw) == Ok(SigState::SIZE) && SigState::decode(&raw) == Ok(sig),
        "the signal state does not round-trip"
    );
    let mut again = vec![0u8; data.len()];
    let n = encode_begin(&h, &v.regs, &v.mm, &sig, v.xstate, &mut again);
    ensure!(n == Ok(data.len()) && again == data, "re-encoding the Begin gives {n:?} and other bytes");
    cx.hit("regs", if v.regs.user_mode_ok() { "user_mode" } else { "not_user_mode" });
    let _ = h.comm_bytes();
    // The destination's first decisions on it (incoming.rs).
    cx.hit("allowed", if policy::allowed_on(h.allowed, ME) { "yes" } else { "no" });
    let mut me = roam_proto::loadvec::LoadEntry { node: ME, load: 1200, ..Default::default() };
    for load in [0, 1200, u32::MAX] {
        me.load = load;
        let _ = policy::accept(&me, h.sender_load, 3, &Tunables::DEFAULT, false);
    }
    Ok(())
}

/// A decoded `Signals`'s promises.
pub fn check_signals(data: &[u8], cx: &mut Cx) -> Result<(), Violation> {
    let v = match decode_signals(data) {
        Ok(v) => v,
        Err(e) => {
            cx.hit("signals", e.name());
            return Ok(());
        }
    };
    cx.hit("signals", if v.is_empty() { "ok_none" } else { "ok" });
    let n = v.len();
    ensure!(n <= MAX_PENDING, "{n} pending signals");
    ensure!(data.len() == signals_len(n), "{n} signals in {} bytes", data.len());
    let mut sigs = Vec::with_capacity(n);
    for i in 0..n {
        let s = v.get(i);
        ensure!(s.is_some_and(|s| s.check().is_ok()), "signal {i} of a decoded message: {s:?}");
        sigs.extend(s);
    }
    ensure!(v.get(n).is_none(), "a signal past the end");
    let mut again = vec![0u8; data.len()];
    let r = encode_signals(&sigs, &mut again);
    ensure!(r == Ok(data.len()) && again == data, "re-encoding the signals gives {r:?} and other bytes");
    Ok(())
}

/// A decoded `Timers`'s promises.
pub fn check_timers(data: &[u8], cx: &mut Cx) -> Result<(), Violation> {
    let v = match decode_timers(data) {
        Ok(v) => v,
        Err(e) => {
            cx.hit("timers", e.name());
            return Ok(());
        }
    };
    let s = v.state();
    ensure!(s.is_ok(), "a decoded Timers does not read: {s:?}");
    let s = s.unwrap_or_default();
    cx.hit("timers", if s.count == 0 { "ok_none" } else { "ok" });
    let mut into = TimerState { count: 5, ..TimerState::default() };
    ensure!(v.read_into(&mut into).is_ok() && into == s, "read_into differs from state()");
    ensure!(s.count <= MAX_TIMERS && s.posix().len() == s.count, "{} timers", s.count);
    ensure!(s.check().is_ok(), "decoded timers fail their check: {:?}", s.check());
    ensure!(s.holes() <= MAX_TIMER_HOLES, "{} holes", s.holes());
    ensure!(s.posix().windows(2).all(|w| w[0].id < w[1].id), "timer ids out of order");
    ensure!(data.len() == timers_len(s.count), "{} timers in {} bytes", s.count, data.len());
    let mut sorted = s;
    sorted.sort();
    ensure!(sorted == s, "sorting sorted timers changed them");
    for t in s.posix() {
        let _ = (t.cpu_clock(), timer_clock_ok(t.clock));
    }
    let mut again = vec![0u8; data.len()];
    let r = encode_timers(&s, &mut again);
    ensure!(r == Ok(data.len()) && again == data, "re-encoding the timers gives {r:?} and other bytes");
    Ok(())
}

/// A decoded `Creds`'s promises.
pub fn check_creds(data: &[u8], cx: &mut Cx) -> Result<(), Violation> {
    let v = match decode_creds(data) {
        Ok(v) => v,
        Err(e) => {
            cx.hit("creds", e.name());
            return Ok(());
        }
    };
    cx.hit("creds", if v.creds.privileged() { "ok_privileged" } else { "ok" });
    let groups: Vec<u32> = v.groups().collect();
    ensure!(groups.len() == v.len() && v.len() <= MAX_GROUPS, "{} groups ({} by len())", groups.len(), v.len());
    ensure!(data.len() == creds_len(groups.len()), "{} groups in {} bytes", groups.len(), data.len());
    ensure!(v.creds.check(&groups).is_ok(), "decoded credentials fail their check: {:?}", v.creds.check(&groups));
    let mut again = vec![0u8; data.len()];
    let r = encode_creds(&v.creds, &groups, &mut again);
    ensure!(r == Ok(data.len()) && again == data, "re-encoding the credentials gives {r:?} and other bytes");
    Ok(())
}
