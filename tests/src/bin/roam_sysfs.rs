//! /sys/kernel/roam: the node id shown and changed through `node_id`,
//! every malformed value refused without effect, and the permission rules
//! (only root writes node_id, nobody writes version or state, anybody
//! reads all three).

use std::fs::OpenOptions;
use std::io::Write;

use libc::{E2BIG, EACCES, EINVAL, EIO, EPERM};
use roam_proto::abi::{NODE_ID_MAX, NODE_ID_MIN, ROAM_VERSION};
use roam_tests::guest::{self, errno_is, errno_name, NOBODY};
use roam_tests::ktap::{self, Ktap};

/// The malformed values, each with a printable label.
fn bad_inputs() -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = ["0", "65535", "abc", "", "-1", " 5", "0x10", "1\n\n"]
        .iter()
        .map(|s| (format!("{s:?}"), s.as_bytes().to_vec()))
        .collect();
    v.push(("a 5000-byte string of digits".into(), vec![b'1'; 5000]));
    v
}

/// node_id and state as they should be for node `id`.
fn shows(id: u32) -> Result<(), String> {
    let node = guest::read_sysfs("node_id").map_err(|e| format!("reading node_id: {e}"))?;
    let state = guest::read_sysfs("state").map_err(|e| format!("reading state: {e}"))?;
    if node != format!("{id}\n") || state != "up\n" {
        return Err(format!(
            "node_id reads {node:?} and state {state:?}, want {id} and up"
        ));
    }
    Ok(())
}

/// Puts node_id back to `orig` if something changed it, saying so.
fn repair(orig: u32) {
    if guest::sysfs_node_id().ok() != Some(orig) {
        if let Err(e) = guest::set_node_id(orig) {
            ktap::diag(&format!("could not restore node_id {orig}: {e}"));
        }
    }
}

/// Opening a read-only attribute for writing as root, or writing to it if
/// the open is allowed, must fail and leave the content as it was.
fn root_cannot_write(t: &mut Ktap, attr: &str) {
    let name = format!("root cannot write {attr}");
    let Ok(before) = guest::read_sysfs(attr) else {
        t.not_ok(&name, &format!("cannot read {attr}"));
        return;
    };
    let refused = [EACCES, EPERM, EIO];
    let outcome = match OpenOptions::new().write(true).open(guest::sysfs_path(attr)) {
        Err(e) if errno_is(&e, &refused) => Ok(format!("open refused: {}", errno_name(&e))),
        Err(e) => Err(format!("open failed with unexpected {}", errno_name(&e))),
        Ok(mut f) => match f.write(b"1\n") {
            Err(e) if errno_is(&e, &refused) => Ok(format!("write refused: {}", errno_name(&e))),
            Err(e) => Err(format!(
                "open succeeded, write failed with unexpected {}",
                errno_name(&e)
            )),
            Ok(n) => Err(format!("open and write succeeded ({n} bytes)")),
        },
    };
    let after = guest::read_sysfs(attr).ok();
    match outcome {
        Ok(_) if after.as_deref() == Some(before.as_str()) => t.ok(&name),
        Ok(how) => t.not_ok(
            &name,
            &format!("{how}, but content went from {before:?} to {after:?}"),
        ),
        Err(why) => t.not_ok(
            &name,
            &format!("{why}; content before {before:?}, after {after:?}"),
        ),
    }
}

