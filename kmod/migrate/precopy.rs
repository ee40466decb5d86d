// SPDX-License-Identifier: GPL-2.0

//! Pre-copy: a migration whose pages go while the process runs, so that
//! it is stopped only for what it wrote during the last round.
//!
//! The requester drives it (`requests.rs`). Each step is a slice of the
//! process's own time, run in its task_work like every capture: the
//! first ([`Mover::precopy_start`]) sends `Begin`, the file offers and
//! the areas as they are (`PreVmas`) and marks every page clean (the
//! kernel's soft-dirty bits, `sys::softdirty`); each later one
//! ([`Mover::precopy_slice`]) sends pages (`PrePages`) for about
//! [`SLICE_MS`], and at the end of a round reads which pages were
//! written since the round began, marks them clean again and makes them
//! the next round. Between slices the process runs. Reading the bits and
//! clearing them happen in one slice, with the process stopped, so no
//! write falls between the two. When a round is small enough, no longer
//! shrinks, or the rounds or time run out, the last slice is an ordinary
//! move ([`Mover::move_current_with`]) that sends the stopped process's
//! state and only the pages written since the last mark: [`FinalPlan`].
//!
//! The destination builds the process's memory from the pre-copy rounds
//! and keeps an area whose bounds, protection, kind and offset did not
//! change (`VMA_KEEP`); an area that changed is mapped afresh and sent
//! whole. A page the destination holds non-zero that the process no
//! longer has (`MADV_DONTNEED`: neither present nor swapped) is sent
//! again too, as zeros.
//!
//! Owns [`Precopy`] and [`FinalPlan`]. Calls `outgoing.rs` (capture,
//! head), `pagesend.rs` and `sys::softdirty`.

use super::events::Cause;
use super::outgoing::Outgoing;
use super::pagesend::{Bits, PageSender, Want};
use super::{has_pages, Mover};
use crate::abi::refusal;
use crate::image::{self, MsgKind, Vma};
use crate::sys::softdirty::{Tracker, PM_PRESENT, PM_SOFT_DIRTY, PM_SWAP};
use crate::sys::time;
use crate::sys::umem::MmRef;
use kernel::{prelude::*, sync::Arc};

/// Time a slice sends for before the process runs again.
pub(super) const SLICE_MS: u64 = 20;
/// A round this small (pages) is left for the stop: 1 MiB.
const STOP_PAGES: u64 = 256;
/// Rounds at most, the first (every page) included.
pub(super) const MAX_ROUNDS: u32 = 8;
/// Time pre-copy may take before the rest is sent with the process
/// stopped (the destination's stub waits 140 s in all).
const MAX_MS: u64 = 60_000;

/// What a slice leaves to do.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Step {
    /// More to send: run the process, then another slice.
    More,
    /// Stop the process and move it, with this reason.
    Stop(StopWhy),
}

/// Why pre-copy ended.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum StopWhy {
    /// The last round was small.
    Converged,
    /// Rounds stopped shrinking: it writes as fast as pages go.
    NotShrinking,
    /// [`MAX_ROUNDS`] or [`MAX_MS`] reached.
    Limit,
}

impl StopWhy {
    pub(super) const fn name(self) -> &'static str {
        match self {
            StopWhy::Converged => "converged",
            StopWhy::NotShrinking => "writes as fast as pages go",
            StopWhy::Limit => "rounds or time ran out",
        }
    }
}

/// A pre-copy in progress (between slices, held by its requester).
pub(super) struct Precopy {
    pub(super) out: Arc<Outgoing>,
    token: u64,
    tracker: Tracker,
    /// The address space tracked: an `execve` replaces it, and the
    /// rounds mean nothing for the new one.
    mm: MmRef,
    /// The areas as sent in `PreVmas`, and which the destination maps
    /// from its own files (by index).
    vmas: KVec<Vma>,
    taken: KVec<u32>,
    /// Per area: pages the destination holds non-zero; pages of the
    /// round in progress (`None`: every page, the first round).
    sent: KVec<Bits>,
    todo: KVec<Option<Bits>>,
    /// The round's next page: area index, page index.
    at: (usize, u64),
    /// Rounds begun, and each finished round's size (pages marked).
    pub(super) rounds: u32,
    sizes: KVec<u64>,
    /// Pages sent so far, and when pre-copy began.
    pub(super) pages: u64,
    t0_ms: u64,
}

impl Precopy {
    pub(super) fn token(&self) -> u64 {
        self.token
    }

