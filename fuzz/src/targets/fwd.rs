//! `fwd_call` and `fwd_ret`: forwarded system calls
//! ([`roam_proto::fwd`]). A `Call` is what a deputy receives and acts on
//! (`kmod/migrate/native.rs`): decoded, looked up in the syscall table,
//! planned ([`plan`]) and its inputs laid out in the scratch area; a `Ret`
//! is what a remote receives (`remote.rs`).
//!
//! Checks: a decoded message re-encodes to the same bytes, has at most
//! six segments for distinct arguments below 6, none longer than the
//! largest buffer; a plan never needs more than [`MAX_BUF`] bytes for an
//! argument, passes null pointers as values, nulls the masks, sizes
//! buffers by their (lowered) length arguments and element arrays in whole
//! elements; and whatever the call's result and length words, no more
//! bytes go back than the argument's room ([`out_len`],
//! [`sized_out_len`], [`sized_cap`]).

use crate::ensure;
use crate::target::{Cx, Field, Target, Violation};
use roam_proto::fwd::{
    self, decode_call, decode_ret, encode_call, encode_ret, fcntl_plan, ioctl_plan, out_len, plan, sized_cap,
    sized_out_len, FwdError, Plan, Segment, CALL_HEAD, MAX_BUF, MAX_PATH, RET_HEAD,
};
use roam_proto::syscalls::{lookup, Arg, Disposition, SYSCALLS};

/// The snake_case name of a forwarding error.
fn name(e: FwdError) -> &'static str {
    match e {
        FwdError::Unsupported => "unsupported",
        FwdError::Truncated => "truncated",
        FwdError::Bad => "bad",
        FwdError::NoRoom => "no_room",
    }
}

/// The largest segment a message may carry.
const MAX_SEG: usize = if MAX_BUF > MAX_PATH { MAX_BUF } else { MAX_PATH };

/// Argument values a caller typically passes for `info`'s arguments.
fn typical_args(nr: u16, args: &[Arg; 6]) -> [u64; 6] {
    let mut out = [0u64; 6];
    for (i, a) in args.iter().enumerate() {
        out[i] = match a {
            Arg::None => 0,
            Arg::Int => 24,
            Arg::Fd => 3,
            _ => 0x7ffd_0000_0000 + i as u64 * 0x1_0000,
        };
    }
    match nr {
        16 => out[1] = 0x5401, // ioctl: TCGETS
        72 => out[1] = 5,      // fcntl: F_GETLK
        _ => {}
    }
    out
}

/// A `Call` for `nr` with `args`, carrying every input its plan reads.
fn call_for(nr: u16, args: [u64; 6]) -> Option<Vec<u8>> {
    let info = lookup(u64::from(nr));
    let (plans, lowered) = plan(&info, &args).ok()?;
    let mut data: Vec<(u8, Vec<u8>)> = Vec::new();
    for (i, p) in plans.iter().enumerate() {
        let bytes = match *p {
            Plan::In { path: true, .. } => b"/tmp/roam-fuzz\0".to_vec(),
            Plan::In { len, .. } | Plan::InOut { len } if len == 4 => 16u32.to_le_bytes().to_vec(),
            Plan::In { len, .. } | Plan::InOut { len } => (0..len.min(64)).map(|b| b as u8).collect(),
            Plan::Sized { max, .. } => vec![0x5a; max.min(16)],
            _ => continue,
        };
        data.push((i as u8, bytes));
    }
    let segs: Vec<Segment<'_>> = data.iter().map(|(arg, d)| Segment { arg: *arg, data: d }).collect();
    let mut out = vec![0u8; CALL_HEAD + data.iter().map(|(_, d)| d.len() + fwd::SEG_HEAD).sum::<usize>()];
    let n = encode_call(u32::from(nr) * 7 + 1, u32::from(nr), &lowered, &segs, &mut out).ok()?;
    out.truncate(n);
    Some(out)
}

