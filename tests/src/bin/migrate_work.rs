//! Workloads for the migration tests: programs that are moved while they
//! run and then show, by what they print and how they exit, whether their
//! registers, FPU state and memory arrived intact.
//!
//! Every subcommand does a fixed amount of work chosen by its argument (not
//! by time), so a run's output depends only on its arguments, and every one
//! ends by itself. Nothing else is printed on stdout; usage errors go to
//! stderr with exit status 2.
//!
//! * `migrate_work fpu ITERATIONS` — a chaotic floating-point iteration
//!   kept in vector and scalar registers for the whole run: AVX (`ymm`)
//!   when the CPU has it, else SSE2 (`xmm`) computing the same values, plus
//!   scalar f64 with division and square root. After each iteration (64
//!   steps of every lane) the lanes' bits are folded into a 64-bit hash, so
//!   a register corrupted at any point (a lost upper `ymm` half, a wrong
//!   MXCSR rounding mode) shows in the result. Prints `checksum <16 hex
//!   digits>`, bit-identical for the same ITERATIONS on any x86-64 CPU,
//!   with or without AVX: only correctly rounded IEEE operations are used
//!   (add, multiply, divide, square root, min, max; no FMA). One iteration takes about 1.7 µs
//!   natively on the development machine and about 30 µs in its TCG
//!   guests (so 300000 iterations are about 9 s there).
//! * `migrate_work fill MEGABYTES [TIMEOUT_SECONDS]` — fills MEGABYTES MiB
//!   with `splitmix64(word index)`, then waits for SIGUSR1 (sleeping 10 ms
//!   at a time; the handler is installed before the fill, so an early
//!   signal is not lost), verifies every word and prints `verified <n>
//!   words, <bad> bad`; exit status 0 if none is bad, else 1. Without a
//!   signal within TIMEOUT_SECONDS (default 600) it says so on stderr and
//!   exits 3 without verifying.
//! * `migrate_work spin UNITS` — a register-only integer loop (no system
//!   calls) of UNITS × 2^29 dependent steps (one unit took 0.9 s natively
//!   on the development machine and 1.0 to 1.4 s in its TCG guests),
//!   then prints `pid <getpid> ppid <getppid> done` and exits 7.
//! * `migrate_work exitcode N [SIXTEENTHS]` — a fixed spin (SIXTEENTHS/16
//!   of a unit, default 1), then exit status N (0..=255) with no other
//!   system call, so a migrated run ends on the remote and its status must
//!   be replayed at home.
//! * `migrate_work fdops` — descriptor calls whose pointer arguments the
//!   forwarder describes specially: makes a pipe and writes 5 bytes into
//!   it, waits up to 300 s for SIGUSR1 (the test migrates it meanwhile),
//!   then `poll`s the pipe, asks `FIONREAD` with `ioctl`, sets
//!   `O_NONBLOCK` with `fcntl(F_GETFL/F_SETFL)`, checks `TCGETS` on
//!   `/dev/null` fails with `ENOTTY`, reads the 5 bytes and sees `EAGAIN`
//!   on the next read; prints `fdops ok`, or what went wrong and exits
//!   with the number of the failed step.
//! * `migrate_work produce TIMEOUT_SECONDS | migrate_work consume` — a
//!   stream of numbered lines that runs until the producer gets SIGUSR1,
//!   ended by `end <lines>`; the consumer checks every line arrives once,
//!   in order, and prints `consumed <n> ok` (see `produce`, `consume`).
//! * `migrate_work sysbench KIND N` — system-call cost, for MOSIX's Table 1
//!   (`cargo xtask bench migrate`). Creates `/tmp/sysbench-<pid>.dat`
//!   (1 KiB) and opens it, then waits up to 300 s for SIGUSR1 (the handler
//!   is installed last, so a caught SIGUSR1 in `/proc/PID/status` means
//!   it is ready; the harness migrates it meanwhile), runs N iterations of
//!   KIND and prints `sysbench KIND N <total_ns>`, then removes the file.
//!   KIND is `read1k` (pread of 1 KiB at offset 0), `write1k` (pwrite of
//!   1 KiB at offset 0), `openclose` (open and close of the file),
//!   `getppid`, `null` (an empty loop), `fork` (fork, the child `_exit(0)`s,
//!   waitpid) or `exec` (fork, the child execs `/bin/true`, waitpid). The
//!   total is CLOCK_MONOTONIC (`Instant`) except for `fork` and `exec`: a
//!   migrated process is brought home by its first fork, so start and end
//!   would be read on different nodes' clocks. Those two read the home
//!   node's clock instead, as the file's mtime after `futimens(fd, NULL)`
//!   and `fstat` (forwarded home from a remote; so the start is about 1.5
//!   transport round trips early) and the same again after the last
//!   waitpid. Exit status 0, 1 if an iteration failed, 3 without SIGUSR1.

