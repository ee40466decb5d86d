//! [`Progress`]: a destination's view of an arriving image, which holds
//! the sender to the message order, the announced totals and the
//! checksum.
//!
//! Calls the decoded forms of [`super::header`], [`super::vmas`] and
//! [`super::pages`], and [`super::checksum`](mod@super::checksum); decodes nothing itself.

use super::checksum::Checksum;
use super::error::ImageError;
use super::header::ImageHeader;
use super::pages::PageBatchHeader;
use super::vmas::{run_end, VmasView};

/// How many times over its `Begin`'s page count a pre-copy may send
/// pages in all (rounds resend what the process wrote again).
pub const MAX_PRE_FACTOR: u64 = 16;

/// A destination's view of how far an incoming image has got: enforces
/// the message order (Begin, then Files, then, with pre-copy, every
/// pre-copy area in order, their pages and `Final`, then Signals, then
/// Timers, then Creds, then every area in order, then pages, then
/// Commit), the announced totals and the checksum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    begun: bool,
    files: bool,
    signals: bool,
    timers: bool,
    creds: bool,
    nr_vmas: u32,
    nr_pages: u64,
    vmas: u32,
    last_end: u64,
    pages: u64,
    sum: Checksum,
    /// Pre-copy: the `Begin`'s counts, areas and pages received, where
    /// the last area ended, and whether `Final` came.
    begin_vmas: u32,
    begin_pages: u64,
    pre_vmas: u32,
    pre_last_end: u64,
    pre_pages: u64,
    finalized: bool,
}

impl Default for Progress {
    fn default() -> Self {
        Progress::new()
    }
}

impl Progress {
    /// Nothing received yet.
    pub const fn new() -> Progress {
        Progress {
            begun: false,
            files: false,
            signals: false,
            timers: false,
            creds: false,
            nr_vmas: 0,
            nr_pages: 0,
            vmas: 0,
            last_end: 0,
            pages: 0,
            sum: Checksum::new(),
            begin_vmas: 0,
            begin_pages: 0,
            pre_vmas: 0,
            pre_last_end: 0,
            pre_pages: 0,
            finalized: false,
        }
    }

    /// Takes the `Begin` header: `BadLength` if one was taken already,
    /// else as [`ImageHeader::check`].
    pub fn begin(&mut self, h: &ImageHeader) -> Result<(), ImageError> {
        if self.begun {
            return Err(ImageError::BadLength);
        }
        h.check()?;
        self.begun = true;
        self.nr_vmas = h.nr_vmas;
        self.nr_pages = h.nr_pages;
        self.begin_vmas = h.nr_vmas;
        self.begin_pages = h.nr_pages;
        Ok(())
    }

    /// Takes a `PreVmas` message (the areas of the `Begin`, in order):
    /// `BadLength` before `Files` or after `Final`, `BadVma` if it does
    /// not start where the previous one ended (index or address) or holds
    /// an invalid area, `TooLarge` past the `Begin`'s number of areas.
    pub fn pre_vmas(&mut self, v: &VmasView<'_>) -> Result<(), ImageError> {
        if !self.files || self.finalized || self.signals {
            return Err(ImageError::BadLength);
        }
        if v.first != self.pre_vmas {
            return Err(ImageError::BadVma);
        }
        let count = u32::try_from(v.len()).map_err(|_| ImageError::TooLarge)?;
        let total = self.pre_vmas.checked_add(count).ok_or(ImageError::TooLarge)?;
        if total > self.begin_vmas {
            return Err(ImageError::TooLarge);
        }
        self.pre_last_end = run_end(v, self.pre_last_end)?;
        self.pre_vmas = total;
        Ok(())
    }

    /// Whether pre-copy areas came (then `Final` must come before
    /// `Signals`).
    pub fn precopied(&self) -> bool {
        self.pre_vmas > 0
    }

    /// Takes a `PrePages` batch (already checked against the pre-copy
    /// areas): `BadBatch` before every pre-copy area came or after
    /// `Final`, `TooLarge` past [`MAX_PRE_FACTOR`] times the `Begin`'s
    /// page count. Pre-copy pages are not in the commit's count or
    /// checksum (a page may come many times).
    pub fn pre_pages(&mut self, h: &PageBatchHeader) -> Result<(), ImageError> {
        if self.pre_vmas == 0 || self.pre_vmas != self.begin_vmas || self.finalized {
            return Err(ImageError::BadBatch);
        }
        let total = self.pre_pages.checked_add(u64::from(h.count)).ok_or(ImageError::TooLarge)?;
        if total > self.begin_pages.saturating_mul(MAX_PRE_FACTOR) {
            return Err(ImageError::TooLarge);
        }
        self.pre_pages = total;
        Ok(())
    }

