//! Host tests of the migration image: layouts, round trips of every
//! message, every rejection, the checksum, the receiver's sequencing, and
//! property tests over arbitrary input.
//!
//! One file per part of the format (as in `src/image/`), each using the
//! sample image and messages built here; `props` holds the property tests.

use proptest::prelude::*;
use roam_proto::image::*;

mod begin;
mod checksum;
mod layout;
mod msg;
mod outcome;
mod pages;
mod pending;
mod progress;
mod props;
mod timers;
mod creds;
mod vmas;

fn header(nr_vmas: u32, nr_pages: u64, xstate_len: u32) -> ImageHeader {
    let mut comm = [0u8; 16];
    comm[..5].copy_from_slice(b"hello");
    ImageHeader {
        version: IMAGE_VERSION,
        home_node: 3,
        pid: 4242,
        tgid: 4240,
        uid: 1000,
        gid: 1001,
        euid: 1002,
        egid: 1003,
        comm,
        nr_vmas,
        nr_pages,
        xstate_len,
        cause: cause::LOAD,
        sender_load: 2500,
        allowed: 0b1010,
        mono_ns: 123_456_789_012,
        boot_ns: 223_456_789_012,
        token: 0x70ce_4a11_5eed_0001,
        ctx: context(b"/jobs/42", b"roamtest"),
    }
}

/// A context with cgroup path `cgroup` and label `label`.
fn context(cgroup: &[u8], label: &[u8]) -> Context {
    let mut c = Context::default();
    c.cgroup[..cgroup.len()].copy_from_slice(cgroup);
    c.label[..label.len()].copy_from_slice(label);
    c
}

fn regs() -> Regs {
    let mut a = [0u64; Regs::COUNT];
    for (i, w) in a.iter_mut().enumerate() {
        *w = 0x1000_0000_0000_0000 + i as u64;
    }
    Regs::from_array(&a)
}

fn user_regs() -> Regs {
    Regs {
        rip: 0x40_1000,
        rsp: 0x7ffd_0000_1000,
        cs: USER_CS,
        ss: USER_DS,
        eflags: 0x246,
        fs_base: 0x7f00_0000_0000,
        ..Regs::default()
    }
}

fn mm() -> MmLayout {
    let mut a = [0u64; MmLayout::COUNT];
    for (i, w) in a.iter_mut().enumerate() {
        *w = 0x40_0000 + 0x1000 * i as u64;
    }
    MmLayout::from_array(&a)
}

fn sig() -> SigState {
    let mut s = SigState::EMPTY;
    s.blocked = 0x8000_0000_0001_0002;
    for (i, a) in s.actions.iter_mut().enumerate() {
        let i = i as u64;
        *a = SigAction { handler: 0x40_0000 + i, flags: 0x0400_0000 | i, restorer: 0x40_8000 + i, mask: 1 << i };
    }
    s.altstack = AltStack { sp: 0x7f00_0010_0000, flags: 2, size: 0x2000 };
    s.saved = Some(0x0000_0000_0000_0200);
    s
}

const MB: u64 = 1 << 20;

fn vmas() -> Vec<Vma> {
    vec![
        Vma::new(0x40_0000, 0x40_0000 + MB, PROT_READ | PROT_EXEC, VMA_FILE).with_name(b"/usr/bin/hello"),
        Vma::new(0x60_0000, 0x60_0000 + 4 * 4096, PROT_READ | PROT_WRITE, VMA_HEAP).with_name(b"[heap]"),
        // Adjacent to the previous one: allowed.
        Vma::new(0x60_4000, 0x60_8000, PROT_READ, 0),
        Vma::new(0x7ffd_0000_0000, 0x7ffd_0002_0000, PROT_READ | PROT_WRITE, VMA_STACK | VMA_GROWSDOWN)
            .with_name(b"[stack]"),
        Vma::new(0x7ffd_0010_0000, 0x7ffd_0010_2000, PROT_READ | PROT_EXEC, VMA_VDSO).with_name(b"[vdso]"),
    ]
}

