//! `cargo xtask cluster`: N QEMU guests on an isolated bridge inside a
//! network namespace that this module creates and removes itself.
//!
//! Nothing leaves the namespace: the bridge has no uplink, so guests reach
//! only each other. Each node's serial console (ttyS0) and agent port
//! (ttyS1) are unix sockets in the node's directory, both logged there.
//!
//! Calls `build` (the artifacts it boots), `guest` (the agents), `kernel`
//! (the profile) and `util`.

use crate::build::Artifacts;
use crate::guest::Agent;
use crate::util::{self, step, Ctx};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Which accelerator QEMU uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
pub enum Accel {
    /// Software emulation: slow but works everywhere (the default).
    Tcg,
    /// KVM, if /dev/kvm works and guests boot with it (probed first).
    Kvm,
}

/// How to start a cluster.
#[derive(Clone, Debug)]
pub struct Spec {
    pub name: String,
    pub nodes: u32,
    pub accel: Accel,
    pub memory_mb: u32,
    pub cpus: u32,
}

/// The subnet of every cluster (each lives in its own namespace).
pub const NET: &str = "10.77.0";

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct NodeState {
    pub id: u32,
    pub pid: i32,
    pub dir: PathBuf,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct State {
    pub name: String,
    pub netns: String,
    pub accel: Accel,
    pub profile: String,
    pub nodes: Vec<NodeState>,
}

/// A running cluster with an agent connection to every node. Dropping it
/// does not stop it; call [`Cluster::down`] (the test runner does).
pub struct Cluster {
    pub state: State,
    pub agents: Vec<Agent>,
    spec: Spec,
    art: Artifacts,
    ctx: Ctx,
}

fn cluster_dir(ctx: &Ctx, name: &str) -> PathBuf {
    ctx.cache.join("clusters").join(name)
}

fn state_path(ctx: &Ctx, name: &str) -> PathBuf {
    cluster_dir(ctx, name).join("state.json")
}

pub fn load_state(ctx: &Ctx, name: &str) -> Result<Option<State>> {
    let p = state_path(ctx, name);
    if !p.exists() {
        return Ok(None);
    }
    let s = fs::read_to_string(&p)?;
    Ok(Some(serde_json::from_str(&s).with_context(|| format!("corrupt {}", p.display()))?))
}

fn netns_name(name: &str) -> String {
    format!("roam-{name}")
}

fn ip(netns: Option<&str>, args: &[&str]) -> Result<()> {
    let mut c = Command::new("ip");
    if let Some(ns) = netns {
        c.args(["netns", "exec", ns, "ip"]);
    }
    c.args(args);
    util::output(&mut c).map(|_| ())
}

/// Whether `pid` is still the QEMU we started for `dir` (pids get reused).
fn is_our_qemu(pid: i32, dir: &Path) -> bool {
    fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| {
            let c = String::from_utf8_lossy(&c);
            c.contains("qemu-system") && c.contains(&*dir.to_string_lossy())
        })
        .unwrap_or(false)
}

/// The host's TSC rate in kHz: from `/proc/cpuinfo` when the CPU states
/// a constant, known rate, else measured once against the monotonic
/// clock over 300 ms (every guest of a run gets the same value).
fn host_tsc_khz() -> Option<u64> {
    static KHZ: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
    *KHZ.get_or_init(|| {
        let info = fs::read_to_string("/proc/cpuinfo").ok()?;
        let flags = info.lines().find(|l| l.starts_with("flags"))?;
        let has = |f: &str| flags.split_whitespace().any(|x| x == f);
        if !has("tsc") || !has("constant_tsc") {
            return None;
        }
        if has("tsc_known_freq") {
            let mhz = info.lines().find(|l| l.starts_with("cpu MHz"))?.split(':').nth(1)?.trim().parse::<f64>().ok()?;
            return Some((mhz * 1000.0).round() as u64);
        }
        #[cfg(target_arch = "x86_64")]
        {
            // SAFETY: `rdtsc` has no preconditions; the flags say the CPU has it.
            let t0 = unsafe { core::arch::x86_64::_rdtsc() };
            let start = std::time::Instant::now();
            std::thread::sleep(Duration::from_millis(300));
            // SAFETY: as above.
            let t1 = unsafe { core::arch::x86_64::_rdtsc() };
            let us = start.elapsed().as_micros() as u64;
            return Some((t1 - t0) / us.max(1) * 1000 + ((t1 - t0) % us.max(1)) * 1000 / us.max(1));
        }
        #[allow(unreachable_code)]
        None
    })
}

