//! Line framing between the host and `roam-agent`.
//!
//! Every message is one ASCII line ending in `\n`; fields are separated by
//! single spaces. An `<id>` is chosen by the host, is non-empty and has no
//! whitespace; replies echo it. Binary payloads are hex-encoded (lowercase,
//! two digits per byte) so they cannot contain spaces or newlines.
//!
//! ```text
//! agent, at start:        @@READY
//! host:  @@PING <id>      agent: @@PONG <id>
//! host:  @@RUN <id> <hex> agent: @@OUT <id> <hex output>
//!                                @@END <id> <exit code, or 128+signal>
//! agent, on a bad line:   @@ERR <reason>
//! ```
//!
//! Empty lines and `\r` are ignored (see [`LineBuffer`]).

/// A host-to-agent message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// Liveness check, answered by [`Reply::Pong`].
    Ping(String),
    /// Run `cmd` with `/bin/sh -c`; answered by [`Reply::Out`] then
    /// [`Reply::End`].
    Run { id: String, cmd: Vec<u8> },
}

/// An agent-to-host message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// The agent has started and is listening.
    Ready,
    /// Answer to [`Request::Ping`].
    Pong(String),
    /// Everything the command wrote to stdout and stderr, interleaved.
    Out { id: String, data: Vec<u8> },
    /// The command finished with this exit code (128+signal if killed).
    End { id: String, rc: i32 },
    /// A request line could not be understood.
    Err(String),
}

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Encodes bytes as lowercase hex, two digits per byte.
pub fn encode_hex(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len() * 2);
    for &b in data {
        out.push(HEX_DIGITS[(b >> 4) as usize] as char);
        out.push(HEX_DIGITS[(b & 0xf) as usize] as char);
    }
    out
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Decodes hex (either case) back to bytes.
pub fn decode_hex(s: &str) -> Result<Vec<u8>, String> {
    let pairs = s.as_bytes().chunks_exact(2);
    if !pairs.remainder().is_empty() {
        return Err(format!("odd number of hex digits ({})", s.len()));
    }
    pairs
        .enumerate()
        .map(|(i, pair)| match (hex_value(pair[0]), hex_value(pair[1])) {
            (Some(hi), Some(lo)) => Ok((hi << 4) | lo),
            _ => Err(format!("not a hex digit at offset {}", 2 * i)),
        })
        .collect()
}

/// Strips the line terminator, if any.
fn strip_eol(line: &str) -> &str {
    line.trim_end_matches(['\n', '\r'])
}

/// Shortens untrusted text for quoting in an error; `{:?}` then escapes
/// control characters, so the reason stays on one line.
fn quote(s: &str) -> String {
    let short: String = s.chars().take(32).collect();
    format!("{short:?}")
}

fn check_id(verb: &str, id: Option<&str>) -> Result<String, String> {
    match id {
        Some(id) if !id.is_empty() && !id.contains(char::is_whitespace) => Ok(id.to_string()),
        Some(id) => Err(format!("{verb}: bad id {}", quote(id))),
        None => Err(format!("{verb}: missing id")),
    }
}

fn no_more_fields<'a>(verb: &str, mut fields: impl Iterator<Item = &'a str>) -> Result<(), String> {
    match fields.next() {
        None => Ok(()),
        Some(_) => Err(format!("{verb}: too many fields")),
    }
}

/// Parses a host request line (with or without its `\n`).
pub fn parse_request(line: &str) -> Result<Request, String> {
    let line = strip_eol(line);
    if line.is_empty() {
        return Err("empty line".to_string());
    }
    let mut fields = line.split(' ');
    let verb = fields.next().unwrap_or_default();
    match verb {
        "@@PING" => {
            let id = check_id(verb, fields.next())?;
            no_more_fields(verb, fields)?;
            Ok(Request::Ping(id))
        }
        "@@RUN" => {
            let id = check_id(verb, fields.next())?;
            let hex = fields.next().ok_or_else(|| format!("@@RUN {id}: missing command"))?;
            no_more_fields(verb, fields)?;
            let cmd = decode_hex(hex).map_err(|e| format!("@@RUN {id}: {e}"))?;
            Ok(Request::Run { id, cmd })
        }
        _ => Err(format!("unknown request {}", quote(verb))),
    }
}

/// Formats a request as a line, `\n` included. Ids must follow the rules
/// in the module documentation.
pub fn format_request(req: &Request) -> String {
    match req {
        Request::Ping(id) => format!("@@PING {id}\n"),
        Request::Run { id, cmd } => format!("@@RUN {id} {}\n", encode_hex(cmd)),
    }
}

