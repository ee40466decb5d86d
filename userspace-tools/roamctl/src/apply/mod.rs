//! `roamctl apply FILE`: configure this node from a TOML cluster file.
//!
//! Everything is checked first ([`validate`]); only a valid file becomes a
//! [`plan`], the ordered list of sysfs writes, which
//! [`crate::sysfs::execute`] then performs. A refused file changes nothing.
//!
//! ```toml
//! key_file = "/etc/roam/cluster.key"  # relative to this file's directory
//! port = 7077                          # optional
//! interval_ms = 1000                   # optional tunables
//! balance = true                       # automatic balancing (and stability_margin, min_age_ms, min_residency_ms, max_guests)
//! decay = [975, 926]
//! [[node]]
//! id = 1
//! addr = "10.77.0.1"                  # "IP" or "IP:PORT"
//! ```
//!
//! The steps live in files of their own, each calling only those before
//! it: `check` (reads and checks the cluster file and the key file),
//! `writes` (the plan of sysfs writes, how a write is shown, performing
//! them), `report` (what is printed, for people or as JSON). This file
//! runs them in order ([`run_at`]).

use std::io;
use std::path::Path;

use crate::error::CtlError;
use crate::netif;
use crate::sysfs;

mod check;
mod report;
#[cfg(test)]
mod tests;
mod writes;

pub use self::check::{
    addr_str, check_doc, check_key, parse_doc, read_key, resolve_key_path, validate, Cluster, ClusterDoc, Member, NodeDoc,
    DECAY_RANGE, TUNABLES,
};
pub use self::report::{format_human, format_json};
pub use self::writes::{execute, plan, shown_value};

/// Validates `file`, then (unless `check_only`) applies it to `root`.
pub fn run_at(
    root: &Path,
    file: &Path,
    node: Option<u32>,
    check_only: bool,
    json: bool,
    local_ips: impl FnOnce() -> io::Result<Vec<u32>>,
) -> Result<String, CtlError> {
    let (cluster, key) = validate(file, node, local_ips)?;
    let writes = plan(&cluster, &key);
    if !check_only {
        execute(root, &writes)?;
    }
    let file = file.display().to_string();
    Ok(if json {
        format_json(&file, !check_only, &cluster, &writes)
    } else {
        format_human(&file, !check_only, &cluster, &writes)
    })
}

/// `roamctl apply [--check] FILE [--node ID]`.
pub fn run(
    file: &Path,
    node: Option<u32>,
    check_only: bool,
    json: bool,
) -> Result<String, CtlError> {
    run_at(&sysfs::root(), file, node, check_only, json, netif::local_ipv4s)
}
