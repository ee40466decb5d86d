//! `no_std` logic shared by `roam.ko` and the host crates.
//!
//! The kernel module includes each file here with `#[path = ...] mod ...;`,
//! so nothing in them may use `std`, `alloc` or `kernel::`: only `core`.
//! Host crates (roamctl, the tests, xtask) use them through this crate.
#![no_std]

#[cfg(test)]
extern crate std;

pub mod abi;
mod bytes;
pub mod config;
pub mod faults;
pub mod fwd;
pub mod image;
pub mod load;
pub mod loadvec;
pub mod mac;
pub mod policy;
pub mod rearm;
pub mod restore;
pub mod rng;
pub mod sockmsg;
pub mod syscalls;
pub mod wire;
