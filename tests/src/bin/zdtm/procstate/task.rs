//! `sched`, `caps`, `personality` and `prctl`:
//! attributes of the task, read back with the calls that set them.
//!
//! * `sched` — before `READY`: nice 5 (`setpriority`), policy
//!   `SCHED_BATCH | SCHED_RESET_ON_FORK` (`sched_setscheduler`), I/O
//!   priority best-effort level 6 (`ioprio_set`). Each round: `getpriority`
//!   gives 5, `sched_getscheduler` the policy with its reset-on-fork bit,
//!   `sched_getparam` priority 0, `ioprio_get` the priority (or, on a
//!   kernel without the block layer, the `ENOSYS` that `ioprio_set` got at
//!   setup), each asked of
//!   pid 0 and of `getpid()`; `/proc/self/stat` shows priority 25, nice 5
//!   and policy 3. (On a remote these calls are answered at home, for the
//!   deputy; the image carries the values, so the process also runs with
//!   them there, which the cluster suite checks in the remote's `/proc`.)
//! * `caps` — before `READY` (as root): securebits
//!   `SECBIT_NO_SETUID_FIXUP`, then `PR_SET_KEEPCAPS` 1 (which adds
//!   `SECBIT_KEEP_CAPS`), and `CAP_SYS_BOOT` and `CAP_WAKE_ALARM` dropped
//!   from the bounding set. Each round (these are answered where the
//!   process runs, from the credentials its image carried):
//!   `PR_GET_KEEPCAPS` is 1, `PR_GET_SECUREBITS` has both bits and is as
//!   recorded, `PR_CAPBSET_READ` of every capability up to
//!   `cap_last_cap` gives the recorded set (without the two), `capget`
//!   the recorded effective, permitted and inheritable sets,
//!   `PR_GET_NO_NEW_PRIVS` and the uid and euid as recorded; and home's
//!   view, `/proc/self/status` `CapBnd`, `CapEff`, `CapPrm`, `CapInh`
//!   agree.
//! * `personality` — `personality(ADDR_NO_RANDOMIZE |
//!   ADDR_COMPAT_LAYOUT | WHOLE_SECONDS)` before `READY` (none changes
//!   the running program). Each round: `personality(0xffffffff)` (answered
//!   where the process runs) and `/proc/self/personality` (home's) give
//!   it (the image carries the personality).
//! * `prctl` — before `READY`: parent-death signal SIGWINCH
//!   (ignored by default), child subreaper, timer slack 1234567 ns,
//!   transparent huge pages disabled, machine-check kill policy "early".
//!   Each round: `PR_GET_PDEATHSIG`, `PR_GET_CHILD_SUBREAPER`,
//!   `PR_GET_TIMERSLACK`, `PR_GET_THP_DISABLE` and `PR_MCE_KILL_GET`
//!   (answered where the process runs) give them back, and home's view
//!   agrees: `/proc/self/timerslack_ns`, `THP_enabled: 0` in
//!   `/proc/self/status` (the image carries them all).

use super::{errno, read_text, same, setup_failed, stat_fields, status_field, Slot};

const IOPRIO_WHO_PROCESS: libc::c_int = 1;
/// Best effort (class 2), level 6.
const IOPRIO: libc::c_int = (2 << 13) | 6;
const NICE: libc::c_int = 5;
const POLICY: libc::c_int = libc::SCHED_BATCH | libc::SCHED_RESET_ON_FORK;

static SCHED: Slot<libc::pid_t> = Slot::new(None);
/// `ioprio_set` gave ENOSYS at setup (no block layer in this kernel).
static NO_IOPRIO: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub(crate) fn sched() -> super::Check {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: plain system calls on this process; `param` is valid.
    unsafe {
        if libc::setpriority(libc::PRIO_PROCESS, 0, NICE) != 0 {
            setup_failed("setpriority");
        }
        if libc::sched_setscheduler(0, POLICY, &param) != 0 {
            setup_failed("sched_setscheduler");
        }
        // A kernel without the block layer has no I/O priorities: then
        // every round must get the same ENOSYS, wherever it runs.
        if libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, IOPRIO) != 0 {
            if errno() != libc::ENOSYS {
                setup_failed("ioprio_set");
            }
            NO_IOPRIO.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }
    // SAFETY: no arguments.
    super::start(&SCHED, unsafe { libc::getpid() }, sched_round, |_| Ok(()))
}

