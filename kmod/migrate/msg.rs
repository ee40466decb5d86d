// SPDX-License-Identifier: GPL-2.0

//! The small messages of the migration engine: process events between
//! nodes (`Proc` frames) and a destination's verdict on an outgoing
//! migration. Pure encoding; imports nothing of the engine's.

/// Process events between nodes (`Proc` frames): 24 bytes, `kind u32,
/// home_pid u32, a u32, b u32, token u64`, little-endian. Every event
/// about a process carries its token (`ImageHeader::token`, drawn by its
/// home each time it leaves, known only to its home and its hosts):
/// taken only with it, an event cannot be forged by another member nor
/// reach a later process that got the same pid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ProcMsg {
    /// The remote ended with this wait status.
    Exit { home_pid: u32, status: u32, token: u64 },
    /// Deliver this signal to the remote.
    Signal { home_pid: u32, sig: u32, token: u64 },
    /// Move the remote to node `dest` (0: home).
    Recall { home_pid: u32, dest: u32, token: u64 },
    /// The process now runs on the sending node with local pid `pid`; it
    /// brought `pages` pages; `token` is its image's (`ImageHeader::token`),
    /// which only its hosts know.
    Moved { home_pid: u32, pid: u32, pages: u32, token: u64 },
    /// The source's commit point: start migration `id` (the destination
    /// accepted it; the source has given it up).
    Go { id: u32 },
    /// The remote could not carry out a `Recall`: it stays where it is;
    /// `code` says why (a refusal code).
    Stayed { home_pid: u32, code: u32, token: u64 },
    /// A signal for the remote arrived where it runs while home makes its
    /// forwarded call `id`: interrupt the call there, as the signal would
    /// have at home.
    Interrupt { home_pid: u32, id: u32, token: u64 },
}

impl ProcMsg {
    pub(super) fn encode(&self) -> [u8; 24] {
        let (k, p, a, b, t) = match *self {
            ProcMsg::Exit { home_pid, status, token } => (1, home_pid, status, 0, token),
            ProcMsg::Signal { home_pid, sig, token } => (2, home_pid, sig, 0, token),
            ProcMsg::Recall { home_pid, dest, token } => (3, home_pid, dest, 0, token),
            ProcMsg::Moved { home_pid, pid, pages, token } => (4, home_pid, pid, pages, token),
            ProcMsg::Go { id } => (5, 0, id, 0, 0),
            ProcMsg::Stayed { home_pid, code, token } => (6, home_pid, code, 0, token),
            ProcMsg::Interrupt { home_pid, id, token } => (7, home_pid, id, 0, token),
        };
        let mut out = [0u8; 24];
        for (i, v) in [k, p, a, b].iter().enumerate() {
            out[i * 4..i * 4 + 4].copy_from_slice(&u32::to_le_bytes(*v));
        }
        out[16..24].copy_from_slice(&u64::to_le_bytes(t));
        out
    }

    pub(super) fn decode(b: &[u8]) -> Option<ProcMsg> {
        if b.len() != 24 {
            return None;
        }
        let w = |i: usize| u32::from_le_bytes([b[i * 4], b[i * 4 + 1], b[i * 4 + 2], b[i * 4 + 3]]);
        let token = u64::from(w(4)) | (u64::from(w(5)) << 32);
        Some(match w(0) {
            1 => ProcMsg::Exit { home_pid: w(1), status: w(2), token },
            2 => ProcMsg::Signal { home_pid: w(1), sig: w(2), token },
            3 => ProcMsg::Recall { home_pid: w(1), dest: w(2), token },
            4 => ProcMsg::Moved { home_pid: w(1), pid: w(2), pages: w(3), token },
            5 => ProcMsg::Go { id: w(2) },
            6 => ProcMsg::Stayed { home_pid: w(1), code: w(2), token },
            7 => ProcMsg::Interrupt { home_pid: w(1), id: w(2), token },
            _ => return None,
        })
    }
}

/// The destination's answer to an outgoing migration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Ready for the rest of the image; bit `i` set: it maps the area of
    /// file offer `i` itself.
    Ready(u64),
    /// Committed: runs there with this local pid (0 at home).
    Accepted(u32),
    /// Refused, with a `refusal` code.
    Refused(u32),
}

