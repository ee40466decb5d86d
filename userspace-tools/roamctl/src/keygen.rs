//! `roamctl keygen`: a fresh random cluster key, for a key file.

use std::fs::File;
use std::io::Read;

use serde::Serialize;

use crate::error::CtlError;

/// Key length in bytes (64 hex digits).
pub const KEY_BYTES: usize = 32;

/// Reads random bytes from `/dev/urandom` and returns the text to print.
pub fn run(json: bool) -> Result<String, CtlError> {
    let mut key = [0u8; KEY_BYTES];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut key))
        .map_err(|e| CtlError::Io {
            action: "read /dev/urandom".to_string(),
            detail: e.to_string(),
        })?;
    Ok(format_key(&key, json))
}

/// Lower-case hex, two digits a byte.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Serialize)]
struct KeyJson {
    key: String,
}

/// The hex key alone, or `{"key":"..."}`.
pub fn format_key(key: &[u8], json: bool) -> String {
    if json {
        serde_json::to_string(&KeyJson { key: hex(key) }).expect("a string always serializes")
    } else {
        hex(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use roam_proto::config::{parse_key_hex, KEY_MAX};

    #[test]
    fn hex_and_json() {
        assert_eq!(hex(&[0, 0xab, 0x10]), "00ab10");
        assert_eq!(format_key(&[0xff, 1], true), r#"{"key":"ff01"}"#);
    }

    #[test]
    fn generated_keys_are_valid_and_differ() {
        let a = run(false).unwrap();
        let b = run(false).unwrap();
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        let mut out = [0u8; KEY_MAX];
        assert_eq!(parse_key_hex(a.as_bytes(), &mut out), Ok(KEY_BYTES));
    }
}
