//! The `Creds` message: who the process is and what it may do
//! ([`Creds`], [`encode_creds`], [`decode_creds`]): its eight user and
//! group ids, its supplementary groups, its five capability sets, its
//! securebits, its no-new-privileges flag and its resource limits; and
//! how it is run ([`Attrs`]): personality, nice value, scheduling policy,
//! timer slack, parent-death signal, child-subreaper flag, transparent
//! huge pages disabled, machine-check kill policy; and where it is
//! placed ([`Context`], carried in the image header, so that a
//! destination can refuse or prepare for it from the first message): its
//! cgroup (v2) and its security label.
//!
//! A guest runs with exactly these, so that on a remote it can do no
//! more (and no less) than at home: a root process that dropped
//! capabilities does not get them back, a user keeps the groups that
//! give it access to files, and `RLIMIT_*` hold where it runs. Its home
//! keeps its own (the deputy is the same task, which never changed), so
//! a returning image's credentials are ignored.
//!
//! Calls [`super::codec`] and [`super::error`] only.

use super::codec::{check_total, read_prefix, until_nul, MsgKind, Reader, Writer, PREFIX_LEN};
use super::error::ImageError;

/// Most supplementary groups an image carries (a process with more is
/// not moved; Linux allows 65536, a login session has a few dozen and a
/// large directory service a few hundred).
pub const MAX_GROUPS: usize = 16384;

/// Resource limits (`RLIM_NLIMITS` on Linux).
pub const NLIMITS: usize = 16;

/// Capabilities Linux 6.12 knows (`CAP_LAST_CAP` is 40): a set with a
/// higher bit is refused.
pub const CAP_VALID: u64 = (1 << 41) - 1;

/// Securebits Linux knows (`SECURE_ALL_BITS | SECURE_ALL_LOCKS`).
pub const SECUREBITS_VALID: u32 = 0xff;

/// [`Creds::flags`]: `no_new_privs` is set.
pub const CREDS_NO_NEW_PRIVS: u32 = 1;

/// One resource limit: soft and hard (`u64::MAX` is `RLIM_INFINITY`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rlimit {
    pub cur: u64,
    pub max: u64,
}

/// [`Attrs::flags`]: the process is a child subreaper.
pub const ATTR_CHILD_SUBREAPER: u32 = 1;
/// [`Attrs::flags`]: transparent huge pages are disabled for it.
pub const ATTR_THP_DISABLE: u32 = 2;
/// `Attrs::flags`: not dumpable by its owner (`PR_SET_DUMPABLE` 0, or
/// after a change of credentials): its owner may not ptrace it.
pub const ATTR_NOT_DUMPABLE: u32 = 4;
/// `SCHED_RESET_ON_FORK`, or-ed into [`Attrs::policy`].
pub const SCHED_RESET_ON_FORK: u32 = 0x4000_0000;

/// How the process is run: what `personality`, `setpriority`,
/// `sched_setscheduler` and `prctl` set on the task, carried so that it
/// runs and answers the same wherever it is. All zero is a fresh task's
/// (a timer slack of 0 stands for the default). Laid out as the
/// module's C side reads and writes it (`struct roam_attrs`,
/// `kmod/sys/creds.h`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Attrs {
    /// `personality(2)`'s value.
    pub personality: u32,
    /// The nice value, -20..=19.
    pub nice: i32,
    /// `SCHED_NORMAL` (0), `FIFO` (1), `RR` (2), `BATCH` (3) or `IDLE`
    /// (5), with [`SCHED_RESET_ON_FORK`].
    pub policy: u32,
    /// Real-time priority: 1..=99 for FIFO and RR, else 0.
    pub rt_priority: u32,
    /// Timer slack in ns (`PR_SET_TIMERSLACK`); 0: the default.
    pub timer_slack_ns: u64,
    /// Signal sent when the parent dies (`PR_SET_PDEATHSIG`), 0..=64.
    pub pdeath_signal: u32,
    /// [`ATTR_CHILD_SUBREAPER`], [`ATTR_THP_DISABLE`], [`ATTR_NOT_DUMPABLE`].
    pub flags: u32,
    /// Machine-check kill policy: 0 the system's, 1 early, 2 late.
    pub mce_kill: u32,
}

impl Attrs {
    /// Bytes in a message.
    pub const LEN: usize = 4 * 7 + 8;

    /// Whether the values are ones the kernel could have set.
    pub fn valid(&self) -> bool {
        let policy = self.policy & !SCHED_RESET_ON_FORK;
        let rt_ok = match policy {
            1 | 2 => (1..=99).contains(&self.rt_priority),
            0 | 3 | 5 => self.rt_priority == 0,
            _ => false,
        };
        (-20..=19).contains(&self.nice)
            && rt_ok
            && self.pdeath_signal <= 64
            && self.flags & !(ATTR_CHILD_SUBREAPER | ATTR_THP_DISABLE | ATTR_NOT_DUMPABLE) == 0
            && self.mce_kill <= 2
    }
}

/// Most bytes of a cgroup path or a security label an image carries
/// (with the NUL that ends it).
pub const CONTEXT_LEN: usize = 256;

