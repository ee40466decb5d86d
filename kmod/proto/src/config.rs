//! Parsing and validation of the cluster configuration that root writes to
//! `/sys/kernel/roam/` (key, listen address, peers, tunables).
//!
//! Everything is checked here, before the module changes any state, so a
//! refused write leaves the node exactly as it was.

/// The TCP port roam listens on unless told otherwise.
pub const DEFAULT_PORT: u16 = 7077;
/// Most peers a node keeps (connections and receiver threads are bounded
/// by this).
pub const MAX_PEERS: usize = 64;
/// Shortest and longest cluster key in bytes.
pub const KEY_MIN: usize = 16;
/// See [`KEY_MIN`].
pub const KEY_MAX: usize = 64;

/// Why a configuration write was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// Not in the expected syntax.
    Syntax,
    /// A number or address outside what is allowed.
    Range,
    /// The peer's node id is this node's own id.
    SelfId,
    /// Another peer already has this node id.
    DuplicateId,
    /// Another peer already has this address and port.
    DuplicateAddr,
    /// No such peer.
    NoSuchPeer,
    /// Too many peers.
    Full,
    /// The key is not 32..=128 hex digits.
    BadKey,
}

impl ConfigError {
    /// An explanation for dmesg and tools.
    pub const fn reason(self) -> &'static str {
        match self {
            ConfigError::Syntax => "syntax error",
            ConfigError::Range => "value out of range",
            ConfigError::SelfId => "peer id is this node's own id",
            ConfigError::DuplicateId => "duplicate node id",
            ConfigError::DuplicateAddr => "duplicate node address",
            ConfigError::NoSuchPeer => "no such peer",
            ConfigError::Full => "too many peers",
            ConfigError::BadKey => "key must be 32 to 128 hex digits (16 to 64 bytes)",
        }
    }
}

/// Strips one trailing newline (what `echo` adds).
pub fn trim_nl(b: &[u8]) -> &[u8] {
    match b {
        [rest @ .., b'\n'] => rest,
        _ => b,
    }
}

/// Parses a dotted-quad IPv4 address into host byte order. Refuses
/// 0.0.0.0, broadcast, multicast and reserved (224.0.0.0 and up).
pub fn parse_ipv4(s: &[u8]) -> Result<u32, ConfigError> {
    let mut parts = s.split(|&c| c == b'.');
    let mut ip: u32 = 0;
    for _ in 0..4 {
        let p = parts.next().ok_or(ConfigError::Syntax)?;
        // Digits only: `parse_u32` would also take a trailing newline,
        // and so an address with one inside (found by the fuzzer).
        if p.is_empty() || p.len() > 3 || (p.len() > 1 && p[0] == b'0') || !p.iter().all(u8::is_ascii_digit) {
            return Err(ConfigError::Syntax);
        }
        let v = crate::abi::parse_u32(p).map_err(|_| ConfigError::Syntax)?;
        if v > 255 {
            return Err(ConfigError::Range);
        }
        ip = (ip << 8) | v;
    }
    if parts.next().is_some() {
        return Err(ConfigError::Syntax);
    }
    if ip == 0 || (ip >> 24) >= 224 {
        return Err(ConfigError::Range);
    }
    Ok(ip)
}

/// Parses `IP` or `IP:PORT` (port 1..=65535).
pub fn parse_addr(s: &[u8], default_port: u16) -> Result<(u32, u16), ConfigError> {
    let mut it = s.splitn(2, |&c| c == b':');
    let ip = parse_ipv4(it.next().ok_or(ConfigError::Syntax)?)?;
    let port = match it.next() {
        None => default_port,
        Some(p) => {
            if !p.iter().all(u8::is_ascii_digit) {
                return Err(ConfigError::Syntax);
            }
            let v = crate::abi::parse_u32(p).map_err(|_| ConfigError::Syntax)?;
            if v == 0 || v > 65535 {
                return Err(ConfigError::Range);
            }
            v as u16
        }
    };
    Ok((ip, port))
}

/// What `/sys/kernel/roam/listen` accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListenCmd {
    /// Stop the transport.
    Off,
    /// Listen on this address (ip may be 0 for "any") and port.
    On { ip: u32, port: u16 },
}

/// Parses `off`, `PORT`, `IP:PORT` or `IP` (default port).
pub fn parse_listen(input: &[u8]) -> Result<ListenCmd, ConfigError> {
    let s = trim_nl(input);
    if s == b"off" {
        return Ok(ListenCmd::Off);
    }
    if !s.is_empty() && s.iter().all(|c| c.is_ascii_digit()) {
        let v = crate::abi::parse_u32(s).map_err(|_| ConfigError::Syntax)?;
        if v == 0 || v > 65535 {
            return Err(ConfigError::Range);
        }
        return Ok(ListenCmd::On { ip: 0, port: v as u16 });
    }
    let (ip, port) = parse_addr(s, DEFAULT_PORT)?;
    Ok(ListenCmd::On { ip, port })
}

