//! The command-line options of both simulators, defined once for
//! `cargo xtask sim` / `jobsim` and this crate's `roam-sim` binary, and
//! their translation into [`SimOptions`] and [`JobSimOptions`]. Calls
//! nothing but those two types.

use crate::exchange::SimOptions;
use crate::jobmix::JobSimOptions;

/// `sim`: the load-vector exchange.
#[derive(clap::Args, Clone, Debug)]
pub struct SimArgs {
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
}

impl SimArgs {
    /// The options these arguments ask for (the rest at their defaults).
    pub fn options(self) -> SimOptions {
        let SimArgs { nodes, seconds, loss, delay_ms, churn_per_s, seed, out_dir } = self;
        let mut o = SimOptions { nodes, seconds, loss, delay_ms, churn_per_s, seed, ..Default::default() };
        if let Some(d) = out_dir {
            o.out_dir = d;
        }
        o
    }
}

/// `jobsim`: the job mix.
#[derive(clap::Args, Clone, Debug)]
pub struct JobSimArgs {
    #[arg(long, default_value_t = 16)]
    nodes: usize,
    #[arg(long, default_value_t = 20000)]
    jobs: usize,
    /// Mean offered load as a fraction of the cluster's capacity.
    #[arg(long, default_value_t = 0.7)]
    utilization: f64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

impl JobSimArgs {
    /// The options these arguments ask for (the rest at their defaults).
    pub fn options(self) -> JobSimOptions {
        let JobSimArgs { nodes, jobs, utilization, seed } = self;
        JobSimOptions { nodes, jobs, utilization, seed, ..Default::default() }
    }
}
