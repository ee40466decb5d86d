//! What can go wrong in roamctl, how it is explained, and which exit
//! status it maps to. Kept free of I/O so it can be unit-tested.

use std::fmt;
use std::io;

use roam_proto::abi::{refusal, NODE_HOME, ROAM_ABI_VERSION};
use serde::Serialize;

/// A failure, classified by what the user should do about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CtlError {
    /// `/dev/roam` does not exist: the module is not loaded.
    NotLoaded,
    /// Not allowed to use `/dev/roam`; `action` is what was attempted.
    Permission { action: String },
    /// The module speaks another ioctl ABI.
    AbiMismatch { ours: u32, theirs: u32 },
    /// Anything else; `detail` explains the cause.
    Io { action: String, detail: String },
    /// The module's sysfs directory (`root`) does not exist: not loaded.
    SysfsMissing { root: String },
    /// A cluster file was refused before anything was changed.
    Config { file: String, problem: String },
    /// `roamctl apply` failed at write `step` (1-based) of `total`, after
    /// the transport had been stopped. `write` names the write (the key's
    /// value is never shown), `detail` what the errno means.
    ApplyFailed { step: usize, total: usize, write: String, detail: String },
    /// The module does not know an ioctl (`ENOTTY`): it is older than this
    /// roamctl. `what` names the request, e.g. "ROAM_IOC_WHERE".
    Unsupported { what: String },
    /// `ROAM_IOC_MIGRATE` failed with `errno`. `node` is the destination
    /// asked for ([`NODE_HOME`] for home); `reason` is the module's
    /// [`refusal`] code, 0 when it gave none.
    Migrate { pid: u32, node: u32, errno: i32, reason: u32 },
}

/// The JSON form of an error: `{"error":"<code>","message":"..."}`.
#[derive(Serialize)]
struct ErrorJson<'a> {
    error: &'a str,
    message: String,
}

/// The JSON form of a failed migration.
#[derive(Serialize)]
struct MigrateErrorJson<'a> {
    error: &'a str,
    message: String,
    pid: u32,
    node: u32,
    errno: i32,
    reason: u32,
    reason_text: &'a str,
}

impl CtlError {
    /// Classifies a failed system call by its errno. `action` says what was
    /// being done, e.g. "open /dev/roam".
    pub fn from_errno(action: &str, errno: i32) -> Self {
        match errno {
            libc::ENOENT | libc::ENODEV | libc::ENXIO => CtlError::NotLoaded,
            libc::EACCES | libc::EPERM => CtlError::Permission { action: action.to_string() },
            _ => CtlError::Io {
                action: action.to_string(),
                detail: io::Error::from_raw_os_error(errno).to_string(),
            },
        }
    }

    /// Classifies an I/O error, by errno when it carries one.
    pub fn from_io(action: &str, err: &io::Error) -> Self {
        match err.raw_os_error() {
            Some(errno) => Self::from_errno(action, errno),
            None => CtlError::Io { action: action.to_string(), detail: err.to_string() },
        }
    }

    /// Classifies a failed ioctl `name` (e.g. "ROAM_IOC_WHERE"): `ENOTTY`
    /// means the module does not have it, anything else as [`Self::from_io`].
    pub fn from_ioctl(action: &str, name: &str, err: &io::Error) -> Self {
        match err.raw_os_error() {
            Some(libc::ENOTTY) => CtlError::Unsupported { what: name.to_string() },
            _ => Self::from_io(action, err),
        }
    }

    /// The module answered with ABI `theirs`.
    pub fn abi_mismatch(theirs: u32) -> Self {
        CtlError::AbiMismatch { ours: ROAM_ABI_VERSION, theirs }
    }

