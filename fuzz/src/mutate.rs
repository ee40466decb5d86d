//! Mutations: how one corpus input becomes the next one to try.
//!
//! Byte-level (bit flips, interesting and random values, arithmetic on
//! words, truncation, extension, insertion, deletion, copies, splices with
//! another input), field-level (the target's length and count fields set
//! to values that match the length, miss it by one or are extreme, and the
//! input resized to match a field), dictionary words, and for
//! [`framed`](crate::framed) targets message-level ones (drop, repeat,
//! swap, borrow from another input, mutate one message alone).
//!
//! Calls [`crate::rng`], [`crate::framed`] and [`crate::target`]'s types.

use crate::framed;
use crate::rng::Rng;
use crate::target::{Field, Target};

const BYTES: [u8; 8] = [0, 1, 0x7f, 0x80, 0xff, 0xfe, 0x40, 0x20];
const U16S: [u64; 8] = [0, 1, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff];
const U32S: [u64; 16] =
    [0, 1, 2, 32, 33, 96, 97, 2048, 2049, 4096, 16384, 16385, 65536, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff];
const U64S: [u64; 12] = [
    0,
    1,
    0x1000,
    0xffff_ffff,
    0x1_0000_0000,
    0x0000_7fff_ffff_f000,
    0x0000_8000_0000_0000,
    0x7fff_ffff_ffff_ffff,
    0x8000_0000_0000_0000,
    0xffff_ffff_ffff_f000,
    0xffff_ffff_ffff_fffe,
    0xffff_ffff_ffff_ffff,
];

/// Mutates inputs for one target, using its fields, dictionary and
/// framing.
pub struct Mutator<'t> {
    fields: &'t [Field],
    dict: &'t [&'t [u8]],
    framed: bool,
    max_len: usize,
}

