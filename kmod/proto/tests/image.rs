//! Host tests of the migration image: layouts, round trips of every
//! message, every rejection, the checksum, the receiver's sequencing, and
//! property tests over arbitrary input.

use proptest::prelude::*;
use roam_proto::image::*;

fn header(nr_vmas: u32, nr_pages: u64, xstate_len: u32) -> ImageHeader {
    let mut comm = [0u8; 16];
    comm[..5].copy_from_slice(b"hello");
    ImageHeader {
        version: IMAGE_VERSION,
        home_node: 3,
        pid: 4242,
        tgid: 4240,
        uid: 1000,
        gid: 1001,
        euid: 1002,
        egid: 1003,
        comm,
        nr_vmas,
        nr_pages,
        xstate_len,
        cause: cause::LOAD,
        sender_load: 2500,
        allowed: 0b1010,
    }
}

fn regs() -> Regs {
    let mut a = [0u64; Regs::COUNT];
    for (i, w) in a.iter_mut().enumerate() {
        *w = 0x1000_0000_0000_0000 + i as u64;
    }
    Regs::from_array(&a)
}

fn user_regs() -> Regs {
    Regs {
        rip: 0x40_1000,
        rsp: 0x7ffd_0000_1000,
        cs: USER_CS,
        ss: USER_DS,
        eflags: 0x246,
        fs_base: 0x7f00_0000_0000,
        ..Regs::default()
    }
}

fn mm() -> MmLayout {
    let mut a = [0u64; MmLayout::COUNT];
    for (i, w) in a.iter_mut().enumerate() {
        *w = 0x40_0000 + 0x1000 * i as u64;
    }
    MmLayout::from_array(&a)
}

fn sig() -> SigState {
    let mut s = SigState::EMPTY;
    s.blocked = 0x8000_0000_0001_0002;
    for (i, a) in s.actions.iter_mut().enumerate() {
        let i = i as u64;
        *a = SigAction { handler: 0x40_0000 + i, flags: 0x0400_0000 | i, restorer: 0x40_8000 + i, mask: 1 << i };
    }
    s.altstack = AltStack { sp: 0x7f00_0010_0000, flags: 2, size: 0x2000 };
    s
}

const MB: u64 = 1 << 20;

fn vmas() -> Vec<Vma> {
    vec![
        Vma::new(0x40_0000, 0x40_0000 + MB, PROT_READ | PROT_EXEC, VMA_FILE).with_name(b"/usr/bin/hello"),
        Vma::new(0x60_0000, 0x60_0000 + 4 * 4096, PROT_READ | PROT_WRITE, VMA_HEAP).with_name(b"[heap]"),
        // Adjacent to the previous one: allowed.
        Vma::new(0x60_4000, 0x60_8000, PROT_READ, 0),
        Vma::new(0x7ffd_0000_0000, 0x7ffd_0002_0000, PROT_READ | PROT_WRITE, VMA_STACK | VMA_GROWSDOWN)
            .with_name(b"[stack]"),
        Vma::new(0x7ffd_0010_0000, 0x7ffd_0010_2000, PROT_READ | PROT_EXEC, VMA_VDSO).with_name(b"[vdso]"),
    ]
}

fn begin_msg(xstate: &[u8]) -> Vec<u8> {
    let h = header(5, 10, xstate.len() as u32);
    let mut out = vec![0u8; begin_len(xstate.len())];
    let n = encode_begin(&h, &regs(), &mm(), &sig(), xstate, &mut out).unwrap();
    assert_eq!(n, out.len());
    out
}

fn vmas_msg(first: u32, v: &[Vma]) -> Vec<u8> {
    let mut out = vec![0u8; vmas_len(v.len())];
    assert_eq!(encode_vmas(first, v, &mut out), Ok(out.len()));
    out
}

fn page_data(count: u32, seed: u8) -> Vec<u8> {
    (0..count as usize * PAGE_SIZE).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

fn batch_msg(h: &PageBatchHeader, data: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; batch_len(h.count)];
    assert_eq!(encode_batch(h, data, &mut out), Ok(out.len()));
    out
}

fn commit_msg(n: u64, c: u64) -> Vec<u8> {
    let mut out = vec![0u8; COMMIT_LEN];
    assert_eq!(encode_commit(n, c, &mut out), Ok(COMMIT_LEN));
    out
}

fn accept_msg(pid: u32) -> Vec<u8> {
    let mut out = vec![0u8; ACCEPT_LEN];
    assert_eq!(encode_accept(pid, &mut out), Ok(ACCEPT_LEN));
    out
}

fn refuse_msg(r: RefuseReason) -> Vec<u8> {
    let mut out = vec![0u8; REFUSE_LEN];
    assert_eq!(encode_refuse(r, &mut out), Ok(REFUSE_LEN));
    out
}

fn abort_msg() -> Vec<u8> {
    let mut out = vec![0u8; ABORT_LEN];
    assert_eq!(encode_abort(&mut out), Ok(ABORT_LEN));
    out
}

/// One valid message of every kind.
fn every_message() -> Vec<Vec<u8>> {
    let b = PageBatchHeader { first_addr: 0x60_0000, count: 2 };
    vec![
        begin_msg(&[7u8; 100]),
        vmas_msg(0, &vmas()),
        batch_msg(&b, &page_data(2, 1)),
        commit_msg(10, 0xdead_beef),
        accept_msg(77),
        refuse_msg(RefuseReason::Busy),
        abort_msg(),
    ]
}

