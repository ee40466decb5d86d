//! The load-vector exchange simulator (`cargo xtask sim`): a
//! discrete-event simulation of roam's load-vector gossip at cluster sizes
//! no test cluster reaches, next to two baselines.
//!
//! Every simulated node runs the same code as the kernel module:
//! `roam_proto::loadvec` (the vector, its merge and `choose_peer`),
//! `roam_proto::rng` (peer choice and all other randomness) and
//! `roam_proto::wire` (payload encoding and frame sizes). The network is
//! modelled: every message is lost independently with probability `loss`
//! and otherwise arrives after `delay` ± 25 %. Nodes leave and come back
//! (churn) with their state wiped.
//!
//! The scenario: all nodes are busy to some degree; at t = 10 s one very
//! busy node ("X") becomes idle. We measure how the news spreads, how old
//! the load information held by the nodes is, and what it costs in
//! messages and bytes, for three algorithms:
//!
//! * gossip: roam's MOSIX-style exchange (one push of `1 + size/2`
//!   entries per node per interval to a random known peer, answered by
//!   the receiver's own entry);
//! * central: every node reports to one server each interval and gets the
//!   full least-loaded list back;
//! * broadcast: every node sends its entry to every other node each
//!   interval.
//!
//! A node "knows" that X is idle once it has received and kept an entry
//! about X produced after the change (for gossip: once its load vector has
//! held such an entry). A node that restarts forgets. The fractions are
//! over the nodes alive at that moment, X excluded.
//!
//! The baselines send N messages per interval per node (broadcast) or one
//! list of N entries per node (central); simulating each of those
//! messages individually would take hours at N = 10,000, so they are
//! counted arithmetically and only the messages that carry the news about
//! X are simulated one by one (with the same loss, delay and churn). Their
//! information ages are estimated from a random sample of node pairs.
//!
//! Files: `world` (the options, the scenario's constants, nodes,
//! network, churn, event queue), `tracker`
//! (what is measured), `gossip` (roam's exchange), `baselines`
//! (central and broadcast) and `report` (table, lines, SVG). This file
//! holds only the entry points, which call those; it may also write to
//! the filesystem (only [`run`] does, into `out_dir`).

mod baselines;
mod gossip;
mod report;
mod tracker;
mod world;

pub use report::{gradual, svg, table, AlgoResult, Report};

pub use world::SimOptions;

use anyhow::{Context, Result};
use report::fmt_num;
use std::time::Instant;
use world::{World, CHANGE_AT, INTERVAL, SEC, VECTOR_SIZE};

/// Runs the three simulations and returns their numbers.
pub fn simulate(o: &SimOptions) -> Result<Report> {
    let started = Instant::now();
    let w = World::new(o)?;
    let (gossip, peak) = gossip::simulate_gossip(&w, o.seed);
    let central = baselines::simulate_central(&w, o.seed);
    let broadcast = baselines::simulate_broadcast(&w, o.seed);
    Ok(Report {
        nodes: o.nodes,
        seconds: o.seconds,
        loss: o.loss,
        delay_ms: o.delay_ms,
        churn_per_s: o.churn_per_s,
        seed: o.seed,
        vector_size: VECTOR_SIZE,
        interval_ms: INTERVAL / 1000,
        change_at_s: CHANGE_AT as f64 / SEC as f64,
        idle_node: World::id(w.x),
        departures: w.churn.iter().filter(|c| !c.2).count(),
        algorithms: vec![gossip, central, broadcast],
        gossip_peak_holding_fraction: peak,
        wall_seconds: started.elapsed().as_secs_f64(),
    })
}

