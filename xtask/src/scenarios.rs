//! Cluster scenarios for the transport, membership and load exchange,
//! driven from the host across several guests: each step acts on some
//! nodes and checks real effects on others (views, counters), waiting on
//! conditions with bounded timeouts.

use crate::cluster::Cluster;
use crate::test::Tally;
use anyhow::{bail, Result};
use roam_tests::ktap;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(30);
pub(crate) const KEY_PATH: &str = "/etc/roam/cluster.key";
pub(crate) const TOML_PATH: &str = "/etc/roam/cluster.toml";

pub(crate) fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for c in data.chunks(3) {
        let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= c.len() {
                s.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

/// One parsed line of `/sys/kernel/roam/nodes`.
pub type NodeLine = BTreeMap<String, String>;

pub fn parse_nodes(text: &str) -> Vec<NodeLine> {
    text.lines()
        .filter(|l| l.starts_with("node="))
        .map(|l| l.split_whitespace().filter_map(|f| f.split_once('=')).map(|(k, v)| (k.into(), v.into())).collect())
        .collect()
}

pub fn parse_stats(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| l.split_once(' '))
        .filter_map(|(k, v)| v.trim().parse().ok().map(|v| (k.to_string(), v)))
        .collect()
}

struct Ctx<'a> {
    cl: &'a mut Cluster,
    tally: &'a mut Tally,
    key_hex: String,
    /// The debug kernel (KASAN, lockdep, ...): several times slower, and
    /// KASAN's shadow takes an eighth of guest memory.
    debug: bool,
}

