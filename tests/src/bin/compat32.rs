//! `compat32`: a 64-bit program that makes 32-bit system calls
//! (`int $0x80`), as any program may on a kernel with
//! `CONFIG_IA32_EMULATION`. The 32-bit numbers mean other calls than the
//! 64-bit ones (32-bit 39 is `mkdir`, 64-bit 39 is `getpid`), so a
//! migrated process's 32-bit call must not be looked up in the 64-bit
//! table.
//!
//! `compat32 DIR`: prints `READY`, waits (sleeping) for SIGTERM, then
//! makes the 32-bit `mkdir(DIR, 0700)` and 32-bit `getpid`, prints
//! `mkdir=R getpid=P` (R the raw result: 0 or -errno) and exits 0. Run
//! unmigrated, `mkdir=0` and P is its pid; a migrated process must give
//! the same, with DIR made at its home node.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

static TERM: AtomicBool = AtomicBool::new(false);

extern "C" fn on_term(_: libc::c_int) {
    TERM.store(true, Ordering::SeqCst);
}

/// A 32-bit system call with up to two arguments (which must be below
/// 4 GiB: the 32-bit entry truncates them).
fn int80(nr: u32, a: u32, b: u32) -> i32 {
    let ret: u32;
    // SAFETY: `int $0x80` enters the kernel's 32-bit entry; it preserves
    // every register but eax (the result). The caller passes arguments
    // valid for the call.
    unsafe {
        // rbx is LLVM's: swap the argument in and out around the call.
        std::arch::asm!(
            "xchg {a:r}, rbx",
            "int 0x80",
            "xchg {a:r}, rbx",
            a = inout(reg) u64::from(a) => _,
            inlateout("eax") nr => ret,
            in("ecx") b,
            options(nostack),
        );
    }
    ret as i32
}

fn main() {
    let Some(dir) = std::env::args().nth(1) else {
        eprintln!("usage: compat32 DIR");
        std::process::exit(2);
    };
    // The path in memory below 4 GiB, where a 32-bit pointer reaches it.
    // SAFETY: a fresh anonymous mapping; the address is checked.
    let low = unsafe {
        libc::mmap(std::ptr::null_mut(), 4096, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_32BIT, -1, 0)
    };
    if low == libc::MAP_FAILED || (low as usize) >= 1 << 32 || dir.len() >= 4096 {
        eprintln!("compat32: no memory below 4 GiB");
        std::process::exit(2);
    }
    // SAFETY: `low` is a writable page; the path and its NUL fit.
    unsafe {
        std::ptr::copy_nonoverlapping(dir.as_ptr(), low.cast::<u8>(), dir.len());
        *low.cast::<u8>().add(dir.len()) = 0;
        libc::signal(libc::SIGTERM, on_term as extern "C" fn(libc::c_int) as libc::sighandler_t);
    }
    println!("READY");
    let _ = std::io::stdout().flush();
    let mut waited = 0;
    while !TERM.load(Ordering::SeqCst) && waited < 60_000 {
        std::thread::sleep(std::time::Duration::from_millis(10));
        waited += 10;
    }
    const NR32_MKDIR: u32 = 39;
    const NR32_GETPID: u32 = 20;
    let r = int80(NR32_MKDIR, low as usize as u32, 0o700);
    let pid = int80(NR32_GETPID, 0, 0);
    println!("mkdir={r} getpid={pid}");
}