/// Where the process is placed beyond its credentials, each NUL-padded
/// (empty: none, as on a kernel without cgroups or without a security
/// module): its cgroup v2 path from the hierarchy's root (`/` for the
/// root, `/jobs/42` for a job's), which a guest joins on its remote (a
/// node without that cgroup refuses it), and its security label as
/// `/proc/PID/attr/current` shows it (Smack's label, SELinux's context),
/// which a guest takes on there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Context {
    pub cgroup: [u8; CONTEXT_LEN],
    pub label: [u8; CONTEXT_LEN],
}

impl Default for Context {
    fn default() -> Self {
        Context { cgroup: [0; CONTEXT_LEN], label: [0; CONTEXT_LEN] }
    }
}

impl Context {
    /// The cgroup path (without its padding).
    pub fn cgroup(&self) -> &[u8] {
        until_nul(&self.cgroup)
    }

    /// The label (without its padding).
    pub fn label(&self) -> &[u8] {
        until_nul(&self.label)
    }

    /// Whether both are ones a node may act on: NUL-padded with room for
    /// the NUL; a path that is empty, `/`, or `/`-separated names none of
    /// which is empty, `.` or `..` (it is joined to the cgroup mount on
    /// the remote, and must not leave it) and without a newline; a label
    /// of printable ASCII without spaces.
    pub fn valid(&self) -> bool {
        let padded = |b: &[u8; CONTEXT_LEN]| {
            let n = until_nul(b).len();
            n < CONTEXT_LEN && b[n..].iter().all(|&c| c == 0)
        };
        let path = self.cgroup();
        let path_ok = path.is_empty()
            || path == b"/"
            || path.split_first().is_some_and(|(&first, rest)| {
                first == b'/' && rest.split(|&c| c == b'/').all(|n| !n.is_empty() && n != b"." && n != b".." && !n.contains(&b'\n'))
            });
        padded(&self.cgroup) && padded(&self.label) && path_ok && self.label().iter().all(|c| (0x21..=0x7e).contains(c))
    }

    /// What of this context a task that has `mine` lacks: each part it
    /// has already is left empty. The adopt stub joins what this names;
    /// once it has, the result is empty ([`Context::is_empty`]).
    pub fn missing_from(&self, mine: &Context) -> Context {
        let mut lack = *self;
        if self.cgroup() == mine.cgroup() {
            lack.cgroup = [0; CONTEXT_LEN];
        }
        if self.label() == mine.label() {
            lack.label = [0; CONTEXT_LEN];
        }
        lack
    }

    /// Whether a task with `mine` has exactly this context. Stricter than
    /// an empty [`Context::missing_from`]: a part this context leaves
    /// empty must be empty in `mine` too (a task must not keep a label
    /// the process never had, such as a kernel thread's).
    pub fn is_had_by(&self, mine: &Context) -> bool {
        self.cgroup() == mine.cgroup() && self.label() == mine.label()
    }

    /// Whether both parts are empty.
    pub fn is_empty(&self) -> bool {
        self.cgroup().is_empty() && self.label().is_empty()
    }
}

/// Everything a `Creds` message carries but the supplementary groups,
/// which travel beside it (a slice of at most [`MAX_GROUPS`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Creds {
    /// Real, effective, saved and filesystem user ids.
    pub uid: u32,
    pub euid: u32,
    pub suid: u32,
    pub fsuid: u32,
    /// Real, effective, saved and filesystem group ids.
    pub gid: u32,
    pub egid: u32,
    pub sgid: u32,
    pub fsgid: u32,
    /// `SECBIT_*`.
    pub securebits: u32,
    /// [`CREDS_NO_NEW_PRIVS`] or 0.
    pub flags: u32,
    /// Capability sets, bit `n` for capability `n`.
    pub cap_inheritable: u64,
    pub cap_permitted: u64,
    pub cap_effective: u64,
    pub cap_bset: u64,
    pub cap_ambient: u64,
    /// `RLIMIT_CPU` .. `RLIMIT_RTTIME`, in the kernel's order.
    pub rlimits: [Rlimit; NLIMITS],
    /// How the process is run.
    pub attrs: Attrs,
}

impl Creds {
    /// Whether the process runs as root in any of its user ids, or holds
    /// any capability.
    pub fn privileged(&self) -> bool {
        [self.uid, self.euid, self.suid, self.fsuid].contains(&0) || self.cap_permitted | self.cap_effective | self.cap_ambient != 0
    }

