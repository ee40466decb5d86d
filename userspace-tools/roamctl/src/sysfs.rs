//! Access to the module's sysfs directory, `/sys/kernel/roam/` (or
//! `$ROAM_SYSFS`, so tests can point roamctl at a directory of their own).

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::error::CtlError;

/// Where the module's attributes appear.
pub const DEFAULT_ROOT: &str = "/sys/kernel/roam";
/// Environment variable overriding [`DEFAULT_ROOT`].
pub const ROOT_ENV: &str = "ROAM_SYSFS";

/// The sysfs root: `$ROAM_SYSFS` when set and not empty, else the default.
pub fn root() -> PathBuf {
    root_from(std::env::var_os(ROOT_ENV).as_deref())
}

/// [`root`] given the variable's value.
pub fn root_from(var: Option<&std::ffi::OsStr>) -> PathBuf {
    match var {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => PathBuf::from(DEFAULT_ROOT),
    }
}

/// Reads one attribute, e.g. `nodes`.
pub fn read(root: &Path, name: &str) -> Result<String, CtlError> {
    let path = root.join(name);
    fs::read_to_string(&path).map_err(|e| classify(root, &format!("read {}", path.display()), &e))
}

/// Turns an I/O error on `root`/something into a user error: a missing
/// root means the module is not loaded.
pub fn classify(root: &Path, action: &str, err: &io::Error) -> CtlError {
    if err.raw_os_error() == Some(libc::ENOENT) && !root.is_dir() {
        return CtlError::SysfsMissing { root: root.display().to_string() };
    }
    match err.raw_os_error() {
        Some(libc::EACCES) | Some(libc::EPERM) => {
            CtlError::Permission { action: action.to_string() }
        }
        Some(libc::ENOENT) => CtlError::Io {
            action: action.to_string(),
            detail: "no such attribute; is roamctl newer than the loaded module?".to_string(),
        },
        _ => CtlError::Io { action: action.to_string(), detail: err.to_string() },
    }
}

/// What a refused write to a roam attribute means, by errno.
pub fn write_errno_meaning(err: &io::Error) -> String {
    let why = match err.raw_os_error() {
        Some(libc::EINVAL) => "EINVAL: the module refused the value",
        Some(libc::EEXIST) => "EEXIST: a peer with that id or address already exists",
        Some(libc::ENOENT) => "ENOENT: no such attribute or peer",
        Some(libc::ENOSPC) => "ENOSPC: too many peers",
        Some(libc::EBUSY) => "EBUSY: not allowed while the transport runs",
        Some(libc::EACCES) | Some(libc::EPERM) => "permission denied (run roamctl as root)",
        _ => return format!("{err}; see `dmesg` for why roam refused it"),
    };
    format!("{why}; see `dmesg` for why roam refused it")
}

