//! zdtm tests of process attributes: working directory, umask, limits,
//! environment, arguments and names, session and group ids, thread-local
//! storage and the FS/GS bases, scheduling, capabilities and `prctl`
//! state, personality.
//!
//! Every test here makes the same checks (one *round*) at setup, at home,
//! every 100 ms while it waits, wherever it runs, and once more after
//! SIGTERM, home again; it fails if any round found a difference, or if
//! none ran while it waited. Each module's doc says exactly what it sets
//! and checks:
//!
//! * `cwd` ([`dirs`]) — a fresh working directory: `getcwd`,
//!   `/proc/self/cwd`, `stat(".")` and files opened by relative paths.
//! * `umask` ([`dirs`]) — `umask` 027: the mode of files and directories
//!   made while away, `umask()` and `/proc/self/status`.
//! * `rlimits` ([`limits`]) — fourteen limits lowered to odd values:
//!   `getrlimit` (the process's own copy), `prlimit64` (home's) and
//!   `/proc/self/limits` agree; `RLIMIT_NOFILE` and `RLIMIT_FSIZE` are
//!   enforced on calls made while away.
//! * `environ` ([`args`]) — variables set, replaced and removed:
//!   `std::env::vars_os`; `/proc/self/environ` at the end.
//! * `cmdline` ([`args`]) — arguments, `PR_GET_NAME`, `/proc/self/comm`,
//!   `/proc/self/stat`'s name, `/proc/self/exe`; `/proc/self/cmdline` at
//!   the end.
//! * `pgid_sid` ([`ids`]) — a new session and group, and a child at home
//!   in a group of its own: `getsid`, `getpgid`, `getpgrp`, `getppid`,
//!   `kill(-pgid, 0)`, `/proc/self/stat`, `/proc/CHILD/stat`.
//! * `tls` ([`tls`]) — thread-local variables read and written through
//!   Rust and through `%fs`-relative addresses, the FS base and the words
//!   at `%fs:0` and `%fs:0x28`, a GS base set with `ARCH_SET_GS`.
//! * `sched` ([`task`]) — nice 5, `SCHED_BATCH | SCHED_RESET_ON_FORK`,
//!   best-effort I/O priority 6.
//! * `caps` ([`task`]) — keep-caps, securebits and two capabilities
//!   dropped from the bounding set.
//!
//! * `personality` ([`task`]) — `personality(ADDR_NO_RANDOMIZE | ...)`
//!   (the image carries it).
//! * `prctl` ([`task`]) — parent-death signal, child subreaper, timer
//!   slack, THP disabled, early machine-check kill (the image carries
//!   them; the first two are set at home).
//! * `proc_args` ([`args`]) — `/proc/self/cmdline` and
//!   `/proc/self/environ` read while away (home's deputy keeps the pages
//!   they are read from).

mod args;
mod dirs;
mod ids;
mod limits;
mod task;
mod tls;

use super::rounds::Rounds;
use super::{Check, Group};
use std::sync::Mutex;

pub(crate) const GROUP: Group = Group {
    tests: &[
        ("cwd", dirs::cwd),
        ("umask", dirs::umask),
        ("rlimits", limits::rlimits),
        ("environ", args::environ),
        ("cmdline", args::cmdline),
        ("pgid_sid", ids::pgid_sid),
        ("tls", tls::tls),
        ("sched", task::sched),
        ("caps", task::caps),
        ("personality", task::personality),
        ("prctl", task::prctl_attrs),
        ("proc_args", args::proc_args),
    ],
    busy: &[],
    ticks: &[
        ("cwd", dirs::cwd_tick),
        ("umask", dirs::umask_tick),
        ("rlimits", limits::tick),
        ("environ", args::environ_tick),
        ("cmdline", args::cmdline_tick),
        ("pgid_sid", ids::tick),
        ("tls", tls::tick),
        ("sched", task::sched_tick),
        ("caps", task::caps_tick),
        ("personality", task::personality_tick),
        ("prctl", task::prctl_tick),
        ("proc_args", args::proc_args_tick),
    ],
    known: &[],
    stays: &[],
};

/// A test's state and the rounds of its checks so far.
pub(super) struct Watched<S> {
    state: S,
    rounds: Rounds,
}

/// A test's slot: its state between setup, ticks and check.
pub(super) type Slot<S> = Mutex<Option<Watched<S>>>;

/// Stores `state` in `slot` after a first round (at home, before `READY`)
/// and returns the check: a last round, then `finish` (end-only checks and
/// cleaning up, always run), then the verdict of all rounds.
pub(super) fn start<S: Send + 'static>(
    slot: &'static Slot<S>,
    mut state: S,
    round: fn(&mut S) -> Result<(), String>,
    finish: fn(S) -> Result<(), String>,
) -> Check {
    let mut rounds = Rounds::default();
    rounds.record(round(&mut state));
    *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(Watched { state, rounds });
    Box::new(move || {
        let Watched { mut state, rounds } = slot.lock().unwrap_or_else(|e| e.into_inner()).take().ok_or("no state")?;
        let last = round(&mut state).map_err(|e| format!("at the end: {e}"));
        let finished = finish(state);
        rounds.verdict()?;
        last?;
        finished
    })
}

/// One round every 100 ms while the test waits.
pub(super) fn tick<S>(n: u64, slot: &Slot<S>, round: fn(&mut S) -> Result<(), String>) {
    super::rounds::every_100ms(n, slot, |w| {
        let r = round(&mut w.state);
        w.rounds.record(r);
    });
}

/// Ends the process before `READY`: its setup could not be made.
pub(super) fn setup_failed(what: &str) -> ! {
    eprintln!("{what}: {}", std::io::Error::last_os_error());
    std::process::exit(2);
}

pub(super) fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// The bytes of a file (a `/proc` one, read at home wherever the process
/// runs).
pub(super) fn read_bytes(path: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{path}: {e}"))
}

pub(super) fn read_text(path: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))
}

/// The fields of a `/proc/PID/stat` line after the name: `fields[0]` is
/// the state (field 3), `fields[1]` the parent (4), and so on.
pub(super) fn stat_fields(path: &str) -> Result<(String, Vec<String>), String> {
    let s = read_text(path)?;
    let (head, rest) = s.rsplit_once(')').ok_or_else(|| format!("{path}: no name in {s:?}"))?;
    let name = head.split_once('(').map(|h| h.1.to_string()).unwrap_or_default();
    Ok((name, rest.split_whitespace().map(str::to_string).collect()))
}

/// The value of line `key` (e.g. `Umask:`) of `/proc/self/status`.
pub(super) fn status_field(key: &str) -> Result<String, String> {
    let s = read_text("/proc/self/status")?;
    s.lines()
        .find_map(|l| l.strip_prefix(key))
        .map(|v| v.trim().to_string())
        .ok_or_else(|| format!("/proc/self/status has no {key}"))
}

/// `want` and `got` are equal, or an error naming `what`.
pub(super) fn same<T: PartialEq + std::fmt::Debug>(what: &str, got: T, want: T) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: {got:?}, expected {want:?}"))
    }
}
