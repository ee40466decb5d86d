//! `roamctl`: inspect and control roam on this node.
//!
//! The subcommands are in the `roamctl` library (`lib.rs`); each returns
//! the text to print, or a [`CtlError`] that `main` reports and turns into
//! the exit status.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use roam_proto::abi::{NODE_ID_MAX, NODE_ID_MIN};

use roamctl::error::CtlError;
use roamctl::node::{Action, Control};
use roamctl::{apply, counters, events, keygen, metrics, migrate, node, nodes, ping, procs, ps, status, sysfs};

#[derive(Parser)]
#[command(name = "roamctl", version, about = "Inspect and control roam on this node")]
struct Cli {
    /// Print results, and errors, as one line of JSON on stdout.
    #[arg(long, global = true)]
    json: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
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
    Why {
        pid: u32,
    },
    /// Pin a process to this node (its owner or root).
    Lock {
        pid: u32,
    },
    /// Undo `lock`.
    Unlock {
        pid: u32,
    },
    /// Show, or set, the nodes a process may be moved to (its owner or
    /// root): ids and ranges (`2,4-6`), or `any`. Its home is always
    /// allowed; the list goes with it when it migrates.
    Allow {
        pid: u32,
        #[arg(value_name = "NODES", value_parser = roamctl::run::parse_nodes)]
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
    },
    /// Say where a process runs: home, away on another node, a guest
    /// here from another node, or moving.
    Where {
        pid: u32,
    },
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
enum NodeCmd {
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
enum OnOff {
    #[value(alias = "1")]
    On,
    #[value(alias = "0")]
    Off,
}

/// `--seconds`: a positive, finite number of seconds.
fn parse_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 1e9 => Ok(v),
        _ => Err(format!("`{s}` is not a positive number of seconds")),
    }
}

/// `roamctl node ...`.
fn run_node(action: Option<&NodeCmd>, json: bool) -> Result<Option<String>, CtlError> {
    let root = sysfs::root();
    let set = |c: Control, state: OnOff| node::run_set(&root, c, state == OnOff::On, json);
    let text = match action {
        None => node::show(&root, json),
        Some(NodeCmd::Block { state }) => set(Control::Block, *state),
        Some(NodeCmd::Stay { state }) => set(Control::Stay, *state),
        Some(NodeCmd::Lstay { state }) => set(Control::Lstay, *state),
        Some(NodeCmd::Quiet { state }) => set(Control::Quiet, *state),
        Some(NodeCmd::Balance { state }) => set(Control::Balance, *state),
        Some(NodeCmd::Expel) => node::run_act(&root, Action::Expel, json),
        Some(NodeCmd::Bring) => node::run_act(&root, Action::Bring, json),
        Some(NodeCmd::Drain) => node::drain(&root, json, &mut |line| print_stdout(line)),
    };
    text.map(Some)
}

/// `roamctl events ...`.
fn run_events(follow: bool, count: Option<u64>, seconds: Option<f64>, new: bool, json: bool) -> Result<Option<String>, CtlError> {
    if !follow {
        return events::run(json).map(|t| (!t.is_empty()).then_some(t));
    }
    let opts = events::FollowOpts { count, seconds, new_only: new, ..events::FollowOpts::default() };
    events::follow(&opts, json).map(|()| None)
}

/// `--node`: a node id, 1..=65534.
fn node_id_parser() -> clap::builder::RangedI64ValueParser<u32> {
    clap::value_parser!(u32).range(i64::from(NODE_ID_MIN)..=i64::from(NODE_ID_MAX))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Node { action } => run_node(action.as_ref(), cli.json),
        Command::Events { follow, count, seconds, new } => run_events(*follow, *count, *seconds, *new, cli.json),
        other => run_simple(other, cli.json).map(Some),
    };
    match result {
        Ok(text) => {
            if let Some(text) = text {
                print_stdout(&text);
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            report(&err, cli.json);
            ExitCode::from(err.exit_status())
        }
    }
}

/// The subcommands that print one result at the end.
fn run_simple(command: &Command, json: bool) -> Result<String, CtlError> {
    match command {
        Command::Status => status::run(json),
        Command::Nodes => nodes::run(json),
        Command::Stats => counters::run("stats", json),
        Command::Load => counters::run("load", json),
        Command::Migrations => counters::run("migrations", json),
        Command::Metrics { output } => metrics::run(output.as_deref(), json),
        Command::Apply { file, node, check } => apply::run(file, *node, *check, json),
        Command::Keygen => keygen::run(json),
        Command::Why { pid } => procs::why(*pid, json),
        Command::Lock { pid } => procs::lock(*pid, true, json),
        Command::Unlock { pid } => procs::lock(*pid, false, json),
        Command::Allow { pid, nodes } => roamctl::run::allow(*pid, *nodes, json),
        Command::Migrate { pid, node } => migrate::migrate(*pid, *node, json),
        Command::Where { pid } => migrate::where_(*pid, json),
        Command::Ps => ps::run(json),
        Command::Ping { node, count, size, bulk, mac_only } => ping::run(*node, *count, *size, *bulk, *mac_only, json),
        Command::Node { .. } | Command::Events { .. } => unreachable!("main runs node and events itself"),
    }
}

