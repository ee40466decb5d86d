//! Valid migration images, built with the crate's own encoders: the
//! seeds of every image target. A [`Sample`] is one process's image in
//! its parts; [`Sample::messages`] encodes it as the source sends it.
//!
//! Calls only `roam_proto::image` (and `restore` for the xstate sizes).

use roam_proto::image::*;
use roam_proto::restore::XSTATE_MIN;

/// A whole image in its decoded parts.
#[derive(Clone)]
pub struct Sample {
    pub header: ImageHeader,
    pub regs: Regs,
    pub mm: MmLayout,
    pub sig: SigState,
    pub xstate: Vec<u8>,
    pub pending: Vec<PendingSignal>,
    pub timers: TimerState,
    pub creds: Creds,
    pub groups: Vec<u32>,
    pub vmas: Vec<Vma>,
    /// Page batches: address and page count (the data is a pattern).
    pub batches: Vec<(u64, u32)>,
}

/// An XSAVE area of `len` bytes (at least [`XSTATE_MIN`]) as the regset
/// gives it: FP, SSE and AVX in use, MXCSR valid, header clean.
pub fn xstate(len: usize) -> Vec<u8> {
    let mut x: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(7).wrapping_add(3)).collect();
    if len < XSTATE_MIN {
        return x;
    }
    x[0..2].copy_from_slice(&0x037fu16.to_le_bytes());
    x[24..28].copy_from_slice(&0x1f80u32.to_le_bytes());
    x[28..32].copy_from_slice(&0xffffu32.to_le_bytes());
    x[464..512].fill(0);
    x[464..472].copy_from_slice(&0x2e7u64.to_le_bytes());
    x[512..576].fill(0);
    x[512..520].copy_from_slice(&7u64.to_le_bytes());
    x
}

/// A POSIX timer.
fn timer(id: u32, clock: i32, notify: u32, signo: u32, remaining_ns: u64, flags: u32) -> PosixTimer {
    PosixTimer {
        id,
        clock,
        notify,
        signo,
        value: u64::from(id) << 8,
        remaining_ns,
        interval_ns: remaining_ns / 2,
        flags,
    }
}

