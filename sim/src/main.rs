//! `roam-sim`: the simulators on their own, with the same options as
//! `cargo xtask sim` and `cargo xtask jobsim` (see [`roam_sim::cli`]).
//! Only parses the command line and calls the library.

use clap::{Parser, Subcommand};
use roam_sim::cli::{JobSimArgs, SimArgs};
use roam_sim::{exchange, jobmix};

#[derive(Parser)]
#[command(name = "roam-sim", about = "roam's simulators (also `cargo xtask sim` and `cargo xtask jobsim`)")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Simulate the load-vector exchange (and two baselines) at scale.
    Sim(SimArgs),
    /// Simulate a heavy-tailed job stream with and without migration.
    #[command(name = "jobsim")]
    JobSim(JobSimArgs),
}

fn main() {
    let r = match Cli::parse().cmd {
        Cmd::Sim(a) => exchange::run(&a.options()),
        Cmd::JobSim(a) => jobmix::run(&a.options()),
    };
    if let Err(e) = r {
        eprintln!("\nroam-sim: error: {e:#}");
        std::process::exit(1);
    }
}