fn main() {
    let bad = bad_inputs();
    let mut t = Ktap::plan(6 + bad.len() + 1 + 3 + 2);

    let expected = guest::node_id();
    let orig = guest::sysfs_node_id();
    t.check(
        expected != 0 && orig.as_ref().is_ok_and(|&v| v == expected),
        "node_id matches /etc/roam/node",
        &format!("sysfs: {orig:?}, /etc/roam/node: {expected}"),
    );
    // Everything below restores this value, whatever it was.
    let orig = orig.unwrap_or(expected);

    let state = guest::read_sysfs("state");
    t.check(
        state.as_ref().is_ok_and(|s| s == "up\n"),
        "state is up",
        &format!("read {state:?}"),
    );

    let other = if orig >= NODE_ID_MAX {
        NODE_ID_MIN
    } else {
        orig + 1
    };
    let r = guest::write_sysfs("node_id", format!("{other}\n").as_bytes());
    let shown = shows(other);
    t.check(
        r.is_ok() && shown.is_ok(),
        &format!("writing {other} changes node_id"),
        &format!(
            "write: {}; {}",
            guest::describe(&r),
            shown.err().unwrap_or_default()
        ),
    );

    for (id, label) in [(NODE_ID_MIN, "NODE_ID_MIN"), (NODE_ID_MAX, "NODE_ID_MAX")] {
        // Without the newline this time: both forms must be accepted.
        let r = guest::write_sysfs("node_id", id.to_string().as_bytes());
        let shown = shows(id);
        t.check(
            r.is_ok() && shown.is_ok(),
            &format!("{label} ({id}) is accepted"),
            &format!(
                "write: {}; {}",
                guest::describe(&r),
                shown.err().unwrap_or_default()
            ),
        );
    }

    let r = guest::write_sysfs("node_id", orig.to_string().as_bytes());
    let shown = shows(orig);
    t.check(
        r.is_ok() && shown.is_ok(),
        &format!("node_id restored to {orig}"),
        &format!(
            "write: {}; {}",
            guest::describe(&r),
            shown.err().unwrap_or_default()
        ),
    );
    repair(orig);

    for (label, bytes) in &bad {
        let name = format!("node_id refuses {label}");
        let r = guest::write_sysfs("node_id", bytes);
        let unchanged = shows(orig);
        // sysfs drops an empty write before the module sees it (write
        // returns 0), so for "" only the unchanged value matters. Writes
        // longer than a page are refused by sysfs itself with E2BIG.
        let refused = if bytes.is_empty() {
            true
        } else if bytes.len() > 4096 {
            r.as_ref().is_err_and(|e| errno_is(e, &[EINVAL, E2BIG]))
        } else {
            r.as_ref().is_err_and(|e| errno_is(e, &[EINVAL]))
        };
        t.check(
            refused && unchanged.is_ok(),
            &name,
            &format!(
                "write: {}; {}",
                guest::describe(&r),
                unchanged.err().unwrap_or_else(|| "value unchanged".into())
            ),
        );
        repair(orig);
    }

    let other_s = format!("{other}\n");
    let child_ok = guest::as_user(NOBODY, || {
        match OpenOptions::new()
            .write(true)
            .open(guest::sysfs_path("node_id"))
        {
            Err(e) if errno_is(&e, &[EACCES, EPERM]) => true,
            Err(e) => {
                ktap::diag(&format!(
                    "uid {NOBODY}: open for write failed with unexpected {}",
                    errno_name(&e)
                ));
                false
            }
            Ok(mut f) => {
                let w = f.write(other_s.as_bytes());
                ktap::diag(&format!(
                    "uid {NOBODY}: open for write succeeded; write: {w:?}"
                ));
                false
            }
        }
    });
    let unchanged = shows(orig);
    t.check(
        child_ok && unchanged.is_ok(),
        &format!("uid {NOBODY} cannot write node_id"),
        &unchanged.err().unwrap_or_else(|| "value unchanged".into()),
    );
    repair(orig);

    for (attr, want) in [
        ("node_id", format!("{orig}\n")),
        ("state", "up\n".to_string()),
        ("version", format!("{ROAM_VERSION}\n")),
    ] {
        let ok = guest::as_user(NOBODY, || match guest::read_sysfs(attr) {
            Ok(s) if s == want => true,
            other => {
                ktap::diag(&format!(
                    "uid {NOBODY} read {attr}: {other:?}, want {want:?}"
                ));
                false
            }
        });
        t.check(ok, &format!("uid {NOBODY} can read {attr}"), "");
    }

    root_cannot_write(&mut t, "version");
    root_cannot_write(&mut t, "state");

    repair(orig);
    t.finish()
}
