//! The migration image: what moves from the source node to the destination.
//!
//! A migration is a sequence of messages, each the payload of one transport
//! frame (so each at most [`crate::wire::MAX_PAYLOAD`] bytes):
//!
//! 1. `Begin` (source to destination): the [`ImageHeader`], the registers
//!    ([`Regs`]), the memory layout ([`MmLayout`]), the signal state
//!    ([`SigState`]) and the extended FPU state (`xstate`, opaque here);
//! 2. `Signals`: the signals pending when it was taken ([`PendingSignal`]),
//!    at most [`MAX_PENDING`], in queue order;
//! 3. `Timers`: the interval and POSIX timers and the CPU time used
//!    ([`TimerState`]), at most [`MAX_TIMERS`] POSIX timers;
//! 4. `Creds`: the ids, groups, capabilities, securebits, no-new-privs
//!    and resource limits ([`Creds`]), at most [`MAX_GROUPS`] groups;
//! 5. `Vmas`: the memory areas ([`Vma`]), in address order, at most
//!    [`MAX_VMAS_PER_MSG`] per message, `header.nr_vmas` in all;
//! 6. `Pages`: batches of up to [`MAX_BATCH_PAGES`] consecutive pages, each
//!    inside one area, `header.nr_pages` pages in all;
//! 7. `Commit`: the page count and the [`Checksum`] of every batch;
//! 8. the destination answers `Accept` (with the new local pid) or
//!    `Refuse` (with a [`RefuseReason`]); either side may send `Abort` at
//!    any time.
//!
//! Every message starts with a 4-byte prefix: the image version
//! ([`IMAGE_VERSION`], u16), the message kind ([`MsgKind`], u8) and a zero
//! byte. All integers are little-endian; there is no padding. Bodies:
//!
//! | kind   | body                                                              |
//! |--------|-------------------------------------------------------------------|
//! | Begin  | header (100) · regs (216) · mm (88) · signals (2076) · xstate      |
//! | Signals | count u32 · count × (signo u32 · shared u32 · kernel_siginfo (48)) |
//! | Timers | taken u64 · utime, stime, runtime u64 · 3 × (remaining u64 · interval u64) · count u32 · count × timer (48) |
//! | Creds  | 8 ids · securebits · flags u32 · 5 × capability set u64 · 16 × (soft u64 · hard u64) · count u32 · count × group u32 |
//! | Vmas   | first index u32 · count u32 · count × vma (96)                     |
//! | Pages  | first address u64 · count u32 · count × 4096 bytes                 |
//! | Commit | page count u64 · checksum u64                                      |
//! | Accept | remote pid u32                                                     |
//! | Refuse | reason u16                                                         |
//! | Abort  | nothing                                                            |
//!
//! Decoders check, in order: the prefix (`BadVersion`), the fixed part
//! (`Truncated`), versions and bounds (`BadVersion`, `TooLarge`), the total
//! length (`Truncated` if short, `BadLength` if long), then the content
//! (`BadVma`, `BadBatch`, `BadSignal`, `BadTimer`, `BadCreds`). So any strict prefix of a valid message decodes
//! to `Truncated`. Frames are already authenticated; these checks keep a
//! buggy or mismatched peer from corrupting the destination.
//!
//! `core` only, no panics, whatever the input.
//!
//! The files here, each calling only those listed before it (outside this
//! directory they use nothing but [`crate::wire::MAX_PAYLOAD`]):
//!
//! * `error`: [`ImageError`] and [`RefuseReason`];
//! * `codec`: the prefix, [`MsgKind`] and the byte cursors;
//! * `header`: [`ImageHeader`], [`cause`] and the image-wide bounds;
//! * `regs`, `signals`: the [`Regs`], [`MmLayout`] and [`SigState`] that
//!   `begin`, the `Begin` message, carries;
//! * `pending`: [`PendingSignal`] and the `Signals` message;
//! * `timers`: [`TimerState`] and the `Timers` message;
//! * `creds`: [`Creds`] and the `Creds` message;
//! * `files`: the `Files` offer of areas to map from the destination's
//!   own files ([`FileOffer`]) and the `Ready` answer;
//! * `vmas`: [`Vma`] and the `Vmas` message;
//! * `pages`: [`PageBatchHeader`] and the `Pages` message;
//! * `checksum`: the [`Checksum`] of the batches;
//! * `outcome`: `Commit`, `Accept`, `Refuse`, `Abort`;
//! * `msg`: [`MigrateMsg`] and [`decode`], the dispatch on the prefix;
//! * `progress`: [`Progress`], a destination's check of an arriving image.
//!
//! Every public item is re-exported here: users name `image::Vma`, never
//! the file it lives in.

