//! Reading and checking what `roamctl apply` is given: the TOML cluster
//! file ([`ClusterDoc`]) becomes a checked [`Cluster`] seen from this
//! node, and the key file its hex digits. Reads files, writes nothing.
//!
//! Calls the module's own rules (`roam_proto::config`, `roam_proto::abi`)
//! so that what passes here passes there.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use roam_proto::abi::{NODE_ID_MAX, NODE_ID_MIN};
use roam_proto::config::{
    check_new_peer, fmt_ipv4, parse_addr, parse_key_hex, trim_nl, ConfigError, DEFAULT_PORT,
    KEY_MAX, MAX_PEERS,
};
use serde::Deserialize;

use crate::error::CtlError;
use crate::sysfs::SysfsWrite;

/// The cluster file as written. Numbers are read as `i64` so that an out
/// of range value gets our message rather than a type error.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterDoc {
    pub key_file: String,
    pub port: Option<i64>,
    pub interval_ms: Option<i64>,
    pub down_after_ms: Option<i64>,
    pub vector_size: Option<i64>,
    pub speed: Option<i64>,
    pub decay: Option<Vec<i64>>,
    /// Automatic load balancing on this node (default on).
    pub balance: Option<bool>,
    pub stability_margin: Option<i64>,
    pub min_age_ms: Option<i64>,
    pub min_residency_ms: Option<i64>,
    pub max_guests: Option<i64>,
    #[serde(default)]
    pub node: Vec<NodeDoc>,
}

/// One `[[node]]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeDoc {
    pub id: i64,
    pub addr: String,
}

/// Single-valued tunables, in the order they are written, with the range
/// the module accepts.
pub const TUNABLES: [(&str, i64, i64); 8] = [
    ("interval_ms", 100, 60_000),
    ("down_after_ms", 500, 600_000),
    ("vector_size", 2, 32),
    ("speed", 1, 1_000_000),
    ("stability_margin", 0, 100_000),
    ("min_age_ms", 0, 86_400_000),
    ("min_residency_ms", 0, 86_400_000),
    ("max_guests", 0, 256),
];

/// Range of each of `decay`'s two factors.
pub const DECAY_RANGE: (i64, i64) = (1, 999);

/// A node with a checked id and address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Member {
    pub id: u32,
    pub ip: u32,
    pub port: u16,
}

impl Member {
    /// `IP:PORT`.
    pub fn addr(&self) -> String {
        addr_str(self.ip, self.port)
    }
}

/// A checked cluster file, seen from one node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cluster {
    /// This node.
    pub me: Member,
    /// Every other node, in file order.
    pub peers: Vec<Member>,
    /// Tunable writes (`name`, value), in [`TUNABLES`] order then `decay`.
    pub tunables: Vec<SysfsWrite>,
    /// The key file, resolved against the cluster file's directory.
    pub key_path: PathBuf,
}

/// `IP:PORT` from a host-order address.
pub fn addr_str(ip: u32, port: u16) -> String {
    let mut s = String::new();
    fmt_ipv4(ip, &mut s).expect("writing to a String cannot fail");
    format!("{s}:{port}")
}

/// 1-based line and column of byte `offset` in `text`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// Parses the TOML; unknown keys are refused by name.
pub fn parse_doc(text: &str) -> Result<ClusterDoc, String> {
    toml::from_str(text).map_err(|e| {
        let at = e
            .span()
            .map(|s| {
                let (line, col) = line_col(text, s.start);
                format!(" at line {line}, column {col}")
            })
            .unwrap_or_default();
        format!("invalid TOML{at}: {}", e.message().trim())
    })
}

fn in_range(name: &str, v: i64, lo: i64, hi: i64) -> Result<i64, String> {
    if (lo..=hi).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{name} {v} is out of range {lo}..={hi}"))
    }
}

/// The tunable writes the document asks for.
fn check_tunables(doc: &ClusterDoc) -> Result<Vec<SysfsWrite>, String> {
    let mut out = Vec::new();
    let values = [
        doc.interval_ms,
        doc.down_after_ms,
        doc.vector_size,
        doc.speed,
        doc.stability_margin,
        doc.min_age_ms,
        doc.min_residency_ms,
        doc.max_guests,
    ];
    for ((name, lo, hi), v) in TUNABLES.iter().zip(values) {
        if let Some(v) = v {
            out.push((*name, in_range(name, v, *lo, *hi)?.to_string()));
        }
    }
    if let Some(decay) = &doc.decay {
        let [slow, fast] = decay.as_slice() else {
            return Err(format!("decay must be [SLOW, FAST], got {} values", decay.len()));
        };
        let (lo, hi) = DECAY_RANGE;
        let slow = in_range("decay SLOW", *slow, lo, hi)?;
        let fast = in_range("decay FAST", *fast, lo, hi)?;
        out.push(("decay", format!("{slow} {fast}")));
    }
    if let Some(b) = doc.balance {
        out.push(("balance", if b { "1" } else { "0" }.to_string()));
    }
    Ok(out)
}

