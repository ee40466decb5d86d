//! The host end of a guest's command agent (roam-agent on ttyS1), reached
//! through the QEMU chardev's unix socket.
//!
//! Calls nothing else in xtask (only `roam_agent`'s protocol).

use anyhow::{bail, Context, Result};
use roam_agent::proto::{self, Reply, Request};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// A connection to one guest's agent.
pub struct Agent {
    node: u32,
    stream: UnixStream,
    pending: Vec<u8>,
    next_id: u64,
}

/// What a command printed and how it ended.
#[derive(Debug, Clone)]
pub struct Output {
    pub rc: i32,
    pub text: String,
}

impl Agent {
    /// Connects to the agent socket and waits (up to `timeout`) until the
    /// agent answers a ping, i.e. the guest has booted.
    pub fn connect(node: u32, sock: &Path, timeout: Duration, alive: &dyn Fn() -> bool) -> Result<Agent> {
        let start = Instant::now();
        let stream = loop {
            match UnixStream::connect(sock) {
                Ok(s) => break s,
                Err(e) if start.elapsed() < timeout && alive() => {
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => bail!("node {node}: cannot connect to its agent socket {}: {e}", sock.display()),
            }
        };
        let mut a = Agent { node, stream, pending: Vec::new(), next_id: 1 };
        loop {
            if !alive() {
                bail!("node {node}: QEMU exited while booting");
            }
            if start.elapsed() > timeout {
                bail!("node {node}: no answer from the guest agent within {}s (did the guest boot?)", timeout.as_secs());
            }
            let id = a.fresh_id();
            a.send(&Request::Ping(id.clone()))?;
            let until = Instant::now() + Duration::from_secs(2);
            while Instant::now() < until {
                match a.read_line(until)? {
                    Some(line) => {
                        if let Some(Reply::Pong(got)) = proto::parse_reply(&line) {
                            if got == id {
                                return Ok(a);
                            }
                        }
                    }
                    None => break,
                }
            }
        }
    }

    fn fresh_id(&mut self) -> String {
        self.next_id += 1;
        format!("{}-{}", std::process::id(), self.next_id)
    }

    fn send(&mut self, req: &Request) -> Result<()> {
        let mut s = proto::format_request(req);
        if !s.ends_with('\n') {
            s.push('\n');
        }
        self.stream
            .write_all(s.as_bytes())
            .with_context(|| format!("node {}: writing to the agent", self.node))
    }

    /// Reads one line, or `None` if `deadline` passes first.
    fn read_line(&mut self, deadline: Instant) -> Result<Option<String>> {
        loop {
            if let Some(pos) = self.pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=pos).collect();
                let s = String::from_utf8_lossy(&line).trim_end_matches(['\n', '\r']).to_string();
                return Ok(Some(s));
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            self.stream.set_read_timeout(Some((deadline - now).max(Duration::from_millis(1))))?;
            let mut buf = [0u8; 65536];
            match self.stream.read(&mut buf) {
                Ok(0) => bail!("node {}: the agent connection closed (QEMU gone?)", self.node),
                Ok(n) => self.pending.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::TimedOut => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e).with_context(|| format!("node {}: reading from the agent", self.node)),
            }
        }
    }

    /// Runs `cmd` with `/bin/sh -c` in the guest and waits up to `timeout`.
    pub fn run(&mut self, cmd: &str, timeout: Duration) -> Result<Output> {
        let id = self.fresh_id();
        self.send(&Request::Run { id: id.clone(), cmd: cmd.as_bytes().to_vec() })?;
        let deadline = Instant::now() + timeout;
        let mut text = String::new();
        loop {
            let Some(line) = self.read_line(deadline)? else {
                bail!("node {}: `{cmd}` did not finish within {}s", self.node, timeout.as_secs());
            };
            match proto::parse_reply(&line) {
                Some(Reply::Out { id: got, data }) if got == id => text.push_str(&String::from_utf8_lossy(&data)),
                Some(Reply::End { id: got, rc }) if got == id => return Ok(Output { rc, text }),
                Some(Reply::Err(e)) => bail!("node {}: the agent refused `{cmd}`: {e}", self.node),
                _ => {}
            }
        }
    }

    /// Runs `cmd` and fails unless it exits 0.
    pub fn check(&mut self, cmd: &str, timeout: Duration) -> Result<String> {
        let o = self.run(cmd, timeout)?;
        if o.rc != 0 {
            bail!("node {}: `{cmd}` exited {}:\n{}", self.node, o.rc, o.text.trim_end());
        }
        Ok(o.text)
    }
}
