//! The `/dev/roam` ioctl ABI and the sysfs value formats.
//!
//! These files are the single definition of the user/kernel interface: the
//! module includes them with `#[path]`, the tools use them through the
//! `roam-proto` crate. Structures crossing the boundary are encoded field by
//! field in native (little-endian, x86-64) order, so neither side needs an
//! unsafe cast, and their size is part of the ioctl number.
//!
//! The codes carried in those structures live in their own files:
//! [`refusal`] (why a migration failed) and [`cantmove`] (why a process
//! cannot migrate). Calls nothing outside this directory.

mod adopt;
pub mod cantmove;
pub mod refusal;

pub use adopt::{Adopt, AdoptClocks, AdoptUser};

/// Version of the ioctl ABI. Bumped on any incompatible change; every
/// structure returned by the module starts with it, so a tool built for
/// another ABI notices and says so instead of misreading fields.
pub const ROAM_ABI_VERSION: u32 = 1;

/// Version of roam itself, as shown in `/sys/kernel/roam/version`.
pub const ROAM_VERSION: &str = "0.1.0";

/// The ioctl "type" byte. `'r'` 0x00-0x1F belongs to msdos_fs; roam uses
/// 0x80-0xFF (see Documentation/userspace-api/ioctl/ioctl-number.rst).
pub const ROAM_IOC_MAGIC: u8 = b'r';

/// Lowest and highest valid node id. 0 means "not configured".
pub const NODE_ID_MIN: u32 = 1;
/// See [`NODE_ID_MIN`].
pub const NODE_ID_MAX: u32 = 65534;

const IOC_NRBITS: u32 = 8;
const IOC_TYPEBITS: u32 = 8;
const IOC_SIZEBITS: u32 = 14;
const IOC_NRSHIFT: u32 = 0;
const IOC_TYPESHIFT: u32 = IOC_NRSHIFT + IOC_NRBITS;
const IOC_SIZESHIFT: u32 = IOC_TYPESHIFT + IOC_TYPEBITS;
const IOC_DIRSHIFT: u32 = IOC_SIZESHIFT + IOC_SIZEBITS;

/// `_IOC_NONE`, `_IOC_WRITE`, `_IOC_READ` as on x86-64.
pub const IOC_NONE: u32 = 0;
/// Userspace writes, the kernel reads.
pub const IOC_WRITE: u32 = 1;
/// The kernel writes, userspace reads.
pub const IOC_READ: u32 = 2;

/// The kernel's `_IOC(dir, type, nr, size)`.
pub const fn ioc(dir: u32, ty: u8, nr: u8, size: usize) -> u32 {
    (dir << IOC_DIRSHIFT)
        | ((ty as u32) << IOC_TYPESHIFT)
        | ((nr as u32) << IOC_NRSHIFT)
        | ((size as u32) << IOC_SIZESHIFT)
}

/// The size field of an ioctl number (`_IOC_SIZE`).
pub const fn ioc_size(cmd: u32) -> usize {
    ((cmd >> IOC_SIZESHIFT) & ((1 << IOC_SIZEBITS) - 1)) as usize
}

/// The type field of an ioctl number (`_IOC_TYPE`).
pub const fn ioc_type(cmd: u32) -> u8 {
    ((cmd >> IOC_TYPESHIFT) & 0xff) as u8
}

/// `ROAM_IOC_STATUS`: read a [`Status`] (`_IOR('r', 0x80, struct roam_status)`).
pub const ROAM_IOC_STATUS: u32 = ioc(IOC_READ, ROAM_IOC_MAGIC, 0x80, Status::SIZE);

/// `ROAM_IOC_PING`: time round trips or a bulk transfer to a peer over the
/// transport (`_IOWR('r', 0x81, struct roam_ping)`, root only).
pub const ROAM_IOC_PING: u32 = ioc(IOC_READ | IOC_WRITE, ROAM_IOC_MAGIC, 0x81, Ping::SIZE);

