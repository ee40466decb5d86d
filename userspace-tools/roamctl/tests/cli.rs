//! The `roamctl` binary against a fake sysfs directory (`ROAM_SYSFS`):
//! `node`, `events`, their output and exit statuses.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let d = std::env::temp_dir().join(format!("roamctl-cli-{}-{tag}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        for (f, v) in [
            ("accept", "1\n"),
            ("stay", "0\n"),
            ("lstay", "0\n"),
            ("quiet", "0\n"),
            ("balance", "1\n"),
            ("expel", ""),
            ("bring", ""),
            ("guests", "pid=85 home=2 home_pid=70 comm=migrate_work\n"),
            ("away", ""),
            (
                "events",
                "seq=1 ms=1500 pid=80 comm=migrate_work from=1 to=2 cause=manual result=ok\n\
                 seq=2 ms=2750 pid=81 comm=migrate_work from=1 to=3 cause=load result=not-accepting\n",
            ),
        ] {
            fs::write(d.join(f), v).unwrap();
        }
        Dir(d)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn read(&self, f: &str) -> String {
        fs::read_to_string(self.0.join(f)).unwrap()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn roamctl(root: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_roamctl")).args(args).env("ROAM_SYSFS", root).output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn node_shows_and_sets_controls() {
    let d = Dir::new("node");
    let o = roamctl(d.path(), &["node"]);
    assert!(o.status.success());
    let text = stdout(&o);
    assert!(text.starts_with("block    off  this node takes guests\n"), "{text}");
    assert!(text.contains("\nguests   1    "), "{text}");

    let o = roamctl(d.path(), &["node", "block", "on"]);
    assert!(o.status.success());
    assert_eq!(stdout(&o), "block on: this node takes no new guests (was off)\n");
    assert_eq!(d.read("accept"), "0\n");

    let o = roamctl(d.path(), &["--json", "node", "quiet", "on"]);
    assert_eq!(stdout(&o), "{\"control\":\"quiet\",\"on\":true,\"was\":false,\"file\":\"quiet\",\"value\":\"1\"}\n");
    assert_eq!(d.read("quiet"), "1\n");

    let o = roamctl(d.path(), &["--json", "node"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!((v["block"].as_bool(), v["quiet"].as_bool(), v["guests"].as_u64()), (Some(true), Some(true), Some(1)));
}

#[test]
fn node_drain_reports_each_step() {
    let d = Dir::new("drain");
    let o = roamctl(d.path(), &["node", "drain"]);
    assert!(o.status.success(), "{o:?}");
    let text = stdout(&o);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines[0].starts_with("drain 1/3: block on"), "{text}");
    assert!(lines[1].starts_with("drain 2/3: expel: 1 guest sent home in "), "{text}");
    assert!(lines[2].starts_with("drain 3/3: bring: no process of this node was away"), "{text}");
    assert!(lines[3].starts_with("drained: "), "{text}");
    assert_eq!((d.read("accept"), d.read("expel"), d.read("bring")), ("0\n".into(), "1\n".into(), "1\n".into()));
}

#[test]
fn not_loaded_is_exit_3() {
    let d = Dir::new("gone");
    let gone = d.path().join("nothing-here");
    for args in [&["node"][..], &["node", "stay", "on"], &["node", "expel"], &["events"], &["events", "--follow"]] {
        let o = roamctl(&gone, args);
        assert_eq!(o.status.code(), Some(3), "{args:?}");
        assert!(String::from_utf8_lossy(&o.stderr).contains("roam is not loaded"), "{args:?}");
    }
    let o = roamctl(&gone, &["--json", "node", "drain"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(stdout(&o).starts_with(r#"{"error":"not_loaded","#));
}

#[test]
fn events_once_and_followed() {
    let d = Dir::new("events");
    let o = roamctl(d.path(), &["events"]);
    assert!(o.status.success());
    let text = stdout(&o);
    assert_eq!(text.lines().count(), 3, "{text}");
    assert!(text.lines().nth(2).unwrap().ends_with("load     not-accepting"), "{text}");

    let o = roamctl(d.path(), &["--json", "events"]);
    let lines: Vec<serde_json::Value> = stdout(&o).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1]["result"], "not-accepting");

    // Bounded by count: the two that are there, then stop.
    let o = roamctl(d.path(), &["--json", "events", "--follow", "--count", "2"]);
    assert!(o.status.success());
    assert_eq!(stdout(&o).lines().count(), 2);

    // Bounded by time, with a third event appearing meanwhile.
    let child = Command::new(env!("CARGO_BIN_EXE_roamctl"))
        .args(["--json", "events", "--follow", "--seconds", "2"])
        .env("ROAM_SYSFS", d.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(700));
    let mut all = d.read("events");
    all.push_str("seq=3 ms=4000 pid=82 comm=sh from=1 to=2 cause=expel result=ok\n");
    fs::write(d.path().join("events"), all).unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success());
    let seqs: Vec<u64> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [1, 2, 3]);
}
