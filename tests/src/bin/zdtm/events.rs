//! zdtm tests of event descriptors and IPC: eventfd, timerfd, signalfd, inotify, epoll, SysV IPC, POSIX message queues.

use super::Group;

pub(crate) const GROUP: Group = Group { tests: &[], busy: &[], ticks: &[], known: &[] };
