//! The module is loaded and shows the interfaces it promises: its
//! /proc/modules entry, the sysfs directory with exactly its attributes
//! and their modes, and the /dev/roam character device.

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};

use roam_proto::abi::ROAM_VERSION;
use roam_tests::guest::{self, DEV_PATH, MODULE_NAME, SYSFS_DIR};
use roam_tests::ktap::Ktap;

/// Every file in /sys/kernel/roam and its permission bits (sorted by name).
const ATTRS: &[(&str, u32)] = &[
    ("accept", 0o644),
    ("accept_root", 0o644),
    ("adopt_pool", 0o644),
    ("away", 0o444),
    ("balance", 0o644),
    ("balancer", 0o444),
    ("bring", 0o200),
    ("decay", 0o644),
    ("down_after_ms", 0o644),
    ("events", 0o444),
    ("expel", 0o200),
    ("fail_arrivals", 0o644),
    ("failpoint", 0o644),
    ("guests", 0o444),
    ("interval_ms", 0o644),
    ("key", 0o200),
    ("listen", 0o644),
    ("load", 0o444),
    ("locked", 0o444),
    ("lstay", 0o644),
    ("max_guests", 0o644),
    ("mem_low_mb", 0o644),
    ("migrations", 0o444),
    ("min_age_ms", 0o644),
    ("min_residency_ms", 0o644),
    ("node_id", 0o644),
    ("nodes", 0o444),
    ("peers", 0o644),
    ("quiet", 0o644),
    ("speed", 0o644),
    ("stability_margin", 0o644),
    ("state", 0o444),
    ("stats", 0o444),
    ("stay", 0o644),
    ("vector_size", 0o644),
    ("version", 0o444),
];

/// Looks up `name` in a /proc/devices or /proc/misc style listing
/// ("NUMBER NAME" lines) and returns the number.
fn number_of(listing: &str, name: &str) -> Option<u32> {
    listing.lines().find_map(|l| {
        let mut w = l.split_whitespace();
        let num = w.next()?.parse().ok()?;
        (w.next()? == name && w.next().is_none()).then_some(num)
    })
}

/// Linux's dev_t encoding (glibc's gnu_dev_major/minor).
fn major_minor(rdev: u64) -> (u32, u32) {
    let major = ((rdev >> 8) & 0xfff) | ((rdev >> 32) & !0xfff);
    let minor = (rdev & 0xff) | ((rdev >> 12) & !0xff);
    (major as u32, minor as u32)
}

fn main() {
    let mut t = Ktap::plan(7);

    let entry = guest::module_entry(MODULE_NAME);
    t.check(
        entry.as_ref().is_some_and(|e| e.state == "Live"),
        "roam is listed in /proc/modules as Live",
        &format!(
            "entry: {entry:?}\n/proc/modules:\n{}",
            fs::read_to_string("/proc/modules").unwrap_or_else(|e| e.to_string())
        ),
    );

    let meta = fs::metadata(SYSFS_DIR);
    t.check(
        meta.as_ref().is_ok_and(|m| m.is_dir()),
        "/sys/kernel/roam is a directory",
        &format!("metadata: {meta:?}"),
    );

    let mut names: Vec<String> = match fs::read_dir(SYSFS_DIR) {
        Ok(rd) => rd
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(e) => vec![format!("<read_dir failed: {e}>")],
    };
    names.sort();
    let want_names: Vec<&str> = ATTRS.iter().map(|(n, _)| *n).collect();
    t.check(
        names == want_names,
        "/sys/kernel/roam holds exactly the documented files",
        &format!("found: {names:?}"),
    );

    let modes: Vec<(String, Option<u32>)> = ATTRS
        .iter()
        .map(|(a, _)| {
            let mode = fs::metadata(guest::sysfs_path(a))
                .ok()
                .map(|m| m.permissions().mode() & 0o7777);
            (a.to_string(), mode)
        })
        .collect();
    let want = ATTRS.iter().map(|(_, m)| Some(*m));
    t.check(
        modes.iter().map(|(_, m)| *m).eq(want),
        "sysfs modes are as documented (config 0644/0200, views 0444)",
        &format!(
            "found: {}",
            modes
                .iter()
                .map(|(a, m)| format!("{a}={}", m.map_or("?".into(), |m| format!("{m:04o}"))))
                .collect::<Vec<_>>()
                .join(" ")
        ),
    );

    let dev = fs::metadata(DEV_PATH);
    match &dev {
        Ok(m) if m.file_type().is_char_device() => {
            let mode = m.permissions().mode() & 0o7777;
            t.check(
                mode == 0o666,
                "/dev/roam is a character device with mode 0666",
                &format!("mode {mode:04o}"),
            );
        }
        other => t.not_ok(
            "/dev/roam is a character device with mode 0666",
            &format!("metadata: {other:?}"),
        ),
    }

    // The node must point at roam's driver, not at something that merely
    // has the name: compare its numbers with what the kernel registered.
    match &dev {
        Ok(m) => {
            let (major, minor) = major_minor(m.rdev());
            let devices = fs::read_to_string("/proc/devices").unwrap_or_default();
            let misc = fs::read_to_string("/proc/misc").unwrap_or_default();
            let as_chrdev = devices
                .split("Block devices:")
                .next()
                .and_then(|chr| number_of(chr, MODULE_NAME))
                .is_some_and(|maj| maj == major);
            let misc_major = number_of(&devices, "misc");
            let as_misc = misc_major == Some(major) && number_of(&misc, MODULE_NAME) == Some(minor);
            t.check(
                as_chrdev || as_misc,
                "/dev/roam's device number belongs to roam",
                &format!(
                    "/dev/roam is {major}:{minor}\n/proc/devices:\n{devices}/proc/misc:\n{misc}"
                ),
            );
        }
        Err(e) => t.not_ok(
            "/dev/roam's device number belongs to roam",
            &format!("no /dev/roam: {e}"),
        ),
    }

    let version = guest::read_sysfs("version");
    let want = format!("{ROAM_VERSION}\n");
    t.check(
        version.as_ref().is_ok_and(|v| *v == want),
        "version attribute is ROAM_VERSION",
        &format!("read {version:?}, want {want:?}"),
    );

    t.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_numbers() {
        // makedev(10, 125) and makedev(511, 300) as glibc encodes them.
        assert_eq!(major_minor((10 << 8) | 125), (10, 125));
        let rdev = ((511u64 & 0xfff) << 8) | ((300u64 & 0xff) | ((300u64 & !0xff) << 12));
        assert_eq!(major_minor(rdev), (511, 300));
    }

    #[test]
    fn listings() {
        let devices = "Character devices:\n  1 mem\n 10 misc\n240 roam\n\nBlock devices:\n  8 sd\n";
        assert_eq!(number_of(devices, "misc"), Some(10));
        assert_eq!(number_of(devices, "roam"), Some(240));
        assert_eq!(number_of(devices, "ro"), None);
        assert_eq!(number_of(" 57 roam\n", "roam"), Some(57));
    }
}
