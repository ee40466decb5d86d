//! Forwarded system calls: what a remote sends its deputy (`Call`) and
//! what comes back (`Ret`), marshalled from the argument descriptions in
//! [`crate::syscalls`].
//!
//! The remote copies every input its call reads (paths, input buffers and
//! structures) into the `Call`; the deputy places them in a scratch area
//! of its own address space, points the pointer arguments there, makes the
//! call natively, and sends back the outputs (output buffers and
//! structures) in the `Ret`, which the remote copies to the program's
//! memory. Buffers are capped at [`MAX_BUF`] bytes: the length argument
//! the deputy passes is lowered to match, so a large `read` or `write`
//! becomes a short one, which callers must handle anyway.
//!
//! Layout (little-endian, no padding):
//!
//! | message | fields |
//! |---|---|
//! | Call | id u32 · nr u32 · args 6×u64 · count u8 · count × segment |
//! | Ret | id u32 · result i64 · count u8 · count × segment |
//! | segment | arg u8 · len u32 · len bytes |
//!
//! A `Call` carries one segment per input pointer argument that is not
//! null, in argument order; a `Ret` one per output argument that is not
//! null (empty when the call failed). `core` only; no panics whatever the
//! input.

use crate::syscalls::{Arg, SyscallInfo};

/// Largest buffer forwarded in one call.
pub const MAX_BUF: usize = 128 * 1024;
/// Longest path (with its NUL), as `PATH_MAX`.
pub const MAX_PATH: usize = 4096;
/// Fixed part of a `Call`.
pub const CALL_HEAD: usize = 4 + 4 + 48 + 1;
/// Fixed part of a `Ret`.
pub const RET_HEAD: usize = 4 + 8 + 1;
/// Fixed part of a segment.
pub const SEG_HEAD: usize = 5;

/// Why a call cannot be forwarded or a message is malformed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FwdError {
    /// An argument kind the forwarder does not marshal ([`Arg::Ptr`]).
    Unsupported,
    /// The message is shorter than its fields say.
    Truncated,
    /// A field is out of range (argument index, length, count).
    Bad,
    /// The output buffer is too small.
    NoRoom,
}

/// What is done with one argument when forwarding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plan {
    /// Passed as is (integers, descriptors, null pointers).
    Value,
    /// Copied in: `len` bytes from the caller (a path: up to `len`, the
    /// caller finds the NUL).
    In { len: usize, path: bool },
    /// Copied out after the call: up to `len` bytes; `by_result` if the
    /// call's result says how many.
    Out { len: usize, by_result: bool },
    /// Copied in and out: `len` bytes.
    InOut { len: usize },
    /// `msgrcv`'s buffer, copied out after the call: an 8-byte type and as
    /// many text bytes as the call's result says, at most `len` bytes in
    /// all.
    OutMsg { len: usize },
    /// Copied out after the call: `elem`-byte elements, as many as the
    /// call's result says, at most `len` bytes.
    OutElems { len: usize, elem: usize },
    /// A buffer sized by the `socklen_t` at argument `lenp`: copied in and
    /// out, at most `max` bytes ([`sized_cap`], [`sized_out_len`]).
    Sized { max: usize, lenp: u8 },
    /// A signal mask the caller's side applies while the call waits
    /// (`pair`: `pselect6`'s pointer to a pointer and a size; else the
    /// size is argument `size_arg`). The deputy gets a null pointer.
    Mask { size_arg: u8, pair: bool },
    /// `sendmsg`'s or `recvmsg`'s `struct msghdr` (`send`: the former):
    /// carried as a message image ([`crate::sockmsg`]), laid out by the
    /// deputy, and for a receive answered with one.
    Msg { send: bool },
}

impl Plan {
    /// Bytes this argument needs in the deputy's scratch area.
    pub const fn scratch(&self) -> usize {
        match *self {
            Plan::Value | Plan::Mask { .. } => 0,
            Plan::In { len, .. } | Plan::Out { len, .. } | Plan::InOut { len } | Plan::OutElems { len, .. } | Plan::OutMsg { len } => len,
            Plan::Sized { max, .. } => max,
            Plan::Msg { .. } => crate::sockmsg::SCRATCH,
        }
    }

