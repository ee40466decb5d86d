//! Host tests of the balancing decision (`roam_proto::policy`).

use proptest::prelude::*;
use roam_proto::loadvec::LoadEntry;
use roam_proto::policy::{accept, decide, Candidate, Decision, Reason, Refusal, Tunables};

fn node(id: u32, load: u32) -> LoadEntry {
    LoadEntry { node: id, load, speed: 1000, ncpus: 1, free_mem_mb: 4096, age_ms: 500, no_guests: false, no_root: false }
}

fn cand(pid: u32) -> Candidate {
    Candidate {
        pid,
        age_ms: 10_000,
        since_migration_ms: u32::MAX,
        cpu_share: 500,
        rss_mb: 10,
        eligible: true,
        comm_node: 0,
        bounces: 0,
        allowed: 0,
        privileged: false,
    }
}

fn t() -> Tunables {
    Tunables::default()
}

#[test]
fn defaults_are_valid_and_as_documented() {
    let d = t();
    assert_eq!(d.validate(), Ok(()));
    assert_eq!((d.stability_margin, d.min_age_ms, d.min_residency_ms), (300, 1000, 5000));
    assert_eq!((d.max_info_age_ms, d.mem_low_mb), (5000, 64));
    assert!(Tunables { max_info_age_ms: 0, ..d }.validate().is_err());
    assert!(Tunables { max_guests: 0, ..d }.validate().is_err());
    assert!(Tunables { stability_margin: 1_000_000, ..d }.validate().is_err());
}

#[test]
fn balanced_cluster_stays() {
    let me = node(1, 2000);
    let others = [node(2, 2000), node(3, 1900), node(4, 2100)];
    let cands = [cand(10), cand(11)];
    assert_eq!(decide(&me, &others, &cands, &t()), Decision::Stay);
    // Nobody else known, or no candidates: stay.
    assert_eq!(decide(&me, &[], &cands, &t()), Decision::Stay);
    assert_eq!(decide(&node(1, 9000), &[node(2, 0)], &[], &t()), Decision::Stay);
}

#[test]
fn overloaded_node_moves_to_lightest_fresh_node() {
    // Two CPU-bound processes on one CPU: load 2.0, each gets half a CPU.
    let me = node(1, 2000);
    let others = [node(2, 1000), node(3, 0), node(4, 0), node(5, 1500)];
    let d = decide(&me, &others, &[cand(10), cand(11)], &t());
    assert_eq!(d, Decision::Migrate { pid: 10, to: 3, reason: Reason::Load });
}

#[test]
fn margin_accounts_for_the_moved_load() {
    // 2.0 vs 1.0: after the move the target would be at 2.0 as well.
    let d = decide(&node(1, 2000), &[node(2, 1000)], &[cand(10), cand(11)], &t());
    assert_eq!(d, Decision::Stay);
    // A target with 4 CPUs gains only 0.25 per process.
    let big = LoadEntry { ncpus: 4, ..node(2, 1000) };
    let d = decide(&node(1, 2000), &[big], &[cand(10), cand(11)], &t());
    assert_eq!(d, Decision::Migrate { pid: 10, to: 2, reason: Reason::Load });
    // A mostly sleeping process (10 % of a CPU on an idle-ish node) adds
    // little, so it may move to a node that is only somewhat lighter...
    let sleepy = Candidate { cpu_share: 100, ..cand(10) };
    let d = decide(&node(1, 1000), &[node(2, 500)], &[sleepy], &t());
    assert_eq!(d, Decision::Migrate { pid: 10, to: 2, reason: Reason::Load });
    // ...but a process using no CPU gains nothing by moving, and one below
    // a tenth of a CPU is not worth the copy.
    let idle = Candidate { cpu_share: 0, ..cand(10) };
    assert_eq!(decide(&node(1, 5000), &[node(2, 0)], &[idle], &t()), Decision::Stay);
    let near_idle = Candidate { cpu_share: 99, ..cand(10) };
    assert_eq!(decide(&node(1, 1000), &[node(2, 0)], &[near_idle], &t()), Decision::Stay);
}

