//! `roamrun`: start a program under a migration policy.
//!
//! ```text
//! roamrun [--lock] [--nodes LIST] [--best | --on NODE] [--] PROGRAM [ARGS...]
//! ```
//!
//! * `--lock`: the program never leaves this node;
//! * `--nodes LIST`: it may be moved only to these nodes (`2,4-6`), by the
//!   balancer or by hand; its home is always allowed;
//! * `--best`: start it on the least-loaded node that is up (and allowed);
//! * `--on NODE`: start it on NODE.
//!
//! Without `--best`/`--on`, roamrun sets the policy on itself and execs the
//! program (same pid). With them, it runs the program as a child, moves it
//! once it has exec'd, waits for it and exits with its status (128 + the
//! signal if it was killed); it says on stderr where the program runs.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;
use std::sync::atomic::{AtomicI32, Ordering};

use clap::Parser;
use roam_proto::abi::{refusal, Migrate, PidArg, ROAM_IOC_LOCK, ROAM_IOC_MIGRATE};
use roamctl::cli::RunCli as Cli;
use roamctl::dev::Device;
use roamctl::{nodes, run, sysfs};

/// The child, for the signal forwarder (0: none yet).
static CHILD: AtomicI32 = AtomicI32::new(0);

extern "C" fn forward(sig: libc::c_int) {
    let pid = CHILD.load(Ordering::Relaxed);
    if pid > 0 {
        // SAFETY: kill(2) is async-signal-safe and takes plain integers.
        unsafe { libc::kill(pid, sig) };
    }
}

fn fail(msg: &str) -> ExitCode {
    eprintln!("roamrun: {msg}");
    ExitCode::from(127)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let argv: Vec<CString> = match cli.command.iter().map(|a| CString::new(a.as_bytes())).collect() {
        Ok(v) => v,
        Err(_) => return fail("an argument contains a NUL byte"),
    };
    let dev = match Device::open() {
        Ok(d) => d,
        Err(e) => return fail(&format!("cannot open /dev/roam ({e}): is roam.ko loaded?")),
    };
    let me = std::process::id();
    if cli.lock {
        let mut buf = PidArg { pid: me }.to_bytes();
        if let Err(e) = dev.ioctl_rw(ROAM_IOC_LOCK, &mut buf) {
            return fail(&format!("cannot lock this process: {e}"));
        }
    }
    if let Some(mask) = cli.nodes {
        if let Err(e) = run::allow_ioctl(&dev, me, Some(mask)) {
            return fail(&format!("cannot set the allowed nodes: {e}"));
        }
    }
    let dest = if let Some(n) = cli.on {
        Some(n)
    } else if cli.best {
        match sysfs::read(&sysfs::root(), "nodes") {
            Ok(text) => run::best_node(&nodes::parse(&text), cli.nodes.unwrap_or(0)),
            Err(e) => {
                eprintln!("roamrun: cannot read the load of the nodes ({e}); starting here");
                None
            }
        }
    } else {
        None
    };
    if cli.on.is_none() && !cli.best {
        return exec(&argv);
    }
    spawn_on(&dev, &argv, dest)
}

/// Replaces this process with the program; returns only on failure.
fn exec(argv: &[CString]) -> ExitCode {
    let mut ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    // SAFETY: `ptrs` is a NULL-terminated array of pointers to NUL-terminated
    // strings that live (in `argv`) until execvp returns, if it does.
    unsafe { libc::execvp(ptrs[0], ptrs.as_ptr()) };
    let e = std::io::Error::last_os_error();
    fail(&format!("cannot run {}: {e}", argv[0].to_string_lossy()))
}

/// Runs the program as a child, moves it to `dest` (None: stays here)
/// once it has exec'd, and waits for it.
fn spawn_on(dev: &Device, argv: &[CString], dest: Option<u32>) -> ExitCode {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return fail(&format!("pipe: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: roamrun is single-threaded; the child only calls
    // async-signal-safe functions (write, execvp, _exit) before exec.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return fail(&format!("fork: {}", std::io::Error::last_os_error()));
    }
    if pid == 0 {
        let mut ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
        ptrs.push(std::ptr::null());
        // SAFETY: as in `exec`; on failure the errno goes to the parent
        // through the pipe and the child ends without running destructors.
        unsafe {
            libc::close(fds[0]);
            libc::execvp(ptrs[0], ptrs.as_ptr());
            let err = *libc::__errno_location();
            libc::write(fds[1], (&err as *const i32).cast(), 4);
            libc::_exit(127);
        }
    }
    CHILD.store(pid, Ordering::Relaxed);
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT, libc::SIGUSR1, libc::SIGUSR2] {
        // SAFETY: `forward` is an extern "C" fn that only calls kill(2).
        unsafe { libc::signal(sig, forward as *const () as libc::sighandler_t) };
    }
    // SAFETY: closing our copy of the write end; the read end is ours.
    unsafe { libc::close(fds[1]) };
    let mut err = [0u8; 4];
    // EOF (0 bytes): the exec succeeded and closed the pipe.
    let n = loop {
        // SAFETY: `err` has room for the 4 bytes asked for.
        let n = unsafe { libc::read(fds[0], err.as_mut_ptr().cast(), 4) };
        if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        break n;
    };
    // SAFETY: our read end, not used again.
    unsafe { libc::close(fds[0]) };
    if n == 4 {
        let _ = wait(pid);
        let e = std::io::Error::from_raw_os_error(i32::from_ne_bytes(err));
        return fail(&format!("cannot run {}: {e}", argv[0].to_string_lossy()));
    }
    match dest {
        None => eprintln!("roamrun: pid {pid} runs here (this node is the least loaded)"),
        Some(node) => {
            let mut buf = Migrate { pid: pid as u32, node, ..Migrate::default() }.to_bytes();
            match dev.ioctl_rw(ROAM_IOC_MIGRATE, &mut buf) {
                Ok(()) => {
                    let m = Migrate::from_bytes(&buf);
                    eprintln!("roamrun: pid {pid} runs on node {node} (pid {} there)", m.remote_pid);
                }
                Err(e) => {
                    let reason = Migrate::from_bytes(&buf).reason;
                    eprintln!("roamrun: pid {pid} runs here: moving it to node {node} failed: {e} ({})", refusal::explain(reason));
                }
            }
        }
    }
    wait(pid)
}

/// Waits for `pid`; its exit status, or 128 + the signal that killed it.
fn wait(pid: libc::pid_t) -> ExitCode {
    let mut status = 0;
    loop {
        // SAFETY: `status` is a valid int for waitpid to fill.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            break;
        }
        if r < 0 && std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            return fail(&format!("waitpid: {}", std::io::Error::last_os_error()));
        }
    }
    if libc::WIFEXITED(status) {
        ExitCode::from(libc::WEXITSTATUS(status) as u8)
    } else {
        ExitCode::from((128 + libc::WTERMSIG(status)) as u8)
    }
}
