//! Sockets: unix socket pairs with data queued in them, and connections
//! to a peer process that stays at home.
//!
//! `unix`: before `READY`, three unix socket pairs with data queued and
//! not read: `SOCK_STREAM` (5000 bytes one way, 300 the other),
//! `SOCK_DGRAM` (datagrams of 17, 1, 2000, 0 and 513 bytes) and
//! `SOCK_SEQPACKET` (records of 300, 5, 1500 and 42 bytes); and a
//! `SOCK_STREAM` socket bound to a path in /tmp, listening, whose one
//! connection is served by a child forked at home that echoes what it
//! reads until end of file. Every 100 ms while it waits, wherever it
//! runs, the process sends a numbered message of 1 to 3000 bytes on that
//! connection and reads the same bytes back. At the check: the stream
//! pair's ends hold exactly their bytes (`FIONREAD`, then the bytes, then
//! `EAGAIN`), each datagram and record comes back alone with its length
//! and bytes (the last record read into 10 bytes is cut there and the rest
//! dropped), then `EAGAIN`; the connection's peer is the path
//! (`getpeername`); after `shutdown(SHUT_WR)` the child's echo ends with
//! end of file and the child exits with status 0.
//!
//! `tcp_home`: a child forked at home listens on 127.0.0.1 (port 0,
//! chosen by the kernel; `getsockname` names it) and echoes one
//! connection; the process connects before `READY` and sets
//! `TCP_NODELAY` and `SO_KEEPALIVE`. Every 100 ms while it waits, wherever
//! it runs, it sends a numbered message of 1 to 4000 bytes and reads the
//! echo (content checked). At the check both options are still set, the
//! connection's peer is the listener's address and its own address is
//! what it was, and after `shutdown(SHUT_WR)` the echo ends and the child
//! exits with status 0.

use super::super::rounds::{every_100ms, Rounds};
use super::super::{all_ok, Check};
use super::{bytes, close, diff, errno, fork_child, guard, os_err, read_exact, read_once, reap, tmp, unlink, write_all};
use std::sync::Mutex;

fn socketpair(ty: i32) -> Result<[i32; 2], String> {
    let mut s = [0i32; 2];
    // SAFETY: room for two descriptors.
    if unsafe { libc::socketpair(libc::AF_UNIX, ty | libc::SOCK_CLOEXEC, 0, s.as_mut_ptr()) } != 0 {
        return Err(os_err(&format!("socketpair type {ty}")));
    }
    Ok(s)
}

fn send(fd: i32, data: &[u8]) -> Result<(), String> {
    // SAFETY: `data` is a valid buffer.
    let n = unsafe { libc::send(fd, data.as_ptr().cast(), data.len(), libc::MSG_DONTWAIT) };
    if n != data.len() as isize {
        return Err(os_err(&format!("send of {} bytes gave {n}", data.len())));
    }
    Ok(())
}

/// One non-blocking `recv` into `cap` bytes: its result, errno, bytes.
fn recv(fd: i32, cap: usize) -> (isize, i32, Vec<u8>) {
    let mut buf = vec![0u8; cap.max(1)];
    // SAFETY: `buf` has at least `cap` bytes.
    let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), cap, libc::MSG_DONTWAIT) };
    let e = errno();
    buf.truncate(n.max(0) as usize);
    (n, e, buf)
}

fn queued(fd: i32) -> i32 {
    let mut n: libc::c_int = -1;
    // SAFETY: FIONREAD writes one int.
    unsafe { libc::ioctl(fd, libc::FIONREAD, &mut n) };
    n
}

/// The body of an echo child: accepts one connection on `listener`,
/// closes every other descriptor, and writes back what it reads until end
/// of file (exit 0); any failure is a non-zero exit.
fn echo(listener: i32) -> i32 {
    // SAFETY: raw calls on descriptors the child owns.
    unsafe {
        let conn = libc::accept(listener, std::ptr::null_mut(), std::ptr::null_mut());
        if conn < 3 {
            return 20;
        }
        libc::syscall(libc::SYS_close_range, 0, conn - 1, 0);
        libc::syscall(libc::SYS_close_range, conn + 1, u32::MAX, 0);
        let mut buf = [0u8; 8192];
        loop {
            let n = libc::read(conn, buf.as_mut_ptr().cast(), buf.len());
            if n == 0 {
                return 0;
            }
            if n < 0 {
                if *libc::__errno_location() == libc::EINTR {
                    continue;
                }
                return 21;
            }
            let mut done = 0;
            while done < n as usize {
                let w = libc::write(conn, buf.as_ptr().add(done).cast(), n as usize - done);
                if w <= 0 {
                    return 22;
                }
                done += w as usize;
            }
        }
    }
}

