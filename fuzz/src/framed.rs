//! Inputs that are sequences of messages (a migration image is one
//! message per frame): each message is a u32 little-endian length and
//! that many bytes. [`split`] reads any bytes as such a sequence, [`join`]
//! writes one.
//!
//! Calls nothing.

/// Most messages read from one input.
pub const MAX_MESSAGES: usize = 256;

/// The messages of `data`. Whatever the bytes: a length running past the
/// end gives the bytes that are there (a truncated last message), fewer
/// than 4 bytes left end the sequence, and reading stops after
/// [`MAX_MESSAGES`].
pub fn split(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    while out.len() < MAX_MESSAGES {
        let Some((len, tail)) = rest.split_first_chunk::<4>() else { break };
        let len = u32::from_le_bytes(*len) as usize;
        let (msg, next) = tail.split_at(len.min(tail.len()));
        out.push(msg);
        rest = next;
    }
    out
}

/// The input holding `msgs` in order.
pub fn join<M: AsRef<[u8]>>(msgs: &[M]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in msgs {
        let m = m.as_ref();
        out.extend_from_slice(&(m.len() as u32).to_le_bytes());
        out.extend_from_slice(m);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{join, split};

    #[test]
    fn round_trip_and_truncation() {
        let msgs: Vec<Vec<u8>> = vec![b"abc".to_vec(), vec![], vec![7; 10]];
        let data = join(&msgs);
        assert_eq!(split(&data), msgs.iter().map(|m| &m[..]).collect::<Vec<_>>());
        // Cut inside the last message: it comes back short.
        assert_eq!(split(&data[..data.len() - 3]).last().map(|m| m.len()), Some(7));
        // Cut inside a length: that message is gone.
        assert_eq!(split(&data[..9]).len(), 1);
        assert!(split(&[1, 2]).is_empty());
    }
}
