//! `sockmsg`: `sendmsg` and `recvmsg` as servers and runtimes use them,
//! wherever the process runs. Every 100 ms while it waits, on sockets made
//! at home:
//!
//! * a unix datagram pair that passes credentials: a message gathered
//!   from three vectors (10, 300 and 4000 bytes) carries the write end of
//!   a new pipe (`SCM_RIGHTS`); `recvmsg` scatters it over two vectors
//!   (2000 and 4000 bytes), reports only `MSG_CMSG_CLOEXEC` in its flags, gives a new descriptor and
//!   the sender's credentials (`SCM_CREDENTIALS`: the process's own pid
//!   and uid as `getpid`/`getuid` give them); bytes written through the
//!   received descriptor come out of the pipe;
//! * a datagram larger than the receive buffer: `recvmsg` gives the first
//!   10 bytes and `MSG_TRUNC`;
//! * three datagrams in one `sendmmsg`, received by one `recvmmsg` with
//!   `MSG_WAITFORONE` and room for five: three, each with its length;
//! * UDP on the loopback: `sendmsg` to an address in `msg_name`, and
//!   `recvmsg` with a 16-byte address buffer names the sender's port.
//!
//! Every byte and field is checked in every round.

use std::sync::Mutex;

struct State {
    unix: (i32, i32),
    udp: (i32, i32),
    udp_addr: (libc::sockaddr_in, libc::sockaddr_in),
    rounds: super::rounds::Rounds,
}

static STATE: Mutex<Option<State>> = Mutex::new(None);

const SIN_LEN: libc::socklen_t = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
const SEND: [usize; 3] = [10, 300, 4000];
const RECV: [usize; 2] = [2000, 4000];

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn pattern(r: u64, len: usize) -> Vec<u8> {
    (0..len).map(|i| ((i as u64).wrapping_mul(0x9e37_79b9) ^ r.wrapping_mul(131)) as u8).collect()
}

fn iov(b: &[u8]) -> libc::iovec {
    libc::iovec { iov_base: b.as_ptr() as *mut libc::c_void, iov_len: b.len() }
}

fn iov_mut(b: &mut [u8]) -> libc::iovec {
    libc::iovec { iov_base: b.as_mut_ptr().cast(), iov_len: b.len() }
}

fn msghdr(iov: &mut [libc::iovec]) -> libc::msghdr {
    // SAFETY: a zeroed msghdr is valid (null pointers, zero lengths).
    let mut m: libc::msghdr = unsafe { std::mem::zeroed() };
    m.msg_iov = iov.as_mut_ptr();
    m.msg_iovlen = iov.len();
    m
}

fn loopback_bound() -> Result<(i32, libc::sockaddr_in), String> {
    // SAFETY: plain socket call.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    let a = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr { s_addr: u32::from_be_bytes([127, 0, 0, 1]).to_be() },
        sin_zero: [0; 8],
    };
    // SAFETY: `a` is a valid sockaddr_in.
    if unsafe { libc::bind(fd, (&a as *const libc::sockaddr_in).cast(), SIN_LEN) } != 0 {
        return Err(format!("bind: errno {}", errno()));
    }
    // SAFETY: a zeroed sockaddr_in is valid.
    let mut got: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    let mut len = SIN_LEN;
    // SAFETY: `got` has `len` bytes.
    if unsafe { libc::getsockname(fd, (&mut got as *mut libc::sockaddr_in).cast(), &mut len) } != 0 {
        return Err(format!("getsockname: errno {}", errno()));
    }
    Ok((fd, got))
}