#[test]
fn load_after_a_move_adds_the_demand() {
    use roam_proto::policy::load_after_move;
    // Four CPU-bound jobs here: each needs a whole CPU; on an idle
    // one-CPU target it adds 1.0, on a four-CPU one 0.25.
    let c = Candidate { cpu_share: 250, ..cand(10) };
    assert_eq!(load_after_move(&node(1, 4000), &node(2, 300), &c), 1300);
    let big = LoadEntry { ncpus: 4, ..node(2, 300) };
    assert_eq!(load_after_move(&node(1, 4000), &big, &c), 550);
    assert_eq!(load_after_move(&node(1, 4000), &node(2, u32::MAX), &c), u32::MAX);
}

#[test]
fn allowed_nodes_bound_the_target() {
    let me = node(1, 3000);
    let others = [node(2, 0), node(3, 500), node(4, 100)];
    // Only nodes 3 and 4 allowed (bits 2 and 3): the lighter of them.
    let c = Candidate { allowed: 0b1100, ..cand(10) };
    assert_eq!(decide(&me, &others, &[c], &t()), Decision::Migrate { pid: 10, to: 4, reason: Reason::Load });
    // Only this node: nothing to do.
    let home_only = Candidate { allowed: 0b1, ..cand(10) };
    assert_eq!(decide(&me, &others, &[home_only], &t()), Decision::Stay);
    // An unrestricted candidate goes to the lightest node, before a
    // restricted one with a heavier target.
    let free = cand(11);
    assert_eq!(decide(&me, &others, &[c, free], &t()), Decision::Migrate { pid: 11, to: 2, reason: Reason::Load });
    // Memory ushering respects the mask too.
    let short = LoadEntry { free_mem_mb: 10, ..me };
    let roomy = [LoadEntry { free_mem_mb: 8000, ..node(2, 0) }, LoadEntry { free_mem_mb: 1000, ..node(3, 0) }];
    let only3 = Candidate { allowed: 0b100, rss_mb: 100, ..cand(12) };
    assert_eq!(decide(&short, &roomy, &[only3], &t()), Decision::Migrate { pid: 12, to: 3, reason: Reason::Memory });
    assert!(roam_proto::policy::allowed_on(0, 99));
    assert!(!roam_proto::policy::allowed_on(u64::MAX, 65));
    assert!(!roam_proto::policy::allowed_on(u64::MAX, 0));
}

#[test]
fn processes_that_keep_coming_home_wait_longer() {
    let me = node(1, 3000);
    let others = [node(2, 0)];
    // Residency 5 s; each bounce doubles it, up to 64x.
    let once = Candidate { bounces: 1, since_migration_ms: 9_999, ..cand(10) };
    assert_eq!(decide(&me, &others, &[once], &t()), Decision::Stay);
    let once_later = Candidate { since_migration_ms: 10_000, ..once };
    assert_eq!(decide(&me, &others, &[once_later], &t()), Decision::Migrate { pid: 10, to: 2, reason: Reason::Load });
    let many = Candidate { bounces: 40, since_migration_ms: 5000 * 64 - 1, ..cand(10) };
    assert_eq!(decide(&me, &others, &[many], &t()), Decision::Stay);
    let many_later = Candidate { since_migration_ms: 5000 * 64, ..many };
    assert_eq!(decide(&me, &others, &[many_later], &t()), Decision::Migrate { pid: 10, to: 2, reason: Reason::Load });
}