impl Sample {
    /// A small process: a few areas and pages, some of everything else.
    /// `variant` picks among a handful of shapes (xstate size, how many
    /// signals and timers, sparse timer ids).
    pub fn new(variant: usize) -> Sample {
        const MB: u64 = 1 << 20;
        let vmas = vec![
            Vma::new(0x40_0000, 0x40_0000 + MB, PROT_READ | PROT_EXEC, VMA_FILE).with_name(b"/usr/bin/hello"),
            Vma::new(0x60_0000, 0x60_4000, PROT_READ | PROT_WRITE, VMA_HEAP).with_name(b"[heap]"),
            Vma::new(0x60_4000, 0x60_8000, PROT_READ, 0),
            Vma::new(0x7ffd_0000_0000, 0x7ffd_0002_0000, PROT_READ | PROT_WRITE, VMA_STACK | VMA_GROWSDOWN)
                .with_name(b"[stack]"),
            Vma::new(0x7ffd_0010_0000, 0x7ffd_0010_2000, PROT_READ | PROT_EXEC, VMA_VDSO).with_name(b"[vdso]"),
        ];
        let batches = match variant % 3 {
            0 => vec![(0x60_0000, 2), (0x7ffd_0001_f000, 1)],
            1 => vec![(0x40_0000, 1)],
            _ => vec![],
        };
        let mut sig = SigState::EMPTY;
        sig.blocked = 0x8000_0000_0001_0002;
        for (i, a) in sig.actions.iter_mut().enumerate() {
            let i = i as u64;
            if i.is_multiple_of(1 + variant as u64 % 4) {
                *a = SigAction { handler: 0x40_1000 + i, flags: 0x0400_0000 | i, restorer: 0x40_8000, mask: 1 << i };
            }
        }
        sig.altstack =
            AltStack { sp: 0x7f00_0010_0000, flags: if variant.is_multiple_of(2) { 0 } else { 2 }, size: 0x2000 };
        let pending = match variant % 4 {
            0 => vec![],
            1 => vec![PendingSignal::new(10, true, 0, 4240, 1000, 0), PendingSignal::new(34, false, -1, 4240, 1000, 9)],
            2 => (0..MAX_PENDING)
                .map(|i| PendingSignal::new(34 + (i % 30) as u32, i % 2 == 0, -1, 4240, 1000, i as u64))
                .collect(),
            _ => vec![PendingSignal::new(64, false, 0x80, 0, 0, u64::MAX)],
        };
        let mut timers = TimerState { taken_ns: 5_000_000_000, ..TimerState::default() };
        timers.cpu = CpuTimes { utime_ns: 1_000_000, stime_ns: 2_000_000, runtime_ns: 3_500_000 };
        timers.itimers[0] = ITimer { remaining_ns: 1_500_000_000, interval_ns: 1_000_000_000 };
        timers.itimers[2] = ITimer { remaining_ns: 20_000_000, interval_ns: 0 };
        let list: Vec<PosixTimer> = match variant % 3 {
            0 => vec![
                timer(0, 1, SIGEV_SIGNAL, 14, 2_000_000_000, 0),
                timer(1, 0, SIGEV_NONE, 0, 0, 0),
                timer(4, 2, SIGEV_THREAD_ID, 35, 10_000_000, TIMER_OWN_CPU_CLOCK),
            ],
            // As many timers as an image carries, with as many holes.
            1 => {
                (0..MAX_TIMERS as u32).map(|i| timer(i * 2 + 1, 1, SIGEV_SIGNAL, 40, u64::from(i) * 1000, 0)).collect()
            }
            _ => vec![],
        };
        for t in list {
            let _ = timers.push(t);
        }
        let creds = Creds {
            uid: 1000,
            euid: 1000,
            suid: 1000,
            fsuid: 1000,
            gid: 1000,
            egid: 1000,
            sgid: 1000,
            fsgid: 1000,
            securebits: 0,
            flags: CREDS_NO_NEW_PRIVS,
            cap_inheritable: 0,
            cap_permitted: 1 << 10,
            cap_effective: 1 << 10,
            cap_bset: CAP_VALID,
            cap_ambient: 0,
            rlimits: [Rlimit { cur: 1 << 20, max: u64::MAX }; NLIMITS],
            attrs: Attrs {
                nice: 5,
                policy: 3 | SCHED_RESET_ON_FORK,
                timer_slack_ns: 100_000,
                pdeath_signal: 15,
                flags: ATTR_CHILD_SUBREAPER,
                ..Attrs::default()
            },
        };
        let xlen = [XSTATE_MIN, 832, 2696, 0][variant % 4];
        let mut comm = [0u8; 16];
        comm[..5].copy_from_slice(b"hello");
        let nr_pages = batches.iter().map(|b| u64::from(b.1)).sum::<u64>() + variant as u64 % 2;
        let header = ImageHeader {
            version: IMAGE_VERSION,
            home_node: 3,
            pid: 4242,
            tgid: 4240,
            uid: 1000,
            gid: 1000,
            euid: 1000,
            egid: 1000,
            comm,
            nr_vmas: vmas.len() as u32,
            nr_pages,
            xstate_len: xlen as u32,
            cause: (variant % 6) as u16,
            sender_load: 2500,
            allowed: if variant.is_multiple_of(2) { 0 } else { 0b1010 },
            mono_ns: 123_456_789_012,
            boot_ns: 223_456_789_012,
            token: 0x70ce_4a11_5eed_0001,
            ctx: {
                let mut c = Context::default();
                c.cgroup[..8].copy_from_slice(b"/jobs/42");
                c.label[..8].copy_from_slice(b"roamtest");
                c
            },
        };
        let regs = Regs {
            rip: 0x40_1000,
            rsp: 0x7ffd_0001_ff00,
            cs: USER_CS,
            ss: USER_DS,
            eflags: 0x246,
            fs_base: 0x7f00_0000_0000,
            rax: 0xffff_ffff_ffff_fffc,
            orig_rax: 7,
            ..Regs::default()
        };
        let mut mm_words = [0u64; MmLayout::COUNT];
        for (i, w) in mm_words.iter_mut().enumerate() {
            *w = 0x40_0000 + 0x1000 * i as u64;
        }
        Sample {
            header,
            regs,
            mm: MmLayout::from_array(&mm_words),
            sig,
            xstate: xstate(xlen),
            pending,
            timers,
            creds,
            groups: vec![4, 24, 27, 1000],
            vmas,
            batches,
        }
    }

    /// The `Begin` message.
    pub fn begin(&self) -> Vec<u8> {
        let mut out = vec![0u8; begin_len(self.xstate.len())];
        let n =
            encode_begin(&self.header, &self.regs, &self.mm, &self.sig, &self.xstate, &mut out).expect("sample begin");
        out.truncate(n);
        out
    }

