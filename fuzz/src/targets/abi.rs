//! `abi`: the ioctl structures of [`roam_proto::abi`] as the module
//! reads them from user space, [`Status::from_bytes`] as tools read it,
//! and the helpers around them (`nodes_mask`, the `timens_offsets` line,
//! the refusal and cannot-move names). The input is read as each
//! structure in turn, from its start.
//!
//! Checks: `Status` decodes only from at least 48 bytes of the current
//! ABI version and keeps every byte but the reserved word; every fixed
//! structure round-trips (decode then encode gives the bytes back, bar
//! reserved words, which come back zero); a nodes mask has exactly the
//! bits of the ids given, or names an id outside 1..=64; an offsets line
//! says the offset it was given, its nanoseconds in 0..1e9.

use crate::ensure;
use crate::target::{Cx, Target, Violation};
use roam_proto::abi::{
    cantmove, ioc_size, ioc_type, nodes_mask, refusal, Adopt, AdoptClocks, Allow, DecodeError, Migrate, NodeState,
    PidArg, Ping, Status, Where, Why, ROAM_ABI_VERSION,
};

/// The `abi` target.
pub struct Abi;

/// The first `N` bytes of `data`, zero-padded.
fn first<const N: usize>(data: &[u8]) -> [u8; N] {
    let mut b = [0u8; N];
    let n = data.len().min(N);
    b[..n].copy_from_slice(&data[..n]);
    b
}

/// `b` with the bytes `reserved` zeroed.
fn zeroed<const N: usize>(mut b: [u8; N], reserved: std::ops::Range<usize>) -> [u8; N] {
    b[reserved].fill(0);
    b
}

impl Target for Abi {
    fn name(&self) -> &'static str {
        "abi"
    }

    fn about(&self) -> &'static str {
        "ioctl structures and status (abi::*::from_bytes, Status::from_bytes, nodes_mask, offsets_line)"
    }

    fn seeds(&self) -> Vec<Vec<u8>> {
        let mut s = Status::new(7, NodeState::Up).to_bytes().to_vec();
        s.extend_from_slice(&AdoptClocks { ticket: 9, monotonic_ns: -1_500_000_000, boottime_ns: 3 }.to_bytes());
        let mut m =
            Migrate { pid: 1, node: 2, reason: 108, remote_pid: 3, elapsed_ns: 4, bytes: 5, mode: 1, rounds: 3, freeze_ns: 6 }.to_bytes().to_vec();
        m.extend_from_slice(&[1, 0, 0, 0, 3, 0, 0, 0, 64, 0, 0, 0]);
        vec![s, m, Ping { node: 2, count: 100, size: 64, flags: 1, elapsed_ns: 1 << 40, done: 99 }.to_bytes().to_vec()]
    }

    fn max_len(&self) -> usize {
        256
    }

    fn run(&self, data: &[u8], cx: &mut Cx) -> Result<(), Violation> {
        match Status::from_bytes(data) {
            Ok(s) => {
                cx.hit("status", "ok");
                ensure!(
                    data.len() >= Status::SIZE && s.abi_version == ROAM_ABI_VERSION,
                    "status from {} bytes: {s:?}",
                    data.len()
                );
                let b = s.to_bytes();
                ensure!(
                    b[..12] == data[..12] && b[16..] == data[16..Status::SIZE],
                    "status bytes changed on re-encoding"
                );
                let _ = (s.version_str(), NodeState::from_u32(s.state).map(NodeState::name));
            }
            Err(DecodeError::Short) => {
                cx.hit("status", "short");
                ensure!(data.len() < Status::SIZE, "{} bytes called short", data.len());
            }
            Err(DecodeError::AbiMismatch(v)) => {
                cx.hit("status", "abi_mismatch");
                ensure!(v != ROAM_ABI_VERSION, "the current version called a mismatch");
            }
        }
        let ping: [u8; Ping::SIZE] = first(data);
        ensure!(Ping::from_bytes(&ping).to_bytes() == zeroed(ping, 28..32), "Ping does not round-trip");
        let m: [u8; Migrate::SIZE] = first(data);
        ensure!(Migrate::from_bytes(&m).to_bytes() == m, "Migrate does not round-trip");
        let w: [u8; Where::SIZE] = first(data);
        ensure!(Where::from_bytes(&w).to_bytes() == w, "Where does not round-trip");
        let a: [u8; Allow::SIZE] = first(data);
        ensure!(Allow::from_bytes(&a).to_bytes() == a, "Allow does not round-trip");
        let y: [u8; Why::SIZE] = first(data);
        ensure!(Why::from_bytes(&y).to_bytes() == zeroed(y, 12..16), "Why does not round-trip");
        let p: [u8; PidArg::SIZE] = first(data);
        ensure!(PidArg::from_bytes(&p).to_bytes() == zeroed(p, 4..8), "PidArg does not round-trip");
        let t: [u8; Adopt::SIZE] = first(data);
        ensure!(Adopt::from_bytes(&t).to_bytes() == t, "Adopt does not round-trip");
        let c: [u8; AdoptClocks::SIZE] = first(data);
        let clocks = AdoptClocks::from_bytes(&c);
        ensure!(clocks.to_bytes() == c, "AdoptClocks does not round-trip");
        for (name, ns) in [("monotonic", clocks.monotonic_ns), ("boottime", clocks.boottime_ns)] {
            let mut line = [0u8; 64];
            let n = AdoptClocks::offsets_line(name, ns, &mut line);
            let text = String::from_utf8_lossy(&line[..n.min(64)]).to_string();
            let parts: Vec<&str> = text.trim_end().split(' ').collect();
            let said = match parts[..] {
                [_, s, ns] => s.parse::<i128>().ok().zip(ns.parse::<i128>().ok()),
                _ => None,
            };
            ensure!(
                said.is_some_and(
                    |(s, sub)| (0..1_000_000_000).contains(&sub) && s * 1_000_000_000 + sub == i128::from(ns)
                ),
                "offsets line {text:?} for {ns}"
            );
        }
        let ids: Vec<u32> =
            data.chunks_exact(4).take(16).map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]) % 80).collect();
        match nodes_mask(&ids) {
            Ok(mask) => {
                cx.hit("nodes_mask", "ok");
                let want = ids.iter().fold(0u64, |m, n| m | 1u64.checked_shl(n.wrapping_sub(1)).unwrap_or(0));
                ensure!(mask == want && ids.iter().all(|n| (1..=64).contains(n)), "mask {mask:#x} for {ids:?}");
            }
            Err(n) => {
                cx.hit("nodes_mask", "out_of_range");
                ensure!(n == 0 || n > 64, "node {n} called out of range");
            }
        }
        for v in ids {
            let _ = (refusal::explain(v), refusal::name(v), ioc_size(v), ioc_type(v), NodeState::from_u32(v));
        }
        let _ = cantmove::ALL;
        Ok(())
    }
}