    /// Takes `Final` (header `h`; `first` is the `Begin`'s): `BadLength`
    /// before `Files`, after `Signals`, a second time, or with pre-copy
    /// areas still missing; `BadCreds` if it names another process, user
    /// or token than `first`; else as [`ImageHeader::check`]. Its counts
    /// replace the `Begin`'s.
    pub fn finish_precopy(&mut self, h: &ImageHeader, first: &ImageHeader) -> Result<(), ImageError> {
        if !self.files || self.signals || self.finalized || self.pre_vmas != self.begin_vmas {
            return Err(ImageError::BadLength);
        }
        h.check()?;
        let same = h.home_node == first.home_node
            && h.pid == first.pid
            && h.tgid == first.tgid
            && h.uid == first.uid
            && h.gid == first.gid
            && h.euid == first.euid
            && h.egid == first.egid
            && h.token == first.token;
        if !same {
            return Err(ImageError::BadCreds);
        }
        self.finalized = true;
        self.nr_vmas = h.nr_vmas;
        self.nr_pages = h.nr_pages;
        Ok(())
    }

    /// Takes the `Files` message (checked when it was decoded):
    /// `BadLength` before `Begin` or if one was taken already.
    pub fn files(&mut self) -> Result<(), ImageError> {
        if !self.begun || self.files {
            return Err(ImageError::BadLength);
        }
        self.files = true;
        Ok(())
    }

    /// Takes the `Signals` message (its entries were checked when it was
    /// decoded): `BadLength` before `Files` or if one was taken already.
    pub fn signals(&mut self) -> Result<(), ImageError> {
        if !self.files || self.signals || (self.precopied() && !self.finalized) {
            return Err(ImageError::BadLength);
        }
        self.signals = true;
        Ok(())
    }

    /// Takes the `Timers` message (checked when it was decoded):
    /// `BadLength` before `Signals` or if one was taken already.
    pub fn timers(&mut self) -> Result<(), ImageError> {
        if !self.signals || self.timers {
            return Err(ImageError::BadLength);
        }
        self.timers = true;
        Ok(())
    }

    /// Takes the `Creds` message (checked when it was decoded):
    /// `BadLength` before `Timers` or if one was taken already.
    pub fn creds(&mut self) -> Result<(), ImageError> {
        if !self.timers || self.creds {
            return Err(ImageError::BadLength);
        }
        self.creds = true;
        Ok(())
    }

    /// Takes a `Vmas` message: `BadVma` before `Begin`, if it does not
    /// start where the previous one ended (index or address), `TooLarge`
    /// past the announced number of areas; `BadLength` before `Creds`.
    pub fn vmas(&mut self, v: &VmasView<'_>) -> Result<(), ImageError> {
        if !self.begun || v.first != self.vmas {
            return Err(ImageError::BadVma);
        }
        if !self.creds {
            return Err(ImageError::BadLength);
        }
        let count = u32::try_from(v.len()).map_err(|_| ImageError::TooLarge)?;
        let total = self.vmas.checked_add(count).ok_or(ImageError::TooLarge)?;
        if total > self.nr_vmas {
            return Err(ImageError::TooLarge);
        }
        let last_end = run_end(v, self.last_end)?;
        self.vmas = total;
        self.last_end = last_end;
        Ok(())
    }

    /// Whether the signals, the timers, the credentials and every announced area have
    /// arrived.
    pub fn vmas_done(&self) -> bool {
        self.begun && self.signals && self.timers && self.creds && self.vmas == self.nr_vmas
    }

    /// Takes a page batch (already checked against the areas): `BadBatch`
    /// before every area has arrived, `TooLarge` past the announced number
    /// of pages. Adds it to the checksum.
    pub fn pages(&mut self, h: &PageBatchHeader, data: &[u8]) -> Result<(), ImageError> {
        if !self.vmas_done() {
            return Err(ImageError::BadBatch);
        }
        let total = self.pages.checked_add(u64::from(h.count)).ok_or(ImageError::TooLarge)?;
        if total > self.nr_pages {
            return Err(ImageError::TooLarge);
        }
        self.pages = total;
        self.sum.add_batch(h, data);
        Ok(())
    }

    /// Checks the `Commit`: the signals, the timers, the credentials, every area and page arrived, and the commit's
    /// count and checksum match what was received; else `BadBatch`.
    pub fn commit(&self, nr_pages: u64, checksum: u64) -> Result<(), ImageError> {
        if !self.vmas_done()
            || nr_pages != self.pages
            || checksum != self.sum.finish()
        {
            return Err(ImageError::BadBatch);
        }
        Ok(())
    }

    /// Pages received so far.
    pub fn pages_received(&self) -> u64 {
        self.pages
    }

    /// The checksum of the batches received so far.
    pub fn checksum(&self) -> u64 {
        self.sum.finish()
    }
}
