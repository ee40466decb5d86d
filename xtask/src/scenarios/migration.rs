//! Scenarios of process migration, node 1 being home throughout: CPU
//! and FPU state, pids, files, forwarded calls, pipes, fork and exec,
//! exits, memory, signals, hops, refusals, and a destination, a remote's
//! node or a home node dying.
//!
//! Calls only [`super::ctx`], `config` and `guest` (its `Output`).

use super::ctx::{event_seq, Ctx, W};
use crate::config::{base64, RUN_SH};
use crate::guest::Output;
use anyhow::Result;
use std::time::Duration;

/// A pause of 200..1500 ms, so migrations land at a different point of the
/// program each run.
fn random_pause() {
    let mut b = [0u8; 2];
    let _ = std::fs::File::open("/dev/urandom").and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b));
    std::thread::sleep(Duration::from_millis(200 + u16::from_le_bytes(b) as u64 % 1300));
}

/// Process migration across the cluster: node 1 is home throughout.
pub(super) fn run(c: &mut Ctx, toml: &str) -> Result<()> {
    let long = Duration::from_secs(if c.debug { 600 } else { 240 });
    // 256 MiB as the issue asks; 64 MiB on the debug kernel (time, and
    // KASAN's shadow memory).
    let mb: u64 = if c.debug { 64 } else { 256 };

    // CPU + FPU state: the same checksum as an unmigrated run (about 10 s
    // of work under TCG, so that it is still running after the move).
    let reference = c.sh_long(1, &format!("{W} fpu 400000"), long)?;
    let pid = c.start(1, "fpu", &format!("{W} fpu 400000"))?;
    random_pause();
    let m = c.migrate(1, pid, "2");
    let wh = c.where_is(1, pid);
    // It computes on node 2: its task there (the remote's own /proc) gains
    // CPU time, and the task at home (its deputy) gains none.
    let rp = c.remote_task(2, &m.text, "migrate_work");
    let (r0, h0) = (rp.and_then(|p| c.cpu_ticks(2, p)), c.cpu_ticks(1, pid));
    std::thread::sleep(Duration::from_millis(700));
    let (r1, h1) = (rp.and_then(|p| c.cpu_ticks(2, p)), c.cpu_ticks(1, pid));
    let remote_gain = r0.zip(r1).map(|(a, b)| b.saturating_sub(a)).unwrap_or(0);
    let remote_cpu = remote_gain >= 10;
    // The deputy may still finish its side of the move (on the debug
    // kernel that took 2 ticks once, CI of 2026-12-07): at most a tenth of
    // what the remote gained, and at least 1 tick allowed.
    let home_idle = matches!((h0, h1), (Some(a), Some(b)) if b <= a + (remote_gain / 10).max(1));
    c.check(
        "migrate: fpu workload moves to node 2 mid-run and computes there (CPU time grows in node 2's /proc, not at home)".into(),
        m.rc == 0 && wh.starts_with("node 2") && remote_cpu && home_idle,
        format!("{}\nwhere: {wh}; remote task {rp:?}: CPU ticks {r0:?} -> {r1:?} in 0.7 s; home task: {h0:?} -> {h1:?}", m.text),
    );
    let st = c.status(1, "fpu", long);
    let out = c.output(1, "fpu");
    c.check(
        "migrate: its SSE/AVX checksum is bit-identical to an unmigrated run".into(),
        st == Some(0) && reference.rc == 0 && out.trim() == reference.text.trim() && out.starts_with("checksum "),
        format!("status {st:?}\nmigrated: {out}\nreference: {}", reference.text),
    );
    c.check_no_guests("migrate: nothing is left on node 2 after it ended (roam's list, its process table)".into(), 2, &m.text);
    waits(c, long)?;

    // Moves asked back to back, each as soon as the one before returned:
    // the process may still be in its restorer (on node 2 or 3, then back
    // home), where a capture would take the restorer's registers instead
    // of its own, so each such move waits for the restorer's end. The
    // window is short (a sleeping process's restorer usually ends before
    // the next `roamctl` has started), so the details say how many moves
    // node 1 held; the check is that every move happens and the process
    // ends on node 2 with every word of its memory intact.
    let pid = c.start(1, "b2b", &format!("{W} fill 8 600"))?;
    c.wait(Duration::from_secs(60), |c| c.rss_kb(1, pid) > 8 * 1024);
    let hops = c.sh_long(1, &format!("roamctl migrate {pid} 2 && roamctl migrate {pid} 3 && roamctl migrate {pid} home && roamctl migrate {pid} 2"), long)?;
    let wh = c.where_is(1, pid);
    let rpid: u32 = wh.split_whitespace().nth(3).and_then(|p| p.parse().ok()).unwrap_or(0);
    let comm = c.sh(2, &format!("cat /proc/{rpid}/comm")).map(|o| o.text.trim().to_string()).unwrap_or_default();
    let held = c.sh(1, &format!("dmesg | grep -c 'pid {pid}: a move is held until its restorer'")).map(|o| o.text.trim().to_string()).unwrap_or_default();
    let _ = c.sh(1, &format!("kill -USR1 {pid}"));
    let st = c.status(1, "b2b", long);
    let out = c.output(1, "b2b");
    c.check(
        "migrate: moves asked back to back (2, 3, home, 2) all happen, and every word of its memory is intact".into(),
        hops.rc == 0 && wh.starts_with("node 2") && comm == "migrate_work" && st == Some(0) && out.trim() == format!("verified {} words, 0 bad", 8 << 17),
        format!("{}where: {wh}; comm on node 2: {comm:?}; status {st:?}, output {out:?}; node 1's log: {held} move(s) held until a restorer finished", hops.text),
    );

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

    // A pipe between two processes, each migrated to another node while
    // the stream flows: both moves succeed, each end runs on its node
    // (its task in the remote's own /proc, using CPU time there), the
    // stream is not over when both have moved (the producer writes until
    // SIGUSR1, sent after the checks), and the consumer gets every line
    // once, in order, up to the producer's count.
    let _ = c.sh(1, "rm -f /tmp/pc.st /tmp/pc.out; setsid sh -c '$0 produce 300 | $0 consume > /tmp/pc.out 2>&1; echo $? > /tmp/pc.st' /usr/lib/roam/tests/migrate_work > /dev/null 2>&1 < /dev/null &");
    let (mut prod, mut cons) = (None, None);
    c.wait(Duration::from_secs(10), |c| {
        let ps = c.sh(1, "ps -o pid,args | grep 'migrate_work [pc][ro][on][ds]u' | grep -v 'sh -c'").map(|o| o.text).unwrap_or_default();
        let pid_of = |what: &str| ps.lines().find(|l| l.contains(what)).and_then(|l| l.split_whitespace().next()?.parse::<u32>().ok());
        (prod, cons) = (pid_of("migrate_work produce"), pid_of("migrate_work consume"));
        prod.is_some() && cons.is_some()
    });
    let (mp, mc) = match (prod, cons) {
        (Some(p), Some(q)) => (c.migrate(1, p, "2"), c.migrate(1, q, "3")),
        _ => (Output { rc: -1, text: format!("producer {prod:?}, consumer {cons:?}") }, Output { rc: -1, text: String::new() }),
    };
    let mid_stream = c.sh(1, "cat /tmp/pc.st 2>/dev/null").map(|o| o.text.trim().is_empty()).unwrap_or(false);
    let (rp, rc) = (c.remote_task(2, &mp.text, "migrate_work"), c.remote_task(3, &mc.text, "migrate_work"));
    // CPU time accrues on the remotes.
    let t0 = (rp.and_then(|p| c.cpu_ticks(2, p)), rc.and_then(|p| c.cpu_ticks(3, p)));
    std::thread::sleep(Duration::from_millis(1000));
    let t1 = (rp.and_then(|p| c.cpu_ticks(2, p)), rc.and_then(|p| c.cpu_ticks(3, p)));
    let grew = |a: Option<u64>, b: Option<u64>| matches!((a, b), (Some(a), Some(b)) if b > a);
    let (gp, gc) = (grew(t0.0, t1.0), grew(t0.1, t1.1));
    if let Some(p) = prod {
        let _ = c.sh(1, &format!("kill -USR1 {p}"));
    }
    let st = c.status(1, "pc", long);
    let out = c.output(1, "pc");
    let lines = out.trim().strip_prefix("consumed ").and_then(|r| r.strip_suffix(" ok")).and_then(|n| n.parse::<u64>().ok());
    c.check(
        "migrate: producer | consumer, each migrated mid-stream (running and using CPU on nodes 2 and 3), loses and duplicates nothing".into(),
        mp.rc == 0 && mc.rc == 0 && mid_stream && rp.is_some() && rc.is_some() && gp && gc && st == Some(0) && lines.is_some_and(|n| n >= 64),
        format!(
            "{}{}mid-stream after both moves: {mid_stream}; remote tasks {rp:?} on 2, {rc:?} on 3; CPU ticks there {t0:?} then {t1:?}; status {st:?}, output {out:?}",
            mp.text, mc.text
        ),
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
    c.check_no_guests("migrate: and node 4 keeps no trace of it".into(), 4, &m.text);

    // Memory: 256 MiB with a pattern, a SIGUSR1 handler running remotely.
    let pid = c.start(1, "fill", &format!("{W} fill {mb} 900"))?;
    let filled = c.wait(Duration::from_secs(300), |c| {
        c.rss_kb(1, pid) > mb * 1024
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
        c.check_no_guests(format!("migrate: node {dest} keeps no trace of it"), d, &m.text);
    }

    // SIGSTOP / SIGCONT sent at home stop and continue the remote, and
    // the parent at home sees both as a shell would (waitpid with
    // WUNTRACED | WCONTINUED), then the child's death by SIGTERM.
    let parent = c.start(1, "stop", "/usr/lib/roam/tests/jobctl")?;
    let mut pid = 0u32;
    c.wait(Duration::from_secs(10), |c| {
        pid = c.output(1, "stop").lines().find_map(|l| l.strip_prefix("child ")?.trim().parse().ok()).unwrap_or(0);
        pid != 0
    });
    let m = c.migrate(1, pid, "2");
    let rpid = c.where_is(1, pid).split_whitespace().nth(3).and_then(|p| p.parse::<u32>().ok()).unwrap_or(0);
    let state = |c: &mut Ctx, stopped: bool| {
        c.wait(Duration::from_secs(20), |c| {
            c.sh(2, &format!("cut -d' ' -f3 /proc/{rpid}/stat")).map(|o| o.rc == 0 && o.text.trim().starts_with('T') == stopped).unwrap_or(false)
        })
        .is_some()
    };
    let said = |c: &mut Ctx, line: &str| c.wait(Duration::from_secs(20), |c| c.output(1, "stop").lines().any(|l| l == line)).is_some();
    let _ = c.sh(1, &format!("kill -STOP {pid}"));
    let (stopped, saw_stop) = (state(c, true), said(c, "stopped 19"));
    let _ = c.sh(1, &format!("kill -CONT {pid}"));
    let (running, saw_cont) = (state(c, false), said(c, "continued"));
    let there = c.where_is(1, pid);
    let _ = c.sh(1, &format!("kill -TERM {pid}"));
    let st = c.status(1, "stop", Duration::from_secs(60));
    let out = c.output(1, "stop");
    c.check(
        "migrate: SIGSTOP and SIGCONT at home stop and continue the remote".into(),
        m.rc == 0 && rpid != 0 && stopped && running && there.starts_with("node 2"),
        format!("{}remote pid {rpid}: stopped {stopped}, running again {running}; where after: {there}", m.text),
    );
    c.check(
        "migrate: the parent at home sees the remote child stop, continue and die (waitpid WUNTRACED | WCONTINUED)".into(),
        saw_stop && saw_cont && st == Some(0) && out.lines().skip(1).collect::<Vec<_>>() == ["stopped 19", "continued", "signaled 15"],
        format!("parent {parent} status {st:?}, output {out:?}"),
    );

    // A tracer at home (as `gdb -p` / `strace -p` attach): another user's
    // attach is refused and leaves the process where it runs; root's
    // brings it home first and then sees the real process (its counter,
    // not moving while stopped), which carries on after the detach.
    let pid = c.start(1, "ta", "/usr/lib/roam/tests/trace_attach target")?;
    let mut addr = String::new();
    c.wait(Duration::from_secs(10), |c| {
        addr = c.output(1, "ta").lines().find_map(|l| l.strip_prefix("addr ").map(str::to_string)).unwrap_or_default();
        !addr.is_empty()
    });
    let m = c.migrate(1, pid, "2");
    let before = c.where_is(1, pid);
    let tracer = "/usr/lib/roam/tests/trace_attach attach";
    let other = c.sh(1, &format!("/usr/lib/roam/tests/roam_perms --run-as 65534 {tracer} {pid} {addr}")).map(|o| o.text).unwrap_or_default();
    let still = c.where_is(1, pid);
    let root = c.sh(1, &format!("{tracer} {pid} {addr}")).map(|o| o.text).unwrap_or_default();
    let after = c.where_is(1, pid);
    let peeked: Vec<u64> = root.trim().strip_prefix("peek ").map(|r| r.split_whitespace().take(2).filter_map(|v| v.parse().ok()).collect()).unwrap_or_default();
    let _ = c.sh(1, &format!("kill -TERM {pid}"));
    let st = c.status(1, "ta", long);
    let out = c.output(1, "ta");
    let count: u64 = out.lines().find_map(|l| l.strip_prefix("count ")?.trim().parse().ok()).unwrap_or(0);
    c.check(
        "migrate: a tracer at home (ptrace attach, as gdb -p) brings the process home first and reads its real memory; another user's attach is refused and moves nothing".into(),
        m.rc == 0
            && before.starts_with("node 2")
            && other.contains("failed: PTRACE_ATTACH")
            && still.starts_with("node 2")
            && peeked.len() == 2
            && peeked[0] > 0
            && peeked[0] == peeked[1]
            && after == "home"
            && st == Some(0)
            && count >= peeked[0],
        format!("{}where before {before:?}; nobody's attach: {other:?}, where then {still:?}; root's: {root:?}, where after {after:?}; status {st:?}, output {out:?}", m.text),
    );

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
    c.check_no_guests("migrate: node 2's process table keeps nothing of it either".into(), 2, &m2.text);
    // Its memory on node 3 is its own: the restorer's scratch area went
    // when the restorer finished.
    let rp3 = c.remote_task(3, &m3.text, "migrate_work");
    let maps3 = rp3.and_then(|p| c.sh(3, &format!("cat /proc/{p}/maps")).ok()).map(|o| o.text).unwrap_or_default();
    let scratch3 = scratch_areas(&maps3);
    c.check(
        "migrate: node 3's /proc/PID/maps of the moved process shows no restorer scratch area".into(),
        maps3.contains("migrate_work") && scratch3.is_empty(),
        format!("scratch-like areas: {scratch3:?}\n{maps3}"),
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
    c.check_no_guests("migrate: node 3's process table keeps nothing of it either".into(), 3, &m3.text);
    let maps1 = c.sh(1, &format!("cat /proc/{pid}/maps")).map(|o| o.text).unwrap_or_default();
    let scratch1 = scratch_areas(&maps1);
    c.check(
        "migrate: back home, its /proc/PID/maps shows no restorer scratch area".into(),
        maps1.contains("migrate_work") && scratch1.is_empty(),
        format!("scratch-like areas: {scratch1:?}\n{maps1}"),
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
        c.rss_kb(1, pid) > 150 * 1024
    });
    // Killed once node 1 has sent 16 MiB more than before the move (of
    // the 160 MiB it must send): the transfer is under way.
    let sent0 = c.stats(1).get("bytes_sent").copied().unwrap_or(0);
    let _ = c.start(1, "mig", &format!("roamctl migrate {pid} 4"))?;
    let mut sent = 0;
    let under_way = c.wait(Duration::from_secs(60), |c| {
        sent = c.stats(1).get("bytes_sent").copied().unwrap_or(0).saturating_sub(sent0);
        sent >= 16 << 20
    });
    c.cl.kill_node(4);
    let mst = c.status(1, "mig", Duration::from_secs(90));
    let wh = c.where_is(1, pid);
    let ev = c.sh(1, "cat /sys/kernel/roam/events").map(|o| o.text).unwrap_or_default();
    let failed = ev.lines().rev().find(|l| l.contains(&format!(" pid={pid} ")) && l.contains(" to=4 ")).unwrap_or("").to_string();
    let _ = c.sh(1, &format!("kill -USR1 {pid}"));
    let st = c.status(1, "big", long);
    let out = c.output(1, "big");
    let mout = c.output(1, "mig");
    c.check(
        "migrate: the destination killed mid-transfer (16 MiB of 160 sent); the move fails with its reason and the process goes on at home with its memory intact".into(),
        under_way.is_some()
            && sent < 160 << 20
            && mst.is_some()
            && mst != Some(0)
            && !mout.trim().is_empty()
            && !failed.is_empty()
            && !failed.contains("result=ok")
            && wh == "home"
            && st == Some(0)
            && out.contains("0 bad"),
        format!("sent {sent} bytes before the kill; migrate status {mst:?}: {mout}\nevent: {failed}\nwhere: {wh}\nstatus {st:?}, output {out:?}"),
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

/// The lines of a `/proc/PID/maps` text that look like the restorer's
/// scratch area: anonymous, read-write-execute and private, exactly
/// `restore::SCRATCH_LEN` long.
fn scratch_areas(maps: &str) -> Vec<&str> {
    maps.lines()
        .filter(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let range = f.first().and_then(|r| r.split_once('-'));
            let len = range.and_then(|(a, b)| u64::from_str_radix(b, 16).ok()?.checked_sub(u64::from_str_radix(a, 16).ok()?));
            f.len() == 5 && f.get(1) == Some(&"rwxp") && f.get(4) == Some(&"0") && len == Some(roam_proto::restore::SCRATCH_LEN as u64)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn scratch_areas_are_found_by_shape() {
        // As a homecoming left it before the area was unmapped (dev
        // cluster, 2026-12-07): 20 pages, rwxp, anonymous.
        let scratch = "7f866acc3000-7f866acd7000 rwxp 00000000 00:00 0 ";
        let maps = format!(
            "55558275e000-555582780000 rw-p 00000000 00:00 0                          [heap]\n{scratch}\n\
             7f866acd7000-7f866acd8000 ---p 00000000 00:00 0 \n\
             7f866ace0000-7f866ad31000 r--p 00000000 00:02 36                         /usr/lib/roam/tests/migrate_work\n\
             7f73721bd000-7f73721be000 rwxp 00000000 00:00 0 \n\
             7ffff6bfe000-7ffff6c1f000 rw-p 00000000 00:00 0                          [stack]\n"
        );
        assert_eq!(super::scratch_areas(&maps), vec![scratch]);
        assert!(super::scratch_areas("00400000-00401000 r-xp 00000000 00:02 17 /bin/x\n").is_empty());
    }
}

/// A move in the middle of a sleep or a poll (`tests/src/bin/waits.rs`):
/// the kernel would go on with such a wait through the task's restart
/// block, which does not travel; the call must neither end early with an
/// `EINTR` nor start again from the beginning where it lands.
fn waits(c: &mut Ctx, long: Duration) -> Result<()> {
    const MS: u64 = 4000;
    // The move's own time (up to a few seconds on the debug kernel) is the
    // most a wait may overrun.
    let slack = if c.debug { 8000 } else { 3000 };
    for (kind, what) in [
        ("sleep", "nanosleep"),
        ("clock", "relative clock_nanosleep"),
        ("poll", "poll with a timeout"),
        ("pollfor", "poll without a timeout (a timer's handler ends it)"),
        ("masked", "ppoll whose own mask unblocks the timer's SIGALRM (blocked otherwise; blocked again once its handler ran)"),
        ("suspend", "rt_sigsuspend whose mask unblocks the timer's SIGALRM (blocked otherwise; blocked again once its handler ran)"),
        ("futex", "futex wait with an absolute deadline (FUTEX_WAIT_BITSET, CLOCK_MONOTONIC)"),
    ] {
        let tag = format!("waits-{kind}");
        let pid = c.start(1, &tag, &format!("/usr/lib/roam/tests/waits {kind} {MS}"))?;
        // Printed `waiting`, and asleep in the call.
        let ready = c
            .wait(Duration::from_secs(30), |c| {
                c.output(1, &tag).starts_with("waiting") && c.sh(1, &format!("cut -d' ' -f3 /proc/{pid}/stat")).is_ok_and(|o| o.text.trim() == "S")
            })
            .is_some();
        let m = c.migrate(1, pid, "2");
        let rp = c.remote_task(2, &m.text, "waits");
        let st = c.status(1, &tag, long);
        let out = c.output(1, &tag);
        let elapsed = out.split("elapsed_ms ").nth(1).and_then(|v| v.split_whitespace().next()).and_then(|v| v.parse::<u64>().ok());
        c.check(
            format!("migrate: a {what} under way when the process moves to node 2 goes on there, ending as at home ({MS} ms, not early, not started again)"),
            ready && m.rc == 0 && rp.is_some() && st == Some(0) && elapsed.is_some_and(|e| (MS..MS + slack).contains(&e)),
            format!("ready {ready}; {}; remote task {rp:?}; status {st:?}; output {:?} (at most {slack} ms over)", m.text.trim(), out.trim()),
        );
    }
    // On node 2 the `ppoll` is forwarded home; a move to node 3 asked
    // meanwhile waits for its end. The timer's SIGALRM (the timer runs
    // on node 2) ends it with EINTR, and the move is captured before the
    // handler runs: the handler runs on node 3, whose frame must save the
    // mask the call held, not the call's own (CI of 2026-12-08, `zdtm
    // sockets` on the debug kernel).
    const LONG_MS: u64 = 6000;
    let tag = "waits-masked-on";
    let pid = c.start(1, tag, &format!("/usr/lib/roam/tests/waits masked {LONG_MS}"))?;
    let ready = c
        .wait(Duration::from_secs(30), |c| c.output(1, tag).starts_with("waiting") && c.sh(1, &format!("cut -d' ' -f3 /proc/{pid}/stat")).is_ok_and(|o| o.text.trim() == "S"))
        .is_some();
    let m2 = c.migrate(1, pid, "2");
    let t0 = std::time::Instant::now();
    let m3 = c.migrate(1, pid, "3");
    let waited = t0.elapsed();
    let st = c.status(1, tag, long);
    let out = c.output(1, tag);
    let elapsed = out.split("elapsed_ms ").nth(1).and_then(|v| v.split_whitespace().next()).and_then(|v| v.parse::<u64>().ok());
    c.check(
        "migrate: a move asked while a forwarded ppoll with a mask of its own waits on node 2 happens once a signal ends the call, and the handler, run on node 3, returns to the mask the call held".into(),
        ready && m2.rc == 0 && m3.rc == 0 && m3.text.contains("node 3") && st == Some(0) && elapsed.is_some_and(|e| (LONG_MS..LONG_MS + slack).contains(&e)),
        format!("ready {ready}; {}; {} (after {waited:?}); status {st:?}; output {:?}", m2.text.trim(), m3.text.trim(), out.trim()),
    );
    Ok(())
}
