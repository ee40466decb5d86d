//! Program text and read-only data travel as file offers: a destination
//! with an identical copy of the binary maps those areas from it (its own
//! `/proc/PID/maps` names the file) and the move sends only what it
//! lacks; a destination whose copy differs gets the pages, and the
//! process runs the home node's code either way.
//!
//! Calls only [`super::ctx`].

use super::ctx::{Ctx, W};
use anyhow::Result;
use serde_json::Value;
use std::time::Duration;

/// Node 1's count of pages that destinations mapped from their files.
fn from_files(c: &mut Ctx) -> Option<u64> {
    c.sh(1, "sed -n 's/^pages_from_files //p' /sys/kernel/roam/migrations").ok()?.text.trim().parse().ok()
}

/// The executable area of `path` in `node`'s `/proc/PID/maps` of `pid`:
/// (its length in bytes, whether the line names the file).
fn text_area(c: &mut Ctx, node: u32, pid: u32, path: &str) -> Option<(u64, bool)> {
    let maps = c.sh(node, &format!("cat /proc/{pid}/maps")).ok()?.text;
    // The text is the executable area right after the file's first one.
    let lines: Vec<&str> = maps.lines().collect();
    let first = lines.iter().position(|l| l.ends_with(path))?;
    let l = lines.iter().skip(first + 1).find(|l| l.split_whitespace().nth(1).is_some_and(|p| p.contains('x')))?;
    let (a, b) = l.split_whitespace().next()?.split_once('-')?;
    let len = u64::from_str_radix(b, 16).ok()? - u64::from_str_radix(a, 16).ok()?;
    Some((len, l.ends_with(path)))
}

/// `roamctl --json migrate PID DEST` on node 1: (bytes sent, remote pid,
/// what it printed).
fn migrate_json(c: &mut Ctx, pid: u32, dest: u32) -> (Option<u64>, Option<u32>, String) {
    let text = c.sh(1, &format!("roamctl --json migrate {pid} {dest}")).map(|o| o.text).unwrap_or_default();
    let v: Value = serde_json::from_str(text.trim()).unwrap_or(Value::Null);
    (v.get("bytes").and_then(Value::as_u64), v.get("remote_pid").and_then(Value::as_u64).map(|p| p as u32), text)
}

pub(super) fn run(c: &mut Ctx) -> Result<()> {
    let long = Duration::from_secs(if c.debug { 600 } else { 240 });
    for node in [1, 2] {
        let _ = c.sh(node, &format!("cp {W} /tmp/mw-same; cp {W} /tmp/mw-differs"));
    }
    // Node 2's copy of one of them differs inside its text (8 bytes at
    // 384 KiB), same size.
    let _ = c.sh(2, "printf 'roamroam' | dd of=/tmp/mw-differs bs=1 seek=393216 conv=notrunc 2>/dev/null");
    let copies = c.sh(2, "cmp /tmp/mw-same /tmp/mw-differs; wc -c < /tmp/mw-same; wc -c < /tmp/mw-differs").map(|o| o.text).unwrap_or_default();

    for (name, prog, same) in [("mwsame", "/tmp/mw-same", true), ("mwdiffers", "/tmp/mw-differs", false)] {
        let pid = c.start(1, name, &format!("{prog} spin 3"))?;
        let ppid = c.sh(1, &format!("cut -d' ' -f4 /proc/{pid}/stat"))?.text.trim().to_string();
        let home_text = text_area(c, 1, pid, prog);
        let f0 = from_files(c);
        let (bytes, rpid, text) = migrate_json(c, pid, 2);
        let f1 = from_files(c);
        let remote_text = match rpid {
            Some(p) => text_area(c, 2, p, prog),
            None => None,
        };
        let remote_maps = match rpid {
            Some(p) => c.sh(2, &format!("cat /proc/{p}/maps")).map(|o| o.text).unwrap_or_default(),
            None => String::new(),
        };
        let st = c.status(1, name, long);
        let out = c.output(1, name);
        let ran = st == Some(7) && out.trim() == format!("pid {pid} ppid {ppid} done");
        let text_len = home_text.map(|t| t.0).unwrap_or(0);
        let taken = f1.zip(f0).map(|(a, b)| a.saturating_sub(b));
        let ok = if same {
            // Text mapped from node 2's file (named in its maps), counted,
            // and far fewer bytes sent than the text alone.
            text_len >= 256 << 10
                && remote_text == Some((text_len, true))
                && taken.is_some_and(|t| t >= text_len / 4096)
                && bytes.is_some_and(|b| b < text_len / 2)
        } else {
            // Text received (no file name on node 2), every page of it sent.
            text_len >= 256 << 10
                && remote_text == Some((text_len, false))
                && taken.is_some_and(|t| t < text_len / 4096)
                && bytes.is_some_and(|b| b >= text_len / 2)
        };
        let what = if same {
            "file areas: the text of a binary node 2 has an identical copy of is mapped there from that file, not sent"
        } else {
            "file areas: a binary whose copy on node 2 differs in its text has its text pages sent, and runs home's code"
        };
        c.check(
            format!("{what} (the process ends with home's pid, ppid and status 7)"),
            ok && ran,
            format!(
                "{text}home text {home_text:?}; on node 2: {remote_text:?}; pages mapped from files +{taken:?}; bytes sent {bytes:?}; status {st:?}, output {out:?}\nnode 2's copies: {copies}\nnode 2 maps:\n{remote_maps}"
            ),
        );
    }
    Ok(())
}