/// A `Call` of every forwarded system call (with typical and with null
/// pointers), and a few that are not forwarded.
pub fn call_samples() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for info in SYSCALLS.iter().filter(|i| i.disposition == Disposition::Forward) {
        let args = typical_args(info.nr, &info.args);
        out.extend(call_for(info.nr, args));
        let nulls = args.map(|v| if v >= 0x7ffd_0000_0000 { 0 } else { v });
        if nulls != args {
            out.extend(call_for(info.nr, nulls));
        }
    }
    // ioctl by _IOC bits (in, out, both), fcntl with a lock to set.
    for (nr, cmd) in [(16u16, 0x4008_7201u64), (16, 0x8008_7202), (16, 0xc010_7203), (72, 6), (72, 16)] {
        let mut args = typical_args(nr, &lookup(u64::from(nr)).args);
        args[1] = cmd;
        out.extend(call_for(nr, args));
    }
    for nr in [57u16, 59, 500] {
        let mut b = vec![0u8; CALL_HEAD];
        if let Ok(n) = encode_call(1, u32::from(nr), &[0; 6], &[], &mut b) {
            b.truncate(n);
            out.push(b);
        }
    }
    out
}

/// `Ret` messages: failures without outputs, results with one or more.
pub fn ret_samples() -> Vec<Vec<u8>> {
    let big = vec![0x11u8; 300];
    let cases: [(i64, Vec<Segment<'_>>); 5] = [
        (0, vec![]),
        (-14, vec![]),
        (100, vec![Segment { arg: 1, data: &big[..100] }]),
        (4, vec![Segment { arg: 1, data: &big[..4] }, Segment { arg: 2, data: &big[..4] }]),
        (-512, vec![Segment { arg: 5, data: &big }]),
    ];
    cases
        .iter()
        .enumerate()
        .map(|(i, (result, segs))| {
            let mut out = vec![0u8; RET_HEAD + segs.iter().map(|s| s.data.len() + fwd::SEG_HEAD).sum::<usize>()];
            let n = encode_ret(i as u32 * 2, *result, segs, &mut out).expect("sample fits");
            out.truncate(n);
            out
        })
        .collect()
}

/// The `fwd_call` target.
pub struct Calls;

static CALL_FIELDS: [Field; 5] = [
    Field::value(56, 1),
    Field::len(58, 4, CALL_HEAD + fwd::SEG_HEAD, 1),
    Field::value(4, 4),
    Field::value(16, 8),
    Field::value(24, 8),
];

impl Target for Calls {
    fn name(&self) -> &'static str {
        "fwd_call"
    }

    fn about(&self) -> &'static str {
        "forwarded calls as a deputy takes them (fwd::decode_call, syscalls::lookup, fwd::plan, out_len/sized_*)"
    }

    fn seeds(&self) -> Vec<Vec<u8>> {
        call_samples()
    }

    fn max_len(&self) -> usize {
        16 * 1024
    }

    fn fields(&self) -> &'static [Field] {
        &CALL_FIELDS
    }

    fn run(&self, data: &[u8], cx: &mut Cx) -> Result<(), Violation> {
        check_call(data, cx)
    }
}

/// The `fwd_ret` target.
pub struct Rets;

static RET_FIELDS: [Field; 3] =
    [Field::value(12, 1), Field::len(14, 4, RET_HEAD + fwd::SEG_HEAD, 1), Field::value(4, 8)];

impl Target for Rets {
    fn name(&self) -> &'static str {
        "fwd_ret"
    }

    fn about(&self) -> &'static str {
        "answers to forwarded calls as a remote takes them (fwd::decode_ret)"
    }

    fn seeds(&self) -> Vec<Vec<u8>> {
        ret_samples()
    }

    fn max_len(&self) -> usize {
        16 * 1024
    }

    fn fields(&self) -> &'static [Field] {
        &RET_FIELDS
    }

    fn run(&self, data: &[u8], cx: &mut Cx) -> Result<(), Violation> {
        check_ret(data, cx)
    }
}