/// Every strict prefix of a valid message is `Truncated`, and one byte
/// more is `BadLength`.
fn check_lengths(msg: &[u8], decode: impl Fn(&[u8]) -> Result<(), ImageError>) {
    assert!(decode(msg).is_ok());
    for len in 0..msg.len() {
        assert_eq!(decode(&msg[..len]).err(), Some(ImageError::Truncated), "length {len} of {}", msg.len());
    }
    let mut longer = msg.to_vec();
    longer.push(0);
    assert_eq!(decode(&longer).err(), Some(ImageError::BadLength));
}

#[test]
fn sizes_and_layouts() {
    assert_eq!(Regs::SIZE, 216);
    assert_eq!(MmLayout::SIZE, 88);
    assert_eq!(SigState::SIZE, 8 + 64 * 32 + 20);
    assert_eq!(HEADER_LEN, 76);
    assert_eq!(BEGIN_FIXED_LEN, 4 + 76 + 216 + 88 + 2076);
    assert_eq!(VMA_WIRE_LEN, 96);
    assert_eq!(BATCH_HEAD_LEN, 16);
    assert_eq!(PAGE_SIZE, 4096);
    assert_eq!(MAX_BATCH_PAGES, 32);
    assert!(batch_len(MAX_BATCH_PAGES) <= roam_proto::wire::MAX_PAYLOAD);
    assert!(begin_len(MAX_XSTATE as usize) <= roam_proto::wire::MAX_PAYLOAD);
    assert!(vmas_len(MAX_VMAS_PER_MSG) <= roam_proto::wire::MAX_PAYLOAD);
    assert_eq!(USER_END, 0x7fff_ffff_f000);
}

#[test]
fn regs_follow_user_regs_struct() {
    let r = regs();
    let b = r.to_bytes();
    // Offsets from struct user_regs_struct (arch/x86/include/asm/user_64.h).
    let at = |i: usize| u64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().unwrap());
    assert_eq!(at(0), r.r15);
    assert_eq!(at(4), r.rbp);
    assert_eq!(at(10), r.rax);
    assert_eq!(at(15), r.orig_rax);
    assert_eq!(at(16), r.rip);
    assert_eq!(at(17), r.cs);
    assert_eq!(at(18), r.eflags);
    assert_eq!(at(19), r.rsp);
    assert_eq!(at(20), r.ss);
    assert_eq!(at(21), r.fs_base);
    assert_eq!(at(22), r.gs_base);
    assert_eq!(at(26), r.gs);
    assert_eq!(Regs::from_bytes(&b), r);
    assert_eq!(Regs::from_array(&r.to_array()), r);
    assert_eq!(MmLayout::from_array(&mm().to_array()), mm());
}

#[test]
fn user_mode_check() {
    assert!(user_regs().user_mode_ok());
    let bad = [
        Regs { cs: 0x10, ..user_regs() },
        Regs { cs: 0x23, ..user_regs() },
        Regs { ss: 0x18, ..user_regs() },
        Regs { rip: 0xffff_ffff_8100_0000, ..user_regs() },
        Regs { rsp: USER_END + 8, ..user_regs() },
        Regs { fs_base: 0xffff_8880_0000_0000, ..user_regs() },
        Regs { gs_base: USER_END, ..user_regs() },
        Regs { ds: 0x10, ..user_regs() },
        Regs { fs: 0x1_0003, ..user_regs() },
    ];
    for r in bad {
        assert!(!r.user_mode_ok(), "{r:?}");
    }
    assert!(Regs { ds: USER_DS, es: USER_DS, ..user_regs() }.user_mode_ok());
}

#[test]
fn begin_round_trip() {
    for xlen in [0usize, 1, 576, 2696, MAX_XSTATE as usize] {
        let xstate: Vec<u8> = (0..xlen).map(|i| (i * 7) as u8).collect();
        let msg = begin_msg(&xstate);
        assert_eq!(msg_kind(&msg), Ok(MsgKind::Begin));
        let v = decode_begin(&msg).unwrap();
        assert_eq!(v.header, header(5, 10, xlen as u32));
        assert_eq!(v.header.comm_bytes(), b"hello");
        assert_eq!(v.regs, regs());
        assert_eq!(v.mm, mm());
        assert_eq!(v.xstate, &xstate[..]);
        assert_eq!(v.sig_state(), sig());
        assert_eq!(v.blocked(), sig().blocked);
        assert_eq!(v.altstack(), sig().altstack);
        for signo in 1..=64 {
            assert_eq!(v.sig_action(signo), Some(sig().actions[signo - 1]));
        }
        assert_eq!(v.sig_action(0), None);
        assert_eq!(v.sig_action(65), None);
        assert_eq!(decode(&msg), Ok(MigrateMsg::Begin(v)));
    }
}