fn begin_msg(xstate: &[u8]) -> Vec<u8> {
    let h = header(5, 10, xstate.len() as u32);
    let mut out = vec![0u8; begin_len(xstate.len())];
    let n = encode_begin(&h, &regs(), &mm(), &sig(), xstate, &mut out).unwrap();
    assert_eq!(n, out.len());
    out
}

/// Pending signals of both queues, standard and queued real-time ones.
fn pending() -> Vec<PendingSignal> {
    vec![
        PendingSignal::new(10, true, 0, 4240, 1000, 0),
        PendingSignal::new(1, false, -6, 4240, 1000, 0),
        PendingSignal::new(34, true, -1, 4240, 1000, 7),
        PendingSignal::new(34, true, -1, 4240, 1000, 8),
        PendingSignal::new(34, false, -1, 4240, 1000, 9),
        PendingSignal::new(64, false, 0x80, 0, 0, u64::MAX),
    ]
}

fn signals_msg(s: &[PendingSignal]) -> Vec<u8> {
    let mut out = vec![0u8; signals_len(s.len())];
    assert_eq!(encode_signals(s, &mut out), Ok(out.len()));
    out
}

fn timers_msg(s: &TimerState) -> Vec<u8> {
    let mut out = vec![0u8; timers_len(s.count)];
    assert_eq!(encode_timers(s, &mut out), Ok(out.len()));
    out
}

fn creds_msg(c: &Creds, groups: &[u32]) -> Vec<u8> {
    let mut out = vec![0u8; creds_len(groups.len())];
    assert_eq!(encode_creds(c, groups, &mut out), Ok(out.len()));
    out
}

/// The groups of [`creds`].
const GROUPS: [u32; 3] = [100, 27, 4];

/// A root daemon that dropped to a user but kept two capabilities
/// (`CAP_NET_BIND_SERVICE` also ambient), lost `CAP_SYS_MODULE` from its
/// bounding set, has three groups, no-new-privs and a few limits.
fn creds() -> Creds {
    let mut c = Creds {
        uid: 1000,
        euid: 1000,
        suid: 0,
        fsuid: 1000,
        gid: 100,
        egid: 100,
        sgid: 100,
        fsgid: 100,
        securebits: 0x10,
        flags: CREDS_NO_NEW_PRIVS,
        cap_inheritable: 1 << 10,
        cap_permitted: (1 << 10) | (1 << 5),
        cap_effective: 1 << 10,
        cap_bset: CAP_VALID & !(1 << 16),
        cap_ambient: 1 << 10,
        // Niced, batch scheduled, with a parent-death signal, subreaper,
        // no huge pages, early machine-check kills and a personality.
        attrs: Attrs {
            personality: 0x0040_0000,
            nice: 5,
            policy: 3 | SCHED_RESET_ON_FORK,
            rt_priority: 0,
            timer_slack_ns: 1_234_567,
            pdeath_signal: 28,
            flags: ATTR_CHILD_SUBREAPER | ATTR_THP_DISABLE | ATTR_NOT_DUMPABLE,
            mce_kill: 1,
        },
        ..Creds::default()
    };
    for (i, l) in c.rlimits.iter_mut().enumerate() {
        *l = Rlimit { cur: if i == 7 { 1024 } else { u64::MAX }, max: if i == 7 { 4096 } else { u64::MAX } };
    }
    c
}

/// Timers of every kind a process may have: the three interval timers
/// (one disarmed), a periodic CLOCK_MONOTONIC timer with a cookie, a
/// one-shot CLOCK_REALTIME one, a SIGEV_NONE one, one to a thread and one
/// on the process's own CPU clock named by pid, with a hole in the ids.
fn timer_state() -> TimerState {
    let mut s = TimerState { taken_ns: 5_000_000_000, ..TimerState::default() };
    s.cpu = CpuTimes { utime_ns: 700_000_000, stime_ns: 300_000_000, runtime_ns: 1_000_500_000 };
    s.itimers[0] = ITimer { remaining_ns: 30_000_000, interval_ns: 50_000_000 };
    s.itimers[2] = ITimer { remaining_ns: 250_000_000, interval_ns: 300_000_000 };
    let t = |id, clock, notify, signo, value, remaining_ns, interval_ns, flags| PosixTimer { id, clock, notify, signo, value, remaining_ns, interval_ns, flags };
    for p in [
        t(0, 1, SIGEV_SIGNAL, 35, 0x5eed_c00c1e, 40_000_000, 100_000_000, 0),
        t(1, 0, SIGEV_SIGNAL, 36, 1, 3_599_000_000_000, 0, 0),
        t(2, 7, SIGEV_NONE, 0, 0, 0, 0, 0),
        t(4, 1, SIGEV_THREAD_ID, 10, 7, 1_000_000, 0, 0),
        t(5, 2, SIGEV_SIGNAL, 12, 9, 20_000_000, 20_000_000, TIMER_OWN_CPU_CLOCK),
    ] {
        s.push(p).unwrap();
    }
    s
}

