//! `roamctl stats` and `roamctl load`: files of `name value...` lines
//! (`/sys/kernel/roam/stats`, `/sys/kernel/roam/load`).

use serde_json::Value;

use crate::error::CtlError;
use crate::sysfs;

/// One line: a name and its values (usually one; `decay` has two).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub values: Vec<String>,
}

/// Reads `file` (`stats` or `load`) and returns the text to print.
pub fn run(file: &str, json: bool) -> Result<String, CtlError> {
    let text = sysfs::read(&sysfs::root(), file)?;
    let entries = parse(&text);
    Ok(if json { format_json(&entries) } else { format_human(&entries) })
}

/// Parses every line with a name and at least one value, in file order;
/// blank lines and lone names are skipped.
pub fn parse(text: &str) -> Vec<Entry> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let name = words.next()?.to_string();
            let values: Vec<String> = words.map(str::to_string).collect();
            (!values.is_empty()).then_some(Entry { name, values })
        })
        .collect()
}

/// `name value`, values starting in one column (no trailing newline).
pub fn format_human(entries: &[Entry]) -> String {
    let w = entries.iter().map(|e| e.name.len()).max().unwrap_or(0);
    entries
        .iter()
        .map(|e| format!("{:<w$}  {}", e.name, e.values.join(" ")))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A value as JSON: a number when it is one, else the string as read.
fn json_value(v: &str) -> Value {
    if let Ok(n) = v.parse::<u64>() {
        Value::from(n)
    } else if let Ok(n) = v.parse::<i64>() {
        Value::from(n)
    } else {
        Value::from(v)
    }
}

/// One line of JSON, an object `name → number` in file order; a line with
/// several values (e.g. `decay 975 926`) becomes an array.
pub fn format_json(entries: &[Entry]) -> String {
    let fields: Vec<String> = entries
        .iter()
        .map(|e| {
            let v = match e.values.as_slice() {
                [one] => json_value(one),
                many => Value::Array(many.iter().map(|v| json_value(v)).collect()),
            };
            format!("{}:{}", Value::from(e.name.as_str()), v)
        })
        .collect();
    format!("{{{}}}", fields.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATS: &str = "frames_sent 12\nframes_received 10\nrejected_bad_mac 0\n\
        rejected_replay 1\nrejected_total 1\n";
    const LOAD: &str = "load 120\nload_slow 100\nload_fast 140\nnr_running 1\nncpus 1\n\
        speed 1000\nfree_mem_mb 900\ndecay 975 926\nvector_size 8\nvector_len 3\n";

    #[test]
    fn parses_lines_in_order() {
        let e = parse(STATS);
        assert_eq!(e.len(), 5);
        assert_eq!(e[0], Entry { name: "frames_sent".into(), values: vec!["12".into()] });
        assert_eq!(e[4].name, "rejected_total");
        let e = parse(LOAD);
        assert_eq!(e[7], Entry { name: "decay".into(), values: vec!["975".into(), "926".into()] });
        assert_eq!(parse("\nlonely\n  x  7 \n"), vec![Entry { name: "x".into(), values: vec!["7".into()] }]);
    }

    #[test]
    fn human_is_aligned() {
        assert_eq!(
            format_human(&parse(STATS)),
            "frames_sent       12\nframes_received   10\nrejected_bad_mac  0\n\
             rejected_replay   1\nrejected_total    1"
        );
        let load = format_human(&parse(LOAD));
        assert!(load.contains("\ndecay        975 926\n"), "{load}");
        assert_eq!(format_human(&[]), "");
    }

    #[test]
    fn json_objects() {
        assert_eq!(
            format_json(&parse(STATS)),
            r#"{"frames_sent":12,"frames_received":10,"rejected_bad_mac":0,"rejected_replay":1,"rejected_total":1}"#
        );
        let load = format_json(&parse(LOAD));
        let v: serde_json::Value = serde_json::from_str(&load).unwrap();
        assert_eq!(v["decay"], serde_json::json!([975, 926]));
        assert_eq!(v["load"], 120);
        assert_eq!(v["vector_len"], 3);
        assert!(load.starts_with(r#"{"load":120,"load_slow":100,"#), "{load}");
        assert_eq!(format_json(&[]), "{}");
        assert_eq!(format_json(&parse("delta -3\nodd x\"y\n")), r#"{"delta":-3,"odd":"x\"y"}"#);
    }
}
