//! The two baselines roam's exchange is compared with: a central
//! collector (every node reports to one server each interval and gets the
//! least-loaded list back) and all-to-all broadcast. Their N-per-interval
//! traffic is counted arithmetically; only the messages that carry the
//! news about X are simulated one by one, and information ages come from
//! a random sample of node pairs (see the [module](super) documentation).
//!
//! Calls [`super::world`] and [`super::tracker`] only.

use super::report::AlgoResult;
use super::tracker::{ages, finish, Tracker, Traffic};
use super::world::{frame_bytes, next_interval, seed_queue, Queue, Us, World, AGE_SAMPLES, CHANGE_AT, INTERVAL, SEC};
use roam_proto::rng::XorShift64;
use roam_proto::wire::MAX_PAYLOAD;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum CEv {
    Sample,
    Churn(u32),
    /// Node i's report timer.
    Send(u32),
    /// Node i's report (sent at the given time) reaches the server.
    AtServer(u32, Us, u32),
    /// The server's list reaches node i; the flag says whether it showed
    /// X idle; the time is its departure from the server.
    AtNode(u32, u32, bool, Us),
}

/// Runs the central-collector baseline.
pub(super) fn simulate_central(w: &World, seed: u64) -> AlgoResult {
    let mut rng = XorShift64::new(seed ^ 0x0ce4_74a1);
    let n = w.n;
    let mut tr = Tracker::new(w);
    let mut q: Queue<CEv> = Queue::new();
    seed_queue(&mut q, &mut rng, w, CEv::Send, CEv::Churn, || CEv::Sample);
    // The list the server returns: every node it has heard from, sorted by
    // load, as many as fit into one frame.
    let list_cap = (MAX_PAYLOAD - 2) / roam_proto::loadvec::ENTRY_WIRE_LEN;
    let mut server_idle = false;
    let (mut server_msgs, mut server_bytes, mut server_sec, mut server_max) = (0u64, 0u64, 0u32, 0u32);
    let (mut sent_msgs, mut sent_bytes, mut rx_bytes) = (0u64, 0u64, 0u64);
    // Per node: (arrival at server, origin time) of each report, and the
    // departure time of the last list the node received (per life).
    let mut reports: Vec<Vec<(Us, Us)>> = vec![Vec::new(); n];
    let mut last_list: Vec<Option<Us>> = vec![None; n];
    let mut up_since: Vec<Us> = vec![0; n];

    while let Some((t, ev)) = q.pop() {
        if t > w.end {
            break;
        }
        tr.advance(t);
        match ev {
            CEv::Sample => {
                if tr.sample(t) {
                    server_max = server_max.max(server_sec);
                    server_sec = 0;
                }
            }
            CEv::Churn(k) => {
                let (_, i, up) = w.churn[k as usize];
                if up {
                    tr.up(i);
                    last_list[i] = None;
                    up_since[i] = t;
                    q.push(t + rng.below(INTERVAL), CEv::Send(i as u32));
                } else {
                    tr.down(i);
                }
            }
            CEv::Send(iu) => {
                let i = iu as usize;
                if !tr.alive[i] {
                    continue;
                }
                q.push(t + next_interval(&mut rng), CEv::Send(iu));
                sent_msgs += 1;
                sent_bytes += frame_bytes(1);
                tr.count(i, 1);
                if !w.lost(&mut rng) {
                    q.push(t + w.transit(&mut rng), CEv::AtServer(iu, t, tr.epoch[i]));
                }
            }
            CEv::AtServer(iu, origin, epoch) => {
                let i = iu as usize;
                reports[i].push((t, origin));
                if i == w.x && origin >= CHANGE_AT {
                    server_idle = true;
                }
                let listed = (tr.alive_count + 1).min(list_cap);
                server_msgs += 2; // the report in, the list out
                server_sec += 2;
                server_bytes += frame_bytes(listed);
                if !w.lost(&mut rng) {
                    q.push(t + w.transit(&mut rng), CEv::AtNode(iu, epoch, server_idle, t));
                }
            }
            CEv::AtNode(iu, epoch, idle, departed) => {
                let i = iu as usize;
                if !tr.alive[i] || tr.epoch[i] != epoch {
                    continue;
                }
                let listed = (tr.alive_count + 1).min(list_cap);
                rx_bytes += frame_bytes(listed);
                tr.count(i, 1);
                last_list[i] = Some(departed);
                if idle {
                    tr.learn(i, t);
                }
            }
        }
    }
    tr.advance(w.end);
    tr.max_per_sec = tr.max_per_sec.max(server_max);
    // Age of node i's entry about j: the end time minus the origin of the
    // last report of j the server had when it sent i its last list (the
    // server drops nodes silent for 3 intervals).
    let mut sample = Vec::with_capacity(AGE_SAMPLES);
    let alive: Vec<usize> = (0..n).filter(|&i| tr.alive[i] && last_list[i].is_some()).collect();
    if !alive.is_empty() {
        for _ in 0..AGE_SAMPLES {
            let i = alive[rng.below(alive.len() as u64) as usize];
            let j = rng.below(n as u64) as usize;
            let Some(dep) = last_list[i] else { continue };
            if i == j {
                continue;
            }
            let r = &reports[j];
            let k = r.partition_point(|&(arr, _)| arr <= dep);
            if k == 0 {
                continue;
            }
            let origin = r[k - 1].1;
            if dep - r[k - 1].0 > 3 * INTERVAL {
                continue;
            }
            sample.push((w.end - origin) as f64 / 1000.0);
        }
    }
    let secs = w.end as f64 / SEC as f64;
    let traffic = Traffic { sent_msgs: sent_msgs as f64, sent_bytes: sent_bytes as f64, rx_bytes: rx_bytes as f64 };
    finish(
        "central",
        &tr,
        w,
        traffic,
        ages(sample),
        Some((server_msgs as f64 / secs, server_bytes as f64 / secs)),
    )
}

