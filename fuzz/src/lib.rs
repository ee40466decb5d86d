//! roam-fuzz: a deterministic, seeded, coverage-free mutation fuzzer for
//! every decoder `roam.ko` runs on input from its peers (frames, load
//! messages, process events, forwarded calls, migration images, the
//! restorer built from them) and on what root writes to it.
//!
//! No nightly toolchain or libFuzzer: each [`Target`] starts from valid
//! encodings made with `roam-proto`'s own encoders, [`mutate`]s them, and
//! runs the decoder as the module does under `catch_unwind`; a panic, a
//! broken documented promise or a run over the hang budget is a failure,
//! saved under `~/.cache/roam/fuzz/<target>/`. The outcome classes each
//! run reaches (which error, how far) stand in for coverage: they are
//! reported, and an input reaching a new one joins the corpus.
//!
//! The files: `rng` (the seeded generator), `target` (the trait and its
//! helpers), `framed` (message-sequence inputs), `mutate`, `panics` (the
//! panic hook), `artifact` (saved inputs, hex), `runner` (the loop and
//! the watchdog), `summary` (tables and JSON), `targets` (one file per
//! decoder family).

pub mod artifact;
pub mod framed;
pub mod mutate;
pub mod panics;
pub mod rng;
pub mod runner;
pub mod summary;
pub mod target;
pub mod targets;

pub use runner::{run, Failure, Kind, Options, Report};
pub use target::{Cx, Field, Target, Violation};