use std::io::Write;
use std::process::exit;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

fn usage() -> ! {
    eprintln!(
        "usage: migrate_work fpu ITERATIONS\n       migrate_work fill MEGABYTES [TIMEOUT_SECONDS]\n       \
         migrate_work spin UNITS\n       migrate_work exitcode N [SIXTEENTHS]\n       migrate_work fdops\n       \
         migrate_work scribble MEGABYTES MIB_PER_S [TIMEOUT_SECONDS]\n       \
         migrate_work produce TIMEOUT_SECONDS | migrate_work consume\n       \
         migrate_work sysbench read1k|write1k|openclose|fork|exec|getppid|null N"
    );
    exit(2)
}

/// Prints `text` and a newline on stdout, flushed; a closed stdout is
/// ignored (the exit status still tells).
fn say(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

/// splitmix64: the fill pattern, and a good 64-bit mixer.
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

// ---------------------------------------------------------------- fpu

mod fpu {
    #[cfg(target_arch = "x86_64")]
    use core::arch::x86_64::*;

    /// Steps of every lane per iteration (between two folds into the hash).
    pub const INNER: usize = 64;
    /// Lanes of the vector part: four `ymm` (or eight `xmm`) registers.
    pub const LANES: usize = 16;

    /// Logistic-map parameters, one per lane, all in the chaotic range.
    pub fn rates() -> [f64; LANES] {
        core::array::from_fn(|i| 3.6 + 0.025 * i as f64)
    }

    /// Starting points, one per lane, in (0, 1).
    pub fn starts() -> [f64; LANES] {
        core::array::from_fn(|i| 0.1 + 0.05 * i as f64)
    }

    /// Keeps the logistic map away from its fixed points 0 and 1.
    pub const LO: f64 = 1.0 / 1024.0;
    /// See [`LO`].
    pub const HI: f64 = 1.0 - 1.0 / 1024.0;

    /// Folds one value into the hash.
    #[inline(always)]
    pub fn mix(h: u64, bits: u64) -> u64 {
        let h = (h ^ bits).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        h ^ (h >> 29)
    }

    /// Folds an iteration's state into the hash.
    #[inline(always)]
    pub fn fold(mut h: u64, it: u64, x: &[f64; LANES], v: &[f64; LANES], s: f64, u: f64) -> u64 {
        h = mix(h, it);
        for i in 0..LANES {
            h = mix(h, x[i].to_bits());
            h = mix(h, v[i].to_bits());
        }
        h = mix(h, s.to_bits());
        mix(h, u.to_bits())
    }

    /// One scalar step: the logistic map for `s` (clamped like the lanes),
    /// and `u <- sqrt(u + s) / (1 + s)`, which stays in (0, 2).
    #[inline(always)]
    pub fn scalar_step(s: f64, u: f64) -> (f64, f64) {
        let t = (3.93 * s) * (1.0 - s);
        let s = t.clamp(LO, HI);
        (s, (u + s).sqrt() / (1.0 + s))
    }

    /// The whole run with AVX: `x` and `v` live in eight `ymm` registers.
    /// Each lane computes exactly what [`run_sse2`] computes for it.
    ///
    /// # Safety
    ///
    /// The CPU must support AVX.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx")]
    pub unsafe fn run_avx(iters: u64) -> u64 {
        let (r, x0) = (rates(), starts());
        let one = _mm256_set1_pd(1.0);
        let lo = _mm256_set1_pd(LO);
        let hi = _mm256_set1_pd(HI);
        let r0 = _mm256_loadu_pd(r.as_ptr());
        let r1 = _mm256_loadu_pd(r.as_ptr().add(4));
        let r2 = _mm256_loadu_pd(r.as_ptr().add(8));
        let r3 = _mm256_loadu_pd(r.as_ptr().add(12));
        let mut x = [
            _mm256_loadu_pd(x0.as_ptr()),
            _mm256_loadu_pd(x0.as_ptr().add(4)),
            _mm256_loadu_pd(x0.as_ptr().add(8)),
            _mm256_loadu_pd(x0.as_ptr().add(12)),
        ];
        let mut v = [_mm256_set1_pd(0.5); 4];
        let (mut s, mut u) = (0.3f64, 0.7f64);
        let mut h = 0x726f_616d_2d66_7075u64; // "roam-fpu"
        let rs = [r0, r1, r2, r3];
        for it in 0..iters {
            for _ in 0..INNER {
                for k in 0..4 {
                    let t = _mm256_mul_pd(_mm256_mul_pd(rs[k], x[k]), _mm256_sub_pd(one, x[k]));
                    x[k] = _mm256_min_pd(_mm256_max_pd(t, lo), hi);
                    v[k] = _mm256_div_pd(_mm256_sqrt_pd(_mm256_add_pd(v[k], x[k])), _mm256_add_pd(one, x[k]));
                }
                (s, u) = scalar_step(s, u);
            }
            let mut xs = [0f64; LANES];
            let mut vs = [0f64; LANES];
            for k in 0..4 {
                _mm256_storeu_pd(xs.as_mut_ptr().add(4 * k), x[k]);
                _mm256_storeu_pd(vs.as_mut_ptr().add(4 * k), v[k]);
            }
            h = fold(h, it, &xs, &vs, s, u);
        }
        h
    }

    /// The whole run with SSE2 only: `x` and `v` in sixteen `xmm` registers
    /// (two per AVX register of [`run_avx`]).
    ///
    /// # Safety
    ///
    /// The CPU must support SSE2 (every x86-64 CPU does).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "sse2")]
    pub unsafe fn run_sse2(iters: u64) -> u64 {
        let (r, x0) = (rates(), starts());
        let one = _mm_set1_pd(1.0);
        let lo = _mm_set1_pd(LO);
        let hi = _mm_set1_pd(HI);
        let mut rs = [_mm_setzero_pd(); 8];
        let mut x = [_mm_setzero_pd(); 8];
        for k in 0..8 {
            rs[k] = _mm_loadu_pd(r.as_ptr().add(2 * k));
            x[k] = _mm_loadu_pd(x0.as_ptr().add(2 * k));
        }
        let mut v = [_mm_set1_pd(0.5); 8];
        let (mut s, mut u) = (0.3f64, 0.7f64);
        let mut h = 0x726f_616d_2d66_7075u64;
        for it in 0..iters {
            for _ in 0..INNER {
                for k in 0..8 {
                    let t = _mm_mul_pd(_mm_mul_pd(rs[k], x[k]), _mm_sub_pd(one, x[k]));
                    x[k] = _mm_min_pd(_mm_max_pd(t, lo), hi);
                    v[k] = _mm_div_pd(_mm_sqrt_pd(_mm_add_pd(v[k], x[k])), _mm_add_pd(one, x[k]));
                }
                (s, u) = scalar_step(s, u);
            }
            let mut xs = [0f64; LANES];
            let mut vs = [0f64; LANES];
            for k in 0..8 {
                _mm_storeu_pd(xs.as_mut_ptr().add(2 * k), x[k]);
                _mm_storeu_pd(vs.as_mut_ptr().add(2 * k), v[k]);
            }
            h = fold(h, it, &xs, &vs, s, u);
        }
        h
    }

    /// The checksum for `iters` iterations, with AVX when the CPU has it.
    pub fn run(iters: u64) -> u64 {
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx") {
                // SAFETY: AVX was just detected.
                return unsafe { run_avx(iters) };
            }
            // SAFETY: SSE2 is part of x86-64.
            unsafe { run_sse2(iters) }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            compile_error!("migrate_work fpu is x86-64 only")
        }
    }
}

