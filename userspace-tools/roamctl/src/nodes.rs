//! `roamctl nodes`: this node and its peers, from `/sys/kernel/roam/nodes`.

use serde::Serialize;

use crate::error::CtlError;
use crate::sysfs;

/// One line of the `nodes` file. Every field is optional: a key the
/// module did not send, or sent as `-`, is `None` (`null` in JSON).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Node {
    pub id: Option<u32>,
    pub addr: Option<String>,
    #[serde(rename = "self")]
    pub is_self: Option<bool>,
    pub state: Option<String>,
    pub load: Option<u64>,
    pub speed: Option<u64>,
    pub ncpus: Option<u64>,
    pub free_mem_mb: Option<u64>,
    pub age_ms: Option<u64>,
    /// Whether the node takes guests (its `accept` switch, as its load
    /// entry says).
    pub guests: Option<bool>,
    pub heard_ms: Option<u64>,
    pub frames_from: Option<u64>,
    pub frames_to: Option<u64>,
}

/// Reads the file and returns the text to print.
pub fn run(json: bool) -> Result<String, CtlError> {
    let text = sysfs::read(&sysfs::root(), "nodes")?;
    let nodes = parse(&text);
    Ok(if json { format_json(&nodes) } else { format_human(&nodes) })
}

/// Parses the whole file, one node per non-blank line, in file order.
pub fn parse(text: &str) -> Vec<Node> {
    text.lines().filter(|l| !l.trim().is_empty()).map(parse_line).collect()
}

/// Parses `key=value key=value ...`. Unknown keys, words without `=` and
/// values that do not parse are ignored; `-` means unknown.
pub fn parse_line(line: &str) -> Node {
    let mut n = Node::default();
    for word in line.split_whitespace() {
        let Some((key, value)) = word.split_once('=') else { continue };
        if value == "-" || value.is_empty() {
            continue;
        }
        let num = || value.parse::<u64>().ok();
        match key {
            "node" => n.id = value.parse().ok(),
            "addr" => n.addr = Some(value.to_string()),
            "self" => {
                n.is_self = match value {
                    "1" => Some(true),
                    "0" => Some(false),
                    _ => None,
                }
            }
            "state" => n.state = Some(value.to_string()),
            "load" => n.load = num(),
            "speed" => n.speed = num(),
            "ncpus" => n.ncpus = num(),
            "free_mem_mb" => n.free_mem_mb = num(),
            "age_ms" => n.age_ms = num(),
            "guests" => {
                n.guests = match value {
                    "yes" => Some(true),
                    "no" => Some(false),
                    _ => None,
                }
            }
            "heard_ms" => n.heard_ms = num(),
            "frames_from" => n.frames_from = num(),
            "frames_to" => n.frames_to = num(),
            _ => {}
        }
    }
    n
}

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map_or_else(|| "-".to_string(), T::to_string)
}

/// A table: `ID ADDR STATE LOAD SPEED CPUS FREE_MB AGE_MS GUESTS`, this
/// node's id followed by `*`; unknown values as `-` (no trailing newline).
pub fn format_human(nodes: &[Node]) -> String {
    let header = ["ID", "ADDR", "STATE", "LOAD", "SPEED", "CPUS", "FREE_MB", "AGE_MS", "GUESTS"];
    let mut rows: Vec<Vec<String>> = vec![header.iter().map(|s| s.to_string()).collect()];
    for n in nodes {
        let mark = if n.is_self == Some(true) { "*" } else { "" };
        rows.push(vec![
            format!("{}{mark}", opt(&n.id)),
            opt(&n.addr),
            opt(&n.state),
            opt(&n.load),
            opt(&n.speed),
            opt(&n.ncpus),
            opt(&n.free_mem_mb),
            opt(&n.age_ms),
            n.guests.map_or("-", |g| if g { "yes" } else { "no" }).to_string(),
        ]);
    }
    table(&rows)
}