    /// `CANT_MOVE` if the process ran a new program since pre-copy began.
    fn same_program(&self) -> core::result::Result<(), u32> {
        if self.mm.is_current() {
            return Ok(());
        }
        pr_info!("pid {}: it ran a new program during pre-copy: not moved\n", crate::sys::uctx::ids().1);
        Err(refusal::CANT_MOVE)
    }

    /// Each finished round's size in pages (the last: what the stop
    /// sends of the areas kept).
    pub(super) fn sizes(&self) -> &[u64] {
        &self.sizes
    }

    /// Whether the rounds copy area `j`'s pages (it has pages, and the
    /// destination does not map it from its own file).
    fn tracked(&self, j: usize) -> bool {
        has_pages(&self.vmas[j]) && !self.taken.contains(&(j as u32))
    }

    /// For each area of `which` (indices), its pages to send again and how
    /// many: written since the last mark (an untouched page of an
    /// anonymous area that is new since, and so marked, reads zero on
    /// both sides), or held non-zero by the destination and gone here.
    /// One pass over `pagemap` for them all.
    fn marked(&self, which: &[usize]) -> core::result::Result<KVec<(Bits, u64)>, u32> {
        let nomem = |_| refusal::CAPTURE;
        let mut out = KVec::with_capacity(which.len(), GFP_KERNEL).map_err(nomem)?;
        let mut ranges = KVec::with_capacity(which.len(), GFP_KERNEL).map_err(nomem)?;
        for &j in which {
            let v = &self.vmas[j];
            out.push((Bits::new(v.pages()).map_err(|_| refusal::CAPTURE)?, 0), GFP_KERNEL).map_err(nomem)?;
            ranges.push((v.start, v.end), GFP_KERNEL).map_err(nomem)?;
        }
        self.tracker
            .scan(&ranges, |k, addr, e| {
                let j = which[k];
                let v = &self.vmas[j];
                let p = (addr - v.start) / super::PAGE;
                // Not there (neither present nor swapped): zero in an
                // anonymous area, the file's bytes in a file's.
                let there = e & (PM_PRESENT | PM_SWAP) != 0;
                let gone = !there && self.sent[j].get(p);
                if (e & PM_SOFT_DIRTY != 0 && (there || v.flags & image::VMA_FILE != 0)) || gone {
                    out[k].0.set(p, true);
                    out[k].1 += 1;
                }
            })
            .map_err(|_| refusal::CAPTURE)?;
        Ok(out)
    }

    /// What to send of the current process's final areas `vmas`: each
    /// unchanged area of the pre-copy (and not written, if the
    /// destination maps it from a file) is kept there (`VMA_KEEP`), with
    /// only its marked pages sent; every other area is sent whole.
    pub(super) fn plan(&mut self, vmas: &[Vma]) -> core::result::Result<FinalPlan, u32> {
        self.same_program()?;
        let nomem = |_| refusal::CAPTURE;
        // The pre-copy area each final area is, if unchanged; their marks.
        let mut same = KVec::with_capacity(vmas.len(), GFP_KERNEL).map_err(nomem)?;
        let mut which = KVec::new();
        for a in vmas.iter() {
            let j = self.vmas.iter().position(|p| p.same_area(a)).filter(|_| has_pages(a));
            if let Some(j) = j {
                which.push(j, GFP_KERNEL).map_err(nomem)?;
            }
            same.push(j, GFP_KERNEL).map_err(nomem)?;
        }
        let mut marks = self.marked(&which)?.into_iter();
        let mut out = FinalPlan { vmas: KVec::new(), from_file: KVec::new(), send: KVec::new() };
        for (a, j) in vmas.iter().zip(same.iter()) {
            let mut a = *a;
            let mut send = None;
            let mut file = false;
            if let Some(j) = *j {
                let (marked, n) = marks.next().ok_or(refusal::CAPTURE)?;
                let taken = self.taken.contains(&(j as u32));
                // A file-mapped area written since is sent whole instead.
                if !taken || n == 0 {
                    a.flags |= image::VMA_KEEP;
                    file = taken;
                    let sent = core::mem::replace(&mut self.sent[j], Bits::new(0).map_err(|_| refusal::CAPTURE)?);
                    send = Some((marked, sent));
                }
            }
            out.vmas.push(a, GFP_KERNEL).map_err(nomem)?;
            out.from_file.push(file, GFP_KERNEL).map_err(nomem)?;
            out.send.push(send, GFP_KERNEL).map_err(nomem)?;
        }
        Ok(out)
    }
}

