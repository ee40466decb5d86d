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

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use roam_proto::abi::{NODE_ID_MAX, NODE_ID_MIN};
use roam_proto::config::{
    check_new_peer, fmt_ipv4, parse_addr, parse_key_hex, trim_nl, ConfigError, DEFAULT_PORT,
    KEY_MAX, MAX_PEERS,
};
use serde::{Deserialize, Serialize};

use crate::error::CtlError;
use crate::netif;
use crate::sysfs::{self, SysfsWrite};

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
fn pick_me(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sysfs::testdir::TempDir;

    const KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    const BASIC: &str = r#"
key_file = "cluster.key"
[[node]]
id = 1
addr = "10.77.0.1"
[[node]]
id = 2
addr = "10.77.0.2"
"#;

    fn no_ips() -> io::Result<Vec<u32>> {
        panic!("local addresses must not be needed when --node is given")
    }

    /// `check_doc` of `text` as node `node`, or its error.
    fn check(text: &str, node: Option<u32>) -> Result<Cluster, String> {
        let doc = parse_doc(text)?;
        check_doc(&doc, Path::new("/etc/roam/cluster.toml"), node, || Ok(vec![0x7f00_0001]))
    }

    fn err(text: &str, node: Option<u32>) -> String {
        check(text, node).unwrap_err()
    }

    fn m(id: u32, ip: u32, port: u16) -> Member {
        Member { id, ip, port }
    }

    /// A cluster file and a 0600 key file in a fresh directory.
    fn files(toml: &str) -> (TempDir, PathBuf) {
        let d = TempDir::new("apply");
        let key = d.file("cluster.key", &format!("{KEY}\n"));
        fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
        let file = d.file("cluster.toml", toml);
        (d, file)
    }

    /// A directory standing in for /sys/kernel/roam.
    fn fake_sysfs() -> TempDir {
        let d = TempDir::new("sysfs");
        for f in ["listen", "node_id", "key", "peers", "interval_ms", "decay"] {
            d.file(f, "");
        }
        d
    }

    #[test]
    fn basic_file_plans_the_writes_in_order() {
        let c = check(BASIC, Some(1)).unwrap();
        assert_eq!(c.me, m(1, 0x0a4d_0001, 7077));
        assert_eq!(c.peers, vec![m(2, 0x0a4d_0002, 7077)]);
        assert_eq!(c.key_path, PathBuf::from("/etc/roam/cluster.key"));
        let want: Vec<SysfsWrite> = vec![
            ("listen", "off".into()),
            ("node_id", "1".into()),
            ("key", KEY.into()),
            ("peers", "clear".into()),
            ("peers", "add 2 10.77.0.2:7077".into()),
            ("listen", "10.77.0.1:7077".into()),
        ];
        assert_eq!(plan(&c, KEY), want);
    }

    #[test]
    fn full_file_plans_tunables_before_listen() {
        let text = r#"
key_file = "/k"
port = 9000
interval_ms = 1000
down_after_ms = 5000
vector_size = 8
speed = 2000
decay = [975, 926]
[[node]]
id = 3
addr = "10.0.0.3:9100"
[[node]]
id = 1
addr = "10.0.0.1"
[[node]]
id = 2
addr = "10.0.0.2:9001"
"#;
        let c = check(text, Some(1)).unwrap();
        let got: Vec<String> = plan(&c, KEY).iter().map(|(f, v)| format!("{f}={v}")).collect();
        assert_eq!(
            got,
            [
                "listen=off",
                "node_id=1",
                &format!("key={KEY}"),
                "peers=clear",
                "peers=add 3 10.0.0.3:9100",
                "peers=add 2 10.0.0.2:9001",
                "interval_ms=1000",
                "down_after_ms=5000",
                "vector_size=8",
                "speed=2000",
                "decay=975 926",
                "listen=10.0.0.1:9000",
            ]
        );
        assert_eq!(c.key_path, PathBuf::from("/k"));
        let c = check(text, Some(3)).unwrap();
        assert_eq!(plan(&c, KEY).last().unwrap(), &("listen", "10.0.0.3:9100".to_string()));
    }

    #[test]
    fn single_node_is_enough() {
        let c = check("key_file = \"k\"\n[[node]]\nid = 5\naddr = \"10.0.0.5\"\n", Some(5)).unwrap();
        assert!(c.peers.is_empty());
    }

    #[test]
    fn toml_syntax_errors_give_the_line() {
        let e = err("key_file = \"k\"\n[[node]\nid = 1\n", Some(1));
        assert!(e.starts_with("invalid TOML at line 2, column"), "{e}");
        let e = err("key_file = \n", Some(1));
        assert!(e.starts_with("invalid TOML at line 1"), "{e}");
    }

    #[test]
    fn unknown_keys_are_refused_by_name() {
        let e = err(&format!("colour = \"blue\"\n{BASIC}"), Some(1));
        assert!(e.contains("unknown field `colour`"), "{e}");
        assert!(e.contains("line 1"), "{e}");
        let e = err(&format!("{BASIC}weight = 3\n"), Some(1));
        assert!(e.contains("unknown field `weight`"), "{e}");
        let e = err("[[node]]\nid = 1\naddr = \"10.0.0.1\"\n", Some(1));
        assert!(e.contains("missing field `key_file`"), "{e}");
        let e = err("key_file = \"k\"\n[[node]]\nid = 1\n", Some(1));
        assert!(e.contains("missing field `addr`"), "{e}");
        let e = err("key_file = \"k\"\nport = \"7077\"\n[[node]]\nid = 1\naddr = \"10.0.0.1\"\n", Some(1));
        assert!(e.starts_with("invalid TOML at line 2"), "{e}");
    }

    #[test]
    fn node_count() {
        assert_eq!(err("key_file = \"k\"\n", Some(1)), "no [[node]] entries; list at least this node");
        let mut text = String::from("key_file = \"k\"\n");
        for i in 1..=MAX_PEERS + 2 {
            text.push_str(&format!("[[node]]\nid = {i}\naddr = \"10.0.{}.{}\"\n", i / 200, i % 200 + 1));
        }
        assert_eq!(err(&text, Some(1)), "too many nodes: 66 (at most 65: this node and 64 peers)");
        let shorter = text.rsplit_once("[[node]]").unwrap().0;
        assert_eq!(check(shorter, Some(1)).unwrap().peers.len(), MAX_PEERS);
    }

    #[test]
    fn node_ids_in_range_and_unique() {
        let dup = format!("{BASIC}[[node]]\nid = 2\naddr = \"10.77.0.3\"\n");
        assert_eq!(err(&dup, Some(1)), "duplicate node id 2");
        for id in ["0", "65535", "-1"] {
            let text = format!("key_file = \"k\"\n[[node]]\nid = {id}\naddr = \"10.0.0.1\"\n");
            assert_eq!(err(&text, Some(1)), format!("node id {id} is out of range 1..=65534"));
        }
    }

    #[test]
    fn addresses_valid_and_unique() {
        let dup = format!("{BASIC}[[node]]\nid = 3\naddr = \"10.77.0.2:7077\"\n");
        assert_eq!(err(&dup, Some(1)), "duplicate node address 10.77.0.2:7077 (nodes 2 and 3)");
        // Same IP, other port: allowed (several nodes on one host).
        let other_port = format!("{BASIC}[[node]]\nid = 3\naddr = \"10.77.0.2:7078\"\n");
        assert_eq!(check(&other_port, Some(1)).unwrap().peers.len(), 2);
        // The global port makes "IP" and "IP:7000" the same address.
        let global = "key_file = \"k\"\nport = 7000\n[[node]]\nid = 1\naddr = \"10.0.0.1\"\n\
                      [[node]]\nid = 2\naddr = \"10.0.0.1:7000\"\n";
        assert_eq!(err(global, Some(1)), "duplicate node address 10.0.0.1:7000 (nodes 1 and 2)");
        for (addr, why) in [
            ("10.77.0.256", "value out of range"),
            ("0.0.0.0", "value out of range"),
            ("224.0.0.1", "value out of range"),
            ("10.77.0", "syntax error"),
            ("host.example", "syntax error"),
            ("10.0.0.1:0", "value out of range"),
            ("10.0.0.1:65536", "value out of range"),
            ("10.0.0.1:x", "syntax error"),
            ("", "syntax error"),
        ] {
            let text = format!("key_file = \"k\"\n[[node]]\nid = 4\naddr = \"{addr}\"\n");
            assert_eq!(
                err(&text, Some(4)),
                format!("node 4: bad addr \"{addr}\": {why}; write \"IP\" or \"IP:PORT\"")
            );
        }
    }

    #[test]
    fn which_node_am_i() {
        let members = [m(1, 0x0a4d_0001, 7077), m(2, 0x0a4d_0002, 7077), m(3, 0x0a4d_0002, 7078)];
        assert_eq!(pick_me(&members, Some(2), no_ips), Ok(members[1]));
        assert_eq!(
            pick_me(&members, Some(9), no_ips),
            Err("node 9 (from --node) is not listed; it lists nodes 1, 2, 3".to_string())
        );
        let ips = |v: Vec<u32>| move || -> io::Result<Vec<u32>> { Ok(v) };
        assert_eq!(pick_me(&members, None, ips(vec![0x7f00_0001, 0x0a4d_0001])), Ok(members[0]));
        assert_eq!(
            pick_me(&members, None, ips(vec![0x7f00_0001])),
            Err("cannot tell which node this is; pass --node ID".to_string())
        );
        assert_eq!(
            pick_me(&members, None, ips(vec![0x0a4d_0002])),
            Err("several nodes (2, 3) have an address of this machine; pass --node ID".to_string())
        );
        let e = pick_me(&members, None, || Err(io::Error::from_raw_os_error(libc::ENOMEM)));
        assert!(e.unwrap_err().ends_with("; pass --node ID"));
        // Through check_doc: 127.0.0.1 is this machine in `check`.
        assert_eq!(err(BASIC, None), "cannot tell which node this is; pass --node ID");
        let local = "key_file = \"k\"\n[[node]]\nid = 1\naddr = \"10.0.0.1\"\n\
                     [[node]]\nid = 7\naddr = \"127.0.0.1:7100\"\n";
        assert_eq!(check(local, None).unwrap().me, m(7, 0x7f00_0001, 7100));
    }

    #[test]
    fn tunables_in_range() {
        let with = |line: &str| format!("{line}\n{BASIC}");
        for (line, want) in [
            ("interval_ms = 99", "interval_ms 99 is out of range 100..=60000"),
            ("interval_ms = 60001", "interval_ms 60001 is out of range 100..=60000"),
            ("down_after_ms = 499", "down_after_ms 499 is out of range 500..=600000"),
            ("vector_size = 1", "vector_size 1 is out of range 2..=32"),
            ("vector_size = 33", "vector_size 33 is out of range 2..=32"),
            ("speed = 0", "speed 0 is out of range 1..=1000000"),
            ("speed = 1000001", "speed 1000001 is out of range 1..=1000000"),
            ("decay = [975]", "decay must be [SLOW, FAST], got 1 values"),
            ("decay = [1, 2, 3]", "decay must be [SLOW, FAST], got 3 values"),
            ("decay = [0, 926]", "decay SLOW 0 is out of range 1..=999"),
            ("decay = [975, 1000]", "decay FAST 1000 is out of range 1..=999"),
            ("port = 0", "port 0 is out of range 1..=65535"),
            ("port = 65536", "port 65536 is out of range 1..=65535"),
        ] {
            assert_eq!(err(&with(line), Some(1)), want, "{line}");
        }
        let ok = with("interval_ms = 100\ndown_after_ms = 600000\nvector_size = 32\nspeed = 1\ndecay = [1, 999]");
        assert_eq!(
            check(&ok, Some(1)).unwrap().tunables,
            vec![
                ("interval_ms", "100".to_string()),
                ("down_after_ms", "600000".to_string()),
                ("vector_size", "32".to_string()),
                ("speed", "1".to_string()),
                ("decay", "1 999".to_string()),
            ]
        );
        let e = err(&with("decay = \"975 926\""), Some(1));
        assert!(e.starts_with("invalid TOML at line 1"), "{e}");
    }

    #[test]
    fn key_paths() {
        let f = Path::new("/etc/roam/cluster.toml");
        assert_eq!(resolve_key_path(f, "/abs/k"), PathBuf::from("/abs/k"));
        assert_eq!(resolve_key_path(f, "k"), PathBuf::from("/etc/roam/k"));
        assert_eq!(resolve_key_path(f, "../k"), PathBuf::from("/etc/roam/../k"));
        assert_eq!(resolve_key_path(Path::new("cluster.toml"), "k"), PathBuf::from("k"));
        assert_eq!(resolve_key_path(Path::new("conf/c.toml"), "k"), PathBuf::from("conf/k"));
        assert_eq!(err("key_file = \"\"\n[[node]]\nid = 1\naddr = \"10.0.0.1\"\n", Some(1)), "key_file is empty");
    }

    #[test]
    fn key_checks() {
        let p = Path::new("/k");
        assert_eq!(check_key(p, 0o100600, format!("{KEY}\n").as_bytes()), Ok(KEY.to_string()));
        assert_eq!(check_key(p, 0o400, KEY.as_bytes()), Ok(KEY.to_string()));
        assert_eq!(check_key(p, 0o600, &KEY.as_bytes()[..32]), Ok(KEY[..32].to_string()));
        assert_eq!(
            check_key(p, 0o100644, KEY.as_bytes()),
            Err("key file /k is readable by others (mode 0644); chmod 600 it".to_string())
        );
        assert!(check_key(p, 0o640, KEY.as_bytes()).unwrap_err().contains("chmod 600 it"));
        assert!(check_key(p, 0o604, KEY.as_bytes()).unwrap_err().contains("chmod 600 it"));
        let bad = "key file /k does not hold a valid key: key must be 32 to 128 hex digits \
                   (16 to 64 bytes); make one with `roamctl keygen`";
        for contents in [&KEY[..30], "", &KEY[..63], "zz112233445566778899aabbccddeeff", &format!("{KEY}\n\n"), &format!("{KEY}{KEY}{KEY}")] {
            assert_eq!(check_key(p, 0o600, contents.as_bytes()), Err(bad.to_string()), "{contents:?}");
        }
    }

    #[test]
    fn validate_reads_the_files() {
        let (d, file) = files(BASIC);
        let (c, key) = validate(&file, Some(2), no_ips).unwrap();
        assert_eq!(key, KEY);
        assert_eq!(c.key_path, d.path().join("cluster.key"));
        assert_eq!(c.me.id, 2);

        let name = file.display().to_string();
        let refused = |problem: &str| CtlError::Config { file: name.clone(), problem: problem.to_string() };
        let key_path = d.path().join("cluster.key");
        fs::set_permissions(&key_path, fs::Permissions::from_mode(0o644)).unwrap();
        let e = validate(&file, Some(1), no_ips).unwrap_err();
        assert_eq!(
            e,
            refused(&format!("key file {} is readable by others (mode 0644); chmod 600 it", key_path.display()))
        );
        assert_eq!(e.exit_status(), 1);
        fs::remove_file(&key_path).unwrap();
        let e = validate(&file, Some(1), no_ips).unwrap_err().to_string();
        assert!(e.starts_with(&format!("{name}: cannot read key file {}: ", key_path.display())), "{e}");
        assert!(e.ends_with("; nothing was changed"), "{e}");

        let dup = d.file("dup.toml", &format!("{BASIC}[[node]]\nid = 2\naddr = \"10.77.0.9\"\n"));
        let e = validate(&dup, Some(1), no_ips).unwrap_err();
        assert_eq!(e.to_string(), format!("{}: duplicate node id 2; nothing was changed", dup.display()));
        let e = validate(&d.path().join("missing.toml"), Some(1), no_ips).unwrap_err();
        assert!(e.to_string().contains("missing.toml: cannot read it: "), "{e}");
    }

    #[test]
    fn apply_writes_sysfs_and_reports() {
        let (_d, file) = files(&format!("interval_ms = 500\n{BASIC}"));
        let sys = fake_sysfs();
        let out = run_at(sys.path(), &file, Some(1), false, false, no_ips).unwrap();
        assert_eq!(sys.read("listen"), "10.77.0.1:7077\n");
        assert_eq!(sys.read("node_id"), "1\n");
        assert_eq!(sys.read("key"), format!("{KEY}\n"));
        assert_eq!(sys.read("peers"), "add 2 10.77.0.2:7077\n");
        assert_eq!(sys.read("interval_ms"), "500\n");
        assert_eq!(sys.read("decay"), "", "not in the file, not written");
        let want = format!(
            "applied {}: this is node 1 (10.77.0.1:7077) with 1 peer; wrote:\n  \
             listen       off\n  \
             node_id      1\n  \
             key          (32-byte key, not shown)\n  \
             peers        clear\n  \
             peers        add 2 10.77.0.2:7077\n  \
             interval_ms  500\n  \
             listen       10.77.0.1:7077",
            file.display()
        );
        assert_eq!(out, want);
        assert!(!out.contains(KEY));
    }

    #[test]
    fn check_only_writes_nothing() {
        let (_d, file) = files(BASIC);
        let sys = fake_sysfs();
        let out = run_at(sys.path(), &file, Some(2), true, false, no_ips).unwrap();
        assert!(out.starts_with(&format!(
            "{} is valid: this is node 2 (10.77.0.2:7077) with 1 peer; apply would write:\n",
            file.display()
        )), "{out}");
        for f in ["listen", "node_id", "key", "peers"] {
            assert_eq!(sys.read(f), "", "{f}");
        }
        // An invalid file writes nothing either, with or without --check.
        let (_d, bad) = files(&format!("{BASIC}[[node]]\nid = 3\naddr = \"10.77.0.2\"\n"));
        for check_only in [true, false] {
            let e = run_at(sys.path(), &bad, Some(1), check_only, false, no_ips).unwrap_err();
            assert_eq!(e.code(), "config");
            assert_eq!(sys.read("listen"), "");
        }
    }

    #[test]
    fn json_summary() {
        let (_d, file) = files(BASIC);
        let sys = fake_sysfs();
        let out = run_at(sys.path(), &file, Some(1), true, true, no_ips).unwrap();
        let name = serde_json::to_string(&file.display().to_string()).unwrap();
        assert_eq!(
            out,
            format!(
                r#"{{"file":{name},"applied":false,"node":1,"listen":"10.77.0.1:7077","peers":[{{"id":2,"addr":"10.77.0.2:7077"}}],"writes":[{{"file":"listen","value":"off"}},{{"file":"node_id","value":"1"}},{{"file":"key","value":"(32-byte key, not shown)"}},{{"file":"peers","value":"clear"}},{{"file":"peers","value":"add 2 10.77.0.2:7077"}},{{"file":"listen","value":"10.77.0.1:7077"}}]}}"#
            )
        );
        let out = run_at(sys.path(), &file, Some(1), false, true, no_ips).unwrap();
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["applied"], true);
        assert!(!out.contains(KEY));
    }

    #[test]
    fn failure_midway_names_the_write() {
        let (_d, file) = files(BASIC);
        let sys = fake_sysfs();
        fs::remove_file(sys.path().join("peers")).unwrap();
        let e = run_at(sys.path(), &file, Some(1), false, false, no_ips).unwrap_err();
        let peers = sys.path().join("peers");
        assert_eq!(
            e,
            CtlError::ApplyFailed {
                step: 4,
                total: 6,
                write: format!("`clear` to {}", peers.display()),
                detail: sysfs::write_errno_meaning(&io::Error::from_raw_os_error(libc::ENOENT)),
            }
        );
        assert!(e.to_string().contains("left with the transport stopped"));
        assert_eq!(sys.read("listen"), "off\n", "stopped, never restarted");
        assert_eq!(sys.read("key"), format!("{KEY}\n"));

        // A failing key write does not show the key.
        let sys = fake_sysfs();
        fs::remove_file(sys.path().join("key")).unwrap();
        let e = run_at(sys.path(), &file, Some(1), false, true, no_ips).unwrap_err();
        assert!(matches!(e, CtlError::ApplyFailed { step: 3, .. }), "{e:?}");
        assert!(!e.to_string().contains(KEY) && !e.to_json().contains(KEY));
        assert!(e.to_string().contains("(32-byte key, not shown)"));
    }

    #[test]
    fn failure_of_the_first_write_changed_nothing() {
        let (d, file) = files(BASIC);
        let gone = d.path().join("no-sysfs");
        let e = run_at(&gone, &file, Some(1), false, false, no_ips).unwrap_err();
        assert_eq!(e, CtlError::SysfsMissing { root: gone.display().to_string() });
        assert_eq!(e.exit_status(), 3);
    }
}
