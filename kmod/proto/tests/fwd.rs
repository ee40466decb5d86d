//! Forwarded-call marshalling: plans from the syscall table, round trips,
//! caps and every malformed-message check.

use roam_proto::fwd::*;
use roam_proto::syscalls::lookup;

#[test]
fn write_is_planned_as_an_input_buffer_capped_at_max_buf() {
    let info = lookup(1); // write(fd, buf, count)
    let (plans, args) = plan(&info, &[3, 0x1000, 1 << 30, 0, 0, 0]).unwrap();
    assert_eq!(plans[0], Plan::Value);
    assert_eq!(plans[1], Plan::In { len: MAX_BUF, path: false });
    assert_eq!(args[2], MAX_BUF as u64, "the count is lowered with the buffer");
    let (plans, args) = plan(&info, &[3, 0x1000, 10, 0, 0, 0]).unwrap();
    assert_eq!(plans[1], Plan::In { len: 10, path: false });
    assert_eq!(args[2], 10);
}

#[test]
fn read_is_an_output_sized_by_the_result() {
    let (plans, _) = plan(&lookup(0), &[0, 0x2000, 100, 0, 0, 0]).unwrap();
    assert_eq!(plans[1], Plan::Out { len: 100, by_result: true });
    assert_eq!(out_len(&plans[1], 7), 7);
    assert_eq!(out_len(&plans[1], 1000), 100);
    assert_eq!(out_len(&plans[1], -4), 0);
}

#[test]
fn null_pointers_stay_null_and_paths_are_inputs() {
    // openat(dirfd, path, flags, mode)
    let (plans, _) = plan(&lookup(257), &[0, 0x3000, 0, 0, 0, 0]).unwrap();
    assert_eq!(plans[1], Plan::In { len: MAX_PATH, path: true });
    let (plans, _) = plan(&lookup(257), &[0, 0, 0, 0, 0, 0]).unwrap();
    assert_eq!(plans[1], Plan::Value);
}

#[test]
fn calls_with_undescribed_pointers_are_not_forwarded() {
    let info = (0..=462u64).map(lookup).find(|i| i.args.iter().any(|a| matches!(a, roam_proto::syscalls::Arg::Ptr))).unwrap();
    assert_eq!(plan(&info, &[1; 6]).err(), Some(FwdError::Unsupported));
}

#[test]
fn poll_arrays_are_copied_in_and_back() {
    // poll(fds, nfds, timeout): 8 bytes per descriptor.
    let (plans, args) = plan(&lookup(7), &[0x4000, 3, 0, 0, 0, 0]).unwrap();
    assert_eq!(plans[0], Plan::InOut { len: 24 });
    assert_eq!(args[1], 3, "the count is not changed");
    // ppoll(fds, nfds, timeout, sigmask, sigsetsize).
    let (plans, _) = plan(&lookup(271), &[0x4000, 2, 0x5000, 0, 8, 0]).unwrap();
    assert_eq!((plans[0], plans[2], plans[3]), (Plan::InOut { len: 16 }, Plan::InOut { len: 16 }, Plan::Value));
    // An array beyond MAX_BUF, or a count that overflows, is not forwarded.
    assert_eq!(plan(&lookup(7), &[0x4000, (MAX_BUF / 8 + 1) as u64, 0, 0, 0, 0]).err(), Some(FwdError::Unsupported));
    assert_eq!(plan(&lookup(7), &[0x4000, u64::MAX, 0, 0, 0, 0]).err(), Some(FwdError::Unsupported));
    // No descriptors: nothing to copy.
    assert_eq!(plan(&lookup(7), &[0, 0, 100, 0, 0, 0]).unwrap().0[0], Plan::Value);
}

