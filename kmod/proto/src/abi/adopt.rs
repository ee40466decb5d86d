//! The adopt stub's ioctls' structures: [`Adopt`] (become the arriving
//! process), [`AdoptClocks`] (the time-namespace offsets that keep it on
//! its home clock), with the `timens_offsets` line the stub writes, and
//! [`AdoptUser`] (the user it is counted as, its cgroup and label). Calls
//! nothing but `core` and the image's [`Context`].

use crate::image::{Context, CONTEXT_LEN};

/// `struct roam_adopt`: `u64 ticket` — 8 bytes: the number the module
/// passed to the stub on its command line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Adopt {
    /// Which arriving process to become.
    pub ticket: u64,
}

impl Adopt {
    /// Encoded size in bytes.
    pub const SIZE: usize = 8;

    /// Encodes into the wire layout.
    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        self.ticket.to_le_bytes()
    }

    /// Decodes the wire layout.
    pub fn from_bytes(b: &[u8; Self::SIZE]) -> Self {
        Adopt { ticket: u64::from_le_bytes(*b) }
    }
}

/// `struct roam_adopt_clocks`: `u64 ticket; i64 monotonic_ns; i64
/// boottime_ns` — 24 bytes. The stub writes the ticket; the module writes
/// the offsets (ns) to add to this node's CLOCK_MONOTONIC and
/// CLOCK_BOOTTIME so that they continue the clocks the process saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AdoptClocks {
    /// Which arriving process.
    pub ticket: u64,
    /// Offset for CLOCK_MONOTONIC (ns).
    pub monotonic_ns: i64,
    /// Offset for CLOCK_BOOTTIME (ns).
    pub boottime_ns: i64,
}

impl AdoptClocks {
    /// Encoded size in bytes.
    pub const SIZE: usize = 24;

    /// Encodes into the wire layout.
    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        b[..8].copy_from_slice(&self.ticket.to_le_bytes());
        b[8..16].copy_from_slice(&self.monotonic_ns.to_le_bytes());
        b[16..].copy_from_slice(&self.boottime_ns.to_le_bytes());
        b
    }

    /// Decodes the wire layout.
    pub fn from_bytes(b: &[u8; Self::SIZE]) -> Self {
        let w = |i: usize| {
            let mut x = [0u8; 8];
            x.copy_from_slice(&b[i..i + 8]);
            x
        };
        AdoptClocks { ticket: u64::from_le_bytes(w(0)), monotonic_ns: i64::from_le_bytes(w(8)), boottime_ns: i64::from_le_bytes(w(16)) }
    }

    /// One line of `/proc/PID/timens_offsets` for clock `name` and offset
    /// `ns`: `name seconds nanoseconds`, the nanoseconds in 0..1e9 (so a
    /// negative offset has negative seconds).
    pub fn offsets_line(name: &str, ns: i64, out: &mut [u8; 64]) -> usize {
        let (sec, nsec) = (ns.div_euclid(1_000_000_000), ns.rem_euclid(1_000_000_000));
        let mut w = Cursor { buf: out, at: 0 };
        let _ = core::fmt::Write::write_fmt(&mut w, format_args!("{name} {sec} {nsec}\n"));
        w.at
    }
}

/// `struct roam_adopt_user`: `u64 ticket; u32 uid; u32 pad; char
/// cgroup[256]; char label[256]` — 528 bytes. The stub writes the ticket;
/// the module writes what the stub must take on before it adopts, as the
/// kernel's own calls do it (a module cannot allocate the per-user
/// structures, move a task into a cgroup by path or set a label):
///
/// * `uid`, the arriving process's real uid, which the stub makes its own
///   with `setresuid(uid, -1, -1)`: the kernel then counts the process as
///   that user's on this node (`user_struct`, `ucounts`: pending signals,
///   processes). Its effective and saved ids stay root's until the
///   adoption gives it every id it had at home.
/// * `join.cgroup`, the cgroup (v2 path from the root) to join by writing
///   `0` to its `cgroup.procs` under `/sys/fs/cgroup`; empty if the stub
///   is in it already.
/// * `join.label`, the security label to take by writing it to
///   `/proc/thread-self/attr/current`; empty if the stub has it already.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AdoptUser {
    /// Which arriving process.
    pub ticket: u64,
    /// Its real user id (initial user namespace).
    pub uid: u32,
    /// The cgroup and label to take on (NUL-padded; empty: none).
    pub join: Context,
}

impl AdoptUser {
    /// Encoded size in bytes.
    pub const SIZE: usize = 16 + 2 * CONTEXT_LEN;

    /// Encodes into the wire layout.
    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        b[..8].copy_from_slice(&self.ticket.to_le_bytes());
        b[8..12].copy_from_slice(&self.uid.to_le_bytes());
        b[16..16 + CONTEXT_LEN].copy_from_slice(&self.join.cgroup);
        b[16 + CONTEXT_LEN..].copy_from_slice(&self.join.label);
        b
    }

    /// Decodes the wire layout (the padding is ignored).
    pub fn from_bytes(b: &[u8; Self::SIZE]) -> Self {
        let mut t = [0u8; 8];
        t.copy_from_slice(&b[..8]);
        let mut u = [0u8; 4];
        u.copy_from_slice(&b[8..12]);
        let mut join = Context::default();
        join.cgroup.copy_from_slice(&b[16..16 + CONTEXT_LEN]);
        join.label.copy_from_slice(&b[16 + CONTEXT_LEN..]);
        AdoptUser { ticket: u64::from_le_bytes(t), uid: u32::from_le_bytes(u), join }
    }
}

/// A `core::fmt::Write` into a fixed buffer (truncates).
struct Cursor<'a> {
    buf: &'a mut [u8],
    at: usize,
}

impl core::fmt::Write for Cursor<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for &c in s.as_bytes() {
            if self.at < self.buf.len() {
                self.buf[self.at] = c;
                self.at += 1;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocks_round_trip_and_offsets_lines() {
        let c = AdoptClocks { ticket: 0x0102_0304_0506_0708, monotonic_ns: -1_500_000_000, boottime_ns: 3_000_000_007 };
        assert_eq!(AdoptClocks::from_bytes(&c.to_bytes()), c);
        let mut b = [0u8; 64];
        let n = AdoptClocks::offsets_line("monotonic", c.monotonic_ns, &mut b);
        assert_eq!(&b[..n], b"monotonic -2 500000000\n");
        let n = AdoptClocks::offsets_line("boottime", c.boottime_ns, &mut b);
        assert_eq!(&b[..n], b"boottime 3 7\n");
    }

    #[test]
    fn user_round_trip() {
        let mut u = AdoptUser { ticket: 0x0102_0304_0506_0708, uid: 1000, ..AdoptUser::default() };
        u.join.cgroup[..4].copy_from_slice(b"/job");
        u.join.label[..3].copy_from_slice(b"lab");
        let b = u.to_bytes();
        assert_eq!(&b[8..20], &[0xe8, 3, 0, 0, 0, 0, 0, 0, b'/', b'j', b'o', b'b']);
        assert_eq!(&b[16 + CONTEXT_LEN..16 + CONTEXT_LEN + 4], b"lab\0");
        assert_eq!(AdoptUser::from_bytes(&b), u);
    }
}
