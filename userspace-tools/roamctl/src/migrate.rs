//! Moving processes: `migrate` (send one to another node, or home) and
//! `where` (where one runs now).

use std::io;

use roam_proto::abi::{
    mode,
    place, Migrate, Where, NODE_HOME, NODE_ID_MAX, NODE_ID_MIN, ROAM_IOC_MIGRATE, ROAM_IOC_WHERE,
};

use serde::Serialize;

use crate::dev::Device;
use crate::error::CtlError;

#[derive(Serialize)]
struct MigrateJson {
    pid: u32,
    node: u32,
    home: bool,
    remote_pid: u32,
    elapsed_ns: u64,
    bytes: u64,
    mode: &'static str,
    rounds: u32,
    freeze_ns: u64,
}

#[derive(Serialize)]
struct WhereJson {
    pid: u32,
    state: String,
    node: u32,
    other_pid: u32,
}

/// Parses the destination of `roamctl migrate`: a node id, or `home`
/// ([`NODE_HOME`]).
pub fn parse_dest(s: &str) -> Result<u32, String> {
    if s == "home" {
        return Ok(NODE_HOME);
    }
    match s.parse::<u32>() {
        Ok(n) if (NODE_ID_MIN..=NODE_ID_MAX).contains(&n) => Ok(n),
        _ => Err(format!("`{s}` is neither a node id ({NODE_ID_MIN}..{NODE_ID_MAX}) nor `home`")),
    }
}

/// `1.23 ms` below a second, `2.50 s` from one second on.
pub fn fmt_elapsed(ns: u64) -> String {
    if ns < 1_000_000_000 {
        format!("{:.2} ms", ns as f64 / 1e6)
    } else {
        format!("{:.2} s", ns as f64 / 1e9)
    }
}

/// Bytes in binary units: `512 B`, `3.0 KiB`, `4.1 MiB`, `1.2 GiB`.
pub fn fmt_bytes(b: u64) -> String {
    const K: f64 = 1024.0;
    let f = b as f64;
    if b < 1024 {
        format!("{b} B")
    } else if f < K * K {
        format!("{:.1} KiB", f / K)
    } else if f < K * K * K {
        format!("{:.1} MiB", f / (K * K))
    } else {
        format!("{:.1} GiB", f / (K * K * K))
    }
}

/// What a successful move reports: `pid 123 -> node 2 (remote pid 45):
/// 1.23 ms, 4.1 MiB` (`pid 123 -> home: ...` when it went home), or with
/// `json` `{"pid":..,"node":..,"home":..,"remote_pid":..,"elapsed_ns":..,"bytes":..,
/// "mode":"stop|precopy","rounds":..,"freeze_ns":..}` where `node` is 0
/// for home. A pre-copy adds its rounds and how long the process was
/// stopped.
pub fn format_migrate(m: &Migrate, json: bool) -> String {
    let home = m.node == NODE_HOME;
    if json {
        let doc = MigrateJson {
            pid: m.pid,
            node: m.node,
            home,
            remote_pid: m.remote_pid,
            elapsed_ns: m.elapsed_ns,
            bytes: m.bytes,
            mode: mode::name(m.mode),
            rounds: m.rounds,
            freeze_ns: m.freeze_ns,
        };
        return serde_json::to_string(&doc).expect("numbers always serialize");
    }
    let to = if home { "home".to_string() } else { format!("node {} (remote pid {})", m.node, m.remote_pid) };
    let base = format!("pid {} -> {to}: {}, {}", m.pid, fmt_elapsed(m.elapsed_ns), fmt_bytes(m.bytes));
    if m.rounds == 0 {
        return base;
    }
    format!("{base}; pre-copy in {} rounds, stopped for {}", m.rounds, fmt_elapsed(m.freeze_ns))
}

/// A `--mode` name: `stop` or `precopy`.
pub fn parse_mode(s: &str) -> Result<u32, String> {
    mode::ALL.into_iter().find(|m| mode::name(*m) == s).ok_or_else(|| format!("`{s}` is not a mode: stop or precopy"))
}