#[test]
fn begin_rejections() {
    let x = [1u8; 64];
    let mut out = vec![0u8; begin_len(MAX_XSTATE as usize + 1)];
    let enc = |h: &ImageHeader, x: &[u8], out: &mut [u8]| encode_begin(h, &regs(), &mm(), &sig(), x, out);
    assert_eq!(enc(&ImageHeader { version: 3, ..header(1, 1, 64) }, &x, &mut out), Err(ImageError::BadVersion));
    assert_eq!(enc(&header(1, 1, 65), &x, &mut out), Err(ImageError::BadLength));
    let big = vec![0u8; MAX_XSTATE as usize + 1];
    assert_eq!(enc(&header(1, 1, MAX_XSTATE + 1), &big, &mut out), Err(ImageError::TooLarge));
    assert_eq!(enc(&header(MAX_VMAS + 1, 1, 64), &x, &mut out), Err(ImageError::TooLarge));
    assert_eq!(enc(&header(1, MAX_PAGES + 1, 64), &x, &mut out), Err(ImageError::TooLarge));
    assert_eq!(enc(&header(1, 1, 64), &x, &mut out[..begin_len(64) - 1]), Err(ImageError::Truncated));
    assert_eq!(enc(&header(MAX_VMAS, MAX_PAGES, 64), &x, &mut out), Ok(begin_len(64)));

    let msg = begin_msg(&x);
    check_lengths(&msg, |b| decode_begin(b).map(|_| ()));
    check_lengths(&msg, |b| decode(b).map(|_| ()));

    // Prefix: version, kind, reserved byte.
    let mut m = msg.clone();
    m[0] = 9;
    assert_eq!(decode_begin(&m).err(), Some(ImageError::BadVersion));
    assert_eq!(msg_kind(&m), Err(ImageError::BadVersion));
    let mut m = msg.clone();
    m[2] = MsgKind::Vmas.as_u8();
    assert_eq!(decode_begin(&m).err(), Some(ImageError::BadVersion));
    let mut m = msg.clone();
    m[3] = 1;
    assert_eq!(decode_begin(&m).err(), Some(ImageError::BadVersion));
    assert_eq!(msg_kind(&m), Err(ImageError::BadVersion));
    // The header's own version.
    let mut m = msg.clone();
    m[4] = 9;
    assert_eq!(decode_begin(&m).err(), Some(ImageError::BadVersion));
    // Oversize xstate announced (bytes 4+58..4+62 are xstate_len).
    let mut m = msg.clone();
    m[62..66].copy_from_slice(&(MAX_XSTATE + 1).to_le_bytes());
    assert_eq!(decode_begin(&m).err(), Some(ImageError::TooLarge));
    // xstate_len larger than what is present, but within the bound.
    let mut m = msg.clone();
    m[62..66].copy_from_slice(&65u32.to_le_bytes());
    assert_eq!(decode_begin(&m).err(), Some(ImageError::Truncated));
    // An unknown cause (header bytes 62..64).
    let mut m = msg.clone();
    m[66..68].copy_from_slice(&(cause::MAX + 1).to_le_bytes());
    assert_eq!(decode_begin(&m).err(), Some(ImageError::BadVersion));
    // Cause, sender load and allowed nodes come through.
    let v = decode_begin(&msg).unwrap();
    assert_eq!((v.header.cause, v.header.sender_load, v.header.allowed), (cause::LOAD, 2500, 0b1010));
    // Too many areas or pages (header bytes 46..50 and 50..58).
    let mut m = msg.clone();
    m[50..54].copy_from_slice(&(MAX_VMAS + 1).to_le_bytes());
    assert_eq!(decode_begin(&m).err(), Some(ImageError::TooLarge));
    let mut m = msg;
    m[54..62].copy_from_slice(&(MAX_PAGES + 1).to_le_bytes());
    assert_eq!(decode_begin(&m).err(), Some(ImageError::TooLarge));
}

#[test]
fn vmas_round_trip_and_rejections() {
    let v = vmas();
    let msg = vmas_msg(7, &v);
    let view = decode_vmas(&msg).unwrap();
    assert_eq!(view.first, 7);
    assert_eq!(view.len(), v.len());
    assert!(!view.is_empty());
    for (i, a) in v.iter().enumerate() {
        assert_eq!(view.get(i), Some(*a));
    }
    assert_eq!(view.get(v.len()), None);
    assert_eq!(view.get(usize::MAX), None);
    assert_eq!(view.get(0).unwrap().name_bytes(), b"/usr/bin/hello");
    assert_eq!(decode(&msg), Ok(MigrateMsg::Vmas(view)));
    check_lengths(&msg, |b| decode_vmas(b).map(|_| ()));

    let mut out = vec![0u8; vmas_len(MAX_VMAS_PER_MSG + 1)];
    assert_eq!(encode_vmas(0, &[], &mut out), Err(ImageError::BadLength));
    let many: Vec<Vma> = (0..MAX_VMAS_PER_MSG as u64 + 1).map(|i| Vma::new(i * 4096, (i + 1) * 4096, 0, 0)).collect();
    assert_eq!(encode_vmas(0, &many, &mut out), Err(ImageError::TooLarge));
    assert_eq!(encode_vmas(0, &many[..MAX_VMAS_PER_MSG], &mut out), Ok(vmas_len(MAX_VMAS_PER_MSG)));
    assert_eq!(encode_vmas(MAX_VMAS - 1, &v[..2], &mut out), Err(ImageError::TooLarge));
    assert_eq!(encode_vmas(u32::MAX, &v[..1], &mut out), Err(ImageError::TooLarge));
    assert_eq!(encode_vmas(0, &v, &mut out[..vmas_len(v.len()) - 1]), Err(ImageError::Truncated));
    let unsorted = [v[1], v[0]];
    assert_eq!(encode_vmas(0, &unsorted, &mut out), Err(ImageError::BadVma));

    // Count fields.
    let mut m = msg.clone();
    m[8..12].copy_from_slice(&0u32.to_le_bytes());
    assert_eq!(decode_vmas(&m).err(), Some(ImageError::BadLength));
    let mut m = msg.clone();
    m[8..12].copy_from_slice(&(MAX_VMAS_PER_MSG as u32 + 1).to_le_bytes());
    assert_eq!(decode_vmas(&m).err(), Some(ImageError::TooLarge));
    let mut m = msg.clone();
    m[4..8].copy_from_slice(&(MAX_VMAS - 2).to_le_bytes());
    assert_eq!(decode_vmas(&m).err(), Some(ImageError::TooLarge));
    // An invalid area inside the message (unaligned start of the first).
    let mut m = msg.clone();
    m[VMAS_HEAD_LEN] = 1;
    assert_eq!(decode_vmas(&m).err(), Some(ImageError::BadVma));
    // Overlap: the third area starts inside the second.
    let mut m = msg.clone();
    let third = VMAS_HEAD_LEN + 2 * VMA_WIRE_LEN;
    m[third..third + 8].copy_from_slice(&0x60_3000u64.to_le_bytes());
    assert_eq!(decode_vmas(&m).err(), Some(ImageError::BadVma));
    // Unknown flag bit.
    let mut m = msg;
    m[VMAS_HEAD_LEN + 20..VMAS_HEAD_LEN + 24].copy_from_slice(&(1u32 << 31).to_le_bytes());
    assert_eq!(decode_vmas(&m).err(), Some(ImageError::BadVma));
}