    /// Whether the call reads it from the caller.
    pub const fn is_in(&self) -> bool {
        matches!(self, Plan::In { .. } | Plan::InOut { .. } | Plan::Sized { .. } | Plan::Msg { .. })
    }

    /// Whether the call writes it back to the caller.
    pub const fn is_out(&self) -> bool {
        matches!(
            self,
            Plan::Out { .. } | Plan::InOut { .. } | Plan::OutElems { .. } | Plan::OutMsg { .. } | Plan::Sized { .. } | Plan::Msg { send: false }
        )
    }
}

/// How to forward `info` with argument values `args`: one [`Plan`] per
/// argument, and `args` with buffer lengths lowered to [`MAX_BUF`].
pub fn plan(info: &SyscallInfo, args: &[u64; 6]) -> Result<([Plan; 6], [u64; 6]), FwdError> {
    let mut plans = [Plan::Value; 6];
    let mut out = *args;
    let mut i = 0;
    while i < 6 {
        let a = info.args.get(i).copied().unwrap_or(Arg::None);
        let v = args.get(i).copied().unwrap_or(0);
        let p = if a.is_pointer() && v == 0 {
            Plan::Value
        } else {
            match a {
                Arg::None | Arg::Int | Arg::Fd => Plan::Value,
                Arg::Path => Plan::In { len: MAX_PATH, path: true },
                Arg::InBuf { len_arg } => Plan::In { len: capped(&mut out, len_arg)?, path: false },
                Arg::OutBuf { len_arg } => Plan::Out { len: capped(&mut out, len_arg)?, by_result: true },
                Arg::InFixed(n) => Plan::In { len: n as usize, path: false },
                Arg::OutFixed(n) => Plan::Out { len: n as usize, by_result: false },
                Arg::InOutFixed(n) => Plan::InOut { len: n as usize },
                Arg::InOutArray { count_arg, elem } => Plan::InOut { len: array_len(args, count_arg, elem)? },
                Arg::OutArray { count_arg, elem } => Plan::OutElems { len: lowered_count(&mut out, count_arg, elem)?, elem: elem as usize },
                Arg::InOutSized { lenp, max } => Plan::Sized { max: max as usize, lenp },
                Arg::InOutBits { count_arg } => Plan::InOut { len: bits_len(args, count_arg)? },
                Arg::InArray { count_arg, elem } => Plan::In { len: array_len(args, count_arg, elem)?, path: false },
                Arg::InMsg { len_arg } => Plan::In { len: msg_len(args, len_arg)?, path: false },
                Arg::OutMsg { len_arg } => Plan::OutMsg { len: msg_len(args, len_arg)? },
                Arg::SigMask { size_arg } => Plan::Mask { size_arg, pair: false },
                Arg::SigMaskPair => Plan::Mask { size_arg: 0, pair: true },
                Arg::Ptr if info.nr == NR_IOCTL && i == 2 => ioctl_plan(args.get(1).copied().unwrap_or(0)).ok_or(FwdError::Unsupported)?,
                Arg::Ptr if info.nr == NR_FCNTL && i == 2 => fcntl_plan(args.get(1).copied().unwrap_or(0)).ok_or(FwdError::Unsupported)?,
                Arg::Ptr if matches!((info.nr, i), (NR_MSGCTL, 2) | (NR_SHMCTL, 2) | (NR_SEMCTL, 3)) => {
                    ipc_ctl_plan(info.nr, args.get(i - 1).copied().unwrap_or(0)).ok_or(FwdError::Unsupported)?
                }
                Arg::Ptr if (info.nr == NR_SENDMSG || info.nr == NR_RECVMSG) && i == 1 => Plan::Msg { send: info.nr == NR_SENDMSG },
                Arg::Ptr => return Err(FwdError::Unsupported),
            }
        };
        // A mask stays with the caller: the deputy gets a null pointer.
        if matches!(p, Plan::Mask { .. }) {
            if let Some(slot) = out.get_mut(i) {
                *slot = 0;
            }
        }
        if let Some(slot) = plans.get_mut(i) {
            *slot = p;
        }
        i += 1;
    }
    Ok((plans, out))
}

/// `ioctl`'s number.
const NR_IOCTL: u16 = 16;
/// `fcntl`'s number.
const NR_FCNTL: u16 = 72;
/// `sendmsg`'s number.
pub const NR_SENDMSG: u16 = 46;
/// `recvmsg`'s number.
pub const NR_RECVMSG: u16 = 47;