// ---------------------------------------------------------------- fill

static GOT_USR1: AtomicBool = AtomicBool::new(false);

extern "C" fn on_usr1(_sig: libc::c_int) {
    GOT_USR1.store(true, Ordering::SeqCst);
}

fn install_usr1_handler() {
    // SAFETY: a zeroed sigaction is a valid starting point; the handler
    // only stores to an atomic, which is async-signal-safe.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_usr1 as extern "C" fn(libc::c_int) as libc::sighandler_t;
        sa.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut sa.sa_mask);
        if libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut()) != 0 {
            eprintln!("migrate_work: sigaction(SIGUSR1): {}", std::io::Error::last_os_error());
            exit(1);
        }
    }
}

/// The fill pattern for word `i`.
pub fn pattern(i: usize) -> u64 {
    splitmix64(i as u64)
}

/// Words of `mem` that do not hold their pattern.
pub fn count_bad(mem: &[u64]) -> usize {
    mem.iter().enumerate().filter(|&(i, &w)| w != pattern(i)).count()
}

fn fill(megabytes: usize, timeout_s: u64) -> i32 {
    install_usr1_handler();
    let words = megabytes * (1 << 20) / 8;
    let mem: Vec<u64> = (0..words).map(pattern).collect();
    let mut waited = 0u64;
    while !GOT_USR1.load(Ordering::SeqCst) {
        if waited >= timeout_s * 100 {
            eprintln!("migrate_work: fill: no SIGUSR1 within {timeout_s} s; not verifying");
            return 3;
        }
        std::thread::sleep(Duration::from_millis(10));
        waited += 1;
    }
    let bad = count_bad(std::hint::black_box(&mem));
    say(&format!("verified {words} words, {bad} bad"));
    i32::from(bad != 0)
}