/// The promises about a decoded message's segments.
fn segments_ok<'a>(segs: impl Iterator<Item = Segment<'a>>) -> Result<Vec<Segment<'a>>, Violation> {
    let segs: Vec<Segment<'a>> = segs.collect();
    ensure!(segs.len() <= 6, "{} segments", segs.len());
    for (i, s) in segs.iter().enumerate() {
        ensure!(s.arg < 6, "segment for argument {}", s.arg);
        ensure!(s.data.len() <= MAX_SEG, "segment of {} bytes", s.data.len());
        ensure!(segs[..i].iter().all(|t| t.arg != s.arg), "two segments for argument {}", s.arg);
    }
    Ok(segs)
}

/// What a deputy does with a `Call` payload, up to the system call.
pub fn check_call(data: &[u8], cx: &mut Cx) -> Result<(), Violation> {
    let call = match decode_call(data) {
        Ok(c) => c,
        Err(e) => {
            cx.hit("call", name(e));
            return Ok(());
        }
    };
    cx.hit("call", "ok");
    let segs = segments_ok(call.segs.iter())?;
    let mut again = vec![0u8; data.len()];
    let n = encode_call(call.id, call.nr, &call.args, &segs, &mut again);
    ensure!(n == Ok(data.len()) && again == data, "re-encoding the call gives {n:?} and other bytes");
    for v in call.args {
        if let Some(p) = ioctl_plan(v) {
            ensure!(p.scratch() <= MAX_BUF, "ioctl_plan({v:#x}) needs {} bytes", p.scratch());
        }
        if let Some(p) = fcntl_plan(v) {
            ensure!(p.scratch() <= MAX_BUF, "fcntl_plan({v:#x}) needs {} bytes", p.scratch());
        }
    }
    let _ = fwd::waits_for_events(u64::from(call.nr));
    let info = lookup(u64::from(call.nr));
    if info.disposition != Disposition::Forward {
        cx.hit("deputy", "not_forwarded");
        return Ok(());
    }
    let (plans, lowered) = match plan(&info, &call.args) {
        Ok(x) => x,
        Err(e) => {
            cx.hit("plan", name(e));
            return Ok(());
        }
    };
    cx.hit("plan", "ok");
    plans_ok(&info.args, &call.args, &plans, &lowered)?;
    // The deputy's layout: each input no longer than its room.
    let mut total = 0usize;
    for (i, p) in plans.iter().enumerate() {
        cx.hit(
            "plan_arg",
            match p {
                Plan::Value => "value",
                Plan::In { path: true, .. } => "path",
                Plan::In { .. } => "in",
                Plan::Out { by_result: true, .. } => "out_by_result",
                Plan::Out { .. } => "out",
                Plan::InOut { .. } => "in_out",
                Plan::OutElems { .. } => "out_elems",
                Plan::Sized { .. } => "sized",
                Plan::Mask { .. } => "mask",
                Plan::Msg { .. } => "msg",
                Plan::OutMsg { .. } => "out_msg",
            },
        );
        total = total.saturating_add(p.scratch());
        if let (true, Some(s)) = (p.is_in(), call.segs.get(i as u8)) {
            cx.hit("input", if s.data.len() <= p.scratch() { "fits" } else { "too_long" });
        }
    }
    ensure!(total <= 6 * MAX_BUF, "the plans need {total} bytes of scratch");
    outputs_ok(&plans, &call.args, call.id)
}

