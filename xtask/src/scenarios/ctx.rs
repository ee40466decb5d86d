//! What every scenario acts through: [`Ctx`], one cluster under test
//! and its tally, with the helpers that run commands on nodes, read their
//! views and counters, wait on conditions with bounded timeouts, start
//! and follow processes, and record checks.
//!
//! Calls `cluster`, `config`, `guest` and `tally`; never a scenario.

use crate::cluster::Cluster;
use crate::config::{base64, parse_nodes, parse_stats, NodeLine, KEY_PATH, RUN_SH, TOML_PATH};
use crate::guest::Output;
use crate::tally::Tally;
use anyhow::{bail, Result};
use roam_tests::ktap;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Timeout of one agent command.
const T: Duration = Duration::from_secs(30);
/// The guest test program most scenarios run.
pub(super) const W: &str = "/usr/lib/roam/tests/migrate_work";

/// One cluster under test, the tally its checks go to, and the key every
/// node is configured with.
pub(super) struct Ctx<'a> {
    pub(super) cl: &'a mut Cluster,
    pub(super) tally: &'a mut Tally,
    pub(super) key_hex: String,
    /// The debug kernel (KASAN, lockdep, ...): several times slower, and
    /// KASAN's shadow takes an eighth of guest memory.
    pub(super) debug: bool,
    /// When the scenarios began: every check line ends with the time
    /// since (minutes:seconds), so a slow run shows where its time went.
    pub(super) t0: Instant,
}

