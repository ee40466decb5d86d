//! `roamctl status`: this node's id, state and roam version.

use roam_proto::abi::{DecodeError, NodeState, Status, ROAM_IOC_STATUS};
use serde::Serialize;

use crate::dev::Device;
use crate::error::CtlError;

/// Queries the module and returns the text to print.
pub fn run(json: bool) -> Result<String, CtlError> {
    let dev = Device::open().map_err(|e| CtlError::from_io("open /dev/roam", &e))?;
    let mut buf = [0u8; Status::SIZE];
    dev.ioctl_read(ROAM_IOC_STATUS, &mut buf)
        .map_err(|e| CtlError::from_io("read the status from /dev/roam", &e))?;
    let status = decode(&buf)?;
    Ok(if json { format_json(&status) } else { format_human(&status) })
}

/// Decodes the ioctl answer, turning decode failures into user errors.
pub fn decode(buf: &[u8]) -> Result<Status, CtlError> {
    Status::from_bytes(buf).map_err(|e| match e {
        DecodeError::AbiMismatch(theirs) => CtlError::abi_mismatch(theirs),
        DecodeError::Short => CtlError::Io {
            action: "read the status from /dev/roam".to_string(),
            detail: "the module returned a truncated status".to_string(),
        },
    })
}

/// The state's name, or `unknown(N)` for a value this roamctl does not know.
pub fn state_name(state: u32) -> String {
    match NodeState::from_u32(state) {
        Some(s) => s.name().to_string(),
        None => format!("unknown({state})"),
    }
}

/// Human-readable form, one field per line (no trailing newline).
pub fn format_human(s: &Status) -> String {
    let node_id = if s.node_id == 0 {
        "0 (unconfigured)".to_string()
    } else {
        s.node_id.to_string()
    };
    format!(
        "node id:  {node_id}\nstate:    {}\nversion:  {} (ABI {})",
        state_name(s.state),
        s.version_str(),
        s.abi_version
    )
}

#[derive(Serialize)]
struct StatusJson<'a> {
    node_id: u32,
    state: String,
    version: &'a str,
    abi_version: u32,
}

/// One line of JSON: `{"node_id":..,"state":..,"version":..,"abi_version":..}`.
pub fn format_json(s: &Status) -> String {
    let doc = StatusJson {
        node_id: s.node_id,
        state: state_name(s.state),
        version: s.version_str(),
        abi_version: s.abi_version,
    };
    serde_json::to_string(&doc).expect("a struct of strings and numbers always serializes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use roam_proto::abi::{ROAM_ABI_VERSION, ROAM_VERSION};

    #[test]
    fn human_output() {
        let s = Status::new(2, NodeState::Up);
        assert_eq!(
            format_human(&s),
            format!("node id:  2\nstate:    up\nversion:  {ROAM_VERSION} (ABI {ROAM_ABI_VERSION})")
        );
    }

    #[test]
    fn human_output_unconfigured() {
        let s = Status::new(0, NodeState::Unconfigured);
        let text = format_human(&s);
        assert!(text.starts_with("node id:  0 (unconfigured)\nstate:    unconfigured\n"), "{text}");
    }

    #[test]
    fn unknown_state() {
        let mut s = Status::new(3, NodeState::Up);
        s.state = 9;
        assert_eq!(state_name(9), "unknown(9)");
        assert!(format_human(&s).contains("state:    unknown(9)\n"));
        assert!(format_json(&s).contains(r#""state":"unknown(9)""#));
    }

    #[test]
    fn json_output() {
        let s = Status::new(2, NodeState::Up);
        assert_eq!(
            format_json(&s),
            format!(
                r#"{{"node_id":2,"state":"up","version":"{ROAM_VERSION}","abi_version":{ROAM_ABI_VERSION}}}"#
            )
        );
    }

    #[test]
    fn decode_maps_errors() {
        let mut b = Status::new(1, NodeState::Up).to_bytes();
        assert_eq!(decode(&b).unwrap().node_id, 1);
        assert_eq!(decode(&b[..10]).unwrap_err().code(), "io");
        b[0..4].copy_from_slice(&(ROAM_ABI_VERSION + 1).to_le_bytes());
        assert_eq!(
            decode(&b).unwrap_err(),
            CtlError::AbiMismatch { ours: ROAM_ABI_VERSION, theirs: ROAM_ABI_VERSION + 1 }
        );
    }
}