    /// Stable machine-readable name, used as `"error"` in JSON output.
    pub fn code(&self) -> &'static str {
        match self {
            CtlError::NotLoaded => "not_loaded",
            CtlError::Permission { .. } => "permission",
            CtlError::AbiMismatch { .. } => "abi_mismatch",
            CtlError::Io { .. } => "io",
            CtlError::SysfsMissing { .. } => "not_loaded",
            CtlError::Config { .. } => "config",
            CtlError::ApplyFailed { .. } => "apply_failed",
            CtlError::Unsupported { .. } => "abi_mismatch",
            CtlError::Migrate { errno, .. } => match *errno {
                libc::EPERM | libc::EACCES => "permission",
                libc::ENOTTY => "abi_mismatch",
                _ => "migrate_failed",
            },
        }
    }

    /// Process exit status. 2 is left to clap for usage errors.
    pub fn exit_status(&self) -> u8 {
        match self {
            CtlError::NotLoaded | CtlError::SysfsMissing { .. } => 3,
            CtlError::Permission { .. } => 4,
            CtlError::AbiMismatch { .. } | CtlError::Unsupported { .. } => 5,
            CtlError::Io { .. } | CtlError::Config { .. } | CtlError::ApplyFailed { .. } => 1,
            CtlError::Migrate { errno, .. } => match *errno {
                libc::EPERM | libc::EACCES => 4,
                libc::ENOTTY => 5,
                _ => 1,
            },
        }
    }

    /// The error as one line of JSON: `error` and `message`, and for a
    /// failed migration also `pid`, `node` (0: home), `errno`, `reason`
    /// and `reason_text`.
    pub fn to_json(&self) -> String {
        if let CtlError::Migrate { pid, node, errno, reason } = *self {
            let doc = MigrateErrorJson {
                error: self.code(),
                message: self.to_string(),
                pid,
                node,
                errno,
                reason,
                reason_text: reason_text(reason),
            };
            return serde_json::to_string(&doc).expect("strings and numbers always serialize");
        }
        let doc = ErrorJson { error: self.code(), message: self.to_string() };
        serde_json::to_string(&doc).expect("a struct of strings always serializes")
    }
}

/// What the system says `errno` means, e.g. "No such process", without
/// the " (os error 3)" that `io::Error` adds.
pub fn strerror(errno: i32) -> String {
    let text = io::Error::from_raw_os_error(errno).to_string();
    let suffix = format!(" (os error {errno})");
    match text.strip_suffix(&suffix) {
        Some(s) => s.to_string(),
        None => text,
    }
}

/// [`refusal::explain`], except that 0 (the module gave no reason) reads
/// "no detail" rather than "no error".
pub fn reason_text(reason: u32) -> &'static str {
    if reason == 0 {
        "no detail"
    } else {
        refusal::explain(reason)
    }
}

