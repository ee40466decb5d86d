//! `config`: what root writes to `/sys/kernel/roam/` (`kmod/control`,
//! `kmod/cluster/configure.rs`), through every parser of
//! [`roam_proto::config`] and the sysfs number parsers of
//! [`roam_proto::abi`]. Each input goes through all of them.
//!
//! Checks: an IPv4 address is never 0.0.0.0 nor 224.0.0.0 and above, and
//! the accepted text is exactly its dotted quad (no leading zeros); ports
//! are 1..=65535; a peer command names a node id in range and parses
//! again from its own canonical form; a key is 16..=64 bytes whose hex is
//! the input; a ranged value is in its range; a number's decimal form is
//! the input (less one newline).

use crate::ensure;
use crate::target::{Cx, Target, Violation};
use roam_proto::abi::{self, ParseError, NODE_ID_MAX, NODE_ID_MIN};
use roam_proto::config::{self, ConfigError, ListenCmd, PeerCmd, KEY_MAX, KEY_MIN};

/// The snake_case name of a configuration error.
fn name(e: ConfigError) -> &'static str {
    match e {
        ConfigError::Syntax => "syntax",
        ConfigError::Range => "range",
        ConfigError::SelfId => "self_id",
        ConfigError::DuplicateId => "duplicate_id",
        ConfigError::DuplicateAddr => "duplicate_addr",
        ConfigError::NoSuchPeer => "no_such_peer",
        ConfigError::Full => "full",
        ConfigError::BadKey => "bad_key",
    }
}

/// The snake_case name of a number parsing error.
fn parse_name(e: ParseError) -> &'static str {
    match e {
        ParseError::Empty => "empty",
        ParseError::NotANumber => "not_a_number",
        ParseError::OutOfRange => "out_of_range",
    }
}

/// A dotted quad.
fn quad(ip: u32) -> String {
    let mut s = String::new();
    let _ = config::fmt_ipv4(ip, &mut s);
    s
}

/// The `config` target.
pub struct Config;

static DICT: [&[u8]; 12] = [
    b"add ",
    b"del ",
    b"clear",
    b"off",
    b"\n",
    b" ",
    b".",
    b":",
    b"65535",
    b"7077",
    b"255",
    b"00112233445566778899aabbccddeeff",
];

