//! `sockets`: what a server loop does, wherever the process runs. Every
//! 100 ms while it waits, on sockets and an epoll instance made at home:
//! a TCP client connects to the process's own listener, `epoll_wait`
//! reports the listener ready (with its cookie), `accept4` gives the
//! client's address, `getsockname`/`getpeername` agree on both ends, a
//! short length word gets no more bytes than it allows (the rest of the
//! buffer keeps its sentinel) and learns the full length, `getsockopt`
//! gives the socket type and a receive buffer size; bytes written on one
//! end are seen by `ppoll` and read on the other; `select` works with a
//! descriptor set exactly as large as its count that ends where an
//! inaccessible page begins; a UDP datagram's `recvfrom` names its sender. And the
//! masked wait: SIGUSR1 is blocked and pending when `ppoll` (odd rounds)
//! or `epoll_pwait` (even) waits up to 5 s with a mask that unblocks it:
//! the wait ends at once with `EINTR`, the handler has run, and SIGUSR1
//! is blocked again afterwards. Every round must do all of this.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

struct State {
    listener: i32,
    listen_addr: libc::sockaddr_in,
    epoll: i32,
    udp: (i32, i32),
    udp_addr: (libc::sockaddr_in, libc::sockaddr_in),
    pipe: (i32, i32),
    rounds: super::rounds::Rounds,
}

static STATE: Mutex<Option<State>> = Mutex::new(None);
static USR1: AtomicU64 = AtomicU64::new(0);
const COOKIE: u64 = 0x5eed_f00d_1234_5678;
const SIN_LEN: libc::socklen_t = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;

extern "C" fn on_usr1(_: libc::c_int) {
    USR1.fetch_add(1, Ordering::SeqCst);
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn loopback(port: u16) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr { s_addr: u32::from_be_bytes([127, 0, 0, 1]).to_be() },
        sin_zero: [0; 8],
    }
}

fn same(a: &libc::sockaddr_in, b: &libc::sockaddr_in) -> bool {
    a.sin_family == b.sin_family && a.sin_port == b.sin_port && a.sin_addr.s_addr == b.sin_addr.s_addr
}

fn show(a: &libc::sockaddr_in) -> String {
    let ip = u32::from_be(a.sin_addr.s_addr).to_be_bytes();
    format!("{}.{}.{}.{}:{} (family {})", ip[0], ip[1], ip[2], ip[3], u16::from_be(a.sin_port), a.sin_family)
}

/// `getsockname` (or with `peer`, `getpeername`) of `fd`.
fn name_of(fd: i32, peer: bool) -> Result<libc::sockaddr_in, String> {
    // SAFETY: a zeroed sockaddr_in is valid.
    let mut a: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    let mut len = SIN_LEN;
    let p = (&mut a as *mut libc::sockaddr_in).cast();
    // SAFETY: `a` has `len` bytes.
    let r = unsafe { if peer { libc::getpeername(fd, p, &mut len) } else { libc::getsockname(fd, p, &mut len) } };
    if r != 0 || len != SIN_LEN {
        return Err(format!("get{}name gave {r} (errno {}), length {len}", if peer { "peer" } else { "sock" }, errno()));
    }
    Ok(a)
}

fn tcp_socket() -> i32 {
    // SAFETY: plain socket call.
    unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) }
}

fn bind_loopback(fd: i32) -> Result<libc::sockaddr_in, String> {
    let a = loopback(0);
    // SAFETY: `a` is a valid sockaddr_in.
    if unsafe { libc::bind(fd, (&a as *const libc::sockaddr_in).cast(), SIN_LEN) } != 0 {
        return Err(format!("bind: errno {}", errno()));
    }
    name_of(fd, false)
}