#[test]
fn nodes_that_take_no_guests_are_never_targets() {
    let me = node(1, 3000);
    let closed = LoadEntry { no_guests: true, ..node(2, 0) };
    let cands = [cand(10), cand(11), cand(12)];
    assert_eq!(decide(&me, &[closed], &cands, &t()), Decision::Stay);
    // The heavier node that takes guests wins over the idle one that takes none.
    assert_eq!(decide(&me, &[closed, node(3, 1000)], &cands, &t()), Decision::Migrate { pid: 10, to: 3, reason: Reason::Load });
    // Memory ushering skips it too, however much memory it has free.
    let short = LoadEntry { free_mem_mb: 10, ..node(1, 0) };
    let big = Candidate { rss_mb: 100, ..cand(20) };
    assert_eq!(decide(&short, &[LoadEntry { free_mem_mb: 100_000, ..closed }], &[big], &t()), Decision::Stay);
    // Open again: both moves go to it.
    let open = LoadEntry { no_guests: false, ..closed };
    assert_eq!(decide(&me, &[open], &cands, &t()), Decision::Migrate { pid: 10, to: 2, reason: Reason::Load });
    assert_eq!(
        decide(&short, &[LoadEntry { free_mem_mb: 100_000, ..open }], &[big], &t()),
        Decision::Migrate { pid: 20, to: 2, reason: Reason::Memory }
    );
}

#[test]
fn privileged_processes_skip_nodes_that_take_none() {
    let me = node(1, 3000);
    let no_root = LoadEntry { no_root: true, ..node(2, 0) };
    let root = Candidate { privileged: true, ..cand(10) };
    // A user's process still goes there; root's does not ...
    assert_eq!(decide(&me, &[no_root], &[cand(11)], &t()), Decision::Migrate { pid: 11, to: 2, reason: Reason::Load });
    assert_eq!(decide(&me, &[no_root], &[root], &t()), Decision::Stay);
    // ... and goes to a heavier node that takes it instead.
    assert_eq!(decide(&me, &[no_root, node(3, 1000)], &[root], &t()), Decision::Migrate { pid: 10, to: 3, reason: Reason::Load });
    // Ushering for memory skips it as well.
    let short = LoadEntry { free_mem_mb: 10, ..node(1, 0) };
    let big_root = Candidate { rss_mb: 100, ..root };
    assert_eq!(decide(&short, &[LoadEntry { free_mem_mb: 100_000, ..no_root }], &[big_root], &t()), Decision::Stay);
    assert!(root.fits(&node(2, 0)) && !root.fits(&no_root) && cand(11).fits(&no_root));
}

#[test]
fn stale_and_bogus_entries_are_ignored() {
    let me = node(1, 3000);
    let stale = LoadEntry { age_ms: 5001, ..node(2, 0) };
    let myself = node(1, 0);
    let zero = node(0, 0);
    let cands = [cand(10), cand(11), cand(12)];
    assert_eq!(decide(&me, &[stale, myself, zero], &cands, &t()), Decision::Stay);
    // At exactly max_info_age_ms the entry is still fresh.
    let edge = LoadEntry { age_ms: 5000, ..node(2, 0) };
    assert_eq!(
        decide(&me, &[stale, edge], &cands, &t()),
        Decision::Migrate { pid: 10, to: 2, reason: Reason::Load }
    );
    // The lighter but stale node loses to a heavier fresh one.
    let fresh = node(3, 500);
    let stale_idle = LoadEntry { age_ms: 60_000, ..node(2, 0) };
    assert_eq!(
        decide(&me, &[stale_idle, fresh], &cands, &t()),
        Decision::Migrate { pid: 10, to: 3, reason: Reason::Load }
    );
}

#[test]
fn young_processes_never_move() {
    let me = node(1, 4000);
    let others = [node(2, 0)];
    let young = [Candidate { age_ms: 999, ..cand(10) }, Candidate { age_ms: 0, ..cand(11) }];
    assert_eq!(decide(&me, &others, &young, &t()), Decision::Stay);
    let mixed = [young[0], Candidate { age_ms: 1000, ..cand(12) }];
    assert_eq!(decide(&me, &others, &mixed, &t()), Decision::Migrate { pid: 12, to: 2, reason: Reason::Load });
}