#[test]
fn vma_validation() {
    assert_eq!(validate_vmas(&vmas()), Ok(()));
    assert_eq!(validate_vmas(&[]), Ok(()));
    let ok = Vma::new(0x1000, 0x3000, PROT_READ, 0);
    let bad = [
        Vma { start: 0x1001, ..ok },
        Vma { end: 0x2fff, ..ok },
        Vma { end: 0x1000, ..ok },
        Vma { start: 0x4000, ..ok },
        Vma::new(0x7fff_ffff_e000, 0x8000_0000_0000, 0, 0),
        Vma::new(0xffff_8880_0000_0000, 0xffff_8880_0000_1000, 0, 0),
        Vma::new(0xffff_ffff_ff60_0000, 0xffff_ffff_ff60_1000, PROT_READ | PROT_EXEC, 0),
        Vma { prot: 8, ..ok },
        Vma { flags: 1 << 9, ..ok },
    ];
    for b in bad {
        assert!(!b.is_valid(), "{b:?}");
        assert_eq!(validate_vmas(&[b]), Err(ImageError::BadVma), "{b:?}");
    }
    assert!(Vma::new(USER_END - 4096, USER_END, 0, VMA_KNOWN).is_valid());
    // Overlapping and unsorted lists.
    let a = Vma::new(0x1000, 0x3000, 0, 0);
    let b = Vma::new(0x2000, 0x4000, 0, 0);
    let c = Vma::new(0x5000, 0x6000, 0, 0);
    assert_eq!(validate_vmas(&[a, b]), Err(ImageError::BadVma));
    assert_eq!(validate_vmas(&[c, a]), Err(ImageError::BadVma));
    assert_eq!(validate_vmas(&[a, a]), Err(ImageError::BadVma));
    assert_eq!(validate_vmas(&[a, c]), Ok(()));
    // Bound on the number of areas.
    let list: Vec<Vma> = (0..u64::from(MAX_VMAS) + 1).map(|i| Vma::new(i * 8192, i * 8192 + 4096, 0, 0)).collect();
    assert_eq!(validate_vmas(&list[..MAX_VMAS as usize]), Ok(()));
    assert_eq!(validate_vmas(&list), Err(ImageError::TooLarge));
}

#[test]
fn vma_names() {
    let long = [b'x'; 100];
    let v = Vma::new(0, 4096, 0, 0).with_name(&long);
    assert_eq!(v.name_bytes().len(), 63);
    assert_eq!(v.name[63], 0);
    let v = v.with_name(b"[heap]");
    assert_eq!(v.name_bytes(), b"[heap]");
    assert!(v.name[6..].iter().all(|b| *b == 0));
    assert_eq!(Vma::from_bytes(&v.to_bytes()), v);
    assert_eq!(v.pages(), 1);
}

#[test]
fn batch_round_trip_and_rejections() {
    let h = PageBatchHeader { first_addr: 0x40_0000, count: MAX_BATCH_PAGES };
    let data = page_data(MAX_BATCH_PAGES, 9);
    let msg = batch_msg(&h, &data);
    assert_eq!(msg.len(), 16 + 32 * 4096);
    assert_eq!(parse_batch(&msg), Ok((h, &data[..])));
    assert_eq!(decode_batch(&msg, &vmas()), Ok((h, &data[..])));
    assert_eq!(decode(&msg), Ok(MigrateMsg::Pages(h, &data[..])));

    // Header and data written separately give the same bytes.
    let mut out = vec![0u8; batch_len(h.count)];
    assert_eq!(encode_batch_header(&h, &mut out), Ok(BATCH_HEAD_LEN));
    out[BATCH_HEAD_LEN..].copy_from_slice(&data);
    assert_eq!(out, msg);

    let small = PageBatchHeader { first_addr: 0x60_0000, count: 2 };
    let small_msg = batch_msg(&small, &page_data(2, 3));
    check_lengths(&small_msg, |b| parse_batch(b).map(|_| ()));
    check_lengths(&small_msg, |b| decode_batch(b, &vmas()).map(|_| ()));

    let mut out = vec![0u8; batch_len(MAX_BATCH_PAGES + 1)];
    let cases = [
        (PageBatchHeader { first_addr: 0x40_0000, count: 0 }, ImageError::BadBatch),
        (PageBatchHeader { first_addr: 0x40_0000, count: MAX_BATCH_PAGES + 1 }, ImageError::TooLarge),
        (PageBatchHeader { first_addr: 0x40_0800, count: 1 }, ImageError::BadBatch),
        (PageBatchHeader { first_addr: USER_END, count: 1 }, ImageError::BadBatch),
        (PageBatchHeader { first_addr: USER_END - 4096, count: 2 }, ImageError::BadBatch),
        (PageBatchHeader { first_addr: !0xfff, count: 32 }, ImageError::BadBatch),
    ];
    for (bad, e) in cases {
        assert_eq!(encode_batch_header(&bad, &mut out), Err(e), "{bad:?}");
        let d = vec![0u8; bad.data_len()];
        assert_eq!(encode_batch(&bad, &d, &mut out), Err(e), "{bad:?}");
        // The same header forced onto the wire.
        let mut m = small_msg.clone();
        m[4..12].copy_from_slice(&bad.first_addr.to_le_bytes());
        m[12..16].copy_from_slice(&bad.count.to_le_bytes());
        assert_eq!(parse_batch(&m).err(), Some(e), "{bad:?}");
    }
    assert_eq!(encode_batch(&small, &page_data(1, 0), &mut out), Err(ImageError::BadLength));
    assert_eq!(encode_batch(&small, &page_data(2, 0), &mut out[..batch_len(2) - 1]), Err(ImageError::Truncated));
    assert_eq!(encode_batch_header(&small, &mut out[..BATCH_HEAD_LEN - 1]), Err(ImageError::Truncated));

    // Outside every area.
    let outside = PageBatchHeader { first_addr: 0x50_0000, count: 1 };
    let m = batch_msg(&outside, &page_data(1, 0));
    assert!(parse_batch(&m).is_ok());
    assert_eq!(decode_batch(&m, &vmas()).err(), Some(ImageError::BadBatch));
    assert_eq!(decode_batch(&m, &[]).err(), Some(ImageError::BadBatch));
}

