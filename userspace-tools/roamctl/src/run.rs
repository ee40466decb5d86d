//! `roamrun`: start a program with a migration policy — locked to this
//! node, allowed only on some nodes, or started on the least-loaded node
//! now (remote invocation) — and `roamctl allow`.
//!
//! Locks and allowed-node masks are kept by the module per process (pid
//! and start time), so they survive the `execve` that starts the program.
//! Remote invocation runs the program as a child: once the child has
//! exec'd (a close-on-exec pipe tells), `roamrun` asks the module to move
//! it, then waits for it and exits with its status. A process cannot exec
//! away from home (exec needs the home's files), so it is moved right
//! after its exec instead, before it has done any real work.

use std::io;

use roam_proto::abi::{nodes_mask, Allow, ROAM_IOC_ALLOW};
use roam_proto::policy::allowed_on;

use crate::dev::Device;
use crate::error::CtlError;
use crate::nodes::Node;

/// Parses a node list: `any` (no restriction: mask 0), or ids and ranges
/// separated by commas (`2,4-6`). Node ids are 1 to 64.
pub fn parse_nodes(s: &str) -> Result<u64, String> {
    if s == "any" {
        return Ok(0);
    }
    let mut ids = Vec::new();
    for part in s.split(',') {
        let bad = || format!("`{part}` in `{s}` is not a node id (1..64) or a range like 2-4");
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a.parse::<u32>().map_err(|_| bad())?, b.parse::<u32>().map_err(|_| bad())?),
            None => {
                let n = part.parse::<u32>().map_err(|_| bad())?;
                (n, n)
            }
        };
        if a > b || b > 64 {
            return Err(bad());
        }
        ids.extend(a..=b);
    }
    nodes_mask(&ids).map_err(|n| format!("node {n} in `{s}`: node ids for a node list are 1 to 64"))
}

/// A mask as a node list (`2,4,5`), or `any`.
pub fn format_nodes(mask: u64) -> String {
    if mask == 0 {
        return "any".into();
    }
    (1..=64u32).filter(|n| mask & (1u64 << (n - 1)) != 0).map(|n| n.to_string()).collect::<Vec<_>>().join(",")
}

/// Reads (and with `set`, first sets) the allowed-node mask of `pid`.
pub fn allow_ioctl(dev: &Device, pid: u32, set: Option<u64>) -> io::Result<u64> {
    let mut buf = Allow { pid, set: u32::from(set.is_some()), nodes: set.unwrap_or(0) }.to_bytes();
    dev.ioctl_rw(ROAM_IOC_ALLOW, &mut buf)?;
    Ok(Allow::from_bytes(&buf).nodes)
}

/// `roamctl allow PID [NODES]`.
pub fn allow(pid: u32, set: Option<u64>, json: bool) -> Result<String, CtlError> {
    let dev = Device::open().map_err(|e| CtlError::from_io("open /dev/roam", &e))?;
    let mask = allow_ioctl(&dev, pid, set)
        .map_err(|e| CtlError::from_ioctl(&format!("allowed nodes of pid {pid}"), "ROAM_IOC_ALLOW", &e))?;
    Ok(if json {
        serde_json::json!({ "pid": pid, "nodes": format_nodes(mask), "mask": mask }).to_string()
    } else {
        format!("{pid}: may run on nodes {}", format_nodes(mask))
    })
}

/// The node to start on: the least-loaded node that is up, allowed (`mask`
/// 0: any) and not known to refuse guests, this node on a tie or when
/// nothing else qualifies.
/// `nodes` is the parsed `/sys/kernel/roam/nodes`. Returns `None` for this
/// node.
pub fn best_node(nodes: &[Node], mask: u64) -> Option<u32> {
    let me = nodes.iter().find(|n| n.is_self == Some(true));
    let my_load = me.and_then(|n| n.load).unwrap_or(u64::MAX);
    nodes
        .iter()
        .filter(|n| n.is_self != Some(true) && n.state.as_deref() == Some("up") && n.guests != Some(false))
        .filter_map(|n| Some((n.load?, n.id?)))
        .filter(|&(_, id)| allowed_on(mask, id))
        .min()
        .filter(|&(load, _)| load < my_load)
        .map(|(_, id)| id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nodes::parse;

    #[test]
    fn node_lists() {
        assert_eq!(parse_nodes("any"), Ok(0));
        assert_eq!(parse_nodes("1"), Ok(1));
        assert_eq!(parse_nodes("2,4-6"), Ok(0b111010));
        assert_eq!(parse_nodes("64"), Ok(1 << 63));
        for bad in ["", "0", "65", "3-2", "a", "1,,2", "1-", "-3"] {
            assert!(parse_nodes(bad).is_err(), "{bad}");
        }
        assert_eq!(format_nodes(0b111010), "2,4,5,6");
        assert_eq!(format_nodes(0), "any");
        assert_eq!(parse_nodes(&format_nodes(0b1001)), Ok(0b1001));
    }

    #[test]
    fn best_node_is_the_lightest_up_allowed_one() {
        let nodes = parse(
            "node=1 self=1 state=up load=3000\n\
             node=2 self=0 state=up load=1200\n\
             node=3 self=0 state=down load=0\n\
             node=4 self=0 state=up load=900\n\
             node=5 self=0 state=up load=-\n",
        );
        assert_eq!(best_node(&nodes, 0), Some(4));
        // Only nodes 2 and 3 allowed; 3 is down.
        assert_eq!(best_node(&nodes, 0b110), Some(2));
        // Nothing allowed but this node: stay.
        assert_eq!(best_node(&nodes, 0b1), None);
        // This node is the lightest: stay.
        let light = parse("node=1 self=1 state=up load=100\nnode=2 self=0 state=up load=100\n");
        assert_eq!(best_node(&light, 0), None);
        assert_eq!(best_node(&[], 0), None);
        // A lighter node that takes no guests is passed over.
        let closed = parse("node=1 self=1 state=up load=3000\nnode=2 self=0 state=up load=0 guests=no\nnode=3 self=0 state=up load=900 guests=yes\n");
        assert_eq!(best_node(&closed, 0), Some(3));
        assert_eq!(best_node(&closed, 0b10), None);
    }
}