/// The error for a failed `ROAM_IOC_MIGRATE`. The module copies the
/// structure back before failing, so `reason` is read from the buffer.
pub fn migrate_error(pid: u32, node: u32, err: &io::Error, buf: &[u8; Migrate::SIZE]) -> CtlError {
    match err.raw_os_error() {
        Some(errno) => CtlError::Migrate { pid, node, errno, reason: Migrate::from_bytes(buf).reason },
        None => CtlError::Io { action: format!("migrate pid {pid}"), detail: err.to_string() },
    }
}

pub fn migrate(pid: u32, node: u32, mode: u32, json: bool) -> Result<String, CtlError> {
    let dev = Device::open_rw().map_err(|e| CtlError::from_io("open /dev/roam", &e))?;
    let mut buf = Migrate { pid, node, mode, ..Migrate::default() }.to_bytes();
    match dev.ioctl_rw(ROAM_IOC_MIGRATE, &mut buf) {
        Ok(()) => {
            // Report what was asked: the module fills only the out fields.
            let got = Migrate { pid, node, mode, ..Migrate::from_bytes(&buf) };
            Ok(format_migrate(&got, json))
        }
        Err(e) => Err(migrate_error(pid, node, &e, &buf)),
    }
}

/// The name of a [`place`] value (`unknown(N)` for one this roamctl does
/// not know).
pub fn state_name(state: u32) -> String {
    match state {
        place::HOME => "home".into(),
        place::AWAY => "away".into(),
        place::GUEST => "guest".into(),
        place::MOVING => "moving".into(),
        s => format!("unknown({s})"),
    }
}

/// `home`, `node N (pid P there)`, `guest from node N (pid P at home)` or
/// `moving`; with `json`
/// `{"pid":..,"state":"home|away|guest|moving","node":..,"other_pid":..}`.
pub fn format_where(w: &Where, json: bool) -> String {
    if json {
        let doc = WhereJson { pid: w.pid, state: state_name(w.state), node: w.node, other_pid: w.other_pid };
        return serde_json::to_string(&doc).expect("strings and numbers always serialize");
    }
    match w.state {
        place::HOME => "home".into(),
        place::AWAY => format!("node {} (pid {} there)", w.node, w.other_pid),
        place::GUEST => format!("guest from node {} (pid {} at home)", w.node, w.other_pid),
        place::MOVING => "moving".into(),
        s => format!("unknown state {s} (node {}, pid {})", w.node, w.other_pid),
    }
}

/// Asks the module where `pid` runs.
pub fn query_where(dev: &Device, pid: u32) -> Result<Where, io::Error> {
    let mut buf = Where { pid, ..Where::default() }.to_bytes();
    dev.ioctl_rw(ROAM_IOC_WHERE, &mut buf)?;
    Ok(Where { pid, ..Where::from_bytes(&buf) })
}

pub fn where_(pid: u32, json: bool) -> Result<String, CtlError> {
    let dev = Device::open().map_err(|e| CtlError::from_io("open /dev/roam", &e))?;
    let w = query_where(&dev, pid)
        .map_err(|e| CtlError::from_ioctl(&format!("ask where pid {pid} runs"), "ROAM_IOC_WHERE", &e))?;
    Ok(format_where(&w, json))
}

#[cfg(test)]
mod tests {
    use super::*;
    use roam_proto::abi::refusal;

