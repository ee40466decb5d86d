//! `roamctl`: inspect and control roam on this node.
//!
//! Each subcommand lives in its own module and returns the text to print,
//! or a [`CtlError`] that `main` reports and turns into the exit status.

mod apply;
mod counters;
mod dev;
mod error;
mod keygen;
mod migrate;
mod netif;
mod nodes;
mod ping;
mod procs;
mod ps;
mod status;
mod sysfs;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use roam_proto::abi::{NODE_ID_MAX, NODE_ID_MIN};

use crate::error::CtlError;

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
}

/// `--node`: a node id, 1..=65534.
fn node_id_parser() -> clap::builder::RangedI64ValueParser<u32> {
    clap::value_parser!(u32).range(i64::from(NODE_ID_MIN)..=i64::from(NODE_ID_MAX))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Status => status::run(cli.json),
        Command::Nodes => nodes::run(cli.json),
        Command::Stats => counters::run("stats", cli.json),
        Command::Load => counters::run("load", cli.json),
        Command::Apply { file, node, check } => apply::run(file, *node, *check, cli.json),
        Command::Keygen => keygen::run(cli.json),
        Command::Why { pid } => procs::why(*pid, cli.json),
        Command::Lock { pid } => procs::lock(*pid, true, cli.json),
        Command::Unlock { pid } => procs::lock(*pid, false, cli.json),
        Command::Migrate { pid, node } => migrate::migrate(*pid, *node, cli.json),
        Command::Where { pid } => migrate::where_(*pid, cli.json),
        Command::Ps => ps::run(cli.json),
        Command::Ping { node, count, size, bulk, mac_only } => ping::run(*node, *count, *size, *bulk, *mac_only, cli.json),
    };
    match result {
        Ok(text) => {
            print_stdout(&text);
            ExitCode::SUCCESS
        }
        Err(err) => {
            report(&err, cli.json);
            ExitCode::from(err.exit_status())
        }
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
        for cmd in ["nodes", "stats", "load", "keygen", "ps"] {
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
}
