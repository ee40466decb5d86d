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
//!
//! `inject_frames --stranger SRC_IP IP PORT`: connects from SRC_IP, an
//! address of no member, and checks that the target closes the connection
//! at once (it gives no receiver to a stranger).
//!
//! `inject_frames --forge IP PORT KEYFILE FAKE_ID TARGET_ID TGID`: as a
//! member that never hosted process TGID of node TARGET_ID (which is away
//! on another node), sends authentic frames claiming it: a `Moved` report
//! (without the process's token), an image that brings it "home", an
//! `Exit` (SIGKILL), a `Stayed` and an `Interrupt` as if it hosted it, and a `Signal`
//! (SIGKILL) as if it were the process's home, and a forwarded call as
//! if it ran it. The target must ignore them all; the runner checks that it counted them, that the process is
//! where it was and that it still works. Then, as a node sending the
//! target a process of its own, three malformed images: a `Begin` cut in
//! half, one of a later image version, and one whose registers no user
//! process has (kernel code segment); each must be refused (the runner
//! reads `arrivals_refused` in `migrations`).

use hmac::{Hmac, Mac};
use roam_proto::loadvec::LoadEntry;
use roam_proto::wire::{self, FrameKey, FrameMac, Header, MsgType, HEADER_LEN, MAC_LEN, MAX_PAYLOAD};
use roam_tests::ktap::Ktap;
use sha2::Sha256;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// The frame MAC under the cluster key, derived as the module derives it
/// (`wire::FRAME_KEY_LABEL`).
struct HostMac(FrameKey);

impl HostMac {
    fn new(cluster_key: &[u8]) -> Self {
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(cluster_key).expect("any key length works");
        m.update(wire::FRAME_KEY_LABEL);
        HostMac(FrameKey::new(m.finalize().into_bytes().into()))
    }
}

