//! `cargo xtask bench migrate`: migration time (which is also the time
//! the process is frozen: there is no pre-copy) and bytes against process
//! size, page-transfer throughput against raw TCP, and a null process's
//! migration time in transport round trips, and MOSIX's Table 1: the
//! cost of read, write, open/close, fork and exec for a process at home
//! and for one migrated away, plus a forwarded call's latency in
//! transport round trips. Results go to stdout and
//! `<cache>/bench/migrate.json`.
//!
//! This file runs the parts in order and prints the tables; the moves are
//! in [`moves`], the system calls in [`syscalls`]. Calls those,
//! `bench::common`, `cluster` (its subnet) and `config`.

mod moves;
mod syscalls;

use crate::bench::common::{
    boot, field, finish, install_run_sh, kernel_complaints, kill_pids, report_failure, sh, utc_now, yes_no, SB_ENOUGH_NS, T,
};
use crate::cluster::{self, Accel, Spec};
use crate::config::configure;
use crate::util::{self, step, Ctx};
use anyhow::{Context, Result};
use moves::{fill_round_trip, kb_field, median, null_moves, plan_sizes, start, MIB, NULL_MOVES};
use syscalls::{fmt_us, measure_call, CallResult, SbRun, CALLS, FORWARD_GOAL_RTTS};
use std::time::Duration;

const THROUGHPUT_GOAL: f64 = 0.8;
const NULL_GOAL_RTTS: f64 = 4.0;
/// Null-process migration times reported for Sprite and Choices.
const SPRITE_MS: f64 = 76.0;
const CHOICES_MS: f64 = 13.9;
/// What counts as a kernel complaint in a node's log.
const COMPLAINTS: &str = "BUG|WARNING|Oops|Call Trace|general protection|oom";

fn fmt_s(ns: u64) -> String {
    if ns < 1_000_000_000 {
        format!("{:.1} ms", ns as f64 / 1e6)
    } else {
        format!("{:.2} s", ns as f64 / 1e9)
    }
}