    /// Checks what the kernel itself would refuse to build: `BadCreds` for
    /// an id of -1 (in the groups too), an unknown capability or
    /// securebit, an effective set beyond the permitted one, an ambient
    /// set beyond permitted and inheritable, a soft limit above its hard
    /// one, an unknown flag, or attributes the kernel could not have set;
    /// `TooLarge` past [`MAX_GROUPS`] groups.
    pub fn check(&self, groups: &[u32]) -> Result<(), ImageError> {
        if groups.len() > MAX_GROUPS {
            return Err(ImageError::TooLarge);
        }
        let ids = [self.uid, self.euid, self.suid, self.fsuid, self.gid, self.egid, self.sgid, self.fsgid];
        let caps = [self.cap_inheritable, self.cap_permitted, self.cap_effective, self.cap_bset, self.cap_ambient];
        if ids.contains(&u32::MAX)
            || groups.contains(&u32::MAX)
            || caps.iter().any(|c| c & !CAP_VALID != 0)
            || self.cap_effective & !self.cap_permitted != 0
            || self.cap_ambient & !(self.cap_permitted & self.cap_inheritable) != 0
            || self.securebits & !SECUREBITS_VALID != 0
            || self.flags & !CREDS_NO_NEW_PRIVS != 0
            || self.rlimits.iter().any(|l| l.cur > l.max)
            || !self.attrs.valid()
        {
            return Err(ImageError::BadCreds);
        }
        Ok(())
    }
}

/// Length of the fixed part: prefix, 8 ids, securebits, flags, 5
/// capability sets, the limits, the attributes, the group count.
pub const CREDS_HEAD_LEN: usize = PREFIX_LEN + 8 * 4 + 4 + 4 + 5 * 8 + NLIMITS * 16 + Attrs::LEN + 4;

/// Length of a `Creds` message with `count` groups (saturating).
pub const fn creds_len(count: usize) -> usize {
    CREDS_HEAD_LEN.saturating_add(count.saturating_mul(4))
}

/// Writes a `Creds` message and returns its length; errors as
/// [`Creds::check`], `Truncated` if `out` is too small.
pub fn encode_creds(c: &Creds, groups: &[u32], out: &mut [u8]) -> Result<usize, ImageError> {
    c.check(groups)?;
    let total = creds_len(groups.len());
    let mut w = Writer::new(out.get_mut(..total).ok_or(ImageError::Truncated)?);
    w.prefix(MsgKind::Creds)?;
    for v in [c.uid, c.euid, c.suid, c.fsuid, c.gid, c.egid, c.sgid, c.fsgid, c.securebits, c.flags] {
        w.u32(v)?;
    }
    for v in [c.cap_inheritable, c.cap_permitted, c.cap_effective, c.cap_bset, c.cap_ambient] {
        w.u64(v)?;
    }
    for l in &c.rlimits {
        w.u64(l.cur)?;
        w.u64(l.max)?;
    }
    let a = &c.attrs;
    for v in [a.personality, a.nice as u32, a.policy, a.rt_priority] {
        w.u32(v)?;
    }
    w.u64(a.timer_slack_ns)?;
    for v in [a.pdeath_signal, a.flags, a.mce_kill] {
        w.u32(v)?;
    }
    w.u32(groups.len() as u32)?;
    for g in groups {
        w.u32(*g)?;
    }
    Ok(total)
}

/// A decoded `Creds` message (checked): the credentials and the groups.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CredsView<'a> {
    /// Everything but the groups.
    pub creds: Creds,
    groups: &'a [u8],
}

impl CredsView<'_> {
    /// How many supplementary groups.
    pub fn len(&self) -> usize {
        self.groups.len() / 4
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// The supplementary groups, in the order sent.
    pub fn groups(&self) -> impl Iterator<Item = u32> + '_ {
        self.groups.chunks_exact(4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
}

/// Decodes and checks a `Creds` message: the prefix, the group count
/// (`TooLarge` past [`MAX_GROUPS`]), the length, then the content as
/// [`Creds::check`].
pub fn decode_creds(buf: &[u8]) -> Result<CredsView<'_>, ImageError> {
    let mut r = Reader::new(buf);
    read_prefix(&mut r, MsgKind::Creds)?;
    let mut c = Creds {
        uid: r.u32()?,
        euid: r.u32()?,
        suid: r.u32()?,
        fsuid: r.u32()?,
        gid: r.u32()?,
        egid: r.u32()?,
        sgid: r.u32()?,
        fsgid: r.u32()?,
        securebits: r.u32()?,
        flags: r.u32()?,
        cap_inheritable: r.u64()?,
        cap_permitted: r.u64()?,
        cap_effective: r.u64()?,
        cap_bset: r.u64()?,
        cap_ambient: r.u64()?,
        ..Creds::default()
    };
    for l in c.rlimits.iter_mut() {
        *l = Rlimit { cur: r.u64()?, max: r.u64()? };
    }
    c.attrs = Attrs {
        personality: r.u32()?,
        nice: r.u32()? as i32,
        policy: r.u32()?,
        rt_priority: r.u32()?,
        timer_slack_ns: r.u64()?,
        pdeath_signal: r.u32()?,
        flags: r.u32()?,
        mce_kill: r.u32()?,
    };
    let count = usize::try_from(r.u32()?).map_err(|_| ImageError::TooLarge)?;
    if count > MAX_GROUPS {
        return Err(ImageError::TooLarge);
    }
    check_total(buf, creds_len(count))?;
    let view = CredsView { creds: c, groups: r.rest() };
    // The same checks as the encoder's, without a copy of the groups.
    c.check(&[])?;
    if view.groups().any(|g| g == u32::MAX) {
        return Err(ImageError::BadCreds);
    }
    Ok(view)
}
