//! `iovec`: scatter/gather I/O on a file at home, wherever the process
//! runs: every 100 ms while it waits, `pwritev` three vectors of distinct
//! bytes (100, 5000 and 30000 bytes) at a new offset and `preadv` them
//! back split differently (3, 20000 and 15097 bytes), then `writev` and
//! `readv` the same through the file position (16 slots of the file,
//! reused); every byte must come back, and the file's size must be what
//! was written.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Mutex;

struct State {
    fd: OwnedFd,
    path: String,
    rounds: super::rounds::Rounds,
}

static STATE: Mutex<Option<State>> = Mutex::new(None);

/// Round `r`'s bytes: every byte depends on the round and its place.
fn pattern(r: u64, len: usize) -> Vec<u8> {
    (0..len).map(|i| ((i as u64).wrapping_mul(2654435761) ^ r.wrapping_mul(0x9e37)) as u8).collect()
}

fn iov(b: &[u8]) -> libc::iovec {
    libc::iovec { iov_base: b.as_ptr() as *mut libc::c_void, iov_len: b.len() }
}

fn iov_mut(b: &mut [u8]) -> libc::iovec {
    libc::iovec { iov_base: b.as_mut_ptr().cast(), iov_len: b.len() }
}

const WRITE: [usize; 3] = [100, 5000, 30000];
const READ: [usize; 3] = [3, 20000, 15097];
const ROUND: usize = 35100;
const SLOTS: u64 = 16;

/// One round of both forms; an error message if anything differs.
fn round(fd: i32, r: u64) -> Result<(), String> {
    let data = pattern(r, ROUND);
    let (a, rest) = data.split_at(WRITE[0]);
    let (b, c) = rest.split_at(WRITE[1]);
    // Sixteen slots, reused: the file stays small.
    let off = ((r % SLOTS) * 2 * ROUND as u64) as libc::off_t;
    let w = [iov(a), iov(b), iov(c)];
    // SAFETY: three valid vectors over `data`.
    let n = unsafe { libc::pwritev(fd, w.as_ptr(), 3, off) };
    if n != ROUND as isize {
        return Err(format!("round {r}: pwritev gave {n}"));
    }
    let mut back = vec![0u8; ROUND];
    let (x, rest) = back.split_at_mut(READ[0]);
    let (y, z) = rest.split_at_mut(READ[1]);
    let rv = [iov_mut(x), iov_mut(y), iov_mut(z)];
    // SAFETY: three valid vectors over `back`.
    let n = unsafe { libc::preadv(fd, rv.as_ptr(), 3, off) };
    if n != ROUND as isize || back != data {
        return Err(format!("round {r}: preadv gave {n}, bytes {}", if back == data { "equal" } else { "differ" }));
    }
    // The same through the file position.
    // SAFETY: plain lseek.
    unsafe { libc::lseek(fd, off + ROUND as libc::off_t, libc::SEEK_SET) };
    // SAFETY: the same vectors.
    let n = unsafe { libc::writev(fd, w.as_ptr(), 3) };
    // SAFETY: plain lseek.
    unsafe { libc::lseek(fd, off + ROUND as libc::off_t, libc::SEEK_SET) };
    let mut back2 = vec![0u8; ROUND];
    let (x, rest) = back2.split_at_mut(READ[0]);
    let (y, z) = rest.split_at_mut(READ[1]);
    let rv = [iov_mut(x), iov_mut(y), iov_mut(z)];
    // SAFETY: three valid vectors over `back2`.
    let m = unsafe { libc::readv(fd, rv.as_ptr(), 3) };
    if n != ROUND as isize || m != ROUND as isize || back2 != data {
        return Err(format!("round {r}: writev gave {n}, readv {m}, bytes {}", if back2 == data { "equal" } else { "differ" }));
    }
    Ok(())
}

pub(crate) fn iovec() -> super::Check {
    let path = format!("/tmp/zdtm-iovec-{}", std::process::id());
    let c = std::ffi::CString::new(path.clone()).unwrap_or_default();
    // SAFETY: a valid path; the descriptor is owned below.
    let raw = unsafe { libc::open(c.as_ptr(), libc::O_RDWR | libc::O_CREAT | libc::O_TRUNC, 0o600) };
    let mut st = State { fd: unsafe_owned(raw), path, rounds: Default::default() };
    let first = round(st.fd.as_raw_fd(), 0);
    st.rounds.record(first);
    *STATE.lock().unwrap_or_else(|e| e.into_inner()) = Some(st);
    Box::new(|| {
        let st = STATE.lock().unwrap_or_else(|e| e.into_inner()).take().ok_or("no state")?;
        let size = std::fs::metadata(&st.path).map(|m| m.len()).unwrap_or(0);
        let _ = std::fs::remove_file(&st.path);
        let want = st.rounds.count.min(SLOTS) * 2 * ROUND as u64;
        st.rounds.verdict()?;
        if size != want {
            return Err(format!("file holds {size} bytes, {want} were written"));
        }
        Ok(())
    })
}

fn unsafe_owned(fd: i32) -> OwnedFd {
    assert!(fd >= 0, "open failed");
    // SAFETY: a descriptor this process just opened and owns.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// One round every 100 ms.
pub(crate) fn tick(n: u64) {
    super::rounds::every_100ms(n, &STATE, |st| {
        let r = round(st.fd.as_raw_fd(), st.rounds.count);
        st.rounds.record(r);
    });
}
