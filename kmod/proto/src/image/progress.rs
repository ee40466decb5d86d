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
use super::vmas::VmasView;

/// A destination's view of how far an incoming image has got: enforces
/// the message order (Begin, then Files, then Signals, then Timers, then Creds, then every area in order, then
/// pages, then Commit), the announced totals and the checksum.
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
}

impl Default for Progress {
    fn default() -> Self {
        Progress::new()
    }
}

impl Progress {
    /// Nothing received yet.
    pub const fn new() -> Progress {
        Progress { begun: false, files: false, signals: false, timers: false, creds: false, nr_vmas: 0, nr_pages: 0, vmas: 0, last_end: 0, pages: 0, sum: Checksum::new() }
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
        if !self.files || self.signals {
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
        let mut last_end = self.last_end;
        let mut i = 0;
        while i < v.len() {
            let a = v.get(i).ok_or(ImageError::BadVma)?;
            if !a.is_valid() || a.start < last_end {
                return Err(ImageError::BadVma);
            }
            last_end = a.end;
            i += 1;
        }
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