#[test]
fn ioctl_arguments_follow_the_command() {
    // _IOR('r', 0x80, 48): 48 bytes out; _IOW: in; _IOWR: both.
    let ior = (2u64 << 30) | (48 << 16) | (0x72 << 8) | 0x80;
    assert_eq!(plan(&lookup(16), &[3, ior, 0x6000, 0, 0, 0]).unwrap().0[2], Plan::Out { len: 48, by_result: false });
    assert_eq!(ioctl_plan((1 << 30) | (8 << 16) | 0x7201), Some(Plan::In { len: 8, path: false }));
    assert_eq!(ioctl_plan((3 << 30) | (16 << 16) | 0x7201), Some(Plan::InOut { len: 16 }));
    // Classic terminal commands: TCGETS, TIOCGWINSZ, TCSETS, FIOCLEX.
    assert_eq!(ioctl_plan(0x5401), Some(Plan::Out { len: 60, by_result: false }));
    assert_eq!(ioctl_plan(0x5413), Some(Plan::Out { len: 8, by_result: false }));
    assert_eq!(ioctl_plan(0x5402), Some(Plan::In { len: 60, path: false }));
    assert_eq!(ioctl_plan(0x5451), Some(Plan::Value));
    // Unknown commands without size bits are not forwarded.
    assert_eq!(ioctl_plan(0x5499), None);
    assert_eq!(ioctl_plan(0x8901), None);
    assert_eq!(plan(&lookup(16), &[3, 0x8901, 0x6000, 0, 0, 0]).err(), Some(FwdError::Unsupported));
}

#[test]
fn fcntl_arguments_follow_the_command() {
    // F_SETFL with O_NONBLOCK: an integer, passed as is.
    let (plans, args) = plan(&lookup(72), &[3, 4, 0o4000, 0, 0, 0]).unwrap();
    assert_eq!((plans[2], args[2]), (Plan::Value, 0o4000));
    assert_eq!(fcntl_plan(1030), Some(Plan::Value)); // F_DUPFD_CLOEXEC
    assert_eq!(fcntl_plan(5), Some(Plan::InOut { len: 32 })); // F_GETLK
    assert_eq!(fcntl_plan(7), Some(Plan::In { len: 32, path: false })); // F_SETLKW
    assert_eq!(fcntl_plan(16), Some(Plan::Out { len: 8, by_result: false })); // F_GETOWN_EX
    assert_eq!(fcntl_plan(12), None);
    assert_eq!(plan(&lookup(72), &[3, 999, 0x7000, 0, 0, 0]).err(), Some(FwdError::Unsupported));
}

#[test]
fn call_and_ret_round_trip() {
    let mut buf = vec![0u8; 1024];
    let segs = [Segment { arg: 1, data: b"hello" }];
    let n = encode_call(7, 1, &[1, 2, 5, 0, 0, 0], &segs, &mut buf).unwrap();
    assert_eq!(n, CALL_HEAD + SEG_HEAD + 5);
    let c = decode_call(&buf[..n]).unwrap();
    assert_eq!((c.id, c.nr, c.args), (7, 1, [1, 2, 5, 0, 0, 0]));
    assert_eq!(c.segs.get(1).unwrap().data, b"hello");
    assert!(c.segs.get(0).is_none());
    let n = encode_ret(7, -11, &[], &mut buf).unwrap();
    let r = decode_ret(&buf[..n]).unwrap();
    assert_eq!((r.id, r.result, r.segs.iter().count()), (7, -11, 0));
}

#[test]
fn malformed_messages_are_refused() {
    let mut buf = vec![0u8; 256];
    let segs = [Segment { arg: 1, data: b"abc" }];
    let n = encode_call(1, 1, &[0; 6], &segs, &mut buf).unwrap();
    for cut in 0..n {
        assert!(decode_call(&buf[..cut]).is_err(), "prefix {cut} decoded");
    }
    let mut long = buf[..n].to_vec();
    long.push(0);
    assert_eq!(decode_call(&long).err(), Some(FwdError::Bad));
    let mut bad = buf[..n].to_vec();
    bad[CALL_HEAD - 1] = 7; // count > 6
    assert_eq!(decode_call(&bad).err(), Some(FwdError::Bad));
    let mut bad = buf[..n].to_vec();
    bad[CALL_HEAD] = 6; // argument index out of range
    assert_eq!(decode_call(&bad).err(), Some(FwdError::Bad));
    assert_eq!(encode_call(1, 1, &[0; 6], &segs, &mut buf[..10]).err(), Some(FwdError::NoRoom));
    let dup = [Segment { arg: 1, data: b"a" }, Segment { arg: 1, data: b"b" }];
    let n = encode_call(1, 1, &[0; 6], &dup, &mut buf).unwrap();
    assert_eq!(decode_call(&buf[..n]).err(), Some(FwdError::Bad));
}

