//! zdtm tests of process attributes: working directory, umask, limits, environment, personality, names, session and group ids, TLS.

use super::Group;

pub(crate) const GROUP: Group = Group { tests: &[], busy: &[], ticks: &[], known: &[] };