pub(crate) fn sockets() -> super::Check {
    let setup = || -> Result<State, String> {
        let listener = tcp_socket();
        let listen_addr = bind_loopback(listener)?;
        // SAFETY: plain calls on descriptors this process owns.
        let epoll = unsafe {
            if libc::listen(listener, 8) != 0 {
                return Err(format!("listen: errno {}", errno()));
            }
            libc::epoll_create1(libc::EPOLL_CLOEXEC)
        };
        let mut ev = libc::epoll_event { events: libc::EPOLLIN as u32, u64: COOKIE };
        // SAFETY: `ev` is valid.
        if unsafe { libc::epoll_ctl(epoll, libc::EPOLL_CTL_ADD, listener, &mut ev) } != 0 {
            return Err(format!("epoll_ctl: errno {}", errno()));
        }
        // SAFETY: plain socket calls.
        let udp = unsafe { (libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0), libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0)) };
        let udp_addr = (bind_loopback(udp.0)?, bind_loopback(udp.1)?);
        let mut p = [0i32; 2];
        // SAFETY: room for two descriptors.
        unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) };
        // SIGUSR1: counted by a handler, blocked outside the masked waits.
        // SAFETY: a handler that only adds to an atomic; a valid mask.
        unsafe {
            libc::signal(libc::SIGUSR1, on_usr1 as extern "C" fn(libc::c_int) as libc::sighandler_t);
            let mut m: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut m);
            libc::sigaddset(&mut m, libc::SIGUSR1);
            libc::sigprocmask(libc::SIG_BLOCK, &m, std::ptr::null_mut());
        }
        Ok(State { listener, listen_addr, epoll, udp, udp_addr, pipe: (p[0], p[1]), rounds: Default::default() })
    };
    let mut st = match setup() {
        Ok(s) => s,
        Err(e) => {
            return Box::new(move || Err(format!("setup at home: {e}")));
        }
    };
    let first = round(&st, 0);
    st.rounds.record(first);
    *STATE.lock().unwrap_or_else(|e| e.into_inner()) = Some(st);
    Box::new(|| {
        let st = STATE.lock().unwrap_or_else(|e| e.into_inner()).take().ok_or("no state")?;
        let handled = USR1.load(Ordering::SeqCst);
        st.rounds.verdict()?;
        if handled != st.rounds.count {
            return Err(format!("SIGUSR1 handled {handled} times in {} rounds", st.rounds.count));
        }
        Ok(())
    })
}

/// One round; an error message if anything differs.
fn round(st: &State, r: u64) -> Result<(), String> {
    let client = tcp_socket();
    let res = round_with(st, r, client);
    // SAFETY: closing a descriptor this round opened.
    unsafe { libc::close(client) };
    res
}

fn round_with(st: &State, r: u64, client: i32) -> Result<(), String> {
    // SAFETY: `listen_addr` is a valid sockaddr_in.
    if unsafe { libc::connect(client, (&st.listen_addr as *const libc::sockaddr_in).cast(), SIN_LEN) } != 0 {
        return Err(format!("connect: errno {}", errno()));
    }
    // The listener is ready, with its cookie.
    // SAFETY: zeroed events are valid.
    let mut evs: [libc::epoll_event; 4] = unsafe { std::mem::zeroed() };
    // SAFETY: room for 4 events.
    let n = unsafe { libc::epoll_wait(st.epoll, evs.as_mut_ptr(), 4, 2000) };
    let (evmask, cookie) = (evs[0].events, evs[0].u64);
    if n != 1 || cookie != COOKIE || evmask & libc::EPOLLIN as u32 == 0 {
        return Err(format!("epoll_wait gave {n} (errno {}), first event {evmask:#x} cookie {cookie:#x}", errno()));
    }
    // SAFETY: a zeroed sockaddr_in is valid.
    let mut peer: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    let mut len = SIN_LEN;
    // SAFETY: `peer` has `len` bytes.
    let conn = unsafe { libc::accept4(st.listener, (&mut peer as *mut libc::sockaddr_in).cast(), &mut len, libc::SOCK_CLOEXEC) };
    if conn < 0 {
        return Err(format!("accept4: errno {}", errno()));
    }
    let res = with_conn(st, r, client, conn, &peer, len);
    // SAFETY: closing the accepted descriptor.
    unsafe { libc::close(conn) };
    res
}