/// Parses an agent reply line (with or without its `\n`). Returns `None`
/// for anything that is not a well-formed reply, such as stray output.
pub fn parse_reply(line: &str) -> Option<Reply> {
    let line = strip_eol(line);
    if let Some(reason) = line.strip_prefix("@@ERR") {
        return match reason.strip_prefix(' ') {
            Some(reason) => Some(Reply::Err(reason.to_string())),
            None if reason.is_empty() => Some(Reply::Err(String::new())),
            None => None,
        };
    }
    let fields: Vec<&str> = line.split(' ').collect();
    let id = |s: &str| check_id("", Some(s)).ok();
    match fields.as_slice() {
        ["@@READY"] => Some(Reply::Ready),
        ["@@PONG", i] => Some(Reply::Pong(id(i)?)),
        ["@@OUT", i, hex] => Some(Reply::Out { id: id(i)?, data: decode_hex(hex).ok()? }),
        ["@@END", i, rc] => Some(Reply::End { id: id(i)?, rc: rc.parse().ok()? }),
        _ => None,
    }
}

/// Formats a reply as a line, `\n` included. Line breaks in an error
/// reason are turned into spaces so it stays one line.
pub fn format_reply(reply: &Reply) -> String {
    match reply {
        Reply::Ready => "@@READY\n".to_string(),
        Reply::Pong(id) => format!("@@PONG {id}\n"),
        Reply::Out { id, data } => format!("@@OUT {id} {}\n", encode_hex(data)),
        Reply::End { id, rc } => format!("@@END {id} {rc}\n"),
        Reply::Err(reason) => format!("@@ERR {}\n", reason.replace(['\n', '\r'], " ")),
    }
}

/// Cuts a byte stream into lines: drops every `\r`, skips empty lines and
/// keeps an unfinished last line until the rest of it arrives.
#[derive(Debug, Default)]
pub struct LineBuffer {
    pending: Vec<u8>,
}

impl LineBuffer {
    /// An empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds bytes read from the stream and returns the lines they complete,
    /// without `\n`. Invalid UTF-8 is replaced by U+FFFD.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        let mut lines = Vec::new();
        for &b in bytes {
            match b {
                b'\n' => {
                    if !self.pending.is_empty() {
                        lines.push(String::from_utf8_lossy(&self.pending).into_owned());
                        self.pending.clear();
                    }
                }
                b'\r' => {}
                _ => self.pending.push(b),
            }
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let all: Vec<u8> = (0..=255).collect();
        let hex = encode_hex(&all);
        assert_eq!(hex.len(), 512);
        assert!(hex.starts_with("000102"));
        assert!(hex.ends_with("feff"));
        assert_eq!(decode_hex(&hex).unwrap(), all);
        assert_eq!(encode_hex(b""), "");
        assert_eq!(decode_hex("").unwrap(), b"");
        assert_eq!(encode_hex(b"ls -l\n"), "6c73202d6c0a");
    }

    #[test]
    fn hex_accepts_upper_case() {
        assert_eq!(decode_hex("DEadBeEF").unwrap(), [0xde, 0xad, 0xbe, 0xef]);
    }

    #[test]
    fn hex_rejects_malformed() {
        assert!(decode_hex("abc").unwrap_err().contains("odd"));
        assert!(decode_hex("zz").unwrap_err().contains("offset 0"));
        assert!(decode_hex("00g0").unwrap_err().contains("offset 2"));
        assert!(decode_hex("0 ").is_err());
        assert!(decode_hex("+1").is_err());
        assert!(decode_hex("é1").is_err());
    }

    #[test]
    fn request_round_trip() {
        let reqs = [
            Request::Ping("1".into()),
            Request::Ping("abc-42".into()),
            Request::Run { id: "7".into(), cmd: b"echo hi; echo err >&2\n".to_vec() },
            Request::Run { id: "8".into(), cmd: Vec::new() },
            Request::Run { id: "9".into(), cmd: (0..=255).collect() },
        ];
        for req in reqs {
            let line = format_request(&req);
            assert!(line.ends_with('\n'));
            assert_eq!(line.matches('\n').count(), 1);
            assert_eq!(parse_request(&line), Ok(req.clone()));
            // Without the terminator, and with a CRLF one.
            assert_eq!(parse_request(line.trim_end_matches('\n')), Ok(req.clone()));
            assert_eq!(parse_request(&line.replace('\n', "\r\n")), Ok(req));
        }
    }