#[test]
fn residency_and_eligibility_are_respected() {
    let me = node(1, 4000);
    let others = [node(2, 0)];
    let recent = Candidate { since_migration_ms: 4999, ..cand(10) };
    let pinned = Candidate { eligible: false, ..cand(11) };
    assert_eq!(decide(&me, &others, &[recent, pinned], &t()), Decision::Stay);
    let settled = Candidate { since_migration_ms: 5000, ..cand(12) };
    assert_eq!(
        decide(&me, &others, &[recent, pinned, settled], &t()),
        Decision::Migrate { pid: 12, to: 2, reason: Reason::Load }
    );
}

#[test]
fn prefers_a_process_talking_to_the_target() {
    let me = node(1, 4000);
    let others = [node(2, 0), node(3, 1000)];
    let talks_to_3 = Candidate { comm_node: 3, rss_mb: 1, age_ms: 100_000, ..cand(10) };
    let talks_to_2 = Candidate { comm_node: 2, rss_mb: 500, ..cand(11) };
    let plain = Candidate { rss_mb: 1, age_ms: 100_000, ..cand(9) };
    let d = decide(&me, &others, &[talks_to_3, plain, talks_to_2], &t());
    assert_eq!(d, Decision::Migrate { pid: 11, to: 2, reason: Reason::Load });
}

#[test]
fn prefers_most_gain_per_megabyte() {
    let me = node(1, 4000);
    let others = [node(2, 0)];
    let heavy = Candidate { rss_mb: 1000, ..cand(10) };
    let light = Candidate { rss_mb: 20, ..cand(11) };
    let old_heavy = Candidate { rss_mb: 1000, age_ms: 2_000_000, ..cand(12) };
    assert_eq!(decide(&me, &others, &[heavy, light], &t()), Decision::Migrate { pid: 11, to: 2, reason: Reason::Load });
    // 200 times older, 50 times bigger: the old one wins (gain ∝ age).
    assert_eq!(
        decide(&me, &others, &[heavy, light, old_heavy], &t()),
        Decision::Migrate { pid: 12, to: 2, reason: Reason::Load }
    );
}

#[test]
fn ties_go_to_lowest_node_and_pid() {
    let me = node(1, 4000);
    let others = [node(7, 0), node(3, 0), node(5, 0)];
    let cands = [cand(30), cand(20), cand(25)];
    assert_eq!(decide(&me, &others, &cands, &t()), Decision::Migrate { pid: 20, to: 3, reason: Reason::Load });
}

#[test]
fn memory_ushering_moves_largest_process_to_roomiest_node() {
    let me = LoadEntry { free_mem_mb: 10, ..node(1, 1000) };
    let others = [
        LoadEntry { free_mem_mb: 2000, ..node(2, 0) },
        LoadEntry { free_mem_mb: 3000, ..node(3, 2000) },
        LoadEntry { free_mem_mb: 9000, age_ms: 10_000, ..node(4, 0) },
    ];
    let cands = [
        Candidate { rss_mb: 100, ..cand(10) },
        Candidate { rss_mb: 3000, ..cand(11) }, // does not fit (3000 + 64 >= 3000)
        Candidate { rss_mb: 900, ..cand(12) },
        Candidate { rss_mb: 2000, eligible: false, ..cand(13) },
    ];
    // Load alone would send the smallest process to idle node 2; memory
    // wins and sends the largest one that fits to node 3 despite its load
    // (node 4 is roomier but its entry is stale).
    assert_eq!(decide(&me, &others, &cands, &t()), Decision::Migrate { pid: 12, to: 3, reason: Reason::Memory });
    // Enough memory: plain load balancing.
    let rich = LoadEntry { free_mem_mb: 64, ..me };
    assert_eq!(decide(&rich, &others, &cands, &t()), Decision::Migrate { pid: 10, to: 2, reason: Reason::Load });
    // Nothing fits anywhere: fall back to load balancing.
    let busy = LoadEntry { free_mem_mb: 10, ..node(1, 4000) };
    let huge = [Candidate { rss_mb: 5000, ..cand(10) }];
    assert_eq!(decide(&busy, &others, &huge, &t()), Decision::Migrate { pid: 10, to: 2, reason: Reason::Load });
    // Too small to be worth it, or asleep for the whole interval (it could
    // not be handed its move): not ushered.
    // (An idle node, so that no load move happens instead.)
    let idle = LoadEntry { free_mem_mb: 10, ..node(1, 0) };
    let small = [Candidate { rss_mb: 15, cpu_share: 500, ..cand(10) }];
    let asleep = [Candidate { rss_mb: 900, cpu_share: 0, ..cand(10) }];
    assert_eq!(decide(&idle, &others, &small, &t()), Decision::Stay);
    assert_eq!(decide(&idle, &others, &asleep, &t()), Decision::Stay);
    let barely = [Candidate { rss_mb: 16, cpu_share: 1, ..cand(10) }];
    assert_eq!(decide(&idle, &others, &barely, &t()), Decision::Migrate { pid: 10, to: 3, reason: Reason::Memory });
}

