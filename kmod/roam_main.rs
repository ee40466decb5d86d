// SPDX-License-Identifier: GPL-2.0

//! roam: transparent, automatic process migration for Linux clusters.
//!
//! The module is layered; each layer uses only those below it (the map,
//! with the path of one migration through the files:
//! `docs/architecture.md`):
//!
//! * [`sys`] is the only place that touches `kernel::bindings`: small owning
//!   wrappers (socket, misc device, sysfs directory, tracepoints,
//!   task_work, user memory and registers, credentials), each unsafe block
//!   argued in a `// SAFETY:` comment.
//! * The `no_std` modules from `kmod/proto/src/` ([`abi`], [`wire`],
//!   [`image`], [`fwd`], [`syscalls`], [`policy`], [`load`], [`loadvec`],
//!   ...) are pure logic shared with the host crates and tested there.
//! * [`cluster`] is membership, the authenticated transport and the load
//!   exchange; it hands frames about processes up through
//!   [`cluster::FrameSink`] and knows nothing of migration.
//! * [`migrate`] is process migration: eligibility, the engine (one file
//!   per role) and the balancer.
//! * [`control`] is the node's two faces, `/sys/kernel/roam/` and the
//!   `/dev/roam` ioctls, over `cluster` and `migrate`.
//!
//! This file only wires them up. Lock order: see [`cluster`] and
//! [`migrate`].

use kernel::{c_str, prelude::*};

// Shared with the host crates, which use the parts the module does not.
#[allow(dead_code, unreachable_pub)]
#[path = "proto/src/abi/mod.rs"]
mod abi;
#[allow(dead_code, unreachable_pub)]
#[path = "proto/src/bytes.rs"]
mod bytes;
mod cluster;
#[allow(dead_code, unreachable_pub)]
#[path = "proto/src/config.rs"]
mod config;
mod control;
#[allow(dead_code, unreachable_pub)]
#[path = "proto/src/faults.rs"]
mod faults;
#[allow(dead_code, unreachable_pub)]
#[path = "proto/src/fwd.rs"]
mod fwd;
mod lists;
#[allow(dead_code, unreachable_pub)]
#[path = "proto/src/image/mod.rs"]
mod image;
mod migrate;
#[allow(dead_code, unreachable_pub)]
#[path = "proto/src/policy.rs"]
mod policy;
#[allow(dead_code, unreachable_pub)]
#[path = "proto/src/rearm.rs"]
mod rearm;
#[allow(dead_code, unreachable_pub)]
#[path = "proto/src/restore.rs"]
mod restore;
#[allow(dead_code, unreachable_pub)]
#[path = "proto/src/syscalls.rs"]
mod syscalls;
#[allow(dead_code, unreachable_pub)]
#[path = "proto/src/load.rs"]
mod load;
#[allow(dead_code, unreachable_pub)]
#[path = "proto/src/loadvec.rs"]
mod loadvec;
#[allow(dead_code, unreachable_pub)]
#[path = "proto/src/rng.rs"]
mod rng;
#[allow(dead_code, unreachable_pub)]
#[path = "proto/src/sockmsg.rs"]
mod sockmsg;
mod sys;
#[allow(dead_code, unreachable_pub)]
#[path = "proto/src/mac.rs"]
mod mac;
#[allow(dead_code, unreachable_pub)]
#[path = "proto/src/wire.rs"]
mod wire;

module! {
    type: Roam,
    name: "roam",
    author: "the roam developers",
    description: "roam: transparent process migration for Linux clusters",
    license: "GPL",
}

/// The loaded module: everything it registered, released in reverse order
/// of registration when it is dropped (fields drop top to bottom).
struct Roam {
    _device: sys::miscdev::Registration<control::device::RoamDevice>,
    _sysfs: sys::sysfs::Dir<control::sysfs::RoamAttrs>,
    // After the files: no request can start a migration any more.
    _moving: migrate::Running,
    // Last: by the time it stops the threads, no sysfs write or ioctl can
    // start them again (removing the files waits for writes in flight).
    _cluster: cluster::Running,
}

impl kernel::Module for Roam {
    fn init(module: &'static ThisModule) -> Result<Self> {
        let node = cluster::Node::new()?;
        let cluster = cluster::Cluster::new(node.clone())?;
        let migration = migrate::Migration::new()?;
        let mover = migrate::Mover::new(cluster.clone(), migration.clone())?;
        let moving = migrate::Running::start(&cluster, &mover)?;
        let sysfs = sys::sysfs::Dir::create(
            c_str!("roam"),
            control::sysfs::ATTRS,
            control::sysfs::RoamAttrs::new(node.clone(), cluster.clone(), migration.clone(), mover.clone())?,
        )
        .inspect_err(|e| pr_err!("cannot create /sys/kernel/roam: {:?}\n", e))?;
        // Registered last: once /dev/roam exists, userspace may use it.
        let device = sys::miscdev::Registration::register(
            c_str!("roam"),
            0o666,
            module,
            control::device::RoamDevice::new(node, cluster.clone(), migration, mover)?,
        )
        .inspect_err(|e| pr_err!("cannot register /dev/roam: {:?}\n", e))?;
        pr_info!("loaded, version {} (ioctl ABI {})\n", abi::ROAM_VERSION, abi::ROAM_ABI_VERSION);
        Ok(Roam { _device: device, _sysfs: sysfs, _moving: moving, _cluster: cluster::Running(cluster) })
    }
}

impl Drop for Roam {
    fn drop(&mut self) {
        pr_info!("unloading\n");
    }
}
