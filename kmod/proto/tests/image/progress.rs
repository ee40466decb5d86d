//! `Progress`, the destination's sequencing of an arriving image.

use super::*;

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
    let files = {
        let mut out = vec![0u8; files_max_len()];
        let n = encode_files(&[], &mut out).unwrap();
        out.truncate(n);
        out
    };
    let mut msgs = vec![begin, files, signals_msg(&pending()), timers_msg(&timer_state()), creds_msg(&creds(), &GROUPS), vmas_msg(0, &v[..2]), vmas_msg(2, &v[2..])];
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
            MigrateMsg::Files(f) => {
                assert!(f.is_empty());
                p.files().unwrap();
            }
            MigrateMsg::Signals(s) => {
                assert_eq!(s.len(), pending().len());
                p.signals().unwrap();
            }
            MigrateMsg::Timers(t) => {
                assert_eq!(t.state(), Ok(timer_state()));
                p.timers().unwrap();
            }
            MigrateMsg::Creds(c) => {
                assert_eq!(c.creds, creds());
                assert_eq!(c.groups().collect::<Vec<_>>(), GROUPS);
                p.creds().unwrap();
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
    assert_eq!(p.signals(), Err(ImageError::BadLength));
    assert!(!p.vmas_done());

    // Bad headers, a second Begin.
    assert_eq!(p.begin(&ImageHeader { version: 0, ..header(5, 4, 0) }), Err(ImageError::BadVersion));
    assert_eq!(p.begin(&header(MAX_VMAS + 1, 4, 0)), Err(ImageError::TooLarge));
    p.begin(&header(5, 4, 0)).unwrap();
    assert_eq!(p.begin(&header(5, 4, 0)), Err(ImageError::BadLength));

    // The file offers, the signals, the timers, then the credentials
    // come before the areas, once each.
    assert_eq!(p.vmas(&view1), Err(ImageError::BadLength));
    assert_eq!(p.timers(), Err(ImageError::BadLength));
    assert_eq!(p.signals(), Err(ImageError::BadLength));
    p.files().unwrap();
    assert_eq!(p.files(), Err(ImageError::BadLength));
    p.signals().unwrap();
    assert_eq!(p.signals(), Err(ImageError::BadLength));
    assert_eq!(p.vmas(&view1), Err(ImageError::BadLength));
    assert_eq!(p.creds(), Err(ImageError::BadLength));
    p.timers().unwrap();
    assert_eq!(p.timers(), Err(ImageError::BadLength));
    assert_eq!(p.vmas(&view1), Err(ImageError::BadLength));
    p.creds().unwrap();
    assert_eq!(p.creds(), Err(ImageError::BadLength));

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
    p.files().unwrap();
    p.signals().unwrap();
    p.timers().unwrap();
    p.creds().unwrap();
    p.vmas(&decode_vmas(&vmas_msg(0, &v[..2])).unwrap()).unwrap();
    let overlapping = vmas_msg(2, &[Vma::new(0x60_2000, 0x60_8000, 0, 0)]);
    assert_eq!(p.vmas(&decode_vmas(&overlapping).unwrap()), Err(ImageError::BadVma));
}

/// An image without areas still needs its signals, timers and credentials before the
/// commit.
#[test]
fn progress_needs_the_signals() {
    let mut p = Progress::new();
    p.begin(&header(0, 0, 0)).unwrap();
    assert!(!p.vmas_done());
    assert_eq!(p.commit(0, Checksum::new().finish()), Err(ImageError::BadBatch));
    p.files().unwrap();
    assert!(!p.vmas_done());
    p.signals().unwrap();
    assert!(!p.vmas_done());
    assert_eq!(p.commit(0, Checksum::new().finish()), Err(ImageError::BadBatch));
    p.timers().unwrap();
    assert!(!p.vmas_done());
    p.creds().unwrap();
    assert!(p.vmas_done());
    assert_eq!(p.commit(0, Checksum::new().finish()), Ok(()));
}

fn retagged(mut m: Vec<u8>, from: MsgKind, to: MsgKind) -> Vec<u8> {
    retag(&mut m, from, to).unwrap();
    m
}

fn begin_with(h: &ImageHeader) -> Vec<u8> {
    let mut out = vec![0u8; begin_len(0)];
    encode_begin(h, &user_regs(), &mm(), &sig(), &[], &mut out).unwrap();
    out
}

