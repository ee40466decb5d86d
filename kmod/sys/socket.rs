// SPDX-License-Identifier: GPL-2.0

//! Kernel TCP sockets over IPv4 in the initial network namespace.
//!
//! Every blocking call is bounded: sockets carry receive and send timeouts
//! (so a thread blocked in `accept`, `connect` or `recv` comes back to
//! check whether it should stop), and [`TcpSocket::shutdown`] wakes any
//! thread blocked on the socket at once.

use kernel::{bindings, prelude::*};

extern "C" {
    // `struct socket *`, passed untyped: its binding holds a field-less
    // struct that Rust does not call FFI-safe.
    fn roam_sock_established(sock: *mut core::ffi::c_void) -> i32;
}

/// An IPv4 address and TCP port, both in host byte order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct SockAddr {
    pub(crate) ip: u32,
    pub(crate) port: u16,
}

impl SockAddr {
    fn to_c(self) -> bindings::sockaddr_in {
        // SAFETY: sockaddr_in is plain data; zero is valid (and required for
        // the padding).
        let mut sa: bindings::sockaddr_in = unsafe { core::mem::zeroed() };
        sa.sin_family = bindings::AF_INET as u16;
        sa.sin_port = self.port.to_be();
        sa.sin_addr.s_addr = self.ip.to_be();
        sa
    }
}

/// Why a receive stopped short.
#[derive(Debug)]
pub(crate) enum RecvError {
    /// Nothing arrived before the socket's receive timeout.
    Timeout,
    /// The peer closed the connection (cleanly or not).
    Closed,
    /// Another error (logged by the caller if it matters).
    Other,
}


/// An owned kernel socket.
///
/// # Invariants
///
/// `sock` is a valid socket created by `sock_create_kern` or returned by
/// `kernel_accept`, owned by this value and released exactly once, in `Drop`.
pub(crate) struct TcpSocket {
    sock: *mut bindings::socket,
}

// SAFETY: kernel sockets may be used from any thread; concurrent use is
// serialised by the socket's own lock.
unsafe impl Send for TcpSocket {}
// SAFETY: send, receive and shutdown may run concurrently on one socket
// (the socket layer locks internally); callers keep one sender at a time.
unsafe impl Sync for TcpSocket {}

fn ms_to_jiffies(ms: u32) -> kernel::ffi::c_long {
    // SAFETY: pure arithmetic helper.
    unsafe { bindings::__msecs_to_jiffies(ms) as kernel::ffi::c_long }
}

impl TcpSocket {
    fn new() -> Result<Self> {
        let mut sock: *mut bindings::socket = core::ptr::null_mut();
        // SAFETY: `init_net` lives forever; `sock` is a valid out-pointer.
        let ret = unsafe {
            bindings::sock_create_kern(
                &raw mut bindings::init_net,
                bindings::AF_INET as i32,
                bindings::sock_type_SOCK_STREAM as i32,
                bindings::IPPROTO_TCP as i32,
                &mut sock,
            )
        };
        kernel::error::to_result(ret)?;
        // INVARIANT: created just above, owned by the new value.
        Ok(TcpSocket { sock })
    }

    /// Sets the receive and send timeouts (0 means wait forever).
    pub(crate) fn set_timeouts(&self, recv_ms: u32, send_ms: u32) {
        // SAFETY: by the type invariant `sock` and its `sk` are valid; the
        // timeouts are plain longs the socket layer reads without locks
        // (as `sock_set_rcvtimeo` would write them).
        unsafe {
            let sk = (*self.sock).sk;
            (*sk).sk_rcvtimeo = if recv_ms == 0 { kernel::ffi::c_long::MAX } else { ms_to_jiffies(recv_ms) };
            (*sk).sk_sndtimeo = if send_ms == 0 { kernel::ffi::c_long::MAX } else { ms_to_jiffies(send_ms) };
        }
    }

    /// A listening socket on `addr` (ip 0 = all addresses).
    pub(crate) fn listen(addr: SockAddr, backlog: i32) -> Result<Self> {
        let s = Self::new()?;
        let mut sa = addr.to_c();
        // SAFETY: `s.sock` is valid; `sa` is a valid sockaddr_in for the call.
        unsafe {
            bindings::sock_set_reuseaddr((*s.sock).sk);
            kernel::error::to_result(bindings::kernel_bind(
                s.sock,
                (&raw mut sa).cast(),
                core::mem::size_of::<bindings::sockaddr_in>() as i32,
            ))?;
            kernel::error::to_result(bindings::kernel_listen(s.sock, backlog))?;
        }
        Ok(s)
    }

    /// Waits (up to the receive timeout) for a connection.
    pub(crate) fn accept(&self) -> core::result::Result<TcpSocket, RecvError> {
        let mut new: *mut bindings::socket = core::ptr::null_mut();
        // SAFETY: `self.sock` is a valid listening socket; `new` is a valid
        // out-pointer.
        let ret = unsafe { bindings::kernel_accept(self.sock, &mut new, 0) };
        if ret == -(bindings::EAGAIN as i32) {
            return Err(RecvError::Timeout);
        }
        if ret < 0 {
            return Err(RecvError::Other);
        }
        // INVARIANT: `kernel_accept` returned a new socket we now own.
        Ok(TcpSocket { sock: new })
    }

