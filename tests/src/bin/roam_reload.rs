//! Unloading and reloading roam.ko repeatedly: each unload removes every
//! interface (and roamctl notices), each load starts unconfigured with
//! working interfaces, nothing leaks a module reference, and the kernel
//! logs no warning on the way. The node id and the process locks are
//! restored at the end, and the module is loaded again even if a cycle
//! failed half-way.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use libc::{EAGAIN, EBUSY, O_NONBLOCK};
use roam_proto::abi::{NodeState, ROAM_VERSION};
use roam_tests::guest::{
    self, errno_is, errno_name, DEV_PATH, MODULE_NAME, MODULE_PATH, ROAMCTL, SYSFS_DIR,
};
use roam_tests::ktap::Ktap;

const CYCLES: usize = 10;
/// How long a device node or a busy module gets to go away.
const SETTLE: Duration = Duration::from_secs(5);
const POLL: Duration = Duration::from_millis(10);
const CMD_TIMEOUT: Duration = Duration::from_secs(20);

/// Kernel log lines that mean something went wrong in the kernel.
const BAD_LOG: &[&str] = &[
    "WARNING:",
    "BUG:",
    "Oops",
    "Call Trace",
    "general protection",
    "kobject_add_internal failed",
    "duplicate filename",
    "refcount_t:",
    "KASAN",
    "UBSAN",
];

/// The pids in `/sys/kernel/roam/locked` (none if it cannot be read).
fn locked_pids() -> Vec<u32> {
    guest::read_sysfs("locked").map(|s| s.split_whitespace().filter_map(|p| p.parse().ok()).collect()).unwrap_or_default()
}

fn loaded() -> bool {
    guest::module_entry(MODULE_NAME).is_some()
}

fn load(image: &[u8]) -> Result<(), String> {
    guest::init_module(image, "").map_err(|e| format!("init_module: {}", errno_name(&e)))
}

/// delete_module without waiting in the kernel; a module that is briefly
/// busy (EAGAIN/EBUSY) is retried for a bounded time.
fn unload() -> Result<(), String> {
    let mut last = None;
    let done = guest::wait_for(
        SETTLE,
        Duration::from_millis(50),
        || match guest::delete_module(MODULE_NAME, O_NONBLOCK) {
            Ok(()) => {
                last = None;
                true
            }
            Err(e) if errno_is(&e, &[EAGAIN, EBUSY]) => {
                last = Some(e);
                false
            }
            Err(e) => {
                last = Some(e);
                true
            }
        },
    );
    match (done, last) {
        (true, None) => Ok(()),
        (_, Some(e)) => Err(format!(
            "delete_module: {} (refcount now {:?})",
            errno_name(&e),
            guest::module_entry(MODULE_NAME).map(|m| m.refcount)
        )),
        (false, None) => Err("delete_module did not finish".into()),
    }
}

/// One unload/load round; returns what went wrong (empty if nothing).
fn cycle(image: &[u8], id: u32) -> Vec<String> {
    let mut errs = Vec::new();
    if !loaded() {
        errs.push("module was not loaded at the start of the cycle".into());
        if let Err(e) = load(image) {
            errs.push(e);
            return errs;
        }
    }

    if let Err(e) = unload() {
        errs.push(e);
        return errs;
    }
    if loaded() {
        errs.push("still in /proc/modules after delete_module".into());
    }
    if Path::new(SYSFS_DIR).exists() {
        errs.push(format!("{SYSFS_DIR} still exists after unload"));
    }
    if !guest::wait_for(SETTLE, POLL, || !Path::new(DEV_PATH).exists()) {
        errs.push(format!("{DEV_PATH} still exists {SETTLE:?} after unload"));
    }
    match guest::run(Command::new(ROAMCTL).arg("status"), CMD_TIMEOUT) {
        Ok(r)
            if r.code == Some(3) && format!("{}{}", r.stdout, r.stderr).contains("not loaded") => {}
        Ok(r) => errs.push(format!(
            "roamctl status without the module: want exit 3 and \"not loaded\", got {}",
            r.describe()
        )),
        Err(e) => errs.push(format!("could not run {ROAMCTL}: {e}")),
    }

    if let Err(e) = load(image) {
        errs.push(e);
        return errs;
    }
    match guest::module_entry(MODULE_NAME) {
        Some(m) if m.state == "Live" => {}
        other => errs.push(format!("/proc/modules after load: {other:?}")),
    }
    if !Path::new(SYSFS_DIR).is_dir() {
        errs.push(format!("{SYSFS_DIR} missing after load"));
    }
    let state = guest::read_sysfs("state");
    if state.as_deref().ok() != Some("unconfigured\n") {
        errs.push(format!(
            "state after load: {state:?}, want \"unconfigured\\n\""
        ));
    }
    let node = guest::read_sysfs("node_id");
    if node.as_deref().ok() != Some("0\n") {
        errs.push(format!("node_id after load: {node:?}, want \"0\\n\""));
    }
    if !guest::wait_for(SETTLE, POLL, || Path::new(DEV_PATH).exists()) {
        errs.push(format!(
            "{DEV_PATH} did not appear within {SETTLE:?} of loading"
        ));
    } else {
        match guest::query_status() {
            Ok(s)
                if s.node_id == 0
                    && NodeState::from_u32(s.state) == Some(NodeState::Unconfigured)
                    && s.version_str() == ROAM_VERSION => {}
            other => errs.push(format!("STATUS after load: {other:?}")),
        }
    }

    // Configure it again, so the next unload is of a node that is up.
    if let Err(e) = guest::set_node_id(id) {
        errs.push(e);
    } else if guest::read_sysfs("state").as_deref().ok() != Some("up\n") {
        errs.push(format!("state is not up after setting node_id {id}"));
    }
    errs
}