/// [`Ping::flags`]: send `count` bulk frames of `size` bytes back to back
/// and one final round trip, instead of `count` round trips.
pub const PING_BULK: u32 = 1;
/// [`Ping::flags`]: send nothing; compute the frame MAC over `size` bytes
/// `count` times, to measure what the MAC alone costs on this node.
pub const PING_MAC_ONLY: u32 = 2;
/// Largest `count` one ping request may ask for.
pub const PING_MAX_COUNT: u32 = 100_000;

/// `struct roam_ping`: request (node, count, size, flags) and answer
/// (elapsed_ns, done). Layout: `u32 node; u32 count; u32 size; u32 flags;
/// u64 elapsed_ns; u32 done; u32 reserved;` — 32 bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ping {
    /// The peer to exchange frames with.
    pub node: u32,
    /// Round trips (or bulk frames) to do.
    pub count: u32,
    /// Payload bytes per frame.
    pub size: u32,
    /// [`PING_BULK`] or 0.
    pub flags: u32,
    /// Filled in: time from the first send to the last answer.
    pub elapsed_ns: u64,
    /// Filled in: round trips (or frames) completed.
    pub done: u32,
}

impl Ping {
    /// Encoded size in bytes.
    pub const SIZE: usize = 32;

    /// Encodes into the wire layout.
    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        b[0..4].copy_from_slice(&self.node.to_le_bytes());
        b[4..8].copy_from_slice(&self.count.to_le_bytes());
        b[8..12].copy_from_slice(&self.size.to_le_bytes());
        b[12..16].copy_from_slice(&self.flags.to_le_bytes());
        b[16..24].copy_from_slice(&self.elapsed_ns.to_le_bytes());
        b[24..28].copy_from_slice(&self.done.to_le_bytes());
        b
    }

    /// Decodes the wire layout.
    pub fn from_bytes(b: &[u8; Self::SIZE]) -> Self {
        let w = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let mut e = [0u8; 8];
        e.copy_from_slice(&b[16..24]);
        Ping { node: w(0), count: w(4), size: w(8), flags: w(12), elapsed_ns: u64::from_le_bytes(e), done: w(24) }
    }
}

/// `ROAM_IOC_WHY`: why a process cannot migrate (`_IOWR('r', 0x82,
/// struct roam_why)`). Anyone may ask about their own processes, root
/// about any.
pub const ROAM_IOC_WHY: u32 = ioc(IOC_READ | IOC_WRITE, ROAM_IOC_MAGIC, 0x82, Why::SIZE);
/// `ROAM_IOC_LOCK`: pin a process to its node (`_IOW('r', 0x83, struct
/// roam_pid)`); owner or root.
pub const ROAM_IOC_LOCK: u32 = ioc(IOC_WRITE, ROAM_IOC_MAGIC, 0x83, PidArg::SIZE);
/// `ROAM_IOC_UNLOCK`: undo [`ROAM_IOC_LOCK`]; owner or root.
pub const ROAM_IOC_UNLOCK: u32 = ioc(IOC_WRITE, ROAM_IOC_MAGIC, 0x84, PidArg::SIZE);