    /// The `Files` message: one offer of the first area.
    pub fn files(&self) -> Vec<u8> {
        let o = FileOffer { vma: 0, off: 0, len: 0x1000, size: 0x1800, hash: [7; 32], path: b"/usr/lib/roam/tests/migrate_work" };
        let mut out = vec![0u8; files_max_len()];
        let n = encode_files(&[o], &mut out).expect("sample files");
        out.truncate(n);
        out
    }

    /// The `Signals` message.
    pub fn signals(&self) -> Vec<u8> {
        let mut out = vec![0u8; signals_len(self.pending.len())];
        let n = encode_signals(&self.pending, &mut out).expect("sample signals");
        out.truncate(n);
        out
    }

    /// The `Timers` message.
    pub fn timers(&self) -> Vec<u8> {
        let mut out = vec![0u8; timers_len(self.timers.count)];
        let n = encode_timers(&self.timers, &mut out).expect("sample timers");
        out.truncate(n);
        out
    }

    /// The `Creds` message.
    pub fn creds(&self) -> Vec<u8> {
        let mut out = vec![0u8; creds_len(self.groups.len())];
        let n = encode_creds(&self.creds, &self.groups, &mut out).expect("sample creds");
        out.truncate(n);
        out
    }

    /// The `Vmas` messages, `per_msg` areas each.
    pub fn vmas_msgs(&self, per_msg: usize) -> Vec<Vec<u8>> {
        self.vmas
            .chunks(per_msg.max(1))
            .enumerate()
            .map(|(i, chunk)| {
                let mut out = vec![0u8; vmas_len(chunk.len())];
                let n = encode_vmas((i * per_msg.max(1)) as u32, chunk, &mut out).expect("sample vmas");
                out.truncate(n);
                out
            })
            .collect()
    }

    /// The data of the batch at `addr` of `count` pages.
    pub fn page_data(addr: u64, count: u32) -> Vec<u8> {
        (0..count as usize * PAGE_SIZE).map(|i| (addr as usize / PAGE_SIZE + i * 13) as u8).collect()
    }

    /// The `Pages` messages.
    pub fn pages_msgs(&self) -> Vec<Vec<u8>> {
        self.batches
            .iter()
            .map(|&(first_addr, count)| {
                let h = PageBatchHeader { first_addr, count };
                let mut out = vec![0u8; batch_len(count)];
                let n = encode_batch(&h, &Sample::page_data(first_addr, count), &mut out).expect("sample batch");
                out.truncate(n);
                out
            })
            .collect()
    }

    /// The `Commit` message: the page count and checksum of the batches.
    pub fn commit(&self) -> Vec<u8> {
        let mut sum = Checksum::new();
        let mut pages = 0u64;
        for &(first_addr, count) in &self.batches {
            sum.add_batch(&PageBatchHeader { first_addr, count }, &Sample::page_data(first_addr, count));
            pages += u64::from(count);
        }
        let mut out = vec![0u8; COMMIT_LEN];
        let n = encode_commit(pages, sum.finish(), &mut out).expect("sample commit");
        out.truncate(n);
        out
    }

    /// Every message of the image in the order the source sends them.
    pub fn messages(&self, vmas_per_msg: usize) -> Vec<Vec<u8>> {
        let mut m = vec![self.begin(), self.files(), self.signals(), self.timers(), self.creds()];
        m.extend(self.vmas_msgs(vmas_per_msg));
        m.extend(self.pages_msgs());
        m.push(self.commit());
        m
    }
}

/// The small messages that end a migration.
pub fn outcome_msgs() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut b = [0u8; 32];
    if let Ok(n) = encode_commit(3, 0x1234_5678_9abc_def0, &mut b) {
        out.push(b[..n].to_vec());
    }
    for pid in [0u32, 4711] {
        if let Ok(n) = encode_accept(pid, &mut b) {
            out.push(b[..n].to_vec());
        }
    }
    if let Ok(n) = encode_ready(0x5, &mut b) {
        out.push(b[..n].to_vec());
    }
    for r in RefuseReason::ALL {
        if let Ok(n) = encode_refuse(r, &mut b) {
            out.push(b[..n].to_vec());
        }
    }
    if let Ok(n) = encode_abort(&mut b) {
        out.push(b[..n].to_vec());
    }
    out
}