/// Descriptors and credentials found in a received control buffer.
fn parse_control(m: &libc::msghdr) -> (Vec<i32>, Option<libc::ucred>) {
    let (mut fds, mut cred) = (Vec::new(), None);
    // SAFETY: `m` was filled by recvmsg; the CMSG macros stay within
    // msg_control/msg_controllen.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(m);
        while !c.is_null() {
            let data = libc::CMSG_DATA(c);
            let len = (*c).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                for k in 0..len / 4 {
                    fds.push(std::ptr::read_unaligned(data.add(4 * k).cast::<i32>()));
                }
            } else if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_CREDENTIALS {
                cred = Some(std::ptr::read_unaligned(data.cast::<libc::ucred>()));
            }
            c = libc::CMSG_NXTHDR(m, c);
        }
    }
    (fds, cred)
}

/// A descriptor passed with a gathered datagram, scattered on receipt.
fn pass_descriptor(st: &State, r: u64) -> Result<(), String> {
    let mut p = [0i32; 2];
    // SAFETY: room for two descriptors.
    if unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(format!("pipe2: errno {}", errno()));
    }
    let data = pattern(r, SEND.iter().sum());
    let (a, rest) = data.split_at(SEND[0]);
    let (b, c) = rest.split_at(SEND[1]);
    let mut v = [iov(a), iov(b), iov(c)];
    let mut m = msghdr(&mut v);
    // SAFETY: CMSG_SPACE is arithmetic.
    let space = unsafe { libc::CMSG_SPACE(4) } as usize;
    let mut ctl = vec![0u8; space];
    m.msg_control = ctl.as_mut_ptr().cast();
    m.msg_controllen = space;
    // SAFETY: the control buffer holds one header and one descriptor.
    unsafe {
        let h = libc::CMSG_FIRSTHDR(&m);
        (*h).cmsg_level = libc::SOL_SOCKET;
        (*h).cmsg_type = libc::SCM_RIGHTS;
        (*h).cmsg_len = libc::CMSG_LEN(4) as usize;
        std::ptr::write_unaligned(libc::CMSG_DATA(h).cast::<i32>(), p[1]);
    }
    // SAFETY: `m` points at live buffers.
    let n = unsafe { libc::sendmsg(st.unix.0, &m, 0) };
    // SAFETY: our own descriptor; the message holds its own reference.
    unsafe { libc::close(p[1]) };
    if n != data.len() as isize {
        // SAFETY: our own descriptor.
        unsafe { libc::close(p[0]) };
        return Err(format!("sendmsg with a descriptor gave {n} (errno {})", errno()));
    }
    let mut back = vec![0u8; RECV.iter().sum()];
    let (x, y) = back.split_at_mut(RECV[0]);
    let mut v = [iov_mut(x), iov_mut(y)];
    let mut m = msghdr(&mut v);
    let mut ctl = vec![0u8; 128];
    m.msg_control = ctl.as_mut_ptr().cast();
    m.msg_controllen = ctl.len();
    m.msg_flags = -1;
    // SAFETY: `m` points at live buffers.
    let got = unsafe { libc::recvmsg(st.unix.1, &mut m, libc::MSG_CMSG_CLOEXEC) };
    let (fds, cred) = parse_control(&m);
    let result = (|| {
        if got != data.len() as isize || back[..data.len()] != data[..] || back[data.len()..].iter().any(|&x| x != 0) {
            return Err(format!("recvmsg gave {got} (errno {}), bytes {}", errno(), if back[..data.len()] == data[..] { "equal" } else { "differ" }));
        }
        // The kernel reports MSG_CMSG_CLOEXEC back, and nothing else here.
        if m.msg_flags != libc::MSG_CMSG_CLOEXEC {
            return Err(format!("msg_flags {:#x}, want MSG_CMSG_CLOEXEC alone", m.msg_flags));
        }
        let [fd] = fds[..] else { return Err(format!("descriptors received: {fds:?}")) };
        // SAFETY: plain calls.
        let (pid, uid) = unsafe { (libc::getpid(), libc::getuid()) };
        match cred {
            Some(c) if c.pid == pid && c.uid == uid => {}
            other => return Err(format!("credentials {:?}, want pid {pid} uid {uid}", other.map(|c| (c.pid, c.uid, c.gid)))),
        }
        // SAFETY: plain fcntl.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } != libc::FD_CLOEXEC {
            return Err("the received descriptor lacks FD_CLOEXEC (MSG_CMSG_CLOEXEC)".into());
        }
        let word = format!("round {r}");
        // SAFETY: a valid buffer; the descriptors are ours.
        let (w, mut buf) = (unsafe { libc::write(fd, word.as_ptr().cast(), word.len()) }, [0u8; 32]);
        // SAFETY: as above.
        let rd = unsafe { libc::read(p[0], buf.as_mut_ptr().cast(), buf.len()) };
        if w != word.len() as isize || rd != w || &buf[..word.len()] != word.as_bytes() {
            return Err(format!("through the received descriptor: wrote {w}, read {rd}"));
        }
        Ok(())
    })();
    for fd in fds.iter().copied().chain([p[0]]) {
        // SAFETY: descriptors this process owns.
        unsafe { libc::close(fd) };
    }
    result
}