/// `shmctl`'s number.
pub const NR_SHMCTL: u16 = 31;
/// `semctl`'s number.
pub const NR_SEMCTL: u16 = 66;
/// `msgctl`'s number.
pub const NR_MSGCTL: u16 = 71;

/// How the buffer of a System V control call (`msgctl`, `semctl` or
/// `shmctl`, by number `nr`) is forwarded for command `cmd` (the
/// argument before it): the 64-bit structures of x86-64 (`msqid64_ds`
/// 120 bytes, `semid64_ds` 104, `shmid64_ds` 112; `msginfo` 32,
/// `seminfo` 40, `shminfo64` 72, `shm_info` 48), none for the commands
/// that take an integer or nothing. `IPC_64` (0x100) is ignored here and
/// passed on: x86-64 has no old layout, so the call refuses it as it
/// would at home. `None`: a command not forwarded — `semctl`'s `GETALL`
/// and `SETALL`, whose array is as long as the set (known only at home),
/// and commands the kernel does not know (made at home, which refuses
/// them).
pub fn ipc_ctl_plan(nr: u16, cmd: u64) -> Option<Plan> {
    let out = |len| Plan::Out { len, by_result: false };
    let inp = |len| Plan::In { len, path: false };
    let cmd = cmd & !0x100;
    Some(match (nr, cmd) {
        // IPC_RMID; semctl's GETPID, GETVAL, GETNCNT, GETZCNT, SETVAL (an
        // int by value); shmctl's SHM_LOCK, SHM_UNLOCK.
        (_, 0) | (NR_SEMCTL, 11 | 12 | 14..=16) | (NR_SHMCTL, 11 | 12) => Plan::Value,
        // IPC_SET.
        (NR_MSGCTL, 1) => inp(120),
        (NR_SEMCTL, 1) => inp(104),
        (NR_SHMCTL, 1) => inp(112),
        // IPC_STAT, and MSG_STAT/SEM_STAT/SHM_STAT and their _ANY forms.
        (NR_MSGCTL, 2 | 11 | 13) => out(120),
        (NR_SEMCTL, 2 | 18 | 20) => out(104),
        (NR_SHMCTL, 2 | 13 | 15) => out(112),
        // IPC_INFO, and MSG_INFO/SEM_INFO/SHM_INFO.
        (NR_MSGCTL, 3 | 12) => out(32),
        (NR_SEMCTL, 3 | 19) => out(40),
        (NR_SHMCTL, 3) => out(72),
        (NR_SHMCTL, 14) => out(48),
        _ => return None,
    })
}

/// Bytes of a `struct msgbuf` whose text is argument `len_arg` bytes
/// long: the 8-byte type and the text. A text longer than fits in
/// [`MAX_BUF`] (or a negative length, which the call refuses) is not
/// forwarded: a shorter message would be a different one.
fn msg_len(args: &[u64; 6], len_arg: u8) -> Result<usize, FwdError> {
    let n = args.get(len_arg as usize).copied().ok_or(FwdError::Bad)?;
    if n > (MAX_BUF - 8) as u64 {
        return Err(FwdError::Unsupported);
    }
    Ok(n as usize + 8)
}

/// How `fcntl`'s third argument is forwarded for command `cmd`: an
/// integer for most commands, `struct flock` (32 bytes) for the record
/// locks, `struct f_owner_ex` (8) and the 8-byte read/write hints. `None`:
/// a command not known here (it is not forwarded).
pub fn fcntl_plan(cmd: u64) -> Option<Plan> {
    Some(match cmd {
        // F_DUPFD, F_GETFD, F_SETFD, F_GETFL, F_SETFL, F_SETOWN, F_GETOWN,
        // F_SETSIG, F_GETSIG, F_SETLEASE, F_GETLEASE, F_NOTIFY,
        // F_DUPFD_CLOEXEC, F_SETPIPE_SZ, F_GETPIPE_SZ, F_ADD_SEALS,
        // F_GET_SEALS.
        0..=4 | 8..=11 | 1024..=1026 | 1030..=1034 => Plan::Value,
        // F_GETLK, F_OFD_GETLK: the lock asked about, answered in place.
        5 | 36 => Plan::InOut { len: 32 },
        // F_SETLK, F_SETLKW, F_OFD_SETLK, F_OFD_SETLKW.
        6 | 7 | 37 | 38 => Plan::In { len: 32, path: false },
        // F_SETOWN_EX, F_GETOWN_EX.
        15 => Plan::In { len: 8, path: false },
        16 => Plan::Out { len: 8, by_result: false },
        // F_GET_RW_HINT, F_SET_RW_HINT, F_GET_FILE_RW_HINT, F_SET_FILE_RW_HINT.
        1035 | 1037 => Plan::Out { len: 8, by_result: false },
        1036 | 1038 => Plan::In { len: 8, path: false },
        _ => return None,
    })
}