#[test]
fn batches_against_areas() {
    let v = vmas();
    let inside = |first_addr: u64, count: u32| batch_in_vmas(&PageBatchHeader { first_addr, count }, &v);
    assert!(inside(0x40_0000, 1));
    assert!(inside(0x40_0000, 32));
    assert!(inside(0x40_0000 + MB - 4096, 1));
    assert!(!inside(0x40_0000 + MB - 4096, 2)); // runs past the end
    assert!(!inside(0x40_0000 + MB, 1)); // in the gap
    assert!(!inside(0x3f_f000, 2)); // starts before the first area
    assert!(!inside(0x1000, 1));
    assert!(inside(0x60_0000, 4));
    assert!(!inside(0x60_2000, 4)); // spans two adjacent areas
    assert!(inside(0x60_4000, 4));
    assert!(inside(0x7ffd_0001_f000, 1));
    assert!(!inside(0x7ffd_0010_0000, 1)); // the vDSO carries no pages
    assert!(!inside(0x7fff_0000_0000, 1)); // after the last area
    assert!(!inside(0x40_0000, 0));
    assert!(!inside(0x40_0800, 1));
    assert!(!batch_in_vmas(&PageBatchHeader { first_addr: 0x40_0000, count: 1 }, &[]));
    for flag in [VMA_IO, VMA_VDSO, VMA_VVAR] {
        let one = [Vma::new(0x1000, 0x9000, PROT_READ, flag)];
        assert!(!batch_in_vmas(&PageBatchHeader { first_addr: 0x1000, count: 1 }, &one));
    }
}

#[test]
fn small_messages() {
    let m = commit_msg(123, 0xfeed_f00d_dead_beef);
    assert_eq!(decode_commit(&m), Ok((123, 0xfeed_f00d_dead_beef)));
    assert_eq!(decode(&m), Ok(MigrateMsg::Commit { nr_pages: 123, checksum: 0xfeed_f00d_dead_beef }));
    check_lengths(&m, |b| decode_commit(b).map(|_| ()));

    let m = accept_msg(31337);
    assert_eq!(decode_accept(&m), Ok(31337));
    assert_eq!(decode(&m), Ok(MigrateMsg::Accept { remote_pid: 31337 }));
    check_lengths(&m, |b| decode_accept(b).map(|_| ()));

    for r in RefuseReason::ALL {
        let m = refuse_msg(r);
        assert_eq!(decode_refuse(&m), Ok(r));
        assert_eq!(decode(&m), Ok(MigrateMsg::Refuse { reason: r }));
        check_lengths(&m, |b| decode_refuse(b).map(|_| ()));
    }
    let mut m = refuse_msg(RefuseReason::Busy);
    m[4..6].copy_from_slice(&99u16.to_le_bytes());
    assert_eq!(decode_refuse(&m), Err(ImageError::BadVersion));

    let m = abort_msg();
    assert_eq!(decode_abort(&m), Ok(()));
    assert_eq!(decode(&m), Ok(MigrateMsg::Abort));
    check_lengths(&m, |b| decode_abort(b).map(|_| ()));

    for (len, f) in [
        (COMMIT_LEN, encode_commit(1, 2, &mut [0u8; COMMIT_LEN - 1])),
        (ACCEPT_LEN, encode_accept(1, &mut [0u8; ACCEPT_LEN - 1])),
        (REFUSE_LEN, encode_refuse(RefuseReason::Busy, &mut [0u8; REFUSE_LEN - 1])),
        (ABORT_LEN, encode_abort(&mut [0u8; ABORT_LEN - 1])),
    ] {
        assert_eq!(f, Err(ImageError::Truncated), "{len}");
    }
}