#[test]
fn accept_refusals() {
    let me = node(2, 1000);
    let d = t();
    assert_eq!(accept(&me, 2000, 0, &d, false), Ok(()));
    assert_eq!(accept(&me, 2000, 0, &d, true), Err(Refusal::Blocked));
    assert_eq!(accept(&me, 2000, d.max_guests, &d, false), Err(Refusal::Full));
    assert_eq!(accept(&me, 2000, u32::MAX, &d, false), Err(Refusal::Full));
    assert_eq!(accept(&me, 1300, 0, &d, false), Err(Refusal::NotLighter));
    assert_eq!(accept(&me, 1301, 0, &d, false), Ok(()));
    assert_eq!(accept(&node(2, u32::MAX), u32::MAX, 0, &d, false), Err(Refusal::NotLighter));
}

#[test]
fn extreme_values_do_not_panic() {
    let max = LoadEntry { node: u32::MAX, load: u32::MAX, speed: u32::MAX, ncpus: u16::MAX, free_mem_mb: 0, age_ms: 0, no_guests: true, no_root: false };
    let zero = LoadEntry { node: 2, load: 0, speed: 0, ncpus: 0, free_mem_mb: u32::MAX, age_ms: 0, no_guests: false, no_root: false };
    let c = Candidate {
        pid: u32::MAX,
        age_ms: u32::MAX,
        since_migration_ms: u32::MAX,
        cpu_share: u32::MAX,
        rss_mb: u32::MAX,
        eligible: true,
        comm_node: 2,
        bounces: u32::MAX,
        allowed: u64::MAX,
        privileged: true,
    };
    let crazy = Tunables {
        stability_margin: u32::MAX,
        min_age_ms: 0,
        min_residency_ms: 0,
        max_info_age_ms: u32::MAX,
        mem_low_mb: u32::MAX,
        max_guests: u32::MAX,
    };
    for tun in [t(), crazy] {
        let _ = decide(&max, &[zero, max], &[c], &tun);
        let _ = decide(&zero, &[zero, max], &[c], &tun);
        let _ = accept(&max, u32::MAX, u32::MAX, &tun, false);
    }
}

fn entry() -> impl Strategy<Value = LoadEntry> {
    (0u32..8, 0u32..6000, 0u32..3000, 0u16..8, 0u32..5000, 0u32..10_000).prop_map(
        |(node, load, speed, ncpus, free_mem_mb, age_ms)| LoadEntry { node, load, speed, ncpus, free_mem_mb, age_ms, no_guests: node % 7 == 0, no_root: node % 5 == 0 },
    )
}