// -------------------------------------------------------------- broadcast

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum BEv {
    Sample,
    Churn(u32),
    Send(u32),
    /// X's entry reaches node i (in the given life).
    Learn(u32, u32),
}

/// Runs the all-to-all broadcast baseline.
pub(super) fn simulate_broadcast(w: &World, seed: u64) -> AlgoResult {
    let mut rng = XorShift64::new(seed ^ 0xb40a_dca5);
    let n = w.n;
    let mut tr = Tracker::new(w);
    let mut q: Queue<BEv> = Queue::new();
    seed_queue(&mut q, &mut rng, w, BEv::Send, BEv::Churn, || BEv::Sample);
    let (mut sent_msgs, mut sent_bytes, mut rx_msgs) = (0u64, 0u64, 0f64);
    let mut sends: Vec<Vec<Us>> = vec![Vec::new(); n];
    let mut up_since: Vec<Us> = vec![0; n];
    // Per second: broadcasts started, and the most by a single node.
    let (mut rounds_sec, mut max_rounds_node) = (0u64, 0u32);
    let mut node_rounds: Vec<u32> = vec![0; n];
    let mut busiest = 0f64;

    while let Some((t, ev)) = q.pop() {
        if t > w.end {
            break;
        }
        tr.advance(t);
        match ev {
            BEv::Sample => {
                if tr.sample(t) {
                    // A node's load that second: its own sends to all
                    // others plus, in expectation, what reached it.
                    let others = tr.alive_count as f64;
                    let rx = rounds_sec.saturating_sub(1) as f64 * (1.0 - w.loss);
                    busiest = busiest.max(f64::from(max_rounds_node) * others + rx);
                    rounds_sec = 0;
                    max_rounds_node = 0;
                    node_rounds.iter_mut().for_each(|c| *c = 0);
                }
            }
            BEv::Churn(k) => {
                let (_, i, up) = w.churn[k as usize];
                if up {
                    tr.up(i);
                    up_since[i] = t;
                    q.push(t + rng.below(INTERVAL), BEv::Send(i as u32));
                } else {
                    tr.down(i);
                }
            }
            BEv::Send(iu) => {
                let i = iu as usize;
                if !tr.alive[i] {
                    continue;
                }
                q.push(t + next_interval(&mut rng), BEv::Send(iu));
                sends[i].push(t);
                let others = tr.alive_count as u64; // alive nodes other than i (X counted)
                sent_msgs += others;
                sent_bytes += others * frame_bytes(1);
                rx_msgs += others as f64 * (1.0 - w.loss);
                rounds_sec += 1;
                node_rounds[i] += 1;
                max_rounds_node = max_rounds_node.max(node_rounds[i]);
                if i == w.x && t >= CHANGE_AT {
                    for j in 0..n {
                        if j != i && tr.alive[j] && !tr.knows[j] && !w.lost(&mut rng) {
                            q.push(t + w.transit(&mut rng), BEv::Learn(j as u32, tr.epoch[j]));
                        }
                    }
                }
            }
            BEv::Learn(ju, epoch) => {
                let j = ju as usize;
                if tr.alive[j] && tr.epoch[j] == epoch {
                    tr.learn(j, t);
                }
            }
        }
    }
    tr.advance(w.end);
    tr.max_per_sec = busiest.round() as u32;
    // Age of i's entry about j: the last broadcast of j that reached i
    // (each lost with probability `loss`) since i last came up; none if
    // that is more than 3 intervals ago.
    let mut sample = Vec::with_capacity(AGE_SAMPLES);
    let alive: Vec<usize> = (0..n).filter(|&i| tr.alive[i]).collect();
    for _ in 0..AGE_SAMPLES {
        let i = alive[rng.below(alive.len() as u64) as usize];
        let j = rng.below(n as u64) as usize;
        if i == j {
            continue;
        }
        for &s in sends[j].iter().rev() {
            if s < up_since[i] {
                break;
            }
            let arrive = s + w.transit(&mut rng);
            if arrive > w.end || w.lost(&mut rng) {
                continue;
            }
            // Like the central server, a receiver drops a node it has not
            // heard from for 3 intervals.
            if w.end - s > 3 * INTERVAL {
                break;
            }
            sample.push((w.end - s) as f64 / 1000.0);
            break;
        }
    }
    let traffic = Traffic {
        sent_msgs: sent_msgs as f64,
        sent_bytes: sent_bytes as f64,
        rx_bytes: rx_msgs * frame_bytes(1) as f64,
    };
    finish("broadcast", &tr, w, traffic, ages(sample), None)
}
