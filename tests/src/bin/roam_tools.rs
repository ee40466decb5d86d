//! `roamctl status` against the running module: the human form and the
//! JSON form (with `--json` before or after the subcommand) report the
//! node's real id, state and version, for root and for an ordinary user.

use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::Duration;

use roam_proto::abi::{ROAM_ABI_VERSION, ROAM_VERSION};
use roam_tests::guest::{self, Run, NOBODY, ROAMCTL};
use roam_tests::ktap::Ktap;

const TIMEOUT: Duration = Duration::from_secs(20);

fn roamctl(args: &[&str], uid: Option<u32>) -> Run {
    let mut cmd = Command::new(ROAMCTL);
    cmd.args(args);
    if let Some(uid) = uid {
        cmd.uid(uid).gid(uid);
    }
    guest::run(&mut cmd, TIMEOUT).unwrap_or_else(|e| Run {
        stderr: format!("could not start {ROAMCTL}: {e}"),
        ..Run::default()
    })
}

/// Whether `word` occurs in `text` as a whole token (not inside a longer
/// number or word).
fn has_token(text: &str, word: &str) -> bool {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '_'))
        .map(|w| w.trim_matches('.'))
        .any(|w| w == word)
}

/// Checks one JSON status document against the node; the error lists the
/// fields that differ.
fn json_matches(run: &Run, id: u32) -> Result<(), String> {
    if !run.success() {
        return Err(run.describe());
    }
    let v: serde_json::Value = serde_json::from_str(run.stdout.trim())
        .map_err(|e| format!("not JSON ({e}): {:?}", run.stdout))?;
    let mut wrong = Vec::new();
    if v["node_id"].as_u64() != Some(u64::from(id)) {
        wrong.push(format!("node_id {} (want {id})", v["node_id"]));
    }
    if v["state"].as_str() != Some("up") {
        wrong.push(format!("state {} (want \"up\")", v["state"]));
    }
    if v["version"].as_str() != Some(ROAM_VERSION) {
        wrong.push(format!("version {} (want {ROAM_VERSION:?})", v["version"]));
    }
    if v["abi_version"].as_u64() != Some(u64::from(ROAM_ABI_VERSION)) {
        wrong.push(format!(
            "abi_version {} (want {ROAM_ABI_VERSION})",
            v["abi_version"]
        ));
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(format!("{}\ndocument: {v}", wrong.join(", ")))
    }
}

fn main() {
    let mut t = Ktap::plan(7);

    let id = guest::sysfs_node_id().unwrap_or_else(|_| guest::node_id());
    let id_s = id.to_string();

    let human = roamctl(&["status"], None);
    t.check(human.success(), "roamctl status exits 0", &human.describe());
    t.check(
        human.success() && has_token(&human.stdout, &id_s),
        &format!("roamctl status shows node id {id}"),
        &human.describe(),
    );
    t.check(
        human.success()
            && has_token(&human.stdout, "up")
            && (has_token(&human.stdout, ROAM_VERSION)
                || has_token(&human.stdout, &format!("v{ROAM_VERSION}"))),
        "roamctl status shows state up and the version",
        &human.describe(),
    );

    let json = roamctl(&["--json", "status"], None);
    let r = json_matches(&json, id);
    t.check(
        r.is_ok(),
        "roamctl --json status reports this node",
        &r.err().unwrap_or_default(),
    );

    let json = roamctl(&["status", "--json"], None);
    let r = json_matches(&json, id);
    t.check(
        r.is_ok(),
        "roamctl status --json reports this node",
        &r.err().unwrap_or_default(),
    );

    let user = roamctl(&["--json", "status"], Some(NOBODY));
    let r = json_matches(&user, id);
    t.check(
        r.is_ok(),
        &format!("roamctl --json status works for uid {NOBODY}"),
        &r.err().unwrap_or_default(),
    );

    // A mistyped subcommand must not look like success.
    let bad = roamctl(&["no-such-command"], None);
    t.check(
        !bad.timed_out && bad.code.is_some_and(|c| c != 0),
        "roamctl rejects an unknown subcommand",
        &bad.describe(),
    );

    t.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        let out = "node 12 state up version 0.1.0.\n";
        assert!(has_token(out, "12"));
        assert!(!has_token(out, "1"));
        assert!(has_token(out, "up"));
        assert!(has_token(out, "0.1.0"));
        assert!(!has_token("node_id: 123", "12"));
        assert!(has_token("node_id: 12\n", "12"));
    }
}