/// The final image's areas and which of their pages go.
pub(super) struct FinalPlan {
    pub(super) vmas: KVec<Vma>,
    from_file: KVec<bool>,
    /// Per area kept from pre-copy: the pages marked since the last
    /// round, and those the destination holds non-zero.
    send: KVec<Option<(Bits, Bits)>>,
}

impl FinalPlan {
    /// Without pre-copy: every area, but those the destination maps from
    /// its files (`skip`, indices), sent whole.
    pub(super) fn plain(vmas: &[Vma], skip: KVec<u32>) -> core::result::Result<FinalPlan, u32> {
        let mut p = FinalPlan { vmas: KVec::new(), from_file: KVec::new(), send: KVec::new() };
        for (i, v) in vmas.iter().enumerate() {
            p.vmas.push(*v, GFP_KERNEL).map_err(|_| refusal::CAPTURE)?;
            p.from_file.push(skip.contains(&(i as u32)), GFP_KERNEL).map_err(|_| refusal::CAPTURE)?;
            p.send.push(None, GFP_KERNEL).map_err(|_| refusal::CAPTURE)?;
        }
        Ok(p)
    }

    /// Whether the destination maps area `i` from its own file.
    pub(super) fn from_file(&self, i: usize) -> bool {
        self.from_file.get(i).copied().unwrap_or(false)
    }

    /// Which pages of area `i` go.
    pub(super) fn wants(&self, i: usize) -> Wants<'_> {
        Wants(self.send.get(i).and_then(|s| s.as_ref()))
    }
}

/// [`FinalPlan::wants`] for one area.
pub(super) struct Wants<'a>(Option<&'a (Bits, Bits)>);

impl Wants<'_> {
    pub(super) fn want(&self, p: u64) -> Want {
        match self.0 {
            None => Want::IfNonZero,
            Some((marked, _)) if !marked.get(p) => Want::No,
            Some((_, sent)) if sent.get(p) => Want::Always,
            Some(_) => Want::IfNonZero,
        }
    }
}

impl Mover {
    /// The first slice, in the process's task_work: `Begin`, the file
    /// offers, the destination's Ready, the areas (`PreVmas`), and every
    /// page marked clean. Fails with a refusal code (the process is left
    /// as it was).
    pub(super) fn precopy_start(&self, dest: u32) -> core::result::Result<Precopy, u32> {
        let peer = self.cluster.peer(dest).ok_or(refusal::UNKNOWN_NODE)?;
        if !peer.up.load(core::sync::atomic::Ordering::Relaxed) {
            return Err(refusal::UNKNOWN_NODE);
        }
        // Without the soft-dirty files there is nothing to track with.
        let tracker = Tracker::open().map_err(|e| {
            pr_info!("pid {}: its pages cannot be tracked ({:?}): not moved with pre-copy\n", crate::sys::uctx::ids().1, e);
            refusal::CANT_MOVE
        })?;
        let ident = self.identity(None)?;
        let st = self.capture_state(&ident, Cause::Manual)?;
        let out = self.new_outgoing(dest)?;
        let r = self.precopy_begin(&out, st, tracker, ident.token);
        if r.is_err() {
            self.drop_outgoing(out.id);
            self.send_abort(dest, out.id);
        }
        r
    }

    fn precopy_begin(&self, out: &Arc<Outgoing>, st: super::outgoing::State, tracker: Tracker, token: u64) -> core::result::Result<Precopy, u32> {
        let mut buf = crate::sys::bytes::zeroed_kvv(Self::image_buf_len(st.xstate.len(), 0), GFP_KERNEL).map_err(|_| refusal::CAPTURE)?;
        let n = image::encode_begin(&st.header, &st.regs, &st.layout, &st.sig, &st.xstate, &mut buf).map_err(|_| refusal::CAPTURE)?;
        let taken = self.send_head(out, n, &st.vmas, &mut buf)?;
        for (i, chunk) in st.vmas.chunks(image::MAX_VMAS_PER_MSG).enumerate() {
            let n = image::encode_vmas((i * image::MAX_VMAS_PER_MSG) as u32, chunk, &mut buf).map_err(|_| refusal::CAPTURE)?;
            image::retag(&mut buf[..n], MsgKind::Vmas, MsgKind::PreVmas).map_err(|_| refusal::CAPTURE)?;
            self.send_image_msg(out.dest, out.id, &buf[..n]).map_err(|_| refusal::LINK)?;
        }
        let mut sent = KVec::new();
        let mut todo = KVec::new();
        for v in st.vmas.iter() {
            sent.push(Bits::new(v.pages()).map_err(|_| refusal::CAPTURE)?, GFP_KERNEL).map_err(|_| refusal::CAPTURE)?;
            todo.push(None, GFP_KERNEL).map_err(|_| refusal::CAPTURE)?;
        }
        tracker.clear().map_err(|_| refusal::CAPTURE)?;
        Ok(Precopy {
            out: out.clone(),
            token,
            tracker,
            mm: MmRef::current().map_err(|_| refusal::GONE)?,
            vmas: st.vmas,
            taken,
            sent,
            todo,
            at: (0, 0),
            rounds: 1,
            sizes: KVec::new(),
            pages: 0,
            t0_ms: time::now_ms(),
        })
    }