/// Bytes of an array of argument `count_arg` elements of `elem` bytes;
/// an array larger than [`MAX_BUF`] is not forwarded (the count cannot be
/// lowered without changing what the call means).
fn array_len(args: &[u64; 6], count_arg: u8, elem: u16) -> Result<usize, FwdError> {
    let count = args.get(count_arg as usize).copied().ok_or(FwdError::Bad)?;
    let len = count.checked_mul(u64::from(elem)).ok_or(FwdError::Unsupported)?;
    if len > MAX_BUF as u64 {
        return Err(FwdError::Unsupported);
    }
    Ok(len as usize)
}

/// Bytes of an output array of argument `count_arg` elements of `elem`
/// bytes, the count lowered (in `args`) so that it fits in [`MAX_BUF`].
/// A count that is not positive is left for the call to refuse.
fn lowered_count(args: &mut [u64; 6], count_arg: u8, elem: u16) -> Result<usize, FwdError> {
    let slot = args.get_mut(count_arg as usize).ok_or(FwdError::Bad)?;
    let count = *slot as u32 as i32;
    if count <= 0 || elem == 0 {
        return Ok(0);
    }
    let most = (MAX_BUF / elem as usize) as i32;
    let count = count.min(most);
    *slot = count as u64;
    Ok(count as usize * elem as usize)
}

/// Most bits of a forwarded set (`select`'s descriptor count).
pub const MAX_BITS: u64 = 65536;

/// Bytes of a set of argument `count_arg` bits, in 64-bit words; a
/// negative count (the call fails with `EINVAL`) gives none, and a count
/// above [`MAX_BITS`] is not forwarded.
fn bits_len(args: &[u64; 6], count_arg: u8) -> Result<usize, FwdError> {
    let n = args.get(count_arg as usize).copied().ok_or(FwdError::Bad)? as u32 as i32;
    if n <= 0 {
        return Ok(0);
    }
    if n as u64 > MAX_BITS {
        return Err(FwdError::Unsupported);
    }
    Ok((n as usize).div_ceil(64) * 8)
}

/// Capacity of a [`Plan::Sized`] buffer whose length word holds `v`: a
/// negative length (which the call refuses) gives none.
pub fn sized_cap(v: u32, max: usize) -> usize {
    if (v as i32) < 0 {
        0
    } else {
        (v as usize).min(max)
    }
}

/// Bytes of a [`Plan::Sized`] buffer of capacity `cap` that go back after
/// a call returned `result` and left `new_len` in its length word: none on
/// failure, else the smaller of the two (the kernel writes no more).
pub fn sized_out_len(cap: usize, new_len: u32, result: i64) -> usize {
    if result < 0 {
        0
    } else {
        sized_cap(new_len, cap)
    }
}

/// Whether `nr` waits for events and returns `EINTR` only when a signal
/// interrupts it (`poll`, `select` and `epoll_wait` and their variants):
/// never restarted after a handler, and made again if the signal that
/// interrupted it at home does not interrupt it where the caller runs.
pub const fn waits_for_events(nr: u64) -> bool {
    matches!(nr, 7 | 23 | 65 | 69 | 70 | 220 | 232 | 270 | 271 | 281 | 441)
}