#[test]
fn socket_addresses_are_sized_by_their_length_word() {
    // accept4(fd, addr, addrlen, flags)
    let (plans, args) = plan(&lookup(288), &[3, 0x1000, 0x2000, 0, 0, 0]).unwrap();
    assert_eq!(plans[1], Plan::Sized { max: 128, lenp: 2 });
    assert_eq!(plans[2], Plan::InOut { len: 4 });
    assert!(plans[1].is_in() && plans[1].is_out());
    assert_eq!(args[1], 0x1000);
    // The capacity is the caller's length, at most the largest address;
    // a negative one (refused by the call) gives none.
    assert_eq!(sized_cap(16, 128), 16);
    assert_eq!(sized_cap(1000, 128), 128);
    assert_eq!(sized_cap(u32::MAX, 128), 0);
    // Back: the smaller of the capacity and the length the call set.
    assert_eq!(sized_out_len(16, 110, 4), 16);
    assert_eq!(sized_out_len(128, 16, 4), 16);
    assert_eq!(sized_out_len(128, 16, -11), 0);
    assert_eq!(sized_out_len(128, u32::MAX, 0), 0);
    // getsockopt(fd, level, name, optval, optlen): up to 4096 bytes.
    let (plans, _) = plan(&lookup(55), &[3, 1, 7, 0x1000, 0x2000, 0]).unwrap();
    assert_eq!(plans[3], Plan::Sized { max: 4096, lenp: 4 });
    // recvfrom's address is optional.
    let (plans, _) = plan(&lookup(45), &[3, 0x1000, 100, 0, 0, 0]).unwrap();
    assert_eq!(plans[4], Plan::Value);
    assert_eq!(plans[1], Plan::Out { len: 100, by_result: true });
}

#[test]
fn epoll_events_come_back_by_count_and_the_count_is_lowered() {
    // epoll_wait(epfd, events, maxevents, timeout)
    let (plans, args) = plan(&lookup(232), &[3, 0x1000, 64, 100, 0, 0]).unwrap();
    assert_eq!(plans[1], Plan::OutElems { len: 64 * 12, elem: 12 });
    assert_eq!(out_len(&plans[1], 3), 36);
    assert_eq!(out_len(&plans[1], 1000), 64 * 12);
    assert_eq!(out_len(&plans[1], -4), 0);
    assert_eq!(args[2], 64);
    let (plans, args) = plan(&lookup(232), &[3, 0x1000, 1 << 20, 100, 0, 0]).unwrap();
    assert_eq!(args[2], (MAX_BUF / 12) as u64, "a huge maxevents is lowered");
    assert_eq!(plans[1].scratch(), MAX_BUF / 12 * 12);
    // Zero or negative: left for the call to refuse (EINVAL).
    let (plans, args) = plan(&lookup(232), &[3, 0x1000, u64::from(u32::MAX), 100, 0, 0]).unwrap();
    assert_eq!((plans[1].scratch(), args[2]), (0, u64::from(u32::MAX)));
}

#[test]
fn fd_sets_are_sized_by_the_descriptor_count() {
    // select(n, r, w, e, timeout)
    let (plans, _) = plan(&lookup(23), &[5, 0x1000, 0, 0x3000, 0x4000, 0]).unwrap();
    assert_eq!(plans[1], Plan::InOut { len: 8 });
    assert_eq!(plans[2], Plan::Value);
    assert_eq!(plans[3], Plan::InOut { len: 8 });
    assert_eq!(plans[4], Plan::InOut { len: 16 });
    let (plans, _) = plan(&lookup(23), &[1024, 0x1000, 0, 0, 0, 0]).unwrap();
    assert_eq!(plans[1], Plan::InOut { len: 128 });
    let (plans, _) = plan(&lookup(23), &[65, 0x1000, 0, 0, 0, 0]).unwrap();
    assert_eq!(plans[1], Plan::InOut { len: 16 });
    assert_eq!(plan(&lookup(23), &[MAX_BITS + 1, 0x1000, 0, 0, 0, 0]).err(), Some(FwdError::Unsupported));
}