/// Left-aligned columns two spaces apart, without trailing spaces.
pub fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| rows.iter().filter_map(|r| r.get(c)).map(|s| s.chars().count()).max().unwrap_or(0))
        .collect();
    rows.iter()
        .map(|r| {
            let line: Vec<String> =
                r.iter().zip(&widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
            line.join("  ").trim_end().to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[derive(Serialize)]
struct NodesJson<'a> {
    nodes: &'a [Node],
}

/// One line of JSON: `{"nodes":[{"id":1,"addr":"*:7077","self":true,...}]}`.
pub fn format_json(nodes: &[Node]) -> String {
    serde_json::to_string(&NodesJson { nodes }).expect("strings and numbers always serialize")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "node=1 addr=*:7077 self=1 state=up load=120 speed=1000 ncpus=1 free_mem_mb=900 age_ms=0 guests=yes\n\
        node=2 addr=10.77.0.2:7077 self=0 state=up load=1000 speed=1000 ncpus=1 free_mem_mb=880 age_ms=340 guests=no heard_ms=120 frames_from=10 frames_to=12\n\
        node=3 addr=10.77.0.3:7077 self=0 state=down load=- speed=- ncpus=- free_mem_mb=- age_ms=- guests=- heard_ms=- frames_from=0 frames_to=4\n";

    #[test]
    fn parses_self_and_peers() {
        let nodes = parse(SAMPLE);
        assert_eq!(nodes.len(), 3);
        assert_eq!(
            nodes[0],
            Node {
                id: Some(1),
                addr: Some("*:7077".into()),
                is_self: Some(true),
                state: Some("up".into()),
                load: Some(120),
                speed: Some(1000),
                ncpus: Some(1),
                free_mem_mb: Some(900),
                age_ms: Some(0),
                guests: Some(true),
                heard_ms: None,
                frames_from: None,
                frames_to: None,
            }
        );
        assert_eq!(nodes[1].heard_ms, Some(120));
        assert_eq!(nodes[1].guests, Some(false));
        assert_eq!(nodes[2].guests, None);
        assert_eq!(nodes[1].frames_to, Some(12));
        assert_eq!(nodes[2].state.as_deref(), Some("down"));
        assert_eq!(nodes[2].load, None);
        assert_eq!(nodes[2].age_ms, None);
        assert_eq!(nodes[2].frames_from, Some(0));
    }

    #[test]
    fn parsing_is_tolerant() {
        let n = parse_line("node=4 colour=blue junk self=maybe load=x speed= age_ms=12");
        assert_eq!(n.id, Some(4));
        assert_eq!(n.is_self, None);
        assert_eq!(n.load, None);
        assert_eq!(n.speed, None);
        assert_eq!(n.age_ms, Some(12));
        assert_eq!(parse_line(""), Node::default());
        assert_eq!(parse("\n  \n").len(), 0);
    }

    #[test]
    fn human_table() {
        let text = format_human(&parse(SAMPLE));
        let want = "\
ID  ADDR            STATE  LOAD  SPEED  CPUS  FREE_MB  AGE_MS  GUESTS
1*  *:7077          up     120   1000   1     900      0       yes
2   10.77.0.2:7077  up     1000  1000   1     880      340     no
3   10.77.0.3:7077  down   -     -      -     -        -       -";
        assert_eq!(text, want);
        assert_eq!(format_human(&[]), "ID  ADDR  STATE  LOAD  SPEED  CPUS  FREE_MB  AGE_MS  GUESTS");
    }

    #[test]
    fn json_shape() {
        let text = format_json(&parse(SAMPLE));
        assert!(text.starts_with(
            r#"{"nodes":[{"id":1,"addr":"*:7077","self":true,"state":"up","load":120,"speed":1000,"ncpus":1,"free_mem_mb":900,"age_ms":0,"guests":true,"heard_ms":null,"frames_from":null,"frames_to":null},"#
        ), "{text}");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["nodes"][1]["self"], false);
        assert_eq!(v["nodes"][1]["heard_ms"], 120);
        assert_eq!(v["nodes"][2]["load"], serde_json::Value::Null);
        assert_eq!(format_json(&[]), r#"{"nodes":[]}"#);
        assert!(!text.contains('\n'));
    }
}