/// A datagram larger than the buffer: the start of it and MSG_TRUNC.
fn truncated(st: &State, r: u64) -> Result<(), String> {
    let data = pattern(r + 7, 100);
    // SAFETY: a valid buffer.
    let n = unsafe { libc::send(st.unix.0, data.as_ptr().cast(), data.len(), 0) };
    let mut back = [0u8; 10];
    let mut v = [iov_mut(&mut back)];
    let mut m = msghdr(&mut v);
    // Credentials come along; a buffer for them.
    let mut ctl = [0u8; 64];
    m.msg_control = ctl.as_mut_ptr().cast();
    m.msg_controllen = ctl.len();
    // SAFETY: `m` points at live buffers.
    let got = unsafe { libc::recvmsg(st.unix.1, &mut m, 0) };
    if n != 100 || got != 10 || back[..] != data[..10] || m.msg_flags & libc::MSG_TRUNC == 0 {
        return Err(format!("truncated datagram: sent {n}, received {got}, flags {:#x}", m.msg_flags));
    }
    Ok(())
}

/// UDP with addresses in the msghdr.
fn addressed(st: &State, r: u64) -> Result<(), String> {
    let data = pattern(r + 3, 700);
    let (a, b) = data.split_at(200);
    let mut v = [iov(a), iov(b)];
    let mut m = msghdr(&mut v);
    let mut to = st.udp_addr.1;
    m.msg_name = (&mut to as *mut libc::sockaddr_in).cast();
    m.msg_namelen = SIN_LEN;
    // SAFETY: `m` points at live buffers.
    let n = unsafe { libc::sendmsg(st.udp.0, &m, 0) };
    let mut back = vec![0u8; 1000];
    let mut v = [iov_mut(&mut back)];
    let mut m = msghdr(&mut v);
    // SAFETY: a zeroed sockaddr_in is valid.
    let mut from: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    m.msg_name = (&mut from as *mut libc::sockaddr_in).cast();
    m.msg_namelen = SIN_LEN;
    // SAFETY: `m` points at live buffers.
    let got = unsafe { libc::recvmsg(st.udp.1, &mut m, 0) };
    if n != 700 || got != 700 || back[..700] != data[..] {
        return Err(format!("UDP: sent {n}, received {got} (errno {})", errno()));
    }
    if m.msg_namelen != SIN_LEN || from.sin_port != st.udp_addr.0.sin_port || from.sin_addr.s_addr != st.udp_addr.0.sin_addr.s_addr {
        return Err(format!("UDP sender: length {}, port {} (want {})", m.msg_namelen, u16::from_be(from.sin_port), u16::from_be(st.udp_addr.0.sin_port)));
    }
    Ok(())
}

