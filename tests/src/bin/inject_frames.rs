//! Sends hostile frames to a node's roam listener, as a misbehaving or
//! malicious peer would: garbage, a truncated header, an oversized length,
//! a wrong MAC, replays (same sequence number, older epoch) and a frame
//! from a node the target does not know.
//!
//! Usage: `inject_frames IP PORT KEYFILE FAKE_ID TARGET_ID`. The target must
//! list FAKE_ID as a peer at this machine's address (any port). The test
//! runner reads the target's reject counters before and after: this
//! program checks only what it can see from here (that the target hangs up
//! on undelimitable streams and keeps serving authentic ones).

use hmac::{Hmac, Mac};
use roam_proto::loadvec::LoadEntry;
use roam_proto::wire::{self, FrameMac, Header, MsgType, HEADER_LEN, MAC_LEN, MAX_PAYLOAD};
use roam_tests::ktap::Ktap;
use sha2::Sha256;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

struct HostMac(Vec<u8>);

impl FrameMac for HostMac {
    fn mac(&mut self, data: &[u8]) -> [u8; MAC_LEN] {
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("any key length works");
        m.update(data);
        m.finalize().into_bytes().into()
    }
}

fn parse_hex(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    (0..s.len()).step_by(2).map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok())).collect()
}

fn connect(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    Ok(s)
}

/// Whether the target closes the connection within the read timeout.
fn hung_up(s: &mut TcpStream) -> bool {
    let mut b = [0u8; 64];
    match s.read(&mut b) {
        Ok(0) => true,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
        Ok(_) => false,
    }
}

/// Whether the connection is still open after the target had time to
/// process what we sent (it never answers on this connection).
fn still_open(s: &mut TcpStream) -> bool {
    s.set_read_timeout(Some(Duration::from_millis(1500))).ok();
    let mut b = [0u8; 64];
    matches!(s.read(&mut b), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut)
}

fn frame(key: &[u8], sender: u32, dest: u32, epoch: u64, seq: u64) -> Vec<u8> {
    let entries = [LoadEntry { node: sender, load: 100, speed: 1000, ncpus: 1, free_mem_mb: 100, age_ms: 0 }];
    let mut payload = vec![0u8; wire::loads_len(1)];
    let n = wire::encode_loads(&entries, &mut payload).expect("room for one entry");
    payload.truncate(n);
    let h = Header {
        msg_type: MsgType::LoadReply,
        flags: 0,
        len: n as u32,
        sender,
        dest,
        epoch,
        seq,
        request_id: 0,
    };
    let mut out = vec![0u8; wire::frame_len(n)];
    let len = wire::seal(&h, &payload, &mut HostMac(key.to_vec()), &mut out).expect("valid header");
    out.truncate(len);
    out
}

/// `inject_frames --flood IP PORT COUNT SECONDS`: opens COUNT connections
/// that never send anything and reports how many the target closed, and
/// how fast: it must refuse those beyond its connection limit at once and
/// close the rest when they fail to authenticate.
fn flood(args: &[String]) -> ! {
    let mut t = Ktap::plan(3);
    let addr: SocketAddr = format!("{}:{}", args[2], args[3]).parse().expect("IP and PORT");
    let count: usize = args[4].parse().expect("COUNT");
    let secs: u64 = args[5].parse().expect("SECONDS");
    let mut conns: Vec<TcpStream> = Vec::new();
    for _ in 0..count {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
            Ok(s) => conns.push(s),
            Err(e) => roam_tests::ktap::diag(&format!("connect: {e}")),
        }
    }
    t.check(conns.len() == count, &format!("opened {count} idle connections"), &format!("opened {}", conns.len()));
    for s in &conns {
        s.set_nonblocking(true).expect("nonblocking");
    }
    let start = std::time::Instant::now();
    let mut closed_at: Vec<Option<Duration>> = vec![None; conns.len()];
    while start.elapsed() < Duration::from_secs(secs) && closed_at.iter().any(Option::is_none) {
        for (i, s) in conns.iter_mut().enumerate() {
            if closed_at[i].is_none() {
                let mut b = [0u8; 16];
                match s.read(&mut b) {
                    Ok(0) => closed_at[i] = Some(start.elapsed()),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(_) | Ok(_) => closed_at[i] = Some(start.elapsed()),
                }
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let early = closed_at.iter().filter(|c| c.is_some_and(|d| d < Duration::from_secs(5))).count();
    let all = closed_at.iter().all(Option::is_some);
    t.check(early > 0, "connections beyond the limit are closed at once", &format!("{early} closed within 5 s"));
    t.check(all, &format!("every idle connection is closed within {secs} s"), &format!("{} still open", closed_at.iter().filter(|c| c.is_none()).count()));
    t.finish();
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--flood") && args.len() == 6 {
        flood(&args);
    }
    let mut t = Ktap::plan(4);
    if args.len() != 6 {
        eprintln!("usage: inject_frames IP PORT KEYFILE FAKE_ID TARGET_ID");
        t.finish();
    }
    let addr: SocketAddr = format!("{}:{}", args[1], args[2]).parse().expect("IP and PORT");
    let key = std::fs::read_to_string(&args[3]).ok().and_then(|k| parse_hex(&k)).expect("hex key file");
    let fake: u32 = args[4].parse().expect("FAKE_ID");
    let target: u32 = args[5].parse().expect("TARGET_ID");
    let epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;

    // 1. Garbage: no magic, so the stream cannot be delimited.
    let r = connect(addr).and_then(|mut s| {
        s.write_all(&[0x5a; 100])?;
        Ok(hung_up(&mut s))
    });
    t.check(matches!(r, Ok(true)), "garbage bytes: the target hangs up", &format!("{r:?}"));

    // 2. Half a header, then we hang up: nothing to see but no crash.
    let r = connect(addr).and_then(|mut s| {
        let f = frame(&key, fake, target, epoch, 1);
        s.write_all(&f[..HEADER_LEN / 2])?;
        s.shutdown(std::net::Shutdown::Both)
    });
    t.check(r.is_ok(), "truncated header sent and connection closed", &format!("{r:?}"));

    // 3. A length beyond the limit.
    let r = connect(addr).and_then(|mut s| {
        let mut f = frame(&key, fake, target, epoch, 1);
        f[8..12].copy_from_slice(&((MAX_PAYLOAD as u32) + 1).to_le_bytes());
        s.write_all(&f[..HEADER_LEN])?;
        Ok(hung_up(&mut s))
    });
    t.check(matches!(r, Ok(true)), "oversized length: the target hangs up", &format!("{r:?}"));

    // 4-7 on one connection: the stream stays delimited, so the target
    // drops each bad frame and keeps reading.
    let r = connect(addr).and_then(|mut s| {
        let mut wrong = key.clone();
        wrong[0] ^= 0xff;
        s.write_all(&frame(&wrong, fake, target, epoch, 1))?; // bad MAC
        s.write_all(&frame(&key, fake, target, epoch, 1))?; // accepted
        s.write_all(&frame(&key, fake, target, epoch, 1))?; // replay: same seq
        s.write_all(&frame(&key, fake, target, epoch - 1_000_000_000, 7))?; // replay: older epoch
        s.write_all(&frame(&key, 4242, target, epoch, 1))?; // unknown node
        Ok(still_open(&mut s))
    });
    t.check(matches!(r, Ok(true)), "bad MAC, replays, unknown node: the connection stays up", &format!("{r:?}"));
    t.finish();
}