fn kvm_usable() -> bool {
    fs::OpenOptions::new().read(true).write(true).open("/dev/kvm").is_ok()
}

pub fn node_dir(ctx: &Ctx, name: &str, id: u32) -> PathBuf {
    cluster_dir(ctx, name).join(format!("node{id}"))
}

fn qemu_command(spec: &Spec, art: &Artifacts, id: u32, dir: &Path, accel: Accel) -> Vec<String> {
    let d = |f: &str| dir.join(f).display().to_string();
    let mut append = format!(
        "console=ttyS0 panic=-1 oops=panic loglevel=7 roam_node={id} roam_nodes={} roam_net={NET}",
        spec.nodes
    );
    if accel == Accel::Tcg {
        // Under TCG a guest's TSC is the host's, but the guest cannot
        // calibrate it (no HPET or PM timer without ACPI) and falls back
        // to jiffies, which lose ticks whenever the vCPU thread waits for
        // the host: guests drifted 13 s apart in a minute of load. Told
        // the host's TSC rate, every guest keeps the host's time.
        if let Some(khz) = host_tsc_khz() {
            append.push_str(&format!(" tsc_early_khz={khz} tsc=reliable clocksource=tsc"));
        }
    }
    let accel = match accel {
        Accel::Tcg => "tcg",
        Accel::Kvm => "kvm",
    };
    vec![
        "qemu-system-x86_64".into(),
        "-name".into(),
        format!("roam-{}-node{id}", spec.name),
        "-nodefaults".into(),
        "-no-reboot".into(),
        "-accel".into(),
        accel.into(),
        "-cpu".into(),
        // 4-level paging, as on most servers: with LA57 the KASAN kernel
        // occasionally reports a wild access in an early-boot interrupt
        // under TCG, before roam is loaded.
        "max,la57=off".into(),
        "-smp".into(),
        spec.cpus.to_string(),
        "-m".into(),
        format!("{}M", spec.memory_mb),
        "-display".into(),
        "none".into(),
        "-kernel".into(),
        art.kernel.bzimage.display().to_string(),
        "-initrd".into(),
        art.initramfs.display().to_string(),
        "-append".into(),
        append,
        "-chardev".into(),
        format!("socket,id=con,path={},server=on,wait=off,logfile={}", d("console.sock"), d("console.log")),
        "-serial".into(),
        "chardev:con".into(),
        "-chardev".into(),
        format!("socket,id=agent,path={},server=on,wait=off,logfile={}", d("agent.sock"), d("agent.log")),
        "-serial".into(),
        "chardev:agent".into(),
        "-netdev".into(),
        format!("tap,id=net0,ifname=roamt{id},script=no,downscript=no"),
        "-device".into(),
        format!("virtio-net-pci,netdev=net0,mac=52:54:00:77:00:{id:02x}"),
        "-pidfile".into(),
        d("qemu.pid"),
        "-daemonize".into(),
    ]
}

/// Starts node `id`'s QEMU inside the namespace and plugs its tap into the
/// bridge.
fn launch(ctx: &Ctx, spec: &Spec, art: &Artifacts, ns: &str, id: u32, accel: Accel) -> Result<NodeState> {
    let nd = node_dir(ctx, &spec.name, id);
    fs::create_dir_all(&nd)?;
    let _ = fs::remove_file(nd.join("qemu.pid"));
    let args = qemu_command(spec, art, id, &nd, accel);
    fs::write(nd.join("qemu.cmdline"), args.join(" ") + "\n")?;
    let log = nd.join("qemu.log");
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns]).args(&args);
    util::run_logged(&mut c, &log, &format!("starting QEMU for node {id}"), "read the QEMU log")?;
    let pid: i32 = fs::read_to_string(nd.join("qemu.pid"))?.trim().parse()?;
    ip(Some(ns), &["link", "set", &format!("roamt{id}"), "master", "roambr", "up"])?;
    Ok(NodeState { id, pid, dir: nd })
}

