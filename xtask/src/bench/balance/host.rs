//! The host as `cargo xtask bench balance` watches it: its load average
//! and the QEMU processes of other clusters competing for its CPUs,
//! sampled once or every second during a run.
//!
//! Calls only `cluster` (this cluster's QEMU pids).

use crate::cluster::Cluster;
use std::time::Duration;

/// The host's load average and the QEMU processes running that are not
/// this cluster's.
pub(super) fn host_state(cl: &Cluster) -> (String, usize) {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let ours: Vec<i32> = cl.state.nodes.iter().map(|n| n.pid).collect();
    (load.split_whitespace().take(3).collect::<Vec<_>>().join(" "), other_qemus(&ours))
}

/// Samples [`other_qemus`] every second until dropped; the most seen.
pub(super) struct Watch {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<usize>>,
}

impl Watch {
    pub(super) fn start(cl: &Cluster) -> Watch {
        use std::sync::atomic::Ordering;
        let ours: Vec<i32> = cl.state.nodes.iter().map(|n| n.pid).collect();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s2 = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut most = 0;
            while !s2.load(Ordering::Relaxed) {
                most = most.max(other_qemus(&ours));
                std::thread::sleep(Duration::from_secs(1));
            }
            most.max(other_qemus(&ours))
        });
        Watch { stop, thread: Some(thread) }
    }

    pub(super) fn most(mut self) -> usize {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.take().and_then(|t| t.join().ok()).unwrap_or(0)
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// QEMU processes on the host other than `ours`.
pub(super) fn other_qemus(ours: &[i32]) -> usize {
    std::fs::read_dir("/proc")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
                .filter(|p| !ours.contains(p))
                .filter(|p| {
                    std::fs::read(format!("/proc/{p}/cmdline"))
                        .map(|c| String::from_utf8_lossy(&c).starts_with("qemu-system"))
                        .unwrap_or(false)
                })
                .count()
        })
        .unwrap_or(0)
}