pub fn run(ctx: &Ctx, accel: Accel) -> Result<()> {
    // Its own name (and so netns roam-bench-migrate), apart from `default`,
    // the test clusters and `bench transport`.
    let spec = Spec { name: "bench-migrate".into(), nodes: 3, accel, memory_mb: 1024, cpus: 1 };
    let mut cl = boot(ctx, &spec)?;
    let mut failures: Vec<String> = Vec::new();
    let r = (|| -> Result<serde_json::Value> {
        configure(&mut cl, false)?;
        install_run_sh(&mut cl, spec.nodes, T)?;
        let peer = format!("{}.2", cluster::NET);

        step("the network between nodes 1 and 2: raw TCP bulk, roam bulk, roam round trip");
        let srv = start(&mut cl, 2, "tcpsrv", "/usr/lib/roam/tests/tcp_pingpong server 7101 300")?;
        std::thread::sleep(Duration::from_secs(1));
        let (frames, big) = (800u64, 64 * 1024u64);
        let raw = sh(&mut cl, 1, &format!("/usr/lib/roam/tests/tcp_pingpong client {peer} 7101 bulk {frames} {big}"));
        kill_pids(&mut cl, 2, &[srv]);
        let raw_bps = (frames * big) as f64 / (field(&raw?, "elapsed_ns")? as f64 / 1e9);
        let rb = sh(&mut cl, 1, &format!("roamctl --json ping 2 --bulk --count {} --size {big}", frames / 2))?;
        let roam_bps = (frames / 2 * big) as f64 / (field(&rb, "elapsed_ns")? as f64 / 1e9);
        let rtts = 2000u64;
        let p = sh(&mut cl, 1, &format!("roamctl --json ping 2 --count {rtts} --size 64"))?;
        let rtt_ns = field(&p, "elapsed_ns")? as f64 / field(&p, "done")?.max(1) as f64;
        println!(
            "    raw TCP {:.1} MiB/s, roam bulk {:.1} MiB/s, roam round trip {:.0} us",
            raw_bps / MIB,
            roam_bps / MIB,
            rtt_ns / 1e3
        );

        let mut total_kb = u64::MAX;
        let mut avail_kb = u64::MAX;
        for node in [1u32, 2] {
            let m = sh(&mut cl, node, "cat /proc/meminfo")?;
            total_kb = total_kb.min(kb_field(&m, "MemTotal").context("no MemTotal")?);
            avail_kb = avail_kb.min(kb_field(&m, "MemAvailable").context("no MemAvailable")?);
        }
        let (sizes, skipped) = plan_sizes(total_kb, avail_kb);
        for (mb, why) in &skipped {
            println!("    skipping {mb} MiB: {why}");
        }

        let mut runs = Vec::new();
        for &mb in &sizes {
            step(&format!("{mb} MiB process: fill on node 1, move to node 2, move home, verify"));
            match fill_round_trip(&mut cl, mb) {
                Ok(r) => {
                    if !r.verified {
                        let msg = format!("{mb} MiB: memory NOT intact after the round trip ({})", r.verify);
                        println!("    FAIL {msg}");
                        failures.push(msg);
                    } else {
                        println!("    {mb} MiB: {}", r.verify);
                    }
                    runs.push(r);
                }
                Err(e) => {
                    report_failure(&mut cl, &format!("{mb} MiB round trip"), &e, 40);
                    failures.push(format!("{mb} MiB round trip: {e:#}"));
                }
            }
        }

        step(&format!("null process (migrate_work spin): {NULL_MOVES} moves to node 2 and {NULL_MOVES} home"));
        let spin = match null_moves(&mut cl) {
            Ok(n) => Some(n),
            Err(e) => {
                report_failure(&mut cl, "null-process moves", &e, 40);
                failures.push(format!("null-process moves: {e:#}"));
                None
            }
        };

        step("system calls, MOSIX's Table 1: each call at home (node 1) and migrated to node 2");
        let mut calls: Vec<CallResult> = Vec::new();
        for spec in &CALLS {
            match measure_call(&mut cl, spec) {
                Ok(c) => calls.push(c),
                Err(e) => {
                    report_failure(&mut cl, &format!("system call {}", spec.kind), &e, 40);
                    failures.push(format!("system call {}: {e:#}", spec.kind));
                }
            }
        }

        let mut complaints = serde_json::Map::new();
        for node in 1..=spec.nodes {
            let c = kernel_complaints(&mut cl, node, COMPLAINTS);
            if !c.is_empty() {
                println!("    node {node}'s kernel complained:\n{c}");
                complaints.insert(format!("node{node}"), c.into());
            }
        }

        // ---- tables
        println!();
        println!("Stopped moves (--mode stop): the process is frozen for the whole transfer. Pre-copy (--mode precopy):");
        println!("pages go in rounds while it runs; it is frozen for the last round only (the bench's process sleeps meanwhile).");
        println!();
        println!("| process | move | migration = freeze time | bytes sent | throughput | memory after the round trip |");
        println!("| --- | --- | --- | --- | --- | --- |");
        for r in &runs {
            println!(
                "| {} MiB (RSS {:.1} MiB) | node 1 -> 2 | {} | {:.1} MiB of pages | {:.1} MiB/s | |",
                r.mb,
                r.rss_kb as f64 / 1024.0,
                fmt_s(r.out.elapsed_ns),
                r.out.bytes as f64 / MIB,
                r.out.mib_per_s()
            );
            println!(
                "| | node 2 -> home | {} | {:.1} MiB on the wire | {:.1} MiB/s | {} |",
                fmt_s(r.home.elapsed_ns),
                r.home.payload() as f64 / MIB,
                r.home.mib_per_s(),
                if r.verified { format!("intact ({})", r.verify) } else { format!("**CORRUPT** ({})", r.verify) }
            );
            println!(
                "| | node 1 -> 2, pre-copy | {} in all, {} rounds, frozen {} | {:.1} MiB of pages | | |",
                fmt_s(r.pre.elapsed_ns),
                r.pre.rounds,
                fmt_s(r.pre.freeze_ns),
                r.pre.bytes as f64 / MIB
            );
        }
        for (mb, why) in &skipped {
            println!("| {mb} MiB | skipped: {why} | | | | |");
        }
        let largest = runs.iter().max_by_key(|r| r.mb);
        let ratio = largest.map(|r| r.out.mib_per_s() * MIB / raw_bps);
        let home_ratio = largest.map(|r| r.home.mib_per_s() * MIB / raw_bps);
        let null_out = spin.as_ref().map(|n| median(&n.out.iter().map(|m| m.elapsed_ns).collect::<Vec<_>>()));
        let null_home = spin.as_ref().map(|n| median(&n.home.iter().map(|m| m.elapsed_ns).collect::<Vec<_>>()));
        println!();
        println!("| measure | value | goal | met |");
        println!("| --- | --- | --- | --- |");
        println!("| raw TCP bulk, node 1 -> 2, {} KiB writes | {:.1} MiB/s | | |", big / 1024, raw_bps / MIB);
        println!("| roam transport bulk, {} KiB frames (HMAC-SHA256 on every byte) | {:.1} MiB/s = {:.2}x raw TCP | | |", big / 1024, roam_bps / MIB, roam_bps / raw_bps);
        if let (Some(r), Some(x), Some(h)) = (largest, ratio, home_ratio) {
            println!(
                "| page transfer, {} MiB, node 1 -> 2 | {:.1} MiB/s = {x:.2}x raw TCP | >= {THROUGHPUT_GOAL}x raw TCP | {} |",
                r.mb,
                r.out.mib_per_s(),
                yes_no(x >= THROUGHPUT_GOAL)
            );
            println!("| page transfer, {} MiB, node 2 -> home | {:.1} MiB/s = {h:.2}x raw TCP | | |", r.mb, r.home.mib_per_s());
        }
        println!("| transport round trip (roamctl ping, 64 B, mean of {rtts}) | {:.0} us | | |", rtt_ns / 1e3);
        if let (Some(n), Some(o), Some(h)) = (&spin, null_out, null_home) {
            let (ro, rh) = (o as f64 / rtt_ns, h as f64 / rtt_ns);
            println!(
                "| null process ({:.0} KiB RSS, {:.0} KiB of pages), node 1 -> 2, median of {} | {} = {ro:.0} round trips | <= {NULL_GOAL_RTTS} round trips | {} |",
                n.rss_kb as f64,
                n.out.first().map(|m| m.bytes).unwrap_or(0) as f64 / 1024.0,
                n.out.len(),
                fmt_s(o),
                yes_no(ro <= NULL_GOAL_RTTS)
            );
            println!("| null process, node 2 -> home, median of {} | {} = {rh:.0} round trips | <= {NULL_GOAL_RTTS} round trips | {} |", n.home.len(), fmt_s(h), yes_no(rh <= NULL_GOAL_RTTS));
        }
        println!("| for reference: Sprite, null process | {SPRITE_MS} ms | | |");
        println!("| for reference: Choices, null process | {CHOICES_MS} ms | | |");
        if let Some(n) = &spin {
            println!(
                "\nnull-process moves (ms), to node 2: {}; home: {}; the spin process then ended with {} (137 = killed at the end, as intended)",
                n.out.iter().map(|m| format!("{:.1}", m.elapsed_ns as f64 / 1e6)).collect::<Vec<_>>().join(" "),
                n.home.iter().map(|m| format!("{:.1}", m.elapsed_ns as f64 / 1e6)).collect::<Vec<_>>().join(" "),
                n.end
            );
        }
        if let Some(n) = &spin {
            println!();
            println!("Where a null move's time goes (mean ms per move, from the nodes' phase sums in /sys/kernel/roam/migrations):");
            println!();
            println!("| side | phase | node 1 -> 2 | node 2 -> home |");
            println!("| --- | --- | --- | --- |");
            for (o, h) in n.phases_out.iter().zip(n.phases_home.iter()) {
                println!("| {} | {} | {:.1} | {:.1} |", o.0, o.1, o.2, h.2);
            }
            println!("source: capture; ready = Begin and file offers sent until the destination is ready (its target started, its");
            println!("address space cleared, the offers checked); send = the rest of the image; commit = until it accepted.");
            println!("destination: target = until the target checked in; receive = until Commit came; commit = the restorer built.");
        }

        println!();
        println!("System calls (MOSIX Table 1): a process at home on node 1 against the same process migrated to node 2.");
        println!();
        println!("| call | local us/op | remote us/op | slowdown remote/local | MOSIX slowdown |");
        println!("| --- | --- | --- | --- | --- |");
        for c in &calls {
            let remote = if c.first_call() {
                format!("{} (first call, includes the move home; median of {})", fmt_us(c.remote_ns()), c.remote.len())
            } else {
                fmt_us(c.remote_ns())
            };
            println!(
                "| {} | {} | {remote} | {:.2} | {} |",
                c.spec.label,
                fmt_us(c.local.per_op_ns()),
                c.slowdown(),
                c.spec.mosix.map(|m| format!("{m:.2}")).unwrap_or_default()
            );
        }
        let getppid_call = calls.iter().find(|c| c.spec.kind == "getppid");
        let getppid = getppid_call.map(CallResult::remote_ns);
        let getppid_frames = getppid_call.and_then(|c| c.remote.first()).and_then(SbRun::frames_per_op);
        let fwd_rtts = getppid.map(|g| g / rtt_ns);
        if let (Some(g), Some(x)) = (getppid, fwd_rtts) {
            println!();
            println!("| measure | value | goal | met |");
            println!("| --- | --- | --- | --- |");
            println!(
                "| forwarded call (remote getppid) / transport round trip | {} us / {:.0} us = {x:.2}x{} | <= {FORWARD_GOAL_RTTS}x | {} |",
                fmt_us(g),
                rtt_ns / 1e3,
                getppid_frames.map(|f| format!(" ({f:.2} transport frames sent per call, both nodes)")).unwrap_or_default(),
                yes_no(x <= FORWARD_GOAL_RTTS)
            );
        }
        println!(
            "\nlocal and long remote runs: N raised until a run takes >= {:.2} s; per op = total / N, CLOCK_MONOTONIC in the process.",
            SB_ENOUGH_NS as f64 / 1e9
        );
        println!("fork, exec remote: the first call brings the process home (it then stays there), so each is one call in a fresh");
        println!("migrated process, timed on the home node's clock (a file's mtime); compare the null process's move home above.");
        for c in calls.iter().filter(|c| c.first_call()) {
            println!(
                "  {} remote first calls (ms): {}",
                c.spec.kind,
                c.remote.iter().map(|r| format!("{:.1}", r.total_ns as f64 / 1e6)).collect::<Vec<_>>().join(" ")
            );
        }

        let date = utc_now();
        // The headline figures the fast-migration issue names, each from
        // this run (null where not measured: there is one mode, stop and
        // copy, and no CRIU run yet).
        let r512 = runs.iter().find(|r| r.mb == 512);
        let summary = serde_json::json!({
            "null_rtts": null_out.map(|o| o as f64 / rtt_ns),
            "null_home_rtts": null_home.map(|h| h as f64 / rtt_ns),
            "forwarded_rtts": fwd_rtts,
            "page_throughput_ratio": ratio,
            "freeze_512_over_null": r512.zip(null_out).map(|(r, o)| r.out.freeze_ns.min(r.pre.freeze_ns) as f64 / o as f64),
            "freeze_512_precopy_ms": r512.map(|r| r.pre.freeze_ns as f64 / 1e6),
            "freeze_512_stop_ms": r512.map(|r| r.out.freeze_ns as f64 / 1e6),
            "total_512_over_raw_tcp": r512.map(|r| r.out.elapsed_ns as f64 / 1e9 / (r.out.bytes as f64 / raw_bps)),
            "criu_total_512_over_roam": serde_json::Value::Null,
            "criu_freeze_512_over_roam": serde_json::Value::Null,
        });
        println!("\nsummary: {summary}");
        Ok(serde_json::json!({
            "date": date,
            "summary": summary,
            "accel": format!("{:?}", cl.state.accel),
            "host_cpus": util::ncpus(),
            "note": "to_node2 and home move stopped (freeze_ns = elapsed_ns); precopy moves with --mode precopy (freeze_ns: the last round only); the process sleeps while it moves",
            "guest_mem_total_kb": total_kb, "guest_mem_available_kb": avail_kb,
            "sizes": runs.iter().map(|r| serde_json::json!({
                "mb": r.mb, "rss_kb": r.rss_kb, "to_node2": r.out.json(), "home": r.home.json(),
                "precopy": r.pre.json(), "precopy_home": r.pre_home.json(),
                "verified": r.verified, "verify": r.verify,
            })).collect::<Vec<_>>(),
            "skipped": skipped.iter().map(|(mb, why)| serde_json::json!({"mb": mb, "why": why})).collect::<Vec<_>>(),
            "raw_tcp_bulk_bps": raw_bps, "roam_bulk_bps": roam_bps,
            "throughput_ratio": ratio, "throughput_ratio_home": home_ratio,
            "throughput_goal": THROUGHPUT_GOAL, "throughput_goal_met": ratio.map(|x| x >= THROUGHPUT_GOAL),
            "rtt_ns": rtt_ns,
            "null": spin.as_ref().map(|n| serde_json::json!({
                "rss_kb": n.rss_kb,
                "to_node2_ns": n.out.iter().map(|m| m.elapsed_ns).collect::<Vec<_>>(),
                "home_ns": n.home.iter().map(|m| m.elapsed_ns).collect::<Vec<_>>(),
                "to_node2_bytes": n.out.first().map(|m| m.bytes),
                "median_to_node2_ns": null_out, "median_home_ns": null_home,
                "median_to_node2_rtts": null_out.map(|o| o as f64 / rtt_ns),
                "median_home_rtts": null_home.map(|h| h as f64 / rtt_ns),
                "goal_rtts": NULL_GOAL_RTTS,
                "goal_met": null_out.map(|o| o as f64 / rtt_ns <= NULL_GOAL_RTTS),
                "end": n.end,
                "phases_ms": {
                    "to_node2": n.phases_out.iter().map(|p| serde_json::json!({"side": p.0, "phase": p.1, "ms": p.2})).collect::<Vec<_>>(),
                    "home": n.phases_home.iter().map(|p| serde_json::json!({"side": p.0, "phase": p.1, "ms": p.2})).collect::<Vec<_>>(),
                },
            })),
            "reference_ms": {"sprite": SPRITE_MS, "choices": CHOICES_MS},
            "syscalls": {
                "note": "local = migrate_work at home on node 1, remote = the same migrated to node 2; fork and exec remote are the first call of a fresh migrated process (it brings the process home), median of the runs",
                "calls": calls.iter().map(|c| serde_json::json!({
                    "kind": c.spec.kind, "call": c.spec.label,
                    "local": c.local.json(), "local_us_per_op": c.local.per_op_ns() / 1e3,
                    "remote": c.remote.iter().map(SbRun::json).collect::<Vec<_>>(),
                    "remote_us_per_op": c.remote_ns() / 1e3,
                    "remote_is_first_call_including_move_home": c.first_call(),
                    "slowdown": c.slowdown(), "mosix_slowdown": c.spec.mosix,
                })).collect::<Vec<_>>(),
                "rtt_ns": rtt_ns,
                "forwarded_call_ns": getppid,
                "forwarded_call_rtts": fwd_rtts,
                "forwarded_call_frames": getppid_frames,
                "forwarded_goal_rtts": FORWARD_GOAL_RTTS,
                "forwarded_goal_met": fwd_rtts.map(|x| x <= FORWARD_GOAL_RTTS),
            },
            "kernel_complaints": complaints,
            "failures": failures,
        }))
    })();
    finish(ctx, cl, r, "migrate.json", &failures)
}