/// `ROAM_IOC_MIGRATE`: move a process to another node, or home
/// (`_IOWR('r', 0x85, struct roam_migrate)`); owner or root. Waits until
/// the process has moved or the move has failed, unless the caller moves
/// itself (then the move happens when the call returns).
pub const ROAM_IOC_MIGRATE: u32 = ioc(IOC_READ | IOC_WRITE, ROAM_IOC_MAGIC, 0x85, Migrate::SIZE);
/// `ROAM_IOC_WHERE`: where a process runs (`_IOWR('r', 0x86, struct
/// roam_where)`); anyone.
pub const ROAM_IOC_WHERE: u32 = ioc(IOC_READ | IOC_WRITE, ROAM_IOC_MAGIC, 0x86, Where::SIZE);
/// `ROAM_IOC_ADOPT`: called by the adopt stub (`roam-adopt`) that the
/// module starts on a destination node: turns the caller into the arriving
/// process (`_IOW('r', 0x87, struct roam_adopt)`). Only the stub the
/// module started for that migration may call it; on success it does not
/// return to the stub.
pub const ROAM_IOC_ADOPT: u32 = ioc(IOC_WRITE, ROAM_IOC_MAGIC, 0x87, Adopt::SIZE);
/// `ROAM_IOC_ADOPT_CLOCKS`: asked by the adopt stub before
/// `ROAM_IOC_ADOPT`: the offsets of the time namespace that keeps the
/// arriving process on its home clock (`_IOWR('r', 0x89, struct
/// roam_adopt_clocks)`). Only the stub the module started may call it.
pub const ROAM_IOC_ADOPT_CLOCKS: u32 = ioc(IOC_READ | IOC_WRITE, ROAM_IOC_MAGIC, 0x89, AdoptClocks::SIZE);
/// `ROAM_IOC_ADOPT_USER`: asked by the adopt stub before `ROAM_IOC_ADOPT`:
/// the arriving process's real uid, which the stub takes on so that the
/// kernel counts the process as its user's here (`_IOWR('r', 0x8a, struct
/// roam_adopt_user)`). Only the stub the module started may call it.
pub const ROAM_IOC_ADOPT_USER: u32 = ioc(IOC_READ | IOC_WRITE, ROAM_IOC_MAGIC, 0x8a, AdoptUser::SIZE);

/// `ROAM_IOC_ALLOW`: read, and optionally set, the nodes a process may be
/// moved to (`_IOWR('r', 0x88, struct roam_allow)`); owner or root. The
/// balancer moves it only to those; a destination outside them refuses it.
/// Its home is always allowed. The mask goes with the process when it
/// migrates.
pub const ROAM_IOC_ALLOW: u32 = ioc(IOC_READ | IOC_WRITE, ROAM_IOC_MAGIC, 0x88, Allow::SIZE);

/// [`Migrate::node`] value meaning "its home node".
pub const NODE_HOME: u32 = 0;

/// How a process moves, as [`Migrate::mode`].
pub mod mode {
    /// Stopped for the whole copy.
    pub const STOP: u32 = 0;
    /// Pages copied in rounds while it runs, then stopped for the rest
    /// (a process moving on or home from a remote node moves stopped).
    pub const PRECOPY: u32 = 1;
    /// The modes a request may name.
    pub const ALL: [u32; 2] = [STOP, PRECOPY];
    /// A mode's name, as `roamctl migrate --mode` takes it.
    pub const fn name(m: u32) -> &'static str {
        match m {
            STOP => "stop",
            PRECOPY => "precopy",
            _ => "?",
        }
    }
}

/// `struct roam_migrate`: `u32 pid; u32 node` in; `u32 reason; u32
/// remote_pid; u64 elapsed_ns; u64 bytes` out; `u32 mode` in; `u32
/// rounds; u64 freeze_ns` out — 48 bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Migrate {
    /// The process to move (pid in the caller's namespace).
    pub pid: u32,
    /// Destination node id, or [`NODE_HOME`].
    pub node: u32,
    /// Filled in on failure: a [`refusal`] code.
    pub reason: u32,
    /// Filled in: its pid on the destination (0 when it went home).
    pub remote_pid: u32,
    /// Filled in: time from the request to the destination's commit.
    pub elapsed_ns: u64,
    /// Filled in: bytes of memory image sent (pre-copy rounds included).
    pub bytes: u64,
    /// A [`mode`] value.
    pub mode: u32,
    /// Filled in: pre-copy rounds (0 when it moved stopped).
    pub rounds: u32,
    /// Filled in: how long the process was stopped (the whole migration
    /// when it moved stopped).
    pub freeze_ns: u64,
}

impl Migrate {
    /// Encoded size in bytes.
    pub const SIZE: usize = 48;