/// One echoed message of round `r` on `fd`.
fn echo_round(fd: i32, seed: u64, r: u64, max: usize) -> Result<(), String> {
    let len = 1 + (r as usize * 389) % max;
    let mut msg = format!("round {r} of {len} bytes: ").into_bytes();
    msg.extend(bytes(seed, r << 20, len));
    msg.truncate(len);
    write_all(fd, &msg).map_err(|e| format!("round {r}: {e}"))?;
    let back = read_exact(fd, len).map_err(|e| format!("round {r}: {e}"))?;
    if back != msg {
        return Err(format!("round {r}: echo {}", diff(&back, &msg)));
    }
    Ok(())
}

/// Ends the echo: `shutdown(SHUT_WR)`, end of file from the child, exit
/// status 0.
fn finish(conn: i32, child: libc::pid_t) -> Result<(), String> {
    // SAFETY: plain shutdown.
    let s = unsafe { libc::shutdown(conn, libc::SHUT_WR) };
    let mut pfd = libc::pollfd { fd: conn, events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid pollfd.
    let p = unsafe { libc::poll(&mut pfd, 1, 10_000) };
    let (n, e, extra) = read_once(conn, 64);
    let status = reap(child);
    if s != 0 || p != 1 || n != 0 {
        return Err(format!("after shutdown (gave {s}) the echo read {n} (errno {e}, poll {p}) {extra:?}, expected end of file; child: {status:?}"));
    }
    match status? {
        0 => Ok(()),
        c => Err(format!("the echo child exited with {c}")),
    }
}

struct Unix {
    stream: [i32; 2],
    dgram: [i32; 2],
    seqpacket: [i32; 2],
    conn: i32,
    child: libc::pid_t,
    path: String,
    rounds: Rounds,
}

static UNIX: Mutex<Option<Unix>> = Mutex::new(None);
const DGRAMS: [usize; 5] = [17, 1, 2000, 0, 513];
const RECORDS: [usize; 4] = [300, 5, 1500, 42];

fn sockaddr_un(path: &str) -> Result<(libc::sockaddr_un, libc::socklen_t), String> {
    // SAFETY: a zeroed sockaddr_un is valid.
    let mut a: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    a.sun_family = libc::AF_UNIX as libc::sa_family_t;
    if path.len() >= a.sun_path.len() {
        return Err(format!("{path}: too long for a unix socket"));
    }
    for (d, s) in a.sun_path.iter_mut().zip(path.bytes()) {
        *d = s as libc::c_char;
    }
    Ok((a, (std::mem::size_of::<libc::sa_family_t>() + path.len() + 1) as libc::socklen_t))
}

pub(super) fn unix() -> Check {
    guard(|| {
        let stream = socketpair(libc::SOCK_STREAM)?;
        send(stream[0], &bytes(61, 0, 5000))?;
        send(stream[1], &bytes(62, 0, 300))?;
        let dgram = socketpair(libc::SOCK_DGRAM)?;
        for (i, len) in DGRAMS.iter().enumerate() {
            send(dgram[0], &bytes(63, i as u64 * 10000, *len))?;
        }
        let seqpacket = socketpair(libc::SOCK_SEQPACKET)?;
        for (i, len) in RECORDS.iter().enumerate() {
            send(seqpacket[1], &bytes(64, i as u64 * 10000, *len))?;
        }
        let path = format!("{}.sock", tmp("unix"));
        let (addr, len) = sockaddr_un(&path)?;
        // SAFETY: plain socket calls with a valid address.
        let (listener, conn) = unsafe {
            let l = libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
            if libc::bind(l, (&addr as *const libc::sockaddr_un).cast(), len) != 0 || libc::listen(l, 1) != 0 {
                return Err(os_err(&format!("bind/listen {path}")));
            }
            (l, libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0))
        };
        let child = fork_child(|| echo(listener))?;
        close(listener);
        // SAFETY: a valid address.
        if unsafe { libc::connect(conn, (&addr as *const libc::sockaddr_un).cast(), len) } != 0 {
            let e = os_err(&format!("connect {path}"));
            close(conn);
            let _ = reap(child);
            return Err(e);
        }
        let mut st = Unix { stream, dgram, seqpacket, conn, child, path, rounds: Rounds::default() };
        let first = echo_round(st.conn, 65, 0, 3000);
        st.rounds.record(first);
        *UNIX.lock().unwrap_or_else(|e| e.into_inner()) = Some(st);
        Ok(Box::new(|| {
            let st = UNIX.lock().unwrap_or_else(|e| e.into_inner()).take().ok_or("no state")?;
            let r = unix_check(&st);
            let end = finish(st.conn, st.child);
            for fd in st.stream.iter().chain(&st.dgram).chain(&st.seqpacket).chain([&st.conn]) {
                close(*fd);
            }
            unlink(&st.path);
            all_ok(&[&r, &end, &st.rounds.verdict()])
        }) as Check)
    })
}

