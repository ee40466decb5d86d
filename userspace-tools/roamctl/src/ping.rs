//! `roamctl ping NODE`: round trips (or a bulk transfer) to a peer over
//! the roam transport, timed in the kernel (`ROAM_IOC_PING`, root only).

use crate::dev::Device;
use crate::error::CtlError;
use roam_proto::abi::{Ping, PING_BULK, PING_MAC_ONLY, ROAM_IOC_PING};

/// What one run asked for and got.
pub fn format(p: &Ping, json: bool) -> String {
    let bulk = p.flags & PING_BULK != 0;
    let mac_only = p.flags & PING_MAC_ONLY != 0;
    if json {
        return serde_json::json!({
            "node": p.node, "count": p.count, "size": p.size, "bulk": bulk, "mac_only": mac_only,
            "elapsed_ns": p.elapsed_ns, "done": p.done,
        })
        .to_string();
    }
    let secs = p.elapsed_ns as f64 / 1e9;
    if mac_only {
        let bytes = p.done as f64 * p.size as f64;
        return format!(
            "{} MACs over {} bytes in {:.3} s: {:.1} MB/s",
            p.done,
            p.size,
            secs,
            if secs > 0.0 { bytes / secs / 1e6 } else { 0.0 }
        );
    }
    if bulk {
        let bytes = p.done as f64 * p.size as f64;
        format!(
            "node {}: {} frames of {} bytes in {:.3} s: {:.1} MB/s",
            p.node,
            p.done,
            p.size,
            secs,
            if secs > 0.0 { bytes / secs / 1e6 } else { 0.0 }
        )
    } else {
        let per = if p.done > 0 { p.elapsed_ns as f64 / p.done as f64 / 1e3 } else { 0.0 };
        format!("node {}: {} round trips of {} bytes in {:.3} s: {:.1} us each", p.node, p.done, p.size, secs, per)
    }
}

pub fn run(node: u32, count: u32, size: u32, bulk: bool, mac_only: bool, json: bool) -> Result<String, CtlError> {
    let dev = Device::open_rw().map_err(|e| CtlError::from_io("open /dev/roam", &e))?;
    let flags = if mac_only { PING_MAC_ONLY } else if bulk { PING_BULK } else { 0 };
    let req = Ping { node, count, size, flags, ..Ping::default() };
    let mut buf = req.to_bytes();
    dev.ioctl_rw(ROAM_IOC_PING, &mut buf).map_err(|e| CtlError::from_io(&format!("ping node {node}"), &e))?;
    Ok(format(&Ping::from_bytes(&buf), json))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let p = Ping { node: 2, count: 10, size: 64, flags: 0, elapsed_ns: 1_000_000, done: 10 };
        assert_eq!(format(&p, false), "node 2: 10 round trips of 64 bytes in 0.001 s: 100.0 us each");
        let j: serde_json::Value = serde_json::from_str(&format(&p, true)).unwrap();
        assert_eq!(j["done"], 10);
        assert_eq!(j["bulk"], false);
        let b = Ping { flags: PING_BULK, size: 1_000_000, done: 2, elapsed_ns: 2_000_000_000, ..p };
        assert_eq!(format(&b, false), "node 2: 2 frames of 1000000 bytes in 2.000 s: 1.0 MB/s");
    }
}
