//! Per-process commands: `why` (can it migrate, and if not, why not),
//! `lock` and `unlock` (pin it to this node).

use crate::dev::Device;
use crate::error::CtlError;
use roam_proto::abi::{cantmove, PidArg, Why, ROAM_IOC_LOCK, ROAM_IOC_UNLOCK, ROAM_IOC_WHY};

/// The reasons in `bits`, as (name, explanation).
pub fn reasons(bits: u32) -> Vec<(&'static str, &'static str)> {
    cantmove::ALL.iter().filter(|(b, _, _)| bits & b != 0).map(|(_, n, e)| (*n, *e)).collect()
}

pub fn format_why(w: &Why, json: bool) -> String {
    let r = reasons(w.reasons);
    if json {
        let names: Vec<&str> = r.iter().map(|(n, _)| *n).collect();
        return serde_json::json!({
            "pid": w.pid, "can_migrate": w.reasons == 0, "reasons": names, "threads": w.nr_threads,
        })
        .to_string();
    }
    if r.is_empty() {
        return format!("{}: can migrate", w.pid);
    }
    let mut s = format!("{}: cannot migrate:", w.pid);
    for (_, e) in r {
        s.push_str("\n  - ");
        s.push_str(e);
    }
    s
}

pub fn why(pid: u32, json: bool) -> Result<String, CtlError> {
    let dev = Device::open().map_err(|e| CtlError::from_io("open /dev/roam", &e))?;
    let mut buf = Why { pid, ..Why::default() }.to_bytes();
    dev.ioctl_rw(ROAM_IOC_WHY, &mut buf).map_err(|e| CtlError::from_io(&format!("ask about pid {pid}"), &e))?;
    Ok(format_why(&Why::from_bytes(&buf), json))
}

pub fn lock(pid: u32, lock: bool, json: bool) -> Result<String, CtlError> {
    let dev = Device::open().map_err(|e| CtlError::from_io("open /dev/roam", &e))?;
    let mut buf = PidArg { pid }.to_bytes();
    let (cmd, verb) = if lock { (ROAM_IOC_LOCK, "lock") } else { (ROAM_IOC_UNLOCK, "unlock") };
    dev.ioctl_rw(cmd, &mut buf).map_err(|e| CtlError::from_io(&format!("{verb} pid {pid}"), &e))?;
    Ok(if json {
        serde_json::json!({ "pid": pid, "locked": lock }).to_string()
    } else if lock {
        format!("{pid}: locked to this node")
    } else {
        format!("{pid}: unlocked")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn why_output() {
        let w = Why { pid: 9, reasons: 0, nr_threads: 1 };
        assert_eq!(format_why(&w, false), "9: can migrate");
        let w = Why { pid: 9, reasons: cantmove::MULTITHREADED | cantmove::LOCKED, nr_threads: 2 };
        let h = format_why(&w, false);
        assert!(h.starts_with("9: cannot migrate:"));
        assert!(h.contains("more than one thread") && h.contains("locked"));
        let j: serde_json::Value = serde_json::from_str(&format_why(&w, true)).unwrap();
        assert_eq!(j["reasons"], serde_json::json!(["multithreaded", "locked"]));
        assert_eq!(j["can_migrate"], false);
    }
}