    /// A later slice, in the process's task_work: sends pages of the
    /// round for about [`SLICE_MS`]; at a round's end, decides whether
    /// to stop or marks the next round.
    pub(super) fn precopy_slice(&self, pc: &mut Precopy) -> core::result::Result<Step, u32> {
        if !self.peer_up(pc.out.dest) {
            return Err(refusal::LINK);
        }
        pc.same_program()?;
        let until = time::now_ns() + SLICE_MS * 1_000_000;
        let mut buf = crate::sys::bytes::zeroed_kvv(image::batch_len(image::MAX_BATCH_PAGES), GFP_KERNEL).map_err(|_| refusal::CAPTURE)?;
        let mut tx = PageSender::new(self, pc.out.dest, pc.out.id, MsgKind::PrePages, &mut buf)?;
        let r = loop {
            if pc.at.0 >= pc.vmas.len() {
                // The round is done: what was written since it began?
                let mut which = KVec::new();
                for j in (0..pc.vmas.len()).filter(|&j| pc.tracked(j)) {
                    which.push(j, GFP_KERNEL).map_err(|_| refusal::CAPTURE)?;
                }
                let mut found = pc.marked(&which)?.into_iter();
                let mut marks = KVec::with_capacity(pc.vmas.len(), GFP_KERNEL).map_err(|_| refusal::CAPTURE)?;
                let mut n = 0;
                for j in 0..pc.vmas.len() {
                    // (An untracked area's entry is never read: the loop
                    // below skips it.)
                    let b = if pc.tracked(j) {
                        let (b, k) = found.next().ok_or(refusal::CAPTURE)?;
                        n += k;
                        Some(b)
                    } else {
                        None
                    };
                    marks.push(b, GFP_KERNEL).map_err(|_| refusal::CAPTURE)?;
                }
                let prev = pc.sizes.last().copied();
                pc.sizes.push(n, GFP_KERNEL).map_err(|_| refusal::CAPTURE)?;
                // Left as marked (not cleared): the stop sends them.
                if n <= STOP_PAGES {
                    break Ok(Step::Stop(StopWhy::Converged));
                }
                if prev.is_some_and(|p| n * 10 > p * 9) {
                    break Ok(Step::Stop(StopWhy::NotShrinking));
                }
                if pc.rounds >= MAX_ROUNDS || time::now_ms() > pc.t0_ms + MAX_MS {
                    break Ok(Step::Stop(StopWhy::Limit));
                }
                pc.tracker.clear().map_err(|_| refusal::CAPTURE)?;
                pc.todo = marks;
                pc.rounds += 1;
                pc.at = (0, 0);
                continue;
            }
            let j = pc.at.0;
            let v = pc.vmas[j];
            if !pc.tracked(j) {
                pc.at = (j + 1, 0);
                continue;
            }
            let (todo, sent) = (&pc.todo[j], &mut pc.sent[j]);
            // (A page the destination holds non-zero goes even as zeros:
            // `PageSender::area` sees to that from `sent`.)
            let mut want = |p: u64| match todo {
                Some(b) if !b.get(p) => Want::No,
                _ => Want::IfNonZero,
            };
            let stop = tx.area(&v, pc.at.1, &mut want, Some(sent), until)?;
            if stop < v.pages() {
                pc.at.1 = stop;
                break Ok(Step::More);
            }
            pc.at = (j + 1, 0);
        };
        pc.pages += tx.pages;
        r
    }
}