/// How `ioctl`'s third argument is forwarded for command `cmd`: from the
/// `_IOC` direction and size bits, or for the classic terminal commands
/// that have none, from their known structures (`struct termios` 60
/// bytes, `winsize` 8, `int` 4). `None`: a command whose argument is not
/// known (it is not forwarded).
pub fn ioctl_plan(cmd: u64) -> Option<Plan> {
    let cmd = cmd as u32;
    let dir = cmd >> 30;
    let size = ((cmd >> 16) & 0x3fff) as usize;
    let ty = (cmd >> 8) & 0xff;
    if dir != 0 && size > 0 {
        return Some(match dir {
            1 => Plan::In { len: size, path: false },
            2 => Plan::Out { len: size, by_result: false },
            _ => Plan::InOut { len: size },
        });
    }
    if ty != 0x54 {
        return None;
    }
    Some(match cmd {
        // TCGETS, TIOCGWINSZ, TIOCGPGRP, FIONREAD, TIOCOUTQ, TIOCGSID.
        0x5401 => Plan::Out { len: 60, by_result: false },
        0x5413 => Plan::Out { len: 8, by_result: false },
        0x540f | 0x541b | 0x5411 | 0x5429 => Plan::Out { len: 4, by_result: false },
        // TCSETS, TCSETSW, TCSETSF, TIOCSWINSZ, TIOCSPGRP, FIONBIO, FIOASYNC.
        0x5402..=0x5404 => Plan::In { len: 60, path: false },
        0x5414 => Plan::In { len: 8, path: false },
        0x5410 | 0x5421 | 0x5452 => Plan::In { len: 4, path: false },
        // FIONCLEX, FIOCLEX, TIOCNOTTY, TIOCEXCL, TIOCNXCL: no argument.
        0x5450 | 0x5451 | 0x5422 | 0x540c | 0x540d => Plan::Value,
        _ => return None,
    })
}

/// The (lowered) value of length argument `len_arg` in `args`.
fn capped(args: &mut [u64; 6], len_arg: u8) -> Result<usize, FwdError> {
    let slot = args.get_mut(len_arg as usize).ok_or(FwdError::Bad)?;
    let len = (*slot).min(MAX_BUF as u64);
    *slot = len;
    Ok(len as usize)
}

/// Appends to a byte slice.
struct W<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl W<'_> {
    fn put(&mut self, b: &[u8]) -> Result<(), FwdError> {
        let end = self.pos.checked_add(b.len()).ok_or(FwdError::NoRoom)?;
        let dst = self.buf.get_mut(self.pos..end).ok_or(FwdError::NoRoom)?;
        for (d, s) in dst.iter_mut().zip(b.iter()) {
            *d = *s;
        }
        self.pos = end;
        Ok(())
    }
}

/// Reads from a byte slice.
struct R<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> R<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], FwdError> {
        let end = self.pos.checked_add(n).ok_or(FwdError::Truncated)?;
        let s = self.buf.get(self.pos..end).ok_or(FwdError::Truncated)?;
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, FwdError> {
        Ok(*self.take(1)?.first().ok_or(FwdError::Truncated)?)
    }

    fn u32(&mut self) -> Result<u32, FwdError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes(<[u8; 4]>::try_from(b).map_err(|_| FwdError::Truncated)?))
    }

    fn u64(&mut self) -> Result<u64, FwdError> {
        let b = self.take(8)?;
        Ok(u64::from_le_bytes(<[u8; 8]>::try_from(b).map_err(|_| FwdError::Truncated)?))
    }
}

/// One segment: the data of argument `arg`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment<'a> {
    /// Argument index (0..6).
    pub arg: u8,
    /// Its bytes.
    pub data: &'a [u8],
}