/// A plan's promises for arguments `args` of kinds `kinds`.
fn plans_ok(kinds: &[Arg; 6], args: &[u64; 6], plans: &[Plan; 6], lowered: &[u64; 6]) -> Result<(), Violation> {
    for (i, p) in plans.iter().enumerate() {
        ensure!(p.scratch() <= MAX_BUF, "argument {i} planned as {p:?}");
        if kinds[i].is_pointer() && args[i] == 0 {
            ensure!(*p == Plan::Value, "null pointer {i} planned as {p:?}");
        }
        match (*p, kinds[i]) {
            (Plan::Mask { .. }, _) => ensure!(lowered[i] == 0, "mask {i} passed as {:#x}", lowered[i]),
            (Plan::Sized { lenp, max }, _) => {
                let lp = plans.get(lenp as usize);
                ensure!(
                    matches!(lp, Some(Plan::InOut { len: 4 } | Plan::Value)) && max <= MAX_BUF,
                    "sized buffer {i} with length word {lenp} planned as {lp:?}"
                );
            }
            // A message buffer is its type word and the whole text:
            // never shortened (its length argument is left as it is).
            (Plan::In { len, path: false }, Arg::InMsg { len_arg }) | (Plan::OutMsg { len }, Arg::OutMsg { len_arg }) => {
                let l = args.get(len_arg as usize).copied();
                ensure!(l.map(|l| l + 8) == Some(len as u64), "message buffer {i} of {len} bytes, text length {l:?}");
            }
            (Plan::OutElems { len, elem }, _) => {
                ensure!(elem > 0 && len % elem == 0, "array {i} of {len} bytes in {elem}-byte elements");
            }
            (Plan::In { len, path: false }, Arg::InBuf { len_arg })
            | (Plan::Out { len, .. }, Arg::OutBuf { len_arg }) => {
                let l = lowered.get(len_arg as usize).copied();
                ensure!(l == Some(len as u64), "buffer {i} of {len} bytes, length argument now {l:?}");
            }
            _ => {}
        }
    }
    // Only the masks, and the lengths and counts that were lowered, change.
    let mut may_change = [false; 6];
    for (i, (k, p)) in kinds.iter().zip(plans.iter()).enumerate() {
        match *k {
            Arg::InBuf { len_arg } | Arg::OutBuf { len_arg } => may_change[len_arg as usize % 6] = true,
            Arg::OutArray { count_arg, .. } => may_change[count_arg as usize % 6] = true,
            _ => {}
        }
        may_change[i] |= matches!(p, Plan::Mask { .. });
    }
    for i in 0..6 {
        if !may_change[i] {
            ensure!(lowered[i] == args[i], "argument {i} changed from {:#x} to {:#x}", args[i], lowered[i]);
        }
    }
    Ok(())
}

/// Whatever the call returns, no more goes back than each output's room.
fn outputs_ok(plans: &[Plan; 6], args: &[u64; 6], id: u32) -> Result<(), Violation> {
    let results = [-1i64, 0, 1, 7, 4096, i64::from(id), args[2] as i64, i64::MAX, i64::MIN, u32::MAX.into()];
    for p in plans {
        for r in results {
            let n = out_len(p, r);
            ensure!(n <= p.scratch(), "out_len({p:?}, {r}) = {n}");
        }
        if let Plan::Sized { max, .. } = *p {
            for v in [0u32, 1, 16, max as u32, max as u32 + 1, 0x7fff_ffff, 0x8000_0000, u32::MAX, id] {
                let cap = sized_cap(v, max);
                ensure!(cap <= max, "sized_cap({v}, {max}) = {cap}");
                for r in results {
                    let back = sized_out_len(cap, id, r);
                    ensure!(back <= cap, "sized_out_len({cap}, {id}, {r}) = {back}");
                }
            }
        }
    }
    Ok(())
}

/// What a remote does with a `Ret` payload.
pub fn check_ret(data: &[u8], cx: &mut Cx) -> Result<(), Violation> {
    let ret = match decode_ret(data) {
        Ok(r) => r,
        Err(e) => {
            cx.hit("ret", name(e));
            return Ok(());
        }
    };
    cx.hit("ret", if ret.result < 0 { "ok_failed" } else { "ok" });
    let segs = segments_ok(ret.segs.iter())?;
    let mut again = vec![0u8; data.len()];
    let n = encode_ret(ret.id, ret.result, &segs, &mut again);
    ensure!(n == Ok(data.len()) && again == data, "re-encoding the answer gives {n:?} and other bytes");
    for s in &segs {
        ensure!(ret.segs.get(s.arg) == Some(*s), "segment {} not found by get", s.arg);
    }
    Ok(())
}
