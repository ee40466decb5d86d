//! The module's largest stack frames, read from its disassembly.
//!
//! A kernel thread has 16 KiB of stack (32 KiB under KASAN), and Rust
//! keeps large values on it unless they are boxed: one header grown by
//! 512 bytes once pushed the receive thread past its guard page. `cargo
//! xtask build` therefore measures every function's frame in roam.ko (the
//! `sub $N,%rsp` of its prologue; the largest if it has several) and fails
//! when one exceeds a bound, naming it.

use anyhow::{bail, Context as _, Result};
use std::path::Path;
use std::process::Command;

/// The largest frame a function of roam.ko may have: a quarter of a
/// 16 KiB kernel stack, which leaves room for the chain of callers on the
/// receive path (the receiver thread, `on_frame`, `on_migrate`, `begin`)
/// and for the network stack below a send. The debug kernel's stacks are
/// twice as large (KASAN), and its frames measured the same (2026-12-07:
/// largest 3944 bytes against 3880), so one bound serves both.
pub const LIMIT: u64 = 4096;

/// Every function's largest `sub $N,%rsp` in an `objdump -d` listing, the
/// largest first.
pub fn frames(listing: &str) -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = Vec::new();
    let mut func = String::new();
    for line in listing.lines() {
        // "0000000000001234 <name>:" opens a function.
        if let Some(rest) = line.strip_suffix(">:") {
            if let Some((_, name)) = rest.split_once(" <") {
                func = name.to_string();
            }
            continue;
        }
        let Some(at) = line.find("sub    $0x") else { continue };
        let rest = &line[at + "sub    $0x".len()..];
        let Some((hex, reg)) = rest.split_once(',') else { continue };
        if reg.trim() != "%rsp" {
            continue;
        }
        let Ok(n) = u64::from_str_radix(hex, 16) else { continue };
        match out.iter_mut().find(|(f, _)| *f == func) {
            Some((_, m)) => *m = (*m).max(n),
            None => out.push((func.clone(), n)),
        }
    }
    out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out
}

/// Shortens a Rust symbol for a message: the demangled path without its
/// hash, or the symbol as it is.
fn short(name: &str) -> String {
    let s = name.rsplit_once("::h").filter(|(_, h)| h.len() == 16).map_or(name, |(p, _)| p);
    s.chars().take(140).collect()
}

/// Measures roam.ko's frames; fails if one is above `limit`. Returns the
/// three largest, for the build's output.
pub fn check(ko: &Path, limit: u64) -> Result<Vec<(String, u64)>> {
    let out = Command::new("objdump")
        .args(["-d", "-C", "--no-show-raw-insn"])
        .arg(ko)
        .output()
        .with_context(|| format!("running objdump on {}", ko.display()))?;
    if !out.status.success() {
        bail!("objdump -d {} failed: {}", ko.display(), String::from_utf8_lossy(&out.stderr).trim());
    }
    let all = frames(&String::from_utf8_lossy(&out.stdout));
    if all.is_empty() {
        bail!("objdump of {} shows no stack frame at all; the check cannot judge it", ko.display());
    }
    let over: Vec<String> = all.iter().filter(|(_, n)| *n > limit).map(|(f, n)| format!("{n} bytes: {}", short(f))).collect();
    if !over.is_empty() {
        bail!(
            "roam.ko has stack frames above {limit} bytes (box the large values, or split the function):\n    {}",
            over.join("\n    ")
        );
    }
    Ok(all.into_iter().take(3).map(|(f, n)| (short(&f), n)).collect())
}

#[cfg(test)]
mod tests {
    use super::frames;

    #[test]
    fn the_largest_sub_of_each_function() {
        let listing = "\
0000000000000010 <a>:
  10:	push   %rbp
  11:	sub    $0x1a8,%rsp
  18:	sub    $0x2000,%rsp
0000000000000030 <roam::cluster::rx::on_frame::h0123456789abcdef>:
  30:	sub    $0x1320,%rsp
  37:	sub    $0x10,%rax
0000000000000050 <c>:
  50:	ret
";
        let f = frames(listing);
        assert_eq!(f, [("a".to_string(), 0x2000), ("roam::cluster::rx::on_frame::h0123456789abcdef".to_string(), 0x1320)]);
        assert_eq!(super::short(&f[1].0), "roam::cluster::rx::on_frame");
    }
}
