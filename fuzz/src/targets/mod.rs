//! Every fuzz target: one per decoder the module runs on input from its
//! peers (and on what root writes to it), each driving the decoder as the
//! module does and checking what its documentation promises.
//!
//! The files here, by what they decode: `wire` (frames), `replay` (the
//! replay guard), `loads` (load messages and the vector they feed),
//! `proc` (process events), `fwd` (forwarded calls and their answers), `sockmsg` (their
//! `msghdr` images),
//! `image` (migration images, message by message and whole), `restore`
//! (the restorer built from an image), `config` (sysfs text), `abi`
//! (ioctl structures). [`all`] lists them in the order `roam-fuzz all`
//! runs them.

pub mod abi;
pub mod config;
pub mod fwd;
pub mod image;
pub mod loads;
pub mod proc;
pub mod replay;
pub mod restore;
pub mod sockmsg;
pub mod wire;

use crate::target::Target;
use std::sync::Arc;

/// Every target.
pub fn all() -> Vec<Arc<dyn Target>> {
    vec![
        Arc::new(wire::Frames),
        Arc::new(replay::Replay),
        Arc::new(loads::Loads),
        Arc::new(proc::Proc),
        Arc::new(fwd::Calls),
        Arc::new(fwd::Rets),
        Arc::new(sockmsg::SockMsg),
        Arc::new(image::Msgs),
        Arc::new(image::parts::Begin),
        Arc::new(image::parts::Signals),
        Arc::new(image::parts::Timers),
        Arc::new(image::parts::CredsMsg),
        Arc::new(image::areas::Vmas),
        Arc::new(image::areas::Pages),
        Arc::new(image::session::Session),
        Arc::new(restore::Restore),
        Arc::new(config::Config),
        Arc::new(abi::Abi),
    ]
}

/// The target called `name`.
pub fn find(name: &str) -> Option<Arc<dyn Target>> {
    all().into_iter().find(|t| t.name() == name)
}
