//! Cluster scenarios for the transport, membership and load exchange,
//! migration, balancing, the node controls and placement, driven from the
//! host across several guests: each step acts on some nodes and checks
//! real effects on others (views, counters, exit statuses), waiting on
//! conditions with bounded timeouts.
//!
//! This file holds only [`run`], which configures the cluster and runs
//! the scenarios of [`transport`], [`migration`] (with [`precopy`]), [`faults`], [`monitoring`], the [`zdtm`]
//! transparency suite, the [`security`] checks, [`balancing`], [`controls`] and
//! [`placement`] in their fixed order (the checks' names
//! and order are part of the output). Every scenario acts through
//! [`ctx::Ctx`]; none calls another, and nothing here calls `test`,
//! which calls [`run`].

mod balancing;
mod controls;
mod ctx;
mod faults;
mod fileareas;
mod pool;
mod migration;
pub(crate) mod monitoring;
mod placement;
mod precopy;
mod security;
mod transport;
mod zdtm;

use crate::cluster::Cluster;
use crate::config::{cluster_toml, random_key};
use crate::tally::Tally;
use anyhow::Result;
use ctx::Ctx;

/// Configures the cluster (balancing off) and runs every scenario, in
/// order: transport and membership, migration, balancing with the node
/// controls in its middle, placement, memory ushering, and a module
/// reload last.
pub fn run(cl: &mut Cluster, tally: &mut Tally, debug: bool) -> Result<()> {
    let n = cl.agents.len() as u32;
    if n < 4 {
        tally.add("cluster scenarios need 4 nodes".into(), false, format!("have {n}; run with --nodes 4"));
        return Ok(());
    }
    let mut c = Ctx { cl, tally, key_hex: random_key()?, debug, t0: std::time::Instant::now() };
    let all: Vec<u32> = (1..=n).collect();

    // Configure every node from one cluster file.
    // Balancing off: these scenarios move processes by hand; the
    // balancing scenario turns it on where it needs it.
    let toml = cluster_toml(n, false);
    for i in 1..=n {
        let o = c.configure_node(i, &toml)?;
        c.check(format!("node{i}: roamctl apply configures the node"), o.rc == 0, o.text);
    }

    // ROAM_SCENARIOS=a,b (developers only) runs just those groups; the
    // test command never sets it, and a run with it says so.
    let only = std::env::var("ROAM_SCENARIOS").ok();
    let on = |name: &str| only.as_deref().map_or(true, |o| o.split(',').any(|x| x == name));
    if let Some(o) = &only {
        println!("    (ROAM_SCENARIOS={o}: only these scenario groups run)");
        c.tally.skip("scenarios: only some groups ran".into(), format!("ROAM_SCENARIOS={o}"));
    }
    if on("transport") {
        transport::run(&mut c, &toml, &all)?;
    }
    if on("migration") {
        migration::run(&mut c, &toml)?;
        fileareas::run(&mut c)?;
        pool::run(&mut c)?;
        precopy::run(&mut c, &toml)?;
    }
    if on("faults") {
        faults::run(&mut c)?;
    }
    if on("monitoring") {
        monitoring::run(&mut c)?;
    }
    if on("zdtm") {
        zdtm::run(&mut c)?;
    }
    if on("security") {
        security::run(&mut c)?;
    }
    if on("balancing") {
        let jobs = balancing::spread(&mut c)?;
        let extra = controls::run(&mut c, &jobs)?;
        balancing::limits(&mut c, &jobs, &extra)?;
        placement::run(&mut c)?;
        balancing::ushering(&mut c)?;
    }
    if debug {
        leaks(&mut c, &all)?;
    }
    if on("reload") {
        transport::reload(&mut c, &all)?;
    }
    Ok(())
}

/// On the debug kernel, after every scenario but the reload (which would
/// leave a leak of the old module without its symbols): kmemleak scans
/// each node twice and must find no unreferenced object that roam
/// allocated. Nodes restarted by a scenario are scanned since their
/// restart.
fn leaks(c: &mut Ctx, all: &[u32]) -> Result<()> {
    for &node in all {
        let o = c.cl.agents[(node - 1) as usize].run(
            "echo scan > /sys/kernel/debug/kmemleak && sleep 6 && echo scan > /sys/kernel/debug/kmemleak && cat /sys/kernel/debug/kmemleak",
            std::time::Duration::from_secs(300),
        )?;
        let leaks: Vec<&str> = o.text.split("unreferenced object").skip(1).filter(|r| r.contains("roam")).collect();
        c.check(
            format!("node{node}: kmemleak finds no leak from roam after the scenarios"),
            o.rc == 0 && leaks.is_empty(),
            format!("exit {}; {} roam leak report(s)\n{}", o.rc, leaks.len(), leaks.join("\n")),
        );
    }
    Ok(())
}