/// Three datagrams in one `sendmmsg`, all received by one `recvmmsg`
/// with `MSG_WAITFORONE` and room for five: three, each with its length.
fn batched(st: &State, r: u64) -> Result<(), String> {
    let data: Vec<Vec<u8>> = (0..3).map(|k| pattern(r * 3 + k, 50 + 700 * k as usize)).collect();
    let mut iovs: Vec<[libc::iovec; 1]> = data.iter().map(|d| [iov(d)]).collect();
    // SAFETY: zeroed mmsghdrs are valid; each points at its own vector.
    let mut out: Vec<libc::mmsghdr> = iovs.iter_mut().map(|v| libc::mmsghdr { msg_hdr: msghdr(v), msg_len: 0 }).collect();
    // SAFETY: `out` holds 3 valid mmsghdrs.
    let n = unsafe { libc::sendmmsg(st.unix.0, out.as_mut_ptr(), 3, 0) };
    let sent: Vec<u32> = out.iter().map(|m| m.msg_len).collect();
    let mut bufs = vec![vec![0u8; 2000]; 5];
    let mut riovs: Vec<[libc::iovec; 1]> = bufs.iter_mut().map(|b| [iov_mut(b)]).collect();
    let mut inn: Vec<libc::mmsghdr> = riovs.iter_mut().map(|v| libc::mmsghdr { msg_hdr: msghdr(v), msg_len: 0 }).collect();
    // SAFETY: `inn` holds 5 valid mmsghdrs.
    let got = unsafe { libc::recvmmsg(st.unix.1, inn.as_mut_ptr(), 5, libc::MSG_WAITFORONE, std::ptr::null_mut()) };
    let lens: Vec<u32> = inn.iter().map(|m| m.msg_len).collect();
    let want: Vec<u32> = data.iter().map(|d| d.len() as u32).collect();
    if n != 3 || sent != want || got != 3 || lens[..3] != want[..] || (0..3).any(|k| bufs[k][..data[k].len()] != data[k][..]) {
        return Err(format!("sendmmsg gave {n} {sent:?}, recvmmsg {got} (errno {}) {lens:?}; want 3 {want:?}", errno()));
    }
    Ok(())
}

fn round(st: &State, r: u64) -> Result<(), String> {
    pass_descriptor(st, r)?;
    truncated(st, r)?;
    batched(st, r)?;
    addressed(st, r)
}

pub(crate) fn sockmsg() -> super::Check {
    let setup = || -> Result<State, String> {
        let mut u = [0i32; 2];
        // SAFETY: room for two descriptors.
        if unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0, u.as_mut_ptr()) } != 0 {
            return Err(format!("socketpair: errno {}", errno()));
        }
        let one: libc::c_int = 1;
        // SAFETY: a valid option value.
        if unsafe { libc::setsockopt(u[1], libc::SOL_SOCKET, libc::SO_PASSCRED, (&one as *const libc::c_int).cast(), 4) } != 0 {
            return Err(format!("SO_PASSCRED: errno {}", errno()));
        }
        let (a, aa) = loopback_bound()?;
        let (b, ba) = loopback_bound()?;
        Ok(State { unix: (u[0], u[1]), udp: (a, b), udp_addr: (aa, ba), rounds: Default::default() })
    };
    let mut st = match setup() {
        Ok(s) => s,
        Err(e) => return Box::new(move || Err(format!("setup at home: {e}"))),
    };
    let first = round(&st, 0);
    st.rounds.record(first);
    *STATE.lock().unwrap_or_else(|e| e.into_inner()) = Some(st);
    Box::new(|| STATE.lock().unwrap_or_else(|e| e.into_inner()).take().ok_or("no state")?.rounds.verdict())
}

/// One round every 100 ms.
pub(crate) fn tick(n: u64) {
    super::rounds::every_100ms(n, &STATE, |st| {
        let r = round(st, st.rounds.count);
        st.rounds.record(r);
    });
}

pub(crate) const GROUP: super::Group = super::Group { tests: &[("sockmsg", sockmsg)], busy: &[], ticks: &[("sockmsg", tick)], known: &[], stays: &[] };
