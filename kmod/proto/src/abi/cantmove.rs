//! Reasons a process cannot migrate, as bits of
//! [`Why::reasons`](super::Why::reasons), with their names and
//! explanations.
//!
//! Owns the numbers only; calls nothing.

/// A kernel thread.
pub const KERNEL_THREAD: u32 = 1 << 0;
/// The init process of its pid namespace.
pub const INIT: u32 = 1 << 1;
/// More than one thread.
pub const MULTITHREADED: u32 = 1 << 2;
/// Maps memory shared with other processes, writable.
pub const SHARED_MEMORY: u32 = 1 << 3;
/// Maps device memory (`VM_IO`/`VM_PFNMAP`/`VM_MIXEDMAP`).
pub const DEVICE_MAPPING: u32 = 1 << 4;
/// Locked to this node (`roamctl lock`).
pub const LOCKED: u32 = 1 << 5;
/// Exiting.
pub const EXITING: u32 = 1 << 6;
/// Has no user address space.
pub const NO_MM: u32 = 1 << 7;
/// Runs under a seccomp filter (or strict mode), which cannot be carried:
/// elsewhere its system calls would run unfiltered.
pub const SECCOMP: u32 = 1 << 8;
/// Lives in a user or pid namespace other than the initial ones (a
/// container, `unshare -Urp`): its ids and capabilities mean something
/// only there, and another node has no such namespace.
pub const NAMESPACE: u32 = 1 << 9;
/// Has more supplementary groups than an image carries
/// ([`MAX_GROUPS`](crate::image::MAX_GROUPS)).
pub const GROUPS: u32 = 1 << 10;
/// Traced (a debugger, strace): its tracer stays on this node.
pub const TRACED: u32 = 1 << 11;
/// Its memory may never become executable (`prctl(PR_SET_MDWE)`), which
/// the restorer needs for a moment.
pub const MDWE: u32 = 1 << 12;
/// One of roam's own adopt stubs, parked for an arrival.
pub const ADOPT_STUB: u32 = 1 << 13;

/// Every reason: bit, short name, explanation.
pub const ALL: [(u32, &str, &str); 14] = [
    (KERNEL_THREAD, "kernel-thread", "it is a kernel thread"),
    (INIT, "init", "it is init (pid 1 of its namespace)"),
    (MULTITHREADED, "multithreaded", "it has more than one thread"),
    (SHARED_MEMORY, "shared-memory", "it maps writable memory shared with other processes"),
    (DEVICE_MAPPING, "device-mapping", "it maps device memory"),
    (LOCKED, "locked", "it is locked to this node (roamctl unlock PID)"),
    (EXITING, "exiting", "it is exiting"),
    (NO_MM, "no-mm", "it has no user address space"),
    (SECCOMP, "seccomp", "it runs under seccomp, whose filter cannot go with it (its calls would run unfiltered elsewhere)"),
    (NAMESPACE, "namespace", "it lives in a user or pid namespace of its own, which other nodes do not have"),
    (GROUPS, "groups", "it has more supplementary groups than a migration carries"),
    (TRACED, "traced", "it is traced (a debugger or strace is attached), and its tracer stays here"),
    (MDWE, "mdwe", "it forbids executable memory (PR_SET_MDWE), which its restore needs"),
    (ADOPT_STUB, "adopt-stub", "it is one of roam's adopt stubs, parked for an arriving process"),
];
