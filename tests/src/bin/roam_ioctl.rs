//! /dev/roam's ioctl interface: ROAM_IOC_STATUS reports what sysfs shows,
//! to any user, writes the whole structure (no stale bytes), and every
//! other command number or a bad pointer is refused without touching the
//! caller's memory. Every other command with a bad pointer is `EFAULT`;
//! `MIGRATE` of a pid that does not exist is `ESRCH`, to this node itself
//! `EALREADY` (reason "already there"); `ALLOW` with a `set` other than 0
//! or 1 is `EINVAL`.

use std::os::unix::io::AsRawFd;

use libc::{EALREADY, EFAULT, EINVAL, ENOTTY, ESRCH};
use roam_proto::abi::{
    ioc, refusal, Allow, Migrate, NodeState, Status, IOC_NONE, IOC_READ, IOC_WRITE, NODE_ID_MAX, NODE_ID_MIN,
    ROAM_ABI_VERSION, ROAM_IOC_ADOPT, ROAM_IOC_ADOPT_CLOCKS, ROAM_IOC_ADOPT_USER, ROAM_IOC_ALLOW, ROAM_IOC_LOCK, ROAM_IOC_MAGIC, ROAM_IOC_MIGRATE,
    ROAM_IOC_PING, ROAM_IOC_STATUS, ROAM_IOC_UNLOCK, ROAM_IOC_WHERE, ROAM_IOC_WHY, ROAM_VERSION,
};
use roam_tests::guest::{self, errno_is, errno_name, IoctlArg, NOBODY};
use roam_tests::ktap::{self, Ktap};

/// The byte the buffers are filled with, to see what the kernel wrote.
const FILL: u8 = 0xa5;