    #[test]
    fn request_exact_text() {
        assert_eq!(format_request(&Request::Ping("5".into())), "@@PING 5\n");
        assert_eq!(
            parse_request("@@RUN 3 6563686f206869"),
            Ok(Request::Run { id: "3".into(), cmd: b"echo hi".to_vec() })
        );
    }

    #[test]
    fn malformed_requests() {
        let bad = [
            ("", "empty"),
            ("hello", "unknown request"),
            ("@@PONG 1", "unknown request"),
            ("@@ping 1", "unknown request"),
            ("@@PING", "missing id"),
            ("@@PING ", "bad id"),
            ("@@PING  1", "bad id"),
            ("@@PING 1 2", "too many"),
            ("@@PING 1\t2", "bad id"),
            ("@@RUN", "missing id"),
            ("@@RUN 1", "missing command"),
            ("@@RUN 1 6c73 00", "too many"),
            ("@@RUN 1 6c7", "odd"),
            ("@@RUN 1 xy", "not a hex digit"),
            (" @@PING 1", "unknown request"),
        ];
        for (line, want) in bad {
            let err = parse_request(line).expect_err(line);
            assert!(err.contains(want), "{line:?}: {err:?} lacks {want:?}");
            assert!(!err.contains('\n') && !err.contains('\r'), "{err:?}");
        }
    }

    #[test]
    fn error_reasons_stay_on_one_line() {
        let err = parse_request("junk\u{7}\u{0}line").unwrap_err();
        assert!(!err.chars().any(char::is_control), "{err:?}");
        let long = "x".repeat(10_000);
        assert!(parse_request(&long).unwrap_err().len() < 100);
        let line = format_reply(&Reply::Err("a\nb\rc".into()));
        assert_eq!(line, "@@ERR a b c\n");
    }

    #[test]
    fn reply_round_trip() {
        let replies = [
            Reply::Ready,
            Reply::Pong("1".into()),
            Reply::Out { id: "2".into(), data: b"hello\nworld\n".to_vec() },
            Reply::Out { id: "3".into(), data: Vec::new() },
            Reply::End { id: "2".into(), rc: 0 },
            Reply::End { id: "4".into(), rc: 137 },
            Reply::End { id: "5".into(), rc: -1 },
            Reply::Err("unknown request \"x\"".into()),
            Reply::Err(String::new()),
        ];
        for reply in replies {
            let line = format_reply(&reply);
            assert!(line.ends_with('\n'));
            assert_eq!(line.matches('\n').count(), 1);
            assert_eq!(parse_reply(&line), Some(reply.clone()));
            assert_eq!(parse_reply(&line.replace('\n', "\r\n")), Some(reply));
        }
    }

    #[test]
    fn reply_exact_text() {
        assert_eq!(format_reply(&Reply::Ready), "@@READY\n");
        assert_eq!(format_reply(&Reply::Pong("9".into())), "@@PONG 9\n");
        assert_eq!(
            format_reply(&Reply::Out { id: "1".into(), data: b"ok\n".to_vec() }),
            "@@OUT 1 6f6b0a\n"
        );
        assert_eq!(format_reply(&Reply::End { id: "1".into(), rc: 3 }), "@@END 1 3\n");
    }

    #[test]
    fn malformed_replies_are_ignored() {
        let bad = [
            "",
            "[    1.234] random console output",
            "@@READY now",
            "@@PONG",
            "@@PONG 1 2",
            "@@OUT 1",
            "@@OUT 1 abc",
            "@@OUT 1 zz",
            "@@END 1",
            "@@END 1 x",
            "@@END 1 99999999999",
            "@@END  0",
            "@@ERRx",
            "x@@READY",
        ];
        for line in bad {
            assert_eq!(parse_reply(line), None, "{line:?}");
        }
    }

    #[test]
    fn line_buffer_splits_and_cleans() {
        let mut lb = LineBuffer::new();
        assert!(lb.push(b"@@PI").is_empty());
        assert_eq!(lb.push(b"NG 1\r\n\n\r\n@@PING 2\n@@RU"), ["@@PING 1", "@@PING 2"]);
        assert_eq!(lb.push(b"N 3 00\n"), ["@@RUN 3 00"]);
        assert_eq!(lb.push(b"a\xffb\n"), ["a\u{fffd}b"]);
        assert!(lb.push(b"\n\r\r\n").is_empty());
    }
}