impl Ctx<'_> {
    fn sh(&mut self, node: u32, cmd: &str) -> Result<crate::guest::Output> {
        self.cl.agents[(node - 1) as usize].run(cmd, T)
    }

    fn check(&mut self, name: String, ok: bool, detail: String) -> bool {
        println!("    {} {name}", if ok { "ok  " } else { "FAIL" });
        self.tally.add_case(name, ok, detail);
        ok
    }

    fn write_file(&mut self, node: u32, path: &str, content: &[u8], mode: &str) -> Result<()> {
        let cmd = format!("echo {} | base64 -d > {path} && chmod {mode} {path}", base64(content));
        let o = self.sh(node, &cmd)?;
        if o.rc != 0 {
            bail!("node {node}: cannot write {path}: {}", o.text);
        }
        Ok(())
    }

    fn nodes(&mut self, node: u32) -> Vec<NodeLine> {
        self.sh(node, "cat /sys/kernel/roam/nodes").map(|o| parse_nodes(&o.text)).unwrap_or_default()
    }

    fn stats(&mut self, node: u32) -> BTreeMap<String, u64> {
        self.sh(node, "cat /sys/kernel/roam/stats").map(|o| parse_stats(&o.text)).unwrap_or_default()
    }

    /// What `viewer` believes about node `id`: its `nodes` line.
    fn view_of(&mut self, viewer: u32, id: u32) -> Option<NodeLine> {
        self.nodes(viewer).into_iter().find(|l| l.get("node").map(|v| v == &id.to_string()).unwrap_or(false))
    }

    /// Polls `cond` every 500 ms until it holds or `limit` passes; returns
    /// the time it took.
    fn wait(&mut self, limit: Duration, mut cond: impl FnMut(&mut Self) -> bool) -> Option<Duration> {
        let start = Instant::now();
        loop {
            if cond(self) {
                return Some(start.elapsed());
            }
            if start.elapsed() > limit {
                return None;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    fn apply(&mut self, node: u32) -> Result<crate::guest::Output> {
        self.sh(node, &format!("roamctl apply {TOML_PATH}"))
    }

    fn up_in_view(&mut self, viewer: u32, id: u32) -> bool {
        self.view_of(viewer, id).map(|l| l.get("state").map(|s| s == "up").unwrap_or(false) && l.get("load").map(|v| v != "-").unwrap_or(false)).unwrap_or(false)
    }

    fn down_in_view(&mut self, viewer: u32, id: u32) -> bool {
        self.view_of(viewer, id).map(|l| l.get("state").map(|s| s == "down").unwrap_or(false)).unwrap_or(false)
    }

    fn all_see_all(&mut self, nodes: &[u32]) -> bool {
        for &v in nodes {
            for &o in nodes {
                if v != o && !self.up_in_view(v, o) {
                    return false;
                }
            }
        }
        true
    }

    fn sum_stat(&mut self, nodes: &[u32], name: &str) -> u64 {
        nodes.iter().map(|&n| self.stats(n).get(name).copied().unwrap_or(0)).sum()
    }
}

pub(crate) fn random_key() -> Result<String> {
    let mut b = [0u8; 32];
    use std::io::Read;
    std::fs::File::open("/dev/urandom")?.read_exact(&mut b)?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// The cluster file for `n` nodes; `balance` turns automatic balancing on.
pub(crate) fn cluster_toml(n: u32, balance: bool) -> String {
    let mut s = format!("key_file = \"{KEY_PATH}\"\nport = 7077\ninterval_ms = 1000\ndown_after_ms = 5000\nbalance = {balance}\n");
    for i in 1..=n {
        s.push_str(&format!("\n[[node]]\nid = {i}\naddr = \"{}.{i}\"\n", crate::cluster::NET));
    }
    s
}

pub fn run(cl: &mut Cluster, tally: &mut Tally, debug: bool) -> Result<()> {
    let n = cl.agents.len() as u32;
    if n < 4 {
        tally.add_case("cluster scenarios need 4 nodes".into(), false, format!("have {n}; run with --nodes 4"));
        return Ok(());
    }
    let mut c = Ctx { cl, tally, key_hex: random_key()?, debug };
    let all: Vec<u32> = (1..=n).collect();

    // Configure every node from one cluster file.
    // Balancing off: these scenarios move processes by hand; the
    // balancing scenario turns it on where it needs it.
    let toml = cluster_toml(n, false);
    for i in 1..=n {
        let key = c.key_hex.clone() + "\n";
        c.write_file(i, KEY_PATH, key.as_bytes(), "600")?;
        c.write_file(i, TOML_PATH, toml.as_bytes(), "644")?;
        let o = c.apply(i)?;
        c.check(format!("node{i}: roamctl apply configures the node"), o.rc == 0, o.text);
    }

    // Every node learns every other. The exchange sends to one random peer
    // per second and replies with the receiver's load, so with 4 nodes each
    // pair meets directly within a few intervals; allow 20.
    let took = c.wait(Duration::from_secs(20), |c| c.all_see_all(&all));
    let views: String = (1..=n).map(|i| format!("node {i}:\n{}", c.sh(i, "cat /sys/kernel/roam/nodes").map(|o| o.text).unwrap_or_default())).collect();
    c.check(
        format!("membership: every node sees every other up with its load within 20 s ({})", took.map(|d| format!("{:.1}s", d.as_secs_f64())).unwrap_or("never".into())),
        took.is_some(),
        views,
    );

    // Load on node 2 shows on node 1.
    c.sh(2, "(timeout 60 sh -c 'while :; do :; done' >/dev/null 2>&1 &)")?;
    let took = c.wait(Duration::from_secs(20), |c| {
        c.view_of(1, 2).and_then(|l| l.get("load").and_then(|v| v.parse::<u32>().ok())).map(|v| v >= 500).unwrap_or(false)
    });
    let seen = c.view_of(1, 2);
    c.check(
        format!("load: a busy loop on node 2 raises node 2's load as seen from node 1 (>= 0.5 within 20 s: {})", took.map(|d| format!("{:.1}s", d.as_secs_f64())).unwrap_or("never".into())),
        took.is_some(),
        format!("node 1's view of node 2: {seen:?}"),
    );
    let _ = c.sh(2, "pkill -f 'while :' ; true");

    // A node with the wrong key is refused by all, and nothing else changes.
    let others = [1u32, 2, 3];
    let bad_mac_before = c.sum_stat(&others, "rejected_bad_mac");
    let mut wrong = c.key_hex.clone().into_bytes();
    wrong[0] = if wrong[0] == b'0' { b'1' } else { b'0' };
    let wrong = String::from_utf8(wrong)?;
    let o = c.sh(4, &format!("cd /sys/kernel/roam && echo off > listen && echo {wrong} > key && echo {}.4:7077 > listen", crate::cluster::NET))?;
    c.check("wrong key: node 4 restarts its transport with another key".into(), o.rc == 0, o.text);
    let rose = c.wait(Duration::from_secs(20), |c| c.sum_stat(&others, "rejected_bad_mac") > bad_mac_before);
    c.check("wrong key: nodes 1-3 count rejected_bad_mac".into(), rose.is_some(), format!("before {bad_mac_before}"));
    let down = c.wait(Duration::from_secs(30), |c| c.down_in_view(1, 4) && c.down_in_view(2, 4));
    let v = format!("{:?}", c.view_of(1, 4));
    c.check("wrong key: node 4 is down as seen from nodes 1 and 2".into(), down.is_some(), v);
    let rest = c.all_see_all(&others);
    let views: String = others.iter().map(|&i| format!("node {i}:\n{}", c.sh(i, "cat /sys/kernel/roam/nodes; dmesg | grep -E 'roam: node [0-9]+ (is|left)' | tail -n 8").map(|o| o.text).unwrap_or_default())).collect();
    c.check("wrong key: nodes 1-3 still see each other up".into(), rest, views);
    let o = c.apply(4)?;
    let back = o.rc == 0 && c.wait(Duration::from_secs(30), |c| c.up_in_view(1, 4) && c.up_in_view(4, 1)).is_some();
    c.check("wrong key: with the right key again node 4 rejoins".into(), back, o.text);

    // Duplicate ids and addresses are refused loudly.
    for (cmd, what) in [
        ("add 2 10.77.0.9", "an existing node id"),
        ("add 1 10.77.0.9", "this node's own id"),
        ("add 9 10.77.0.2", "an existing node address"),
        ("add 9 10.77.0", "a malformed address"),
    ] {
        let before = c.sh(1, "cat /sys/kernel/roam/peers").map(|o| o.text).unwrap_or_default();
        let o = c.sh(1, &format!("echo '{cmd}' > /sys/kernel/roam/peers"))?;
        let after = c.sh(1, "cat /sys/kernel/roam/peers").map(|o| o.text).unwrap_or_default();
        let dmesg = c.sh(1, "dmesg | tail -n 3").map(|o| o.text).unwrap_or_default();
        c.check(
            format!("config: a peer with {what} is refused and nothing changes"),
            o.rc != 0 && before == after && dmesg.contains("refused"),
            format!("rc {} out {}\ndmesg: {dmesg}", o.rc, o.text),
        );
    }
    let mismatch_before = c.stats(1).get("rejected_addr_mismatch").copied().unwrap_or(0);
    let o = c.sh(
        4,
        &format!("cd /sys/kernel/roam && echo off > listen && echo 2 > node_id && echo clear > peers && echo 'add 1 {net}.1' > peers && echo {net}.4:7077 > listen", net = crate::cluster::NET),
    )?;
    c.check("duplicate id: node 4 poses as node 2".into(), o.rc == 0, o.text);
    let rose = c.wait(Duration::from_secs(20), |c| c.stats(1).get("rejected_addr_mismatch").copied().unwrap_or(0) > mismatch_before);
    c.check("duplicate id: node 1 refuses node 2's id from node 4's address".into(), rose.is_some(), String::new());
    let fine = c.up_in_view(1, 2);
    let v = format!("{:?}", c.view_of(1, 2));
    c.check("duplicate id: node 1 still sees the real node 2 up".into(), fine, v);
    let o = c.sh(4, "cd /sys/kernel/roam && echo off > listen && echo 4 > node_id")?;
    let o2 = c.apply(4)?;
    let back = o.rc == 0 && o2.rc == 0 && c.wait(Duration::from_secs(30), |c| c.up_in_view(1, 4)).is_some();
    c.check("duplicate id: node 4 back as itself rejoins".into(), back, o2.text);

    // Hostile frames: counted by reason, never a crash or a warning.
    let o = c.sh(1, &format!("echo 'add 99 {}.2:7099' > /sys/kernel/roam/peers", crate::cluster::NET))?;
    c.check("inject: node 1 lists a fake peer 99 at node 2's address".into(), o.rc == 0, o.text);
    let before = c.stats(1);
    let o = c.sh(2, &format!("/usr/lib/roam/tests/inject_frames {}.1 7077 {KEY_PATH} 99 1", crate::cluster::NET))?;
    let report = ktap::parse(&o.text);
    for r in &report.results {
        c.check(format!("inject: {}", r.name), matches!(r.outcome, ktap::Outcome::Pass), r.diag.join("\n"));
    }
    c.check("inject: the injector's KTAP stream is complete".into(), report.plan == Some(report.results.len()), o.text.clone());
    let after = c.stats(1);
    for (counter, min) in [
        ("rejected_bad_magic", 1),
        ("rejected_truncated", 1),
        ("rejected_bad_length", 1),
        ("rejected_bad_mac", 1),
        ("rejected_replay", 2),
        ("rejected_unknown_node", 1),
    ] {
        let d = after.get(counter).copied().unwrap_or(0).saturating_sub(before.get(counter).copied().unwrap_or(0));
        c.check(format!("inject: node 1's {counter} rose by at least {min}"), d >= min, format!("rose by {d}"));
    }
    let _ = c.sh(1, "echo 'del 99' > /sys/kernel/roam/peers");
    let ok = c.wait(Duration::from_secs(30), |c| c.all_see_all(&all)).is_some();
    c.check("inject: the cluster is intact afterwards".into(), ok, String::new());

    // Idle connections cannot exhaust the receivers: those beyond the limit
    // are refused at once, the rest closed when they fail to authenticate.
    let before = c.stats(1);
    let o = c.sh(2, &format!("/usr/lib/roam/tests/inject_frames --flood {}.1 7077 150 25", crate::cluster::NET))?;
    let report = ktap::parse(&o.text);
    for r in &report.results {
        c.check(format!("flood: {}", r.name), matches!(r.outcome, ktap::Outcome::Pass), r.diag.join("\n"));
    }
    c.check("flood: the flooder's KTAP stream is complete".into(), report.plan == Some(report.results.len()), o.text.clone());
    let after = c.stats(1);
    let d = |k: &str| after.get(k).copied().unwrap_or(0).saturating_sub(before.get(k).copied().unwrap_or(0));
    c.check(
        "flood: node 1 refused the connections beyond its limit".into(),
        d("connections_refused") >= 15,
        format!("refused {}", d("connections_refused")),
    );
    c.check(
        "flood: node 1 closed the unauthenticated ones".into(),
        d("connections_unauthenticated") >= 100,
        format!("closed {}", d("connections_unauthenticated")),
    );
    let ok = c.wait(Duration::from_secs(30), |c| c.all_see_all(&all)).is_some();
    c.check("flood: the cluster is intact afterwards".into(), ok, String::new());

    // A node that dies is marked down; restarted, it rejoins.
    c.cl.kill_node(3);
    let down = c.wait(Duration::from_secs(30), |c| [1u32, 2, 4].iter().all(|&v| c.down_in_view(v, 3)));
    let v = format!("{:?}", c.view_of(1, 3));
    c.check(
        format!("crash: nodes 1, 2 and 4 mark the killed node 3 down ({})", down.map(|d| format!("{:.1}s", d.as_secs_f64())).unwrap_or("never".into())),
        down.is_some(),
        v,
    );
    c.cl.restart_node(3)?;
    c.write_file(3, KEY_PATH, (c.key_hex.clone() + "\n").as_bytes(), "600")?;
    c.write_file(3, TOML_PATH, toml.as_bytes(), "644")?;
    let o = c.apply(3)?;
    let back = o.rc == 0 && c.wait(Duration::from_secs(30), |c| c.all_see_all(&all)).is_some();
    c.check("crash: restarted node 3 rejoins and every node sees every other".into(), back, o.text);

    migration(&mut c, &toml)?;
    balancing(&mut c)?;
    placement(&mut c)?;
    ushering(&mut c)?;

    // Unload and reload the module on node 1 while its peers keep talking.
    let o = c.sh(1, "rmmod roam && insmod /lib/modules/roam.ko")?;
    c.check("reload: node 1 unloads and reloads roam.ko while peers talk".into(), o.rc == 0, o.text);
    let o = c.apply(1)?;
    let back = o.rc == 0 && c.wait(Duration::from_secs(30), |c| c.all_see_all(&all)).is_some();
    c.check("reload: node 1 rejoins after the reload".into(), back, o.text);
    Ok(())
}

const W: &str = "/usr/lib/roam/tests/migrate_work";

impl Ctx<'_> {
    /// Starts `cmd` on `node` under a waiting parent (tests/guest/run.sh);
    /// returns its pid.
    fn start(&mut self, node: u32, name: &str, cmd: &str) -> Result<u32> {
        let o = self.sh(node, &format!("run.sh {name} {cmd}"))?;
        o.text.trim().parse().map_err(|_| anyhow::anyhow!("node {node}: cannot start `{cmd}`: {}", o.text))
    }

    /// The status its parent's `wait` saw, once it ended (within `limit`).
    fn status(&mut self, node: u32, name: &str, limit: Duration) -> Option<i32> {
        let mut st = None;
        self.wait(limit, |c| {
            st = c.sh(node, &format!("cat /tmp/{name}.st 2>/dev/null")).ok().and_then(|o| o.text.trim().parse().ok());
            st.is_some()
        });
        st
    }

    fn output(&mut self, node: u32, name: &str) -> String {
        self.sh(node, &format!("cat /tmp/{name}.out")).map(|o| o.text).unwrap_or_default()
    }

    fn migrate(&mut self, node: u32, pid: u32, dest: &str) -> crate::guest::Output {
        self.sh(node, &format!("roamctl migrate {pid} {dest}")).unwrap_or(crate::guest::Output { rc: -1, text: "agent failed".into() })
    }

    fn where_is(&mut self, node: u32, pid: u32) -> String {
        self.sh(node, &format!("roamctl where {pid}")).map(|o| o.text.trim().to_string()).unwrap_or_default()
    }

    fn guests(&mut self, node: u32) -> String {
        self.sh(node, "cat /sys/kernel/roam/guests").map(|o| o.text).unwrap_or_default()
    }

    /// Waits until no guest is left on `node`.
    fn no_guests(&mut self, node: u32) -> bool {
        self.wait(Duration::from_secs(45), |c| c.guests(node).trim().is_empty()).is_some()
    }

    fn check_no_guests(&mut self, name: String, node: u32) {
        let ok = self.no_guests(node);
        let g = self.guests(node);
        self.check(name, ok, g);
    }

    fn reconfigure(&mut self, node: u32, toml: &str) -> Result<bool> {
        self.write_file(node, KEY_PATH, (self.key_hex.clone() + "\n").as_bytes(), "600")?;
        self.write_file(node, TOML_PATH, toml.as_bytes(), "644")?;
        self.write_file(node, "/bin/run.sh", RUN_SH.as_bytes(), "755")?;
        let o = self.apply(node)?;
        let all: Vec<u32> = (1..=self.cl.agents.len() as u32).collect();
        Ok(o.rc == 0 && self.wait(Duration::from_secs(30), |c| c.all_see_all(&all)).is_some())
    }
}

const RUN_SH: &str = include_str!("../../tests/guest/run.sh");

/// A pause of 200..1500 ms, so migrations land at a different point of the
/// program each run.
fn random_pause() {
    let mut b = [0u8; 2];
    let _ = std::fs::File::open("/dev/urandom").and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b));
    std::thread::sleep(Duration::from_millis(200 + u16::from_le_bytes(b) as u64 % 1300));
}