fn word(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Command numbers the driver must not answer.
fn foreign_commands() -> Vec<(String, u32)> {
    let size = Status::SIZE;
    vec![
        (
            "'r' nr 0xff (read)".into(),
            ioc(IOC_READ, ROAM_IOC_MAGIC, 0xff, size),
        ),
        (
            "type 'x' nr 0x80 (read)".into(),
            ioc(IOC_READ, b'x', 0x80, size),
        ),
        (
            format!("STATUS with size {}", size - 1),
            ioc(IOC_READ, ROAM_IOC_MAGIC, 0x80, size - 1),
        ),
        (
            format!("STATUS with size {}", size + 16),
            ioc(IOC_READ, ROAM_IOC_MAGIC, 0x80, size + 16),
        ),
        (
            "STATUS with write direction".into(),
            ioc(IOC_WRITE, ROAM_IOC_MAGIC, 0x80, size),
        ),
        (
            "STATUS with no direction and size 0".into(),
            ioc(IOC_NONE, ROAM_IOC_MAGIC, 0x80, 0),
        ),
    ]
}

/// STATUS on a fresh descriptor; decoded, or why not.
fn status_now() -> Result<Status, String> {
    guest::query_status()
}

fn main() {
    let foreign = foreign_commands();
    let others = [
        ("PING", ROAM_IOC_PING),
        ("WHY", ROAM_IOC_WHY),
        ("LOCK", ROAM_IOC_LOCK),
        ("UNLOCK", ROAM_IOC_UNLOCK),
        ("ALLOW", ROAM_IOC_ALLOW),
        ("MIGRATE", ROAM_IOC_MIGRATE),
        ("WHERE", ROAM_IOC_WHERE),
        ("ADOPT", ROAM_IOC_ADOPT),
        ("ADOPT_CLOCKS", ROAM_IOC_ADOPT_CLOCKS),
        ("ADOPT_USER", ROAM_IOC_ADOPT_USER),
    ];
    let mut t = Ktap::plan(7 + foreign.len() + 2 + 2 + others.len() + 3);

    let sysfs_id = guest::sysfs_node_id();
    let dev = guest::open_dev();
    let mut raw = [FILL; 256];
    let res = match &dev {
        Ok(f) => guest::ioctl(f.as_raw_fd(), ROAM_IOC_STATUS, IoctlArg::Buf(&mut raw)),
        Err(e) => Err(std::io::Error::new(
            e.kind(),
            format!("open {}: {e}", guest::DEV_PATH),
        )),
    };
    let st = &raw[..Status::SIZE];
    match &res {
        Ok(0) => t.ok("STATUS succeeds"),
        other => t.not_ok("STATUS succeeds", &format!("{other:?}")),
    }
    let answered = res.is_ok();
    let abi = word(st, 0);
    t.check(
        answered && abi == ROAM_ABI_VERSION,
        "STATUS abi_version is ROAM_ABI_VERSION",
        &format!("got {abi:#x}, want {ROAM_ABI_VERSION}"),
    );
    let id = word(st, 4);
    t.check(
        answered && sysfs_id.as_ref().is_ok_and(|&s| s == id),
        "STATUS node_id matches sysfs",
        &format!("STATUS {id}, sysfs {sysfs_id:?}"),
    );
    let state = word(st, 8);
    t.check(
        answered && NodeState::from_u32(state) == Some(NodeState::Up),
        "STATUS state is up",
        &format!("got {state}"),
    );
    let decoded = Status::from_bytes(st);
    let version = decoded.as_ref().map(|s| s.version_str().to_string());
    t.check(
        answered && version.as_deref() == Ok(ROAM_VERSION),
        "STATUS version is ROAM_VERSION",
        &format!("got {version:?}, want {ROAM_VERSION:?}"),
    );
    // The reserved word and the padding after the version string must be
    // written as zeros: anything else is stale kernel memory (or the
    // buffer's fill, if the driver copied less than the structure), and
    // nothing past the structure may be touched.
    let vlen = ROAM_VERSION.len();
    let padding_zero = st[12..16].iter().chain(&st[16 + vlen..]).all(|&b| b == 0);
    let beyond_untouched = raw[Status::SIZE..].iter().all(|&b| b == FILL);
    t.check(
        answered && padding_zero && beyond_untouched,
        "STATUS writes the whole structure, reserved and padding zeroed, nothing beyond",
        &format!(
            "bytes: {:02x?}\nbeyond untouched: {beyond_untouched}",
            &raw[..Status::SIZE + 8]
        ),
    );

    let expect_id = id;
    let ok = guest::as_user(NOBODY, || match status_now() {
        Ok(s) if s.node_id == expect_id && NodeState::from_u32(s.state) == Some(NodeState::Up) => {
            true
        }
        other => {
            ktap::diag(&format!("uid {NOBODY}: {other:?}"));
            false
        }
    });
    t.check(ok, &format!("STATUS works for uid {NOBODY}"), "");

    for (label, cmd) in &foreign {
        let name = format!("{label} ({cmd:#010x}) gives ENOTTY");
        let Ok(f) = &dev else {
            t.not_ok(&name, "no /dev/roam");
            continue;
        };
        let mut buf = [FILL; 256];
        let r = guest::ioctl(f.as_raw_fd(), *cmd, IoctlArg::Buf(&mut buf));
        let untouched = buf.iter().all(|&b| b == FILL);
        t.check(
            r.as_ref().is_err_and(|e| errno_is(e, &[ENOTTY])) && untouched,
            &name,
            &format!(
                "result: {}; buffer untouched: {untouched}",
                guest::describe(&r)
            ),
        );
    }

    for (label, addr) in [
        ("0x10", 0x10usize),
        ("a kernel address", 0xffff_ffff_8100_0000),
    ] {
        let name = format!("STATUS with {label} as pointer gives EFAULT");
        let r = match &dev {
            Ok(f) => guest::ioctl(f.as_raw_fd(), ROAM_IOC_STATUS, IoctlArg::Unmapped(addr)),
            Err(e) => Err(std::io::Error::new(e.kind(), e.to_string())),
        };
        t.check(
            r.as_ref().is_err_and(|e| errno_is(e, &[EFAULT])),
            &name,
            &format!("result: {}", guest::describe(&r)),
        );
    }

    // Every other command reads its argument first: a bad pointer is
    // EFAULT (as root, so no permission check answers first).
    for (label, cmd) in others {
        let r = match &dev {
            Ok(f) => guest::ioctl(f.as_raw_fd(), cmd, IoctlArg::Unmapped(0x10)),
            Err(e) => Err(std::io::Error::new(e.kind(), e.to_string())),
        };
        t.check(r.as_ref().is_err_and(|e| errno_is(e, &[EFAULT])), &format!("{label} with 0x10 as pointer gives EFAULT"), &format!("result: {}", guest::describe(&r)));
    }
    let call = |cmd: u32, bytes: &[u8]| -> (std::io::Result<i32>, Vec<u8>) {
        let mut buf = [0u8; 64];
        buf[..bytes.len()].copy_from_slice(bytes);
        let r = match &dev {
            Ok(f) => guest::ioctl(f.as_raw_fd(), cmd, IoctlArg::Buf(&mut buf)),
            Err(e) => Err(std::io::Error::new(e.kind(), e.to_string())),
        };
        (r, buf.to_vec())
    };
    // No such process (pids stop at 2^22 by default; 2^30 is never one).
    let (r, _) = call(ROAM_IOC_MIGRATE, &Migrate { pid: 1 << 30, node: 2, ..Migrate::default() }.to_bytes());
    t.check(r.as_ref().is_err_and(|e| errno_is(e, &[ESRCH])), "MIGRATE of a pid that does not exist gives ESRCH", &format!("result: {}", guest::describe(&r)));
    let me = sysfs_id.as_ref().copied().unwrap_or(0);
    let (r, back) = call(ROAM_IOC_MIGRATE, &Migrate { pid: std::process::id(), node: me, ..Migrate::default() }.to_bytes());
    let mut m = [0u8; Migrate::SIZE];
    m.copy_from_slice(&back[..Migrate::SIZE]);
    let reason = Migrate::from_bytes(&m).reason;
    t.check(
        r.as_ref().is_err_and(|e| errno_is(e, &[EALREADY])) && reason == refusal::ALREADY_THERE,
        &format!("MIGRATE of this process to this node ({me}) gives EALREADY, reason already-there"),
        &format!("result: {}; reason {reason}", guest::describe(&r)),
    );
    let (r, _) = call(ROAM_IOC_ALLOW, &Allow { pid: std::process::id(), set: 2, nodes: 0 }.to_bytes());
    t.check(r.as_ref().is_err_and(|e| errno_is(e, &[EINVAL])), "ALLOW with set 2 gives EINVAL", &format!("result: {}", guest::describe(&r)));

    // The ioctl must show changes made through sysfs, on an fd opened
    // before the change as well as on a new one.
    let orig = sysfs_id.unwrap_or_else(|_| guest::node_id());
    let other = if orig >= NODE_ID_MAX {
        NODE_ID_MIN
    } else {
        orig + 1
    };
    let name = format!("STATUS follows node_id changed to {other} through sysfs");
    match guest::set_node_id(other) {
        Err(e) => t.not_ok(&name, &e),
        Ok(()) => {
            let old_fd = dev.as_ref().map_err(|e| e.to_string()).and_then(|f| {
                guest::status_ioctl(f.as_raw_fd())
                    .map_err(|e| errno_name(&e))
                    .and_then(|b| Status::from_bytes(&b).map_err(|e| format!("{e:?}")))
            });
            let new_fd = status_now();
            t.check(
                old_fd.as_ref().is_ok_and(|s| s.node_id == other)
                    && new_fd.as_ref().is_ok_and(|s| s.node_id == other),
                &name,
                &format!("open fd: {old_fd:?}\nnew fd: {new_fd:?}"),
            );
        }
    }
    let restored = guest::set_node_id(orig);
    let after = status_now();
    t.check(
        restored.is_ok() && after.as_ref().is_ok_and(|s| s.node_id == orig),
        &format!("STATUS shows node_id {orig} again after restoring it"),
        &format!("restore: {restored:?}\nSTATUS: {after:?}"),
    );

    drop(dev);
    t.finish()
}
