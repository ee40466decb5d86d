//! The library half of `roamctl`: reading and writing roam's sysfs files
//! and `/dev/roam`, parsing what they show, and formatting it. The
//! `roamctl` binary (`main.rs`) runs the command line defined in [`cli`]
//! (also roamrun's, for man pages and completions); `roamtop` uses the
//! same parsers and the `ps` listing; `roamrun` (`roamrun.rs`) uses
//! [`run`].
//!
//! Each subcommand lives in its own module and returns the text to print,
//! or a [`error::CtlError`] that the caller reports and turns into the exit
//! status.

pub mod apply;
pub mod cli;
pub mod counters;
pub mod dev;
pub mod error;
pub mod events;
pub mod keygen;
pub mod lists;
pub mod metrics;
pub mod migrate;
pub mod netif;
pub mod node;
pub mod nodes;
pub mod ping;
pub mod procs;
pub mod ps;
pub mod run;
pub mod status;
pub mod sysfs;

/// `roamctl`'s command-line definition, for man pages and completions.
pub fn command() -> clap::Command {
    <cli::Cli as clap::CommandFactory>::command()
}

/// `roamrun`'s command-line definition, for man pages and completions.
pub fn roamrun_command() -> clap::Command {
    <cli::RunCli as clap::CommandFactory>::command()
}
