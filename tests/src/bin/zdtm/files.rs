//! zdtm tests of descriptors: offsets, O_APPEND, unlinked files, dup, pipes, FIFOs, unix sockets, TCP connections to home processes, file locks.

use super::Group;

pub(crate) const GROUP: Group = Group { tests: &[], busy: &[], ticks: &[], known: &[] };
