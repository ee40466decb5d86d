//! Tests of `roamctl apply`: the checks of the cluster and key files,
//! the plan, and whole runs against a fake sysfs directory.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use roam_proto::config::MAX_PEERS;

use super::check::pick_me;
use super::*;
use crate::sysfs::testdir::TempDir;
use crate::sysfs::SysfsWrite;

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
