//! The local load estimate, MOSIX style, in integer fixed point.
//!
//! Every sampling interval the caller reports the ready-queue length
//! (`nr_running`), the number of online CPUs and the node's relative CPU
//! speed. Each sample is first normalized to "runnable tasks per reference
//! CPU" times [`SCALE`], then folded into two exponentially decayed
//! averages:
//!
//! * a *fast* one (default decay 926 per mille per interval, openMosix's
//!   value) that follows a rising load within a few intervals, and
//! * a *slow* one (default 975 per mille) that forgets a load only
//!   gradually.
//!
//! A third, *quick* average (decay [`QUICK_DECAY`]: with 100 ms samples it
//! follows a step within about a second, while one sample's burst of
//! runnable kernel threads moves it by a fifth) is not published: it is the node's own view of its load for its
//! own decisions (a sender choosing to move a process, a target deciding
//! whether to take one). A node knows its own queue now; only what it
//! tells others needs the damping below.
//!
//! The published load is the larger of the two. While the load rises the
//! fast average is the larger one, so increases show up quickly; while it
//! falls the slow average is the larger one, so a node that just went idle
//! is advertised as idle only after a while. That asymmetry is deliberate:
//! advertising spare capacity too early invites a flood of migrations that
//! the node cannot absorb, and a short lull between two jobs should not
//! look like an idle node.
//!
//! No floating point (forbidden in the kernel), no panics: every operation
//! saturates, and the averages are kept with 16 extra fractional bits so
//! that integer rounding does not stall them short of their target.

/// Fixed-point scale of a load value: 1000 means one runnable task per
/// reference CPU (a load of 1.0).
pub const SCALE: u32 = 1000;

/// Speed of the reference CPU. A node whose speed is `2 * SPEED_REF`
/// reports half the load for the same queue length.
pub const SPEED_REF: u32 = 1000;

/// Decay of the quick average, per mille per interval.
pub const QUICK_DECAY: u32 = 800;

/// Extra fractional bits kept in the running averages.
const FRAC_BITS: u32 = 16;

/// Denominator of the per-mille decay factors.
const PER_MILLE: u64 = 1000;

/// Decay factors of the two averages, in parts per thousand per sampling
/// interval: after one interval an average keeps `factor / 1000` of its old
/// value and takes the rest from the new sample. Valid range 1..=999.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decay {
    /// The slowly forgetting average (used while the load falls).
    pub slow: u32,
    /// The quickly following average (used while the load rises).
    pub fast: u32,
}

impl Decay {
    /// openMosix's factors: slow 975, fast 926.
    pub const DEFAULT: Decay = Decay { slow: 975, fast: 926 };

    /// Both factors if each lies in 1..=999, else `None`.
    pub const fn new(slow: u32, fast: u32) -> Option<Decay> {
        let d = Decay { slow, fast };
        if d.is_valid() {
            Some(d)
        } else {
            None
        }
    }

    /// Whether both factors lie in 1..=999.
    pub const fn is_valid(&self) -> bool {
        self.slow >= 1 && self.slow <= 999 && self.fast >= 1 && self.fast <= 999
    }
}

impl Default for Decay {
    fn default() -> Self {
        Decay::DEFAULT
    }
}

/// A factor forced into 1..=999, so that a hand-built invalid [`Decay`]
/// can neither freeze an average nor make it ignore its history.
const fn clamp_factor(f: u32) -> u64 {
    if f < 1 {
        1
    } else if f > 999 {
        999
    } else {
        f as u64
    }
}

/// The load a single sample represents: `nr_running` tasks shared by
/// `ncpus` CPUs of relative speed `speed` (see [`SPEED_REF`]), times
/// [`SCALE`]. Zero CPUs or zero speed count as 1; the result saturates at
/// `u32::MAX`.
pub fn instant_load(nr_running: u32, ncpus: u32, speed: u32) -> u32 {
    let ncpus = u64::from(ncpus.max(1));
    let speed = u64::from(speed.max(1));
    // The numerator is below 2^32 * 10^6 < 2^52 and the divisor below
    // 2^64; neither overflows, and the divisor is never zero.
    let num = u64::from(nr_running)
        .saturating_mul(u64::from(SCALE))
        .saturating_mul(u64::from(SPEED_REF));
    let den = ncpus.saturating_mul(speed);
    let v = num.checked_div(den).unwrap_or(0);
    u32::try_from(v).unwrap_or(u32::MAX)
}

/// Folds `sample` into `avg` with the per-mille `factor`, rounding to the
/// nearest unit.
fn fold(avg: u64, sample: u64, factor: u64) -> u64 {
    let keep = avg.saturating_mul(factor);
    let take = sample.saturating_mul(PER_MILLE.saturating_sub(factor));
    keep.saturating_add(take).saturating_add(PER_MILLE / 2) / PER_MILLE
}

/// Converts an internal average back to [`SCALE`] units (rounded).
fn publish(avg: u64) -> u32 {
    let v = avg.saturating_add(1 << (FRAC_BITS - 1)) >> FRAC_BITS;
    u32::try_from(v).unwrap_or(u32::MAX)
}

/// The decayed load averages of one node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadEstimator {
    /// Slow average, in SCALE units with FRAC_BITS extra bits.
    slow: u64,
    /// Fast average, same units.
    fast: u64,
    /// Quick average (not published), same units.
    quick: u64,
    decay: Decay,
}

impl LoadEstimator {
    /// An estimator starting from load 0.
    pub const fn new(decay: Decay) -> Self {
        LoadEstimator { slow: 0, fast: 0, quick: 0, decay }
    }

    /// The decay factors in use.
    pub fn decay(&self) -> Decay {
        self.decay
    }

    /// Replaces the decay factors if `decay` is valid; returns whether it
    /// was. The averages are kept.
    pub fn set_decay(&mut self, decay: Decay) -> bool {
        if decay.is_valid() {
            self.decay = decay;
            true
        } else {
            false
        }
    }

    /// Forgets all history (back to load 0).
    pub fn reset(&mut self) {
        self.slow = 0;
        self.fast = 0;
        self.quick = 0;
    }

    /// Takes one sample; call it once per sampling interval.
    pub fn sample(&mut self, nr_running: u32, ncpus: u32, speed: u32) {
        let x = u64::from(instant_load(nr_running, ncpus, speed)) << FRAC_BITS;
        self.slow = fold(self.slow, x, clamp_factor(self.decay.slow));
        self.fast = fold(self.fast, x, clamp_factor(self.decay.fast));
        self.quick = fold(self.quick, x, u64::from(QUICK_DECAY));
    }

    /// The load to advertise, in [`SCALE`] units: the larger of the two
    /// averages, i.e. the fast one while the load rises and the slow one
    /// while it falls.
    pub fn load(&self) -> u32 {
        publish(self.slow.max(self.fast))
    }

    /// The slow average alone, in [`SCALE`] units.
    pub fn slow(&self) -> u32 {
        publish(self.slow)
    }

    /// The fast average alone, in [`SCALE`] units.
    pub fn fast(&self) -> u32 {
        publish(self.fast)
    }

    /// The quick average, in [`SCALE`] units: this node's own view of its
    /// load, for its own balancing decisions (never published).
    pub fn quick(&self) -> u32 {
        publish(self.quick)
    }
}

impl Default for LoadEstimator {
    fn default() -> Self {
        LoadEstimator::new(Decay::DEFAULT)
    }
}