#[test]
fn signal_masks_stay_with_the_caller() {
    // ppoll(fds, n, ts, sigmask, sigsetsize): the deputy gets no mask.
    let (plans, args) = plan(&lookup(271), &[0x1000, 2, 0, 0x5000, 8, 0]).unwrap();
    assert_eq!(plans[3], Plan::Mask { size_arg: 4, pair: false });
    assert_eq!(args[3], 0);
    assert_eq!(plans[3].scratch(), 0);
    assert!(!plans[3].is_in() && !plans[3].is_out());
    // pselect6's sixth argument.
    let (plans, args) = plan(&lookup(270), &[1, 0x1000, 0, 0, 0, 0x6000]).unwrap();
    assert_eq!(plans[5], Plan::Mask { size_arg: 0, pair: true });
    assert_eq!(args[5], 0);
    // epoll_pwait2(epfd, events, maxevents, timeout, sigmask, size)
    let (plans, args) = plan(&lookup(441), &[3, 0x1000, 4, 0x2000, 0x3000, 8]).unwrap();
    assert_eq!(plans[4], Plan::Mask { size_arg: 5, pair: false });
    assert_eq!((args[4], args[5]), (0, 8));
    assert!(waits_for_events(271) && waits_for_events(7) && !waits_for_events(0));
}

#[test]
fn the_waits_are_the_poll_select_and_epoll_calls() {
    let mut waits: Vec<&str> = (0..=462u64).filter(|&n| waits_for_events(n)).map(|n| lookup(n).name).collect();
    waits.sort_unstable();
    assert_eq!(
        waits,
        ["epoll_pwait", "epoll_pwait2", "epoll_wait", "msgrcv", "msgsnd", "poll", "ppoll", "pselect6", "select", "semop", "semtimedop"]
    );
}

#[test]
fn system_v_messages_carry_their_type() {
    // msgsnd(id, msgp, 5, 0): the type word and five bytes.
    let (plans, args) = plan(&lookup(69), &[3, 0x1000, 5, 0, 0, 0]).unwrap();
    assert_eq!((plans[1], args[2]), (Plan::In { len: 13, path: false }, 5));
    // An empty message still has its type.
    assert_eq!(plan(&lookup(69), &[3, 0x1000, 0, 0, 0, 0]).unwrap().0[1], Plan::In { len: 8, path: false });
    // Too long to forward, or negative: made at home, never shortened.
    assert_eq!(plan(&lookup(69), &[3, 0x1000, (MAX_BUF - 7) as u64, 0, 0, 0]), Err(FwdError::Unsupported));
    assert_eq!(plan(&lookup(69), &[3, 0x1000, u64::MAX, 0, 0, 0]), Err(FwdError::Unsupported));
    assert_eq!(plan(&lookup(69), &[3, 0x1000, (MAX_BUF - 8) as u64, 0, 0, 0]).unwrap().0[1], Plan::In { len: MAX_BUF, path: false });
    // msgrcv(id, msgp, 100, type, flags): the type and the text received.
    let (plans, _) = plan(&lookup(70), &[3, 0x1000, 100, 2, 0, 0]).unwrap();
    assert_eq!(plans[1], Plan::OutMsg { len: 108 });
    assert!(plans[1].is_out() && !plans[1].is_in());
    assert_eq!(plans[1].scratch(), 108);
    assert_eq!(out_len(&plans[1], 5), 13);
    assert_eq!(out_len(&plans[1], 0), 8);
    assert_eq!(out_len(&plans[1], 1000), 108);
    assert_eq!(out_len(&plans[1], -7), 0);
    assert_eq!(plan(&lookup(70), &[3, 0x1000, u64::MAX, 0, 0, 0]), Err(FwdError::Unsupported));
}