/// Checks ids and addresses of all nodes, in file order. Each node is
/// checked against the ones before it with the module's own rule
/// ([`check_new_peer`]), so what passes here passes there.
fn check_members(nodes: &[NodeDoc], port: u16) -> Result<Vec<Member>, String> {
    if nodes.is_empty() {
        return Err("no [[node]] entries; list at least this node".to_string());
    }
    if nodes.len() > MAX_PEERS + 1 {
        return Err(format!(
            "too many nodes: {} (at most {}: this node and {MAX_PEERS} peers)",
            nodes.len(),
            MAX_PEERS + 1
        ));
    }
    let mut members: Vec<Member> = Vec::with_capacity(nodes.len());
    for n in nodes {
        let id = in_range("node id", n.id, NODE_ID_MIN.into(), NODE_ID_MAX.into())? as u32;
        let (ip, port) = parse_addr(n.addr.as_bytes(), port).map_err(|e| {
            let (addr, why) = (&n.addr, e.reason());
            format!("node {id}: bad addr \"{addr}\": {why}; write \"IP\" or \"IP:PORT\"")
        })?;
        let before = members.iter().map(|m| (m.id, m.ip, m.port));
        // `me` 0 is no node's id and count 0 is never full: only the
        // duplicate checks apply here; the count was checked above.
        match check_new_peer(0, before, 0, id, ip, port) {
            Ok(()) => {}
            Err(ConfigError::DuplicateId) => return Err(format!("duplicate node id {id}")),
            Err(ConfigError::DuplicateAddr) => {
                let same = |m: &&Member| m.ip == ip && m.port == port;
                let other = members.iter().find(same).map_or(0, |m| m.id);
                return Err(format!(
                    "duplicate node address {} (nodes {other} and {id})",
                    addr_str(ip, port)
                ));
            }
            Err(e) => return Err(format!("node {id}: {}", e.reason())),
        }
        members.push(Member { id, ip, port });
    }
    Ok(members)
}

/// Which member this machine is: `--node`, else the one node with one of
/// this machine's addresses. `local_ips` is only asked without `--node`.
pub(super) fn pick_me(
    members: &[Member],
    node: Option<u32>,
    local_ips: impl FnOnce() -> io::Result<Vec<u32>>,
) -> Result<Member, String> {
    let ids = |ms: &[&Member]| ms.iter().map(|m| m.id.to_string()).collect::<Vec<_>>().join(", ");
    if let Some(id) = node {
        return members.iter().find(|m| m.id == id).copied().ok_or_else(|| {
            let all: Vec<&Member> = members.iter().collect();
            format!("node {id} (from --node) is not listed; it lists nodes {}", ids(&all))
        });
    }
    let ips = local_ips()
        .map_err(|e| format!("cannot list this machine's addresses ({e}); pass --node ID"))?;
    let mine: Vec<&Member> = members.iter().filter(|m| ips.contains(&m.ip)).collect();
    match mine.as_slice() {
        [one] => Ok(**one),
        [] => Err("cannot tell which node this is; pass --node ID".to_string()),
        many => Err(format!(
            "several nodes ({}) have an address of this machine; pass --node ID",
            ids(many)
        )),
    }
}

/// Where `key_file` is: as written when absolute, else relative to the
/// directory holding the cluster file.
pub fn resolve_key_path(file: &Path, key_file: &str) -> PathBuf {
    let k = Path::new(key_file);
    if k.is_absolute() {
        return k.to_path_buf();
    }
    match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.join(k),
        _ => k.to_path_buf(),
    }
}

/// Checks everything in the document but the key file's contents.
pub fn check_doc(
    doc: &ClusterDoc,
    file: &Path,
    node: Option<u32>,
    local_ips: impl FnOnce() -> io::Result<Vec<u32>>,
) -> Result<Cluster, String> {
    let port = match doc.port {
        Some(p) => in_range("port", p, 1, 65535)? as u16,
        None => DEFAULT_PORT,
    };
    let tunables = check_tunables(doc)?;
    let members = check_members(&doc.node, port)?;
    let me = pick_me(&members, node, local_ips)?;
    let peers: Vec<Member> = members.into_iter().filter(|m| m.id != me.id).collect();
    if doc.key_file.is_empty() {
        return Err("key_file is empty".to_string());
    }
    Ok(Cluster { me, peers, tunables, key_path: resolve_key_path(file, &doc.key_file) })
}

/// Checks a key file's mode and contents; returns the key's hex digits.
pub fn check_key(path: &Path, mode: u32, contents: &[u8]) -> Result<String, String> {
    if mode & 0o077 != 0 {
        return Err(format!(
            "key file {} is readable by others (mode {:04o}); chmod 600 it",
            path.display(),
            mode & 0o7777
        ));
    }
    let mut scratch = [0u8; KEY_MAX];
    parse_key_hex(contents, &mut scratch).map_err(|e| {
        format!(
            "key file {} does not hold a valid key: {}; make one with `roamctl keygen`",
            path.display(),
            e.reason()
        )
    })?;
    Ok(String::from_utf8_lossy(trim_nl(contents)).into_owned())
}

/// Reads and checks the key file.
pub fn read_key(path: &Path) -> Result<String, String> {
    let cannot = |e: io::Error| {
        let hint = match e.kind() {
            io::ErrorKind::PermissionDenied => "; run roamctl as root",
            _ => "",
        };
        format!("cannot read key file {}: {e}{hint}", path.display())
    };
    let meta = fs::metadata(path).map_err(cannot)?;
    if !meta.is_file() {
        return Err(format!("key file {} is not a regular file", path.display()));
    }
    let contents = fs::read(path).map_err(cannot)?;
    check_key(path, meta.permissions().mode(), &contents)
}

/// Reads and checks the cluster file and its key file; returns the
/// cluster and the key's hex digits. Changes nothing.
pub fn validate(
    file: &Path,
    node: Option<u32>,
    local_ips: impl FnOnce() -> io::Result<Vec<u32>>,
) -> Result<(Cluster, String), CtlError> {
    let refuse = |problem: String| CtlError::Config { file: file.display().to_string(), problem };
    let text = fs::read_to_string(file).map_err(|e| refuse(format!("cannot read it: {e}")))?;
    let doc = parse_doc(&text).map_err(refuse)?;
    let cluster = check_doc(&doc, file, node, local_ips).map_err(refuse)?;
    let key = read_key(&cluster.key_path).map_err(refuse)?;
    Ok((cluster, key))
}
