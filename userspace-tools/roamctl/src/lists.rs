//! The per-process lists in sysfs: `guests` (processes of other nodes
//! running here) and `away` (processes of this node running elsewhere).

use serde::Serialize;

/// One line of `guests`: `pid=.. home=.. home_pid=.. comm=..`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Guest {
    /// Its pid on this node.
    pub pid: u32,
    /// Its home node.
    pub home: u32,
    /// Its pid at home.
    pub home_pid: u32,
    pub comm: String,
}

/// One line of `away`: `pid=.. node=.. remote_pid=..`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Away {
    /// Its pid here (the deputy's).
    pub pid: u32,
    /// The node it runs on.
    pub node: u32,
    /// Its pid there.
    pub remote_pid: u32,
}

/// The value of `key=` among the whitespace-separated words of `text`.
pub fn word<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.split_whitespace().find_map(|w| w.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
}

/// [`word`] parsed as a number.
pub fn number<T: std::str::FromStr>(text: &str, key: &str) -> Option<T> {
    word(text, key)?.parse().ok()
}

/// Splits a line at ` comm=` (or a leading `comm=`): the text before, and
/// everything after it. A command name may contain spaces, so it is the
/// rest of the line, not a word.
pub fn split_comm(line: &str) -> Option<(&str, &str)> {
    if let Some(rest) = line.strip_prefix("comm=") {
        return Some(("", rest));
    }
    let i = line.find(" comm=")?;
    Some((&line[..i], &line[i + " comm=".len()..]))
}

/// Parses one `guests` line; `None` without a pid, home and home pid.
pub fn parse_guest(line: &str) -> Option<Guest> {
    let (head, comm) = split_comm(line).unwrap_or((line, ""));
    Some(Guest {
        pid: number(head, "pid")?,
        home: number(head, "home")?,
        home_pid: number(head, "home_pid")?,
        comm: comm.trim_end().to_string(),
    })
}

/// Parses one `away` line; `None` when a field is missing.
pub fn parse_away_line(line: &str) -> Option<Away> {
    Some(Away { pid: number(line, "pid")?, node: number(line, "node")?, remote_pid: number(line, "remote_pid")? })
}

/// Every well-formed line of `guests`, in file order.
pub fn parse_guests(text: &str) -> Vec<Guest> {
    text.lines().filter_map(parse_guest).collect()
}

/// Every well-formed line of `away`, in file order.
pub fn parse_away(text: &str) -> Vec<Away> {
    text.lines().filter_map(parse_away_line).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guests() {
        let g = parse_guests("pid=85 home=1 home_pid=70 comm=migrate_work\n\npid=86 home=3 home_pid=9 comm=my prog\njunk\n");
        assert_eq!(
            g,
            [
                Guest { pid: 85, home: 1, home_pid: 70, comm: "migrate_work".into() },
                Guest { pid: 86, home: 3, home_pid: 9, comm: "my prog".into() },
            ]
        );
        // `home=` is not mistaken for `home_pid=`, nor the reverse.
        assert_eq!(parse_guest("home_pid=4 pid=2 home=7 comm=x").map(|g| (g.home, g.home_pid)), Some((7, 4)));
        assert_eq!(parse_guest("pid=2 home=7 comm=x"), None);
        assert_eq!(parse_guest("pid=2 home=7 home_pid=1").map(|g| g.comm), Some(String::new()));
    }

    #[test]
    fn away() {
        let a = parse_away("pid=40 node=2 remote_pid=85\npid=41 node=3\npid=42 node=4 remote_pid=9\n");
        assert_eq!(
            a,
            [Away { pid: 40, node: 2, remote_pid: 85 }, Away { pid: 42, node: 4, remote_pid: 9 }]
        );
        assert!(parse_away("").is_empty());
    }

    #[test]
    fn words() {
        assert_eq!(word("a=1 ab=2 b=", "ab"), Some("2"));
        assert_eq!(word("a=1 ab=2 b=", "b"), Some(""));
        assert_eq!(word("a=1", "c"), None);
        assert_eq!(number::<u32>("a=x", "a"), None);
        assert_eq!(split_comm("comm=a b"), Some(("", "a b")));
        assert_eq!(split_comm("pid=1 comm=a b"), Some(("pid=1", "a b")));
        assert_eq!(split_comm("pid=1 xcomm=a"), None);
    }
}