/// One sysfs write: attribute name and the value written to it.
pub type SysfsWrite = (&'static str, String);

/// Why [`execute`] stopped: the index of the failed write and its error.
#[derive(Debug)]
pub struct ExecError {
    pub index: usize,
    pub err: io::Error,
}

/// Performs `plan` in order, like `echo VALUE > ROOT/FILE` each: one
/// open, one write() of the value and a newline, one close. Stops at the
/// first failure; later writes are not attempted.
pub fn execute(root: &Path, plan: &[SysfsWrite]) -> Result<(), ExecError> {
    for (index, (file, value)) in plan.iter().enumerate() {
        write_one(&root.join(file), value).map_err(|err| ExecError { index, err })?;
    }
    Ok(())
}

/// Writes one value with a single write() call: sysfs takes each write as
/// one command, so a split write would be two commands.
fn write_one(path: &Path, value: &str) -> io::Result<()> {
    let mut f = OpenOptions::new().write(true).truncate(true).open(path)?;
    let line = format!("{value}\n");
    let n = f.write(line.as_bytes())?;
    if n != line.len() {
        return Err(io::Error::new(
            io::ErrorKind::WriteZero,
            format!("short write: {n} of {} bytes", line.len()),
        ));
    }
    Ok(())
}

#[cfg(test)]
pub mod testdir {
    //! Throw-away directories standing in for `/sys/kernel/roam`.

    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A directory removed when dropped.
    pub struct TempDir(PathBuf);

    impl TempDir {
        pub fn new(tag: &str) -> Self {
            static N: AtomicUsize = AtomicUsize::new(0);
            let n = N.fetch_add(1, Ordering::Relaxed);
            let dir = std::env::temp_dir()
                .join(format!("roamctl-test-{}-{tag}-{n}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }

        pub fn path(&self) -> &Path {
            &self.0
        }

        /// Creates (or replaces) a file holding `text`.
        pub fn file(&self, name: &str, text: &str) -> PathBuf {
            let p = self.0.join(name);
            std::fs::write(&p, text).unwrap();
            p
        }

        pub fn read(&self, name: &str) -> String {
            std::fs::read_to_string(self.0.join(name)).unwrap()
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testdir::TempDir;
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn root_honours_the_environment() {
        assert_eq!(root_from(None), PathBuf::from("/sys/kernel/roam"));
        assert_eq!(root_from(Some(OsStr::new(""))), PathBuf::from("/sys/kernel/roam"));
        assert_eq!(root_from(Some(OsStr::new("/tmp/x"))), PathBuf::from("/tmp/x"));
    }

    #[test]
    fn read_classifies_errors() {
        let d = TempDir::new("read");
        d.file("stats", "frames_sent 3\n");
        assert_eq!(read(d.path(), "stats").unwrap(), "frames_sent 3\n");
        let e = read(d.path(), "nodes").unwrap_err();
        assert_eq!(e.code(), "io");
        assert!(e.to_string().contains("no such attribute"), "{e}");
        let gone = d.path().join("nope");
        let e = read(&gone, "nodes").unwrap_err();
        assert_eq!(e, CtlError::SysfsMissing { root: gone.display().to_string() });
        assert_eq!(e.exit_status(), 3);
        let e = classify(d.path(), "write x", &io::Error::from_raw_os_error(libc::EACCES));
        assert_eq!(e.exit_status(), 4);
    }

    #[test]
    fn errno_meanings() {
        let m = write_errno_meaning(&io::Error::from_raw_os_error(libc::EEXIST));
        assert_eq!(
            m,
            "EEXIST: a peer with that id or address already exists; \
             see `dmesg` for why roam refused it"
        );
        for errno in [libc::EINVAL, libc::ENOENT, libc::ENOSPC, libc::EBUSY] {
            let m = write_errno_meaning(&io::Error::from_raw_os_error(errno));
            assert!(m.starts_with('E'), "{m}");
        }
        let m = write_errno_meaning(&io::Error::from_raw_os_error(libc::EIO));
        assert!(m.starts_with("Input/output error"), "{m}");
    }

    #[test]
    fn execute_writes_in_order_and_stops_at_the_first_failure() {
        let d = TempDir::new("exec");
        for f in ["listen", "node_id", "peers"] {
            d.file(f, "");
        }
        let plan: Vec<SysfsWrite> = vec![
            ("listen", "off".into()),
            ("node_id", "1".into()),
            ("peers", "add 2 10.0.0.2:7077".into()),
            ("listen", "10.0.0.1:7077".into()),
        ];
        execute(d.path(), &plan).unwrap();
        assert_eq!(d.read("listen"), "10.0.0.1:7077\n");
        assert_eq!(d.read("node_id"), "1\n");
        assert_eq!(d.read("peers"), "add 2 10.0.0.2:7077\n");

        // `key` does not exist (and is never created): the run stops there.
        let d = TempDir::new("exec-fail");
        for f in ["listen", "node_id", "peers"] {
            d.file(f, "");
        }
        let plan: Vec<SysfsWrite> = vec![
            ("listen", "off".into()),
            ("key", "00".into()),
            ("node_id", "1".into()),
        ];
        let e = execute(d.path(), &plan).unwrap_err();
        assert_eq!(e.index, 1);
        assert_eq!(e.err.raw_os_error(), Some(libc::ENOENT));
        assert_eq!(d.read("listen"), "off\n");
        assert_eq!(d.read("node_id"), "", "writes after the failure are not attempted");
        assert!(!d.path().join("key").exists());
    }
}