// ---------------------------------------------------------------- scribble

/// Words in one block `scribble` rewrites at a time (64 KiB).
pub const SCRIBBLE_BLOCK: usize = 8192;

/// What word `i` holds once its block was rewritten `gen` times.
pub fn scribbled(i: usize, gen: u64) -> u64 {
    pattern(i) ^ gen.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Words of `mem` that do not hold what `steps` block rewrites, in
/// order from block 0 round and round, leave.
pub fn count_scribble_bad(mem: &[u64], steps: u64) -> usize {
    let blocks = (mem.len() / SCRIBBLE_BLOCK).max(1) as u64;
    mem.iter()
        .enumerate()
        .filter(|&(i, &w)| {
            let b = (i / SCRIBBLE_BLOCK) as u64;
            let gen = steps / blocks + u64::from(b < steps % blocks);
            w != scribbled(i, gen)
        })
        .count()
}

/// Fills `megabytes` with the pattern, then rewrites it block by block at
/// `mib_per_s` (0: flat out) until SIGUSR1; then checks every word
/// against what its rewrites must have left. A page a migration lost or
/// left stale shows as bad words.
fn scribble(megabytes: usize, mib_per_s: u64, timeout_s: u64) -> i32 {
    install_usr1_handler();
    let words = megabytes * (1 << 20) / 8;
    let mut mem: Vec<u64> = (0..words).map(pattern).collect();
    let blocks = (words / SCRIBBLE_BLOCK).max(1);
    let t0 = std::time::Instant::now();
    let mut steps = 0u64;
    while !GOT_USR1.load(Ordering::SeqCst) {
        if t0.elapsed() >= Duration::from_secs(timeout_s) {
            eprintln!("migrate_work: scribble: no SIGUSR1 within {timeout_s} s; not verifying");
            return 3;
        }
        let b = (steps % blocks as u64) as usize;
        let gen = steps / blocks as u64 + 1;
        let end = ((b + 1) * SCRIBBLE_BLOCK).min(words);
        for (i, w) in mem.iter_mut().enumerate().take(end).skip(b * SCRIBBLE_BLOCK) {
            *w = scribbled(i, gen);
        }
        std::hint::black_box(&mem);
        steps += 1;
        if mib_per_s > 0 {
            // 16 blocks per MiB: block `steps` is due at steps / (16 * rate) s.
            let due = Duration::from_secs_f64(steps as f64 / (16 * mib_per_s) as f64);
            if let Some(ahead) = due.checked_sub(t0.elapsed()) {
                std::thread::sleep(ahead);
            }
        }
    }
    let bad = count_scribble_bad(std::hint::black_box(&mem), steps);
    say(&format!("scribbled {steps} blocks, verified {words} words, {bad} bad"));
    i32::from(bad != 0)
}

// ---------------------------------------------------------------- spin

/// Dependent integer steps per unit of `spin`.
pub const SPIN_UNIT: u64 = 1 << 29;

/// `steps` dependent xorshift64* steps: pure register work, no memory and
/// no system calls, which the compiler cannot shorten.
pub fn spin(steps: u64) -> u64 {
    let mut x = std::hint::black_box(0x2545_F491_4F6C_DD1Du64);
    let mut acc = 0u64;
    for _ in 0..steps {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        acc = acc.wrapping_add(x.wrapping_mul(0x2545_F491_4F6C_DD1D));
    }
    std::hint::black_box(acc)
}

fn arg<T: std::str::FromStr>(a: Option<&String>) -> T {
    a.and_then(|s| s.parse().ok()).unwrap_or_else(|| usage())
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    match (a.get(1).map(String::as_str), a.len()) {
        (Some("fpu"), 3) => {
            let iters: u64 = arg(a.get(2));
            say(&format!("checksum {:016x}", fpu::run(iters)));
        }
        (Some("fill"), 3 | 4) => {
            let mb: usize = arg(a.get(2));
            let timeout: u64 = if a.len() == 4 { arg(a.get(3)) } else { 600 };
            if mb == 0 || mb > 1 << 20 {
                usage();
            }
            exit(fill(mb, timeout));
        }
        (Some("scribble"), 4 | 5) => {
            let mb: usize = arg(a.get(2));
            let rate: u64 = arg(a.get(3));
            let timeout: u64 = if a.len() == 5 { arg(a.get(4)) } else { 600 };
            if mb == 0 || mb > 1 << 20 {
                usage();
            }
            exit(scribble(mb, rate, timeout));
        }
        (Some("spin"), 3) => {
            let units: u64 = arg(a.get(2));
            spin(units.checked_mul(SPIN_UNIT).unwrap_or_else(|| usage()));
            // SAFETY: getpid and getppid cannot fail.
            let (pid, ppid) = unsafe { (libc::getpid(), libc::getppid()) };
            say(&format!("pid {pid} ppid {ppid} done"));
            exit(7);
        }
        (Some("exitcode"), 3 | 4) => {
            let code: u8 = arg(a.get(2));
            let sixteenths: u64 = if a.len() == 4 { arg(a.get(3)) } else { 1 };
            spin((SPIN_UNIT / 16).checked_mul(sixteenths).unwrap_or_else(|| usage()));
            exit(i32::from(code));
        }
        (Some("files"), 3) => exit(files(a.get(2).map(String::as_str).unwrap_or("/tmp"))),
        (Some("produce"), 3) => exit(produce(arg(a.get(2)))),
        (Some("consume"), 2) => exit(consume()),
        (Some("forkexec"), 2) => exit(forkexec()),
        (Some("fdops"), 2) => exit(fdops()),
        (Some("sysbench"), 4) => {
            let kind = a[2].as_str();
            if !SYSBENCH_KINDS.contains(&kind) {
                usage();
            }
            exit(sysbench(kind, arg(a.get(3))));
        }
        _ => usage(),
    }
}

/// Waits (bounded) for SIGUSR1: the test moves the process meanwhile.
fn wait_usr1(timeout_s: u64) -> bool {
    let mut waited = 0u64;
    while !GOT_USR1.load(Ordering::SeqCst) {
        if waited >= timeout_s * 100 {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
        waited += 1;
    }
    true
}

/// The bytes of line `i` of the file/pipe tests.
fn line(i: u64) -> String {
    format!("{i:08} {:016x}\n", splitmix64(i))
}

/// `files DIR`: opens DIR/a and writes lines 0..100 at home, waits for
/// SIGUSR1 (the test migrates it meanwhile), then appends lines 100..200
/// to DIR/a, creates DIR/b with lines 0..300, reads DIR/a back through
/// the descriptor opened before migration and checks it, and prints
/// `files ok <bytes of a> <bytes of b>`.
fn files(dir: &str) -> i32 {
    use std::io::{Read, Seek, SeekFrom};
    install_usr1_handler();
    let pa = format!("{dir}/a");
    let pb = format!("{dir}/b");
    let Ok(mut a) = std::fs::OpenOptions::new().create(true).truncate(true).read(true).write(true).open(&pa) else { return 10 };
    for i in 0..100 {
        if a.write_all(line(i).as_bytes()).is_err() {
            return 11;
        }
    }
    if !wait_usr1(300) {
        return 3;
    }
    for i in 100..200 {
        if a.write_all(line(i).as_bytes()).is_err() {
            return 12;
        }
    }
    let Ok(mut b) = std::fs::File::create(&pb) else { return 13 };
    let mut all = String::new();
    for i in 0..300 {
        all.push_str(&line(i));
    }
    if b.write_all(all.as_bytes()).is_err() {
        return 14;
    }
    let mut back = String::new();
    if a.seek(SeekFrom::Start(0)).is_err() || a.read_to_string(&mut back).is_err() {
        return 15;
    }
    let want: String = (0..200).map(line).collect();
    if back != want {
        say(&format!("files bad: read {} bytes back, want {}", back.len(), want.len()));
        return 1;
    }
    say(&format!("files ok {} {}", want.len(), all.len()));
    0
}

/// `fdops`: see the module documentation.
fn fdops() -> i32 {
    install_usr1_handler();
    let mut p = [0i32; 2];
    // SAFETY: `p` has room for the two descriptors pipe writes.
    if unsafe { libc::pipe(p.as_mut_ptr()) } != 0 {
        return 10;
    }
    // SAFETY: writes 5 bytes from a live buffer to our pipe.
    if unsafe { libc::write(p[1], b"hello".as_ptr().cast(), 5) } != 5 {
        return 11;
    }
    if !wait_usr1(300) {
        return 3;
    }
    let fail = |step: i32, what: &str| -> i32 {
        say(&format!("fdops: {what}: {}", std::io::Error::last_os_error()));
        step
    };
    let mut pfd = libc::pollfd { fd: p[0], events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid pollfd.
    let n = unsafe { libc::poll(&mut pfd, 1, 5000) };
    if n != 1 || pfd.revents & libc::POLLIN == 0 {
        return fail(20, &format!("poll gave {n}, revents {:#x}", pfd.revents));
    }
    let mut avail: libc::c_int = -1;
    // SAFETY: FIONREAD writes one int.
    if unsafe { libc::ioctl(p[0], libc::FIONREAD, &mut avail) } != 0 || avail != 5 {
        return fail(21, &format!("FIONREAD gave {avail}"));
    }
    // SAFETY: fcntl with integer arguments on our descriptor.
    let fl = unsafe { libc::fcntl(p[0], libc::F_GETFL) };
    // SAFETY: as above.
    if fl < 0 || unsafe { libc::fcntl(p[0], libc::F_SETFL, fl | libc::O_NONBLOCK) } != 0 {
        return fail(22, "F_GETFL/F_SETFL");
    }
    // SAFETY: as above.
    let fl2 = unsafe { libc::fcntl(p[0], libc::F_GETFL) };
    if fl2 & libc::O_NONBLOCK == 0 {
        return fail(23, &format!("O_NONBLOCK not set: {fl2:#x}"));
    }
    // SAFETY: a NUL-terminated path.
    let null = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
    // SAFETY: a zeroed termios is a valid buffer for TCGETS to fill.
    let mut tio: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: TCGETS writes one termios (or fails).
    let r = unsafe { libc::ioctl(null, libc::TCGETS, &mut tio) };
    let e = std::io::Error::last_os_error().raw_os_error();
    if null < 0 || r != -1 || e != Some(libc::ENOTTY) {
        return fail(24, &format!("TCGETS on /dev/null ({null}) gave {r}, errno {e:?}"));
    }
    let mut buf = [0u8; 16];
    // SAFETY: reads into a live buffer of its length.
    let n = unsafe { libc::read(p[0], buf.as_mut_ptr().cast(), buf.len()) };
    if n != 5 || &buf[..5] != b"hello" {
        return fail(25, &format!("read gave {n}"));
    }
    // SAFETY: as above.
    let n = unsafe { libc::read(p[0], buf.as_mut_ptr().cast(), buf.len()) };
    let e = std::io::Error::last_os_error().raw_os_error();
    if n != -1 || e != Some(libc::EAGAIN) {
        return fail(26, &format!("a read of the empty non-blocking pipe gave {n}, errno {e:?}"));
    }
    say("fdops ok");
    0
}

/// `produce TIMEOUT_SECONDS`: writes lines 0, 1, 2, ... to stdout,
/// pausing now and then, until SIGUSR1 (the test moves both ends of the
/// pipe meanwhile, so the moves always land mid-stream however slow the
/// machine), then writes `end <lines>` and exits 0. Without a signal
/// within TIMEOUT_SECONDS it ends the stream the same way and exits 3.
fn produce(timeout_s: u64) -> i32 {
    install_usr1_handler();
    let start = std::time::Instant::now();
    let mut out = std::io::stdout().lock();
    let mut i = 0u64;
    let signalled = loop {
        if GOT_USR1.load(Ordering::SeqCst) {
            break true;
        }
        if start.elapsed() >= Duration::from_secs(timeout_s) {
            break false;
        }
        if out.write_all(line(i).as_bytes()).is_err() {
            return 1;
        }
        i += 1;
        if i % 64 == 0 {
            let _ = out.flush();
            spin(SPIN_UNIT / 256);
        }
    };
    if writeln!(out, "end {i}").and_then(|()| out.flush()).is_err() {
        return 1;
    }
    if signalled {
        0
    } else {
        eprintln!("migrate_work: produce: no SIGUSR1 within {timeout_s} s");
        3
    }
}

/// `consume`: reads lines from stdin and checks they are 0, 1, 2, ... in
/// order, each exactly once, up to the producer's `end <lines>`; prints
/// `consumed <n> ok` or what was wrong.
fn consume() -> i32 {
    use std::io::BufRead;
    let mut n = 0u64;
    for l in std::io::stdin().lock().lines() {
        let Ok(l) = l else { return 2 };
        if let Some(total) = l.strip_prefix("end ") {
            if total != n.to_string() {
                say(&format!("consume: the producer wrote {total} lines, {n} arrived"));
                return 1;
            }
            say(&format!("consumed {n} ok"));
            return 0;
        }
        if format!("{l}\n") != line(n) {
            say(&format!("consume bad at line {n}: {l:?}"));
            return 1;
        }
        n += 1;
        if n % 64 == 0 {
            spin(SPIN_UNIT / 512);
        }
    }
    say(&format!("consume: the stream ended after {n} lines without the producer's end"));
    1
}

/// `forkexec`: waits for SIGUSR1, then forks; the child execs
/// `/bin/echo child-ran` and the parent waits for it and prints
/// `forkexec ok` if it exited 0.
fn forkexec() -> i32 {
    install_usr1_handler();
    if !wait_usr1(300) {
        return 3;
    }
    let st = std::process::Command::new("/bin/echo").arg("child-ran").status();
    match st {
        Ok(s) if s.success() => {
            say("forkexec ok");
            0
        }
        _ => 1,
    }
}

// ---------------------------------------------------------------- sysbench

/// The kinds of `sysbench`.
pub const SYSBENCH_KINDS: [&str; 7] = ["read1k", "write1k", "openclose", "fork", "exec", "getppid", "null"];

/// The program `sysbench exec` runs (a busybox applet in the guests).
const TRUE_PATH: &str = "/bin/true";

/// The home node's CLOCK_REALTIME in ns, read as `fd`'s new mtime: the
/// `futimens` and `fstat` run at home even when the process does not.
fn home_stamp(fd: libc::c_int) -> Option<i128> {
    // SAFETY: a null `times` means "now"; `st` is a valid out-pointer.
    unsafe {
        if libc::futimens(fd, std::ptr::null()) != 0 {
            return None;
        }
        let mut st: libc::stat = std::mem::zeroed();
        if libc::fstat(fd, &mut st) != 0 {
            return None;
        }
        Some(i128::from(st.st_mtime) * 1_000_000_000 + i128::from(st.st_mtime_nsec))
    }
}

/// fork, then in the child `execv(path, argv)` if `exec` is given (else
/// `_exit(0)` at once), and wait for it; whether it exited 0.
fn fork_wait(exec: Option<(&std::ffi::CStr, &[*const libc::c_char])>) -> bool {
    // SAFETY: the process is single-threaded; the child calls only
    // async-signal-safe functions (execv, _exit) before it ends.
    unsafe {
        let pid = libc::fork();
        if pid < 0 {
            return false;
        }
        if pid == 0 {
            if let Some((path, argv)) = exec {
                libc::execv(path.as_ptr(), argv.as_ptr());
                libc::_exit(127);
            }
            libc::_exit(0);
        }
        let mut st = 0;
        libc::waitpid(pid, &mut st, 0) == pid && libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 0
    }
}

/// `sysbench KIND N`: see the module documentation.
fn sysbench(kind: &str, n: u64) -> i32 {
    use std::ffi::CString;
    let path = format!("/tmp/sysbench-{}.dat", std::process::id());
    let Ok(cpath) = CString::new(path) else { return 1 };
    let Ok(ctrue) = CString::new(TRUE_PATH) else { return 1 };
    let argv = [ctrue.as_ptr(), std::ptr::null()];
    let mut buf = [0u8; 1024];
    for (i, b) in buf.iter_mut().enumerate() {
        *b = (splitmix64(i as u64) & 0xff) as u8;
    }
    // SAFETY: a valid NUL-terminated path.
    let fd = unsafe { libc::open(cpath.as_ptr(), libc::O_RDWR | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC, 0o644) };
    if fd < 0 {
        eprintln!("migrate_work: sysbench: open: {}", std::io::Error::last_os_error());
        return 1;
    }
    let cleanup = || {
        // SAFETY: fd is ours; the path is valid.
        unsafe {
            libc::close(fd);
            libc::unlink(cpath.as_ptr());
        }
    };
    // SAFETY: buf is 1024 bytes.
    if unsafe { libc::pwrite(fd, buf.as_ptr().cast(), 1024, 0) } != 1024 {
        cleanup();
        return 1;
    }
    install_usr1_handler();
    if !wait_usr1(300) {
        eprintln!("migrate_work: sysbench: no SIGUSR1 within 300 s");
        cleanup();
        return 3;
    }
    let mut ok = true;
    let t0 = std::time::Instant::now();
    let h0 = if matches!(kind, "fork" | "exec") { home_stamp(fd) } else { Some(0) };
    for i in 0..n {
        // SAFETY (all arms): valid descriptors, buffers of 1024 bytes and
        // NUL-terminated paths.
        ok &= match kind {
            "read1k" => unsafe { libc::pread(fd, buf.as_mut_ptr().cast(), 1024, 0) == 1024 },
            "write1k" => unsafe { libc::pwrite(fd, buf.as_ptr().cast(), 1024, 0) == 1024 },
            "openclose" => unsafe {
                let f = libc::open(cpath.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
                f >= 0 && libc::close(f) == 0
            },
            "getppid" => unsafe { std::hint::black_box(libc::getppid()) > 0 },
            "fork" => fork_wait(None),
            "exec" => fork_wait(Some((&ctrue, &argv))),
            _ => {
                std::hint::black_box(i);
                true
            }
        };
        if !ok {
            eprintln!("migrate_work: sysbench {kind}: iteration {i} failed: {}", std::io::Error::last_os_error());
            break;
        }
    }
    let total = match (kind, h0) {
        ("fork" | "exec", Some(h0)) => home_stamp(fd).map(|h1| (h1 - h0).max(0) as u64),
        ("fork" | "exec", None) => None,
        _ => Some(t0.elapsed().as_nanos() as u64),
    };
    cleanup();
    let Some(total) = total.filter(|_| ok) else {
        if ok {
            eprintln!("migrate_work: sysbench {kind}: cannot read the home clock: {}", std::io::Error::last_os_error());
        }
        return 1;
    };
    say(&format!("sysbench {kind} {n} {total}"));
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avx_and_sse2_agree_bit_for_bit() {
        // SAFETY: SSE2 is part of x86-64.
        let sse = unsafe { fpu::run_sse2(500) };
        if is_x86_feature_detected!("avx") {
            // SAFETY: just detected.
            assert_eq!(unsafe { fpu::run_avx(500) }, sse);
        }
        assert_eq!(fpu::run(500), sse);
        assert_ne!(fpu::run(499), sse);
    }

    #[test]
    fn fpu_checksum_is_pinned() {
        // Changing the computation changes every test's expected output;
        // these values are the contract.
        assert_eq!(format!("{:016x}", fpu::run(0)), "726f616d2d667075");
        assert_eq!(format!("{:016x}", fpu::run(1000)), FPU_1000);
    }

    const FPU_1000: &str = "0d84223d2a57abe0";

    #[test]
    fn lanes_stay_in_range_and_keep_moving() {
        let r = fpu::rates();
        assert!(r.iter().all(|&r| r > 3.57 && r < 4.0));
        let (mut s, mut u) = (0.3, 0.7);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10_000 {
            (s, u) = fpu::scalar_step(s, u);
            assert!((fpu::LO..=fpu::HI).contains(&s) && u > 0.0 && u < 2.0);
            seen.insert(s.to_bits());
        }
        assert!(seen.len() > 1000, "the map settled into a short cycle");
    }

    #[test]
    fn scribble_accounting() {
        let words = 4 * SCRIBBLE_BLOCK;
        let mut mem: Vec<u64> = (0..words).map(pattern).collect();
        assert_eq!(count_scribble_bad(&mem, 0), 0);
        // Six steps over four blocks: blocks 0 and 1 twice, 2 and 3 once.
        for s in 0..6u64 {
            let b = (s % 4) as usize;
            for i in b * SCRIBBLE_BLOCK..(b + 1) * SCRIBBLE_BLOCK {
                mem[i] = scribbled(i, s / 4 + 1);
            }
        }
        assert_eq!(count_scribble_bad(&mem, 6), 0);
        assert_eq!(count_scribble_bad(&mem, 5), SCRIBBLE_BLOCK);
        // A block left one rewrite behind (a stale page) is caught.
        mem[SCRIBBLE_BLOCK + 3] = scribbled(SCRIBBLE_BLOCK + 3, 1);
        assert_eq!(count_scribble_bad(&mem, 6), 1);
    }

    #[test]
    fn fill_pattern() {
        let mut mem: Vec<u64> = (0..4096).map(pattern).collect();
        assert_eq!(count_bad(&mem), 0);
        assert_ne!(pattern(0), pattern(1));
        mem[7] ^= 1;
        mem[4000] = 0;
        assert_eq!(count_bad(&mem), 2);
        assert_eq!(splitmix64(0), 0xE220_A839_7B1D_CDAF);
    }

    #[test]
    fn sysbench_home_stamp_and_fork() {
        let path = std::ffi::CString::new(format!("/tmp/sysbench-test-{}.dat", std::process::id())).unwrap();
        // SAFETY: a valid path.
        let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDWR | libc::O_CREAT | libc::O_TRUNC, 0o644) };
        assert!(fd >= 0);
        let a = home_stamp(fd).unwrap();
        std::thread::sleep(Duration::from_millis(30));
        let b = home_stamp(fd).unwrap();
        // SAFETY: ours.
        unsafe {
            libc::close(fd);
            libc::unlink(path.as_ptr());
        }
        assert!(b - a >= 20_000_000 && b - a < 5_000_000_000, "{a} {b}");
        assert!(fork_wait(None));
        if std::path::Path::new(TRUE_PATH).exists() {
            let t = std::ffi::CString::new(TRUE_PATH).unwrap();
            assert!(fork_wait(Some((&t, &[t.as_ptr(), std::ptr::null()]))));
            let f = std::ffi::CString::new("/bin/false").unwrap();
            assert!(!fork_wait(Some((&f, &[f.as_ptr(), std::ptr::null()]))));
        }
    }

    #[test]
    fn spin_is_deterministic() {
        assert_eq!(spin(1000), spin(1000));
        assert_ne!(spin(1000), spin(1001));
    }
}