fn candidate() -> impl Strategy<Value = Candidate> {
    (
        (0u32..20, 0u32..4000, prop_oneof![0u32..10_000, Just(u32::MAX)], 0u32..1500, 0u32..4000, any::<bool>(), 0u32..8),
        (0u32..10, prop_oneof![Just(0u64), 0u64..256], any::<bool>()),
    )
        .prop_map(|((pid, age_ms, since_migration_ms, cpu_share, rss_mb, eligible, comm_node), (bounces, allowed, privileged))| {
            Candidate { pid, age_ms, since_migration_ms, cpu_share, rss_mb, eligible, comm_node, bounces, allowed, privileged }
        })
}

fn tunables() -> impl Strategy<Value = Tunables> {
    (0u32..1000, 0u32..3000, 0u32..8000, 0u32..8000, 0u32..200, 0u32..8).prop_map(
        |(stability_margin, min_age_ms, min_residency_ms, max_info_age_ms, mem_low_mb, max_guests)| Tunables {
            stability_margin,
            min_age_ms,
            min_residency_ms,
            max_info_age_ms,
            mem_low_mb,
            max_guests,
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn decide_only_picks_movable_candidates_and_fresh_other_nodes(
        me in entry(),
        others in proptest::collection::vec(entry(), 0..10),
        cands in proptest::collection::vec(candidate(), 0..10),
        tun in tunables(),
    ) {
        let d = decide(&me, &others, &cands, &tun);
        // Deterministic.
        prop_assert_eq!(d, decide(&me, &others, &cands, &tun));
        if let Decision::Migrate { pid, to, reason } = d {
            prop_assert!(to != me.node && to != 0);
            prop_assert!(others.iter().any(|e| e.node == to && e.age_ms <= tun.max_info_age_ms));
            // Some candidate with that pid qualifies (pids may repeat in
            // the generated input).
            prop_assert!(cands.iter().any(|c| c.pid == pid
                && c.eligible
                && c.age_ms >= tun.min_age_ms
                && c.since_migration_ms >= c.residency_needed(&tun)
                && c.allows(to)
                && others.iter().any(|e| e.node == to && c.fits(e))));
            match reason {
                Reason::Memory => prop_assert!(me.free_mem_mb < tun.mem_low_mb),
                Reason::Load => {
                    let target = others
                        .iter()
                        .filter(|e| e.node == to && e.age_ms <= tun.max_info_age_ms)
                        .map(|e| e.load)
                        .min()
                        .unwrap_or(u32::MAX);
                    prop_assert!(u64::from(me.load) > u64::from(target) + u64::from(tun.stability_margin));
                }
            }
        }
    }

    #[test]
    fn decide_stays_when_no_candidate_qualifies(
        me in entry(),
        others in proptest::collection::vec(entry(), 0..10),
        cands in proptest::collection::vec(candidate(), 0..10),
        tun in tunables(),
    ) {
        let unmovable: Vec<Candidate> = cands
            .iter()
            .map(|c| Candidate { age_ms: tun.min_age_ms.saturating_sub(1), ..*c })
            .filter(|_| tun.min_age_ms > 0)
            .collect();
        prop_assert_eq!(decide(&me, &others, &unmovable, &tun), Decision::Stay);
        let stale: Vec<LoadEntry> =
            others.iter().map(|e| LoadEntry { age_ms: tun.max_info_age_ms.saturating_add(1), ..*e }).collect();
        if tun.max_info_age_ms < u32::MAX {
            prop_assert_eq!(decide(&me, &stale, &cands, &tun), Decision::Stay);
        }
    }

    #[test]
    fn accept_agrees_with_its_rules(
        me in entry(),
        sender in 0u32..10_000,
        guests in 0u32..10,
        tun in tunables(),
        blocked in any::<bool>(),
    ) {
        let r = accept(&me, sender, guests, &tun, blocked);
        let want = if blocked {
            Err(Refusal::Blocked)
        } else if guests >= tun.max_guests {
            Err(Refusal::Full)
        } else if u64::from(sender) <= u64::from(me.load) + u64::from(tun.stability_margin) {
            Err(Refusal::NotLighter)
        } else {
            Ok(())
        };
        prop_assert_eq!(r, want);
    }
}