    #[test]
    fn destinations() {
        assert_eq!(parse_dest("home"), Ok(NODE_HOME));
        assert_eq!(parse_dest("1"), Ok(1));
        assert_eq!(parse_dest("65534"), Ok(65534));
        for bad in ["0", "65535", "-1", "Home", "", "2x"] {
            assert!(parse_dest(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn units() {
        assert_eq!(fmt_elapsed(1_234_567), "1.23 ms");
        assert_eq!(fmt_elapsed(999), "0.00 ms");
        assert_eq!(fmt_elapsed(2_500_000_000), "2.50 s");
        assert_eq!(fmt_bytes(0), "0 B");
        assert_eq!(fmt_bytes(1023), "1023 B");
        assert_eq!(fmt_bytes(3 * 1024), "3.0 KiB");
        assert_eq!(fmt_bytes(4_300_000), "4.1 MiB");
        assert_eq!(fmt_bytes(3 << 30), "3.0 GiB");
    }

    #[test]
    fn migrate_output() {
        let m = Migrate { pid: 123, node: 2, remote_pid: 45, elapsed_ns: 1_234_000, bytes: 4_300_000, freeze_ns: 1_234_000, ..Migrate::default() };
        assert_eq!(format_migrate(&m, false), "pid 123 -> node 2 (remote pid 45): 1.23 ms, 4.1 MiB");
        assert_eq!(
            format_migrate(&m, true),
            r#"{"pid":123,"node":2,"home":false,"remote_pid":45,"elapsed_ns":1234000,"bytes":4300000,"mode":"stop","rounds":0,"freeze_ns":1234000}"#
        );
        let p = Migrate { mode: mode::PRECOPY, rounds: 3, freeze_ns: 40_000_000, ..m };
        assert_eq!(format_migrate(&p, false), "pid 123 -> node 2 (remote pid 45): 1.23 ms, 4.1 MiB; pre-copy in 3 rounds, stopped for 40.00 ms");
        let v: serde_json::Value = serde_json::from_str(&format_migrate(&p, true)).unwrap();
        assert_eq!((v["mode"].as_str(), v["rounds"].as_u64(), v["freeze_ns"].as_u64()), (Some("precopy"), Some(3), Some(40_000_000)));
        let h = Migrate { node: NODE_HOME, remote_pid: 0, ..m };
        assert_eq!(format_migrate(&h, false), "pid 123 -> home: 1.23 ms, 4.1 MiB");
        let v: serde_json::Value = serde_json::from_str(&format_migrate(&h, true)).unwrap();
        assert_eq!((v["home"].as_bool(), v["node"].as_u64()), (Some(true), Some(0)));
    }

    #[test]
    fn migrate_errors_read_the_reason_from_the_buffer() {
        let back = Migrate { pid: 9, node: 4, reason: refusal::TOO_MANY_GUESTS, ..Migrate::default() }.to_bytes();
        let e = migrate_error(9, 4, &io::Error::from_raw_os_error(libc::EAGAIN), &back);
        assert_eq!(e, CtlError::Migrate { pid: 9, node: 4, errno: libc::EAGAIN, reason: refusal::TOO_MANY_GUESTS });
        assert_eq!(
            e.to_string(),
            "cannot migrate pid 9 to node 4: Resource temporarily unavailable \
             (the destination runs as many guests as it allows)"
        );
        // Nothing copied back: the request as sent, reason 0.
        let sent = Migrate { pid: 9, node: 4, ..Migrate::default() }.to_bytes();
        let e = migrate_error(9, 4, &io::Error::from_raw_os_error(libc::EFAULT), &sent);
        assert!(e.to_string().ends_with("Bad address (no detail)"), "{e}");
        let e = migrate_error(9, 4, &io::Error::new(io::ErrorKind::InvalidInput, "bad buffer"), &sent);
        assert_eq!(e.exit_status(), 1);
    }

    #[test]
    fn where_output() {
        let w = |state, node, other_pid| Where { pid: 7, state, node, other_pid };
        assert_eq!(format_where(&w(place::HOME, 1, 0), false), "home");
        assert_eq!(format_where(&w(place::AWAY, 3, 55), false), "node 3 (pid 55 there)");
        assert_eq!(format_where(&w(place::GUEST, 2, 900), false), "guest from node 2 (pid 900 at home)");
        assert_eq!(format_where(&w(place::MOVING, 1, 0), false), "moving");
        assert_eq!(format_where(&w(9, 1, 0), false), "unknown state 9 (node 1, pid 0)");
        assert_eq!(
            format_where(&w(place::AWAY, 3, 55), true),
            r#"{"pid":7,"state":"away","node":3,"other_pid":55}"#
        );
        let v: serde_json::Value = serde_json::from_str(&format_where(&w(place::GUEST, 2, 1), true)).unwrap();
        assert_eq!(v["state"], "guest");
    }
}
