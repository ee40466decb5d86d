//! `cargo xtask bench`: benchmarks on a cluster of TCG (or KVM) guests
//! that each command boots, configures and tears down itself, one module
//! per bench — [`transport`], [`migrate`] and [`balance`] — over what
//! they share in [`common`]. Each writes its results to stdout and
//! `<cache>/bench/<bench>.json`.
//!
//! This file only names the modules; `main` calls each bench's `run`.

mod common;

pub mod balance;
pub mod migrate;
pub mod transport;
