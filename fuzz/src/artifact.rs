//! Where the fuzzer keeps what it finds: the output directory
//! (`~/.cache/roam/fuzz` unless told otherwise), one file per failing
//! input (`<target>/crash-<hash>` or `<target>/hang-<hash>`), and the hex
//! form in which failing inputs are printed.
//!
//! Calls nothing in this crate.

use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

/// `~/.cache/roam/fuzz` (from `$HOME`; `./.cache/roam/fuzz` without it).
pub fn default_dir() -> PathBuf {
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    home.join(".cache").join("roam").join("fuzz")
}

/// A 64-bit FNV-1a hash of `data`, naming its file.
pub fn hash(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in data {
        h = (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Writes `data` to `dir/target/prefix-<hash>` and returns the path.
pub fn save(dir: &Path, target: &str, prefix: &str, data: &[u8]) -> io::Result<PathBuf> {
    let sub = dir.join(target);
    std::fs::create_dir_all(&sub)?;
    let path = sub.join(format!("{prefix}-{:016x}", hash(data)));
    std::fs::write(&path, data)?;
    Ok(path)
}

/// `data` as lowercase hex, 32 bytes a line with the offset in front; at
/// most `limit` bytes, then a line saying how many were left out.
pub fn hex(data: &[u8], limit: usize) -> String {
    let mut s = String::new();
    for (i, chunk) in data.chunks(32).enumerate() {
        if i * 32 >= limit {
            let _ = writeln!(s, "  ... {} more bytes (see the file)", data.len() - i * 32);
            break;
        }
        let _ = write!(s, "  {:06x}: ", i * 32);
        for b in chunk {
            let _ = write!(s, "{b:02x}");
        }
        s.push('\n');
    }
    if data.is_empty() {
        s.push_str("  (empty)\n");
    }
    s
}

/// `data` as one line of hex (for reports that want to paste it).
pub fn hex_line(data: &[u8]) -> String {
    let mut s = String::with_capacity(data.len() * 2);
    for b in data {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Parses [`hex_line`] output (whitespace ignored).
pub fn parse_hex(text: &str) -> Option<Vec<u8>> {
    let digits: Vec<u8> = text.bytes().filter(|c| !c.is_ascii_whitespace()).collect();
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    digits.chunks(2).map(|p| u8::from_str_radix(std::str::from_utf8(p).ok()?, 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_limits() {
        let d: Vec<u8> = (0..100).collect();
        assert_eq!(parse_hex(&hex_line(&d)), Some(d.clone()));
        let h = hex(&d, 64);
        assert!(h.contains("000020: "));
        assert!(h.contains("36 more bytes"));
        assert_eq!(parse_hex("0g"), None);
        assert_ne!(hash(b"a"), hash(b"b"));
    }
}
