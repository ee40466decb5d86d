//! A seeded, bounded fuzzer of `/dev/roam`'s ioctls, run as root and as
//! an unprivileged user (uid 1000): random command numbers (the driver's
//! own, with other sizes and directions, and any), random structure bytes,
//! and pointers to memory that is writable, half unmapped, unmapped, NULL
//! or in the kernel. The kernel must not complain (the harness fails the
//! run on any WARN, BUG, KASAN or lockdep line), no call may hang, the
//! user may act on no process but its own, and the module still answers
//! afterwards.
//!
//! Pids in the structures are chosen so that root's calls touch only a
//! sacrificial child of the fuzzer's (or no process): root may migrate,
//! lock or restrict any process, and the fuzzer must not move the test
//! harness. The user's calls name any pid below 600 as well as its own
//! child's: a success on a process of another user is a failure.
//!
//! `roam_ioctl_fuzz [SEED [CALLS]]`: the seed defaults to the node's id,
//! CALLS (per user) to 10000; each user's run also stops after 20 s.

use std::os::unix::io::AsRawFd;
use std::time::{Duration, Instant};

use roam_proto::abi::{
    ROAM_IOC_ADOPT, ROAM_IOC_ADOPT_CLOCKS, ROAM_IOC_ADOPT_USER, ROAM_IOC_ALLOW, ROAM_IOC_LOCK, ROAM_IOC_MAGIC, ROAM_IOC_MIGRATE, ROAM_IOC_PING,
    ROAM_IOC_STATUS, ROAM_IOC_UNLOCK, ROAM_IOC_WHERE, ROAM_IOC_WHY,
};
use roam_tests::guest::{self, DEV_PATH};
use roam_tests::ktap::{self, Ktap};

const PAGE: usize = 4096;
/// Writable pages, then as many inaccessible ones: no ioctl size
/// (at most 16383 bytes) reaches past the guard from the writable part.
const RW_PAGES: usize = 4;
const OWNER: u32 = 1000;
const MAX_SECONDS: u64 = 20;

/// The driver's commands, and whether the structure starts with a pid.
const COMMANDS: [(u32, bool); 11] = [
    (ROAM_IOC_STATUS, false),
    (ROAM_IOC_PING, false),
    (ROAM_IOC_WHY, true),
    (ROAM_IOC_LOCK, true),
    (ROAM_IOC_UNLOCK, true),
    (ROAM_IOC_MIGRATE, true),
    (ROAM_IOC_WHERE, true),
    (ROAM_IOC_ADOPT, false),
    (ROAM_IOC_ADOPT_CLOCKS, false),
    (ROAM_IOC_ADOPT_USER, false),
    (ROAM_IOC_ALLOW, true),
];

/// Commands that act on a process: a user's success on another user's
/// process is a hole.
const ACTING: [u32; 4] = [ROAM_IOC_LOCK, ROAM_IOC_UNLOCK, ROAM_IOC_MIGRATE, ROAM_IOC_ALLOW];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// The fuzzer's own memory: RW_PAGES writable pages then as many with no
/// access, used for nothing else.
struct Arena {
    base: *mut u8,
}

impl Arena {
    fn new() -> Arena {
        let len = 2 * RW_PAGES * PAGE;
        // SAFETY: a fresh private anonymous mapping.
        let base = unsafe { libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1, 0) };
        assert!(base != libc::MAP_FAILED, "mmap of the arena failed");
        // SAFETY: the upper half of the mapping just made.
        let r = unsafe { libc::mprotect((base as *mut u8).add(RW_PAGES * PAGE).cast(), RW_PAGES * PAGE, libc::PROT_NONE) };
        assert!(r == 0, "mprotect of the guard failed");
        Arena { base: base.cast() }
    }

    /// Fills the writable part with random bytes.
    fn scramble(&mut self, rng: &mut Rng) {
        for i in (0..RW_PAGES * PAGE).step_by(8) {
            let v = rng.next().to_le_bytes();
            // SAFETY: within the writable part of the arena.
            unsafe { std::ptr::copy_nonoverlapping(v.as_ptr(), self.base.add(i), 8) };
        }
    }

    fn write_u32(&mut self, off: usize, v: u32) {
        // SAFETY: callers pass offsets within the writable part.
        unsafe { std::ptr::copy_nonoverlapping(v.to_le_bytes().as_ptr(), self.base.add(off), 4) };
    }
}

/// The result of one user's run.
#[derive(Default)]
struct Run {
    calls: u64,
    ok: u64,
    errnos: std::collections::BTreeMap<i32, u64>,
    slowest: Duration,
    /// Calls that acted on another user's process and succeeded.
    holes: Vec<String>,
}

/// Who owns `pid` now (None if it does not exist).
fn owner(pid: u32) -> Option<u32> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines().find(|l| l.starts_with("Uid:"))?.split_whitespace().nth(1)?.parse().ok()
}

/// A child that waits to be killed.
fn sacrificial() -> u32 {
    // SAFETY: the fuzzer is single-threaded; the child only pauses.
    match unsafe { libc::fork() } {
        0 => loop {
            // SAFETY: plain call.
            unsafe { libc::pause() };
        },
        p if p > 0 => p as u32,
        _ => panic!("fork failed"),
    }
}