fn with_conn(st: &State, r: u64, client: i32, conn: i32, peer: &libc::sockaddr_in, len: libc::socklen_t) -> Result<(), String> {
    let mine = name_of(client, false)?;
    if len != SIN_LEN || !same(peer, &mine) {
        return Err(format!("accept4 named {} (length {len}), the client is {}", show(peer), show(&mine)));
    }
    let (theirs, local) = (name_of(conn, true)?, name_of(conn, false)?);
    if !same(&theirs, &mine) || !same(&local, &st.listen_addr) || !same(&name_of(client, true)?, &st.listen_addr) {
        return Err(format!("names differ: conn peer {} local {}, client {}, listener {}", show(&theirs), show(&local), show(&mine), show(&st.listen_addr)));
    }
    // A length word of 6: six bytes written, the rest untouched, the full
    // length learnt.
    let mut buf = [0xaau8; 32];
    let mut short = 6 as libc::socklen_t;
    // SAFETY: `buf` has 32 bytes, more than `short`.
    let rc = unsafe { libc::getpeername(conn, buf.as_mut_ptr().cast(), &mut short) };
    // SAFETY: `mine` is plain bytes.
    let want: [u8; 16] = unsafe { std::mem::transmute(mine) };
    if rc != 0 || short != SIN_LEN || buf[..6] != want[..6] || buf[6..].iter().any(|&b| b != 0xaa) {
        return Err(format!("getpeername with length 6 gave {rc}, length {short}, bytes {:02x?}", &buf[..12]));
    }
    // getsockopt: the type in full and in part, and a buffer size.
    let mut ty = [0xaau8; 8];
    let mut tl = 4 as libc::socklen_t;
    // SAFETY: `ty` has 8 bytes.
    let rc = unsafe { libc::getsockopt(client, libc::SOL_SOCKET, libc::SO_TYPE, ty.as_mut_ptr().cast(), &mut tl) };
    if rc != 0 || tl != 4 || ty[..4] != (libc::SOCK_STREAM as i32).to_ne_bytes() || ty[4..] != [0xaa; 4] {
        return Err(format!("getsockopt SO_TYPE gave {rc}, length {tl}, bytes {ty:02x?}"));
    }
    let mut rcv = 0i32;
    let mut rl = 4 as libc::socklen_t;
    // SAFETY: `rcv` has 4 bytes.
    let rc = unsafe { libc::getsockopt(conn, libc::SOL_SOCKET, libc::SO_RCVBUF, (&mut rcv as *mut i32).cast(), &mut rl) };
    if rc != 0 || rcv <= 0 {
        return Err(format!("getsockopt SO_RCVBUF gave {rc}, value {rcv}"));
    }
    // Bytes across, seen by ppoll first.
    let data: Vec<u8> = (0..300u32).map(|i| (i as u64 * 31 + r) as u8).collect();
    // SAFETY: `data` is valid.
    if unsafe { libc::write(client, data.as_ptr().cast(), data.len()) } != data.len() as isize {
        return Err(format!("write: errno {}", errno()));
    }
    let mut pfd = [libc::pollfd { fd: conn, events: libc::POLLIN, revents: 0 }];
    let ts = libc::timespec { tv_sec: 2, tv_nsec: 0 };
    // SAFETY: one pollfd, a valid timeout, no mask.
    let n = unsafe { libc::syscall(libc::SYS_ppoll, pfd.as_mut_ptr(), 1, &ts, 0usize, 8usize) };
    if n != 1 || pfd[0].revents & libc::POLLIN == 0 {
        return Err(format!("ppoll gave {n}, revents {:#x}", pfd[0].revents));
    }
    let mut back = vec![0u8; 300];
    // SAFETY: `back` has room.
    let got = unsafe { libc::read(conn, back.as_mut_ptr().cast(), back.len()) };
    if got != 300 || back != data {
        return Err(format!("read gave {got}, bytes {}", if back == data { "equal" } else { "differ" }));
    }
    select_exact(client)?;
    udp(st, r)?;
    masked_wait(st, r)
}

/// `select` for writing on `fd` with a set of exactly `fd + 1` bits
/// (rounded up to words) that ends where an inaccessible page begins: a
/// call that reads or writes past the set fails with EFAULT.
fn select_exact(fd: i32) -> Result<(), String> {
    let words = (fd as usize + 1).div_ceil(64);
    let page = 4096usize;
    // SAFETY: a fresh private mapping of two pages, the second made
    // inaccessible; unmapped below.
    let base = unsafe {
        let p = libc::mmap(std::ptr::null_mut(), 2 * page, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1, 0);
        if p == libc::MAP_FAILED || libc::mprotect(p.cast::<u8>().add(page).cast(), page, libc::PROT_NONE) != 0 {
            return Err("cannot map the guarded set".into());
        }
        p.cast::<u8>()
    };
    // SAFETY: `words` words at the end of the first page, inside the mapping.
    let set = unsafe { std::slice::from_raw_parts_mut(base.add(page - 8 * words).cast::<u64>(), words) };
    set.fill(0);
    set[fd as usize / 64] |= 1 << (fd % 64);
    let mut tv = libc::timeval { tv_sec: 2, tv_usec: 0 };
    // SAFETY: a set of `fd + 1` bits and a valid timeval.
    let n = unsafe { libc::syscall(libc::SYS_select, fd + 1, 0usize, set.as_mut_ptr(), 0usize, &mut tv) };
    let (e, ok) = (errno(), set[fd as usize / 64] & (1 << (fd % 64)) != 0);
    let shown = format!("{set:x?}");
    // SAFETY: the mapping made above, no longer used.
    unsafe { libc::munmap(base.cast(), 2 * page) };
    if n != 1 || !ok {
        return Err(format!("select of {} bits gave {n} (errno {e}), set {shown}", fd + 1));
    }
    Ok(())
}

