//! `roamctl`: inspect and control roam on this node.
//!
//! Each subcommand lives in its own module and returns the text to print,
//! or a [`CtlError`] that `main` reports and turns into the exit status.

mod dev;
mod error;
mod status;

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Status => status::run(cli.json),
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