/// A pre-copy image: the `Begin`'s areas and pages while the process
/// runs (a page sent twice), `Final` with new counts, then the ordinary
/// rest; only the final pages count towards the commit.
#[test]
fn progress_through_a_precopy() {
    let v = vmas();
    let first = header(v.len() as u32, 38, 0);
    let mut p = Progress::new();
    p.begin(&first).unwrap();
    // Nothing of pre-copy before Files.
    let pv = retagged(vmas_msg(0, &v), MsgKind::Vmas, MsgKind::PreVmas);
    let MigrateMsg::PreVmas(view) = decode(&pv).unwrap() else { panic!() };
    assert_eq!(p.pre_vmas(&view), Err(ImageError::BadLength));
    p.files().unwrap();
    // Pages before every pre-copy area came are refused.
    let b = PageBatchHeader { first_addr: 0x60_0000, count: 4 };
    assert_eq!(p.pre_pages(&b), Err(ImageError::BadBatch));
    let half = retagged(vmas_msg(0, &v[..2]), MsgKind::Vmas, MsgKind::PreVmas);
    let MigrateMsg::PreVmas(h1) = decode(&half).unwrap() else { panic!() };
    p.pre_vmas(&h1).unwrap();
    assert!(p.precopied());
    assert_eq!(p.pre_pages(&b), Err(ImageError::BadBatch));
    // Final before the rest of the areas: refused.
    assert_eq!(p.finish_precopy(&first, &first), Err(ImageError::BadLength));
    // A run that does not follow on is refused; the right one is taken.
    assert_eq!(p.pre_vmas(&h1), Err(ImageError::BadVma));
    let rest = retagged(vmas_msg(2, &v[2..]), MsgKind::Vmas, MsgKind::PreVmas);
    let MigrateMsg::PreVmas(h2) = decode(&rest).unwrap() else { panic!() };
    p.pre_vmas(&h2).unwrap();
    for _ in 0..2 {
        p.pre_pages(&b).unwrap();
    }
    // Signals cannot come before Final once pre-copy began.
    assert_eq!(p.signals(), Err(ImageError::BadLength));
    // Final must name the same process, user and token.
    let mut other = header(v.len() as u32, 6, 0);
    other.token ^= 1;
    assert_eq!(p.finish_precopy(&other, &first), Err(ImageError::BadCreds));
    let mut other = header(v.len() as u32, 6, 0);
    other.uid += 1;
    assert_eq!(p.finish_precopy(&other, &first), Err(ImageError::BadCreds));
    let fin = header(v.len() as u32, 6, 0);
    let fm = retagged(begin_with(&fin), MsgKind::Begin, MsgKind::Final);
    let MigrateMsg::Final(f) = decode(&fm).unwrap() else { panic!() };
    p.finish_precopy(&f.header, &first).unwrap();
    assert_eq!(p.finish_precopy(&f.header, &first), Err(ImageError::BadLength));
    assert_eq!(p.pre_pages(&b), Err(ImageError::BadBatch));
    assert_eq!(p.pre_vmas(&h1), Err(ImageError::BadLength));
    p.signals().unwrap();
    p.timers().unwrap();
    p.creds().unwrap();
    p.vmas(&decode_vmas(&vmas_msg(0, &v)).unwrap()).unwrap();
    let d = page_data(4, 9);
    p.pages(&b, &d).unwrap();
    let mut sum = Checksum::new();
    sum.add_batch(&b, &d);
    // The final header allows 6 pages: 4 more is past it.
    let b4 = PageBatchHeader { first_addr: 0x60_0000, count: 4 };
    assert_eq!(p.pages(&b4, &d), Err(ImageError::TooLarge));
    p.commit(4, sum.finish()).unwrap();
}

/// Pre-copy pages are bounded by `MAX_PRE_FACTOR` times the `Begin`'s.
#[test]
fn precopy_pages_are_bounded() {
    let v = vmas();
    let first = header(v.len() as u32, 4, 0);
    let mut p = Progress::new();
    p.begin(&first).unwrap();
    p.files().unwrap();
    p.pre_vmas(&decode_vmas(&vmas_msg(0, &v)).unwrap()).unwrap();
    let b = PageBatchHeader { first_addr: 0x60_0000, count: 4 };
    for _ in 0..MAX_PRE_FACTOR {
        p.pre_pages(&b).unwrap();
    }
    assert_eq!(p.pre_pages(&b), Err(ImageError::TooLarge));
}