fn boot_timeout(accel: Accel, profile: crate::kernel::Profile) -> Duration {
    Duration::from_secs(match (accel, profile) {
        (Accel::Kvm, _) => 60,
        (Accel::Tcg, crate::kernel::Profile::Normal) => 180,
        (Accel::Tcg, crate::kernel::Profile::Debug) => 600,
    })
}

/// Waits for a node's agent and checks roam.ko is loaded with its id.
fn attach(n: NodeState, timeout: Duration) -> Result<Agent> {
    let dir = n.dir.clone();
    let alive = move || is_our_qemu(n.pid, &dir);
    let mut a = Agent::connect(n.id, &n.dir.join("agent.sock"), timeout, &alive)?;
    let got = a.check("cat /sys/kernel/roam/node_id", Duration::from_secs(30))?;
    if got.trim() != n.id.to_string() {
        bail!(
            "node {}: roam.ko is not loaded with node id {} (got {:?}); console log: {}",
            n.id,
            n.id,
            got.trim(),
            n.dir.join("console.log").display()
        );
    }
    Ok(a)
}

fn kill_pid(n: &NodeState) {
    if is_our_qemu(n.pid, &n.dir) {
        // SAFETY: kill(2) with a pid we verified is our QEMU.
        unsafe { libc::kill(n.pid, libc::SIGKILL) };
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while is_our_qemu(n.pid, &n.dir) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Boots the cluster and waits until every node's agent answers and
/// roam.ko is loaded with the right node id.
pub fn up(ctx: &Ctx, spec: &Spec, art: &Artifacts) -> Result<Cluster> {
    if !util::is_root() {
        bail!("the test cluster needs root (network namespace, bridge and taps); run as root");
    }
    if spec.nodes == 0 || spec.nodes > 250 {
        bail!("--nodes must be between 1 and 250");
    }
    if load_state(ctx, &spec.name)?.is_some() {
        println!("    a cluster named {} is recorded; stopping it first", spec.name);
        down(ctx, &spec.name)?;
    }
    let mut accel = spec.accel;
    if accel == Accel::Kvm && !kvm_usable() {
        println!("    /dev/kvm is not usable here; falling back to TCG");
        accel = Accel::Tcg;
    }
    step(&format!(
        "booting {} node(s) ({}, {} MiB each) in netns {}",
        spec.nodes,
        if accel == Accel::Kvm { "KVM" } else { "TCG" },
        spec.memory_mb,
        netns_name(&spec.name)
    ));
    let dir = cluster_dir(ctx, &spec.name);
    if dir.exists() {
        fs::remove_dir_all(&dir)?;
    }
    fs::create_dir_all(&dir)?;
    let ns = netns_name(&spec.name);
    // A namespace left by a crashed run: remove it (its QEMUs are gone).
    let _ = util::quiet(Command::new("ip").args(["netns", "del", &ns]));
    ip(None, &["netns", "add", &ns])?;
    let mut state = State {
        name: spec.name.clone(),
        netns: ns.clone(),
        accel,
        profile: art.kernel.profile.name().into(),
        nodes: Vec::new(),
    };
    let save = |state: &State| -> Result<()> {
        fs::write(state_path(ctx, &spec.name), serde_json::to_string_pretty(state)?)?;
        Ok(())
    };
    save(&state)?;
    let r = (|| -> Result<Vec<Agent>> {
        ip(Some(&ns), &["link", "set", "lo", "up"])?;
        ip(Some(&ns), &["link", "add", "roambr", "type", "bridge"])?;
        ip(Some(&ns), &["link", "set", "roambr", "up"])?;
        for id in 1..=spec.nodes {
            let n = launch(ctx, spec, art, &ns, id, accel)?;
            state.nodes.push(n);
            save(&state)?;
        }
        let timeout = boot_timeout(accel, art.kernel.profile);
        let start = Instant::now();
        let handles: Vec<_> = state
            .nodes
            .iter()
            .cloned()
            .map(|n| std::thread::spawn(move || attach(n, timeout)))
            .collect();
        let mut agents = Vec::new();
        for h in handles {
            agents.push(h.join().map_err(|_| anyhow::anyhow!("agent thread panicked"))??);
        }
        println!("    all {} node(s) up with roam.ko loaded in {}", spec.nodes, util::fmt_duration(start.elapsed()));
        Ok(agents)
    })();
    match r {
        Ok(agents) => Ok(Cluster { state, agents, spec: Spec { accel, ..spec.clone() }, art: art.clone(), ctx: ctx.clone() }),
        Err(e) => {
            let logs: Vec<String> =
                state.nodes.iter().map(|n| format!("  node {} console: {}", n.id, n.dir.join("console.log").display())).collect();
            let _ = down(ctx, &spec.name);
            Err(e.context(format!("the cluster did not come up; logs:\n{}", logs.join("\n"))))
        }
    }
}

/// Stops exactly the QEMUs this cluster started (by pid) and removes its
/// network namespace. Logs stay in the cluster directory.
pub fn down(ctx: &Ctx, name: &str) -> Result<()> {
    let Some(state) = load_state(ctx, name)? else {
        println!("    no cluster named {name} is running");
        return Ok(());
    };
    for n in &state.nodes {
        if is_our_qemu(n.pid, &n.dir) {
            // SAFETY: kill(2) with a pid we verified is our QEMU.
            unsafe { libc::kill(n.pid, libc::SIGTERM) };
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    for n in &state.nodes {
        while is_our_qemu(n.pid, &n.dir) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        if is_our_qemu(n.pid, &n.dir) {
            // SAFETY: as above; it ignored SIGTERM for 10 s.
            unsafe { libc::kill(n.pid, libc::SIGKILL) };
        }
    }
    let _ = util::quiet(Command::new("ip").args(["netns", "del", &state.netns]));
    fs::remove_file(state_path(ctx, name))?;
    println!("    cluster {name}: stopped {} node(s), removed netns {}", state.nodes.len(), state.netns);
    Ok(())
}

impl Cluster {
    pub fn down(self, ctx: &Ctx) -> Result<()> {
        down(ctx, &self.state.name)
    }

    /// Kills node `id` (as a crash would: no shutdown, no goodbye).
    pub fn kill_node(&mut self, id: u32) {
        kill_pid(&self.state.nodes[(id - 1) as usize]);
    }

    /// Boots node `id` again (after [`Cluster::kill_node`]) and reattaches
    /// its agent.
    pub fn restart_node(&mut self, id: u32) -> Result<()> {
        let i = (id - 1) as usize;
        kill_pid(&self.state.nodes[i]);
        // Keep the first boot's console log: the run scans every boot.
        let dir = self.state.nodes[i].dir.clone();
        let log = dir.join("console.log");
        if log.exists() {
            let mut n = 1;
            while dir.join(format!("console.{n}.log")).exists() {
                n += 1;
            }
            fs::rename(&log, dir.join(format!("console.{n}.log")))?;
        }
        let n = launch(&self.ctx, &self.spec, &self.art, &self.state.netns, id, self.spec.accel)?;
        self.state.nodes[i] = n.clone();
        fs::write(state_path(&self.ctx, &self.state.name), serde_json::to_string_pretty(&self.state)?)?;
        self.agents[i] = attach(n, boot_timeout(self.spec.accel, self.art.kernel.profile))?;
        Ok(())
    }

    /// Every console log of node `id`, earlier boots first.
    pub fn console_logs(&self, id: u32) -> Vec<PathBuf> {
        let dir = &self.state.nodes[(id - 1) as usize].dir;
        let mut v = Vec::new();
        let mut n = 1;
        while dir.join(format!("console.{n}.log")).exists() {
            v.push(dir.join(format!("console.{n}.log")));
            n += 1;
        }
        v.push(dir.join("console.log"));
        v
    }

    /// Whether node `id`'s QEMU is still running.
    pub fn alive(&self, id: u32) -> bool {
        let n = &self.state.nodes[(id - 1) as usize];
        is_our_qemu(n.pid, &n.dir)
    }
}

/// `cargo xtask sh N CMD`: runs CMD on node N through its agent.
pub fn sh(ctx: &Ctx, name: &str, id: u32, cmd: &str, timeout: std::time::Duration) -> Result<()> {
    let state = load_state(ctx, name)?.with_context(|| format!("no cluster named {name} is running; start one with `cargo xtask cluster`"))?;
    let node = state.nodes.iter().find(|n| n.id == id).with_context(|| format!("cluster {name} has no node {id}"))?;
    let mut a = Agent::connect(node.id, &node.dir.join("agent.sock"), std::time::Duration::from_secs(10), &|| true)?;
    let o = a.run(cmd, timeout)?;
    print!("{}", o.text);
    if o.rc != 0 {
        bail!("exit status {}", o.rc);
    }
    Ok(())
}

/// `cargo xtask console N`: attaches the terminal to node N's serial
/// console until Ctrl-] is typed.
pub fn console(ctx: &Ctx, name: &str, id: u32) -> Result<()> {
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;
    let state = load_state(ctx, name)?.with_context(|| format!("no cluster named {name} is running; start one with `cargo xtask cluster`"))?;
    let node = state.nodes.iter().find(|n| n.id == id).with_context(|| format!("cluster {name} has no node {id}"))?;
    let sock = node.dir.join("console.sock");
    let mut stream = UnixStream::connect(&sock).with_context(|| format!("cannot connect to {}", sock.display()))?;
    println!("connected to node {id}'s console (log: {}); Ctrl-] leaves", node.dir.join("console.log").display());
    let raw = RawTerminal::enter();
    let mut out = stream.try_clone()?;
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        let mut stdout = std::io::stdout();
        while let Ok(n) = out.read(&mut buf) {
            if n == 0 || stdout.write_all(&buf[..n]).is_err() {
                break;
            }
            let _ = stdout.flush();
        }
    });
    stream.write_all(b"\n")?;
    let mut stdin = std::io::stdin();
    let mut buf = [0u8; 1024];
    loop {
        let n = stdin.read(&mut buf)?;
        if n == 0 {
            break;
        }
        if let Some(p) = buf[..n].iter().position(|&b| b == 0x1d) {
            stream.write_all(&buf[..p])?;
            break;
        }
        stream.write_all(&buf[..n])?;
    }
    drop(raw);
    let _ = stream.shutdown(std::net::Shutdown::Both);
    let _ = reader.join();
    println!("\r\nleft node {id}'s console");
    Ok(())
}

/// Puts stdin in raw mode while alive (if it is a terminal).
struct RawTerminal(Option<libc::termios>);

impl RawTerminal {
    fn enter() -> Self {
        // SAFETY: termios is plain data; tcgetattr fills it or fails.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: fd 0 and a valid termios pointer.
        if unsafe { libc::tcgetattr(0, &mut t) } != 0 {
            return RawTerminal(None);
        }
        let saved = t;
        // SAFETY: valid termios pointer.
        unsafe { libc::cfmakeraw(&mut t) };
        // SAFETY: fd 0 and a valid termios pointer.
        unsafe { libc::tcsetattr(0, libc::TCSANOW, &t) };
        RawTerminal(Some(saved))
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        if let Some(t) = self.0 {
            // SAFETY: restores the settings read in `enter`.
            unsafe { libc::tcsetattr(0, libc::TCSANOW, &t) };
        }
    }
}
