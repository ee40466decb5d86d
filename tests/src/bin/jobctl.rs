//! `jobctl`: a parent that watches its child's job-control states as a
//! shell would. It forks a child that sleeps 10 ms at a time (for at most
//! 300 s), prints `child PID`, and then reports every state change that
//! `waitpid(child, WUNTRACED | WCONTINUED)` gives, one line each:
//! `stopped SIG`, `continued`, `exited CODE` or `signaled SIG`. It exits 0
//! once the child has ended, 2 if `waitpid` fails. The cluster scenario
//! moves the child to another node and stops, continues and ends it from
//! home.

use std::io::Write;

fn say(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

fn main() {
    // SAFETY: the child only calls nanosleep and _exit.
    let child = unsafe { libc::fork() };
    if child < 0 {
        eprintln!("jobctl: fork: {}", std::io::Error::last_os_error());
        std::process::exit(2);
    }
    if child == 0 {
        let ts = libc::timespec { tv_sec: 0, tv_nsec: 10_000_000 };
        for _ in 0..30_000 {
            // SAFETY: a valid timespec.
            unsafe { libc::nanosleep(&ts, std::ptr::null_mut()) };
        }
        // SAFETY: ends the child without running the parent's atexit work.
        unsafe { libc::_exit(0) };
    }
    say(&format!("child {child}"));
    loop {
        let mut st = 0;
        // SAFETY: `st` is a valid int to write.
        let r = unsafe { libc::waitpid(child, &mut st, libc::WUNTRACED | libc::WCONTINUED) };
        if r < 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            say(&format!("waitpid: {e}"));
            std::process::exit(2);
        }
        if libc::WIFSTOPPED(st) {
            say(&format!("stopped {}", libc::WSTOPSIG(st)));
        } else if libc::WIFCONTINUED(st) {
            say("continued");
        } else if libc::WIFEXITED(st) {
            say(&format!("exited {}", libc::WEXITSTATUS(st)));
            return;
        } else if libc::WIFSIGNALED(st) {
            say(&format!("signaled {}", libc::WTERMSIG(st)));
            return;
        }
    }
}
