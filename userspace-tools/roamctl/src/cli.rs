//! The command lines of `roamctl` and `roamrun`: every subcommand, its
//! arguments and their checks, as clap definitions. The binaries
//! (`main.rs`, `roamrun.rs`) run them; the library exposes them
//! ([`crate::command`], [`crate::roamrun_command`]) so that man pages and
//! shell completions are generated from the same definitions (`cargo
//! xtask package`). No behaviour lives here.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use roam_proto::abi::{NODE_ID_MAX, NODE_ID_MIN};

use crate::migrate;

#[derive(Parser)]
#[command(name = "roamctl", version, about = "Inspect and control roam on this node")]
pub struct Cli {
    /// Print results, and errors, as one line of JSON on stdout.
    #[arg(long, global = true)]
    pub json: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Show this node's id, state and roam version.
    Status,
    /// List this node (marked `*`) and its peers, with their state and load.
    Nodes,
    /// Show the transport's counters (frames, rejections).
    Stats,
    /// Show this node's load figures.
    Load,
    /// Show the migration counters: moves by cause and result, freeze
    /// times, arrivals, forwarded calls.
    Migrations,
    /// Print this node's figures in the Prometheus text format (load,
    /// memory, guests, migrations by cause and result, freeze-time
    /// histogram, forwarded calls, frames and rejections, each peer's
    /// link).
    Metrics {
        /// Write them to FILE (through a temporary file and a rename, for
        /// node_exporter's textfile collector) and print nothing.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Configure this node from a TOML cluster file (as root).
    ///
    /// Checks the whole file and its key file first; a refused file changes
    /// nothing. Then stops the transport, sets node id, key, peers and
    /// tunables, and listens on this node's own address. The sysfs
    /// directory is $ROAM_SYSFS, by default /sys/kernel/roam.
    Apply {
        /// The cluster file.
        file: PathBuf,
        /// This node's id; by default the node whose addr is one of this
        /// machine's IPv4 addresses.
        #[arg(long, value_name = "ID", value_parser = node_id_parser())]
        node: Option<u32>,
        /// Only check the files; change nothing.
        #[arg(long)]
        check: bool,
    },
    /// Print a new random cluster key (64 hex digits), for a key file.
    Keygen,
    /// Say whether a process can migrate, and if not, why not.
    Why { pid: u32 },
    /// Pin a process to this node (its owner or root).
    Lock { pid: u32 },
    /// Undo `lock`.
    Unlock { pid: u32 },
    /// Show, or set, the nodes a process may be moved to (its owner or
    /// root): ids and ranges (`2,4-6`), or `any`. Its home is always
    /// allowed; the list goes with it when it migrates.
    Allow {
        pid: u32,
        #[arg(value_name = "NODES", value_parser = crate::run::parse_nodes)]
        nodes: Option<u64>,
    },
    /// Move a process to another node, or home (its owner or root).
    ///
    /// Waits until it has moved, then prints where it went, its pid there,
    /// how long the move took and how much memory was sent.
    Migrate {
        pid: u32,
        /// A node id, or `home`.
        #[arg(value_name = "NODE|home", value_parser = migrate::parse_dest)]
        node: u32,
        /// `stop`: the process is stopped for the whole copy. `precopy`:
        /// its pages are copied in rounds while it runs, and it is stopped
        /// only for what it wrote during the last round (a process at
        /// home; one on another node moves stopped).
        #[arg(long, value_name = "stop|precopy", default_value = "stop", value_parser = migrate::parse_mode)]
        mode: u32,
    },
    /// Say where a process runs: home, away on another node, a guest
    /// here from another node, or moving.
    Where { pid: u32 },
    /// List this node's user processes with the node each runs on and its
    /// state (home, away, guest, moving).
    Ps,
    /// Time round trips (or, with --bulk, a one-way transfer) to a peer
    /// over the roam transport (as root).
    Ping {
        /// The peer's node id.
        #[arg(value_parser = node_id_parser())]
        node: u32,
        /// Round trips (or frames with --bulk).
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=roam_proto::abi::PING_MAX_COUNT as i64))]
        count: u32,
        /// Payload bytes per frame.
        #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(0..=262_144))]
        size: u32,
        /// Send COUNT frames one way, then one round trip.
        #[arg(long)]
        bulk: bool,
        /// Send nothing: time COUNT frame MACs over SIZE bytes on this node.
        #[arg(long, conflicts_with = "bulk")]
        mac_only: bool,
    },
    /// Show this node's controls (block, stay, lstay, quiet, balance) and
    /// how many guests it has and processes away; or change them (as root).
    Node {
        #[command(subcommand)]
        action: Option<NodeCmd>,
    },
    /// List the migrations started from this node (the newest 36), or
    /// with --follow print each new one as it happens.
    Events {
        /// Keep reading (every 500 ms) and print new events as they come,
        /// until interrupted, --count or --seconds.
        #[arg(long)]
        follow: bool,
        /// With --follow: stop after printing N events.
        #[arg(long, value_name = "N", requires = "follow", value_parser = clap::value_parser!(u64).range(1..))]
        count: Option<u64>,
        /// With --follow: stop after S seconds.
        #[arg(long, value_name = "S", requires = "follow", value_parser = parse_seconds)]
        seconds: Option<f64>,
        /// With --follow: skip the events already listed; print only later ones.
        #[arg(long, requires = "follow")]
        new: bool,
    },
}