impl fmt::Display for CtlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CtlError::NotLoaded => write!(
                f,
                "roam is not loaded on this node (/dev/roam does not exist); \
                 load it with `insmod roam.ko`"
            ),
            CtlError::Permission { action } => {
                write!(f, "cannot {action}: permission denied; run roamctl as root")
            }
            CtlError::AbiMismatch { ours, theirs } => write!(
                f,
                "roamctl speaks ABI {ours} but the module speaks ABI {theirs}; \
                 use the roamctl built with this module"
            ),
            CtlError::Io { action, detail } => {
                write!(f, "cannot {action}: {detail}; check `dmesg` for messages from roam")
            }
            CtlError::SysfsMissing { root } => write!(
                f,
                "roam is not loaded on this node ({root} does not exist); \
                 load it with `insmod roam.ko`"
            ),
            CtlError::Config { file, problem } => {
                write!(f, "{file}: {problem}; nothing was changed")
            }
            CtlError::ApplyFailed { step, total, write, detail } => write!(
                f,
                "write {step} of {total} failed: {write}: {detail}; the node is left with \
                 the transport stopped (listen off); fix the cause and run `roamctl apply` again"
            ),
            CtlError::Unsupported { what } => write!(
                f,
                "the loaded roam module does not know {what} (ENOTTY); \
                 use the roamctl built with this module"
            ),
            CtlError::Migrate { pid, node, errno, reason } => {
                if *node == NODE_HOME {
                    write!(f, "cannot migrate pid {pid} home: ")?;
                } else {
                    write!(f, "cannot migrate pid {pid} to node {node}: ")?;
                }
                write!(f, "{} ({})", strerror(*errno), reason_text(*reason))?;
                if *errno == libc::ENOTTY {
                    write!(f, "; the loaded roam module cannot migrate: use the roamctl built with it")?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_device_means_not_loaded() {
        for errno in [libc::ENOENT, libc::ENODEV, libc::ENXIO] {
            let e = CtlError::from_errno("open /dev/roam", errno);
            assert_eq!(e, CtlError::NotLoaded);
            assert_eq!(e.code(), "not_loaded");
            assert_eq!(e.exit_status(), 3);
            assert_eq!(
                e.to_string(),
                "roam is not loaded on this node (/dev/roam does not exist); \
                 load it with `insmod roam.ko`"
            );
        }
    }

    #[test]
    fn access_errors_mean_permission() {
        for errno in [libc::EACCES, libc::EPERM] {
            let e = CtlError::from_errno("open /dev/roam", errno);
            assert_eq!(e.code(), "permission");
            assert_eq!(e.exit_status(), 4);
            assert_eq!(
                e.to_string(),
                "cannot open /dev/roam: permission denied; run roamctl as root"
            );
        }
    }

    #[test]
    fn abi_mismatch_names_both_versions() {
        let e = CtlError::abi_mismatch(7);
        assert_eq!(e.code(), "abi_mismatch");
        assert_eq!(e.exit_status(), 5);
        assert_eq!(
            e.to_string(),
            format!(
                "roamctl speaks ABI {ROAM_ABI_VERSION} but the module speaks ABI 7; \
                 use the roamctl built with this module"
            )
        );
    }

    #[test]
    fn other_errnos_are_io_with_strerror() {
        let e = CtlError::from_errno("read the status from /dev/roam", libc::EIO);
        assert_eq!(e.code(), "io");
        assert_eq!(e.exit_status(), 1);
        let msg = e.to_string();
        assert!(msg.starts_with("cannot read the status from /dev/roam: Input/output error"), "{msg}");
        assert!(msg.ends_with("check `dmesg` for messages from roam"), "{msg}");
    }

    #[test]
    fn io_errors_without_errno_are_io() {
        let err = io::Error::new(io::ErrorKind::InvalidInput, "bad buffer");
        let e = CtlError::from_io("read the status from /dev/roam", &err);
        assert_eq!(e.code(), "io");
        assert!(e.to_string().contains("bad buffer"));
        let err = io::Error::from_raw_os_error(libc::ENOENT);
        assert_eq!(CtlError::from_io("open /dev/roam", &err), CtlError::NotLoaded);
    }

    #[test]
    fn exit_statuses_are_distinct() {
        let all = [
            CtlError::NotLoaded,
            CtlError::from_errno("x", libc::EACCES),
            CtlError::abi_mismatch(2),
            CtlError::from_errno("x", libc::EIO),
        ];
        let mut codes: Vec<u8> = all.iter().map(CtlError::exit_status).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes, [1, 3, 4, 5]);
    }

    #[test]
    fn sysfs_missing_means_not_loaded() {
        let e = CtlError::SysfsMissing { root: "/sys/kernel/roam".into() };
        assert_eq!(e.code(), "not_loaded");
        assert_eq!(e.exit_status(), 3);
        assert_eq!(
            e.to_string(),
            "roam is not loaded on this node (/sys/kernel/roam does not exist); \
             load it with `insmod roam.ko`"
        );
    }

    #[test]
    fn config_errors_name_the_file() {
        let e = CtlError::Config { file: "c.toml".into(), problem: "duplicate node id 2".into() };
        assert_eq!(e.code(), "config");
        assert_eq!(e.exit_status(), 1);
        assert_eq!(e.to_string(), "c.toml: duplicate node id 2; nothing was changed");
    }

    #[test]
    fn apply_failures_say_the_transport_is_stopped() {
        let e = CtlError::ApplyFailed {
            step: 5,
            total: 7,
            write: "`add 2 10.0.0.2:7077` to /sys/kernel/roam/peers".into(),
            detail: "EEXIST".into(),
        };
        assert_eq!(e.code(), "apply_failed");
        assert_eq!(e.exit_status(), 1);
        let msg = e.to_string();
        assert!(msg.starts_with("write 5 of 7 failed: `add 2 10.0.0.2:7077` to"), "{msg}");
        assert!(msg.contains("left with the transport stopped"), "{msg}");
    }

    #[test]
    fn migrate_failures_name_errno_and_reason() {
        let e = CtlError::Migrate { pid: 12, node: 3, errno: libc::EHOSTUNREACH, reason: refusal::UNKNOWN_NODE };
        assert_eq!(e.to_string(), "cannot migrate pid 12 to node 3: No route to host (no such node, or it is down)");
        assert_eq!(e.exit_status(), 1);
        assert_eq!(e.code(), "migrate_failed");
        let v: serde_json::Value = serde_json::from_str(&e.to_json()).unwrap();
        assert_eq!(v["error"], "migrate_failed");
        assert_eq!(v["pid"], 12);
        assert_eq!(v["node"], 3);
        assert_eq!(v["errno"], libc::EHOSTUNREACH);
        assert_eq!(v["reason"], 100);
        assert_eq!(v["reason_text"], "no such node, or it is down");
        assert_eq!(v["message"], e.to_string());
        assert!(e.to_json().starts_with(r#"{"error":"migrate_failed","message":"cannot migrate pid 12"#));
        assert!(e.to_json().ends_with(r#","pid":12,"node":3,"errno":113,"reason":100,"reason_text":"no such node, or it is down"}"#));

        let e = CtlError::Migrate { pid: 12, node: NODE_HOME, errno: libc::ESRCH, reason: 0 };
        assert_eq!(e.to_string(), "cannot migrate pid 12 home: No such process (no detail)");
        let e = CtlError::Migrate { pid: 1, node: 2, errno: libc::EPERM, reason: 0 };
        assert_eq!((e.exit_status(), e.code()), (4, "permission"));
        let e = CtlError::Migrate { pid: 1, node: 2, errno: libc::ENOTTY, reason: 0 };
        assert_eq!((e.exit_status(), e.code()), (5, "abi_mismatch"));
        assert!(e.to_string().contains("Inappropriate ioctl for device (no detail); the loaded"), "{e}");
        let e = CtlError::Migrate { pid: 1, node: 2, errno: libc::EBUSY, reason: 999 };
        assert!(e.to_string().ends_with("Device or resource busy (unknown reason)"), "{e}");
    }

    #[test]
    fn enotty_means_the_module_lacks_the_ioctl() {
        let err = io::Error::from_raw_os_error(libc::ENOTTY);
        let e = CtlError::from_ioctl("ask where pid 3 runs", "ROAM_IOC_WHERE", &err);
        assert_eq!(e, CtlError::Unsupported { what: "ROAM_IOC_WHERE".into() });
        assert_eq!((e.exit_status(), e.code()), (5, "abi_mismatch"));
        assert!(e.to_string().starts_with("the loaded roam module does not know ROAM_IOC_WHERE (ENOTTY)"));
        let err = io::Error::from_raw_os_error(libc::ESRCH);
        let e = CtlError::from_ioctl("ask where pid 3 runs", "ROAM_IOC_WHERE", &err);
        assert!(e.to_string().starts_with("cannot ask where pid 3 runs: No such process"), "{e}");
        assert_eq!(e.exit_status(), 1);
    }

    #[test]
    fn strerror_has_no_os_error_suffix() {
        assert_eq!(strerror(libc::ESRCH), "No such process");
        assert_eq!(reason_text(0), "no detail");
        assert_eq!(reason_text(refusal::BUSY), "the destination is busy, try again");
    }

    #[test]
    fn json_error_shape() {
        let e = CtlError::NotLoaded;
        let v: serde_json::Value = serde_json::from_str(&e.to_json()).unwrap();
        assert_eq!(v["error"], "not_loaded");
        assert_eq!(v["message"], e.to_string());
        assert_eq!(v.as_object().unwrap().len(), 2);
        assert!(e.to_json().starts_with(r#"{"error":"not_loaded","message":"#));
        assert!(!e.to_json().contains('\n'));
    }
}