    /// Encodes into the wire layout.
    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        b[0..4].copy_from_slice(&self.pid.to_le_bytes());
        b[4..8].copy_from_slice(&self.node.to_le_bytes());
        b[8..12].copy_from_slice(&self.reason.to_le_bytes());
        b[12..16].copy_from_slice(&self.remote_pid.to_le_bytes());
        b[16..24].copy_from_slice(&self.elapsed_ns.to_le_bytes());
        b[24..32].copy_from_slice(&self.bytes.to_le_bytes());
        b[32..36].copy_from_slice(&self.mode.to_le_bytes());
        b[36..40].copy_from_slice(&self.rounds.to_le_bytes());
        b[40..48].copy_from_slice(&self.freeze_ns.to_le_bytes());
        b
    }

    /// Decodes the wire layout.
    pub fn from_bytes(b: &[u8; Self::SIZE]) -> Self {
        let w = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let q = |i: usize| {
            let mut e = [0u8; 8];
            e.copy_from_slice(&b[i..i + 8]);
            u64::from_le_bytes(e)
        };
        Migrate {
            pid: w(0),
            node: w(4),
            reason: w(8),
            remote_pid: w(12),
            elapsed_ns: q(16),
            bytes: q(24),
            mode: w(32),
            rounds: w(36),
            freeze_ns: q(40),
        }
    }
}

/// Where a process is, as [`Where::state`].
pub mod place {
    /// Runs here, at home.
    pub const HOME: u32 = 0;
    /// Its home is here; it runs on [`super::Where::node`] (this task is
    /// its deputy).
    pub const AWAY: u32 = 1;
    /// It is a guest here; its home is [`super::Where::node`].
    pub const GUEST: u32 = 2;
    /// It is moving.
    pub const MOVING: u32 = 3;
}

/// `struct roam_where`: `u32 pid` in; `u32 state; u32 node; u32
/// other_pid` out — 16 bytes. For `AWAY`, `node`/`other_pid` say where it
/// runs and its pid there; for `GUEST`, its home node and pid at home.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Where {
    /// The process asked about.
    pub pid: u32,
    /// A [`place`] value.
    pub state: u32,
    /// The other node involved (see [`place`]), else this node's id.
    pub node: u32,
    /// Its pid on that other node, 0 if none.
    pub other_pid: u32,
}

impl Where {
    /// Encoded size in bytes.
    pub const SIZE: usize = 16;

    /// Encodes into the wire layout.
    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        b[0..4].copy_from_slice(&self.pid.to_le_bytes());
        b[4..8].copy_from_slice(&self.state.to_le_bytes());
        b[8..12].copy_from_slice(&self.node.to_le_bytes());
        b[12..16].copy_from_slice(&self.other_pid.to_le_bytes());
        b
    }

    /// Decodes the wire layout.
    pub fn from_bytes(b: &[u8; Self::SIZE]) -> Self {
        let w = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        Where { pid: w(0), state: w(4), node: w(8), other_pid: w(12) }
    }
}

/// `struct roam_allow`: `u32 pid; u32 set; u64 nodes` — 16 bytes. With
/// `set` 1 the module sets the mask to `nodes`; either way it writes back
/// the mask in force. Bit `n - 1` stands for node `n`; 0 means any node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Allow {
    /// The process.
    pub pid: u32,
    /// 1: set the mask; 0: only read it.
    pub set: u32,
    /// The allowed nodes.
    pub nodes: u64,
}

impl Allow {
    /// Encoded size in bytes.
    pub const SIZE: usize = 16;

    /// Encodes into the wire layout.
    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        b[0..4].copy_from_slice(&self.pid.to_le_bytes());
        b[4..8].copy_from_slice(&self.set.to_le_bytes());
        b[8..16].copy_from_slice(&self.nodes.to_le_bytes());
        b
    }

    /// Decodes the wire layout.
    pub fn from_bytes(b: &[u8; Self::SIZE]) -> Self {
        let mut n = [0u8; 8];
        n.copy_from_slice(&b[8..16]);
        Allow {
            pid: u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            set: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
            nodes: u64::from_le_bytes(n),
        }
    }
}

