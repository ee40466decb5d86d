//! The job stream: Poisson arrivals with bounded-Pareto (α = 1) CPU
//! demands and log-uniform resident sets, the same sequence for every
//! policy; and [`heavy_tailed_mix`], the same kind of mix for a real
//! cluster (`cargo xtask bench balance`).
//!
//! Calls only `roam_proto::rng`, [`crate::rng`] and [`super::params`].

use super::params::{JobSimOptions, RSS_MAX_MB};
#[cfg(test)]
use super::params::{DEMAND_MAX_S, DEMAND_MIN_S};
use crate::rng::unit;
use roam_proto::rng::XorShift64;

/// One arriving job.
#[derive(Clone, Copy, Debug)]
pub(super) struct Arrival {
    pub(super) t: f64,
    pub(super) demand: f64,
    pub(super) rss_mb: u32,
    pub(super) node: usize,
}

/// Mean of the bounded Pareto with α = 1 on [lo, hi]:
/// lo · ln(hi / lo) / (1 − lo / hi).
#[cfg(test)]
pub(super) fn mean_demand() -> f64 {
    pareto_mean(DEMAND_MIN_S, DEMAND_MAX_S)
}

/// A bounded Pareto (α = 1) draw on the default bounds.
#[cfg(test)]
pub(super) fn pareto(rng: &mut XorShift64) -> f64 {
    pareto_on(rng, DEMAND_MIN_S, DEMAND_MAX_S)
}

/// A bounded Pareto (α = 1) draw on [lo, hi], by inversion of
/// F(x) = (1 − lo/x) / (1 − lo/hi).
fn pareto_on(rng: &mut XorShift64, lo: f64, hi: f64) -> f64 {
    let u = unit(rng);
    (lo / (1.0 - u * (1.0 - lo / hi))).min(hi)
}

/// Mean of the bounded Pareto with α = 1 on [lo, hi].
pub fn pareto_mean(lo: f64, hi: f64) -> f64 {
    lo * (hi / lo).ln() / (1.0 - lo / hi)
}

/// A heavy-tailed job mix for a real cluster: `jobs` Poisson arrivals at
/// `rate` per second, each with a bounded-Pareto (α = 1) demand on
/// [lo, hi] seconds, as (arrival time, demand) in seconds.
pub fn heavy_tailed_mix(seed: u64, jobs: usize, lo: f64, hi: f64, rate: f64) -> Vec<(f64, f64)> {
    let mut rng = XorShift64::new(seed);
    let mut t = 0.0;
    (0..jobs)
        .map(|_| {
            t += -(1.0 - unit(&mut rng)).ln() / rate;
            (t, pareto_on(&mut rng, lo, hi))
        })
        .collect()
}

/// The arrival sequence shared by all policies.
pub(super) fn workload(o: &JobSimOptions, rate: f64) -> Vec<Arrival> {
    let mut rng = XorShift64::new(o.seed);
    let mut t = 0.0;
    let nodes = o.nodes as u64;
    (0..o.jobs)
        .map(|_| {
            t += -(1.0 - unit(&mut rng)).ln() / rate;
            let demand = pareto_on(&mut rng, o.demand_s.0, o.demand_s.1);
            let rss_mb = (RSS_MAX_MB.ln() * unit(&mut rng)).exp().floor().max(1.0) as u32;
            let drawn = rng.below(nodes) as usize;
            let node = o.origin.map_or(drawn, |n| n.min(o.nodes.saturating_sub(1)));
            Arrival { t, demand, rss_mb, node }
        })
        .collect()
}
