//! `roamctl ps`: every user process this node knows of and where it runs,
//! like openMosix's `mps`.

use std::fs;
use std::io;
use std::path::Path;

use roam_proto::abi::{place, Where};
use serde::Serialize;

use crate::dev::Device;
use crate::error::CtlError;
use crate::migrate::{query_where, state_name};
use crate::nodes::table;
use crate::sysfs;

/// One row of the listing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Proc {
    pub pid: u32,
    /// The node it runs on (for a guest, its home node).
    pub node: u32,
    /// `home`, `away`, `guest` or `moving`.
    pub state: String,
    /// Its pid on the other node involved, 0 if none.
    pub other_pid: u32,
    pub comm: String,
}

/// The numeric entries of a /proc directory, ascending.
pub fn pids(proc_root: &Path) -> io::Result<Vec<u32>> {
    let mut v: Vec<u32> = fs::read_dir(proc_root)?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
        .collect();
    v.sort_unstable();
    Ok(v)
}

/// A kernel thread has an empty command line and no memory: every field
/// of its `statm` is 0. (Zombies look the same, and are left out too.)
pub fn is_kernel_thread(cmdline: &[u8], statm: &str) -> bool {
    cmdline.is_empty() && statm.split_whitespace().all(|f| f == "0")
}

/// What /proc says about a user process: its `comm`, or `None` for a
/// kernel thread or a process that has gone.
pub fn user_comm(proc_root: &Path, pid: u32) -> Option<String> {
    let dir = proc_root.join(pid.to_string());
    let cmdline = fs::read(dir.join("cmdline")).ok()?;
    let statm = fs::read_to_string(dir.join("statm")).ok()?;
    if is_kernel_thread(&cmdline, &statm) {
        return None;
    }
    let comm = fs::read_to_string(dir.join("comm")).ok()?;
    Some(comm.trim_end_matches('\n').to_string())
}

/// The row for `pid`: NODE is `self_id` for a process at home (and a moving
/// one the module names no node for), else the node the module names.
pub fn row(w: &Where, self_id: u32, comm: String) -> Proc {
    let node = match w.state {
        place::HOME => self_id,
        _ if w.node == 0 => self_id,
        _ => w.node,
    };
    Proc { pid: w.pid, node, state: state_name(w.state), other_pid: w.other_pid, comm }
}

/// Reads /sys/kernel/roam/node_id (0 when not configured).
pub fn self_id(root: &Path) -> Result<u32, CtlError> {
    let text = sysfs::read(root, "node_id")?;
    text.trim().parse().map_err(|_| CtlError::Io {
        action: format!("read {}", root.join("node_id").display()),
        detail: format!("`{}` is not a node id", text.trim()),
    })
}

/// Lists the user processes under `proc_root`, asking `ask` where each
/// runs. Processes that exit meanwhile (gone from /proc, or `ESRCH`) and
/// those whose placement the caller may not see (`EPERM`: another user's,
/// for a caller who could not ptrace it) are left out; any other failure
/// stops the listing.
pub fn collect(
    proc_root: &Path,
    self_id: u32,
    mut ask: impl FnMut(u32) -> io::Result<Where>,
) -> Result<Vec<Proc>, CtlError> {
    let all = pids(proc_root).map_err(|e| CtlError::from_io(&format!("list {}", proc_root.display()), &e))?;
    let mut out = Vec::new();
    for pid in all {
        let Some(comm) = user_comm(proc_root, pid) else { continue };
        match ask(pid) {
            Ok(w) => out.push(row(&Where { pid, ..w }, self_id, comm)),
            Err(e) if matches!(e.raw_os_error(), Some(libc::ESRCH | libc::EPERM)) => continue,
            Err(e) => return Err(CtlError::from_ioctl(&format!("ask where pid {pid} runs"), "ROAM_IOC_WHERE", &e)),
        }
    }
    Ok(out)
}

/// `PID NODE STATE COMM` table, or with `json` an array of
/// `{"pid":..,"node":..,"state":..,"other_pid":..,"comm":..}`.
pub fn format(procs: &[Proc], json: bool) -> String {
    if json {
        return serde_json::to_string(procs).expect("strings and numbers always serialize");
    }
    let mut rows = vec![["PID", "NODE", "STATE", "COMM"].iter().map(|s| s.to_string()).collect::<Vec<_>>()];
    for p in procs {
        rows.push(vec![p.pid.to_string(), p.node.to_string(), p.state.clone(), p.comm.clone()]);
    }
    table(&rows)
}

/// This node's user processes and where each runs: what `roamctl ps`
/// prints. Needs `/dev/roam` (to ask where each process runs) and the
/// node id from the sysfs directory `root`.
pub fn list(root: &Path) -> Result<Vec<Proc>, CtlError> {
    let dev = Device::open().map_err(|e| CtlError::from_io("open /dev/roam", &e))?;
    let me = self_id(root)?;
    collect(Path::new("/proc"), me, |pid| query_where(&dev, pid))
}

