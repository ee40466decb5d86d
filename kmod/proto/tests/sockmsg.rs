//! Host tests of the message image that carries `sendmsg`'s and
//! `recvmsg`'s `msghdr` between a remote and its deputy.

use roam_proto::fwd::{plan, FwdError, Plan, MAX_BUF, SEG_HEAD};
use roam_proto::sockmsg::*;
use roam_proto::syscalls::lookup;

fn hdr() -> MsgHdr {
    MsgHdr { name: 0x1000, namelen: 16, iov: 0x2000, iovlen: 2, control: 0x3000, controllen: 24, flags: 0 }
}

#[test]
fn msghdr_layout_round_trips() {
    let h = MsgHdr { flags: 0x40, ..hdr() };
    let mut raw = [0xffu8; MSGHDR_LEN];
    h.write(&mut raw);
    assert_eq!(MsgHdr::parse(&raw), h);
    // Field offsets of the x86-64 struct msghdr, padding zeroed.
    assert_eq!(u32::from_le_bytes(raw[OFF_NAMELEN..OFF_NAMELEN + 4].try_into().unwrap()), 16);
    assert_eq!(&raw[12..16], &[0, 0, 0, 0]);
    assert_eq!(u64::from_le_bytes(raw[OFF_CONTROLLEN..OFF_CONTROLLEN + 8].try_into().unwrap()), 24);
    assert_eq!(u32::from_le_bytes(raw[OFF_FLAGS..OFF_FLAGS + 4].try_into().unwrap()), 0x40);
    assert_eq!(&raw[52..56], &[0, 0, 0, 0]);
}

#[test]
fn send_and_receive_are_planned_as_messages() {
    let (plans, _) = plan(&lookup(46), &[3, 0x1000, 0, 0, 0, 0]).unwrap();
    assert_eq!(plans[1], Plan::Msg { send: true });
    assert!(plans[1].is_in() && !plans[1].is_out());
    let (plans, _) = plan(&lookup(47), &[3, 0x1000, 0x40, 0, 0, 0]).unwrap();
    assert_eq!(plans[1], Plan::Msg { send: false });
    assert!(plans[1].is_in() && plans[1].is_out());
    assert_eq!(plans[1].scratch(), SCRATCH);
    // An image always fits one forwarded segment, and the deputy's room.
    assert!(HEAD + NAME_MAX + CONTROL_MAX + DATA_MAX <= MAX_BUF);
    assert_eq!(SCRATCH, MAX_BUF);
    assert!(SCRATCH + SEG_HEAD < 320 * 1024);
    // sendmmsg and recvmmsg are not forwarded this way.
    assert_eq!(plan(&lookup(307), &[3, 0x1000, 1, 0, 0, 0]).err(), Some(FwdError::Unsupported));
}

#[test]
fn a_send_image_carries_address_control_and_data() {
    let (name, control, data) = ([7u8; 16], [9u8; 24], b"hello, home".as_slice());
    let img = Image { has_name: true, has_control: true, namelen: 16, controllen: 24, flags: 0, datalen: data.len() as u32, name: &name, control: &control, data };
    let mut buf = vec![0u8; img.len()];
    assert_eq!(encode(&img, &mut buf), Ok(img.len()));
    let parts = request_parts(&buf, true).unwrap();
    assert_eq!(parts, (16, 24, data.len()));
    assert_eq!(decode(&buf, parts).unwrap(), img);
    // A receive request carries capacities only.
    let req = Image { has_name: true, has_control: false, namelen: 128, controllen: 0, flags: 0, datalen: 4096, ..Image::default() };
    let mut buf = vec![0u8; req.len()];
    encode(&req, &mut buf).unwrap();
    assert_eq!(buf.len(), HEAD);
    let got = decode(&buf, request_parts(&buf, false).unwrap()).unwrap();
    assert_eq!((got.has_name, got.has_control, got.namelen, got.datalen), (true, false, 128, 4096));
}