impl<'t> Mutator<'t> {
    /// The mutator for `t`.
    pub fn for_target(t: &'t dyn Target) -> Mutator<'t> {
        Mutator { fields: t.fields(), dict: t.dict(), framed: t.framed(), max_len: t.max_len().max(1) }
    }

    /// Replaces `data` by a mutation of itself: one to eight stacked
    /// changes, possibly mixing in bytes of the other `corpus` inputs.
    pub fn mutate(&self, data: &mut Vec<u8>, corpus: &[Vec<u8>], rng: &mut Rng) {
        if self.framed && rng.one_in(2) {
            self.mutate_messages(data, corpus, rng);
        } else {
            let depth = rng.below(4);
            let n = 1 + rng.below(1 << depth);
            for _ in 0..n {
                self.mutate_bytes(data, corpus, rng, self.fields);
            }
        }
        data.truncate(self.max_len);
    }

    /// A message-level change of a framed input, or a byte-level one
    /// confined to one message (so that the other lengths stay right).
    fn mutate_messages(&self, data: &mut Vec<u8>, corpus: &[Vec<u8>], rng: &mut Rng) {
        let mut msgs: Vec<Vec<u8>> = framed::split(data).into_iter().map(<[u8]>::to_vec).collect();
        let other: Vec<Vec<u8>> = match rng.pick(corpus) {
            Some(o) => framed::split(o).into_iter().map(<[u8]>::to_vec).collect(),
            None => Vec::new(),
        };
        let n = msgs.len();
        match rng.below(7) {
            0 if n > 0 => {
                msgs.remove(rng.below(n));
            }
            1 if n > 0 => {
                let i = rng.below(n);
                let m = msgs[i].clone();
                msgs.insert(rng.below(n + 1), m);
            }
            2 if n > 1 => {
                let (i, j) = (rng.below(n), rng.below(n));
                msgs.swap(i, j);
            }
            3 if !other.is_empty() => {
                let m = other[rng.below(other.len())].clone();
                if n > 0 && rng.one_in(2) {
                    let i = rng.below(n);
                    msgs[i] = m;
                } else {
                    msgs.insert(rng.below(n + 1), m);
                }
            }
            4 if n > 0 => {
                // Keep the first messages, end with another input's tail.
                let cut = rng.below(n + 1);
                msgs.truncate(cut);
                let from = rng.below(other.len() + 1);
                msgs.extend(other.into_iter().skip(from));
            }
            _ if n > 0 => {
                let i = rng.below(n);
                let k = 1 + rng.below(4);
                for _ in 0..k {
                    self.mutate_bytes(&mut msgs[i], &[], rng, &[]);
                }
            }
            _ => self.mutate_bytes(data, corpus, rng, &[]),
        }
        if n > 0 || !msgs.is_empty() {
            *data = framed::join(&msgs);
        }
    }

    /// One byte-level change.
    fn mutate_bytes(&self, data: &mut Vec<u8>, corpus: &[Vec<u8>], rng: &mut Rng, fields: &[Field]) {
        if data.is_empty() {
            let n = 1 + rng.small(64);
            data.extend((0..n).map(|_| rng.next_u64() as u8));
            return;
        }
        let len = data.len();
        match rng.below(16) {
            0 => {
                let i = rng.below(len);
                data[i] ^= 1 << rng.below(8);
            }
            1 => {
                let i = rng.below(len);
                data[i] = BYTES[rng.below(BYTES.len())];
            }
            2 => {
                let i = rng.below(len);
                data[i] = rng.next_u64() as u8;
            }
            3 => {
                let width = [2, 4, 8][rng.below(3)];
                let v = interesting(width, rng);
                let at = offset(len, width, rng.one_in(2), rng);
                write(data, at, width, v);
            }
            4 => {
                // A random word at an aligned offset.
                let width = [4, 8][rng.below(2)];
                let at = offset(len, width, true, rng);
                write(data, at, width, rng.next_u64());
            }
            5 => {
                let width = [1, 2, 4, 8][rng.below(4)];
                let at = offset(len, width, rng.one_in(2), rng);
                let delta = 1 + rng.below(35) as u64;
                let v = read(data, at, width);
                let v = if rng.one_in(2) { v.wrapping_add(delta) } else { v.wrapping_sub(delta) };
                write(data, at, width, v);
            }
            6 | 7 if !fields.is_empty() => {
                let f = fields[rng.below(fields.len())];
                if rng.one_in(3) && f.unit > 0 {
                    resize_to_field(data, f, self.max_len, rng);
                } else {
                    tweak_field(data, f, rng);
                }
            }
            8 => {
                let cut = if rng.one_in(2) { len.saturating_sub(1 + rng.small(len)) } else { rng.below(len) };
                data.truncate(cut);
            }
            9 => {
                let n = 1 + rng.small(256);
                match rng.below(4) {
                    0 => data.resize(len + n, 0),
                    1 => data.resize(len + n, 0xff),
                    2 => data.extend((0..n).map(|_| rng.next_u64() as u8)),
                    _ => {
                        let start = rng.below(len);
                        let chunk = data[start..(start + n).min(len)].to_vec();
                        data.extend_from_slice(&chunk);
                    }
                }
            }
            10 => {
                let at = rng.below(len + 1);
                let n = 1 + rng.small(32);
                let fill: Vec<u8> = (0..n).map(|_| if rng.one_in(2) { 0 } else { rng.next_u64() as u8 }).collect();
                data.splice(at..at, fill);
            }
            11 => {
                let at = rng.below(len);
                let n = 1 + rng.small(len - at - 1);
                data.drain(at..(at + n).min(len));
            }
            12 => {
                let (from, to) = (rng.below(len), rng.below(len));
                let n = 1 + rng.small(len - from.max(to) - 1);
                let chunk = data[from..from + n].to_vec();
                data[to..to + n].copy_from_slice(&chunk);
            }
            13 if !corpus.is_empty() => {
                let other = &corpus[rng.below(corpus.len())];
                let at = rng.below(len + 1);
                let from = if rng.one_in(2) { at.min(other.len()) } else { rng.below(other.len() + 1) };
                data.truncate(at);
                data.extend_from_slice(&other[from..]);
            }
            14 | 15 if !self.dict.is_empty() => {
                let word = self.dict[rng.below(self.dict.len())];
                let at = rng.below(len + 1);
                if rng.one_in(2) {
                    data.splice(at..at, word.iter().copied());
                } else {
                    let end = (at + word.len()).min(len);
                    data.splice(at..end, word.iter().copied());
                }
            }
            _ => {
                let i = rng.below(len);
                data[i] = data[i].wrapping_add(1 + rng.below(255) as u8);
            }
        }
    }
}

/// An interesting value for a field `width` bytes wide.
fn interesting(width: usize, rng: &mut Rng) -> u64 {
    match width {
        1 => u64::from(BYTES[rng.below(BYTES.len())]),
        2 => U16S[rng.below(U16S.len())],
        4 => U32S[rng.below(U32S.len())],
        _ => U64S[rng.below(U64S.len())],
    }
}

/// An offset where `width` bytes fit in `len` (0 if they do not),
/// a multiple of `width` if `aligned`.
fn offset(len: usize, width: usize, aligned: bool, rng: &mut Rng) -> usize {
    let room = len.saturating_sub(width) + 1;
    let at = rng.below(room);
    if aligned {
        at - at % width
    } else {
        at
    }
}

/// The little-endian value of `width` bytes at `at` (missing bytes read
/// as 0).
pub fn read(data: &[u8], at: usize, width: usize) -> u64 {
    let mut b = [0u8; 8];
    for (i, slot) in b.iter_mut().enumerate().take(width.min(8)) {
        *slot = data.get(at + i).copied().unwrap_or(0);
    }
    u64::from_le_bytes(b)
}

/// Writes the low `width` bytes of `v` at `at`, as far as `data` reaches.
pub fn write(data: &mut [u8], at: usize, width: usize, v: u64) {
    for (i, b) in v.to_le_bytes().iter().enumerate().take(width.min(8)) {
        if let Some(slot) = data.get_mut(at + i) {
            *slot = *b;
        }
    }
}

/// The largest value a field of `width` bytes holds.
fn width_max(width: usize) -> u64 {
    if width >= 8 {
        u64::MAX
    } else {
        (1u64 << (8 * width)) - 1
    }
}

/// Sets field `f` to a value that matches the length, misses it by a
/// little, is an extreme, or is the current value nudged.
fn tweak_field(data: &mut [u8], f: Field, rng: &mut Rng) {
    if data.len() < f.off + f.width {
        return;
    }
    let cur = read(data, f.off, f.width);
    let implied = data.len().saturating_sub(f.base).checked_div(f.unit).map_or(cur, |n| n as u64);
    let v = match rng.below(6) {
        0 => implied,
        1 => implied.wrapping_add(1 + rng.below(3) as u64),
        2 => implied.wrapping_sub(1 + rng.below(3) as u64),
        3 => cur.wrapping_add(rng.below(9) as u64).wrapping_sub(4),
        4 => width_max(f.width) - rng.below(2) as u64,
        _ => interesting(f.width, rng),
    };
    write(data, f.off, f.width, v & width_max(f.width));
}

/// Makes the input as long as field `f` says (if that is at most
/// `max_len`): cut, or grown with copies of its own bytes or zeros.
fn resize_to_field(data: &mut Vec<u8>, f: Field, max_len: usize, rng: &mut Rng) {
    if data.len() < f.off + f.width {
        return;
    }
    let n = read(data, f.off, f.width);
    let want = usize::try_from(n)
        .ok()
        .and_then(|n| n.checked_mul(f.unit))
        .and_then(|b| b.checked_add(f.base))
        .filter(|w| *w <= max_len);
    let Some(want) = want else { return };
    if want <= data.len() {
        data.truncate(want);
        return;
    }
    // Grow by repeating the last `unit` bytes (another element like the
    // last one) when there are any, else with zeros.
    let tail = if data.len() >= f.base + f.unit && rng.one_in(2) {
        data[data.len() - f.unit..].to_vec()
    } else {
        vec![0; f.unit.max(1)]
    };
    while data.len() < want {
        let room = want - data.len();
        data.extend_from_slice(&tail[..room.min(tail.len())]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::{Cx, Violation};

    struct Plain(&'static [Field], bool);

    impl Target for Plain {
        fn name(&self) -> &'static str {
            "plain"
        }
        fn about(&self) -> &'static str {
            "test"
        }
        fn seeds(&self) -> Vec<Vec<u8>> {
            vec![]
        }
        fn max_len(&self) -> usize {
            4096
        }
        fn fields(&self) -> &'static [Field] {
            self.0
        }
        fn framed(&self) -> bool {
            self.1
        }
        fn run(&self, _: &[u8], _: &mut Cx) -> Result<(), Violation> {
            Ok(())
        }
    }

    #[test]
    fn mutations_stay_in_bounds_and_change_things() {
        static FIELDS: [Field; 2] = [Field::len(0, 2, 2, 10), Field::value(3, 8)];
        for framed in [false, true] {
            let t = Plain(&FIELDS, framed);
            let m = Mutator::for_target(&t);
            let corpus = vec![vec![1u8; 40], framed::join(&[&b"abc"[..], b"defg"])];
            let mut rng = Rng::new(3);
            let mut changed = 0;
            for i in 0..5000 {
                let mut d = corpus[i % 2].clone();
                m.mutate(&mut d, &corpus, &mut rng);
                assert!(d.len() <= 4096);
                changed += usize::from(d != corpus[i % 2]);
            }
            assert!(changed > 4000, "{changed}");
        }
    }

    #[test]
    fn resize_follows_the_field() {
        let f = Field::len(0, 2, 2, 10);
        let mut d = vec![3, 0, 9, 9];
        resize_to_field(&mut d, f, 1000, &mut Rng::new(1));
        assert_eq!(d.len(), 32);
        write(&mut d, 0, 2, 1);
        resize_to_field(&mut d, f, 1000, &mut Rng::new(1));
        assert_eq!(d.len(), 12);
        assert_eq!(read(&d, 0, 2), 1);
    }
}
