//! `roamctl`: inspect and control roam on this node.
//!
//! The subcommands are in the `roamctl` library (`lib.rs`), and so is the
//! command line (`cli.rs`); each subcommand returns the text to print, or
//! a [`CtlError`] that `main` reports and turns into the exit status.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use roamctl::cli::{Cli, Command, NodeCmd, OnOff};
use roamctl::error::CtlError;
use roamctl::node::{Action, Control};
use roamctl::{apply, counters, events, keygen, metrics, migrate, node, nodes, ping, procs, ps, status, sysfs};

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
        Command::Migrate { pid, node, mode } => migrate::migrate(*pid, *node, *mode, json),
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
    use std::path::PathBuf;

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
            Ok(Command::Migrate { pid, node, .. }) => Some((pid, node)),
            _ => None,
        };
        assert_eq!(dest(&["roamctl", "migrate", "12", "3"]), Some((12, 3)));
        assert_eq!(dest(&["roamctl", "--json", "migrate", "12", "home"]), Some((12, roam_proto::abi::NODE_HOME)));
        for bad in ["0", "65535", "x", "HOME"] {
            let e = Cli::try_parse_from(["roamctl", "migrate", "12", bad]);
            assert_eq!(e.err().map(|e| e.exit_code()), Some(2), "node {bad}");
        }
        assert!(Cli::try_parse_from(["roamctl", "migrate", "12"]).is_err());
        let mode = |args: &[&str]| match Cli::try_parse_from(args).map(|c| c.command) {
            Ok(Command::Migrate { mode, .. }) => Some(mode),
            _ => None,
        };
        assert_eq!(mode(&["roamctl", "migrate", "12", "3"]), Some(roam_proto::abi::mode::STOP));
        assert_eq!(mode(&["roamctl", "migrate", "12", "3", "--mode", "precopy"]), Some(roam_proto::abi::mode::PRECOPY));
        assert_eq!(mode(&["roamctl", "migrate", "--mode", "stop", "12", "3"]), Some(roam_proto::abi::mode::STOP));
        for bad in ["", "pre", "postcopy", "PRECOPY"] {
            let e = Cli::try_parse_from(["roamctl", "migrate", "12", "3", "--mode", bad]);
            assert_eq!(e.err().map(|e| e.exit_code()), Some(2), "mode {bad}");
        }
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