#[test]
fn kinds_and_dispatch() {
    let all = every_message();
    let kinds = [
        MsgKind::Begin,
        MsgKind::Vmas,
        MsgKind::Pages,
        MsgKind::Commit,
        MsgKind::Accept,
        MsgKind::Refuse,
        MsgKind::Abort,
    ];
    for (m, k) in all.iter().zip(kinds) {
        assert_eq!(msg_kind(m), Ok(k));
        assert_eq!(decode(m).map(|d| d.kind()), Ok(k));
        assert_eq!(MsgKind::from_u8(k.as_u8()), Some(k));
    }
    for v in 0..=255u8 {
        assert_eq!(MsgKind::from_u8(v).is_some(), (1..=7).contains(&v));
    }
    // Each specific decoder refuses every other kind.
    type Dec = fn(&[u8]) -> bool;
    let decoders: [(MsgKind, Dec); 7] = [
        (MsgKind::Begin, |b| decode_begin(b) == Err(ImageError::BadVersion)),
        (MsgKind::Vmas, |b| decode_vmas(b) == Err(ImageError::BadVersion)),
        (MsgKind::Pages, |b| parse_batch(b) == Err(ImageError::BadVersion)),
        (MsgKind::Commit, |b| decode_commit(b) == Err(ImageError::BadVersion)),
        (MsgKind::Accept, |b| decode_accept(b) == Err(ImageError::BadVersion)),
        (MsgKind::Refuse, |b| decode_refuse(b) == Err(ImageError::BadVersion)),
        (MsgKind::Abort, |b| decode_abort(b) == Err(ImageError::BadVersion)),
    ];
    for m in &all {
        for (k, refuses) in &decoders {
            if msg_kind(m) != Ok(*k) {
                assert!(refuses(m), "{k:?} decoder took a {:?}", msg_kind(m));
            }
        }
    }
    let mut m = abort_msg();
    m[2] = 8;
    assert_eq!(msg_kind(&m), Err(ImageError::BadVersion));
    assert_eq!(decode(&m), Err(ImageError::BadVersion));
    assert_eq!(msg_kind(&[]), Err(ImageError::Truncated));
    assert_eq!(msg_kind(&[1, 0, 7]), Err(ImageError::Truncated));
}

#[test]
fn reasons_and_errors() {
    for (i, r) in RefuseReason::ALL.iter().enumerate() {
        assert_eq!(usize::from(r.code()), i + 1);
        assert_eq!(RefuseReason::from_code(r.code()), Some(*r));
        assert!(r.errno() > 0);
        assert!(!r.reason().is_empty());
    }
    assert_eq!(RefuseReason::from_code(0), None);
    assert_eq!(RefuseReason::from_code(8), None);
    assert_eq!(RefuseReason::NotLighter.errno(), 11);
    assert_eq!(RefuseReason::NoMemory.errno(), 12);
    assert_eq!(RefuseReason::Busy.errno(), 16);
    assert_eq!(ImageError::BadVersion.refuse_reason(), RefuseReason::Version);
    assert_eq!(ImageError::BadVma.refuse_reason(), RefuseReason::BadImage);
    assert_eq!(ImageError::TooLarge.name(), "too_large");
}

#[test]
fn checksum_streaming_equals_one_shot() {
    let data: Vec<u8> = (0..200u32).map(|i| (i * 37 + 11) as u8).collect();
    let whole = checksum(&data);
    for a in 0..=data.len() {
        for b in (a..=data.len()).step_by(7) {
            let mut c = Checksum::new();
            c.update(&data[..a]);
            c.update(&data[a..b]);
            c.update(&data[b..]);
            assert_eq!(c.finish(), whole, "split {a} {b}");
        }
    }
    // Byte by byte.
    let mut c = Checksum::default();
    for byte in &data {
        c.update(std::slice::from_ref(byte));
    }
    assert_eq!(c.finish(), whole);
    // finish() does not consume: more can follow.
    let mut c = Checksum::new();
    c.update(&data[..50]);
    assert_eq!(c.finish(), checksum(&data[..50]));
    c.update(&data[50..]);
    assert_eq!(c.finish(), whole);
}

#[test]
fn checksum_sees_changes() {
    let mut data = page_data(1, 5);
    data.extend_from_slice(&page_data(1, 6));
    let base = checksum(&data);
    for at in [0usize, 7, 8, 4095, 4096, 8191] {
        for bit in [0u8, 3, 7] {
            let mut d = data.clone();
            d[at] ^= 1 << bit;
            assert_ne!(checksum(&d), base, "byte {at} bit {bit}");
        }
    }
    // Trailing zeros and length matter; swapped pages differ.
    assert_ne!(checksum(&[]), checksum(&[0]));
    assert_ne!(checksum(&[0; 8]), checksum(&[0; 16]));
    assert_ne!(checksum(&[1, 0]), checksum(&[1]));
    let mut swapped = data[4096..].to_vec();
    swapped.extend_from_slice(&data[..4096]);
    assert_ne!(checksum(&swapped), base);
    // add_batch covers the address too.
    let h1 = PageBatchHeader { first_addr: 0x1000, count: 2 };
    let h2 = PageBatchHeader { first_addr: 0x3000, count: 2 };
    let (mut a, mut b) = (Checksum::new(), Checksum::new());
    a.add_batch(&h1, &data);
    b.add_batch(&h2, &data);
    assert_ne!(a.finish(), b.finish());
    let mut flat = Vec::new();
    flat.extend_from_slice(&0x1000u64.to_le_bytes());
    flat.extend_from_slice(&2u64.to_le_bytes());
    flat.extend_from_slice(&data);
    assert_eq!(a.finish(), checksum(&flat));
}