/// Process migration across the cluster: node 1 is home throughout.
fn migration(c: &mut Ctx, toml: &str) -> Result<()> {
    let n = c.cl.agents.len() as u32;
    for i in 1..=n {
        c.write_file(i, "/bin/run.sh", RUN_SH.as_bytes(), "755")?;
    }
    let long = Duration::from_secs(if c.debug { 600 } else { 240 });
    // 256 MiB as the issue asks; 64 MiB on the debug kernel (time, and
    // KASAN's shadow memory).
    let mb: u64 = if c.debug { 64 } else { 256 };

    // CPU + FPU state: the same checksum as an unmigrated run.
    let reference = c.sh(1, &format!("{W} fpu 100000"))?;
    let pid = c.start(1, "fpu", &format!("{W} fpu 100000"))?;
    random_pause();
    let m = c.migrate(1, pid, "2");
    let wh = c.where_is(1, pid);
    c.check("migrate: fpu workload moves to node 2 mid-run".into(), m.rc == 0 && wh.starts_with("node 2"), format!("{}\nwhere: {wh}", m.text));
    let st = c.status(1, "fpu", long);
    let out = c.output(1, "fpu");
    c.check(
        "migrate: its SSE/AVX checksum is bit-identical to an unmigrated run".into(),
        st == Some(0) && reference.rc == 0 && out.trim() == reference.text.trim() && out.starts_with("checksum "),
        format!("status {st:?}\nmigrated: {out}\nreference: {}", reference.text),
    );
    c.check_no_guests("migrate: nothing is left on node 2 after it ended".into(), 2);

    // getpid/getppid unchanged; the exit status reaches the parent.
    let pid = c.start(1, "spin", &format!("{W} spin 3"))?;
    let ppid = c.sh(1, &format!("cut -d' ' -f4 /proc/{pid}/stat"))?.text.trim().to_string();
    random_pause();
    let m = c.migrate(1, pid, "3");
    let st = c.status(1, "spin", long);
    let out = c.output(1, "spin");
    c.check(
        "migrate: getpid/getppid are the home values and exit status 7 reaches the parent".into(),
        m.rc == 0 && st == Some(7) && out.trim() == format!("pid {pid} ppid {ppid} done"),
        format!("{}\nstatus {st:?}, output {out:?}, want pid {pid} ppid {ppid}", m.text),
    );

    // Files at home, through a descriptor opened before migration and one
    // opened after: forwarded calls made by the deputy.
    let pid = c.start(1, "files", &format!("{W} files /tmp"))?;
    std::thread::sleep(Duration::from_millis(300));
    let m = c.migrate(1, pid, "2");
    let _ = c.sh(1, &format!("kill -USR1 {pid}"));
    let st = c.status(1, "files", long);
    let out = c.output(1, "files");
    let sizes = c.sh(1, "wc -c < /tmp/a; wc -c < /tmp/b").map(|o| o.text.split_whitespace().collect::<Vec<_>>().join(" ")).unwrap_or_default();
    c.check(
        "migrate: files at home written and read back through descriptors opened before and after migration".into(),
        m.rc == 0 && st == Some(0) && out.trim() == "files ok 5200 7800" && sizes == "5200 7800",
        format!("{}\nstatus {st:?}, output {out:?}, sizes {sizes}", m.text),
    );

    // poll, ioctl and fcntl on the remote: forwarded, and the process
    // stays there (node 2 logs no move of it).
    let seq0 = c.sh(2, "cat /sys/kernel/roam/events").map(|o| o.text.lines().filter_map(event_seq).max().unwrap_or(0)).unwrap_or(0);
    let pid = c.start(1, "fdops", &format!("{W} fdops"))?;
    std::thread::sleep(Duration::from_millis(300));
    let m = c.migrate(1, pid, "2");
    let there: Option<u32> = m.text.split("remote pid ").nth(1).and_then(|r| r.split(')').next()?.parse().ok());
    let _ = c.sh(1, &format!("kill -USR1 {pid}"));
    let st = c.status(1, "fdops", long);
    let out = c.output(1, "fdops");
    let ev2 = c.sh(2, "cat /sys/kernel/roam/events").map(|o| o.text).unwrap_or_default();
    let left = there.map(|p| ev2.lines().any(|l| event_seq(l).unwrap_or(0) > seq0 && l.contains(&format!(" pid={p} ")))).unwrap_or(true);
    c.check(
        "migrate: poll, ioctl (FIONREAD, TCGETS) and fcntl (O_NONBLOCK) on the remote are forwarded; it stays there".into(),
        m.rc == 0 && st == Some(0) && out.trim() == "fdops ok" && !left,
        format!("{}\nstatus {st:?}, output {out:?}\nnode 2 events:\n{ev2}", m.text),
    );

    // A pipe between two processes, each migrated to another node.
    let _ = c.sh(1, "rm -f /tmp/pc.st /tmp/pc.out; setsid sh -c '$0 produce 5000 | $0 consume > /tmp/pc.out 2>&1; echo $? > /tmp/pc.st' /usr/lib/roam/tests/migrate_work > /dev/null 2>&1 < /dev/null &");
    std::thread::sleep(Duration::from_millis(300));
    let pids = c.sh(1, "ps -o pid,args | grep 'migrate_work [pc][ro][on][ds]u' | grep -v 'sh -c' | awk '{print $1}'").map(|o| o.text).unwrap_or_default();
    let pids: Vec<u32> = pids.split_whitespace().filter_map(|p| p.parse().ok()).collect();
    let (mp, mc) = match pids.as_slice() {
        [p, q] => (c.migrate(1, *p, "2"), c.migrate(1, *q, "3")),
        _ => (crate::guest::Output { rc: -1, text: format!("pids {pids:?}") }, crate::guest::Output { rc: -1, text: String::new() }),
    };
    let st = c.status(1, "pc", long);
    let out = c.output(1, "pc");
    c.check(
        "migrate: producer | consumer, each migrated mid-stream, loses and duplicates nothing".into(),
        st == Some(0) && out.trim() == "consumed 5000 ok",
        format!("{}{}status {st:?}, output {out:?}", mp.text, mc.text),
    );

    // fork and exec from a migrated process (it comes home to fork).
    let pid = c.start(1, "fe", &format!("{W} forkexec"))?;
    std::thread::sleep(Duration::from_millis(300));
    let m = c.migrate(1, pid, "3");
    let _ = c.sh(1, &format!("kill -USR1 {pid}"));
    let st = c.status(1, "fe", long);
    let out = c.output(1, "fe");
    c.check(
        "migrate: fork and exec from a migrated process".into(),
        m.rc == 0 && st == Some(0) && out.contains("child-ran") && out.contains("forkexec ok"),
        format!("{}\nstatus {st:?}, output {out:?}", m.text),
    );

    // An exit on the remote (no other system call) is replayed at home.
    let pid = c.start(1, "ec", &format!("{W} exitcode 42 48"))?;
    std::thread::sleep(Duration::from_millis(300));
    let m = c.migrate(1, pid, "4");
    let st = c.status(1, "ec", long);
    c.check("migrate: an exit on the remote reaches the parent at home as status 42".into(), m.rc == 0 && st == Some(42), format!("{}\nstatus {st:?}", m.text));
    c.check_no_guests("migrate: and node 4 keeps no trace of it".into(), 4);

    // Memory: 256 MiB with a pattern, a SIGUSR1 handler running remotely.
    let pid = c.start(1, "fill", &format!("{W} fill {mb} 900"))?;
    let filled = c.wait(Duration::from_secs(300), |c| {
        c.sh(1, &format!("grep VmRSS /proc/{pid}/status")).map(|o| o.text.split_whitespace().nth(1).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0) > mb * 1024).unwrap_or(false)
    });
    let m = c.migrate(1, pid, "4");
    let wh = c.where_is(1, pid);
    c.check(format!("migrate: a {mb} MiB process moves to node 4"), filled.is_some() && m.rc == 0 && wh.starts_with("node 4"), format!("{}\nwhere: {wh}", m.text));
    let _ = c.sh(1, &format!("kill -USR1 {pid}"));
    let st = c.status(1, "fill", long);
    let out = c.output(1, "fill");
    c.check(
        format!("migrate: SIGUSR1 sent at home runs its handler remotely; all {mb} MiB verify"),
        st == Some(0) && out.contains(&format!("verified {} words, 0 bad", mb * 1024 * 1024 / 8)),
        format!("status {st:?}, output {out:?}"),
    );

    // Default actions and SIGKILL reach the parent as wait() would see them.
    for (sig, code, dest) in [("TERM", 143, "2"), ("KILL", 137, "3")] {
        let pid = c.start(1, "sig", &format!("{W} spin 200"))?;
        let m = c.migrate(1, pid, dest);
        std::thread::sleep(Duration::from_millis(500));
        let _ = c.sh(1, &format!("kill -{sig} {pid}"));
        let st = c.status(1, "sig", Duration::from_secs(60));
        c.check(
            format!("migrate: SIG{sig} at home ends the remote; the parent sees status {code}"),
            m.rc == 0 && st == Some(code),
            format!("{}\nstatus {st:?}", m.text),
        );
        let d: u32 = dest.parse().unwrap_or(2);
        c.check_no_guests(format!("migrate: node {dest} keeps no trace of it"), d);
    }

    // SIGSTOP / SIGCONT sent at home stop and continue the remote.
    let pid = c.start(1, "stop", &format!("{W} spin 200"))?;
    let m = c.migrate(1, pid, "2");
    let rpid = c.where_is(1, pid).split_whitespace().nth(3).and_then(|p| p.parse::<u32>().ok()).unwrap_or(0);
    let state = |c: &mut Ctx, want: char| {
        c.wait(Duration::from_secs(20), |c| {
            c.sh(2, &format!("cut -d' ' -f3 /proc/{rpid}/stat")).map(|o| o.text.trim().starts_with(want)).unwrap_or(false)
        })
        .is_some()
    };
    let _ = c.sh(1, &format!("kill -STOP {pid}"));
    let stopped = state(c, 'T');
    let _ = c.sh(1, &format!("kill -CONT {pid}"));
    let running = state(c, 'R');
    c.check(
        "migrate: SIGSTOP and SIGCONT at home stop and continue the remote".into(),
        m.rc == 0 && rpid != 0 && stopped && running,
        format!("{}remote pid {rpid}: stopped {stopped}, running again {running}", m.text),
    );
    let _ = c.sh(1, &format!("kill -KILL {pid}"));
    let _ = c.status(1, "stop", Duration::from_secs(30));

    // A -> B -> C -> home, nothing left behind.
    let pid = c.start(1, "hop", &format!("{W} spin 200"))?;
    let m2 = c.migrate(1, pid, "2");
    let w2 = c.where_is(1, pid);
    let m3 = c.migrate(1, pid, "3");
    let w3 = c.where_is(1, pid);
    let left2 = c.no_guests(2);
    let g2 = c.guests(2);
    c.check(
        "migrate: 1 -> 2 -> 3; node 2 keeps nothing after it left".into(),
        m2.rc == 0 && w2.starts_with("node 2") && m3.rc == 0 && w3.starts_with("node 3") && left2,
        format!("{}{w2}\n{}{w3}\nnode 2 guests: {g2}", m2.text, m3.text),
    );
    let ps = c.sh(3, "roamctl ps").map(|o| o.text).unwrap_or_default();
    c.check("migrate: roamctl ps on node 3 lists it as a guest from node 1".into(), ps.lines().any(|l| l.contains("guest") && l.contains("migrate_work")), ps);
    let mh = c.migrate(1, pid, "home");
    let wh = c.where_is(1, pid);
    let gone3 = c.no_guests(3);
    let g3 = c.guests(3);
    c.check(
        "migrate: 3 -> home; it runs at home and node 3 keeps nothing".into(),
        mh.rc == 0 && wh == "home" && gone3,
        format!("{}{wh}\nnode 3 guests: {g3}", mh.text),
    );
    let _ = c.sh(1, &format!("kill -KILL {pid}"));
    let _ = c.status(1, "hop", Duration::from_secs(30));

    // Refusals: unknown node, node not accepting guests.
    let pid = c.start(1, "ref", &format!("{W} spin 200"))?;
    let m = c.migrate(1, pid, "99");
    c.check("migrate: to an unknown node is refused (no such node)".into(), m.rc != 0 && m.text.contains("no such node"), m.text);
    let _ = c.sh(4, "echo 0 > /sys/kernel/roam/accept");
    let m = c.migrate(1, pid, "4");
    let wh = c.where_is(1, pid);
    let _ = c.sh(4, "echo 1 > /sys/kernel/roam/accept");
    c.check(
        "migrate: a node not accepting guests refuses, and the process stays home".into(),
        m.rc != 0 && m.text.contains("does not accept") && wh == "home",
        format!("{}where: {wh}", m.text),
    );

    // The destination dies mid-transfer: the process carries on at home.
    let _ = c.sh(1, &format!("kill -KILL {pid}"));
    let pid = c.start(1, "big", &format!("{W} fill 160 600"))?;
    c.wait(Duration::from_secs(180), |c| {
        c.sh(1, &format!("grep VmRSS /proc/{pid}/status")).map(|o| o.text.split_whitespace().nth(1).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0) > 150 * 1024).unwrap_or(false)
    });
    let _ = c.start(1, "mig", &format!("roamctl migrate {pid} 4"))?;
    std::thread::sleep(Duration::from_millis(700));
    c.cl.kill_node(4);
    let mst = c.status(1, "mig", Duration::from_secs(90));
    let wh = c.where_is(1, pid);
    let _ = c.sh(1, &format!("kill -USR1 {pid}"));
    let st = c.status(1, "big", long);
    let out = c.output(1, "big");
    let mout = c.output(1, "mig");
    c.check(
        "migrate: the destination killed mid-transfer; the process goes on at home with its memory intact".into(),
        mst.is_some() && mst != Some(0) && wh == "home" && st == Some(0) && out.contains("0 bad"),
        format!("migrate status {mst:?}: {mout}\nwhere: {wh}\nstatus {st:?}, output {out:?}"),
    );
    c.cl.restart_node(4)?;
    let back = c.reconfigure(4, toml)?;
    c.check("migrate: node 4 restarts and rejoins".into(), back, String::new());

    // The remote's node dies after migration: the parent reaps SIGKILL.
    let pid = c.start(1, "lost", &format!("{W} spin 200"))?;
    let m = c.migrate(1, pid, "4");
    c.cl.kill_node(4);
    let st = c.status(1, "lost", Duration::from_secs(90));
    c.check(
        "migrate: the remote's node dies; the parent at home reaps status 137 (SIGKILL)".into(),
        m.rc == 0 && st == Some(137),
        format!("{}\nstatus {st:?}", m.text),
    );
    c.cl.restart_node(4)?;
    let back = c.reconfigure(4, toml)?;
    c.check("migrate: node 4 restarts and rejoins again".into(), back, String::new());
    // The home node dies: its process on another node is killed there and
    // nothing is left (node 2 is home for this one).
    let _ = c.sh(2, &format!("echo {} | base64 -d > /bin/run.sh; chmod 755 /bin/run.sh", base64(RUN_SH.as_bytes())));
    let pid = c.start(2, "orphan", &format!("{W} spin 200"))?;
    let m = c.migrate(2, pid, "3");
    let hosted = c.guests(3);
    c.cl.kill_node(2);
    let gone = c.no_guests(3);
    let g3 = c.guests(3);
    c.check(
        "migrate: the home node dies; its process on node 3 is killed and nothing is left there".into(),
        m.rc == 0 && hosted.contains("home=2") && gone,
        format!("{}\nbefore: {hosted}\nafter: {g3}", m.text),
    );
    c.cl.restart_node(2)?;
    let back = c.reconfigure(2, toml)?;
    c.check("migrate: node 2 restarts and rejoins".into(), back, String::new());
    let away = c.sh(1, "cat /sys/kernel/roam/away").map(|o| o.text).unwrap_or_default();
    c.check("migrate: node 1 has no process away any more".into(), away.trim().is_empty(), away);
    Ok(())
}