/// The allowed-nodes mask for a list of node ids (1 to 64), or the first
/// id out of range.
pub fn nodes_mask(nodes: &[u32]) -> Result<u64, u32> {
    let mut m = 0u64;
    for &n in nodes {
        if n == 0 || n > 64 {
            return Err(n);
        }
        m |= 1u64 << (n - 1);
    }
    Ok(m)
}

/// `struct roam_why`: `u32 pid` in; `u32 reasons; u32 nr_threads;
/// u32 reserved` out — 16 bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Why {
    /// The process asked about.
    pub pid: u32,
    /// [`cantmove`] bits; 0 means it may migrate.
    pub reasons: u32,
    /// Its thread count.
    pub nr_threads: u32,
}

impl Why {
    /// Encoded size in bytes.
    pub const SIZE: usize = 16;

    /// Encodes into the wire layout.
    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        b[0..4].copy_from_slice(&self.pid.to_le_bytes());
        b[4..8].copy_from_slice(&self.reasons.to_le_bytes());
        b[8..12].copy_from_slice(&self.nr_threads.to_le_bytes());
        b
    }

    /// Decodes the wire layout.
    pub fn from_bytes(b: &[u8; Self::SIZE]) -> Self {
        let w = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        Why { pid: w(0), reasons: w(4), nr_threads: w(8) }
    }
}

/// `struct roam_pid`: `u32 pid; u32 reserved` — 8 bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PidArg {
    /// A process id in the caller's pid namespace.
    pub pid: u32,
}

impl PidArg {
    /// Encoded size in bytes.
    pub const SIZE: usize = 8;

    /// Encodes into the wire layout.
    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        b[0..4].copy_from_slice(&self.pid.to_le_bytes());
        b
    }

    /// Decodes the wire layout.
    pub fn from_bytes(b: &[u8; Self::SIZE]) -> Self {
        PidArg { pid: u32::from_le_bytes([b[0], b[1], b[2], b[3]]) }
    }
}

/// What a node is doing, as shown in `/sys/kernel/roam/state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum NodeState {
    /// Loaded, but no node id yet: the node takes part in nothing.
    Unconfigured = 0,
    /// Has a node id and is ready to take part in the cluster.
    Up = 1,
}

impl NodeState {
    /// The word shown in sysfs and by `roamctl status`.
    pub const fn name(self) -> &'static str {
        match self {
            NodeState::Unconfigured => "unconfigured",
            NodeState::Up => "up",
        }
    }

    /// Decodes the value carried in [`Status::state`].
    pub const fn from_u32(v: u32) -> Option<Self> {
        match v {
            0 => Some(NodeState::Unconfigured),
            1 => Some(NodeState::Up),
            _ => None,
        }
    }
}

/// Length of the NUL-padded version string in [`Status`].
pub const VERSION_LEN: usize = 32;

/// The answer to `ROAM_IOC_STATUS` (`struct roam_status`).
///
/// Layout (little-endian): `u32 abi_version; u32 node_id; u32 state;
/// u32 reserved; char version[32];` — 48 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status {
    /// Always [`ROAM_ABI_VERSION`] of the module that answered.
    pub abi_version: u32,
    /// This node's id, 0 when unconfigured.
    pub node_id: u32,
    /// A [`NodeState`] as `u32`.
    pub state: u32,
    /// roam's version, NUL-padded.
    pub version: [u8; VERSION_LEN],
}

/// Why decoding a [`Status`] failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Fewer bytes than the structure needs.
    Short,
    /// The module speaks another ABI version (carried here).
    AbiMismatch(u32),
}

impl Status {
    /// Encoded size in bytes.
    pub const SIZE: usize = 16 + VERSION_LEN;

    /// A status for this build of roam.
    pub fn new(node_id: u32, state: NodeState) -> Self {
        let mut version = [0u8; VERSION_LEN];
        let v = ROAM_VERSION.as_bytes();
        let n = if v.len() < VERSION_LEN { v.len() } else { VERSION_LEN - 1 };
        version[..n].copy_from_slice(&v[..n]);
        Status { abi_version: ROAM_ABI_VERSION, node_id, state: state as u32, version }
    }