#[test]
fn semaphore_operations_are_read_only() {
    // semop(id, sops, 3): three 6-byte operations, copied in only.
    let (plans, _) = plan(&lookup(65), &[3, 0x1000, 3, 0, 0, 0]).unwrap();
    assert_eq!(plans[1], Plan::In { len: 18, path: false });
    assert!(!plans[1].is_out());
    // semtimedop adds its timeout.
    let (plans, _) = plan(&lookup(220), &[3, 0x1000, 2, 0x2000, 0, 0]).unwrap();
    assert_eq!((plans[1], plans[3]), (Plan::In { len: 12, path: false }, Plan::In { len: 16, path: false }));
    // An operation count too large to carry is made at home (EINVAL or
    // E2BIG there), not cut short.
    assert_eq!(plan(&lookup(65), &[3, 0x1000, 1 << 40, 0, 0, 0]), Err(FwdError::Unsupported));
}

#[test]
fn system_v_control_commands() {
    let out = |len| Plan::Out { len, by_result: false };
    let inp = |len| Plan::In { len, path: false };
    // msgctl(id, cmd, buf): IPC_RMID, IPC_SET, IPC_STAT, IPC_INFO, MSG_STAT, MSG_INFO, MSG_STAT_ANY.
    let msg: Vec<Option<Plan>> = [0u64, 1, 2, 3, 11, 12, 13, 4].iter().map(|&c| ipc_ctl_plan(71, c)).collect();
    assert_eq!(msg, [Some(Plan::Value), Some(inp(120)), Some(out(120)), Some(out(32)), Some(out(120)), Some(out(32)), Some(out(120)), None]);
    // semctl(id, num, cmd, arg): GETPID..SETVAL by value, GETALL and SETALL at home.
    let sem: Vec<Option<Plan>> = [0u64, 1, 2, 3, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20].iter().map(|&c| ipc_ctl_plan(66, c)).collect();
    assert_eq!(
        sem,
        [
            Some(Plan::Value),
            Some(inp(104)),
            Some(out(104)),
            Some(out(40)),
            Some(Plan::Value),
            Some(Plan::Value),
            None,
            Some(Plan::Value),
            Some(Plan::Value),
            Some(Plan::Value),
            None,
            Some(out(104)),
            Some(out(40)),
            Some(out(104)),
        ]
    );
    // shmctl(id, cmd, buf): SHM_LOCK and SHM_UNLOCK by value, SHM_INFO's own structure.
    let shm: Vec<Option<Plan>> = [1u64, 2, 3, 11, 12, 13, 14, 15].iter().map(|&c| ipc_ctl_plan(31, c)).collect();
    assert_eq!(shm, [Some(inp(112)), Some(out(112)), Some(out(72)), Some(Plan::Value), Some(Plan::Value), Some(out(112)), Some(out(48)), Some(out(112))]);
    // IPC_64 is passed on unchanged for the kernel to judge.
    assert_eq!(ipc_ctl_plan(71, 0x102), Some(out(120)));
    // Through `plan`: the command is the argument before the buffer.
    let (plans, args) = plan(&lookup(71), &[3, 2, 0x1000, 0, 0, 0]).unwrap();
    assert_eq!((plans[2], args[1]), (out(120), 2));
    let (plans, args) = plan(&lookup(66), &[3, 1, 16, 7, 0, 0]).unwrap();
    assert_eq!((plans[3], args[3]), (Plan::Value, 7));
    assert_eq!(plan(&lookup(66), &[3, 0, 13, 0x1000, 0, 0]), Err(FwdError::Unsupported));
    let (plans, _) = plan(&lookup(31), &[3, 2, 0x1000, 0, 0, 0]).unwrap();
    assert_eq!(plans[2], out(112));
    // IPC_RMID with a null buffer: nothing to carry.
    assert_eq!(plan(&lookup(71), &[3, 0, 0, 0, 0, 0]).unwrap().0[2], Plan::Value);
}