fn vmas_msg(first: u32, v: &[Vma]) -> Vec<u8> {
    let mut out = vec![0u8; vmas_len(v.len())];
    assert_eq!(encode_vmas(first, v, &mut out), Ok(out.len()));
    out
}

fn page_data(count: u32, seed: u8) -> Vec<u8> {
    (0..count as usize * PAGE_SIZE).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

fn batch_msg(h: &PageBatchHeader, data: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; batch_len(h.count)];
    assert_eq!(encode_batch(h, data, &mut out), Ok(out.len()));
    out
}

fn commit_msg(n: u64, c: u64) -> Vec<u8> {
    let mut out = vec![0u8; COMMIT_LEN];
    assert_eq!(encode_commit(n, c, &mut out), Ok(COMMIT_LEN));
    out
}

fn accept_msg(pid: u32) -> Vec<u8> {
    let mut out = vec![0u8; ACCEPT_LEN];
    assert_eq!(encode_accept(pid, &mut out), Ok(ACCEPT_LEN));
    out
}

fn refuse_msg(r: RefuseReason) -> Vec<u8> {
    let mut out = vec![0u8; REFUSE_LEN];
    assert_eq!(encode_refuse(r, &mut out), Ok(REFUSE_LEN));
    out
}

fn abort_msg() -> Vec<u8> {
    let mut out = vec![0u8; ABORT_LEN];
    assert_eq!(encode_abort(&mut out), Ok(ABORT_LEN));
    out
}

/// One valid message of every kind.
/// A `Files` message with two offers.
fn files_msg() -> Vec<u8> {
    let o = |vma: u32, path: &'static [u8]| FileOffer { vma, off: 0x1000, len: 0x2000, size: 0x2800, hash: [vma as u8; 32], path };
    let mut out = vec![0u8; files_max_len()];
    let n = encode_files(&[o(1, b"/bin/prog"), o(4, b"/lib/libc.so.6")], &mut out).unwrap();
    out.truncate(n);
    out
}

fn ready_msg(have: u64) -> Vec<u8> {
    let mut out = vec![0u8; READY_LEN];
    encode_ready(have, &mut out).unwrap();
    out
}

fn every_message() -> Vec<Vec<u8>> {
    let b = PageBatchHeader { first_addr: 0x60_0000, count: 2 };
    vec![
        begin_msg(&[7u8; 100]),
        files_msg(),
        ready_msg(0x11),
        signals_msg(&pending()),
        timers_msg(&timer_state()),
        creds_msg(&creds(), &GROUPS),
        vmas_msg(0, &vmas()),
        batch_msg(&b, &page_data(2, 1)),
        commit_msg(10, 0xdead_beef),
        accept_msg(77),
        refuse_msg(RefuseReason::Busy),
        abort_msg(),
    ]
}

/// Every strict prefix of a valid message is `Truncated`, and one byte
/// more is `BadLength`.
fn check_lengths(msg: &[u8], decode: impl Fn(&[u8]) -> Result<(), ImageError>) {
    assert!(decode(msg).is_ok());
    for len in 0..msg.len() {
        assert_eq!(decode(&msg[..len]).err(), Some(ImageError::Truncated), "length {len} of {}", msg.len());
    }
    let mut longer = msg.to_vec();
    longer.push(0);
    assert_eq!(decode(&longer).err(), Some(ImageError::BadLength));
}