fn unix_check(st: &Unix) -> Result<(), String> {
    // The stream pair: each end its bytes, nothing more.
    for (end, seed, len) in [(1, 61, 5000), (0, 62, 300)] {
        let fd = st.stream[end];
        let q = queued(fd);
        let got = read_exact(fd, len)?;
        let want = bytes(seed, 0, len);
        let (n, e, _) = recv(fd, 16);
        if q != len as i32 || got != want || n != -1 || e != libc::EAGAIN {
            return Err(format!("stream end {end}: FIONREAD {q}, bytes {}, then recv {n} (errno {e})", diff(&got, &want)));
        }
    }
    // Datagrams: one each, with its length.
    for (i, len) in DGRAMS.iter().enumerate() {
        let (n, e, got) = recv(st.dgram[1], 4096);
        let want = bytes(63, i as u64 * 10000, *len);
        if n != *len as isize || got != want {
            return Err(format!("datagram {i} of {len} bytes: recv gave {n} (errno {e}), {}", diff(&got, &want)));
        }
    }
    let (n, e, _) = recv(st.dgram[1], 4096);
    if n != -1 || e != libc::EAGAIN {
        return Err(format!("after the datagrams recv gave {n} (errno {e}), expected EAGAIN"));
    }
    // Records: one each; the last cut at 10 bytes, its rest gone.
    for (i, len) in RECORDS.iter().enumerate() {
        let cap = if i == RECORDS.len() - 1 { 10 } else { 4096 };
        let (n, e, got) = recv(st.seqpacket[0], cap);
        let want = bytes(64, i as u64 * 10000, (*len).min(cap));
        if n != want.len() as isize || got != want {
            return Err(format!("record {i} of {len} bytes into {cap}: recv gave {n} (errno {e}), {}", diff(&got, &want)));
        }
    }
    let (n, e, _) = recv(st.seqpacket[0], 4096);
    if n != -1 || e != libc::EAGAIN {
        return Err(format!("after the records recv gave {n} (errno {e}), expected EAGAIN"));
    }
    // The named connection's peer is the path.
    // SAFETY: a zeroed sockaddr_un is valid.
    let mut a: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
    // SAFETY: `a` has `len` bytes.
    let r = unsafe { libc::getpeername(st.conn, (&mut a as *mut libc::sockaddr_un).cast(), &mut len) };
    let name: Vec<u8> = a.sun_path.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect();
    if r != 0 || name != st.path.as_bytes() {
        return Err(format!("getpeername gave {r} (errno {}), {:?}, expected {}", errno(), String::from_utf8_lossy(&name), st.path));
    }
    Ok(())
}

pub(super) fn unix_tick(n: u64) {
    every_100ms(n, &UNIX, |st| {
        let r = echo_round(st.conn, 65, st.rounds.count, 3000);
        st.rounds.record(r);
    });
}

struct Tcp {
    conn: i32,
    child: libc::pid_t,
    server: libc::sockaddr_in,
    local: libc::sockaddr_in,
    rounds: Rounds,
}

static TCP: Mutex<Option<Tcp>> = Mutex::new(None);
const SIN_LEN: libc::socklen_t = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;

/// `getsockname` (or with `peer`, `getpeername`) of `fd`.
fn inet_name(fd: i32, peer: bool) -> Result<libc::sockaddr_in, String> {
    // SAFETY: a zeroed sockaddr_in is valid.
    let mut a: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    let mut len = SIN_LEN;
    let p = (&mut a as *mut libc::sockaddr_in).cast();
    // SAFETY: `a` has `len` bytes.
    let r = unsafe {
        if peer {
            libc::getpeername(fd, p, &mut len)
        } else {
            libc::getsockname(fd, p, &mut len)
        }
    };
    if r != 0 || len != SIN_LEN {
        return Err(os_err(&format!("get{}name gave {r}, length {len}", if peer { "peer" } else { "sock" })));
    }
    Ok(a)
}

