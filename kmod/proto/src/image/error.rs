//! What goes wrong with an image: [`ImageError`], why one message was
//! refused, and [`RefuseReason`], why a destination refuses a whole
//! migration (the body of a `Refuse` message).
//!
//! A leaf: calls nothing else in the image format.

/// Why an image message was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageError {
    /// Fewer bytes than the message needs, or an output buffer too small.
    Truncated,
    /// Another image version, an unknown or unexpected message kind, or a
    /// non-zero prefix byte.
    BadVersion,
    /// A length or count that does not match the bytes present, or a
    /// message out of sequence.
    BadLength,
    /// An invalid memory area, or areas out of order or overlapping.
    BadVma,
    /// An invalid page batch, or one outside every area, or page totals or
    /// checksum not matching the commit.
    BadBatch,
    /// A bound exceeded (xstate, areas, pages, batch size, signals, timers).
    TooLarge,
    /// A pending signal with a number out of range (0, above 64,
    /// `SIGKILL`, `SIGSTOP`), a `siginfo` naming another signal, or an
    /// unknown queue.
    BadSignal,
    /// A timer with an id, clock, notification or signal out of range, or
    /// timers out of id order.
    BadTimer,
    /// Credentials the kernel would not build: an id of -1, an unknown
    /// capability or securebit, an effective or ambient set beyond what
    /// the other sets allow, or a soft limit above its hard one.
    BadCreds,
}

impl ImageError {
    /// The snake_case name used for counters and messages.
    pub const fn name(self) -> &'static str {
        match self {
            ImageError::Truncated => "truncated",
            ImageError::BadVersion => "bad_version",
            ImageError::BadLength => "bad_length",
            ImageError::BadVma => "bad_vma",
            ImageError::BadBatch => "bad_batch",
            ImageError::TooLarge => "too_large",
            ImageError::BadSignal => "bad_signal",
            ImageError::BadTimer => "bad_timer",
            ImageError::BadCreds => "bad_creds",
        }
    }

    /// The reason a destination gives when refusing an image for this
    /// error.
    pub const fn refuse_reason(self) -> RefuseReason {
        match self {
            ImageError::BadVersion => RefuseReason::Version,
            _ => RefuseReason::BadImage,
        }
    }
}

/// Why a destination refuses a migration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefuseReason {
    /// The node does not take guests (configuration or policy).
    NotAccepting,
    /// The node already runs as many guests as it allows.
    TooManyGuests,
    /// Not enough memory for the image.
    NoMemory,
    /// The image is malformed or inconsistent.
    BadImage,
    /// The node is busy (e.g. shutting down or migrating); try later.
    Busy,
    /// The image or protocol version is not one this node speaks.
    Version,
    /// A balancing migration, but this node is no longer lighter than the
    /// sender by the stability margin.
    NotLighter,
    /// The process's cgroup does not exist on the node (a guest runs in
    /// the cgroup of its home's path; the administrator makes it there,
    /// as a batch system does on each node of a job).
    NoCgroup,
}

impl RefuseReason {
    /// Every reason, in wire-code order.
    pub const ALL: [RefuseReason; 8] = [
        RefuseReason::NotAccepting,
        RefuseReason::TooManyGuests,
        RefuseReason::NoMemory,
        RefuseReason::BadImage,
        RefuseReason::Busy,
        RefuseReason::Version,
        RefuseReason::NotLighter,
        RefuseReason::NoCgroup,
    ];

    /// The wire code (1..=8).
    pub const fn code(self) -> u16 {
        match self {
            RefuseReason::NotAccepting => 1,
            RefuseReason::TooManyGuests => 2,
            RefuseReason::NoMemory => 3,
            RefuseReason::BadImage => 4,
            RefuseReason::Busy => 5,
            RefuseReason::Version => 6,
            RefuseReason::NotLighter => 7,
            RefuseReason::NoCgroup => 8,
        }
    }

    /// The reason with wire code `code`, if any.
    pub const fn from_code(code: u16) -> Option<RefuseReason> {
        Some(match code {
            1 => RefuseReason::NotAccepting,
            2 => RefuseReason::TooManyGuests,
            3 => RefuseReason::NoMemory,
            4 => RefuseReason::BadImage,
            5 => RefuseReason::Busy,
            6 => RefuseReason::Version,
            7 => RefuseReason::NotLighter,
            8 => RefuseReason::NoCgroup,
            _ => return None,
        })
    }

    /// The (positive) errno a failed migration request reports.
    pub const fn errno(self) -> i32 {
        match self {
            RefuseReason::NotAccepting => 111, // ECONNREFUSED
            RefuseReason::TooManyGuests => 11, // EAGAIN
            RefuseReason::NoMemory => 12,      // ENOMEM
            RefuseReason::BadImage => 22,      // EINVAL
            RefuseReason::Busy => 16,          // EBUSY
            RefuseReason::Version => 71,       // EPROTO
            RefuseReason::NotLighter => 11,    // EAGAIN
            RefuseReason::NoCgroup => 2,       // ENOENT
        }
    }

    /// A short explanation for logs and tools.
    pub const fn reason(self) -> &'static str {
        match self {
            RefuseReason::NotAccepting => "the node does not accept guest processes",
            RefuseReason::TooManyGuests => "the node runs as many guest processes as it allows",
            RefuseReason::NoMemory => "the node has not enough free memory for the image",
            RefuseReason::BadImage => "the migration image is malformed",
            RefuseReason::Busy => "the node is busy, try again later",
            RefuseReason::Version => "the node speaks another image version",
            RefuseReason::NotLighter => "the node is no longer lighter than the sender",
            RefuseReason::NoCgroup => "the process's cgroup does not exist on the node",
        }
    }
}