    /// Encodes into the wire layout.
    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        b[0..4].copy_from_slice(&self.abi_version.to_le_bytes());
        b[4..8].copy_from_slice(&self.node_id.to_le_bytes());
        b[8..12].copy_from_slice(&self.state.to_le_bytes());
        b[16..].copy_from_slice(&self.version);
        b
    }

    /// Decodes the wire layout, refusing another ABI version.
    pub fn from_bytes(b: &[u8]) -> Result<Self, DecodeError> {
        if b.len() < Self::SIZE {
            return Err(DecodeError::Short);
        }
        let word = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let abi_version = word(0);
        if abi_version != ROAM_ABI_VERSION {
            return Err(DecodeError::AbiMismatch(abi_version));
        }
        let mut version = [0u8; VERSION_LEN];
        version.copy_from_slice(&b[16..Self::SIZE]);
        Ok(Status { abi_version, node_id: word(4), state: word(8), version })
    }

    /// The version string without its NUL padding (empty if not UTF-8).
    pub fn version_str(&self) -> &str {
        let end = self.version.iter().position(|&c| c == 0).unwrap_or(VERSION_LEN);
        core::str::from_utf8(&self.version[..end]).unwrap_or("")
    }
}

/// Why a value written to a sysfs attribute was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// Nothing but whitespace.
    Empty,
    /// Not a plain decimal number.
    NotANumber,
    /// A number outside the allowed range.
    OutOfRange,
}

impl ParseError {
    /// A short explanation for dmesg and tools.
    pub const fn reason(self) -> &'static str {
        match self {
            ParseError::Empty => "empty value",
            ParseError::NotANumber => "not a decimal number",
            ParseError::OutOfRange => "out of range",
        }
    }
}

/// Parses an unsigned decimal as written to sysfs: digits only, with at
/// most one trailing newline (what `echo` adds). No sign, no spaces, no
/// hex, no leading zeros beyond a single `0`.
pub fn parse_u32(input: &[u8]) -> Result<u32, ParseError> {
    let s = match input {
        [rest @ .., b'\n'] => rest,
        _ => input,
    };
    if s.is_empty() {
        return Err(ParseError::Empty);
    }
    if s.len() > 1 && s[0] == b'0' {
        return Err(ParseError::NotANumber);
    }
    let mut v: u32 = 0;
    for &c in s {
        if !c.is_ascii_digit() {
            return Err(ParseError::NotANumber);
        }
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add((c - b'0') as u32))
            .ok_or(ParseError::OutOfRange)?;
    }
    Ok(v)
}