impl FrameMac for HostMac {
    fn mac(&mut self, data: &[u8]) -> [u8; MAC_LEN] {
        (&self.0).mac(data)
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
    let entries = [LoadEntry { node: sender, load: 100, speed: 1000, ncpus: 1, free_mem_mb: 100, age_ms: 0, no_guests: false, no_root: false }];
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
    let len = wire::seal(&h, &payload, &mut HostMac::new(key), &mut out).expect("valid header");
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

/// Seals one frame of type `ty` with `payload`.
fn sealed(key: &[u8], h: Header, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; wire::frame_len(payload.len())];
    let len = wire::seal(&h, payload, &mut HostMac::new(key), &mut out).expect("valid header");
    out.truncate(len);
    out
}

/// `--forge`: see the top of the file.
fn forge(args: &[String]) -> ! {
    use roam_proto::image::{encode_begin, begin_len, ImageHeader, MmLayout, Regs, SigState, IMAGE_VERSION, USER_CS, USER_DS};
    let mut t = Ktap::plan(1);
    let addr: SocketAddr = format!("{}:{}", args[2], args[3]).parse().expect("IP and PORT");
    let key = std::fs::read_to_string(&args[4]).ok().and_then(|k| parse_hex(&k)).expect("hex key file");
    let fake: u32 = args[5].parse().expect("FAKE_ID");
    let target: u32 = args[6].parse().expect("TARGET_ID");
    let tgid: u32 = args[7].parse().expect("TGID");
    let epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    let head = |msg_type, len: usize, seq, request_id| Header { msg_type, flags: 0, len: len as u32, sender: fake, dest: target, epoch, seq, request_id };
    // Process events (kind, home pid, two words, a guessed token): a Moved
    // report (pid 4242, 1 page), an Exit (SIGKILL), a Stayed (code 104),
    // a Signal (SIGKILL) and an Interrupt (call 1).
    let proc_msg = |w: [u32; 4]| {
        let mut m = Vec::new();
        for v in w {
            m.extend_from_slice(&v.to_le_bytes());
        }
        m.extend_from_slice(&0x1234_5678_9abc_def0u64.to_le_bytes());
        m
    };
    let events = [proc_msg([4, tgid, 4242, 1]), proc_msg([1, tgid, 9, 0]), proc_msg([6, tgid, 104, 0]), proc_msg([2, tgid, 9, 0]), proc_msg([7, tgid, 1, 0])];
    // An image bringing it home: a valid Begin with a guessed token.
    let h = ImageHeader { version: IMAGE_VERSION, home_node: target, pid: tgid, tgid, comm: *b"forged\0\0\0\0\0\0\0\0\0\0", token: 0x1111, ..ImageHeader::default() };
    let regs = Regs { rip: 0x40_1000, rsp: 0x7ffd_0000_1000, cs: USER_CS, ss: USER_DS, eflags: 0x246, ..Regs::default() };
    let mut begin = vec![0u8; begin_len(0)];
    let n = encode_begin(&h, &regs, &MmLayout::default(), &SigState::default(), &[], &mut begin).expect("a valid Begin");
    begin.truncate(n);
    let r = connect(addr).and_then(|mut s| {
        for (i, e) in events.iter().enumerate() {
            s.write_all(&sealed(&key, head(MsgType::Proc, e.len(), 1 + i as u64, 0), e))?;
        }
        s.write_all(&sealed(&key, head(MsgType::Migrate, begin.len(), 9, 7001), &begin))?;
        // A forwarded call (getpid) as if it ran the process.
        let mut call = vec![0u8; roam_proto::fwd::CALL_HEAD];
        let n = roam_proto::fwd::encode_call(1, 39, &[0; 6], &[], &mut call).expect("a valid Call");
        call.truncate(n);
        s.write_all(&sealed(&key, head(MsgType::Call, call.len(), 10, tgid), &call))?;
        // Malformed images of a process of its own (home: the forger).
        let own = ImageHeader { home_node: fake, pid: 4243, tgid: 4243, ..h };
        let mut bad = Vec::new();
        let mut b = vec![0u8; begin_len(0)];
        let n = encode_begin(&own, &regs, &MmLayout::default(), &SigState::default(), &[], &mut b).expect("a valid Begin");
        bad.push(b[..n / 2].to_vec());
        // A later version: both version fields (the message's and the
        // header's, at offsets 0 and 4) say so.
        let mut later = b[..n].to_vec();
        for at in [0, 4] {
            later[at..at + 2].copy_from_slice(&(IMAGE_VERSION + 1).to_le_bytes());
        }
        bad.push(later);
        let kernel_cs = Regs { cs: 0x10, ..regs };
        let n = encode_begin(&own, &kernel_cs, &MmLayout::default(), &SigState::default(), &[], &mut b).unwrap_or(0);
        bad.push(b[..n].to_vec());
        for (i, img) in bad.iter().enumerate() {
            s.write_all(&sealed(&key, head(MsgType::Migrate, img.len(), 11 + i as u64, 7002 + i as u32), img))?;
        }
        Ok(still_open(&mut s) && bad.iter().all(|b| !b.is_empty()))
    });
    t.check(
        matches!(r, Ok(true)),
        "forged Moved, Exit, Stayed, Signal, Interrupt, Begin and Call, and three malformed images, sent; the connection stays open (they are authentic)",
        &format!("{r:?}"),
    );
    t.finish();
}

/// `--stranger`: see the top of the file.
fn stranger(args: &[String]) -> ! {
    let mut t = Ktap::plan(1);
    let parse = |s: &str| s.parse::<std::net::Ipv4Addr>().expect("an IPv4 address");
    let (src, dst) = (parse(&args[2]), parse(&args[3]));
    let port: u16 = args[4].parse().expect("PORT");
    let sin = |ip: std::net::Ipv4Addr, port: u16| libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr { s_addr: u32::from(ip).to_be() },
        sin_zero: [0; 8],
    };
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: a new socket, bound and connected with valid sockaddr_in
    // values; the descriptor is owned by the TcpStream afterwards.
    let conn = unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        let a = sin(src, 0);
        let b = sin(dst, port);
        if fd < 0
            || libc::bind(fd, (&raw const a).cast(), len) != 0
            || libc::connect(fd, (&raw const b).cast(), len) != 0
        {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(<TcpStream as std::os::fd::FromRawFd>::from_raw_fd(fd))
        }
    };
    let closed = conn.map(|mut s| {
        s.set_read_timeout(Some(Duration::from_secs(3))).ok();
        let start = std::time::Instant::now();
        (hung_up(&mut s), start.elapsed())
    });
    t.check(
        matches!(closed, Ok((true, d)) if d < Duration::from_secs(3)),
        &format!("a connection from {src}, no member's address, is closed at once"),
        &format!("{closed:?}"),
    );
    t.finish();
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--stranger") && args.len() == 5 {
        stranger(&args);
    }
    if args.get(1).map(String::as_str) == Some("--flood") && args.len() == 6 {
        flood(&args);
    }
    if args.get(1).map(String::as_str) == Some("--forge") && args.len() == 8 {
        forge(&args);
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