#[test]
fn an_answer_gives_back_no_more_address_than_the_capacity() {
    // The call left a 110-byte address; the program's buffer holds 16.
    let name = [1u8; 16];
    let img = Image { has_name: true, has_control: false, namelen: 110, controllen: 0, flags: 0x20, datalen: 3, name: &name, control: &[], data: b"abc" };
    let mut buf = vec![0u8; img.len()];
    encode(&img, &mut buf).unwrap();
    let got = decode(&buf, answer_parts(&buf, 16).unwrap()).unwrap();
    assert_eq!((got.namelen, got.name.len(), got.flags, got.data), (110, 16, 0x20, b"abc".as_slice()));
    // Read with another capacity, the lengths disagree: malformed.
    assert!(decode(&buf, answer_parts(&buf, 32).unwrap()).is_err());
}

#[test]
fn malformed_images_are_refused() {
    assert_eq!(request_parts(&[0u8; HEAD - 1], true), Err(FwdError::Truncated));
    let too_long = Image { data: &[0u8; DATA_MAX + 1], ..Image::default() };
    assert_eq!(encode(&too_long, &mut vec![0u8; too_long.len()]), Err(FwdError::Bad));
    // A head that claims more than follows.
    let mut buf = vec![0u8; HEAD + 4];
    buf[0] = 1; // an address
    buf[4] = 8; // of 8 bytes
    assert_eq!(decode(&buf, request_parts(&buf, true).unwrap()), Err(FwdError::Truncated));
    // Presence bits no image has (found by the fuzzer: they did not
    // survive a re-encoding).
    let mut odd = vec![0u8; HEAD];
    odd[1] = 0x80;
    assert_eq!(decode(&odd, (0, 0, 0)), Err(FwdError::Bad));
    // Parts beyond their maxima.
    assert_eq!(decode(&buf, (NAME_MAX + 1, 0, 0)), Err(FwdError::Bad));
    assert_eq!(decode(&buf, (0, CONTROL_MAX + 1, 0)), Err(FwdError::Bad));
}

#[test]
fn checks_answer_as_the_kernel_would() {
    assert_eq!(check(&MsgHdr { iovlen: MAX_IOV + 1, ..hdr() }, Some(0), true), Check::Fail(-90));
    assert_eq!(check(&hdr(), None, false), Check::Fail(-22));
    assert_eq!(check(&MsgHdr { namelen: u32::MAX, ..hdr() }, Some(1), true), Check::Fail(-22));
    // A null address ignores its length, as the kernel does.
    assert_eq!(check(&MsgHdr { name: 0, namelen: u32::MAX, ..hdr() }, Some(1), true), Check::Forward { name: 0, control: 24, data: 1 });
    // A send's large ancillary data goes home; a receive's capacity is lowered.
    let big = MsgHdr { controllen: CONTROL_MAX as u64 + 1, ..hdr() };
    assert_eq!(check(&big, Some(1), true), Check::Home);
    assert_eq!(check(&big, Some(1), false), Check::Forward { name: 16, control: CONTROL_MAX, data: 1 });
    // An address capacity above the largest address is lowered (as the
    // kernel does), and data above one call's worth is a short call.
    let wide = MsgHdr { namelen: 4096, ..hdr() };
    assert_eq!(check(&wide, Some(1 << 20), false), Check::Forward { name: NAME_MAX, control: 24, data: DATA_MAX });
}

#[test]
fn the_deputy_layout_keeps_parts_apart() {
    let (mh, iov, name, control, data) = layout(0x10000);
    assert_eq!(mh, 0x10000);
    assert_eq!(iov, mh + MSGHDR_LEN as u64);
    assert_eq!(name, iov + IOVEC_LEN as u64);
    assert_eq!(control, name + NAME_MAX as u64);
    assert_eq!(data, control + CONTROL_MAX as u64);
    assert_eq!(data + DATA_MAX as u64, mh + SCRATCH as u64);
}
