//! The host/guest command protocol of `roam-agent`.
//!
//! The agent binary (`src/main.rs`) speaks it over a serial line inside the
//! guest; a host crate can use [`proto`] to speak the other side. This
//! library is plain `std`, with no OS-specific code.

pub mod proto;