/// `roamctl node ...` (all as root).
#[derive(Subcommand)]
pub enum NodeCmd {
    /// on: take no new guests (writes 0 to `accept`); off: take them again.
    Block { state: OnOff },
    /// on: no process leaves this node automatically.
    Stay { state: OnOff },
    /// on: this node's own processes do not leave automatically (guests still may).
    Lstay { state: OnOff },
    /// on: send no load pushes to peers (their pushes are still answered).
    Quiet { state: OnOff },
    /// on: balance load automatically (the default); off: move only when asked.
    Balance { state: OnOff },
    /// Send every guest home; returns when none is left (roam gives up
    /// after a minute).
    Expel,
    /// Bring every process of this node home; returns when all are back.
    Bring,
    /// Before a shutdown: block on, then expel, then bring, reporting each
    /// step.
    Drain,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OnOff {
    #[value(alias = "1")]
    On,
    #[value(alias = "0")]
    Off,
}

/// `--seconds`: a positive, finite number of seconds.
pub fn parse_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 1e9 => Ok(v),
        _ => Err(format!("`{s}` is not a positive number of seconds")),
    }
}

/// `--node`: a node id, 1..=65534.
pub fn node_id_parser() -> clap::builder::RangedI64ValueParser<u32> {
    clap::value_parser!(u32).range(i64::from(NODE_ID_MIN)..=i64::from(NODE_ID_MAX))
}

/// `roamrun [--lock] [--nodes LIST] [--best | --on NODE] [--] PROGRAM [ARGS...]`.
#[derive(Parser)]
#[command(name = "roamrun", version, about = "Start a program with a roam migration policy")]
pub struct RunCli {
    /// Keep the program on this node.
    #[arg(long, conflicts_with_all = ["best", "on", "nodes"])]
    pub lock: bool,
    /// Nodes it may be moved to: ids and ranges (`2,4-6`), or `any`.
    #[arg(long, value_name = "LIST", value_parser = crate::run::parse_nodes)]
    pub nodes: Option<u64>,
    /// Start it on the least-loaded node that is up (and in --nodes).
    #[arg(long, conflicts_with = "on")]
    pub best: bool,
    /// Start it on this node.
    #[arg(long, value_name = "NODE", value_parser = clap::value_parser!(u32).range(1..=64))]
    pub on: Option<u32>,
    /// The program and its arguments.
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<std::ffi::OsString>,
}
