//! `cargo xtask`: roam's developer commands (the cargo-xtask pattern).
//!
//! Every step prints what it does, shows progress on long steps, and on
//! failure names its log file and what to try.

mod bench;
mod build;
mod cluster;
mod deps;
mod guest;
mod jobsim;
mod kernel;
mod scenarios;
mod sim;
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
    Sim {
        #[arg(long, default_value_t = 10_000)]
        nodes: usize,
        /// Simulated seconds.
        #[arg(long, default_value_t = 60)]
        seconds: u32,
        /// Message loss probability.
        #[arg(long, default_value_t = 0.05)]
        loss: f64,
        /// Mean one-way delay (ms).
        #[arg(long, default_value_t = 20)]
        delay_ms: u32,
        /// Fraction of nodes leaving per second.
        #[arg(long, default_value_t = 0.001)]
        churn_per_s: f64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Where the SVG plot and JSON go (default: target/sim).
        #[arg(long)]
        out_dir: Option<std::path::PathBuf>,
    },
    /// Simulate a heavy-tailed job stream with and without migration.
    #[command(name = "jobsim")]
    JobSim {
        #[arg(long, default_value_t = 16)]
        nodes: usize,
        #[arg(long, default_value_t = 20000)]
        jobs: usize,
        /// Mean offered load as a fraction of the cluster's capacity.
        #[arg(long, default_value_t = 0.7)]
        utilization: f64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
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
        Cmd::Sim { nodes, seconds, loss, delay_ms, churn_per_s, seed, out_dir } => {
            let mut o = sim::SimOptions { nodes, seconds, loss, delay_ms, churn_per_s, seed, ..Default::default() };
            if let Some(d) = out_dir {
                o.out_dir = d;
            }
            sim::run(&o)
        }
        Cmd::JobSim { nodes, jobs, utilization, seed } => {
            jobsim::run(&jobsim::JobSimOptions { nodes, jobs, utilization, seed, ..Default::default() })
        }
        Cmd::Bench { what: BenchKind::Transport, accel } => bench::transport(&ctx, accel),
        Cmd::Bench { what: BenchKind::Migrate, accel } => bench::migrate(&ctx, accel),
        Cmd::Test { debug, nodes, accel, memory } => {
            test::run(&ctx, &test::Options { profile: Profile::from_debug(debug), nodes, accel, memory_mb: memory })
        }
    }
}

/// Configures the cluster (one cluster file, `roamctl apply` on every
/// node), waits until every node sees every other, and shows the status.
fn print_cluster(ctx: &util::Ctx, mut cl: cluster::Cluster, name: &str) -> Result<()> {
    util::step("configuring the cluster: roamctl apply /etc/roam/cluster.toml on every node");
    bench::configure(&mut cl)?;
    let nodes = cl.agents[0].check("roamctl nodes", Duration::from_secs(30))?;
    util::step("node 1's view of the cluster (roamctl nodes)");
    print!("{nodes}");
    util::step("cluster state (roamctl status on every node)");
    for (i, a) in cl.agents.iter_mut().enumerate() {
        let out = a.run("hostname; ip -4 -o addr show eth0 | awk '{print $4}'; roamctl status", Duration::from_secs(30))?;
        println!("--- node {} ---", i + 1);
        print!("{}", out.text);
    }
    let first = cl.state.nodes.first().map(|n| n.dir.clone()).unwrap_or_default();
    println!(
        "\nThe cluster keeps running. Console: `cargo xtask console 1 --name {name}`; logs under {}; stop it: `cargo xtask cluster --down --name {name}`.",
        first.parent().map(|p| p.display().to_string()).unwrap_or_default()
    );
    let _ = ctx;
    Ok(())
}