fn sched_round(pid: &mut libc::pid_t) -> Result<(), String> {
    for who in [0, *pid] {
        // getpriority may return -1 as a value: errno tells.
        // SAFETY: sets errno to 0 (the location is this thread's).
        unsafe { *libc::__errno_location() = 0 };
        // SAFETY: plain system calls; `param` is valid for writes.
        let (nice, e) = unsafe { (libc::getpriority(libc::PRIO_PROCESS, who as libc::id_t), errno()) };
        same(&format!("getpriority(PRIO_PROCESS, {who}) (value, errno)"), (nice, e), (NICE, 0))?;
        let mut param = libc::sched_param { sched_priority: -1 };
        // SAFETY: as above.
        let (policy, p) = unsafe { (libc::sched_getscheduler(who), libc::sched_getparam(who, &mut param)) };
        same(
            &format!("sched_getscheduler({who}), sched_getparam result and priority"),
            (policy, p, param.sched_priority),
            (POLICY, 0, 0),
        )?;
        // SAFETY: as above.
        let (io, e) = unsafe { (libc::syscall(libc::SYS_ioprio_get, IOPRIO_WHO_PROCESS, who), errno()) };
        let want = if NO_IOPRIO.load(std::sync::atomic::Ordering::SeqCst) { (-1, libc::ENOSYS) } else { (IOPRIO as libc::c_long, e) };
        same(&format!("ioprio_get(IOPRIO_WHO_PROCESS, {who}) (value, errno)"), (io, e), want)?;
    }
    let (_, f) = stat_fields("/proc/self/stat")?;
    let got = [15, 16, 38].map(|i| f.get(i).cloned().unwrap_or_default());
    same("/proc/self/stat priority, nice, policy", got, ["25", "5", "3"].map(String::from))
}

pub(crate) fn sched_tick(n: u64) {
    super::tick(n, &SCHED, sched_round);
}

/// Capability sets as `capget` (version 3) gives them: effective,
/// permitted, inheritable, 64 bits each.
fn capget() -> Result<[u64; 3], String> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    let mut h = Header { version: 0x2008_0522, pid: 0 };
    let mut d = [Data::default(); 2];
    // SAFETY: a version-3 header and room for its two data words.
    if unsafe { libc::syscall(libc::SYS_capget, &mut h, d.as_mut_ptr()) } != 0 {
        return Err(format!("capget: errno {}", errno()));
    }
    let join = |lo: u32, hi: u32| u64::from(hi) << 32 | u64::from(lo);
    Ok([
        join(d[0].effective, d[1].effective),
        join(d[0].permitted, d[1].permitted),
        join(d[0].inheritable, d[1].inheritable),
    ])
}

fn prctl(op: libc::c_int, arg: libc::c_ulong) -> libc::c_int {
    // SAFETY: an option that takes (and reads or writes) no pointer.
    unsafe { libc::prctl(op, arg, 0 as libc::c_ulong, 0 as libc::c_ulong, 0 as libc::c_ulong) }
}

struct Caps {
    last_cap: u32,
    bset: u64,
    securebits: libc::c_int,
    sets: [u64; 3],
    no_new_privs: libc::c_int,
    ids: (libc::uid_t, libc::uid_t),
}

static CAPS: Slot<Caps> = Slot::new(None);
const DROPPED: [u32; 2] = [22, 35]; // CAP_SYS_BOOT, CAP_WAKE_ALARM