fn dmesg() -> Option<String> {
    match guest::run(&mut Command::new("dmesg"), CMD_TIMEOUT) {
        Ok(r) if r.success() => Some(r.stdout),
        _ => None,
    }
}

/// The part of the kernel log `after` that was not in `before`.
fn new_log<'a>(before: &str, after: &'a str) -> &'a str {
    if let Some(rest) = after.strip_prefix(before) {
        return rest;
    }
    // The ring buffer moved on: continue after the last line we had seen.
    match before
        .lines()
        .last()
        .and_then(|l| after.rfind(l).map(|i| i + l.len()))
    {
        Some(i) => &after[i..],
        None => after,
    }
}

fn main() {
    let mut t = Ktap::plan(1 + CYCLES + 3);

    let log_before = dmesg();
    // Locks live in the module: the ones in force now (the test agent's,
    // at least) are put back at the end.
    let locked_before = locked_pids();
    let image = fs::read(MODULE_PATH);
    let id = guest::sysfs_node_id().unwrap_or_else(|_| guest::node_id());
    let start_ok = loaded() && image.is_ok() && id != 0;
    t.check(
        start_ok,
        "module loaded, image readable and node id known before the cycles",
        &format!(
            "loaded: {}, image: {:?}, node id: {id}",
            loaded(),
            image.as_ref().map(|i| i.len())
        ),
    );

    match &image {
        Ok(image) if id != 0 => {
            for i in 1..=CYCLES {
                let errs = cycle(image, id);
                t.check(
                    errs.is_empty(),
                    &format!("cycle {i}: unload and reload"),
                    &errs.join("\n"),
                );
            }
        }
        _ => {
            for i in 1..=CYCLES {
                t.not_ok(
                    &format!("cycle {i}: unload and reload"),
                    "not attempted: no module image or node id",
                );
            }
        }
    }

    // Whatever happened above, leave the node as we found it.
    let mut errs = Vec::new();
    if !loaded() {
        match &image {
            Ok(image) => {
                if let Err(e) = load(image) {
                    errs.push(e);
                }
            }
            Err(e) => errs.push(format!("cannot reload, reading {MODULE_PATH}: {e}")),
        }
    }
    if errs.is_empty() && id != 0 {
        if let Err(e) = guest::set_node_id(id) {
            errs.push(e);
        }
    }
    let state = guest::read_sysfs("state");
    if state.as_deref().ok() != Some("up\n") {
        errs.push(format!("state: {state:?}"));
    }
    for pid in locked_before.iter().filter(|p| Path::new(&format!("/proc/{p}")).exists()) {
        match guest::run(Command::new(ROAMCTL).args(["lock", &pid.to_string()]), CMD_TIMEOUT) {
            Ok(r) if r.code == Some(0) => {}
            other => errs.push(format!("roamctl lock {pid}: {other:?}")),
        }
    }
    let locked_after = locked_pids();
    if locked_before.iter().any(|p| Path::new(&format!("/proc/{p}")).exists() && !locked_after.contains(p)) {
        errs.push(format!("locked before: {locked_before:?}, after: {locked_after:?}"));
    }
    t.check(
        errs.is_empty(),
        &format!("module loaded with node_id {id}, up and its locks back at the end"),
        &errs.join("\n"),
    );

    let entry = guest::module_entry(MODULE_NAME);
    t.check(
        entry.as_ref().is_some_and(|e| e.refcount == 0),
        "module refcount is 0 at the end",
        &format!("/proc/modules entry: {entry:?}"),
    );

    match (log_before, dmesg()) {
        (Some(before), Some(after)) => {
            let fresh = new_log(&before, &after);
            let bad: Vec<&str> = fresh
                .lines()
                .filter(|l| BAD_LOG.iter().any(|p| l.contains(p)))
                .collect();
            t.check(
                bad.is_empty(),
                "no kernel warnings logged during the cycles",
                &format!("suspicious lines:\n{}", bad.join("\n")),
            );
        }
        _ => t.skip(
            "no kernel warnings logged during the cycles",
            "dmesg could not be read",
        ),
    }

    t.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_new_log_lines_count() {
        assert_eq!(new_log("a\nb\n", "a\nb\nc\n"), "c\n");
        // The start of the buffer was overwritten: resume after "b".
        assert_eq!(new_log("a\nb\n", "b\nc\n"), "\nc\n");
        assert_eq!(new_log("x\n", "c\n"), "c\n");
        assert_eq!(new_log("", "c\n"), "c\n");
    }
}
