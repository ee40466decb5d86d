//! Property tests: round trips of arbitrary values, and decoders that
//! never panic on arbitrary or mutated bytes.

use super::*;

fn arb_header() -> impl Strategy<Value = ImageHeader> {
    (any::<(u32, u32, u32, u32, u32, u32, u32)>(), any::<[u8; 16]>(), 0..=MAX_VMAS, 0..=MAX_PAGES, any::<(u64, u64, u64)>()).prop_map(
        |((home_node, pid, tgid, uid, gid, euid, egid), comm, nr_vmas, nr_pages, (mono_ns, boot_ns, token))| ImageHeader {
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
            mono_ns,
            boot_ns,
            token,
            ctx: Context::default(),
        },
    )
}

fn arb_sig() -> impl Strategy<Value = SigState> {
    (any::<u64>(), prop::collection::vec(any::<(u64, u64, u64, u64)>(), NSIG), any::<(u64, u32, u64)>(), any::<Option<u64>>()).prop_map(
        |(blocked, acts, (sp, flags, size), saved)| {
            let mut s = SigState { blocked, altstack: AltStack { sp, flags, size }, saved, ..SigState::EMPTY };
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
