//! roam's simulators, on the host, running the kernel module's own
//! `no_std` logic from `roam_proto`:
//!
//! * [`exchange`]: the load-vector exchange at cluster sizes no test
//!   cluster reaches, next to a central collector and all-to-all
//!   broadcast (`cargo xtask sim`);
//! * [`jobmix`]: a heavy-tailed job stream on a simulated cluster with
//!   and without migration (`cargo xtask jobsim`; `cargo xtask bench
//!   balance` also uses it for its simulated mix).
//!
//! [`cli`] holds the command-line options of both, shared by this crate's
//! binary (`cargo run -p roam-sim -- sim|jobsim ...`) and `cargo xtask`.
//!
//! Why `xtask` links this crate as a library instead of running the
//! binary: `cargo xtask sim` and `jobsim` then stay what they were — the
//! same flags and defaults (one [`cli`] definition), the same output
//! printed by the same process, results under the repository's `target/`
//! — with no second `cargo run` (and its build output) in between; and
//! `bench balance` needs [`jobmix::simulate`] and
//! [`jobmix::heavy_tailed_mix`] as functions anyway.
//!
//! The crate may call only `roam_proto`, the standard library and its
//! few dependencies; it never boots guests or touches `xtask`. Only the
//! `run` entry points write files (into their `out_dir`).

pub mod cli;
pub mod exchange;
pub mod jobmix;
mod rng;
