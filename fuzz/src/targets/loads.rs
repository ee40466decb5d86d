//! `load_vector`: a `LoadPush` or `LoadReply` payload as the receiver
//! handles it (`kmod/cluster/dispatch.rs`, `gossip.rs`): decoded into
//! `MAX_VECTOR + 1` entries ([`decode_loads`]), merged into the node's
//! load vector ([`LoadVector::merge`]) and used by the balancer
//! ([`policy::decide`]) and by a target weighing a guest
//! ([`policy::accept`]).
//!
//! Checks: a decoded message is exactly its count's length, re-encodes to
//! the same bytes, names valid nodes only; the merged vector keeps its
//! invariants (at most `size` entries, no node twice, never this node or
//! node 0); the outgoing message has at most `1 + size / 2` entries, this
//! node's first; the balancer targets only a fresh entry of another node
//! and moves only a movable candidate.

use crate::ensure;
use crate::target::{Cx, Field, Target, Violation};
use roam_proto::loadvec::{LoadEntry, LoadVector, ENTRY_WIRE_LEN, MAX_VECTOR};
use roam_proto::policy::{self, Candidate, Decision, Tunables};
use roam_proto::wire::{self, Reject};
use std::collections::HashSet;

/// This node.
const ME: u32 = 1;

/// The `load_vector` target.
pub struct Loads;

static FIELDS: [Field; 1] = [Field::len(0, 2, 2, ENTRY_WIRE_LEN)];

/// A load entry about `node`.
fn entry(node: u32, k: u32) -> LoadEntry {
    LoadEntry { node, load: k * 370, speed: 1000 + k * 10, ncpus: (k % 8) as u16, free_mem_mb: 64 * k, age_ms: k * 400, no_guests: k % 5 == 0, no_root: k % 3 == 0 }
}

/// Valid load messages with 0 to `MAX_VECTOR + 1` entries.
pub fn samples() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for n in [0usize, 1, 2, 5, 17, MAX_VECTOR, MAX_VECTOR + 1] {
        let entries: Vec<LoadEntry> = (0..n).map(|i| entry(2 + i as u32 * 3 % 40, i as u32)).collect();
        let mut buf = vec![0u8; wire::loads_len(n)];
        let len = wire::encode_loads(&entries, &mut buf).expect("sample fits");
        buf.truncate(len);
        out.push(buf);
    }
    out
}

impl Target for Loads {
    fn name(&self) -> &'static str {
        "load_vector"
    }

    fn about(&self) -> &'static str {
        "load messages (wire::decode_loads), merged into the load vector and weighed by policy::decide/accept"
    }

    fn seeds(&self) -> Vec<Vec<u8>> {
        samples()
    }

    fn max_len(&self) -> usize {
        wire::loads_len(MAX_VECTOR + 4)
    }

    fn fields(&self) -> &'static [Field] {
        &FIELDS
    }

    fn run(&self, data: &[u8], cx: &mut Cx) -> Result<(), Violation> {
        check(data, cx)
    }
}

/// The receiver's handling of a load message.
pub fn check(data: &[u8], cx: &mut Cx) -> Result<(), Violation> {
    let mut entries = [LoadEntry::default(); MAX_VECTOR + 1];
    let n = match wire::decode_loads(data, &mut entries) {
        Ok(n) => n,
        Err(e) => {
            cx.hit("loads", e.name());
            return Ok(());
        }
    };
    cx.hit("loads", "ok");
    ensure!(n <= MAX_VECTOR + 1, "{n} entries decoded into {} slots", MAX_VECTOR + 1);
    ensure!(data.len() == wire::loads_len(n), "{n} entries decoded from {} bytes", data.len());
    let got = &entries[..n];
    ensure!(got.iter().all(|e| (1..=65534).contains(&e.node)), "invalid node id decoded: {got:?}");
    let mut again = vec![0u8; data.len()];
    ensure!(wire::encode_loads(got, &mut again) == Ok(data.len()), "re-encoding failed");
    ensure!(again == data, "re-encoding differs from the message");
    let mut small = [LoadEntry::default(); 1];
    if n > 1 {
        ensure!(wire::decode_loads(data, &mut small) == Err(Reject::BadLength), "more entries than room accepted");
    }
    for size in [2usize, 8, MAX_VECTOR] {
        let mut v = LoadVector::new(ME, size);
        v.merge(&[entry(40, 1), entry(41, 30), entry(ME, 0)], 100);
        v.merge(got, 250);
        vector_ok(&v, cx)?;
        v.age(1000);
        v.expire(4000);
        if let Some(e) = got.first() {
            v.remove(e.node);
        }
        vector_ok(&v, cx)?;
        v.set_size(size / 2);
        vector_ok(&v, cx)?;
    }
    let mut v = LoadVector::new(ME, MAX_VECTOR);
    v.set_own(2500, 1000, 2, 512);
    v.merge(got, 10);
    decide_ok(&v, cx)?;
    for e in got {
        let t = Tunables::DEFAULT;
        let r = policy::accept(e, e.load, e.ncpus.into(), &t, false);
        cx.hit("accept", if r.is_ok() { "ok" } else { "refused" });
    }
    Ok(())
}