/// Sends an image through [`Progress`] the way a destination would.
#[test]
fn progress_through_a_whole_image() {
    let v = vmas();
    let batches = [
        (PageBatchHeader { first_addr: 0x40_0000, count: 32 }, page_data(32, 1)),
        (PageBatchHeader { first_addr: 0x60_0000, count: 4 }, page_data(4, 2)),
        (PageBatchHeader { first_addr: 0x7ffd_0001_e000, count: 2 }, page_data(2, 3)),
    ];
    let nr_pages = 38;
    let mut sender = Checksum::new();
    for (h, d) in &batches {
        sender.add_batch(h, d);
    }
    let begin = {
        let h = header(v.len() as u32, nr_pages, 0);
        let mut out = vec![0u8; begin_len(0)];
        encode_begin(&h, &user_regs(), &mm(), &sig(), &[], &mut out).unwrap();
        out
    };
    let mut msgs = vec![begin, vmas_msg(0, &v[..2]), vmas_msg(2, &v[2..])];
    for (h, d) in &batches {
        msgs.push(batch_msg(h, d));
    }
    msgs.push(commit_msg(nr_pages, sender.finish()));

    let mut p = Progress::new();
    let mut areas: Vec<Vma> = Vec::new();
    let mut committed = false;
    for m in &msgs {
        match decode(m).unwrap() {
            MigrateMsg::Begin(b) => {
                assert!(b.regs.user_mode_ok());
                p.begin(&b.header).unwrap();
            }
            MigrateMsg::Vmas(view) => {
                p.vmas(&view).unwrap();
                areas.extend((0..view.len()).map(|i| view.get(i).unwrap()));
            }
            MigrateMsg::Pages(h, d) => {
                assert!(batch_in_vmas(&h, &areas));
                p.pages(&h, d).unwrap();
            }
            MigrateMsg::Commit { nr_pages, checksum } => {
                p.commit(nr_pages, checksum).unwrap();
                committed = true;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(committed);
    assert_eq!(validate_vmas(&areas), Ok(()));
    assert_eq!(p.pages_received(), nr_pages);
    assert_eq!(p.checksum(), sender.finish());
    assert_eq!(p.commit(nr_pages, sender.finish() ^ 1), Err(ImageError::BadBatch));
    assert_eq!(p.commit(nr_pages - 1, sender.finish()), Err(ImageError::BadBatch));
}

#[test]
fn progress_rejects_out_of_order() {
    let v = vmas();
    let m1 = vmas_msg(0, &v[..2]);
    let m2 = vmas_msg(2, &v[2..]);
    let (view1, view2) = (decode_vmas(&m1).unwrap(), decode_vmas(&m2).unwrap());
    let b = PageBatchHeader { first_addr: 0x60_0000, count: 4 };
    let d = page_data(4, 0);

    // Nothing before Begin.
    let mut p = Progress::new();
    assert_eq!(p.vmas(&view1), Err(ImageError::BadVma));
    assert_eq!(p.pages(&b, &d), Err(ImageError::BadBatch));
    assert_eq!(p.commit(0, 0), Err(ImageError::BadBatch));
    assert!(!p.vmas_done());

    // Bad headers, a second Begin.
    assert_eq!(p.begin(&ImageHeader { version: 0, ..header(5, 4, 0) }), Err(ImageError::BadVersion));
    assert_eq!(p.begin(&header(MAX_VMAS + 1, 4, 0)), Err(ImageError::TooLarge));
    p.begin(&header(5, 4, 0)).unwrap();
    assert_eq!(p.begin(&header(5, 4, 0)), Err(ImageError::BadLength));

    // Areas out of order, pages before all areas.
    assert_eq!(p.vmas(&view2), Err(ImageError::BadVma));
    p.vmas(&view1).unwrap();
    assert_eq!(p.pages(&b, &d), Err(ImageError::BadBatch));
    assert_eq!(p.vmas(&view1), Err(ImageError::BadVma));
    p.vmas(&view2).unwrap();
    assert!(p.vmas_done());
    // More areas than announced.
    let extra = vmas_msg(5, &[Vma::new(0x7fff_0000_0000, 0x7fff_0000_1000, 0, 0)]);
    assert_eq!(p.vmas(&decode_vmas(&extra).unwrap()), Err(ImageError::TooLarge));

    // Commit with a count other than what came; more pages than announced.
    assert_eq!(p.commit(1, Checksum::new().finish()), Err(ImageError::BadBatch));
    assert_eq!(p.commit(0, 12345), Err(ImageError::BadBatch));
    p.pages(&b, &d).unwrap();
    assert_eq!(p.pages(&PageBatchHeader { first_addr: 0x40_0000, count: 1 }, &d[..4096]), Err(ImageError::TooLarge));
    let mut c = Checksum::new();
    c.add_batch(&b, &d);
    assert_eq!(p.commit(4, c.finish()), Ok(()));

    // Areas overlapping across two messages.
    let mut p = Progress::new();
    p.begin(&header(3, 0, 0)).unwrap();
    p.vmas(&decode_vmas(&vmas_msg(0, &v[..2])).unwrap()).unwrap();
    let overlapping = vmas_msg(2, &[Vma::new(0x60_2000, 0x60_8000, 0, 0)]);
    assert_eq!(p.vmas(&decode_vmas(&overlapping).unwrap()), Err(ImageError::BadVma));
}

fn arb_header() -> impl Strategy<Value = ImageHeader> {
    (any::<(u32, u32, u32, u32, u32, u32, u32)>(), any::<[u8; 16]>(), 0..=MAX_VMAS, 0..=MAX_PAGES).prop_map(
        |((home_node, pid, tgid, uid, gid, euid, egid), comm, nr_vmas, nr_pages)| ImageHeader {
            version: IMAGE_VERSION,
            home_node,
            pid,
            tgid,
            uid,
            gid,
            euid,
            egid,
            comm,
            nr_vmas,
            nr_pages,
            xstate_len: 0,
            cause: 0,
            sender_load: 0,
            allowed: 0,
        },
    )
}

fn arb_sig() -> impl Strategy<Value = SigState> {
    (any::<u64>(), prop::collection::vec(any::<(u64, u64, u64, u64)>(), NSIG), any::<(u64, u32, u64)>()).prop_map(
        |(blocked, acts, (sp, flags, size))| {
            let mut s = SigState { blocked, altstack: AltStack { sp, flags, size }, ..SigState::EMPTY };
            for (slot, (handler, flags, restorer, mask)) in s.actions.iter_mut().zip(acts) {
                *slot = SigAction { handler, flags, restorer, mask };
            }
            s
        },
    )
}

/// Sorted, non-overlapping, valid areas built from gaps and sizes in pages.
fn arb_vmas(max: usize) -> impl Strategy<Value = Vec<Vma>> {
    prop::collection::vec((0u64..1000, 1u64..1000, 0..=PROT_MASK, 0..=VMA_KNOWN, any::<u64>(), any::<[u8; 8]>()), 1..max)
        .prop_map(|specs| {
            let mut at = 0u64;
            specs
                .into_iter()
                .map(|(gap, len, prot, flags, pgoff, name)| {
                    let start = at + gap * 4096;
                    at = start + len * 4096;
                    let mut v = Vma::new(start, at, prot, flags).with_name(&name);
                    v.pgoff = pgoff;
                    v
                })
                .collect()
        })
}

proptest! {
    #[test]
    fn prop_begin_round_trip(
        h in arb_header(),
        r in any::<[u64; 27]>(),
        m in any::<[u64; 11]>(),
        s in arb_sig(),
        x in prop::collection::vec(any::<u8>(), 0..1024),
    ) {
        let h = ImageHeader { xstate_len: x.len() as u32, ..h };
        let (regs, mm) = (Regs::from_array(&r), MmLayout::from_array(&m));
        let mut out = vec![0u8; begin_len(x.len()) + 10];
        let n = encode_begin(&h, &regs, &mm, &s, &x, &mut out).unwrap();
        prop_assert_eq!(n, begin_len(x.len()));
        let v = decode_begin(&out[..n]).unwrap();
        prop_assert_eq!(v.header, h);
        prop_assert_eq!(v.regs, regs);
        prop_assert_eq!(v.mm, mm);
        prop_assert_eq!(v.sig_state(), s);
        prop_assert_eq!(v.xstate, &x[..]);
    }

    #[test]
    fn prop_vmas_round_trip(v in arb_vmas(200), first in 0u32..60000) {
        prop_assert_eq!(validate_vmas(&v), Ok(()));
        let msg = vmas_msg(first, &v);
        let view = decode_vmas(&msg).unwrap();
        prop_assert_eq!(view.first, first);
        let back: Vec<Vma> = (0..view.len()).map(|i| view.get(i).unwrap()).collect();
        prop_assert_eq!(back, v);
    }

    #[test]
    fn prop_batch_round_trip(page in 0u64..(MAX_PAGES - 64), count in 1..=MAX_BATCH_PAGES, seed in any::<u8>()) {
        let h = PageBatchHeader { first_addr: page * 4096, count };
        let d = page_data(count, seed);
        let msg = batch_msg(&h, &d);
        prop_assert_eq!(parse_batch(&msg), Ok((h, &d[..])));
        let area = [Vma::new(h.first_addr, h.end(), PROT_READ, 0)];
        prop_assert_eq!(decode_batch(&msg, &area), Ok((h, &d[..])));
    }

    #[test]
    fn prop_small_round_trips(n in any::<u64>(), c in any::<u64>(), pid in any::<u32>(), r in 0usize..6) {
        prop_assert_eq!(decode_commit(&commit_msg(n, c)), Ok((n, c)));
        prop_assert_eq!(decode_accept(&accept_msg(pid)), Ok(pid));
        let reason = RefuseReason::ALL[r];
        prop_assert_eq!(decode_refuse(&refuse_msg(reason)), Ok(reason));
    }

    #[test]
    fn prop_checksum_any_split(data in prop::collection::vec(any::<u8>(), 0..600), cuts in prop::collection::vec(0usize..600, 0..8)) {
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(data.len())).collect();
        cuts.sort_unstable();
        let mut c = Checksum::new();
        let mut last = 0;
        for cut in cuts {
            c.update(&data[last..cut]);
            last = cut;
        }
        c.update(&data[last..]);
        prop_assert_eq!(c.finish(), checksum(&data));
    }

    #[test]
    fn prop_decoders_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..3000)) {
        let _ = decode(&bytes);
        let _ = msg_kind(&bytes);
        let _ = decode_begin(&bytes);
        let _ = decode_vmas(&bytes);
        let _ = parse_batch(&bytes);
        let _ = decode_batch(&bytes, &vmas());
        let _ = decode_commit(&bytes);
        let _ = decode_accept(&bytes);
        let _ = decode_refuse(&bytes);
        let _ = decode_abort(&bytes);
        let _ = SigState::decode(&bytes);
    }

    #[test]
    fn prop_mutated_messages_never_panic(which in 0usize..7, at in any::<prop::sample::Index>(), val in any::<u8>(), cut in any::<prop::sample::Index>()) {
        let mut m = every_message().swap_remove(which);
        let i = at.index(m.len());
        m[i] = val;
        let len = cut.index(m.len() + 1);
        if let Ok(msg) = decode(&m[..len]) {
            // Whatever decodes, decodes consistently.
            prop_assert_eq!(Ok(msg.kind()), msg_kind(&m[..len]));
            if let MigrateMsg::Vmas(view) = msg {
                let list: Vec<Vma> = (0..view.len()).map(|k| view.get(k).unwrap()).collect();
                prop_assert_eq!(validate_vmas(&list), Ok(()));
            }
        }
    }
}