/// Parses a value written to `/sys/kernel/roam/node_id`: a node id in
/// [`NODE_ID_MIN`]..=[`NODE_ID_MAX`].
pub fn parse_node_id(input: &[u8]) -> Result<u32, ParseError> {
    let v = parse_u32(input)?;
    if !(NODE_ID_MIN..=NODE_ID_MAX).contains(&v) {
        return Err(ParseError::OutOfRange);
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ioctl_numbers_match_the_kernel_macros() {
        // _IOR('r', 0x80, 48) computed by hand: dir=2<<30, size=48<<16,
        // type='r'(0x72)<<8, nr=0x80.
        assert_eq!(ROAM_IOC_STATUS, (2u32 << 30) | (48 << 16) | (0x72 << 8) | 0x80);
        assert_eq!(ioc_size(ROAM_IOC_STATUS), Status::SIZE);
        assert_eq!(ioc_type(ROAM_IOC_STATUS), b'r');
    }

    #[test]
    fn ping_round_trips_and_numbers() {
        let p = Ping { node: 2, count: 100, size: 64, flags: PING_BULK, elapsed_ns: 1 << 40, done: 99 };
        assert_eq!(Ping::from_bytes(&p.to_bytes()), p);
        assert_eq!(ROAM_IOC_PING, (3u32 << 30) | (32 << 16) | (0x72 << 8) | 0x81);
    }

    #[test]
    fn why_and_pid_round_trip() {
        let w = Why { pid: 42, reasons: cantmove::LOCKED | cantmove::MULTITHREADED, nr_threads: 3 };
        assert_eq!(Why::from_bytes(&w.to_bytes()), w);
        assert_eq!(PidArg::from_bytes(&PidArg { pid: 7 }.to_bytes()).pid, 7);
        assert_eq!(ioc_size(ROAM_IOC_WHY), 16);
        assert_eq!(ioc_size(ROAM_IOC_LOCK), 8);
        assert_ne!(ROAM_IOC_LOCK, ROAM_IOC_UNLOCK);
        let mut bits = 0;
        for (b, name, why) in cantmove::ALL {
            assert_eq!(bits & b, 0, "{name} reuses a bit");
            assert!(!why.is_empty());
            bits |= b;
        }
    }

    #[test]
    fn allow_round_trips() {
        let a = Allow { pid: 77, set: 1, nodes: (1 << 63) | 0b101 };
        assert_eq!(Allow::from_bytes(&a.to_bytes()), a);
        assert_eq!(ROAM_IOC_ALLOW, (3u32 << 30) | (16 << 16) | (0x72 << 8) | 0x88);
        assert_eq!(nodes_mask(&[1, 3, 64]), Ok((1 << 63) | 0b101));
        assert_eq!(nodes_mask(&[]), Ok(0));
        assert_eq!(nodes_mask(&[2, 65]), Err(65));
        assert_eq!(nodes_mask(&[0]), Err(0));
    }

    #[test]
    fn version_matches_the_crate() {
        assert_eq!(ROAM_VERSION, env!("CARGO_PKG_VERSION"));
    }

    #[test]
    fn status_round_trips() {
        let s = Status::new(7, NodeState::Up);
        let b = s.to_bytes();
        assert_eq!(b.len(), 48);
        let d = Status::from_bytes(&b).unwrap();
        assert_eq!(d, s);
        assert_eq!(d.version_str(), ROAM_VERSION);
        assert_eq!(NodeState::from_u32(d.state), Some(NodeState::Up));
    }

    #[test]
    fn status_refuses_short_and_foreign_abi() {
        let mut b = Status::new(1, NodeState::Up).to_bytes();
        assert_eq!(Status::from_bytes(&b[..47]), Err(DecodeError::Short));
        b[0] = 99;
        assert_eq!(Status::from_bytes(&b), Err(DecodeError::AbiMismatch(99)));
    }

    #[test]
    fn node_id_parsing() {
        assert_eq!(parse_node_id(b"1\n"), Ok(1));
        assert_eq!(parse_node_id(b"65534"), Ok(65534));
        assert_eq!(parse_node_id(b"0\n"), Err(ParseError::OutOfRange));
        assert_eq!(parse_node_id(b"65535"), Err(ParseError::OutOfRange));
        assert_eq!(parse_node_id(b"99999999999"), Err(ParseError::OutOfRange));
        assert_eq!(parse_node_id(b""), Err(ParseError::Empty));
        assert_eq!(parse_node_id(b"\n"), Err(ParseError::Empty));
        assert_eq!(parse_node_id(b"abc"), Err(ParseError::NotANumber));
        assert_eq!(parse_node_id(b"-1"), Err(ParseError::NotANumber));
        assert_eq!(parse_node_id(b"+1"), Err(ParseError::NotANumber));
        assert_eq!(parse_node_id(b" 1"), Err(ParseError::NotANumber));
        assert_eq!(parse_node_id(b"1\n\n"), Err(ParseError::NotANumber));
        assert_eq!(parse_node_id(b"0x10"), Err(ParseError::NotANumber));
        assert_eq!(parse_node_id(b"007"), Err(ParseError::NotANumber));
    }

    #[test]
    fn state_names() {
        assert_eq!(NodeState::from_u32(0).unwrap().name(), "unconfigured");
        assert_eq!(NodeState::from_u32(2), None);
    }
}