fn show(a: &libc::sockaddr_in) -> String {
    let ip = u32::from_be(a.sin_addr.s_addr).to_be_bytes();
    format!("{}.{}.{}.{}:{}", ip[0], ip[1], ip[2], ip[3], u16::from_be(a.sin_port))
}

fn same(a: &libc::sockaddr_in, b: &libc::sockaddr_in) -> bool {
    a.sin_family == b.sin_family && a.sin_port == b.sin_port && a.sin_addr.s_addr == b.sin_addr.s_addr
}

fn int_opt(fd: i32, level: i32, opt: i32) -> i32 {
    let mut v: i32 = -1;
    let mut len = 4 as libc::socklen_t;
    // SAFETY: `v` has 4 bytes.
    unsafe { libc::getsockopt(fd, level, opt, (&mut v as *mut i32).cast(), &mut len) };
    v
}

pub(super) fn tcp_home() -> Check {
    guard(|| {
        // SAFETY: a zeroed sockaddr_in is valid.
        let mut any: libc::sockaddr_in = unsafe { std::mem::zeroed() };
        any.sin_family = libc::AF_INET as libc::sa_family_t;
        any.sin_addr.s_addr = u32::from_be_bytes([127, 0, 0, 1]).to_be();
        // SAFETY: plain socket calls with a valid address.
        let listener = unsafe {
            let l = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
            if libc::bind(l, (&any as *const libc::sockaddr_in).cast(), SIN_LEN) != 0 || libc::listen(l, 1) != 0 {
                return Err(os_err("bind/listen on 127.0.0.1:0"));
            }
            l
        };
        let server = inet_name(listener, false)?;
        if server.sin_port == 0 {
            return Err("the listener has no port".into());
        }
        let child = fork_child(|| echo(listener))?;
        close(listener);
        let one: i32 = 1;
        // SAFETY: plain socket calls with valid option values and address.
        let conn = unsafe {
            let c = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
            let ok = libc::setsockopt(c, libc::IPPROTO_TCP, libc::TCP_NODELAY, (&one as *const i32).cast(), 4) == 0
                && libc::setsockopt(c, libc::SOL_SOCKET, libc::SO_KEEPALIVE, (&one as *const i32).cast(), 4) == 0
                && libc::connect(c, (&server as *const libc::sockaddr_in).cast(), SIN_LEN) == 0;
            if !ok {
                let e = os_err(&format!("socket options or connect to {}", show(&server)));
                libc::close(c);
                let _ = reap(child);
                return Err(e);
            }
            c
        };
        let local = inet_name(conn, false)?;
        let mut st = Tcp { conn, child, server, local, rounds: Rounds::default() };
        let first = echo_round(st.conn, 66, 0, 4000);
        st.rounds.record(first);
        *TCP.lock().unwrap_or_else(|e| e.into_inner()) = Some(st);
        Ok(Box::new(|| {
            let st = TCP.lock().unwrap_or_else(|e| e.into_inner()).take().ok_or("no state")?;
            let r = tcp_check(&st);
            let end = finish(st.conn, st.child);
            close(st.conn);
            all_ok(&[&r, &end, &st.rounds.verdict()])
        }) as Check)
    })
}

fn tcp_check(st: &Tcp) -> Result<(), String> {
    let (nodelay, keepalive) = (int_opt(st.conn, libc::IPPROTO_TCP, libc::TCP_NODELAY), int_opt(st.conn, libc::SOL_SOCKET, libc::SO_KEEPALIVE));
    if nodelay != 1 || keepalive != 1 {
        return Err(format!("TCP_NODELAY {nodelay}, SO_KEEPALIVE {keepalive}; both were set to 1"));
    }
    let (peer, local) = (inet_name(st.conn, true)?, inet_name(st.conn, false)?);
    if !same(&peer, &st.server) || !same(&local, &st.local) {
        return Err(format!("connection {} -> {}, was {} -> {}", show(&local), show(&peer), show(&st.local), show(&st.server)));
    }
    Ok(())
}

pub(super) fn tcp_tick(n: u64) {
    every_100ms(n, &TCP, |st| {
        let r = echo_round(st.conn, 66, st.rounds.count, 4000);
        st.rounds.record(r);
    });
}