/// The bounding set as `PR_CAPBSET_READ` gives it.
fn bset(last_cap: u32) -> Result<u64, String> {
    let mut set = 0;
    for c in 0..=last_cap {
        match prctl(libc::PR_CAPBSET_READ, c.into()) {
            1 => set |= 1u64 << c,
            0 => {}
            r => return Err(format!("PR_CAPBSET_READ({c}): {r}, errno {}", errno())),
        }
    }
    Ok(set)
}

pub(crate) fn caps() -> super::Check {
    let last_cap = read_text("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40u32)
        .min(63);
    let bits = prctl(libc::PR_GET_SECUREBITS, 0);
    if prctl(libc::PR_SET_SECUREBITS, (bits | libc::SECBIT_NO_SETUID_FIXUP) as libc::c_ulong) != 0 {
        setup_failed("PR_SET_SECUREBITS (not root?)");
    }
    if prctl(libc::PR_SET_KEEPCAPS, 1) != 0 {
        setup_failed("PR_SET_KEEPCAPS");
    }
    for c in DROPPED {
        if prctl(libc::PR_CAPBSET_DROP, c.into()) != 0 {
            setup_failed("PR_CAPBSET_DROP");
        }
    }
    let fail = |e: String| -> ! {
        eprintln!("{e}");
        std::process::exit(2)
    };
    let bset = bset(last_cap).unwrap_or_else(|e| fail(e));
    let sets = capget().unwrap_or_else(|e| fail(e));
    let securebits = prctl(libc::PR_GET_SECUREBITS, 0);
    let no_new_privs = prctl(libc::PR_GET_NO_NEW_PRIVS, 0);
    // SAFETY: no arguments.
    let ids = unsafe { (libc::getuid(), libc::geteuid()) };
    super::start(
        &CAPS,
        Caps {
            last_cap,
            bset,
            securebits,
            sets,
            no_new_privs,
            ids,
        },
        caps_round,
        |_| Ok(()),
    )
}

fn caps_round(st: &mut Caps) -> Result<(), String> {
    same("PR_GET_KEEPCAPS", prctl(libc::PR_GET_KEEPCAPS, 0), 1)?;
    let bits = prctl(libc::PR_GET_SECUREBITS, 0);
    same("PR_GET_SECUREBITS", bits, st.securebits)?;
    let want = libc::SECBIT_KEEP_CAPS | libc::SECBIT_NO_SETUID_FIXUP;
    same("PR_GET_SECUREBITS: keep-caps and no-setuid-fixup", bits & want, want)?;
    let b = bset(st.last_cap)?;
    same("the bounding set (PR_CAPBSET_READ)", format!("{b:016x}"), format!("{:016x}", st.bset))?;
    if DROPPED.iter().any(|&c| b & (1 << c) != 0) {
        return Err(format!("the bounding set {b:016x} has a capability dropped from it"));
    }
    same("capget effective, permitted, inheritable", capget()?, st.sets)?;
    same("PR_GET_NO_NEW_PRIVS", prctl(libc::PR_GET_NO_NEW_PRIVS, 0), st.no_new_privs)?;
    // SAFETY: no arguments.
    same("uid, euid", unsafe { (libc::getuid(), libc::geteuid()) }, st.ids)?;
    let status = read_text("/proc/self/status")?;
    let field = |k: &str| status.lines().find_map(|l| l.strip_prefix(k)).map(|v| v.trim().to_string()).unwrap_or_default();
    let home = [field("CapBnd:"), field("CapEff:"), field("CapPrm:"), field("CapInh:")];
    let want = [st.bset, st.sets[0], st.sets[1], st.sets[2]].map(|v| format!("{v:016x}"));
    same("/proc/self/status CapBnd, CapEff, CapPrm, CapInh", home, want)
}

pub(crate) fn caps_tick(n: u64) {
    super::tick(n, &CAPS, caps_round);
}

const PERSONA: libc::c_int = libc::ADDR_NO_RANDOMIZE | libc::ADDR_COMPAT_LAYOUT | libc::WHOLE_SECONDS;

static PERSONALITY: Slot<libc::c_int> = Slot::new(None);

fn persona() -> libc::c_int {
    // SAFETY: 0xffffffff only asks for the personality.
    unsafe { libc::personality(0xffff_ffff) }
}

pub(crate) fn personality() -> super::Check {
    // SAFETY: flags that change nothing in the running program.
    if unsafe { libc::personality(PERSONA as libc::c_ulong) } < 0 {
        setup_failed("personality");
    }
    super::start(&PERSONALITY, persona(), personality_round, |_| Ok(()))
}

fn personality_round(want: &mut libc::c_int) -> Result<(), String> {
    same("personality(0xffffffff)", format!("{:08x}", persona()), format!("{PERSONA:08x}"))?;
    same("personality as set", *want, PERSONA)?;
    same(
        "/proc/self/personality",
        read_text("/proc/self/personality")?.trim().to_string(),
        format!("{PERSONA:08x}"),
    )
}

pub(crate) fn personality_tick(n: u64) {
    super::tick(n, &PERSONALITY, personality_round);
}

const SLACK_NS: libc::c_ulong = 1_234_567;
/// `PR_MCE_KILL` options (not in every libc): set, and "early".
const PR_MCE_KILL_SET: libc::c_ulong = 1;
const PR_MCE_KILL_EARLY: libc::c_int = 1;

static PRCTL: Slot<()> = Slot::new(None);

/// An int that a `PR_GET_*` option writes through its argument.
fn prctl_int(op: libc::c_int) -> Result<libc::c_int, String> {
    let mut v: libc::c_int = -1;
    // SAFETY: the option writes one int to `v`.
    if unsafe { libc::prctl(op, &mut v as *mut libc::c_int) } != 0 {
        return Err(format!("prctl({op}): errno {}", errno()));
    }
    Ok(v)
}

pub(crate) fn prctl_attrs() -> super::Check {
    let sets: [(libc::c_int, libc::c_ulong, libc::c_ulong); 5] = [
        (libc::PR_SET_PDEATHSIG, libc::SIGWINCH as libc::c_ulong, 0),
        (libc::PR_SET_CHILD_SUBREAPER, 1, 0),
        (libc::PR_SET_TIMERSLACK, SLACK_NS, 0),
        (libc::PR_SET_THP_DISABLE, 1, 0),
        (libc::PR_MCE_KILL, PR_MCE_KILL_SET, PR_MCE_KILL_EARLY as libc::c_ulong),
    ];
    for (op, a, b) in sets {
        // SAFETY: options that take integers only.
        if unsafe { libc::prctl(op, a, b, 0 as libc::c_ulong, 0 as libc::c_ulong) } != 0 {
            setup_failed(&format!("prctl({op})"));
        }
    }
    super::start(&PRCTL, (), prctl_round, |_| Ok(()))
}

fn prctl_round(_: &mut ()) -> Result<(), String> {
    let got = (
        prctl_int(libc::PR_GET_PDEATHSIG)?,
        prctl_int(libc::PR_GET_CHILD_SUBREAPER)?,
        prctl(libc::PR_GET_TIMERSLACK, 0),
        prctl(libc::PR_GET_THP_DISABLE, 0),
        prctl(libc::PR_MCE_KILL_GET, 0),
    );
    let want = (libc::SIGWINCH, 1, SLACK_NS as libc::c_int, 1, PR_MCE_KILL_EARLY);
    same("PR_GET_PDEATHSIG, _CHILD_SUBREAPER, _TIMERSLACK, _THP_DISABLE, PR_MCE_KILL_GET", got, want)?;
    same(
        "/proc/self/timerslack_ns",
        read_text("/proc/self/timerslack_ns")?.trim().to_string(),
        SLACK_NS.to_string(),
    )?;
    same("/proc/self/status THP_enabled", status_field("THP_enabled:")?, "0".to_string())
}

pub(crate) fn prctl_tick(n: u64) {
    super::tick(n, &PRCTL, prctl_round);
}