impl Target for Config {
    fn name(&self) -> &'static str {
        "config"
    }

    fn about(&self) -> &'static str {
        "sysfs configuration text (config::parse_listen/peer_cmd/key_hex/ranged/addr, abi::parse_u32/node_id)"
    }

    fn seeds(&self) -> Vec<Vec<u8>> {
        [
            &b"off\n"[..],
            b"7077",
            b"10.77.0.2:9000\n",
            b"10.0.0.1",
            b"add 2 10.77.0.2\n",
            b"add 65534 192.168.1.254:65535",
            b"del 3",
            b"clear\n",
            b"00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF\n",
            b"00112233445566778899aabbccddeeff",
            b"100\n",
            b"4294967295",
            b"223.255.255.255",
        ]
        .iter()
        .map(|s| s.to_vec())
        .collect()
    }

    fn max_len(&self) -> usize {
        256
    }

    fn dict(&self) -> &'static [&'static [u8]] {
        &DICT
    }

    fn run(&self, data: &[u8], cx: &mut Cx) -> Result<(), Violation> {
        let text = config::trim_nl(data);
        ensure!(
            text.len() + usize::from(data.last() == Some(&b'\n')) == data.len(),
            "trim_nl removed more than one newline"
        );
        match config::parse_ipv4(data) {
            Ok(ip) => {
                cx.hit("ipv4", "ok");
                ensure!(ip != 0 && ip >> 24 < 224, "accepted address {}", quad(ip));
                // A newline is no part of a dotted quad (parse_u32, which
                // reads each octet, takes one off the end of each).
                ensure!(
                    !data.contains(&b'\n'),
                    "{:?} parsed as {}: a newline inside an address",
                    String::from_utf8_lossy(data),
                    quad(ip)
                );
                ensure!(quad(ip).as_bytes() == data, "{:?} parsed as {}", String::from_utf8_lossy(data), quad(ip));
            }
            Err(e) => cx.hit("ipv4", name(e)),
        }
        match config::parse_addr(text, config::DEFAULT_PORT) {
            Ok((ip, port)) => {
                cx.hit("addr", "ok");
                ensure!(ip != 0 && ip >> 24 < 224 && port != 0, "accepted {}:{port}", quad(ip));
            }
            Err(e) => cx.hit("addr", name(e)),
        }
        match config::parse_listen(data) {
            Ok(ListenCmd::Off) => cx.hit("listen", "off"),
            Ok(ListenCmd::On { ip, port }) => {
                cx.hit("listen", "on");
                ensure!(port != 0 && ip >> 24 < 224, "listen on {}:{port}", quad(ip));
            }
            Err(e) => cx.hit("listen", name(e)),
        }
        match config::parse_peer_cmd(data) {
            Ok(cmd) => {
                cx.hit("peer", "ok");
                let canonical = match cmd {
                    PeerCmd::Add { id, ip, port } => {
                        ensure!(
                            (NODE_ID_MIN..=NODE_ID_MAX).contains(&id) && port != 0 && ip != 0,
                            "peer command {cmd:?}"
                        );
                        format!("add {id} {}:{port}", quad(ip))
                    }
                    PeerCmd::Del { id } => {
                        ensure!((NODE_ID_MIN..=NODE_ID_MAX).contains(&id), "peer command {cmd:?}");
                        format!("del {id}")
                    }
                    PeerCmd::Clear => "clear".to_string(),
                };
                let again = config::parse_peer_cmd(canonical.as_bytes());
                ensure!(again == Ok(cmd), "{canonical:?} parses as {again:?}, not {cmd:?}");
            }
            Err(e) => cx.hit("peer", name(e)),
        }
        let mut key = [0u8; KEY_MAX];
        match config::parse_key_hex(data, &mut key) {
            Ok(n) => {
                cx.hit("key", "ok");
                ensure!(
                    (KEY_MIN..=KEY_MAX).contains(&n) && n * 2 == text.len(),
                    "a {n}-byte key from {} digits",
                    text.len()
                );
                let hex: String = key[..n].iter().map(|b| format!("{b:02x}")).collect();
                ensure!(
                    hex.as_bytes() == text.to_ascii_lowercase(),
                    "key {hex} from {:?}",
                    String::from_utf8_lossy(text)
                );
            }
            Err(e) => cx.hit("key", name(e)),
        }
        match config::parse_ranged(data, 10, 1000) {
            Ok(v) => {
                cx.hit("ranged", "ok");
                ensure!((10..=1000).contains(&v), "ranged value {v}");
            }
            Err(e) => cx.hit("ranged", name(e)),
        }
        match abi::parse_u32(data) {
            Ok(v) => {
                cx.hit("u32", "ok");
                ensure!(v.to_string().as_bytes() == text, "{v} parsed from {:?}", String::from_utf8_lossy(data));
            }
            Err(e) => cx.hit("u32", parse_name(e)),
        }
        match abi::parse_node_id(data) {
            Ok(v) => {
                cx.hit("node_id", "ok");
                ensure!((NODE_ID_MIN..=NODE_ID_MAX).contains(&v), "node id {v}");
            }
            Err(e) => cx.hit("node_id", parse_name(e)),
        }
        let existing = [(2u32, 0x0a4d_0002u32, 7077u16), (3, 0x0a4d_0003, 7077)];
        if let Ok(PeerCmd::Add { id, ip, port }) = config::parse_peer_cmd(data) {
            let r = config::check_new_peer(1, existing.iter().copied(), existing.len(), id, ip, port);
            cx.hit("new_peer", r.map_or_else(name, |()| "ok"));
        }
        Ok(())
    }
}