/// Prints an error on stderr, and also as JSON on stdout with `--json`, so
/// scripts reading stdout always get one parseable line.
fn report(err: &CtlError, json: bool) {
    let _ = writeln!(std::io::stderr(), "roamctl: {err}");
    if json {
        print_stdout(&err.to_json());
    }
}

/// Like `println!`, but a closed stdout (e.g. `roamctl status | true`) is
/// not worth a panic.
fn print_stdout(text: &str) {
    let _ = writeln!(std::io::stdout(), "{text}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn apply_arguments() {
        let cli = Cli::try_parse_from(["roamctl", "apply", "--check", "c.toml", "--node", "2", "--json"])
            .unwrap();
        assert!(cli.json);
        match cli.command {
            Command::Apply { file, node, check } => {
                assert_eq!(file, PathBuf::from("c.toml"));
                assert_eq!(node, Some(2));
                assert!(check);
            }
            _ => panic!("not apply"),
        }
        for bad in ["0", "65535", "x"] {
            let e = Cli::try_parse_from(["roamctl", "apply", "c.toml", "--node", bad]);
            assert_eq!(e.err().map(|e| e.exit_code()), Some(2), "--node {bad}");
        }
        assert!(Cli::try_parse_from(["roamctl", "apply"]).is_err());
        for cmd in ["nodes", "stats", "load", "migrations", "metrics", "keygen", "ps"] {
            assert!(Cli::try_parse_from(["roamctl", cmd, "--json"]).unwrap().json);
        }
    }

    #[test]
    fn migrate_and_where_arguments() {
        let dest = |args: &[&str]| match Cli::try_parse_from(args).map(|c| c.command) {
            Ok(Command::Migrate { pid, node }) => Some((pid, node)),
            _ => None,
        };
        assert_eq!(dest(&["roamctl", "migrate", "12", "3"]), Some((12, 3)));
        assert_eq!(dest(&["roamctl", "--json", "migrate", "12", "home"]), Some((12, roam_proto::abi::NODE_HOME)));
        for bad in ["0", "65535", "x", "HOME"] {
            let e = Cli::try_parse_from(["roamctl", "migrate", "12", bad]);
            assert_eq!(e.err().map(|e| e.exit_code()), Some(2), "node {bad}");
        }
        assert!(Cli::try_parse_from(["roamctl", "migrate", "12"]).is_err());
        match Cli::try_parse_from(["roamctl", "where", "5", "--json"]) {
            Ok(Cli { json: true, command: Command::Where { pid: 5 } }) => {}
            _ => panic!("where 5 --json"),
        }
    }

    #[test]
    fn node_arguments() {
        let parse = |args: &[&str]| Cli::try_parse_from(args).map(|c| c.command);
        assert!(matches!(parse(&["roamctl", "node"]), Ok(Command::Node { action: None })));
        assert!(matches!(
            parse(&["roamctl", "node", "block", "on"]),
            Ok(Command::Node { action: Some(NodeCmd::Block { state: OnOff::On }) })
        ));
        assert!(matches!(
            parse(&["roamctl", "node", "balance", "0"]),
            Ok(Command::Node { action: Some(NodeCmd::Balance { state: OnOff::Off }) })
        ));
        for c in ["stay", "lstay", "quiet"] {
            assert!(parse(&["roamctl", "node", c, "off"]).is_ok(), "{c}");
            assert!(parse(&["roamctl", "node", c]).is_err(), "{c} needs on|off");
            assert!(parse(&["roamctl", "node", c, "yes"]).is_err(), "{c} yes");
        }
        for c in ["expel", "bring", "drain"] {
            assert!(parse(&["roamctl", "--json", "node", c]).is_ok(), "{c}");
            assert!(parse(&["roamctl", "node", c, "on"]).is_err(), "{c} takes no value");
        }
        assert!(parse(&["roamctl", "node", "accept", "on"]).is_err());
    }

    #[test]
    fn events_arguments() {
        let parse = |args: &[&str]| Cli::try_parse_from(args).map(|c| c.command);
        match parse(&["roamctl", "events", "--follow", "--count", "3", "--seconds", "2.5", "--new"]) {
            Ok(Command::Events { follow: true, count: Some(3), seconds: Some(s), new: true }) => assert_eq!(s, 2.5),
            _ => panic!("events --follow ..."),
        }
        assert!(matches!(
            parse(&["roamctl", "events", "--json"]),
            Ok(Command::Events { follow: false, count: None, seconds: None, new: false })
        ));
        for bad in [
            &["roamctl", "events", "--count", "3"][..],
            &["roamctl", "events", "--seconds", "3"],
            &["roamctl", "events", "--new"],
            &["roamctl", "events", "--follow", "--count", "0"],
            &["roamctl", "events", "--follow", "--seconds", "0"],
            &["roamctl", "events", "--follow", "--seconds", "-1"],
            &["roamctl", "events", "--follow", "--seconds", "inf"],
        ] {
            assert_eq!(Cli::try_parse_from(bad).err().map(|e| e.exit_code()), Some(2), "{bad:?}");
        }
    }
}
