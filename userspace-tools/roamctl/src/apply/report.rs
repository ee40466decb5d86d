//! What `roamctl apply` prints: one write per line for people
//! ([`format_human`]) or one line of JSON ([`format_json`]). The key is
//! never shown.
//!
//! Calls [`super::check`] and [`super::writes`]; writes nothing.

use serde::Serialize;

use super::check::Cluster;
use super::writes::shown_value;
use crate::sysfs::SysfsWrite;

fn peers_phrase(n: usize) -> String {
    match n {
        0 => "no peers".to_string(),
        1 => "1 peer".to_string(),
        n => format!("{n} peers"),
    }
}

/// What was (or would be) done, one write per line (no trailing newline).
pub fn format_human(file: &str, applied: bool, c: &Cluster, writes: &[SysfsWrite]) -> String {
    let who = format!("node {} ({}) with {}", c.me.id, c.me.addr(), peers_phrase(c.peers.len()));
    let mut out = if applied {
        format!("applied {file}: this is {who}; wrote:")
    } else {
        format!("{file} is valid: this is {who}; apply would write:")
    };
    let w = writes.iter().map(|(f, _)| f.len()).max().unwrap_or(0);
    for write in writes {
        out.push_str(&format!("\n  {:<w$}  {}", write.0, shown_value(write)));
    }
    out
}

#[derive(Serialize)]
struct ApplyJson<'a> {
    file: &'a str,
    applied: bool,
    node: u32,
    listen: String,
    peers: Vec<PeerJson>,
    writes: Vec<WriteJson<'a>>,
}

#[derive(Serialize)]
struct PeerJson {
    id: u32,
    addr: String,
}

#[derive(Serialize)]
struct WriteJson<'a> {
    file: &'a str,
    value: String,
}

/// One line of JSON: `{"file":..,"applied":..,"node":..,"listen":..,
/// "peers":[{"id":..,"addr":..}],"writes":[{"file":..,"value":..}]}`.
pub fn format_json(file: &str, applied: bool, c: &Cluster, writes: &[SysfsWrite]) -> String {
    let doc = ApplyJson {
        file,
        applied,
        node: c.me.id,
        listen: c.me.addr(),
        peers: c.peers.iter().map(|p| PeerJson { id: p.id, addr: p.addr() }).collect(),
        writes: writes.iter().map(|w| WriteJson { file: w.0, value: shown_value(w) }).collect(),
    };
    serde_json::to_string(&doc).expect("strings and numbers always serialize")
}