impl Ctx<'_> {
    pub(super) fn sh(&mut self, node: u32, cmd: &str) -> Result<Output> {
        self.cl.agents[(node - 1) as usize].run(cmd, T)
    }

    /// [`Self::sh`] with a limit of its own (a command that makes several
    /// moves).
    pub(super) fn sh_long(&mut self, node: u32, cmd: &str, limit: Duration) -> Result<Output> {
        self.cl.agents[(node - 1) as usize].run(cmd, limit)
    }

    pub(super) fn check(&mut self, name: String, ok: bool, detail: String) -> bool {
        let t = self.t0.elapsed().as_secs();
        println!("    {} {name}  [{}:{:02}]", if ok { "ok  " } else { "FAIL" }, t / 60, t % 60);
        self.tally.add(name, ok, detail);
        ok
    }

    /// One check per result of a guest tool's KTAP output `text`, named
    /// "`prefix`: result", and one that the stream is complete ("`prefix`:
    /// the `whose` KTAP stream is complete").
    pub(super) fn check_ktap(&mut self, prefix: &str, whose: &str, text: &str) {
        let report = ktap::parse(text);
        for r in &report.results {
            self.check(format!("{prefix}: {}", r.name), matches!(r.outcome, ktap::Outcome::Pass), r.diag.join("\n"));
        }
        self.check(format!("{prefix}: the {whose} KTAP stream is complete"), report.plan == Some(report.results.len()), text.to_string());
    }

    pub(super) fn write_file(&mut self, node: u32, path: &str, content: &[u8], mode: &str) -> Result<()> {
        let cmd = format!("echo {} | base64 -d > {path} && chmod {mode} {path}", base64(content));
        let o = self.sh(node, &cmd)?;
        if o.rc != 0 {
            bail!("node {node}: cannot write {path}: {}", o.text);
        }
        Ok(())
    }

    pub(super) fn nodes(&mut self, node: u32) -> Vec<NodeLine> {
        self.sh(node, "cat /sys/kernel/roam/nodes").map(|o| parse_nodes(&o.text)).unwrap_or_default()
    }

    pub(super) fn stats(&mut self, node: u32) -> BTreeMap<String, u64> {
        self.sh(node, "cat /sys/kernel/roam/stats").map(|o| parse_stats(&o.text)).unwrap_or_default()
    }

    /// What `viewer` believes about node `id`: its `nodes` line.
    pub(super) fn view_of(&mut self, viewer: u32, id: u32) -> Option<NodeLine> {
        self.nodes(viewer).into_iter().find(|l| l.get("node").map(|v| v == &id.to_string()).unwrap_or(false))
    }

    /// Polls `cond` every 500 ms until it holds or `limit` passes; returns
    /// the time it took.
    pub(super) fn wait(&mut self, limit: Duration, cond: impl FnMut(&mut Self) -> bool) -> Option<Duration> {
        self.wait_every(limit, Duration::from_millis(500), cond)
    }

    /// [`Self::wait`], asking every `every` (a balancing wait asks seldom:
    /// each question is a command on a node whose load is being measured).
    pub(super) fn wait_every(&mut self, limit: Duration, every: Duration, mut cond: impl FnMut(&mut Self) -> bool) -> Option<Duration> {
        let start = Instant::now();
        loop {
            if cond(self) {
                return Some(start.elapsed());
            }
            if start.elapsed() > limit {
                return None;
            }
            std::thread::sleep(every);
        }
    }

    pub(super) fn apply(&mut self, node: u32) -> Result<Output> {
        self.sh(node, &format!("roamctl apply {TOML_PATH}"))
    }

    pub(super) fn up_in_view(&mut self, viewer: u32, id: u32) -> bool {
        self.view_of(viewer, id).map(|l| l.get("state").map(|s| s == "up").unwrap_or(false) && l.get("load").map(|v| v != "-").unwrap_or(false)).unwrap_or(false)
    }

    pub(super) fn down_in_view(&mut self, viewer: u32, id: u32) -> bool {
        self.view_of(viewer, id).map(|l| l.get("state").map(|s| s == "down").unwrap_or(false)).unwrap_or(false)
    }

    pub(super) fn all_see_all(&mut self, nodes: &[u32]) -> bool {
        for &v in nodes {
            for &o in nodes {
                if v != o && !self.up_in_view(v, o) {
                    return false;
                }
            }
        }
        true
    }

    pub(super) fn sum_stat(&mut self, nodes: &[u32], name: &str) -> u64 {
        nodes.iter().map(|&n| self.stats(n).get(name).copied().unwrap_or(0)).sum()
    }

    /// Starts `cmd` on `node` under a waiting parent (tests/guest/run.sh);
    /// returns its pid.
    pub(super) fn start(&mut self, node: u32, name: &str, cmd: &str) -> Result<u32> {
        let o = self.sh(node, &format!("run.sh {name} {cmd}"))?;
        o.text.trim().parse().map_err(|_| anyhow::anyhow!("node {node}: cannot start `{cmd}`: {}", o.text))
    }

    /// The status its parent's `wait` saw, once it ended (within `limit`).
    pub(super) fn status(&mut self, node: u32, name: &str, limit: Duration) -> Option<i32> {
        let mut st = None;
        self.wait(limit, |c| {
            st = c.sh(node, &format!("cat /tmp/{name}.st 2>/dev/null")).ok().and_then(|o| o.text.trim().parse().ok());
            st.is_some()
        });
        st
    }

    pub(super) fn output(&mut self, node: u32, name: &str) -> String {
        self.sh(node, &format!("cat /tmp/{name}.out")).map(|o| o.text).unwrap_or_default()
    }

    /// `roamctl migrate PID DEST` on `node`. It returns when the move has
    /// ended, which for a large process on the debug kernel under TCG can
    /// take longer than an ordinary command's limit.
    pub(super) fn migrate(&mut self, node: u32, pid: u32, dest: &str) -> Output {
        let limit = Duration::from_secs(if self.debug { 180 } else { 90 });
        self.cl.agents[(node - 1) as usize]
            .run(&format!("roamctl migrate {pid} {dest}"), limit)
            .unwrap_or(Output { rc: -1, text: "agent failed".into() })
    }

    pub(super) fn where_is(&mut self, node: u32, pid: u32) -> String {
        self.sh(node, &format!("roamctl where {pid}")).map(|o| o.text.trim().to_string()).unwrap_or_default()
    }

    /// The task a move's `roamctl migrate` output names ("remote pid N"),
    /// if it is alive on `node` under the name `comm` (the remote's own
    /// `/proc`, not roam's bookkeeping).
    pub(super) fn remote_task(&mut self, node: u32, moved: &str, comm: &str) -> Option<u32> {
        let p: u32 = moved.split("remote pid ").nth(1)?.split(')').next()?.parse().ok()?;
        let c = self.sh(node, &format!("cat /proc/{p}/comm")).ok()?;
        (c.rc == 0 && c.text.trim() == comm).then_some(p)
    }

    /// The CPU time (user + system, in clock ticks) of `pid` on `node`, from
    /// its `/proc` there.
    pub(super) fn cpu_ticks(&mut self, node: u32, pid: u32) -> Option<u64> {
        let o = self.sh(node, &format!("cat /proc/{pid}/stat")).ok()?;
        let rest = o.text.rsplit_once(") ")?.1;
        let f: Vec<u64> = rest.split_whitespace().skip(11).take(2).filter_map(|v| v.parse().ok()).collect();
        (f.len() == 2).then(|| f[0] + f[1])
    }

    pub(super) fn guests(&mut self, node: u32) -> String {
        self.sh(node, "cat /sys/kernel/roam/guests").map(|o| o.text).unwrap_or_default()
    }

    /// Waits until no guest is left on `node`.
    pub(super) fn no_guests(&mut self, node: u32) -> bool {
        self.wait(Duration::from_secs(45), |c| c.guests(node).trim().is_empty()).is_some()
    }

    /// Checks that `node` keeps nothing of a process that was moved there
    /// (`moved`: what `roamctl migrate` printed): roam lists no guest, and
    /// the node's own process table has neither the task it ran as (the
    /// remote pid the move named) nor any adoption stub.
    pub(super) fn check_no_guests(&mut self, name: String, node: u32, moved: &str) {
        let listed = self.no_guests(node);
        let g = self.guests(node);
        let remote: Option<u32> = moved.split("remote pid ").nth(1).and_then(|r| r.split(')').next()?.parse().ok());
        let mut left = String::new();
        let gone = self
            .wait(Duration::from_secs(20), |c| {
                let task = remote.map(|p| format!("/proc/{p}/comm")).unwrap_or_else(|| "/nonexistent".into());
                left = c.sh(node, &format!("cat {task} 2>/dev/null; grep -l roam-adopt /proc/[0-9]*/comm 2>/dev/null")).map(|o| o.text).unwrap_or_else(|e| e.to_string());
                left.trim().is_empty()
            })
            .is_some();
        self.check(name, remote.is_some() && listed && gone, format!("remote pid {remote:?}; roam's guests: {g:?}; left in the process table: {left:?}"));
    }

    /// Checks that `node` lists no guest and runs no `migrate_work` task
    /// (its own process table), waiting up to 150 s (a stub that never
    /// had its Go gives up after 140).
    pub(super) fn check_no_guests_left(&mut self, name: String, node: u32) {
        let listed = self.no_guests(node);
        let mut left = String::new();
        let gone = self
            .wait(Duration::from_secs(150), |c| {
                left = c.sh(node, "grep -l migrate_work /proc/[0-9]*/comm 2>/dev/null").map(|o| o.text).unwrap_or_else(|e| e.to_string());
                left.trim().is_empty()
            })
            .is_some();
        let g = self.guests(node);
        self.check(name, listed && gone, format!("roam's guests: {g:?}; tasks left: {left:?}"));
    }

    /// Writes the cluster's key and cluster file `toml` to `node` and
    /// applies them; what `roamctl apply` said. Also installs the waiting
    /// parent every scenario starts its programs under (`/bin/run.sh`), so
    /// that a node restarted by any scenario has it.
    pub(super) fn configure_node(&mut self, node: u32, toml: &str) -> Result<Output> {
        self.write_file(node, "/bin/run.sh", RUN_SH.as_bytes(), "755")?;
        self.write_file(node, KEY_PATH, (self.key_hex.clone() + "\n").as_bytes(), "600")?;
        self.write_file(node, TOML_PATH, toml.as_bytes(), "644")?;
        self.apply(node)
    }

    /// Configures a restarted `node` again and waits until every node
    /// sees every other.
    pub(super) fn reconfigure(&mut self, node: u32, toml: &str) -> Result<bool> {
        let o = self.configure_node(node, toml)?;
        let all: Vec<u32> = (1..=self.cl.agents.len() as u32).collect();
        Ok(o.rc == 0 && self.wait(Duration::from_secs(30), |c| c.all_see_all(&all)).is_some())
    }

    pub(super) fn set(&mut self, node: u32, attr: &str, v: &str) -> bool {
        self.sh(node, &format!("echo {v} > /sys/kernel/roam/{attr}")).map(|o| o.rc == 0).unwrap_or(false)
    }

    /// Migrations the balancer of `node` carried out.
    pub(super) fn balancer_done(&mut self, node: u32) -> u64 {
        self.balancer_stat(node, "migrations_done")
    }

    /// The moves node `node`'s balancer started (done or not).
    pub(super) fn balancer_started(&mut self, node: u32) -> u64 {
        self.balancer_stat(node, "migrations_started")
    }

    fn balancer_stat(&mut self, node: u32, name: &str) -> u64 {
        self.sh(node, "cat /sys/kernel/roam/balancer").map(|o| parse_stats(&o.text).get(name).copied().unwrap_or(0)).unwrap_or(0)
    }

    /// Resident KiB of `pid` on `node` (0 if unknown).
    pub(super) fn rss_kb(&mut self, node: u32, pid: u32) -> u64 {
        self.sh(node, &format!("grep VmRSS /proc/{pid}/status"))
            .ok()
            .and_then(|o| o.text.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
            .unwrap_or(0)
    }

    /// Where each of `pids` (of node 1) runs: "home" or "node N ...".
    pub(super) fn places(&mut self, pids: &[u32]) -> Vec<String> {
        pids.iter().map(|&p| self.where_is(1, p)).collect()
    }

    /// [`Self::places`] from one read of node 1's `away` file: "node N"
    /// for a process away, "home" for the others (a process in the middle
    /// of a move counts as home). One `cat` instead of a `roamctl` per
    /// process: on a one-CPU debug guest those commands alone kept about
    /// one task runnable, which is what the balancer measures.
    pub(super) fn places_quick(&mut self, pids: &[u32]) -> Vec<String> {
        let away = self.sh(1, "cat /sys/kernel/roam/away").map(|o| o.text).unwrap_or_default();
        pids.iter()
            .map(|p| {
                let at = away.lines().find(|l| l.split_whitespace().next() == Some(&format!("pid={p}")));
                match at.and_then(|l| l.split_whitespace().find_map(|w| w.strip_prefix("node="))) {
                    Some(n) => format!("node {n}"),
                    None => "home".into(),
                }
            })
            .collect()
    }
}

/// How long a wait took, as "1.5s", or "never" if it timed out.
pub(super) fn secs(took: Option<Duration>) -> String {
    took.map(|d| format!("{:.1}s", d.as_secs_f64())).unwrap_or("never".into())
}

pub(super) fn count(places: &[String], prefix: &str) -> usize {
    places.iter().filter(|p| p.starts_with(prefix)).count()
}

/// The `seq=` of a line of the `events` file.
pub(super) fn event_seq(line: &str) -> Option<u64> {
    line.strip_prefix("seq=")?.split_whitespace().next()?.parse().ok()
}