pub fn run(json: bool) -> Result<String, CtlError> {
    Ok(format(&list(&sysfs::root())?, json))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sysfs::testdir::TempDir;

    fn fake_proc(d: &TempDir, pid: u32, cmdline: &str, statm: &str, comm: &str) {
        let p = d.path().join(pid.to_string());
        fs::create_dir_all(&p).unwrap();
        fs::write(p.join("cmdline"), cmdline).unwrap();
        fs::write(p.join("statm"), statm).unwrap();
        fs::write(p.join("comm"), comm).unwrap();
    }

    #[test]
    fn kernel_threads() {
        assert!(is_kernel_thread(b"", "0 0 0 0 0 0 0\n"));
        assert!(!is_kernel_thread(b"", "812 150 120 1 0 80 0\n"));
        assert!(!is_kernel_thread(b"sh\0", "0 0 0 0 0 0 0\n"));
    }

    #[test]
    fn lists_user_processes_and_skips_the_gone() {
        let d = TempDir::new("ps");
        fake_proc(&d, 1, "init\0", "300 100 80 1 0 40 0\n", "init\n");
        fake_proc(&d, 2, "", "0 0 0 0 0 0 0\n", "kthreadd\n");
        fake_proc(&d, 10, "worker\0", "300 100 80 1 0 40 0\n", "worker\n");
        fake_proc(&d, 11, "gone\0", "300 100 80 1 0 40 0\n", "gone\n");
        fake_proc(&d, 12, "guest\0", "300 100 80 1 0 40 0\n", "guest\n");
        fake_proc(&d, 9, "moving\0", "300 100 80 1 0 40 0\n", "moving\n");
        fake_proc(&d, 13, "others\0", "300 100 80 1 0 40 0\n", "others\n");
        fs::create_dir_all(d.path().join("self")).unwrap();
        fs::write(d.path().join("uptime"), "1 1\n").unwrap();
        let mut asked = Vec::new();
        let procs = collect(d.path(), 1, |pid| {
            asked.push(pid);
            match pid {
                10 => Ok(Where { pid, state: place::AWAY, node: 3, other_pid: 77 }),
                11 => Err(io::Error::from_raw_os_error(libc::ESRCH)),
                13 => Err(io::Error::from_raw_os_error(libc::EPERM)),
                12 => Ok(Where { pid, state: place::GUEST, node: 2, other_pid: 400 }),
                9 => Ok(Where { pid, state: place::MOVING, node: 0, other_pid: 0 }),
                _ => Ok(Where { pid, state: place::HOME, node: 0, other_pid: 0 }),
            }
        })
        .unwrap();
        assert_eq!(asked, [1, 9, 10, 11, 12, 13]);
        let text = format(&procs, false);
        assert_eq!(
            text,
            "\
PID  NODE  STATE   COMM
1    1     home    init
9    1     moving  moving
10   3     away    worker
12   2     guest   guest"
        );
        let v: serde_json::Value = serde_json::from_str(&format(&procs, true)).unwrap();
        assert_eq!(v.as_array().unwrap().len(), 4);
        assert_eq!(v[2], serde_json::json!({"pid":10,"node":3,"state":"away","other_pid":77,"comm":"worker"}));
        assert_eq!(format(&[], true), "[]");
        assert_eq!(format(&[], false), "PID  NODE  STATE  COMM");
    }

    #[test]
    fn other_failures_stop_the_listing() {
        let d = TempDir::new("ps-fail");
        fake_proc(&d, 5, "x\0", "1 1 1 1 0 1 0\n", "x\n");
        let e = collect(d.path(), 1, |_| Err(io::Error::from_raw_os_error(libc::ENOTTY))).unwrap_err();
        assert_eq!(e.exit_status(), 5);
        let e = collect(d.path(), 1, |_| Err(io::Error::from_raw_os_error(libc::EIO))).unwrap_err();
        assert_eq!(e.exit_status(), 1);
    }

    #[test]
    fn this_process_is_a_user_process() {
        let comm = user_comm(Path::new("/proc"), std::process::id()).expect("our own /proc entry");
        assert!(!comm.is_empty() && !comm.ends_with('\n'), "{comm:?}");
        assert!(pids(Path::new("/proc")).unwrap().contains(&std::process::id()));
    }

    #[test]
    fn node_id_file() {
        let d = TempDir::new("ps-node");
        d.file("node_id", "4\n");
        assert_eq!(self_id(d.path()).unwrap(), 4);
        d.file("node_id", "x\n");
        assert_eq!(self_id(d.path()).unwrap_err().exit_status(), 1);
        assert_eq!(self_id(&d.path().join("none")).unwrap_err().exit_status(), 3);
    }
}
