//! The sysfs writes that apply a checked [`Cluster`]: their order
//! ([`plan`]), how one is shown without the key ([`shown_value`]), and
//! performing them ([`execute`]) with an error that says how far it got.
//!
//! Calls [`super::check`] for the cluster and [`crate::sysfs`] for the
//! writes.

use std::path::Path;

use super::check::Cluster;
use crate::error::CtlError;
use crate::sysfs::{self, SysfsWrite};

/// The sysfs writes that configure this node, in order: stop the
/// transport, set id and key, replace the peers, set tunables, and last
/// listen on this node's own address.
pub fn plan(c: &Cluster, key_hex: &str) -> Vec<SysfsWrite> {
    let mut w: Vec<SysfsWrite> = vec![
        ("listen", "off".to_string()),
        ("node_id", c.me.id.to_string()),
        ("key", key_hex.to_string()),
        ("peers", "clear".to_string()),
    ];
    w.extend(c.peers.iter().map(|p| ("peers", format!("add {} {}", p.id, p.addr()))));
    w.extend(c.tunables.iter().cloned());
    w.push(("listen", c.me.addr()));
    w
}

/// A write's value as shown to people: the key is never shown.
pub fn shown_value(w: &SysfsWrite) -> String {
    match w {
        ("key", hex) => format!("({}-byte key, not shown)", hex.len() / 2),
        (_, v) => v.clone(),
    }
}

/// Performs the plan on the sysfs directory `root`. A failure of the
/// first write has changed nothing and is reported as such; a later one
/// names the write and says the transport is left stopped.
pub fn execute(root: &Path, writes: &[SysfsWrite]) -> Result<(), CtlError> {
    sysfs::execute(root, writes).map_err(|e| {
        let w = &writes[e.index];
        let path = root.join(w.0);
        if e.index == 0 {
            return sysfs::classify(root, &format!("write to {}", path.display()), &e.err);
        }
        CtlError::ApplyFailed {
            step: e.index + 1,
            total: writes.len(),
            write: format!("`{}` to {}", shown_value(w), path.display()),
            detail: sysfs::write_errno_meaning(&e.err),
        }
    })
}