/// The vector's invariants, and its outgoing message's.
fn vector_ok(v: &LoadVector, cx: &mut Cx) -> Result<(), Violation> {
    ensure!(v.len() <= v.size() && v.size() <= MAX_VECTOR, "{} entries in a vector of size {}", v.len(), v.size());
    let mut nodes = HashSet::new();
    for e in v.entries() {
        ensure!(e.node != 0 && e.node != ME, "the vector holds node {}", e.node);
        ensure!(nodes.insert(e.node), "node {} twice in the vector", e.node);
    }
    let mut out = [LoadEntry::default(); MAX_VECTOR + 1];
    let k = v.outgoing(&mut out);
    cx.hit("outgoing", if k > 1 { "entries" } else { "own_only" });
    ensure!((1..=1 + v.size() / 2).contains(&k), "outgoing wrote {k} entries for size {}", v.size());
    ensure!(out[0].node == ME && out[0].age_ms == 0, "outgoing does not start with this node: {:?}", out[0]);
    ensure!(out[1..k].iter().all(|e| v.get(e.node) == Some(e)), "outgoing sent entries the vector does not hold");
    Ok(())
}

/// The balancer's promises for a vector built from peer entries.
fn decide_ok(v: &LoadVector, cx: &mut Cx) -> Result<(), Violation> {
    let t = Tunables::DEFAULT;
    let cands = [
        Candidate {
            pid: 10,
            age_ms: 60_000,
            since_migration_ms: u32::MAX,
            cpu_share: 1000,
            rss_mb: 100,
            eligible: true,
            comm_node: 0,
            bounces: 0,
            allowed: 0,
            privileged: true,
        },
        Candidate {
            pid: 11,
            age_ms: 10,
            since_migration_ms: u32::MAX,
            cpu_share: 1000,
            rss_mb: 10,
            eligible: true,
            comm_node: 3,
            bounces: 0,
            allowed: 0,
            privileged: false,
        },
        Candidate {
            pid: 12,
            age_ms: 90_000,
            since_migration_ms: 9000,
            cpu_share: 700,
            rss_mb: 900,
            eligible: true,
            comm_node: 0,
            bounces: 9,
            allowed: 0b110,
            privileged: false,
        },
        Candidate {
            pid: 13,
            age_ms: 90_000,
            since_migration_ms: u32::MAX,
            cpu_share: 900,
            rss_mb: 40,
            eligible: false,
            comm_node: 0,
            bounces: 0,
            allowed: 0,
            privileged: false,
        },
    ];
    for (load, free) in [(2500u32, 512u32), (9000, 8), (100, 4096)] {
        let mut me = v.me();
        me.load = load;
        me.free_mem_mb = free;
        let d = policy::decide(&me, v.entries(), &cands, &t);
        match d {
            Decision::Stay => cx.hit("decide", "stay"),
            Decision::Migrate { pid, to, reason } => {
                cx.hit("decide", if matches!(reason, policy::Reason::Load) { "load" } else { "memory" });
                ensure!(to != 0 && to != ME, "decide targets node {to}");
                let e = v.get(to);
                ensure!(e.is_some_and(|e| e.age_ms <= t.max_info_age_ms), "decide targets {to}: {e:?}");
                let c = cands.iter().find(|c| c.pid == pid);
                ensure!(
                    c.is_some_and(|c| c.eligible
                        && c.age_ms >= t.min_age_ms
                        && c.since_migration_ms >= c.residency_needed(&t)
                        && c.allows(to)
                        && e.is_some_and(|e| c.fits(e))),
                    "decide moves {c:?} to {to}"
                );
            }
        }
    }
    Ok(())
}
