//! `sysv_msg`, `sysv_sem` and `sysv_shm`: System V IPC objects set up at
//! home before `READY`, used every 100 ms wherever the process runs (the
//! message and semaphore calls are forwarded home), and checked, by
//! content, after the moves. The module doc of `events` describes them.

use super::super::rounds::{every_100ms, Rounds};
use super::super::Check;
use super::{put, setup_failed, sys, take};
use std::sync::Mutex;
use std::time::Instant;

/// A test's object and its rounds while waiting.
struct State {
    id: i32,
    rounds: Rounds,
}

static MSG: Mutex<Option<State>> = Mutex::new(None);
static SEM: Mutex<Option<State>> = Mutex::new(None);

fn pid() -> i32 {
    // SAFETY: a plain call.
    unsafe { libc::getpid() }
}

// ---------------------------------------------------------------- messages

/// The messages queued before `READY`: (type, bytes).
fn messages() -> Vec<(i64, Vec<u8>)> {
    let big: Vec<u8> = (0..4000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    vec![(1, b"alpha".to_vec()), (2, b"beta".to_vec()), (1, b"gamma".to_vec()), (3, b"delta".to_vec()), (2, b"epsilon".to_vec()), (4, big)]
}

fn msgsnd(id: i32, mtype: i64, data: &[u8]) -> Result<(), String> {
    let mut buf = mtype.to_ne_bytes().to_vec();
    buf.extend_from_slice(data);
    // SAFETY: `buf` is a long type followed by `data.len()` bytes.
    sys("msgsnd", unsafe { libc::msgsnd(id, buf.as_ptr().cast(), data.len(), libc::IPC_NOWAIT) } as i64).map(drop)
}

/// `msgrcv` into `room` bytes: Ok((type, bytes)) or Err(errno).
fn msgrcv(id: i32, room: usize, mtype: i64, flags: i32) -> Result<(i64, Vec<u8>), i32> {
    let mut buf = vec![0u8; 8 + room];
    // SAFETY: `buf` holds a long type and `room` bytes.
    let n = unsafe { libc::msgrcv(id, buf.as_mut_ptr().cast(), room, mtype, flags | libc::IPC_NOWAIT) };
    if n < 0 {
        return Err(super::errno());
    }
    let t = i64::from_ne_bytes(buf[..8].try_into().unwrap_or_default());
    Ok((t, buf[8..8 + n as usize].to_vec()))
}

fn msq_stat(id: i32) -> Result<libc::msqid_ds, String> {
    // SAFETY: plain data, filled by the call.
    let mut ds: libc::msqid_ds = unsafe { std::mem::zeroed() };
    // SAFETY: `ds` is a valid msqid_ds.
    sys("msgctl(IPC_STAT)", unsafe { libc::msgctl(id, libc::IPC_STAT, &mut ds) } as i64)?;
    Ok(ds)
}

pub(super) fn msg() -> Check {
    let msgs = messages();
    let setup = || -> Result<i32, String> {
        // SAFETY: a plain call.
        let id = sys("msgget", unsafe { libc::msgget(libc::IPC_PRIVATE, libc::IPC_CREAT | 0o600) } as i64)? as i32;
        for (t, d) in &msgs {
            msgsnd(id, *t, d)?;
        }
        Ok(id)
    };
    let id = match setup() {
        Ok(id) => id,
        Err(e) => return setup_failed(e),
    };
    let mut st = State { id, rounds: Rounds::default() };
    let first = msg_round(id, &msgs, 0);
    st.rounds.record(first);
    put(&MSG, st);
    Box::new(move || {
        let st = take(&MSG)?;
        let res = st.rounds.verdict().and_then(|()| msg_check(id, &msgs));
        // SAFETY: removes the queue this test made.
        unsafe { libc::msgctl(id, libc::IPC_RMID, std::ptr::null_mut()) };
        res
    })
}

/// One round while waiting: a message of type 9 whose bytes depend on the
/// round is sent; `IPC_STAT` counts it beside the six; too small a buffer
/// gives `E2BIG` and leaves it; it comes back whole; then `ENOMSG`.
fn msg_round(id: i32, msgs: &[(i64, Vec<u8>)], n: u64) -> Result<(), String> {
    let data: Vec<u8> = (0..300 + n % 200).map(|i| (i ^ n.wrapping_mul(31)) as u8).collect();
    msgsnd(id, 9, &data)?;
    let ds = msq_stat(id)?;
    let bytes = msgs.iter().map(|m| m.1.len()).sum::<usize>() + data.len();
    if (ds.msg_qnum, ds.__msg_cbytes, ds.msg_lspid) != (msgs.len() as u64 + 1, bytes as u64, pid()) {
        return Err(format!(
            "round {n}: IPC_STAT {} messages, {} bytes, last sender {}; expected {}, {bytes}, {}",
            ds.msg_qnum,
            ds.__msg_cbytes,
            ds.msg_lspid,
            msgs.len() + 1,
            pid()
        ));
    }
    let small = msgrcv(id, 10, 9, 0);
    if small != Err(libc::E2BIG) {
        return Err(format!("round {n}: msgrcv into 10 bytes gave {small:?}, expected E2BIG"));
    }
    match msgrcv(id, 8192, 9, 0) {
        Ok((9, d)) if d == data => {}
        other => return Err(format!("round {n}: msgrcv of type 9 gave {:?}, expected {} bytes", other.map(|(t, d)| (t, d.len())), data.len())),
    }
    let none = msgrcv(id, 8192, 9, 0);
    if none != Err(libc::ENOMSG) {
        return Err(format!("round {n}: a second msgrcv of type 9 gave {none:?}, expected ENOMSG"));
    }
    Ok(())
}

fn msg_check(id: i32, msgs: &[(i64, Vec<u8>)]) -> Result<(), String> {
    let ds = msq_stat(id)?;
    let bytes: usize = msgs.iter().map(|m| m.1.len()).sum();
    let (qnum, cbytes, lspid, mode) = (ds.msg_qnum, ds.__msg_cbytes, ds.msg_lspid, ds.msg_perm.mode & 0o777);
    if (qnum, cbytes, lspid, mode) != (msgs.len() as u64, bytes as u64, pid(), 0o600) {
        return Err(format!("IPC_STAT: {qnum} messages, {cbytes} bytes, last sender {lspid}, mode {mode:o}; expected {}, {bytes}, {}, 600", msgs.len(), pid()));
    }
    // (type asked, room, flags) and the message index each gives.
    let steps: [(i64, usize, i32, Result<usize, i32>); 8] = [
        (2, 8192, 0, Ok(1)),
        (2, 8192, 0, Ok(4)),
        (-2, 8192, 0, Ok(0)),
        (0, 8192, 0, Ok(2)),
        (4, 100, 0, Err(libc::E2BIG)),
        (3, 8192, libc::MSG_EXCEPT, Ok(5)),
        (0, 8192, 0, Ok(3)),
        (0, 8192, 0, Err(libc::ENOMSG)),
    ];
    for (i, (t, room, flags, want)) in steps.into_iter().enumerate() {
        let got = msgrcv(id, room, t, flags);
        let want = want.map(|k| msgs[k].clone());
        if got != want {
            let show = |r: &Result<(i64, Vec<u8>), i32>| match r {
                Ok((t, d)) => format!("type {t}, {} bytes {:?}", d.len(), String::from_utf8_lossy(&d[..d.len().min(8)])),
                Err(e) => format!("errno {e}"),
            };
            return Err(format!("msgrcv {} (type {t}, room {room}, flags {flags:#o}): {}, expected {}", i + 1, show(&got), show(&want)));
        }
    }
    let ds = msq_stat(id)?;
    if ds.msg_qnum != 0 || ds.msg_lrpid != pid() {
        return Err(format!("after receiving all: {} messages, last receiver {}; expected 0, {}", ds.msg_qnum, ds.msg_lrpid, pid()));
    }
    Ok(())
}

// -------------------------------------------------------------- semaphores

const SEMS: [u16; 4] = [3, 0, 7, 32767];
/// After `semop` raised the second by 2.
const SEMS_NOW: [u16; 4] = [3, 2, 7, 32767];

fn semop(id: i32, ops: &[(u16, i16)]) -> Result<(), i32> {
    let mut b: Vec<libc::sembuf> = ops.iter().map(|&(n, op)| libc::sembuf { sem_num: n, sem_op: op, sem_flg: libc::IPC_NOWAIT as i16 }).collect();
    // SAFETY: `b` holds `b.len()` operations.
    if unsafe { libc::semop(id, b.as_mut_ptr(), b.len()) } == 0 {
        Ok(())
    } else {
        Err(super::errno())
    }
}

fn getall(id: i32) -> Result<[u16; 4], String> {
    let mut v = [0u16; 4];
    // SAFETY: GETALL writes one unsigned short per semaphore (four).
    sys("semctl(GETALL)", unsafe { libc::semctl(id, 0, libc::GETALL, v.as_mut_ptr()) } as i64)?;
    Ok(v)
}

pub(super) fn sem() -> Check {
    let setup = || -> Result<i32, String> {
        // SAFETY: a plain call.
        let id = sys("semget", unsafe { libc::semget(libc::IPC_PRIVATE, 4, libc::IPC_CREAT | 0o600) } as i64)? as i32;
        let mut v = SEMS;
        // SAFETY: SETALL reads four unsigned shorts.
        sys("semctl(SETALL)", unsafe { libc::semctl(id, 0, libc::SETALL, v.as_mut_ptr()) } as i64)?;
        semop(id, &[(1, 2)]).map_err(|e| format!("semop: errno {e}"))?;
        Ok(id)
    };
    let id = match setup() {
        Ok(id) => id,
        Err(e) => return setup_failed(e),
    };
    let mut st = State { id, rounds: Rounds::default() };
    let first = sem_round(id, 0);
    st.rounds.record(first);
    put(&SEM, st);
    Box::new(move || {
        let res = take(&SEM).and_then(|st| st.rounds.verdict()).and_then(|()| sem_check(id));
        // SAFETY: removes the set this test made.
        unsafe { libc::semctl(id, 0, libc::IPC_RMID) };
        res
    })
}

/// `semctl(id, n, cmd)` of a command that takes no argument.
fn semctl0(id: i32, n: i32, cmd: i32) -> Result<i32, String> {
    // SAFETY: GETVAL, GETPID, GETNCNT and GETZCNT take no argument.
    sys("semctl", unsafe { libc::semctl(id, n, cmd) } as i64).map(|v| v as i32)
}

/// One round while waiting: the third semaphore raised by one and
/// lowered again (`GETVAL` sees the step, `GETPID` the process), a
/// `semtimedop` waiting 30 ms for the second (2) to reach zero times out
/// with `EAGAIN` after at least 30 ms, `IPC_STAT` still counts four.
fn sem_round(id: i32, n: u64) -> Result<(), String> {
    semop(id, &[(2, 1)]).map_err(|e| format!("round {n}: semop +1: errno {e}"))?;
    let (v, p) = (semctl0(id, 2, libc::GETVAL)?, semctl0(id, 2, libc::GETPID)?);
    if (v, p) != (SEMS_NOW[2] as i32 + 1, pid()) {
        return Err(format!("round {n}: after +1 value {v}, pid {p}; expected {}, {}", SEMS_NOW[2] + 1, pid()));
    }
    semop(id, &[(2, -1)]).map_err(|e| format!("round {n}: semop -1: errno {e}"))?;
    let mut wait = [libc::sembuf { sem_num: 1, sem_op: 0, sem_flg: 0 }];
    let ts = libc::timespec { tv_sec: 0, tv_nsec: 30_000_000 };
    let t0 = Instant::now();
    // SAFETY: one operation in `wait`, a valid timeout.
    let r = unsafe { libc::syscall(libc::SYS_semtimedop, id, wait.as_mut_ptr(), 1usize, &ts as *const libc::timespec) };
    let (e, took) = (super::errno(), t0.elapsed());
    if r == -1 && e == libc::EINTR && crate::TERM.load(std::sync::atomic::Ordering::SeqCst) {
        // The harness's SIGTERM, which ends the wait: not this round's fault.
        return Ok(());
    }
    if r != -1 || e != libc::EAGAIN || took.as_millis() < 30 {
        return Err(format!("round {n}: semtimedop waiting for zero on 2 gave {r} (errno {e}) after {took:?}; expected EAGAIN after 30 ms"));
    }
    let v = semctl0(id, 2, libc::GETVAL)?;
    // SAFETY: plain data, filled by the call.
    let mut ds: libc::semid_ds = unsafe { std::mem::zeroed() };
    // SAFETY: IPC_STAT fills a semid_ds.
    sys("semctl(IPC_STAT)", unsafe { libc::semctl(id, 0, libc::IPC_STAT, &mut ds as *mut libc::semid_ds) } as i64)?;
    if (v, ds.sem_nsems) != (SEMS_NOW[2] as i32, 4) {
        return Err(format!("round {n}: after -1 value {v}, {} semaphores; expected {}, 4", ds.sem_nsems, SEMS_NOW[2]));
    }
    Ok(())
}

pub(super) fn msg_tick(n: u64) {
    every_100ms(n, &MSG, |st| {
        let r = msg_round(st.id, &messages(), st.rounds.count);
        st.rounds.record(r);
    });
}

pub(super) fn sem_tick(n: u64) {
    every_100ms(n, &SEM, |st| {
        let r = sem_round(st.id, st.rounds.count);
        st.rounds.record(r);
    });
}

fn sem_check(id: i32) -> Result<(), String> {
    let all = getall(id)?;
    if all != SEMS_NOW {
        return Err(format!("GETALL: {all:?}, expected {SEMS_NOW:?}"));
    }
    for (n, &want) in SEMS_NOW.iter().enumerate() {
        // SAFETY: plain semctl queries of semaphore `n`.
        let (v, p, nc, zc) = unsafe {
            (
                libc::semctl(id, n as i32, libc::GETVAL),
                libc::semctl(id, n as i32, libc::GETPID),
                libc::semctl(id, n as i32, libc::GETNCNT),
                libc::semctl(id, n as i32, libc::GETZCNT),
            )
        };
        // SETALL and semop both record the process as the last to act.
        if (v, p, nc, zc) != (want as i32, pid(), 0, 0) {
            return Err(format!("semaphore {n}: value {v}, pid {p}, waiters {nc}/{zc}; expected {want}, {}, 0/0", pid()));
        }
    }
    // SAFETY: plain data, filled by the call.
    let mut ds: libc::semid_ds = unsafe { std::mem::zeroed() };
    // SAFETY: IPC_STAT fills a semid_ds.
    sys("semctl(IPC_STAT)", unsafe { libc::semctl(id, 0, libc::IPC_STAT, &mut ds as *mut libc::semid_ds) } as i64)?;
    if ds.sem_nsems != 4 || ds.sem_perm.mode & 0o777 != 0o600 {
        return Err(format!("IPC_STAT: {} semaphores, mode {:o}; expected 4, 600", ds.sem_nsems, ds.sem_perm.mode & 0o777));
    }
    // Atomic: both or neither.
    semop(id, &[(0, -3), (2, 1)]).map_err(|e| format!("semop -3/+1: errno {e}"))?;
    let below = semop(id, &[(2, 1), (0, -1)]);
    let zero_ok = semop(id, &[(0, 0)]);
    let zero_no = semop(id, &[(3, 0)]);
    if (below, zero_ok, zero_no) != (Err(libc::EAGAIN), Ok(()), Err(libc::EAGAIN)) {
        return Err(format!("semop below zero {below:?}, wait for zero on 0 {zero_ok:?}, on 32767 {zero_no:?}"));
    }
    // SAFETY: SETVAL takes an int.
    let (r, e) = (unsafe { libc::semctl(id, 1, libc::SETVAL, 32768 as libc::c_int) }, super::errno());
    if r != -1 || e != libc::ERANGE {
        return Err(format!("SETVAL 32768 gave {r} (errno {e}), expected ERANGE"));
    }
    let all = getall(id)?;
    if all != [0, 2, 8, 32767] {
        return Err(format!("GETALL after semop: {all:?}, expected [0, 2, 8, 32767]"));
    }
    Ok(())
}

// ------------------------------------------------------------ shared memory

const SHM_LEN: usize = 3 * 4096 + 100;

fn shm_byte(i: usize) -> u8 {
    ((i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 57) as u8 | 1
}

struct Shm {
    id: i32,
    rw: usize,
    ro: usize,
}

/// The permissions `/proc/self/maps` shows for the area at `addr`.
fn perms_at(addr: usize) -> Result<String, String> {
    let maps = std::fs::read_to_string("/proc/self/maps").map_err(|e| format!("/proc/self/maps: {e}"))?;
    maps.lines()
        .find_map(|l| {
            let (range, rest) = l.split_once(' ')?;
            let (a, b) = range.split_once('-')?;
            let (a, b) = (usize::from_str_radix(a, 16).ok()?, usize::from_str_radix(b, 16).ok()?);
            (a <= addr && addr < b).then(|| rest.split(' ').next().unwrap_or("").to_string())
        })
        .ok_or_else(|| format!("{addr:#x} is not mapped"))
}

fn shmat(id: i32, flags: i32) -> Result<usize, String> {
    // SAFETY: the kernel picks the address.
    let p = unsafe { libc::shmat(id, std::ptr::null(), flags) };
    if p as isize == -1 {
        return Err(format!("shmat: {}", std::io::Error::last_os_error()));
    }
    Ok(p as usize)
}

fn shm_stat(id: i32) -> Result<libc::shmid_ds, String> {
    // SAFETY: plain data, filled by the call.
    let mut ds: libc::shmid_ds = unsafe { std::mem::zeroed() };
    // SAFETY: `ds` is a valid shmid_ds.
    sys("shmctl(IPC_STAT)", unsafe { libc::shmctl(id, libc::IPC_STAT, &mut ds) } as i64)?;
    Ok(ds)
}

pub(super) fn shm() -> Check {
    let setup = || -> Result<Shm, String> {
        // SAFETY: a plain call.
        let id = sys("shmget", unsafe { libc::shmget(libc::IPC_PRIVATE, SHM_LEN, libc::IPC_CREAT | 0o600) } as i64)? as i32;
        let rw = shmat(id, 0)?;
        let ro = shmat(id, libc::SHM_RDONLY)?;
        for i in 0..SHM_LEN {
            // SAFETY: inside the read-write attachment.
            unsafe { *(rw as *mut u8).add(i) = shm_byte(i) };
        }
        Ok(Shm { id, rw, ro })
    };
    let s = match setup() {
        Ok(s) => s,
        Err(e) => return setup_failed(e),
    };
    Box::new(move || {
        let res = shm_check(&s);
        // SAFETY: detaches what this test attached (a second detach of an
        // address fails harmlessly) and removes its segment.
        unsafe {
            libc::shmdt(s.rw as *const libc::c_void);
            libc::shmdt(s.ro as *const libc::c_void);
            libc::shmctl(s.id, libc::IPC_RMID, std::ptr::null_mut());
        }
        res
    })
}

fn shm_check(s: &Shm) -> Result<(), String> {
    let page_end = SHM_LEN.div_ceil(4096) * 4096;
    for (what, base) in [("read-write", s.rw), ("read-only", s.ro)] {
        // SAFETY: the attachment spans whole pages: `page_end` bytes.
        let bytes = unsafe { std::slice::from_raw_parts(base as *const u8, page_end) };
        if let Some(i) = (0..SHM_LEN).find(|&i| bytes[i] != shm_byte(i)) {
            return Err(format!("{what} attachment: byte {i} is {:#x}, expected {:#x}", bytes[i], shm_byte(i)));
        }
        if let Some(i) = (SHM_LEN..page_end).find(|&i| bytes[i] != 0) {
            return Err(format!("{what} attachment: byte {i} past the segment's size is {:#x}, expected 0", bytes[i]));
        }
    }
    let (prw, pro) = (perms_at(s.rw)?, perms_at(s.ro)?);
    if (prw.as_str(), pro.as_str()) != ("rw-s", "r--s") {
        return Err(format!("/proc/self/maps: {prw} and {pro}, expected rw-s and r--s"));
    }
    // One segment: what one attachment writes, the other reads.
    // SAFETY: inside both attachments; volatile so the read is made.
    let seen = unsafe {
        std::ptr::write_volatile((s.rw as *mut u8).add(5000), !shm_byte(5000));
        std::ptr::read_volatile((s.ro as *const u8).add(5000))
    };
    if seen != !shm_byte(5000) {
        return Err(format!("a write through one attachment reads {seen:#x} through the other"));
    }
    let ds = shm_stat(s.id)?;
    let got = (ds.shm_segsz, ds.shm_nattch, ds.shm_cpid, ds.shm_lpid, ds.shm_perm.mode & 0o777);
    let want = (SHM_LEN, 2, pid(), pid(), 0o600);
    if got != want {
        return Err(format!("IPC_STAT (size, attachments, creator, last, mode): {got:?}, expected {want:?}"));
    }
    // SAFETY: detaching both attachments this test made.
    let (a, b) = unsafe { (libc::shmdt(s.rw as *const libc::c_void), libc::shmdt(s.ro as *const libc::c_void)) };
    let n = shm_stat(s.id)?.shm_nattch;
    if (a, b, n) != (0, 0, 0) {
        return Err(format!("shmdt gave {a} and {b}; {n} attachments left"));
    }
    Ok(())
}