/// What `/sys/kernel/roam/peers` accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerCmd {
    /// `add ID IP[:PORT]`
    Add { id: u32, ip: u32, port: u16 },
    /// `del ID`
    Del { id: u32 },
    /// `clear`
    Clear,
}

/// Parses one peer command (one line, single spaces).
pub fn parse_peer_cmd(input: &[u8]) -> Result<PeerCmd, ConfigError> {
    let s = trim_nl(input);
    let mut words = s.split(|&c| c == b' ');
    let verb = words.next().ok_or(ConfigError::Syntax)?;
    let cmd = match verb {
        b"add" => {
            let id = crate::abi::parse_node_id(words.next().ok_or(ConfigError::Syntax)?)
                .map_err(|_| ConfigError::Range)?;
            let (ip, port) = parse_addr(words.next().ok_or(ConfigError::Syntax)?, DEFAULT_PORT)?;
            PeerCmd::Add { id, ip, port }
        }
        b"del" => {
            let id = crate::abi::parse_node_id(words.next().ok_or(ConfigError::Syntax)?)
                .map_err(|_| ConfigError::Range)?;
            PeerCmd::Del { id }
        }
        b"clear" => PeerCmd::Clear,
        _ => return Err(ConfigError::Syntax),
    };
    if words.next().is_some() {
        return Err(ConfigError::Syntax);
    }
    Ok(cmd)
}

/// Checks that a new peer fits with this node (`me`) and the `existing`
/// peers (id, ip, port), as Popcorn did not: duplicates are refused.
pub fn check_new_peer(
    me: u32,
    existing: impl Iterator<Item = (u32, u32, u16)>,
    count: usize,
    id: u32,
    ip: u32,
    port: u16,
) -> Result<(), ConfigError> {
    if id == me {
        return Err(ConfigError::SelfId);
    }
    for (eid, eip, eport) in existing {
        if eid == id {
            return Err(ConfigError::DuplicateId);
        }
        if eip == ip && eport == port {
            return Err(ConfigError::DuplicateAddr);
        }
    }
    if count >= MAX_PEERS {
        return Err(ConfigError::Full);
    }
    Ok(())
}

/// Parses a hex key into `out`, returning its length in bytes.
pub fn parse_key_hex(input: &[u8], out: &mut [u8; KEY_MAX]) -> Result<usize, ConfigError> {
    let s = trim_nl(input);
    if !s.len().is_multiple_of(2) || s.len() < KEY_MIN * 2 || s.len() > KEY_MAX * 2 {
        return Err(ConfigError::BadKey);
    }
    let nib = |c: u8| -> Result<u8, ConfigError> {
        match c {
            b'0'..=b'9' => Ok(c - b'0'),
            b'a'..=b'f' => Ok(c - b'a' + 10),
            b'A'..=b'F' => Ok(c - b'A' + 10),
            _ => Err(ConfigError::BadKey),
        }
    };
    let mut n = 0;
    for pair in s.chunks(2) {
        let hi = nib(*pair.first().ok_or(ConfigError::BadKey)?)?;
        let lo = nib(*pair.get(1).ok_or(ConfigError::BadKey)?)?;
        *out.get_mut(n).ok_or(ConfigError::BadKey)? = (hi << 4) | lo;
        n += 1;
    }
    Ok(n)
}

/// Parses a decimal tunable and checks it lies in `lo..=hi`.
pub fn parse_ranged(input: &[u8], lo: u32, hi: u32) -> Result<u32, ConfigError> {
    let v = crate::abi::parse_u32(input).map_err(|_| ConfigError::Syntax)?;
    if v < lo || v > hi {
        return Err(ConfigError::Range);
    }
    Ok(v)
}

