//! Scenarios of the node controls on a balancing cluster: `stay`,
//! `lstay`, `expel`, `bring`, `drain` (roamctl node drain) and `quiet`.
//! They run between [`super::balancing::spread`] and
//! [`super::balancing::limits`], on the jobs the first started.
//!
//! Calls only [`super::ctx`].

use super::ctx::{count, Ctx, W};
use anyhow::Result;
use std::time::Duration;

/// The controls, on node 1's four jobs `pids` (as [`super::balancing::spread`]
/// left them); returns the two extra jobs it started on node 1.
pub(super) fn run(c: &mut Ctx, pids: &[u32]) -> Result<Vec<u32>> {
    // stay: nothing leaves node 1 automatically, whatever the imbalance.
    let _ = c.set(2, "balance", "0");
    let _ = c.set(1, "stay", "1");
    let extra: Vec<u32> = (5..=6).filter_map(|j| c.start(1, &format!("job{j}"), &format!("{W} spin 400")).ok()).collect();
    let before = c.balancer_done(1);
    std::thread::sleep(Duration::from_secs(10));
    let after = c.balancer_done(1);
    let places = c.places(&extra);
    c.check(
        "balance: stay keeps node 1's processes home".into(),
        extra.len() == 2 && after == before && count(&places, "home") == 2,
        format!("migrations done {before} -> {after}; {places:?}"),
    );
    // lstay: node 1's own processes stay home too. Set before `stay` is
    // cleared, so that no balancing step falls between the two.
    let _ = c.set(1, "lstay", "1");
    let _ = c.set(1, "stay", "0");
    let before = c.balancer_done(1);
    std::thread::sleep(Duration::from_secs(10));
    let after = c.balancer_done(1);
    let places = c.places(&extra);
    c.check(
        "balance: lstay keeps node 1's own processes home".into(),
        extra.len() == 2 && after == before && count(&places, "home") == 2,
        format!("migrations done {before} -> {after}; {places:?}"),
    );
    // Positive control: the same setup with both cleared moves one.
    let _ = c.set(1, "lstay", "0");
    let before = c.balancer_done(1);
    let moved = c.wait(Duration::from_secs(60), |c| c.balancer_done(1) > before);
    let after = c.balancer_done(1);
    c.check(
        "balance: with stay and lstay cleared, the same setup moves a process (positive control)".into(),
        moved.is_some(),
        format!("migrations done by node 1's balancer: {before} -> {after}"),
    );
    let _ = c.set(1, "balance", "0");

    // expel: node 2 sends its guests away (home) and returns when done.
    // The kernel waits up to a minute for them (four moves home on the
    // debug kernel can outlast an ordinary command's limit).
    let t0 = std::time::Instant::now();
    let o = c.sh_long(2, "echo 1 > /sys/kernel/roam/expel", Duration::from_secs(90));
    let took = t0.elapsed();
    let g = c.guests(2);
    let now = c.places(pids);
    let wrote = o.as_ref().map(|o| format!("rc {} {:?}", o.rc, o.text.trim())).unwrap_or_else(|e| e.to_string());
    // What node 2 recorded of its moves (a failed move names its reason).
    let events = c.sh(2, "tail -n 8 /sys/kernel/roam/events").map(|o| o.text).unwrap_or_default();
    c.check(
        "expel: node 2's guests go home and the write returns when they are gone".into(),
        o.map(|o| o.rc == 0).unwrap_or(false) && g.trim().is_empty() && count(&now, "home") == 4,
        format!("the write: {wrote} after {:.1} s; guests {g:?}; {now:?}; node 2's last events:\n{events}", took.as_secs_f64()),
    );

    // bring: node 1 brings its processes home.
    let m2 = c.migrate(1, pids[1], "2");
    let m3 = c.migrate(1, pids[2], "3");
    let _ = c.set(3, "accept", "1");
    let m3 = if m3.rc != 0 { c.migrate(1, pids[2], "3") } else { m3 };
    let o = c.sh(1, "echo 1 > /sys/kernel/roam/bring");
    let away = c.sh(1, "cat /sys/kernel/roam/away").map(|o| o.text).unwrap_or_default();
    let now = c.places(pids);
    c.check(
        "bring: node 1's processes on nodes 2 and 3 come home and the write returns when they are back".into(),
        m2.rc == 0 && m3.rc == 0 && o.map(|o| o.rc == 0).unwrap_or(false) && away.trim().is_empty() && count(&now, "home") == 4,
        format!("{}{}away {away:?}; {now:?}", m2.text, m3.text),
    );

    // drain (roamctl node drain) on node 2: no guests, none taken.
    let m = c.migrate(1, pids[1], "2");
    let o = c.sh(2, "roamctl node drain");
    let g = c.guests(2);
    let acc = c.sh(2, "cat /sys/kernel/roam/accept").map(|o| o.text.trim().to_string()).unwrap_or_default();
    let refused = c.migrate(1, pids[1], "2");
    c.check(
        "drain: node 2 sends its guests home and takes no new ones".into(),
        m.rc == 0 && o.as_ref().map(|o| o.rc == 0).unwrap_or(false) && g.trim().is_empty() && acc == "0" && refused.rc != 0,
        format!("{}{}guests {g:?}, accept {acc}, then: {}", m.text, o.map(|o| o.text).unwrap_or_default(), refused.text),
    );
    let _ = c.sh(2, "roamctl node block off");

    // quiet: node 2 stops pushing its load.
    let _ = c.set(2, "quiet", "1");
    std::thread::sleep(Duration::from_secs(2));
    let p0 = c.stats(2).get("load_pushes_sent").copied().unwrap_or(0);
    std::thread::sleep(Duration::from_secs(5));
    let p1 = c.stats(2).get("load_pushes_sent").copied().unwrap_or(0);
    let _ = c.set(2, "quiet", "0");
    c.check("quiet: node 2 sends no load pushes while quiet".into(), p1 == p0, format!("{p0} -> {p1}"));
    // Positive control: cleared, it pushes again.
    let again = c.wait(Duration::from_secs(15), |c| c.stats(2).get("load_pushes_sent").copied().unwrap_or(0) > p1);
    c.check("quiet: node 2 pushes its load again once quiet is cleared (positive control)".into(), again.is_some(), format!("from {p1}"));
    Ok(extra)
}
