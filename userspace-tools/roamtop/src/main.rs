//! `roamtop`: a live view of roam from this node, like MOSIX's `mon` and
//! openMosix's `mtop`. Every second it reads `/sys/kernel/roam/` (or
//! `$ROAM_SYSFS`) and redraws: each node's load as a bar, free memory,
//! where this node's processes run (`roamctl ps`, which needs
//! `/dev/roam`), the guests here, migrations per second and the latest
//! migrations.
//!
//! Exit statuses as roamctl's: 3 when roam is not loaded, 1 on other
//! errors, 2 for usage errors.

mod frame;

use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use roamctl::{ps, sysfs};
use roamtop::Cli;

/// `1`, `0.5`: the interval as typed for the title.
fn fmt_interval(s: f64) -> String {
    if s.fract() == 0.0 {
        format!("{s:.0}")
    } else {
        format!("{s}")
    }
}

/// Whether stdout is a terminal.
fn stdout_is_tty() -> bool {
    // SAFETY: isatty only inspects the descriptor.
    unsafe { libc::isatty(io::stdout().as_raw_fd()) == 1 }
}

/// The terminal's rows and columns, when stdout is one that knows its
/// size (a serial console often does not).
fn terminal_size() -> Option<(usize, usize)> {
    let fd = io::stdout().as_raw_fd();
    let mut ws = libc::winsize { ws_row: 0, ws_col: 0, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCGWINSZ writes one `struct winsize` to the pointer, which
    // points to a live, writable `winsize`.
    let rc = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws as *mut libc::winsize) };
    (rc == 0 && ws.ws_row > 0 && ws.ws_col > 0).then_some((usize::from(ws.ws_row), usize::from(ws.ws_col)))
}

/// Moves the cursor home and clears the screen.
const CLEAR: &str = "\x1b[H\x1b[2J";

fn main() -> ExitCode {
    let cli = Cli::parse();
    let root = sysfs::root();
    let frames = if cli.once { Some(1) } else { cli.iterations };
    let style = frame::Style {
        bar_width: 30,
        events: cli.events,
        interval: (!cli.once).then(|| fmt_interval(cli.interval)),
    };
    let start = Instant::now();
    let mut prev: Option<frame::Snapshot> = None;
    let mut shown: u64 = 0;
    loop {
        let snap = match frame::gather(&root, start.elapsed(), || ps::list(&root)) {
            Ok(s) => s,
            Err(e) => {
                let _ = writeln!(io::stderr(), "roamtop: {e}");
                return ExitCode::from(e.exit_status());
            }
        };
        let rates = frame::rates(prev.as_ref(), &snap);
        let mut lines = frame::render(&snap, &rates, &style);
        // On a terminal, redraw in place; in a pipe, frames follow each
        // other separated by a blank line.
        let mut text = String::new();
        if !cli.once && stdout_is_tty() {
            if let Some((rows, cols)) = terminal_size() {
                frame::fit(&mut lines, rows, cols);
            }
            text.push_str(CLEAR);
        } else if shown > 0 {
            text.push('\n');
        }
        for l in &lines {
            text.push_str(l);
            text.push('\n');
        }
        let mut out = io::stdout().lock();
        if out.write_all(text.as_bytes()).and_then(|_| out.flush()).is_err() {
            // Nobody is reading any more (`roamtop | head`).
            return ExitCode::SUCCESS;
        }
        drop(out);
        shown += 1;
        if frames.is_some_and(|n| shown >= n) {
            return ExitCode::SUCCESS;
        }
        prev = Some(snap);
        std::thread::sleep(Duration::from_secs_f64(cli.interval));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn arguments() {
        Cli::command().debug_assert();
        let c = Cli::try_parse_from(["roamtop"]).unwrap();
        assert!(!c.once && c.iterations.is_none() && c.interval == 1.0 && c.events == 5);
        let c = Cli::try_parse_from(["roamtop", "--iterations", "3", "--interval", "0.5", "--events", "0"]).unwrap();
        assert_eq!((c.iterations, c.interval, c.events), (Some(3), 0.5, 0));
        assert!(Cli::try_parse_from(["roamtop", "--once"]).unwrap().once);
        for bad in [
            &["roamtop", "--once", "--iterations", "2"][..],
            &["roamtop", "--iterations", "0"],
            &["roamtop", "--interval", "0"],
            &["roamtop", "--interval", "nan"],
            &["roamtop", "--interval", "4000"],
        ] {
            assert_eq!(Cli::try_parse_from(bad).err().map(|e| e.exit_code()), Some(2), "{bad:?}");
        }
        assert_eq!(fmt_interval(1.0), "1");
        assert_eq!(fmt_interval(0.5), "0.5");
    }
}