impl Ctx<'_> {
    fn set(&mut self, node: u32, attr: &str, v: &str) -> bool {
        self.sh(node, &format!("echo {v} > /sys/kernel/roam/{attr}")).map(|o| o.rc == 0).unwrap_or(false)
    }

    /// Migrations the balancer of `node` carried out.
    fn balancer_done(&mut self, node: u32) -> u64 {
        self.sh(node, "cat /sys/kernel/roam/balancer").map(|o| parse_stats(&o.text).get("migrations_done").copied().unwrap_or(0)).unwrap_or(0)
    }

    /// Where each of `pids` (of node 1) runs: "home" or "node N ...".
    fn places(&mut self, pids: &[u32]) -> Vec<String> {
        pids.iter().map(|&p| self.where_is(1, p)).collect()
    }
}

fn count(places: &[String], prefix: &str) -> usize {
    places.iter().filter(|p| p.starts_with(prefix)).count()
}

/// Automatic balancing between nodes 1 and 2 (3 and 4 take no guests),
/// and the node controls.
fn balancing(c: &mut Ctx) -> Result<()> {
    for n in [3u32, 4] {
        c.set(n, "accept", "0");
    }
    // Four CPU-bound jobs on node 1, one of them locked.
    let mut pids = Vec::new();
    for j in 1..=4 {
        pids.push(c.start(1, &format!("job{j}"), &format!("{W} spin 400"))?);
    }
    let locked = pids[0];
    let _ = c.sh(1, &format!("roamctl lock {locked}"));
    let on = c.set(1, "balance", "1") && c.set(2, "balance", "1");
    let mut last = Vec::new();
    let took = c.wait(Duration::from_secs(120), |c| {
        last = c.places(&pids);
        count(&last, "home") == 2 && count(&last, "node 2") == 2
    });
    c.check(
        format!(
            "balance: four jobs started on node 1 spread to two per node ({})",
            took.map(|d| format!("{:.1}s", d.as_secs_f64())).unwrap_or("never".into())
        ),
        on && took.is_some(),
        format!("{last:?}"),
    );
    let wl = c.where_is(1, locked);
    c.check("balance: the locked job stayed on node 1".into(), wl == "home", wl);
    let before = c.balancer_done(1) + c.balancer_done(2);
    std::thread::sleep(Duration::from_secs(15));
    let after = c.balancer_done(1) + c.balancer_done(2);
    let now = c.places(&pids);
    c.check(
        "balance: once balanced, no more migrations for 15 s".into(),
        after == before && count(&now, "home") == 2 && count(&now, "node 2") == 2,
        format!("migrations done {before} -> {after}; {now:?}"),
    );

    // Load appears on node 2 (three local jobs): its guests from node 1 go
    // back (node 1 is now the lighter).
    let _ = c.sh(2, &format!("echo {} | base64 -d > /bin/run.sh; chmod 755 /bin/run.sh", base64(RUN_SH.as_bytes())));
    let local: Vec<u32> = (1..=3).filter_map(|j| c.start(2, &format!("local{j}"), &format!("{W} spin 400")).ok()).collect();
    let mut seen = Vec::new();
    let back = c.wait(Duration::from_secs(90), |c| {
        seen = c.places(&pids);
        count(&seen, "home") >= 3
    });
    c.check(
        format!("balance: load appears on node 2; a guest goes back to node 1 ({})", back.map(|d| format!("{:.1}s", d.as_secs_f64())).unwrap_or("never".into())),
        local.len() == 3 && back.is_some(),
        format!("{seen:?}"),
    );
    for p in local.iter() {
        let _ = c.sh(2, &format!("kill -KILL {p}"));
    }

    // stay: nothing leaves node 1 automatically, whatever the imbalance.
    let _ = c.set(2, "balance", "0");
    let _ = c.set(1, "stay", "1");
    let extra: Vec<u32> = (5..=6).filter_map(|j| c.start(1, &format!("job{j}"), &format!("{W} spin 400")).ok()).collect();
    let before = c.balancer_done(1);
    std::thread::sleep(Duration::from_secs(10));
    let after = c.balancer_done(1);
    let places = c.places(&extra);
    c.check(
        "balance: stay keeps node 1's processes home".into(),
        extra.len() == 2 && after == before && count(&places, "home") == 2,
        format!("migrations done {before} -> {after}; {places:?}"),
    );
    let _ = c.set(1, "stay", "0");

    // lstay: node 1's own processes stay home too.
    let _ = c.set(1, "lstay", "1");
    let before = c.balancer_done(1);
    std::thread::sleep(Duration::from_secs(10));
    let after = c.balancer_done(1);
    let places = c.places(&extra);
    c.check(
        "balance: lstay keeps node 1's own processes home".into(),
        extra.len() == 2 && after == before && count(&places, "home") == 2,
        format!("migrations done {before} -> {after}; {places:?}"),
    );
    let _ = c.set(1, "lstay", "0");
    let _ = c.set(1, "balance", "0");

    // expel: node 2 sends its guests away (home) and returns when done.
    let o = c.sh(2, "echo 1 > /sys/kernel/roam/expel");
    let g = c.guests(2);
    let now = c.places(&pids);
    c.check(
        "expel: node 2's guests go home and the write returns when they are gone".into(),
        o.map(|o| o.rc == 0).unwrap_or(false) && g.trim().is_empty() && count(&now, "home") == 4,
        format!("guests {g:?}; {now:?}"),
    );

    // bring: node 1 brings its processes home.
    let m2 = c.migrate(1, pids[1], "2");
    let m3 = c.migrate(1, pids[2], "3");
    let _ = c.set(3, "accept", "1");
    let m3 = if m3.rc != 0 { c.migrate(1, pids[2], "3") } else { m3 };
    let o = c.sh(1, "echo 1 > /sys/kernel/roam/bring");
    let away = c.sh(1, "cat /sys/kernel/roam/away").map(|o| o.text).unwrap_or_default();
    let now = c.places(&pids);
    c.check(
        "bring: node 1's processes on nodes 2 and 3 come home and the write returns when they are back".into(),
        m2.rc == 0 && m3.rc == 0 && o.map(|o| o.rc == 0).unwrap_or(false) && away.trim().is_empty() && count(&now, "home") == 4,
        format!("{}{}away {away:?}; {now:?}", m2.text, m3.text),
    );

    // drain (roamctl node drain) on node 2: no guests, none taken.
    let m = c.migrate(1, pids[1], "2");
    let o = c.sh(2, "roamctl node drain");
    let g = c.guests(2);
    let acc = c.sh(2, "cat /sys/kernel/roam/accept").map(|o| o.text.trim().to_string()).unwrap_or_default();
    let refused = c.migrate(1, pids[1], "2");
    c.check(
        "drain: node 2 sends its guests home and takes no new ones".into(),
        m.rc == 0 && o.as_ref().map(|o| o.rc == 0).unwrap_or(false) && g.trim().is_empty() && acc == "0" && refused.rc != 0,
        format!("{}{}guests {g:?}, accept {acc}, then: {}", m.text, o.map(|o| o.text).unwrap_or_default(), refused.text),
    );
    let _ = c.sh(2, "roamctl node block off");

    // quiet: node 2 stops pushing its load.
    let _ = c.set(2, "quiet", "1");
    std::thread::sleep(Duration::from_secs(2));
    let p0 = c.stats(2).get("load_pushes_sent").copied().unwrap_or(0);
    std::thread::sleep(Duration::from_secs(5));
    let p1 = c.stats(2).get("load_pushes_sent").copied().unwrap_or(0);
    let _ = c.set(2, "quiet", "0");
    c.check("quiet: node 2 sends no load pushes while quiet".into(), p1 == p0, format!("{p0} -> {p1}"));

    // Short jobs never move (the long ones are gone first).
    for p in pids.iter().chain(extra.iter()) {
        let _ = c.sh(1, &format!("roamctl unlock {p}; kill -KILL {p}"));
    }
    let _ = c.set(1, "min_age_ms", "20000");
    let _ = c.set(1, "balance", "1");
    let short: Vec<u32> = (1..=3).filter_map(|j| c.start(1, &format!("short{j}"), &format!("{W} spin 3")).ok()).collect();
    let mut sts = Vec::new();
    for j in 1..=3 {
        sts.push(c.status(1, &format!("short{j}"), Duration::from_secs(120)));
    }
    let events = c.sh(1, "cat /sys/kernel/roam/events").map(|o| o.text).unwrap_or_default();
    let moved: Vec<&str> = events.lines().filter(|l| short.iter().any(|p| l.contains(&format!(" pid={p} ")))).collect();
    c.check(
        "balance: jobs younger than min_age_ms never migrate".into(),
        short.len() == 3 && sts.iter().all(|s| *s == Some(7)) && moved.is_empty(),
        format!("statuses {sts:?}; their migrations: {moved:?}"),
    );

    // A node dies while the balancer is at work: what ran there ends at
    // home with SIGKILL, nothing hangs, and balancing goes on.
    let _ = c.set(1, "min_age_ms", "1000");
    let _ = c.set(4, "accept", "1");
    let _ = c.set(3, "accept", "0");
    let _ = c.set(2, "accept", "0");
    let mut work = Vec::new();
    for j in 1..=3 {
        work.push(c.start(1, &format!("dies{j}"), &format!("{W} spin 400"))?);
    }
    let spread = c.wait(Duration::from_secs(90), |c| count(&c.places(&work), "node 4") >= 1);
    c.cl.kill_node(4);
    let mut sts = Vec::new();
    // Settled: nothing away any more and no move in flight (a move to the
    // dying node fails with a broken link and the process stays home).
    let ended = c.wait(Duration::from_secs(90), |c| {
        let away = c.sh(1, "cat /sys/kernel/roam/away").map(|o| o.text).unwrap_or_default();
        away.trim().is_empty() && !c.places(&work).iter().any(|p| p == "moving")
    });
    for j in 1..=3 {
        sts.push(c.sh(1, &format!("cat /tmp/dies{j}.st 2>/dev/null")).map(|o| o.text.trim().to_string()).unwrap_or_default());
    }
    let places = c.places(&work);
    c.check(
        "balance: a node dies while it hosts balanced jobs; they end at home with SIGKILL, the rest run on".into(),
        spread.is_some() && ended.is_some() && sts.iter().any(|s| s == "137") && count(&places, "home") == sts.iter().filter(|s| s.is_empty()).count(),
        format!("statuses {sts:?}; {places:?}"),
    );
    for p in work.iter() {
        let _ = c.sh(1, &format!("kill -KILL {p}"));
    }
    c.cl.restart_node(4)?;
    let back = c.reconfigure(4, &cluster_toml(c.cl.agents.len() as u32, false))?;
    c.check("balance: node 4 restarts and rejoins".into(), back, String::new());

    // Clean up.
    let _ = c.set(1, "balance", "0");
    for n in [2u32, 3, 4] {
        c.set(n, "accept", "1");
    }
    Ok(())
}