mod begin;
mod checksum;
mod codec;
mod creds;
mod error;
mod files;
mod header;
mod msg;
mod outcome;
mod pages;
mod pending;
mod progress;
mod regs;
mod signals;
mod timers;
mod vmas;

// roam.ko uses only part of these (see `dead_code` in roam_main.rs).
#[allow(unused_imports)]
pub use self::{
    begin::{begin_len, decode_begin, encode_begin, BeginView, BEGIN_FIXED_LEN},
    checksum::{checksum, Checksum},
    codec::{msg_kind, retag, MsgKind, IMAGE_VERSION, PREFIX_LEN},
    creds::{
        creds_len, decode_creds, encode_creds, Attrs, Context, Creds, CredsView, Rlimit, CONTEXT_LEN, ATTR_CHILD_SUBREAPER, ATTR_NOT_DUMPABLE, ATTR_THP_DISABLE, SCHED_RESET_ON_FORK, CAP_VALID, CREDS_HEAD_LEN, CREDS_NO_NEW_PRIVS,
        MAX_GROUPS, NLIMITS, SECUREBITS_VALID,
    },
    error::{ImageError, RefuseReason},
    files::{
        decode_files, decode_ready, encode_files, encode_ready, files_max_len, FileOffer, FilesView, FILES_HEAD_LEN, FILE_ENTRY_HEAD,
        MAX_FILES, MAX_FILE_PATH, READY_LEN,
    },
    header::{cause, ImageHeader, HEADER_LEN, MAX_PAGES, MAX_VMAS, MAX_XSTATE, PAGE_SIZE, USER_END},
    msg::{decode, MigrateMsg},
    outcome::{
        decode_abort, decode_accept, decode_commit, decode_refuse, encode_abort, encode_accept, encode_commit,
        encode_refuse, ABORT_LEN, ACCEPT_LEN, COMMIT_LEN, REFUSE_LEN,
    },
    pages::{
        batch_in_vmas, batch_len, decode_batch, encode_batch, encode_batch_header, parse_batch, PageBatchHeader,
        BATCH_HEAD_LEN, MAX_BATCH_PAGES,
    },
    pending::{
        decode_signals, encode_signals, signals_len, PendingSignal, SignalsView, MAX_PENDING, PENDING_LEN, SIGINFO_LEN,
        SIGNALS_HEAD_LEN,
    },
    progress::{Progress, MAX_PRE_FACTOR},
    regs::{MmLayout, Regs, USER_CS, USER_DS},
    signals::{AltStack, SigAction, SigState, NSIG},
    timers::{
        decode_timers, encode_timers, timer_clock_ok, timers_len, CpuTimes, ITimer, PosixTimer, TimerState, TimersView, MAX_TIMERS,
        MAX_TIMER_HOLES, SIGEV_NONE, SIGEV_SIGNAL, SIGEV_THREAD_ID, TIMERS_HEAD_LEN, TIMER_OWN_CPU_CLOCK,
    },
    vmas::{
        decode_vmas, encode_vmas, validate_vmas, vmas_len, Vma, VmasView, MAX_VMAS_PER_MSG, PROT_EXEC, PROT_MASK,
        PROT_READ, PROT_WRITE, VMAS_HEAD_LEN, VMA_FILE, VMA_GROWSDOWN, VMA_HEAP, VMA_IO, VMA_KEEP, VMA_KNOWN, VMA_LOCKED,
        VMA_NO_PAGES, VMA_SHARED, VMA_STACK, VMA_VDSO, VMA_VVAR, VMA_WIRE_LEN,
    },
};