/// `cargo xtask sim`: runs the simulations, prints the table and writes
/// `sim.json` and `sim-dissemination.svg` into `opts.out_dir`.
pub fn run(opts: &SimOptions) -> Result<()> {
    println!(
        "==> simulating {} nodes for {} s (loss {}, delay {} ms ±25%, churn {}/s, seed {})",
        opts.nodes, opts.seconds, opts.loss, opts.delay_ms, opts.churn_per_s, opts.seed
    );
    let r = simulate(opts)?;
    println!(
        "    node {} goes idle at t = {} s; {} departures; vector size {}; took {:.1} s\n",
        r.idle_node, r.change_at_s, r.departures, r.vector_size, r.wall_seconds
    );
    print!("{}", table(&r));
    println!();
    print!("{}", gradual(&r));
    if let Some(c) = r.algorithms.iter().find(|a| a.name == "central") {
        println!(
            "  central server: {} msgs/s, {} bytes/s sent",
            fmt_num(c.server_msgs_per_s.unwrap_or(0.0)),
            fmt_num(c.server_bytes_per_s.unwrap_or(0.0))
        );
    }
    println!(
        "  gossip: at most {:.2}% of the nodes held an idle entry about node {} at the same moment",
        r.gossip_peak_holding_fraction * 100.0,
        r.idle_node
    );
    std::fs::create_dir_all(&opts.out_dir).with_context(|| format!("cannot create {}", opts.out_dir.display()))?;
    let json = opts.out_dir.join("sim.json");
    std::fs::write(&json, serde_json::to_string_pretty(&r)?).with_context(|| format!("cannot write {}", json.display()))?;
    let chart = opts.out_dir.join("sim-dissemination.svg");
    std::fs::write(&chart, svg(&r)).with_context(|| format!("cannot write {}", chart.display()))?;
    println!("\n==> wrote {} and {}", json.display(), chart.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(nodes: usize, seconds: u32, loss: f64, churn: f64) -> SimOptions {
        SimOptions { nodes, seconds, loss, delay_ms: 20, churn_per_s: churn, seed: 7, ..SimOptions::default() }
    }

    fn algo<'a>(r: &'a Report, name: &str) -> &'a AlgoResult {
        r.algorithms.iter().find(|a| a.name == name).unwrap()
    }

    #[test]
    fn no_loss_reaches_ninety_percent() {
        let r = simulate(&opts(100, 120, 0.0, 0.0)).unwrap();
        let g = algo(&r, "gossip");
        assert!(g.t90_s.is_some(), "gossip never reached 90%: {:.2}", g.final_fraction);
        for name in ["central", "broadcast"] {
            let a = algo(&r, name);
            assert!(a.t90_s.unwrap() < 2.5, "{name}: {:?}", a.t90_s);
        }
    }

    #[test]
    fn loss_and_churn_still_reach_ninety_percent() {
        // 20 % loss, and 0.2 % of the nodes leaving per second for 5-30 s
        // (restarted nodes forget and must learn again).
        for seed in 1..=4 {
            let r = simulate(&SimOptions { seed, ..opts(100, 240, 0.2, 0.002) }).unwrap();
            assert!(r.departures > 0);
            let g = algo(&r, "gossip");
            let t90 = g.t90_s.unwrap_or(f64::INFINITY);
            assert!(t90 < 180.0, "seed {seed}: gossip 90% after {t90} s");
            assert!(algo(&r, "broadcast").t90_s.unwrap() < 5.0);
            assert!(algo(&r, "central").t90_s.unwrap() < 5.0);
        }
    }

    #[test]
    fn news_spreads_gradually() {
        let r = simulate(&opts(1000, 30, 0.05, 0.0)).unwrap();
        let g = algo(&r, "gossip").knowing_after_intervals;
        // A handful of nodes per interval, not the whole cluster.
        assert!(g[0] <= 20 && g[2] <= 100, "{g:?}");
        assert!(g[0] <= g[1] && g[1] <= g[2]);
        let b = algo(&r, "broadcast").knowing_after_intervals;
        assert!(b[1] > 900, "{b:?}");
    }

    #[test]
    fn gossip_cost_is_independent_of_cluster_size() {
        let small = simulate(&opts(100, 30, 0.05, 0.0)).unwrap();
        let large = simulate(&opts(1000, 30, 0.05, 0.0)).unwrap();
        let (s, l) = (algo(&small, "gossip"), algo(&large, "gossip"));
        for a in [s, l] {
            assert!((1.5..=2.0).contains(&a.msgs_per_node_s), "{}", a.msgs_per_node_s);
            assert!(a.max_msgs_per_s_one_node < 40.0, "{}", a.max_msgs_per_s_one_node);
        }
        assert!((s.msgs_per_node_s - l.msgs_per_node_s).abs() < 0.1);
        assert!((s.bytes_per_node_s / l.bytes_per_node_s - 1.0).abs() < 0.1);
        // Broadcast's cost grows with N.
        let (bs, bl) = (algo(&small, "broadcast"), algo(&large, "broadcast"));
        assert!((bs.msgs_per_node_s / 99.0 - 1.0).abs() < 0.05, "{}", bs.msgs_per_node_s);
        assert!((bl.msgs_per_node_s / 999.0 - 1.0).abs() < 0.05, "{}", bl.msgs_per_node_s);
        // Central: one report per node, N per second at the server.
        let c = algo(&large, "central");
        assert!((c.msgs_per_node_s - 1.0).abs() < 0.05);
        assert!(c.server_msgs_per_s.unwrap() > 1800.0);
    }

    #[test]
    fn deterministic_and_writes_outputs() {
        let dir = std::env::temp_dir().join(format!("roam-sim-test-{}", std::process::id()));
        let o = SimOptions { out_dir: dir.clone(), ..opts(50, 20, 0.1, 0.01) };
        let a = simulate(&o).unwrap();
        let b = simulate(&o).unwrap();
        assert_eq!(table(&a), table(&b));
        run(&o).unwrap();
        let svg = std::fs::read_to_string(dir.join("sim-dissemination.svg")).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("polyline") && svg.trim_end().ends_with("</svg>"));
        let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("sim.json")).unwrap()).unwrap();
        assert_eq!(json["algorithms"].as_array().unwrap().len(), 3);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn rejects_bad_options() {
        assert!(simulate(&opts(2, 60, 0.0, 0.0)).is_err());
        assert!(simulate(&opts(100, 5, 0.0, 0.0)).is_err());
        assert!(simulate(&opts(100, 60, 1.0, 0.0)).is_err());
    }
}
