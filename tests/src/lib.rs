//! Shared code of roam's tests.
//!
//! * [`ktap`] writes KTAP from the test programs that run inside the QEMU
//!   guests, and reads it back on the host, where the runner decides from
//!   the text on the guest's console whether a program passed.
//! * [`guest`] holds the small helpers those programs share: the guest's
//!   configuration files, sysfs access, running code as another user, the
//!   ioctl and module syscalls, and bounded polling.
//! * [`cue`] lets signal-driven test programs wait for the harness.
//!
//! The programs themselves live in `src/bin/` and are linked statically so
//! they run in the busybox initramfs without any shared library.

pub mod cue;
pub mod guest;
pub mod ktap;
