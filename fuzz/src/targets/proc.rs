//! `proc_msg`: the payload of a `Proc` frame, a process event between
//! nodes (`ProcMsg::decode` in `kmod/migrate/msg.rs`, which is pure
//! encoding and is compiled in here as the module compiles it).
//!
//! Checks: only 24-byte payloads of a known kind decode; decoding the
//! re-encoded event gives the event back, and re-encoding keeps every
//! field the kind carries.

use crate::ensure;
use crate::target::{Cx, Target, Violation};

// The verdicts beside `ProcMsg` are the engine's, not ours; the file is
// formatted with the module, not with this crate.
#[allow(dead_code)]
#[rustfmt::skip]
#[path = "../../../kmod/migrate/msg.rs"]
mod msg;

use msg::ProcMsg;

/// The `proc_msg` target.
pub struct Proc;

/// One event of each kind.
pub fn samples() -> Vec<Vec<u8>> {
    let t = 0x70ce_4a11_5eed_0001;
    [
        ProcMsg::Exit { home_pid: 100, status: 0x0900, token: t },
        ProcMsg::Signal { home_pid: 101, sig: 10, token: t },
        ProcMsg::Recall { home_pid: 102, dest: 3, token: t },
        ProcMsg::Moved { home_pid: 103, pid: 77, pages: 1234, token: t },
        ProcMsg::Go { id: 9 },
        ProcMsg::Stayed { home_pid: 104, code: 108, token: t },
        ProcMsg::Interrupt { home_pid: 105, id: 6, token: t },
    ]
    .iter()
    .map(|m| m.encode().to_vec())
    .collect()
}

impl Target for Proc {
    fn name(&self) -> &'static str {
        "proc_msg"
    }

    fn about(&self) -> &'static str {
        "process events of Proc frames (ProcMsg::decode, kmod/migrate/msg.rs)"
    }

    fn seeds(&self) -> Vec<Vec<u8>> {
        samples()
    }

    fn max_len(&self) -> usize {
        64
    }

    fn run(&self, data: &[u8], cx: &mut Cx) -> Result<(), Violation> {
        check(data, cx)
    }
}

/// What the engine does with a `Proc` payload.
pub fn check(data: &[u8], cx: &mut Cx) -> Result<(), Violation> {
    let Some(m) = ProcMsg::decode(data) else {
        cx.hit("proc", if data.len() == 24 { "unknown_kind" } else { "bad_length" });
        return Ok(());
    };
    cx.hit(
        "proc",
        match m {
            ProcMsg::Exit { .. } => "exit",
            ProcMsg::Signal { .. } => "signal",
            ProcMsg::Recall { .. } => "recall",
            ProcMsg::Moved { .. } => "moved",
            ProcMsg::Go { .. } => "go",
            ProcMsg::Stayed { .. } => "stayed",
            ProcMsg::Interrupt { .. } => "interrupt",
        },
    );
    ensure!(data.len() == 24, "decoded a {}-byte payload", data.len());
    let again = m.encode();
    ensure!(ProcMsg::decode(&again) == Some(m), "decode(encode({m:?})) differs");
    // Kind, home pid, the first value and the token travel for every kind
    // but Go (kind and id only); Moved also carries the page count.
    let kept: &[std::ops::Range<usize>] = match m {
        ProcMsg::Go { .. } => &[0..4, 8..12],
        ProcMsg::Moved { .. } => &[0..12, 12..24],
        _ => &[0..12, 16..24],
    };
    for r in kept {
        ensure!(again[r.clone()] == data[r.clone()], "bytes {r:?} of {m:?} changed on re-encoding");
    }
    Ok(())
}
