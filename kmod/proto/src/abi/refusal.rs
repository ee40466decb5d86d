//! Why a migration failed, as [`Migrate::reason`](super::Migrate::reason)
//! (0: it did not fail): the codes, their names and explanations.
//!
//! Owns the numbers only; calls nothing. Codes 1 to 7 mirror the image's
//! `RefuseReason` wire codes, the others are failures found on this node.

/// The destination does not accept guest processes.
pub const NOT_ACCEPTING: u32 = 1;
/// The destination runs as many guests as it allows.
pub const TOO_MANY_GUESTS: u32 = 2;
/// The destination is short of memory.
pub const NO_MEMORY: u32 = 3;
/// The destination found the image malformed.
pub const BAD_IMAGE: u32 = 4;
/// The destination was busy.
pub const BUSY: u32 = 5;
/// The destination speaks another image version.
pub const VERSION: u32 = 6;
/// A balancing move, but the destination is no longer lighter.
pub const NOT_LIGHTER: u32 = 7;
/// The node is not a configured peer, or is down.
pub const UNKNOWN_NODE: u32 = 100;
/// The link broke or the destination stopped answering mid-transfer.
pub const LINK: u32 = 101;
/// The process cannot migrate (see `ROAM_IOC_WHY`).
pub const CANT_MOVE: u32 = 102;
/// It is already on that node.
pub const ALREADY_THERE: u32 = 103;
/// Another migration of it is under way.
pub const IN_PROGRESS: u32 = 104;
/// The process exited or was killed before it could move.
pub const GONE: u32 = 105;
/// This node has no cluster transport running (no key or listen address).
pub const NO_TRANSPORT: u32 = 106;
/// Capturing its state failed on this node.
pub const CAPTURE: u32 = 107;
/// More signals are pending for it than an image carries
/// ([`MAX_PENDING`](crate::image::MAX_PENDING)); they stay pending here.
pub const SIGNALS: u32 = 108;
/// Its timers cannot travel: more than an image carries
/// ([`MAX_TIMERS`](crate::image::MAX_TIMERS)) or with ids too sparse, or
/// one on another process's CPU clock or on an alarm clock.
pub const TIMERS: u32 = 109;

/// A one-line explanation of `reason`.
pub const fn explain(reason: u32) -> &'static str {
    match reason {
        0 => "no error",
        NOT_ACCEPTING => "the destination does not accept guest processes",
        TOO_MANY_GUESTS => "the destination runs as many guests as it allows",
        NO_MEMORY => "the destination has not enough free memory",
        BAD_IMAGE => "the destination found the migration image malformed",
        BUSY => "the destination is busy, try again",
        VERSION => "the destination runs another roam image version",
        NOT_LIGHTER => "the destination is no longer lighter than this node",
        UNKNOWN_NODE => "no such node, or it is down",
        LINK => "the link to the destination broke or it stopped answering",
        CANT_MOVE => "the process cannot migrate (see roamctl why)",
        ALREADY_THERE => "the process already runs there",
        IN_PROGRESS => "the process is already migrating",
        GONE => "the process exited before it could move",
        NO_TRANSPORT => "this node's cluster transport is not running",
        CAPTURE => "capturing the process state failed",
        SIGNALS => "more signals are pending for the process than a migration carries (96): let it handle them first",
        TIMERS => "the process has timers a migration cannot carry (over 32, ids too sparse, another process's CPU clock, or an alarm clock)",
        _ => "unknown reason",
    }
}

/// A short name of `reason` for logs and event records.
pub const fn name(reason: u32) -> &'static str {
    match reason {
        0 => "ok",
        NOT_ACCEPTING => "not-accepting",
        TOO_MANY_GUESTS => "too-many-guests",
        NO_MEMORY => "no-memory",
        BAD_IMAGE => "bad-image",
        BUSY => "busy",
        VERSION => "version",
        NOT_LIGHTER => "not-lighter",
        UNKNOWN_NODE => "unknown-node",
        LINK => "link",
        CANT_MOVE => "cant-move",
        ALREADY_THERE => "already-there",
        IN_PROGRESS => "in-progress",
        GONE => "gone",
        NO_TRANSPORT => "no-transport",
        CAPTURE => "capture",
        SIGNALS => "signals",
        TIMERS => "timers",
        _ => "failed",
    }
}
