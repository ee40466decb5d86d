//! The `roamtop` binary against a fake sysfs directory (`ROAM_SYSFS`).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let d = std::env::temp_dir().join(format!("roamtop-test-{}-{tag}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        Dir(d)
    }

    fn file(&self, name: &str, text: &str) {
        fs::write(self.0.join(name), text).unwrap();
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn roamtop(root: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_roamtop")).args(args).env("ROAM_SYSFS", root).output().unwrap()
}

fn fake_node(tag: &str) -> Dir {
    let d = Dir::new(tag);
    d.file("node_id", "1\n");
    d.file(
        "nodes",
        "node=1 addr=*:7077 self=1 state=up load=530 speed=1000 ncpus=1 free_mem_mb=957 age_ms=0\n\
         node=2 addr=10.77.0.2:7077 self=0 state=up load=2000 speed=1000 ncpus=1 free_mem_mb=880 age_ms=340\n\
         node=3 addr=10.77.0.3:7077 self=0 state=down load=- speed=- ncpus=- free_mem_mb=- age_ms=-\n",
    );
    d.file("guests", "pid=85 home=2 home_pid=70 comm=cruncher\n");
    d.file("away", "pid=40 node=2 remote_pid=91\n");
    d.file("balancer", "context_switches 900\nmigrations_started 3\nmigrations_done 2\n");
    d.file("events", "seq=1 ms=1500 pid=40 comm=migrate_work from=1 to=2 cause=load result=ok\n");
    d
}

#[test]
fn once_prints_one_frame_with_bars_and_nodes() {
    let d = fake_node("once");
    let o = roamtop(d.path(), &["--once"]);
    assert!(o.status.success(), "{o:?}");
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(!text.contains('\x1b'), "no escape sequences with --once: {text:?}");
    assert!(text.starts_with("roamtop: node 1, 2 of 3 nodes up\n"), "{text}");
    // The scale is the busiest node: 2.00 CPUs fills the 30 characters.
    assert!(text.contains("\n1*    up     [########                      ]  0.53  957 "), "{text}");
    assert!(text.contains("\n2     up     [##############################]  2.00  880 "), "{text}");
    assert!(text.contains("\n3     down   [                              ]  -     -"), "{text}");
    assert!(text.contains("a full bar is a load of 2.00 CPUs"), "{text}");
    assert!(text.contains("balancer: -/s done; 2 done, 3 started, 900 context switches seen"), "{text}");
    assert!(text.contains("\nGUESTS: 1 from other nodes running here\n"), "{text}");
    assert!(text.contains("\n85   2     70        cruncher\n"), "{text}");
    assert!(text.contains("migrate_work        1     2  load     ok"), "{text}");
    // Either the real process list (a host with /dev/roam) or the
    // processes away from sysfs.
    if Path::new("/dev/roam").exists() {
        assert!(text.contains("\nPROCESSES: "), "{text}");
    } else {
        assert!(text.contains("PROCESSES: not available (/dev/roam is absent)"), "{text}");
        assert!(text.contains("\n40   2     91\n"), "{text}");
    }
}

#[test]
fn iterations_compute_rates_from_the_second_frame() {
    let d = fake_node("iter");
    let o = roamtop(d.path(), &["--iterations", "2", "--interval", "0.2"]);
    assert!(o.status.success(), "{o:?}");
    let text = String::from_utf8(o.stdout).unwrap();
    let frames: Vec<&str> = text.split("roamtop: node 1").skip(1).collect();
    assert_eq!(frames.len(), 2, "{text}");
    assert!(frames[0].contains("every 0.2 s"), "{text}");
    assert!(frames[0].contains("migrations started here: -/s (rates from the second frame on)"), "{text}");
    assert!(frames[1].contains("migrations started here: 0.00/s;"), "{text}");
    assert!(frames[1].contains("balancer: 0.00/s done"), "{text}");
}

#[test]
fn missing_files_and_module() {
    let d = Dir::new("bare");
    let o = roamtop(d.path(), &["--once"]);
    assert!(o.status.success(), "{o:?}");
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.starts_with("roamtop: node ? (no node id)\n"), "{text}");
    assert!(text.contains("NODES: not available: the loaded module has no `nodes` file"), "{text}");

    let o = roamtop(&d.path().join("gone"), &["--once"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&o.stderr).starts_with("roamtop: roam is not loaded on this node"), "{o:?}");
    assert!(o.stdout.is_empty());
}
