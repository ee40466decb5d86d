//! What a fuzz target is: the [`Target`] trait every decoder harness
//! implements, the [`Field`] hints that steer length mutations, and the
//! [`Cx`] through which a run reports the outcome classes it reached.
//!
//! Calls [`crate::rng`] only (for [`Target::fixup`]).

use crate::rng::Rng;

/// A length or count field of an encoding, for the mutations that keep a
/// message self-consistent (or break it by exactly one): the field is
/// `width` bytes little-endian at `off`, and a message whose field holds
/// `n` is `base + n * unit` bytes long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    /// Byte offset of the field.
    pub off: usize,
    /// Its width: 1, 2, 4 or 8 bytes.
    pub width: usize,
    /// Length of the message when the field is 0.
    pub base: usize,
    /// Bytes the message grows by per unit of the field (0: the field is
    /// not a length, only a value worth tweaking).
    pub unit: usize,
}

impl Field {
    /// A length or count field.
    pub const fn len(off: usize, width: usize, base: usize, unit: usize) -> Field {
        Field { off, width, base, unit }
    }

    /// A field worth tweaking that says nothing about the length.
    pub const fn value(off: usize, width: usize) -> Field {
        Field { off, width, base: 0, unit: 0 }
    }
}

/// What a target run tells the harness besides pass or fail: the outcome
/// classes it reached (which error each decoder returned, how far a
/// message sequence got). The distinct classes are the fuzzer's cheap
/// coverage proxy: they show whether mutations get past the first check.
#[derive(Debug, Default)]
pub struct Cx {
    hits: Vec<Class>,
}

/// An outcome class: a stage (which decoder or step) and what it gave
/// (`("open", "bad_mac")`, shown as `open:bad_mac`).
pub type Class = (&'static str, &'static str);

impl Cx {
    /// An empty context.
    pub fn new() -> Cx {
        Cx::default()
    }

    /// Records that this run's `stage` ended with `outcome`.
    pub fn hit(&mut self, stage: &'static str, outcome: &'static str) {
        self.hits.push((stage, outcome));
    }

    /// The classes of this run, in order.
    pub fn hits(&self) -> &[Class] {
        &self.hits
    }

    /// Forgets the classes (between runs).
    pub fn clear(&mut self) {
        self.hits.clear();
    }
}

/// A failed check: what the decoder did that its documentation says it
/// must not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The check, as written in the target (it names the bug: failures
    /// with the same check are counted once).
    pub check: &'static str,
    /// The values that broke it.
    pub detail: String,
}

/// Returns a [`Violation`] from the enclosing target run unless `cond`
/// holds; the rest is a `format!` of the values involved.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err($crate::target::Violation { check: stringify!($cond), detail: format!($($fmt)+) });
        }
    };
}

/// One decoder (or a chain of them, as the module runs them) under fuzz.
///
/// A target must be deterministic: the same input gives the same classes
/// and the same verdict.
pub trait Target: Send + Sync {
    /// Short name used on the command line and in file names.
    fn name(&self) -> &'static str;

    /// One line: what it decodes and what it checks.
    fn about(&self) -> &'static str;

    /// Valid encodings built with the crate's own encoders: the starting
    /// corpus, so that mutations begin deep inside the format.
    fn seeds(&self) -> Vec<Vec<u8>>;

    /// Longest input worth making.
    fn max_len(&self) -> usize {
        64 * 1024
    }

    /// The length and count fields of its encodings (at fixed offsets).
    fn fields(&self) -> &'static [Field] {
        &[]
    }

    /// Byte strings worth inserting or writing over (keywords of a text
    /// format, magic numbers).
    fn dict(&self) -> &'static [&'static [u8]] {
        &[]
    }

    /// Whether an input is a sequence of messages, each a u32
    /// little-endian length followed by that many bytes ([`crate::framed`]):
    /// then mutations also work on whole messages and on one message
    /// at a time.
    fn framed(&self) -> bool {
        false
    }

    /// Repairs what random mutations almost never get right and that only
    /// guards the way in (a MAC, a checksum), so that the code behind it
    /// is reached; called on about half of the mutated inputs.
    fn fixup(&self, _data: &mut Vec<u8>, _rng: &mut Rng) {}

    /// Decodes `data` as the module does and checks what the decoder
    /// promises: `Err` for a broken promise. A panic is caught by the
    /// harness.
    fn run(&self, data: &[u8], cx: &mut Cx) -> Result<(), Violation>;
}