/// Kills `pid` and waits up to 60 s for it (it may run on another node,
/// whose copy the deputy ends first). True if it ended.
fn end(pid: u32) -> bool {
    // SAFETY: plain calls on our own child.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(60) {
        let mut st = 0;
        // SAFETY: as above.
        if unsafe { libc::waitpid(pid as i32, &mut st, libc::WNOHANG) } == pid as i32 {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn fuzz(seed: u64, calls: u64, root: bool) -> Run {
    let mut rng = Rng(seed);
    let mut arena = Arena::new();
    let dev = match std::fs::File::open(DEV_PATH) {
        Ok(f) => f,
        Err(e) => {
            ktap::diag(&format!("open {DEV_PATH}: {e}"));
            return Run { holes: vec!["cannot open the device".into()], ..Run::default() };
        }
    };
    let child = sacrificial();
    let mut run = Run::default();
    let t0 = Instant::now();
    while run.calls < calls && t0.elapsed() < Duration::from_secs(MAX_SECONDS) {
        arena.scramble(&mut rng);
        // The command: the driver's (70 %), one of its numbers with
        // another size or direction, or any number at all.
        let (base, has_pid) = COMMANDS[rng.below(COMMANDS.len() as u64) as usize];
        let cmd = match rng.below(10) {
            0..=6 => base,
            7 | 8 => (base & 0xff) | ((ROAM_IOC_MAGIC as u32) << 8) | ((rng.below(1 << 14) as u32) << 16) | ((rng.below(4) as u32) << 30),
            _ => rng.next() as u32,
        };
        // The structure's pid (root: only the child, or no process).
        let pid = if root {
            [child, 0, u32::MAX, 4_000_000 + rng.below(1000) as u32][rng.below(4) as usize]
        } else {
            match rng.below(3) {
                0 => child,
                1 => 1 + rng.below(600) as u32,
                _ => rng.next() as u32,
            }
        };
        // The pointer: where the structure starts.
        let off = match rng.below(8) {
            0..=4 => 8 * rng.below(64) as usize,
            5 => RW_PAGES * PAGE - 1 - rng.below(64) as usize,
            _ => rng.below((RW_PAGES * PAGE) as u64) as usize,
        };
        if has_pid && off + 4 <= RW_PAGES * PAGE {
            arena.write_u32(off, pid);
        }
        if base == ROAM_IOC_PING && off + 8 <= RW_PAGES * PAGE {
            // A few pings at most: a long ping is a long call, not a bug.
            arena.write_u32(off + 4, rng.below(3) as u32);
        }
        let addr: usize = match rng.below(20) {
            0 => 0,
            1 => 0xffff_8880_0000_0000 + 8 * rng.below(1 << 20) as usize,
            2 => arena.base as usize + RW_PAGES * PAGE + 8 * rng.below(64) as usize,
            _ => arena.base as usize + off,
        };
        let t = Instant::now();
        // SAFETY: `addr` is 0, a kernel address, or inside the arena, which
        // is ours alone: whatever the kernel writes there (at most 16383
        // bytes from `addr`, stopped by the guard pages) touches nothing
        // else of ours.
        let r = unsafe { libc::syscall(libc::SYS_ioctl, dev.as_raw_fd(), cmd as libc::c_ulong, addr) };
        let e = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
        run.slowest = run.slowest.max(t.elapsed());
        run.calls += 1;
        if r >= 0 {
            run.ok += 1;
            if !root && ACTING.contains(&cmd) && addr == arena.base as usize + off && pid != child {
                if let Some(u) = owner(pid) {
                    if u != OWNER {
                        run.holes.push(format!("cmd {cmd:#x} on pid {pid} (uid {u}) succeeded"));
                    }
                }
            }
        } else {
            *run.errnos.entry(e).or_default() += 1;
        }
    }
    if !end(child) {
        run.holes.push(format!("the sacrificial child {child} did not end within 60 s of SIGKILL"));
    }
    run
}

fn describe(who: &str, seed: u64, r: &Run) -> String {
    let errs: Vec<String> = r.errnos.iter().map(|(e, n)| format!("{}:{n}", guest::errno_name(&std::io::Error::from_raw_os_error(*e)))).collect();
    format!("{who}: seed {seed}, {} calls, {} succeeded, slowest {:?}; errnos {}", r.calls, r.ok, r.slowest, errs.join(" "))
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let seed = a.get(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| guest::sysfs_node_id().unwrap_or(0) as u64);
    let calls = a.get(2).and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let mut t = Ktap::plan(3);
    let root = fuzz(seed, calls, true);
    let text = describe("root", seed, &root);
    ktap::diag(&text);
    t.check(
        root.calls > 0 && root.holes.is_empty() && root.slowest < Duration::from_secs(60),
        &format!("ioctl fuzz as root: {} random calls, none slower than a minute, its child ended when killed", root.calls),
        &format!("{text}; {}", root.holes.join("; ")),
    );
    let user_seed = seed ^ 0x5555;
    let user = guest::as_user(OWNER, || {
        let r = fuzz(user_seed, calls, false);
        ktap::diag(&describe("uid 1000", user_seed, &r));
        for h in &r.holes {
            ktap::diag(h);
        }
        r.calls > 0 && r.holes.is_empty() && r.slowest < Duration::from_secs(60)
    });
    t.check(user, "ioctl fuzz as uid 1000: random calls, none acting on another user's process succeeded, none slower than a minute", "see the diagnostics above");
    let after = guest::query_status();
    let node = guest::sysfs_node_id().ok();
    t.check(
        matches!((&after, node), (Ok(s), Some(n)) if s.node_id == n),
        "after the fuzz /dev/roam still answers STATUS with this node's id",
        &format!("status {:?}; sysfs node_id {node:?}", after.as_ref().map(|s| s.node_id)),
    );
    t.finish();
}
