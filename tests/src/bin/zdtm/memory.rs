//! zdtm tests of memory and CPU state: brk, remapped and sparse regions, FPU/SSE/AVX state, signal handlers and the alternate stack.

use super::Group;

pub(crate) const GROUP: Group = Group { tests: &[], busy: &[], ticks: &[], known: &[] };
