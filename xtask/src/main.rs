//! `cargo xtask`: roam's developer commands (the cargo-xtask pattern).
//!
//! Every step prints what it does, shows progress on long steps, and on
//! failure names its log file and what to try.
//!
//! This file parses the command line and wires the commands to their
//! modules (and holds `demo`'s balancing show); it may call every module,
//! none of which calls back into it.

mod bench;
mod build;
mod cluster;
mod config;
mod deps;
mod guest;
mod kernel;
mod package;
mod scenarios;
mod stackcheck;
mod tally;
mod test;
mod util;

use anyhow::Result;
use clap::{Parser, Subcommand};
use cluster::Accel;
use kernel::Profile;
use std::time::Duration;

#[derive(Parser)]
#[command(name = "cargo xtask", about = "roam's build, kernel, cluster and test driver")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Install the Debian packages and bindgen-cli roam needs (idempotent).
    Deps,
    /// Build (or reuse from the cache) the guest kernel and module build tree.
    Kernel {
        /// The debug profile: KASAN, lockdep, kmemleak and other checks.
        #[arg(long)]
        debug: bool,
    },
    /// Build roam.ko, the static tools and tests, and the guest initramfs.
    Build {
        #[arg(long)]
        debug: bool,
    },
    /// Boot a cluster of QEMU guests with roam.ko loaded (or stop it).
    Cluster {
        #[arg(long, default_value_t = 3)]
        nodes: u32,
        #[arg(long, value_enum, default_value_t = Accel::Tcg)]
        accel: Accel,
        /// Guest memory in MiB.
        #[arg(long, default_value_t = 1024)]
        memory: u32,
        /// Use the debug kernel.
        #[arg(long)]
        debug: bool,
        /// Stop the cluster started earlier (exactly its QEMU processes).
        #[arg(long)]
        down: bool,
        #[arg(long, default_value = "default")]
        name: String,
    },
    /// Attach the terminal to node N's serial console (Ctrl-] leaves).
    Console {
        node: u32,
        #[arg(long, default_value = "default")]
        name: String,
    },
    /// Run a shell command on node N of a running cluster (through its
    /// agent) and print what it printed; exits with its status.
    Sh {
        node: u32,
        /// The command line (one argument; quote it).
        cmd: String,
        #[arg(long, default_value = "default")]
        name: String,
        /// Seconds to wait for it.
        #[arg(long, default_value_t = 60)]
        timeout: u64,
    },
    /// deps + kernel + build + cluster, then show the cluster's state.
    Demo {
        #[arg(long, default_value_t = 3)]
        nodes: u32,
        #[arg(long, value_enum, default_value_t = Accel::Tcg)]
        accel: Accel,
    },
    /// Benchmarks; ratios measured in one run.
    Bench {
        #[arg(value_enum)]
        what: BenchKind,
        #[arg(long, value_enum, default_value_t = Accel::Tcg)]
        accel: Accel,
    },
    /// Simulate the load-vector exchange (and two baselines) at scale.
    Sim(roam_sim::cli::SimArgs),
    /// Simulate a heavy-tailed job stream with and without migration.
    #[command(name = "jobsim")]
    JobSim(roam_sim::cli::JobSimArgs),
    /// Build the `roam` Debian package (roam.ko for the normal kernel, the
    /// tools, roam.service, man pages, completions) and check it.
    Package {
        /// Only check the package built before.
        #[arg(long)]
        check: bool,
        /// Build roam.ko against this kernel build tree (a Rust-enabled
        /// kernel, e.g. one built with `make bindeb-pkg`; docs/install.md)
        /// instead of the kernel `cargo xtask kernel` built.
        #[arg(long, value_name = "DIR", conflicts_with = "check")]
        kdir: Option<std::path::PathBuf>,
    },
    /// Host tests, then the KTAP tests in a fresh cluster; `N passed, N failed`.
    Test {
        #[arg(long)]
        debug: bool,
        #[arg(long, default_value_t = 4)]
        nodes: u32,
        #[arg(long, value_enum, default_value_t = Accel::Tcg)]
        accel: Accel,
        #[arg(long, default_value_t = 1024)]
        memory: u32,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum BenchKind {
    /// Transport round trip and bulk throughput vs raw TCP; load-exchange cost.
    Transport,
    /// Migration (= freeze) time and bytes vs process size, page throughput
    /// vs raw TCP, null-process migration in transport round trips.
    Migrate,
    /// Makespan of CPU-bound jobs with balancing off and on; the module's
    /// cost to local system calls (loaded vs unloaded).
    Balance,
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(cli) {
        eprintln!("\nxtask: error: {e:#}");
        std::process::exit(1);
    }
}

fn boot(ctx: &util::Ctx, profile: Profile, spec: &cluster::Spec) -> Result<cluster::Cluster> {
    kernel::run(ctx, profile)?;
    let art = build::run(ctx, profile)?;
    match cluster::up(ctx, spec, &art) {
        Err(e) if spec.accel == Accel::Kvm => {
            println!("    KVM guests did not come up ({e:#}); retrying with TCG");
            let tcg = cluster::Spec { accel: Accel::Tcg, ..spec.clone() };
            cluster::up(ctx, &tcg, &art)
        }
        r => r,
    }
}

fn run(cli: Cli) -> Result<()> {
    let ctx = util::Ctx::new()?;
    match cli.cmd {
        Cmd::Deps => deps::run(&ctx),
        Cmd::Kernel { debug } => kernel::run(&ctx, Profile::from_debug(debug)).map(|_| ()),
        Cmd::Build { debug } => {
            let a = build::run(&ctx, Profile::from_debug(debug))?;
            println!("==> built {} and {} ({} test programs)", a.module.display(), a.initramfs.display(), a.tests.len());
            Ok(())
        }
        Cmd::Cluster { down: true, name, .. } => cluster::down(&ctx, &name),
        Cmd::Cluster { nodes, accel, memory, debug, name, .. } => {
            let spec = cluster::Spec { name: name.clone(), nodes, accel, memory_mb: memory, cpus: 1 };
            let cl = boot(&ctx, Profile::from_debug(debug), &spec)?;
            print_cluster(&ctx, cl, &name)
        }
        Cmd::Console { node, name } => cluster::console(&ctx, &name, node),
        Cmd::Sh { node, cmd, name, timeout } => cluster::sh(&ctx, &name, node, &cmd, std::time::Duration::from_secs(timeout)),
        Cmd::Demo { nodes, accel } => {
            deps::run(&ctx)?;
            let spec = cluster::Spec { name: "default".into(), nodes, accel, memory_mb: 1024, cpus: 1 };
            let cl = boot(&ctx, Profile::Normal, &spec)?;
            print_cluster(&ctx, cl, "default")
        }
        Cmd::Sim(a) => roam_sim::exchange::run(&a.options()),
        Cmd::JobSim(a) => roam_sim::jobmix::run(&a.options()),
        Cmd::Bench { what: BenchKind::Transport, accel } => bench::transport::run(&ctx, accel),
        Cmd::Bench { what: BenchKind::Migrate, accel } => bench::migrate::run(&ctx, accel),
        Cmd::Bench { what: BenchKind::Balance, accel } => bench::balance::run(&ctx, accel),
        Cmd::Package { check, kdir } => package::run(&ctx, check, kdir.as_deref()),
        Cmd::Test { debug, nodes, accel, memory } => {
            test::run(&ctx, &test::Options { profile: Profile::from_debug(debug), nodes, accel, memory_mb: memory })
        }
    }
}

/// Configures the cluster (one cluster file, `roamctl apply` on every
/// node), waits until every node sees every other, and shows the status.
fn print_cluster(ctx: &util::Ctx, mut cl: cluster::Cluster, name: &str) -> Result<()> {
    util::step("configuring the cluster: roamctl apply /etc/roam/cluster.toml on every node");
    config::configure(&mut cl, true)?;
    let nodes = cl.agents[0].check("roamctl nodes", Duration::from_secs(30))?;
    util::step("node 1's view of the cluster (roamctl nodes)");
    print!("{nodes}");
    util::step("cluster state (roamctl status on every node)");
    for (i, a) in cl.agents.iter_mut().enumerate() {
        let out = a.run("hostname; ip -4 -o addr show eth0 | awk '{print $4}'; roamctl status", Duration::from_secs(30))?;
        println!("--- node {} ---", i + 1);
        print!("{}", out.text);
    }
    // ROAM_DEMO_JOBS=0 leaves out the balancing show (a bare configured cluster).
    if cl.agents.len() >= 2 && std::env::var("ROAM_DEMO_JOBS").map(|v| v != "0").unwrap_or(true) {
        balancing_demo(&mut cl)?;
    }
    let first = cl.state.nodes.first().map(|n| n.dir.clone()).unwrap_or_default();
    println!(
        "\nThe cluster keeps running. Console: `cargo xtask console 1 --name {name}`; logs under {}; stop it: `cargo xtask cluster --down --name {name}`.",
        first.parent().map(|p| p.display().to_string()).unwrap_or_default()
    );
    let _ = ctx;
    Ok(())
}

/// How many of node 1's demo jobs run on each node (from node 1's
/// `roamctl ps`), as "node1 4, node2 1, ...".
fn spread(cl: &mut cluster::Cluster) -> Result<(String, Vec<usize>)> {
    let n = cl.agents.len();
    let ps = cl.agents[0].check("roamctl ps", Duration::from_secs(30))?;
    let mut per = vec![0usize; n + 1];
    for l in ps.lines().filter(|l| l.ends_with("migrate_work")) {
        let node: usize = l.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(0);
        if node >= 1 && node <= n {
            per[node] += 1;
        }
    }
    let text = (1..=n).map(|i| format!("node{i} {}", per[i])).collect::<Vec<_>>().join(", ");
    Ok((text, per))
}

/// Starts two CPU-bound jobs per node on node 1 and shows them spread out
/// by themselves; then loads node 2 with local jobs and shows its guests
/// leave. Every wait is bounded; the jobs end by themselves.
fn balancing_demo(cl: &mut cluster::Cluster) -> Result<()> {
    let n = cl.agents.len();
    for a in cl.agents.iter_mut() {
        a.check(&format!("echo {} | base64 -d > /bin/run.sh; chmod 755 /bin/run.sh", config::base64(config::RUN_SH.as_bytes())), Duration::from_secs(30))?;
    }
    util::step(&format!("automatic balancing: {} CPU-bound jobs started on node 1", 2 * n));
    for j in 0..2 * n {
        cl.agents[0].check(&format!("run.sh demo{j} /usr/lib/roam/tests/migrate_work spin 150"), Duration::from_secs(30))?;
    }
    let start = std::time::Instant::now();
    loop {
        std::thread::sleep(Duration::from_secs(3));
        let (text, per) = spread(cl)?;
        println!("    after {:>3} s: {text}", start.elapsed().as_secs());
        let busy = &per[1..];
        if busy.iter().max().copied().unwrap_or(0) - busy.iter().min().copied().unwrap_or(0) <= 1 && busy.iter().sum::<usize>() == 2 * n {
            break;
        }
        if start.elapsed() > Duration::from_secs(90) {
            println!("    (not balanced within 90 s)");
            break;
        }
    }
    print!("{}", cl.agents[0].check("roamctl ps | grep -E 'PID|migrate_work'", Duration::from_secs(30))?);
    util::step("node 2 gets busy: 3 local jobs start there, and its guests move away");
    for j in 0..3 {
        cl.agents[1].check(&format!("run.sh local{j} /usr/lib/roam/tests/migrate_work spin 150"), Duration::from_secs(30))?;
    }
    let start = std::time::Instant::now();
    loop {
        std::thread::sleep(Duration::from_secs(3));
        let (text, per) = spread(cl)?;
        println!("    after {:>3} s: node 1's jobs: {text} (node 2 also runs its 3 local jobs)", start.elapsed().as_secs());
        if per.get(2).copied().unwrap_or(0) == 0 {
            break;
        }
        if start.elapsed() > Duration::from_secs(60) {
            println!("    (node 2 still hosts some of node 1's jobs after 60 s)");
            break;
        }
    }
    print!("{}", cl.agents[1].check("roamctl ps | grep -E 'PID|migrate_work'", Duration::from_secs(30))?);
    println!("    (the jobs end by themselves within about 150 s of CPU time each)");
    Ok(())
}