/// Writes an IPv4 address (host order) as a dotted quad.
pub fn fmt_ipv4(ip: u32, f: &mut impl core::fmt::Write) -> core::fmt::Result {
    write!(f, "{}.{}.{}.{}", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4() {
        assert_eq!(parse_ipv4(b"10.77.0.2"), Ok(0x0a4d_0002));
        assert_eq!(parse_ipv4(b"0.0.0.0"), Err(ConfigError::Range));
        assert_eq!(parse_ipv4(b"224.0.0.1"), Err(ConfigError::Range));
        assert_eq!(parse_ipv4(b"10.77.0.256"), Err(ConfigError::Range));
        assert_eq!(parse_ipv4(b"10.77.0"), Err(ConfigError::Syntax));
        assert_eq!(parse_ipv4(b"10.77.0.1.5"), Err(ConfigError::Syntax));
        assert_eq!(parse_ipv4(b"10.077.0.1"), Err(ConfigError::Syntax));
        assert_eq!(parse_ipv4(b"10\n.0.0.1"), Err(ConfigError::Syntax));
        assert_eq!(parse_ipv4(b"10.0.0.1\n"), Err(ConfigError::Syntax));
        assert_eq!(parse_listen(b"10.0.0.1:80\n"), Ok(ListenCmd::On { ip: 0x0a00_0001, port: 80 }));
        assert_eq!(parse_listen(b"10.0.0.1:80\n\n"), Err(ConfigError::Syntax));
        assert_eq!(parse_listen(b"10.0.0.1\n"), Ok(ListenCmd::On { ip: 0x0a00_0001, port: DEFAULT_PORT }));
        assert_eq!(parse_ipv4(b"a.b.c.d"), Err(ConfigError::Syntax));
    }

    #[test]
    fn listen() {
        assert_eq!(parse_listen(b"off\n"), Ok(ListenCmd::Off));
        assert_eq!(parse_listen(b"7077"), Ok(ListenCmd::On { ip: 0, port: 7077 }));
        assert_eq!(parse_listen(b"10.0.0.1:9\n"), Ok(ListenCmd::On { ip: 0x0a00_0001, port: 9 }));
        assert_eq!(parse_listen(b"10.0.0.1"), Ok(ListenCmd::On { ip: 0x0a00_0001, port: DEFAULT_PORT }));
        assert_eq!(parse_listen(b"0"), Err(ConfigError::Range));
        assert_eq!(parse_listen(b"70000"), Err(ConfigError::Range));
        assert_eq!(parse_listen(b"on"), Err(ConfigError::Syntax));
    }

    #[test]
    fn peers() {
        assert_eq!(parse_peer_cmd(b"add 2 10.77.0.2\n"), Ok(PeerCmd::Add { id: 2, ip: 0x0a4d_0002, port: DEFAULT_PORT }));
        assert_eq!(parse_peer_cmd(b"add 2 10.77.0.2:9000"), Ok(PeerCmd::Add { id: 2, ip: 0x0a4d_0002, port: 9000 }));
        assert_eq!(parse_peer_cmd(b"del 3"), Ok(PeerCmd::Del { id: 3 }));
        assert_eq!(parse_peer_cmd(b"clear\n"), Ok(PeerCmd::Clear));
        assert_eq!(parse_peer_cmd(b"add 0 10.0.0.1"), Err(ConfigError::Range));
        assert_eq!(parse_peer_cmd(b"add 2"), Err(ConfigError::Syntax));
        assert_eq!(parse_peer_cmd(b"add 2 10.0.0.1 extra"), Err(ConfigError::Syntax));
        assert_eq!(parse_peer_cmd(b"add  2 10.0.0.1"), Err(ConfigError::Range));
        assert_eq!(parse_peer_cmd(b"frob"), Err(ConfigError::Syntax));
        assert_eq!(parse_peer_cmd(b""), Err(ConfigError::Syntax));
    }

    #[test]
    fn duplicates_are_refused() {
        let existing = [(2u32, 10u32, 7077u16), (3, 11, 7077)];
        let it = || existing.iter().copied();
        assert_eq!(check_new_peer(1, it(), 2, 4, 12, 7077), Ok(()));
        assert_eq!(check_new_peer(1, it(), 2, 1, 12, 7077), Err(ConfigError::SelfId));
        assert_eq!(check_new_peer(1, it(), 2, 2, 12, 7077), Err(ConfigError::DuplicateId));
        assert_eq!(check_new_peer(1, it(), 2, 4, 11, 7077), Err(ConfigError::DuplicateAddr));
        assert_eq!(check_new_peer(1, it(), 2, 4, 11, 7078), Ok(()));
        assert_eq!(check_new_peer(1, it(), MAX_PEERS, 4, 12, 7077), Err(ConfigError::Full));
    }

    #[test]
    fn keys() {
        let mut k = [0u8; KEY_MAX];
        let hex = b"00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF\n";
        assert_eq!(parse_key_hex(hex, &mut k), Ok(32));
        assert_eq!(k[1], 0x11);
        assert_eq!(k[31], 0xff);
        assert_eq!(parse_key_hex(b"0011", &mut k), Err(ConfigError::BadKey));
        assert_eq!(parse_key_hex(&[b'a'; 130], &mut k), Err(ConfigError::BadKey));
        assert_eq!(parse_key_hex(&[b'g'; 32], &mut k), Err(ConfigError::BadKey));
        assert_eq!(parse_key_hex(&[b'a'; 33], &mut k), Err(ConfigError::BadKey));
    }

    #[test]
    fn ranged_and_format() {
        assert_eq!(parse_ranged(b"100\n", 10, 1000), Ok(100));
        assert_eq!(parse_ranged(b"5", 10, 1000), Err(ConfigError::Range));
        let mut s = std::string::String::new();
        fmt_ipv4(0x0a4d_0002, &mut s).unwrap();
        assert_eq!(s, "10.77.0.2");
    }
}