/// Encodes a `Call` into `out`; `segs` are the inputs in argument order.
/// Returns the length.
pub fn encode_call(id: u32, nr: u32, args: &[u64; 6], segs: &[Segment<'_>], out: &mut [u8]) -> Result<usize, FwdError> {
    let mut w = W { buf: out, pos: 0 };
    w.put(&id.to_le_bytes())?;
    w.put(&nr.to_le_bytes())?;
    for a in args.iter() {
        w.put(&a.to_le_bytes())?;
    }
    put_segs(&mut w, segs)?;
    Ok(w.pos)
}

/// Encodes a `Ret` into `out`. Returns the length.
pub fn encode_ret(id: u32, result: i64, segs: &[Segment<'_>], out: &mut [u8]) -> Result<usize, FwdError> {
    let mut w = W { buf: out, pos: 0 };
    w.put(&id.to_le_bytes())?;
    w.put(&result.to_le_bytes())?;
    put_segs(&mut w, segs)?;
    Ok(w.pos)
}

fn put_segs(w: &mut W<'_>, segs: &[Segment<'_>]) -> Result<(), FwdError> {
    if segs.len() > 6 {
        return Err(FwdError::Bad);
    }
    w.put(&[segs.len() as u8])?;
    for s in segs {
        if s.arg >= 6 || s.data.len() > MAX_BUF.max(MAX_PATH) {
            return Err(FwdError::Bad);
        }
        w.put(&[s.arg])?;
        w.put(&(s.data.len() as u32).to_le_bytes())?;
        w.put(s.data)?;
    }
    Ok(())
}

/// The segments of a message, at most six.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Segments<'a> {
    segs: [Option<Segment<'a>>; 6],
}

impl<'a> Segments<'a> {
    /// The segment for argument `arg`, if any.
    pub fn get(&self, arg: u8) -> Option<Segment<'a>> {
        self.segs.iter().flatten().find(|s| s.arg == arg).copied()
    }

    /// Every segment, in order.
    pub fn iter(&self) -> impl Iterator<Item = Segment<'a>> + '_ {
        self.segs.iter().flatten().copied()
    }
}

fn take_segs<'a>(r: &mut R<'a>) -> Result<Segments<'a>, FwdError> {
    let n = r.u8()? as usize;
    if n > 6 {
        return Err(FwdError::Bad);
    }
    let mut out = Segments::default();
    let mut i = 0;
    while i < n {
        let arg = r.u8()?;
        let len = r.u32()? as usize;
        if arg >= 6 || len > MAX_BUF.max(MAX_PATH) || out.get(arg).is_some() {
            return Err(FwdError::Bad);
        }
        let data = r.take(len)?;
        if let Some(slot) = out.segs.get_mut(i) {
            *slot = Some(Segment { arg, data });
        }
        i += 1;
    }
    if r.pos != r.buf.len() {
        return Err(FwdError::Bad);
    }
    Ok(out)
}

/// A decoded `Call`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Call<'a> {
    /// The caller's request id.
    pub id: u32,
    /// The system-call number.
    pub nr: u32,
    /// The argument values (pointer values are the caller's, meaningless
    /// at home except as "null or not").
    pub args: [u64; 6],
    /// The inputs.
    pub segs: Segments<'a>,
}

/// Decodes a `Call`.
pub fn decode_call(buf: &[u8]) -> Result<Call<'_>, FwdError> {
    let mut r = R { buf, pos: 0 };
    let id = r.u32()?;
    let nr = r.u32()?;
    let mut args = [0u64; 6];
    for a in args.iter_mut() {
        *a = r.u64()?;
    }
    let segs = take_segs(&mut r)?;
    Ok(Call { id, nr, args, segs })
}

/// A decoded `Ret`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ret<'a> {
    /// The request id it answers.
    pub id: u32,
    /// The call's return value (negative errno on failure).
    pub result: i64,
    /// The outputs.
    pub segs: Segments<'a>,
}

/// Decodes a `Ret`.
pub fn decode_ret(buf: &[u8]) -> Result<Ret<'_>, FwdError> {
    let mut r = R { buf, pos: 0 };
    let id = r.u32()?;
    let result = r.u64()? as i64;
    let segs = take_segs(&mut r)?;
    Ok(Ret { id, result, segs })
}

/// How many bytes of output argument `p` go back after a call returned
/// `result`: none on failure; for a buffer sized by the result, the
/// result (at most its capacity); for an array, the result's elements;
/// else the whole structure. A [`Plan::Sized`] buffer depends on its
/// length word: [`sized_out_len`].
pub fn out_len(p: &Plan, result: i64) -> usize {
    if result < 0 {
        return 0;
    }
    match *p {
        Plan::Out { len, by_result: true } => (result as u64).min(len as u64) as usize,
        Plan::OutElems { len, elem } => (result as u64).saturating_mul(elem as u64).min(len as u64) as usize,
        Plan::OutMsg { len } => (result as u64).saturating_add(8).min(len as u64) as usize,
        Plan::Out { len, by_result: false } | Plan::InOut { len } => len,
        _ => 0,
    }
}
