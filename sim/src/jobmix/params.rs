//! What a job-mix run is given and what it returns: the options, the
//! three policies, each policy's result and the whole report, and the
//! model's constants.
//!
//! Plain data; calls nothing else in the crate.

use serde::Serialize;
use std::path::{Path, PathBuf};

/// Smallest job demand, seconds.
pub(super) const DEMAND_MIN_S: f64 = 0.1;
/// Largest job demand, seconds.
pub(super) const DEMAND_MAX_S: f64 = 1000.0;
/// Largest resident set, MiB (log-uniform from 1 MiB).
pub(super) const RSS_MAX_MB: f64 = 256.0;
/// Memory per node, MiB.
pub(super) const NODE_MEM_MB: u32 = 4096;
/// Fixed part of a migration's freeze, seconds.
pub(super) const FREEZE_FIXED_S: f64 = 0.1;
/// Transfer rate of a migration, MiB/s.
pub(super) const TRANSFER_MB_S: f64 = 100.0;
/// Load-exchange and decision interval, seconds.
pub(super) const INTERVAL_S: f64 = 1.0;
/// Remaining work below which a job counts as finished (float slack).
pub(super) const EPS: f64 = 1e-9;

/// What to simulate.
#[derive(Clone, Debug)]
pub struct JobSimOptions {
    /// Nodes (1..=65534), one CPU each.
    pub nodes: usize,
    /// Jobs in the arrival sequence.
    pub jobs: usize,
    /// Mean offered load as a fraction of the cluster's capacity (0..1).
    pub utilization: f64,
    /// Seed of every random choice; equal seeds give equal results.
    pub seed: u64,
    /// Where `jobsim.json` goes.
    pub out_dir: PathBuf,
    /// Every job arrives at this node (0-based); `None`: each at a random
    /// node.
    pub origin: Option<usize>,
    /// Bounds of the demand's bounded Pareto, seconds.
    pub demand_s: (f64, f64),
}

impl Default for JobSimOptions {
    fn default() -> Self {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap_or(Path::new("."));
        JobSimOptions { nodes: 16, jobs: 20_000, utilization: 0.7, seed: 1, out_dir: root.join("target/jobsim"), origin: None, demand_s: (DEMAND_MIN_S, DEMAND_MAX_S) }
    }
}

/// The three policies compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    Neither,
    Placement,
    Migration,
}

impl Policy {
    pub(super) const ALL: [Policy; 3] = [Policy::Neither, Policy::Placement, Policy::Migration];

    pub(super) fn name(self) -> &'static str {
        match self {
            Policy::Neither => "neither",
            Policy::Placement => "placement",
            Policy::Migration => "migration",
        }
    }
}

/// One policy's outcome.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PolicyResult {
    pub policy: &'static str,
    pub mean_slowdown: f64,
    pub p50_slowdown: f64,
    pub p99_slowdown: f64,
    pub mean_response_s: f64,
    pub migrations_per_job: f64,
    pub remote_starts_per_job: f64,
    /// Migrations the target refused (`policy::accept`).
    pub refusals: u64,
    /// Simulated time until the last job finished, seconds.
    pub makespan_s: f64,
}

/// The whole run.
#[derive(Clone, Debug, Serialize)]
pub struct JobSimReport {
    pub nodes: usize,
    pub jobs: usize,
    pub utilization: f64,
    pub seed: u64,
    pub mean_demand_s: f64,
    pub arrival_rate_per_s: f64,
    /// Offered load actually drawn (total demand / (nodes × arrival span)).
    pub offered_utilization: f64,
    pub results: Vec<PolicyResult>,
    pub wall_seconds: f64,
}
