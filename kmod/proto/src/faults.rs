//! Fault injection by migration phase: the phases a test can make fail
//! ([`Phase`]) and the text of `/sys/kernel/roam/failpoint`
//! ([`parse`], [`Armed`]).
//!
//! Writing `PHASE [SKIP]` arms one failpoint on the node written to: the
//! phase's next SKIP passes go by and the one after fails, once, as that
//! phase fails by itself (a send that finds the link gone, a refusal the
//! destination would make, a take-over that cannot complete). `none`
//! disarms it. Reading shows what is armed (`none` or `PHASE SKIP`).
//!
//! Calls nothing else in the crate.

/// A point of a migration where a failure can be injected, on the side
/// that runs it: `Out*` on the node sending a process, `In*` on the node
/// taking it (its home too, when it comes back), `CallLink` on the node
/// where a process runs away from home.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Phase {
    /// The sender's `Begin` does not leave (the link fails as it is sent).
    OutBegin = 1,
    /// A batch of pages does not leave: the move fails mid-transfer.
    OutPages = 2,
    /// The `Commit` does not leave.
    OutCommit = 3,
    /// The `Go` after the destination's acceptance is lost on the way:
    /// the sender believes the move done, the destination never hears.
    OutGo = 4,
    /// The sender's connection to the destination closes mid-transfer
    /// (a batch of pages is sent after it on a new one).
    OutLink = 5,
    /// The destination refuses the image at its `Begin`, as admission
    /// does (no room, a refused user).
    InAdmit = 6,
    /// The destination fails on a batch of pages (as out of memory).
    InPages = 7,
    /// The destination fails to build the restorer (registers, areas,
    /// timers, signals) after every page arrived.
    InRegisters = 8,
    /// The destination refuses at the commit, every page written.
    InCommit = 9,
    /// The stub that is to become the process fails to take it over after
    /// the sender's `Go`.
    InAdopt = 10,
    /// The connection a remote's forwarded call goes home on closes just
    /// before the call is sent.
    CallLink = 11,
}

/// Every phase, in order, with its name in `failpoint`.
pub const PHASES: [(Phase, &str); 11] = [
    (Phase::OutBegin, "out_begin"),
    (Phase::OutPages, "out_pages"),
    (Phase::OutCommit, "out_commit"),
    (Phase::OutGo, "out_go"),
    (Phase::OutLink, "out_link"),
    (Phase::InAdmit, "in_admit"),
    (Phase::InPages, "in_pages"),
    (Phase::InRegisters, "in_registers"),
    (Phase::InCommit, "in_commit"),
    (Phase::InAdopt, "in_adopt"),
    (Phase::CallLink, "call_link"),
];

/// The most passes a failpoint may let go by before it fails.
pub const MAX_SKIP: u32 = 1_000_000;

impl Phase {
    /// Its name in `failpoint`.
    pub fn name(self) -> &'static str {
        let mut i = 0;
        while i < PHASES.len() {
            if PHASES[i].0 as u32 == self as u32 {
                return PHASES[i].1;
            }
            i += 1;
        }
        "?"
    }

    /// The phase numbered `n` (its `repr`), if any.
    pub fn from_u32(n: u32) -> Option<Phase> {
        PHASES.iter().find(|(p, _)| *p as u32 == n).map(|(p, _)| *p)
    }
}

/// What a write to `failpoint` asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Armed {
    /// Nothing armed.
    None,
    /// `phase` fails after `skip` passes.
    At { phase: Phase, skip: u32 },
}

/// Why a write to `failpoint` was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultError {
    /// Not `none` or `PHASE [SKIP]` (or more words).
    Syntax,
    /// No phase has that name.
    UnknownPhase,
    /// SKIP is not a number up to [`MAX_SKIP`].
    BadSkip,
}

impl FaultError {
    /// Said in the kernel log when a write is refused.
    pub fn reason(self) -> &'static str {
        match self {
            FaultError::Syntax => "want `none` or `PHASE [SKIP]`",
            FaultError::UnknownPhase => "no such phase",
            FaultError::BadSkip => "SKIP is not a number up to 1000000",
        }
    }
}

/// Parses a write to `failpoint` (one trailing newline allowed).
pub fn parse(input: &[u8]) -> Result<Armed, FaultError> {
    let text = core::str::from_utf8(input).map_err(|_| FaultError::Syntax)?;
    let text = text.strip_suffix('\n').unwrap_or(text);
    let mut words = text.split(' ');
    let name = words.next().unwrap_or("");
    let skip = words.next();
    if words.next().is_some() || name.is_empty() {
        return Err(FaultError::Syntax);
    }
    if name == "none" {
        return match skip {
            None => Ok(Armed::None),
            Some(_) => Err(FaultError::Syntax),
        };
    }
    let phase = PHASES.iter().find(|(_, n)| *n == name).map(|(p, _)| *p).ok_or(FaultError::UnknownPhase)?;
    let skip = match skip {
        None => 0,
        Some(s) => {
            if s.is_empty() || s.len() > 7 || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(FaultError::BadSkip);
            }
            let v: u32 = s.parse().map_err(|_| FaultError::BadSkip)?;
            if v > MAX_SKIP {
                return Err(FaultError::BadSkip);
            }
            v
        }
    };
    Ok(Armed::At { phase, skip })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for (i, (p, n)) in PHASES.iter().enumerate() {
            assert_eq!(*p as u32, i as u32 + 1);
            assert_eq!(p.name(), *n);
            assert_eq!(Phase::from_u32(*p as u32), Some(*p));
            assert_eq!(parse(n.as_bytes()), Ok(Armed::At { phase: *p, skip: 0 }));
        }
        assert_eq!(Phase::from_u32(0), None);
        assert_eq!(Phase::from_u32(12), None);
    }

    #[test]
    fn parses_and_refuses() {
        assert_eq!(parse(b"none\n"), Ok(Armed::None));
        assert_eq!(parse(b"out_pages 3\n"), Ok(Armed::At { phase: Phase::OutPages, skip: 3 }));
        assert_eq!(parse(b"in_pages 1000000"), Ok(Armed::At { phase: Phase::InPages, skip: MAX_SKIP }));
        assert_eq!(parse(b"in_pages 1000001"), Err(FaultError::BadSkip));
        assert_eq!(parse(b"in_pages -1"), Err(FaultError::BadSkip));
        assert_eq!(parse(b"in_pages +1"), Err(FaultError::BadSkip));
        assert_eq!(parse(b"in_pages 99999999999"), Err(FaultError::BadSkip));
        assert_eq!(parse(b"in_pages "), Err(FaultError::BadSkip));
        assert_eq!(parse(b"in_pages 1 2"), Err(FaultError::Syntax));
        assert_eq!(parse(b"none 1"), Err(FaultError::Syntax));
        assert_eq!(parse(b""), Err(FaultError::Syntax));
        assert_eq!(parse(b"\n"), Err(FaultError::Syntax));
        assert_eq!(parse(b" in_pages"), Err(FaultError::Syntax));
        assert_eq!(parse(b"IN_PAGES"), Err(FaultError::UnknownPhase));
        assert_eq!(parse(b"out_pagesx"), Err(FaultError::UnknownPhase));
        assert_eq!(parse(&[0xff, 0xfe]), Err(FaultError::Syntax));
    }
}