    /// Connects to `addr`, waiting at most `timeout_ms`.
    pub(crate) fn connect(addr: SockAddr, timeout_ms: u32) -> Result<Self> {
        let s = Self::new()?;
        s.set_timeouts(timeout_ms, timeout_ms);
        let mut sa = addr.to_c();
        // SAFETY: `s.sock` is valid; `sa` is a valid sockaddr_in.
        let ret = unsafe {
            bindings::kernel_connect(
                s.sock,
                (&raw mut sa).cast(),
                core::mem::size_of::<bindings::sockaddr_in>() as i32,
                0,
            )
        };
        kernel::error::to_result(ret)?;
        // SAFETY: `s.sock` is a valid, connected TCP socket.
        unsafe { bindings::tcp_sock_set_nodelay((*s.sock).sk) };
        Ok(s)
    }

    /// Turns off Nagle on an accepted socket (small replies go out at once).
    pub(crate) fn set_nodelay(&self) {
        // SAFETY: `self.sock` is a valid TCP socket.
        unsafe { bindings::tcp_sock_set_nodelay((*self.sock).sk) };
    }

    /// Whether the connection still looks usable for sending: established
    /// and without a recorded error. A peer that closed or reset it (a
    /// restarted module, a receiver that gave up) makes this false before
    /// any send fails, so the caller can open a fresh one instead of
    /// writing frames into a dead connection.
    pub(crate) fn is_established(&self) -> bool {
        // SAFETY: `self.sock` is a valid socket for the life of `self`
        // (type invariant); the helper only reads two fields once.
        unsafe { roam_sock_established(self.sock.cast()) != 0 }
    }

    /// The remote end's address.
    pub(crate) fn peer_addr(&self) -> Result<SockAddr> {
        // SAFETY: plain data, zero is valid.
        let mut sa: bindings::sockaddr_in = unsafe { core::mem::zeroed() };
        // SAFETY: `self.sock` is valid; `sa` is large enough for AF_INET.
        let ret = unsafe { bindings::kernel_getpeername(self.sock, (&raw mut sa).cast()) };
        if ret < 0 {
            return Err(Error::from_errno(ret));
        }
        Ok(SockAddr { ip: u32::from_be(sa.sin_addr.s_addr), port: u16::from_be(sa.sin_port) })
    }

    /// Sends all of `data`, bounded by the send timeout.
    pub(crate) fn send_all(&self, data: &[u8]) -> Result {
        self.send_all_patient(data, 1)
    }

    /// Sends all of `data`. Each wait for room in the socket is bounded by
    /// the send timeout; a peer that takes nothing for `stalls` timeouts
    /// in a row (it is down, or wedged) fails the send with `EAGAIN`, but
    /// one that is merely slow for a moment (a busy or emulated machine
    /// not scheduling its receiver for a second) does not break the
    /// connection.
    pub(crate) fn send_all_patient(&self, data: &[u8], stalls_allowed: u32) -> Result {
        let mut off = 0;
        let mut stalls = 0;
        while off < data.len() {
            let rest = &data[off..];
            let mut iov = bindings::kvec { iov_base: rest.as_ptr() as *mut _, iov_len: rest.len() };
            // SAFETY: msghdr is plain data; zero means no address, no control.
            let mut msg: bindings::msghdr = unsafe { core::mem::zeroed() };
            msg.msg_flags = bindings::MSG_NOSIGNAL;
            // SAFETY: `self.sock` is valid; `iov` describes `rest`, which stays
            // alive and unchanged during the call.
            let ret = unsafe { bindings::kernel_sendmsg(self.sock, &mut msg, &mut iov, 1, rest.len()) };
            if ret == -(bindings::EAGAIN as i32) && stalls + 1 < stalls_allowed {
                stalls += 1;
                continue;
            }
            if ret <= 0 {
                return Err(if ret == 0 { EPIPE } else { Error::from_errno(ret) });
            }
            stalls = 0;
            off += ret as usize;
        }
        Ok(())
    }

    /// Receives some bytes (at most `buf.len()`), waiting up to the receive
    /// timeout for the first one.
    pub(crate) fn recv_some(&self, buf: &mut [u8]) -> core::result::Result<usize, RecvError> {
        let mut iov = bindings::kvec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
        // SAFETY: plain data, zero is valid.
        let mut msg: bindings::msghdr = unsafe { core::mem::zeroed() };
        // SAFETY: `self.sock` is valid; `iov` describes `buf`, which we borrow
        // mutably for the call.
        let ret = unsafe { bindings::kernel_recvmsg(self.sock, &mut msg, &mut iov, 1, buf.len(), 0) };
        match ret {
            0 => Err(RecvError::Closed),
            r if r > 0 => Ok(r as usize),
            r if r == -(bindings::EAGAIN as i32) => Err(RecvError::Timeout),
            r if r == -(bindings::ECONNRESET as i32) || r == -(bindings::EPIPE as i32) => Err(RecvError::Closed),
            _ => Err(RecvError::Other),
        }
    }

    /// Shuts the connection down both ways, waking any blocked caller.
    pub(crate) fn shutdown(&self) {
        // SAFETY: `self.sock` is valid; shutting down twice is harmless.
        unsafe { bindings::kernel_sock_shutdown(self.sock, bindings::sock_shutdown_cmd_SHUT_RDWR) };
    }
}

impl Drop for TcpSocket {
    fn drop(&mut self) {
        // SAFETY: by the type invariant we own `sock`; released once, here.
        unsafe { bindings::sock_release(self.sock) };
    }
}
