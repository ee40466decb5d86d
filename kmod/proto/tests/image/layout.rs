//! Sizes of every part and message, and the register layout
//! (`struct user_regs_struct`) with its user-mode check.

use super::*;

#[test]
fn sizes_and_layouts() {
    assert_eq!(Regs::SIZE, 216);
    assert_eq!(MmLayout::SIZE, 88);
    assert_eq!(SigState::SIZE, 8 + 64 * 32 + 20 + 9);
    assert_eq!(HEADER_LEN, 100 + 2 * 256);
    assert_eq!(BEGIN_FIXED_LEN, 4 + 612 + 216 + 88 + 2085);
    assert!(timers_len(MAX_TIMERS) <= roam_proto::wire::MAX_PAYLOAD);
    assert_eq!(VMA_WIRE_LEN, 96);
    assert_eq!(SIGINFO_LEN, 48);
    assert_eq!(PENDING_LEN, 56);
    assert_eq!(SIGNALS_HEAD_LEN, 8);
    assert!(signals_len(MAX_PENDING) <= roam_proto::wire::MAX_PAYLOAD);
    assert_eq!(BATCH_HEAD_LEN, 16);
    assert_eq!(PAGE_SIZE, 4096);
    assert_eq!(MAX_BATCH_PAGES, 32);
    assert!(batch_len(MAX_BATCH_PAGES) <= roam_proto::wire::MAX_PAYLOAD);
    assert!(begin_len(MAX_XSTATE as usize) <= roam_proto::wire::MAX_PAYLOAD);
    // The XSAVE area of a CPU with AMX (Sapphire Rapids: 11008 bytes).
    assert!(MAX_XSTATE >= 11008);
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
