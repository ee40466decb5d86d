// SPDX-License-Identifier: GPL-2.0

//! Privilege checks of the current task, and its credentials and limits
//! for a migration (`creds.c`): [`read`] takes them as the kernel has
//! them, [`apply`] gives them to the task that takes the process over;
//! with them travel the task's attributes ([`apply_attrs`]).

use crate::image::{Attrs, Creds, Rlimit, CREDS_NO_NEW_PRIVS, MAX_GROUPS, NLIMITS};
use kernel::{bindings, prelude::*};

/// `struct roam_creds` (creds.h).
#[repr(C)]
#[derive(Default)]
struct RawCreds {
    ids: [u32; 8],
    securebits: u32,
    no_new_privs: u32,
    caps: [u64; 5],
    rlim_cur: [u64; NLIMITS],
    rlim_max: [u64; NLIMITS],
    ngroups: u32,
    init_userns: u32,
}

extern "C" {
    fn roam_creds_read(c: *mut RawCreds, groups: *mut u32, max: u32);
    fn roam_creds_apply(c: *const RawCreds, groups: *const u32, n: u32) -> i32;
    // `struct roam_attrs *`: the image's `Attrs`, which has its layout.
    fn roam_attrs_read(a: *mut Attrs);
    fn roam_attrs_apply(a: *const Attrs) -> i32;
}

/// Why the credentials cannot travel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unmovable {
    /// More than [`MAX_GROUPS`] supplementary groups.
    Groups,
    /// Credentials of another user namespace.
    Namespace,
}

/// The current task's credentials and limits; its supplementary groups
/// replace what `groups` held.
pub(crate) fn read(groups: &mut KVec<u32>) -> core::result::Result<Creds, Unmovable> {
    let mut raw = RawCreds::default();
    // SAFETY: `raw` is valid for writes; with `max` 0 no group is written.
    unsafe { roam_creds_read(&mut raw, core::ptr::null_mut(), 0) };
    let n = raw.ngroups as usize;
    if n > MAX_GROUPS {
        return Err(Unmovable::Groups);
    }
    *groups = KVec::from_elem(0u32, n, GFP_KERNEL).map_err(|_| Unmovable::Groups)?;
    // SAFETY: `groups` holds `n` u32s, the most the C side writes; only
    // the current task changes its own credentials, and it is here.
    unsafe { roam_creds_read(&mut raw, groups.as_mut_ptr(), n as u32) };
    if raw.ngroups as usize != n {
        return Err(Unmovable::Groups);
    }
    if raw.init_userns == 0 {
        return Err(Unmovable::Namespace);
    }
    let [uid, euid, suid, fsuid, gid, egid, sgid, fsgid] = raw.ids;
    let [cap_inheritable, cap_permitted, cap_effective, cap_bset, cap_ambient] = raw.caps;
    let mut c = Creds {
        uid,
        euid,
        suid,
        fsuid,
        gid,
        egid,
        sgid,
        fsgid,
        securebits: raw.securebits,
        flags: if raw.no_new_privs != 0 { CREDS_NO_NEW_PRIVS } else { 0 },
        cap_inheritable,
        cap_permitted,
        cap_effective,
        cap_bset,
        cap_ambient,
        ..Creds::default()
    };
    for (i, l) in c.rlimits.iter_mut().enumerate() {
        *l = Rlimit { cur: raw.rlim_cur[i], max: raw.rlim_max[i] };
    }
    // SAFETY: `c.attrs` is valid for writes and has the layout of
    // `struct roam_attrs` (repr(C)); the C side reads the current task.
    unsafe { roam_attrs_read(&mut c.attrs) };
    Ok(c)
}

/// Gives the current task (a stub taking a process over, or its deputy
/// taking it back) the attributes `a`; an error if its scheduling policy
/// could not be set (the rest is set all the same).
pub(crate) fn apply_attrs(a: &Attrs) -> Result {
    // SAFETY: `a` has the layout of `struct roam_attrs` (repr(C)); the C
    // side acts on the current task only.
    let r = unsafe { roam_attrs_apply(a) };
    if r < 0 {
        return Err(Error::from_errno(r));
    }
    Ok(())
}

/// Gives the current task (a fresh adopt stub, running as root) exactly
/// the credentials `c`, the groups `groups` and the limits of `c`.
pub(crate) fn apply(c: &Creds, groups: &[u32]) -> Result {
    if groups.len() > MAX_GROUPS {
        return Err(EINVAL);
    }
    let mut raw = RawCreds {
        ids: [c.uid, c.euid, c.suid, c.fsuid, c.gid, c.egid, c.sgid, c.fsgid],
        securebits: c.securebits,
        no_new_privs: u32::from(c.flags & CREDS_NO_NEW_PRIVS != 0),
        caps: [c.cap_inheritable, c.cap_permitted, c.cap_effective, c.cap_bset, c.cap_ambient],
        ngroups: groups.len() as u32,
        init_userns: 1,
        ..RawCreds::default()
    };
    for (i, l) in c.rlimits.iter().enumerate() {
        raw.rlim_cur[i] = l.cur;
        raw.rlim_max[i] = l.max;
    }
    // SAFETY: `raw` is a valid roam_creds; `groups` holds `groups.len()`
    // u32s; the C side acts on the current task only.
    let r = unsafe { roam_creds_apply(&raw, groups.as_ptr(), groups.len() as u32) };
    if r < 0 {
        return Err(Error::from_errno(r));
    }
    Ok(())
}

/// Whether the current task may configure the cluster (`CAP_SYS_ADMIN` in
/// the initial user namespace, like other system-wide settings).
pub(crate) fn may_configure() -> bool {
    // SAFETY: `capable` only inspects the current task's credentials and may
    // be called from any process context; the constant is a valid capability.
    unsafe { bindings::capable(bindings::CAP_SYS_ADMIN as i32) }
}

/// The current task's real and effective user and group ids.
pub(crate) fn current_ids() -> (u32, u32, u32, u32) {
    // SAFETY: the current task's own credentials stay valid while it runs.
    unsafe {
        let cred = (*bindings::get_current()).cred;
        ((*cred).uid.val, (*cred).gid.val, (*cred).euid.val, (*cred).egid.val)
    }
}

/// Whether the current task's parent is a kernel thread (true for programs
/// the kernel started with `call_usermodehelper`).
pub(crate) fn parent_is_kthread() -> bool {
    extern "C" {
        fn roam_parent_is_kthread() -> i32;
    }
    // SAFETY: the helper reads the current task's parent under RCU.
    unsafe { roam_parent_is_kthread() != 0 }
}
