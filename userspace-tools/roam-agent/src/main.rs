//! `roam-agent <tty>`: runs shell commands inside a test guest on behalf
//! of the host, talking over a serial line with the protocol in
//! [`roam_agent::proto`].
//!
//! Commands run one at a time. Each gets stdin from /dev/null and a single
//! pipe as both stdout and stderr; the agent answers once that pipe reaches
//! EOF. A command that leaves a background process holding the pipe open
//! therefore blocks the agent: redirect such a process's output (e.g.
//! `daemon >/dev/null 2>&1 &`).

mod sys;

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitCode, Stdio};
use std::thread::sleep;
use std::time::Duration;

use roam_agent::proto::{self, LineBuffer, Reply, Request};

/// Pause after EOF or a read error on the tty before reading again.
const RETRY_DELAY: Duration = Duration::from_millis(100);

/// Exit code reported when `/bin/sh` cannot be started (as a shell does
/// for "command not found").
const SPAWN_FAILED_RC: i32 = 127;

fn main() -> ExitCode {
    let Some(path) = std::env::args_os().nth(1) else {
        eprintln!("usage: roam-agent <tty>");
        return ExitCode::from(2);
    };
    let tty = match sys::open_raw_tty(path.as_ref()) {
        Ok(tty) => tty,
        Err(e) => {
            eprintln!("roam-agent: cannot open {}: {e}", path.to_string_lossy());
            return ExitCode::FAILURE;
        }
    };
    serve(tty)
}

/// Announces readiness, then answers requests forever.
fn serve(mut tty: File) -> ! {
    send(&mut tty, &Reply::Ready);
    let mut lines = LineBuffer::new();
    let mut buf = [0u8; 4096];
    let mut last_error: Option<io::ErrorKind> = None;
    loop {
        match tty.read(&mut buf) {
            Ok(0) => {
                // The host side went away; the port comes back when it
                // reconnects.
                sleep(RETRY_DELAY);
            }
            Ok(n) => {
                last_error = None;
                for line in lines.push(&buf[..n]) {
                    handle(&mut tty, &line);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                // Never give up: this line is the guest's only way to the
                // host. Log each new kind of error once, not every retry.
                if last_error != Some(e.kind()) {
                    eprintln!("roam-agent: read error (retrying): {e}");
                    last_error = Some(e.kind());
                }
                sleep(RETRY_DELAY);
            }
        }
    }
}

/// Answers one request line.
fn handle(tty: &mut File, line: &str) {
    match proto::parse_request(line) {
        Ok(Request::Ping(id)) => send(tty, &Reply::Pong(id)),
        Ok(Request::Run { id, cmd }) => {
            let (data, rc) = run_shell(&cmd);
            send(tty, &Reply::Out { id: id.clone(), data });
            send(tty, &Reply::End { id, rc });
        }
        Err(reason) => send(tty, &Reply::Err(reason)),
    }
}

/// Writes a reply; a failed write is logged, as there is no one else to
/// tell.
fn send(tty: &mut File, reply: &Reply) {
    let line = proto::format_reply(reply);
    if let Err(e) = tty.write_all(line.as_bytes()) {
        eprintln!("roam-agent: cannot write reply: {e}");
    }
}

/// Runs `/bin/sh -c cmd` and returns its combined stdout/stderr and exit
/// code (128+signal if it was killed).
fn run_shell(cmd: &[u8]) -> (Vec<u8>, i32) {
    match try_run_shell(cmd) {
        Ok(result) => result,
        Err(e) => {
            let msg = format!("roam-agent: cannot run /bin/sh: {e}\n");
            (msg.into_bytes(), SPAWN_FAILED_RC)
        }
    }
}

fn try_run_shell(cmd: &[u8]) -> io::Result<(Vec<u8>, i32)> {
    let (reader, writer) = sys::pipe()?;
    let mut command = Command::new("/bin/sh");
    command
        .arg("-c")
        .arg(OsStr::from_bytes(cmd))
        .stdin(Stdio::null())
        .stdout(Stdio::from(writer.try_clone()?))
        .stderr(Stdio::from(writer));
    let spawned = command.spawn();
    // `command` holds our copies of the pipe's write end; they must be
    // closed or the read below never sees EOF.
    drop(command);
    let mut child = spawned?;

    let mut output = Vec::new();
    let read = File::from(reader).read_to_end(&mut output);
    // Reap the child even if reading failed.
    let status = child.wait()?;
    read?;
    let rc = match (status.code(), status.signal()) {
        (Some(code), _) => code,
        (None, Some(sig)) => 128 + sig,
        (None, None) => -1,
    };
    Ok((output, rc))
}