/// Resident KiB of `pid` on `node` (0 if unknown).
fn rss_kb(c: &mut Ctx, node: u32, pid: u32) -> u64 {
    c.sh(node, &format!("grep VmRSS /proc/{pid}/status"))
        .ok()
        .and_then(|o| o.text.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

/// Memory ushering: a node short of free memory sends its largest movable
/// process to the node with the most free memory that has room for it.
fn ushering(c: &mut Ctx) -> Result<()> {
    for n in [3u32, 4] {
        c.set(n, "accept", "0");
    }
    // A locked 300 MiB process and a movable 48 MiB one on node 1; both
    // wait for SIGUSR1 (sleeping: no load to balance).
    let hog = c.start(1, "hog", &format!("roamrun --lock {W} fill 300 600"))?;
    let small = c.start(1, "small", &format!("{W} fill 48 600"))?;
    let filled = c.wait(Duration::from_secs(120), |c| rss_kb(c, 1, hog) >= 300 * 1024 && rss_kb(c, 1, small) >= 48 * 1024);
    // Short of memory: the threshold just above node 1's free memory; node
    // 2 (in node 1's view) has room for the small one above it.
    let free1: u64 = c.sh(1, "cat /sys/kernel/roam/load").map(|o| parse_stats(&o.text).get("free_mem_mb").copied().unwrap_or(0)).unwrap_or(0);
    let free2: u64 = c.view_of(1, 2).and_then(|l| l.get("free_mem_mb").and_then(|v| v.parse().ok())).unwrap_or(0);
    let low = free1 + 40;
    let room = free2 > low + 48 + 16;
    let _ = c.set(1, "mem_low_mb", &low.to_string());
    let _ = c.set(1, "balance", "1");
    let mut seen = String::new();
    let moved = c.wait(Duration::from_secs(90), |c| {
        seen = c.where_is(1, small);
        seen.starts_with("node 2")
    });
    let _ = c.set(1, "balance", "0");
    let _ = c.set(1, "mem_low_mb", "64");
    let hog_at = c.where_is(1, hog);
    let ev = c.sh(1, "cat /sys/kernel/roam/events").map(|o| o.text).unwrap_or_default();
    let memory = ev.lines().any(|l| l.contains(&format!(" pid={small} ")) && l.contains("cause=memory") && l.contains("result=ok"));
    let _ = c.sh(1, &format!("kill -USR1 {small}"));
    let st = c.status(1, "small", Duration::from_secs(120));
    let out = c.output(1, "small");
    c.check(
        format!(
            "balance: node 1 short of memory ushers its largest movable process (48 MiB) to node 2; the locked 300 MiB one stays ({})",
            moved.map(|d| format!("{:.1}s", d.as_secs_f64())).unwrap_or("never".into())
        ),
        filled.is_some() && room && moved.is_some() && memory && hog_at == "home" && st == Some(0) && out.contains(", 0 bad"),
        format!("free: node 1 {free1} MiB, node 2 {free2} MiB, mem_low_mb {low}; where: {seen}; hog: {hog_at}; status {st:?}: {out}\nevents:\n{ev}"),
    );
    let _ = c.sh(1, &format!("kill -KILL {hog} {small}"));
    for n in [3u32, 4] {
        c.set(n, "accept", "1");
    }
    let gone = c.wait(Duration::from_secs(30), |c| c.sh(1, "cat /sys/kernel/roam/away").map(|o| o.text.trim().is_empty()).unwrap_or(false));
    c.check("balance: after ushering, nothing of node 1 is away".into(), gone.is_some(), String::new());
    Ok(())
}

/// The `seq=` of a line of the `events` file.
fn event_seq(line: &str) -> Option<u64> {
    line.strip_prefix("seq=")?.split_whitespace().next()?.parse().ok()
}

/// The load node `viewer` sees for node `id` (0 if unknown).
fn load_seen(c: &mut Ctx, viewer: u32, id: u32) -> u64 {
    c.view_of(viewer, id).and_then(|l| l.get("load").and_then(|v| v.parse().ok())).unwrap_or(0)
}

/// The pid `roamrun` reports for its program (`roamrun: pid N ...`).
fn roamrun_child(out: &str) -> Option<u32> {
    out.lines().find_map(|l| l.strip_prefix("roamrun: pid ")?.split_whitespace().next()?.parse().ok())
}

/// `roamrun` and `roamctl allow`: starting programs locked, restricted to
/// some nodes, or on the best node now.
fn placement(c: &mut Ctx) -> Result<()> {
    // Node 1 busy with two locked local jobs, node 3 with one job, node 2
    // idle; node 4 stays out (not in the allowed lists below).
    let locked: Vec<u32> = (1..=2).filter_map(|j| c.start(1, &format!("pinned{j}"), &format!("roamrun --lock {W} spin 400")).ok()).collect();
    let busy3 = c.start(3, "busy3", &format!("{W} spin 400")).ok();
    let loaded = c.wait(Duration::from_secs(60), |c| load_seen(c, 1, 1) >= 1500 && load_seen(c, 1, 3) >= 600);
    let why = locked.first().map(|p| c.sh(1, &format!("roamctl why {p}")).map(|o| o.text).unwrap_or_default()).unwrap_or_default();
    let (l1, l3) = (load_seen(c, 1, 1), load_seen(c, 1, 3));
    c.check(
        "roamrun: --lock starts the program locked (same pid, roamctl why says locked)".into(),
        locked.len() == 2 && why.contains("locked") && loaded.is_some(),
        format!("{locked:?}; {why}; loads seen by node 1: self {l1}, node 3 {l3}"),
    );

    // --best among nodes 2 and 3: node 2, the idle one.
    let rr = c.start(1, "best", &format!("roamrun --best --nodes 2,3 {W} spin 400"))?;
    let mut out = String::new();
    let _ = c.wait(Duration::from_secs(60), |c| {
        out = c.output(1, "best");
        roamrun_child(&out).is_some()
    });
    let child = roamrun_child(&out).unwrap_or(0);
    let w = c.where_is(1, child);
    c.check(
        "roamrun: --best starts the program on the least-loaded allowed node (2)".into(),
        child != 0 && out.contains("runs on node 2") && w.starts_with("node 2"),
        format!("{out}\nwhere: {w}"),
    );
    let _ = c.sh(1, &format!("kill -TERM {rr}"));
    let st = c.status(1, "best", Duration::from_secs(60));
    c.check("roamrun: SIGTERM to roamrun reaches the program; roamrun exits 143".into(), st == Some(143), format!("{st:?}"));

    // --on: remote invocation to a given node; it runs there to its end
    // (no move away from node 2 is logged there) and the exit status
    // comes back.
    let seq0 = c.sh(2, "cat /sys/kernel/roam/events").map(|o| o.text.lines().filter_map(event_seq).max().unwrap_or(0)).unwrap_or(0);
    let _ = c.start(1, "on2", &format!("roamrun --on 2 {W} exitcode 42 48"))?;
    let st = c.status(1, "on2", Duration::from_secs(120));
    let out = c.output(1, "on2");
    let there: Option<u32> = out.split("(pid ").nth(1).and_then(|r| r.split_whitespace().next()?.parse().ok());
    let ev2 = c.sh(2, "cat /sys/kernel/roam/events").map(|o| o.text).unwrap_or_default();
    let left = there.map(|p| ev2.lines().any(|l| event_seq(l).unwrap_or(0) > seq0 && l.contains(&format!(" pid={p} ")))).unwrap_or(true);
    c.check(
        "roamrun: --on 2 runs the program on node 2 to its end and exits with its status (42)".into(),
        st == Some(42) && out.contains("runs on node 2") && !left,
        format!("{st:?}: {out}\nnode 2 events:\n{ev2}"),
    );
    let o = c.sh(1, "roamrun /nonexistent/program; echo rc=$?")?;
    c.check(
        "roamrun: a program that does not exist: status 127 and a message".into(),
        o.text.contains("rc=127") && o.text.contains("cannot run"),
        o.text,
    );

    // --nodes 3: roamctl allow shows it; a move to node 2 is refused; the
    // balancer moves it to node 3 only (node 2 is lighter).
    let only3 = c.start(1, "only3", &format!("roamrun --nodes 3 {W} spin 400"))?;
    let shown = c.sh(1, &format!("roamctl allow {only3}")).map(|o| o.text).unwrap_or_default();
    let m = c.migrate(1, only3, "2");
    let w = c.where_is(1, only3);
    c.check(
        "roamrun: --nodes 3: roamctl allow shows it, and a move to node 2 is refused".into(),
        shown.contains("may run on nodes 3") && m.rc != 0 && m.text.contains("does not accept") && w == "home",
        format!("{shown}\n{}\nwhere: {w}", m.text),
    );
    let before = c.balancer_done(1);
    let _ = c.set(1, "balance", "1");
    let mut seen = String::new();
    let moved = c.wait(Duration::from_secs(90), |c| {
        seen = c.where_is(1, only3);
        seen.starts_with("node 3")
    });
    let after = c.balancer_done(1);
    let _ = c.set(1, "balance", "0");
    let places = c.places(&locked);
    c.check(
        format!(
            "balance: a process allowed only on node 3 goes there, not to the lighter node 2 ({})",
            moved.map(|d| format!("{:.1}s", d.as_secs_f64())).unwrap_or("never".into())
        ),
        moved.is_some() && after > before && count(&places, "home") == 2,
        format!("where: {seen}; locked jobs: {places:?}; balancer migrations {before} -> {after}"),
    );

    for p in locked.iter().chain([only3].iter()) {
        let _ = c.sh(1, &format!("kill -KILL {p}"));
    }
    if let Some(p) = busy3 {
        let _ = c.sh(3, &format!("kill -KILL {p}"));
    }
    let gone = c.wait(Duration::from_secs(30), |c| c.sh(1, "cat /sys/kernel/roam/away").map(|o| o.text.trim().is_empty()).unwrap_or(false));
    c.check("roamrun: nothing of node 1 is away at the end".into(), gone.is_some(), String::new());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_known_values() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar\n"), "Zm9vYmFyCg==");
    }

    #[test]
    fn nodes_and_stats_parse() {
        let v = parse_nodes("node=1 addr=*:7077 self=1 state=up load=5\nnode=2 addr=10.77.0.2:7077 self=0 state=down load=-\n");
        assert_eq!(v.len(), 2);
        assert_eq!(v[1]["state"], "down");
        let s = parse_stats("frames_sent 3\nrejected_bad_mac 2\n");
        assert_eq!(s["rejected_bad_mac"], 2);
    }

    #[test]
    fn cluster_file_lists_every_node() {
        let t = cluster_toml(4, true);
        assert!(t.contains("balance = true"));
        assert_eq!(t.matches("[[node]]").count(), 4);
        assert!(t.contains("addr = \"10.77.0.4\""));
    }
}