/// A datagram from one UDP socket to the other: `recvfrom` names the
/// sender.
fn udp(st: &State, r: u64) -> Result<(), String> {
    let msg = format!("datagram {r}");
    // SAFETY: valid buffer and address.
    let sent = unsafe { libc::sendto(st.udp.0, msg.as_ptr().cast(), msg.len(), 0, (&st.udp_addr.1 as *const libc::sockaddr_in).cast(), SIN_LEN) };
    let mut buf = [0u8; 64];
    // SAFETY: a zeroed sockaddr_in is valid.
    let mut from: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    let mut fl = SIN_LEN;
    // SAFETY: valid buffer and address.
    let got = unsafe { libc::recvfrom(st.udp.1, buf.as_mut_ptr().cast(), buf.len(), 0, (&mut from as *mut libc::sockaddr_in).cast(), &mut fl) };
    if sent != msg.len() as isize || got != msg.len() as isize || &buf[..msg.len()] != msg.as_bytes() || fl != SIN_LEN || !same(&from, &st.udp_addr.0) {
        return Err(format!("sendto gave {sent}, recvfrom {got} from {} (length {fl})", show(&from)));
    }
    Ok(())
}

/// SIGUSR1 blocked and pending; a 5-s wait with a mask that unblocks it
/// ends with EINTR before its timeout (at once, unless a move comes
/// between) after the handler ran; SIGUSR1 is blocked
/// again afterwards.
fn masked_wait(st: &State, r: u64) -> Result<(), String> {
    let before = USR1.load(Ordering::SeqCst);
    // SAFETY: plain calls.
    unsafe { libc::kill(libc::getpid(), libc::SIGUSR1) };
    if USR1.load(Ordering::SeqCst) != before {
        return Err("SIGUSR1 was handled while blocked".into());
    }
    let open: u64 = 0; // no signal blocked while waiting
    let t0 = std::time::Instant::now();
    let (what, n) = if r % 2 == 1 {
        let mut pfd = [libc::pollfd { fd: st.pipe.0, events: libc::POLLIN, revents: 0 }];
        let ts = libc::timespec { tv_sec: 5, tv_nsec: 0 };
        // SAFETY: one pollfd, a valid timeout and an 8-byte mask.
        ("ppoll", unsafe { libc::syscall(libc::SYS_ppoll, pfd.as_mut_ptr(), 1, &ts, &open, 8usize) })
    } else {
        // SAFETY: zeroed events are valid.
        let mut evs: [libc::epoll_event; 2] = unsafe { std::mem::zeroed() };
        // A fresh instance with nothing in it: only a signal ends the wait.
        // SAFETY: plain calls; room for 2 events and an 8-byte mask.
        unsafe {
            let ep = libc::epoll_create1(libc::EPOLL_CLOEXEC);
            let n = libc::syscall(libc::SYS_epoll_pwait, ep, evs.as_mut_ptr(), 2, 5000, &open, 8usize);
            libc::close(ep);
            ("epoll_pwait", n)
        }
    };
    let e = errno();
    let took = t0.elapsed();
    let handled = USR1.load(Ordering::SeqCst) - before;
    // SAFETY: reading the current mask.
    let blocked = unsafe {
        let mut m: libc::sigset_t = std::mem::zeroed();
        libc::sigprocmask(libc::SIG_BLOCK, std::ptr::null(), &mut m);
        libc::sigismember(&m, libc::SIGUSR1) == 1
    };
    if n != -1 || e != libc::EINTR || handled != 1 || took.as_secs_f64() >= 4.9 || !blocked {
        return Err(format!("{what} with SIGUSR1 pending and unblocked by its mask gave {n} (errno {e}) after {took:?}; handled {handled}; blocked again: {blocked}"));
    }
    Ok(())
}

/// One round every 100 ms.
pub(crate) fn tick(n: u64) {
    super::rounds::every_100ms(n, &STATE, |st| {
        let r = round(st, st.rounds.count);
        st.rounds.record(r);
    });
}
