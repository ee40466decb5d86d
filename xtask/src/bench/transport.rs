//! `cargo xtask bench transport`: the roam transport against raw TCP
//! between the same two guests, measured in one run, and the cost of the
//! load exchange. Results go to stdout and `<cache>/bench/transport.json`.
//!
//! Calls [`super::common`], `cluster` (its subnet) and `config`.

use super::common::{boot, field, finish, sh};
use crate::cluster::{self, Accel, Spec};
use crate::config::{configure, parse_stats};
use crate::util::{step, Ctx};
use anyhow::Result;
use std::time::Duration;

pub fn run(ctx: &Ctx, accel: Accel) -> Result<()> {
    let spec = Spec { name: "bench".into(), nodes: 2, accel, memory_mb: 1024, cpus: 1 };
    let mut cl = boot(ctx, &spec)?;
    let r = (|| -> Result<serde_json::Value> {
        configure(&mut cl, false)?;
        let peer = format!("{}.2", cluster::NET);
        sh(&mut cl, 2, "(timeout 500 /usr/lib/roam/tests/tcp_pingpong server 7100 500 >/dev/null 2>&1 &)")?;
        std::thread::sleep(Duration::from_millis(500));
        let (rtts, small) = (2000u64, 64u64);
        let (frames, big) = (400u64, 64 * 1024u64);
        step(&format!("round trips: {rtts} x {small} B, raw TCP then roam"));
        let raw = sh(&mut cl, 1, &format!("/usr/lib/roam/tests/tcp_pingpong client {peer} 7100 rtt {rtts} {small}"))?;
        let roam = sh(&mut cl, 1, &format!("roamctl --json ping 2 --count {rtts} --size {small}"))?;
        let raw_rtt = field(&raw, "elapsed_ns")? as f64 / rtts as f64;
        let roam_rtt = field(&roam, "elapsed_ns")? as f64 / field(&roam, "done")? as f64;
        step(&format!("bulk: {frames} x {} KiB, raw TCP then roam", big / 1024));
        let raw = sh(&mut cl, 1, &format!("/usr/lib/roam/tests/tcp_pingpong client {peer} 7100 bulk {frames} {big}"))?;
        let roam = sh(&mut cl, 1, &format!("roamctl --json ping 2 --bulk --count {frames} --size {big}"))?;
        let bytes = (frames * big) as f64;
        let raw_bw = bytes / (field(&raw, "elapsed_ns")? as f64 / 1e9);
        let roam_bw = bytes / (field(&roam, "elapsed_ns")? as f64 / 1e9);
        step("the frame MAC alone (XChaCha20-Poly1305 tag in node 1's kernel, no network)");
        let mac = sh(&mut cl, 1, &format!("roamctl --json ping 2 --mac-only --count {frames} --size {big}"))?;
        let mac_bw = bytes / (field(&mac, "elapsed_ns")? as f64 / 1e9);
        let mac_small = sh(&mut cl, 1, &format!("roamctl --json ping 2 --mac-only --count {rtts} --size {}", small + 44))?;
        let mac_small_ns = field(&mac_small, "elapsed_ns")? as f64 / rtts as f64;
        let window = 20u64;
        step(&format!("load exchange: counting node 1's frames for {window} s"));
        let before = parse_stats(&sh(&mut cl, 1, "cat /sys/kernel/roam/stats")?);
        std::thread::sleep(Duration::from_secs(window));
        let after = parse_stats(&sh(&mut cl, 1, "cat /sys/kernel/roam/stats")?);
        let d = |k: &str| after.get(k).copied().unwrap_or(0).saturating_sub(before.get(k).copied().unwrap_or(0)) as f64 / window as f64;
        let pushes = d("load_pushes_sent");
        let sent = d("frames_sent");
        let bytes_s = d("bytes_sent");
        println!();
        println!("| measure | raw TCP | roam | ratio | goal |");
        println!("| --- | --- | --- | --- | --- |");
        println!("| round trip, {small} B | {:.1} us | {:.1} us | {:.2}x | <= 1.2x |", raw_rtt / 1e3, roam_rtt / 1e3, roam_rtt / raw_rtt);
        println!("| bulk, {} KiB frames | {:.1} MB/s | {:.1} MB/s | {:.2}x | >= 0.8x |", big / 1024, raw_bw / 1e6, roam_bw / 1e6, roam_bw / raw_bw);
        println!("| load exchange, per node | | {pushes:.2} pushes/s, {sent:.2} frames/s, {bytes_s:.0} B/s | | 1 msg/s, < 1 KB/s |");
        println!("| frame MAC (Poly1305) alone, {} KiB | | {:.1} MB/s | {:.2}x of raw TCP | (bound for bulk: each byte is MACed at both ends) |", big / 1024, mac_bw / 1e6, mac_bw / raw_bw);
        println!("| frame MAC alone, one {} B frame | | {:.1} us | 4 per round trip = {:.0}% of the extra time | |", small + 44, mac_small_ns / 1e3, 400.0 * mac_small_ns / (roam_rtt - raw_rtt).max(1.0));
        Ok(serde_json::json!({
            "rtt_raw_ns": raw_rtt, "rtt_roam_ns": roam_rtt, "rtt_ratio": roam_rtt / raw_rtt,
            "bulk_raw_bps": raw_bw, "bulk_roam_bps": roam_bw, "bulk_ratio": roam_bw / raw_bw,
            "mac_bps": mac_bw, "mac_small_frame_ns": mac_small_ns,
            "load_pushes_per_s": pushes, "frames_per_s": sent, "bytes_per_s": bytes_s,
            "accel": format!("{:?}", cl.state.accel),
        }))
    })();
    finish(ctx, cl, r, "transport.json", &[])
}
