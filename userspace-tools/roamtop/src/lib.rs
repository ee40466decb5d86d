//! `roamtop`'s command line, as a library so that its man page and shell
//! completions are generated from the same definition (`cargo xtask
//! package`); the program itself is `main.rs`.

use clap::Parser;

#[derive(Parser)]
#[command(
    name = "roamtop",
    version,
    about = "A live view of roam: load per node, where this node's processes run, guests, migrations",
    long_about = "A live view of roam: load per node, where this node's processes run, guests, \
                  migrations. Redraws every second until interrupted (Ctrl-C). Reads \
                  /sys/kernel/roam (or $ROAM_SYSFS) and /dev/roam; without /dev/roam the \
                  process list is replaced by the processes away from /sys/kernel/roam/away."
)]
pub struct Cli {
    /// Print one frame and exit, without clearing the screen.
    #[arg(long)]
    pub once: bool,
    /// Stop after N frames.
    #[arg(long, value_name = "N", conflicts_with = "once", value_parser = clap::value_parser!(u64).range(1..))]
    pub iterations: Option<u64>,
    /// Seconds between frames (0.1 to 3600).
    #[arg(long, value_name = "S", default_value = "1", value_parser = parse_interval)]
    pub interval: f64,
    /// How many recent migrations to list (0: none).
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub events: usize,
}

pub fn parse_interval(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.1..=3600.0).contains(&v) => Ok(v),
        _ => Err(format!("`{s}` is not a number of seconds between 0.1 and 3600")),
    }
}

/// `roamtop`'s command-line definition, for man pages and completions.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}
