//! `roamctl node`: this node's controls in `/sys/kernel/roam/` — show
//! them, switch one on or off, send the guests home (`expel`), bring this
//! node's processes home (`bring`), or all of it for a shutdown (`drain`).
//!
//! | control | file     | on writes | meaning when on                              |
//! |---------|----------|-----------|----------------------------------------------|
//! | block   | `accept` | 0         | take no new guests                           |
//! | stay    | `stay`   | 1         | no automatic migration away from this node   |
//! | lstay   | `lstay`  | 1         | this node's own processes stay (guests may go) |
//! | quiet   | `quiet`  | 1         | send no load pushes                          |
//! | balance | `balance`| 1         | automatic balancing                          |

use std::fs;
use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::error::CtlError;
use crate::lists;
use crate::sysfs;

/// A node control that is on or off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    Block,
    Stay,
    Lstay,
    Quiet,
    Balance,
}

impl Control {
    /// In the order `roamctl node` shows them.
    pub const ALL: [Control; 5] = [Control::Block, Control::Stay, Control::Lstay, Control::Quiet, Control::Balance];

    /// The name on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Control::Block => "block",
            Control::Stay => "stay",
            Control::Lstay => "lstay",
            Control::Quiet => "quiet",
            Control::Balance => "balance",
        }
    }

    /// The sysfs file behind it.
    pub fn file(self) -> &'static str {
        match self {
            Control::Block => "accept",
            other => other.name(),
        }
    }

    /// What is written to [`Self::file`] to switch it on or off: `block`
    /// is `accept` inverted.
    pub fn value(self, on: bool) -> &'static str {
        let one = match self {
            Control::Block => !on,
            _ => on,
        };
        if one {
            "1"
        } else {
            "0"
        }
    }

    /// Whether the file's contents mean on; `None` for anything but 0 or 1.
    pub fn parse(self, text: &str) -> Option<bool> {
        match text.trim() {
            v if v == self.value(true) => Some(true),
            v if v == self.value(false) => Some(false),
            _ => None,
        }
    }

    /// What the setting means for this node.
    pub fn meaning(self, on: bool) -> &'static str {
        match (self, on) {
            (Control::Block, true) => "this node takes no new guests",
            (Control::Block, false) => "this node takes guests",
            (Control::Stay, true) => "no process leaves this node automatically",
            (Control::Stay, false) => "processes may leave this node automatically",
            (Control::Lstay, true) => "this node's own processes do not leave automatically (guests may)",
            (Control::Lstay, false) => "this node's own processes may leave automatically",
            (Control::Quiet, true) => "this node sends no load pushes (it still answers its peers')",
            (Control::Quiet, false) => "this node sends its load to its peers",
            (Control::Balance, true) => "automatic balancing is on",
            (Control::Balance, false) => "automatic balancing is off: processes move only when asked",
        }
    }
}

fn on_off(on: bool) -> &'static str {
    if on {
        "on"
    } else {
        "off"
    }
}

/// A control as read: on, off, or unknown (no such file, or another value).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Setting {
    Known(bool),
    /// The loaded module has no such file.
    Missing,
    /// The file shows something other than 0 or 1.
    Odd(String),
}

impl Setting {
    pub fn on(&self) -> Option<bool> {
        match self {
            Setting::Known(b) => Some(*b),
            _ => None,
        }
    }
}

/// What `roamctl node` shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct State {
    pub controls: Vec<(Control, Setting)>,
    /// Guests running here (`None`: no `guests` file).
    pub guests: Option<usize>,
    /// Processes of this node running elsewhere (`None`: no `away` file).
    pub away: Option<usize>,
}

/// Reads `name` under `root`: `None` when the module has no such file;
/// a missing `root` means roam is not loaded.
pub fn read_opt(root: &Path, name: &str) -> Result<Option<String>, CtlError> {
    if !root.is_dir() {
        return Err(CtlError::SysfsMissing { root: root.display().to_string() });
    }
    let path = root.join(name);
    match fs::read_to_string(&path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
        Err(e) => Err(sysfs::classify(root, &format!("read {}", path.display()), &e)),
    }
}

/// How many guests are here now.
pub fn guests(root: &Path) -> Result<Option<usize>, CtlError> {
    Ok(read_opt(root, "guests")?.map(|t| lists::parse_guests(&t).len()))
}

/// How many of this node's processes run elsewhere now.
pub fn away(root: &Path) -> Result<Option<usize>, CtlError> {
    Ok(read_opt(root, "away")?.map(|t| lists::parse_away(&t).len()))
}

/// Reads one control.
pub fn read_setting(root: &Path, c: Control) -> Result<Setting, CtlError> {
    Ok(match read_opt(root, c.file())? {
        None => Setting::Missing,
        Some(text) => match c.parse(&text) {
            Some(on) => Setting::Known(on),
            None => Setting::Odd(text.trim().to_string()),
        },
    })
}

/// Reads every control and the guest and away counts.
pub fn read_state(root: &Path) -> Result<State, CtlError> {
    let controls = Control::ALL.iter().map(|&c| Ok((c, read_setting(root, c)?))).collect::<Result<_, CtlError>>()?;
    Ok(State { controls, guests: guests(root)?, away: away(root)? })
}

#[derive(Serialize)]
struct StateJson {
    block: Option<bool>,
    stay: Option<bool>,
    lstay: Option<bool>,
    quiet: Option<bool>,
    balance: Option<bool>,
    guests: Option<usize>,
    away: Option<usize>,
}

/// `block    off  this node takes guests` ..., then the guest and away
/// counts; or with `json` one object `{"block":false,...,"guests":0,"away":0}`
/// (`null` for what the module does not show).
pub fn format_state(s: &State, json: bool) -> String {
    if json {
        let get = |c: Control| s.controls.iter().find(|(k, _)| *k == c).and_then(|(_, v)| v.on());
        let doc = StateJson {
            block: get(Control::Block),
            stay: get(Control::Stay),
            lstay: get(Control::Lstay),
            quiet: get(Control::Quiet),
            balance: get(Control::Balance),
            guests: s.guests,
            away: s.away,
        };
        return serde_json::to_string(&doc).expect("booleans and numbers always serialize");
    }
    let mut lines = Vec::new();
    for (c, v) in &s.controls {
        let (value, meaning) = match v {
            Setting::Known(on) => (on_off(*on).to_string(), c.meaning(*on).to_string()),
            Setting::Missing => ("?".into(), format!("the loaded module has no `{}` file", c.file())),
            Setting::Odd(t) => ("?".into(), format!("`{}` shows `{t}`", c.file())),
        };
        lines.push(format!("{:<8} {value:<4} {meaning}", c.name()));
    }
    let count = |n: Option<usize>| n.map_or_else(|| "?".to_string(), |n| n.to_string());
    lines.push(format!("{:<8} {:<4} processes of other nodes running here", "guests", count(s.guests)));
    lines.push(format!("{:<8} {:<4} processes of this node running elsewhere", "away", count(s.away)));
    lines.join("\n")
}

/// `roamctl node`.
pub fn show(root: &Path, json: bool) -> Result<String, CtlError> {
    Ok(format_state(&read_state(root)?, json))
}

/// The error for a refused write of `value` to `file`.
pub fn write_error(root: &Path, file: &str, value: &str, err: &io::Error) -> CtlError {
    let path = root.join(file);
    let action = format!("write {value} to {}", path.display());
    match err.raw_os_error() {
        Some(libc::EACCES) | Some(libc::EPERM) | Some(libc::ENOENT) => sysfs::classify(root, &action, err),
        Some(libc::ETIMEDOUT) => CtlError::Io {
            action,
            detail: "timed out: roam gave up after waiting a minute".into(),
        },
        Some(libc::EINTR) => CtlError::Io { action, detail: "interrupted by a signal".into() },
        _ => CtlError::Io { action, detail: sysfs::write_errno_meaning(err) },
    }
}

/// Writes `value` to `file` under `root` (one write(), like `echo`).
pub fn write(root: &Path, file: &'static str, value: &str) -> Result<(), CtlError> {
    sysfs::execute(root, &[(file, value.to_string())]).map_err(|e| write_error(root, file, value, &e.err))
}

/// What `set` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub control: Control,
    pub on: bool,
    /// The setting before, when it was readable.
    pub was: Option<bool>,
}

impl Change {
    pub fn human(&self) -> String {
        let c = self.control;
        let mut s = format!("{} {}: {}", c.name(), on_off(self.on), c.meaning(self.on));
        match self.was {
            Some(w) if w == self.on => s.push_str(" (it already was)"),
            Some(w) => s.push_str(&format!(" (was {})", on_off(w))),
            None => {}
        }
        s
    }

    /// `{"control":..,"on":..,"was":..,"file":..,"value":..}`.
    pub fn json(&self) -> ChangeJson {
        ChangeJson {
            control: self.control.name(),
            on: self.on,
            was: self.was,
            file: self.control.file(),
            value: self.control.value(self.on),
        }
    }
}

/// The JSON form of a [`Change`].
#[derive(Serialize)]
pub struct ChangeJson {
    control: &'static str,
    on: bool,
    was: Option<bool>,
    file: &'static str,
    value: &'static str,
}

/// The JSON form of a [`Done`].
#[derive(Serialize)]
pub struct DoneJson {
    action: &'static str,
    before: Option<usize>,
    after: Option<usize>,
    elapsed_ms: u64,
}

#[derive(Serialize)]
struct DrainJson {
    block: ChangeJson,
    expel: DoneJson,
    bring: DoneJson,
    drained: bool,
}

fn to_json(doc: &impl Serialize) -> String {
    serde_json::to_string(doc).expect("strings, booleans and numbers always serialize")
}

/// Switches `c` on or off.
pub fn set(root: &Path, c: Control, on: bool) -> Result<Change, CtlError> {
    let was = read_setting(root, c)?.on();
    write(root, c.file(), c.value(on))?;
    Ok(Change { control: c, on, was })
}

/// `roamctl node CONTROL on|off`.
pub fn run_set(root: &Path, c: Control, on: bool, json: bool) -> Result<String, CtlError> {
    let ch = set(root, c, on)?;
    Ok(if json { to_json(&ch.json()) } else { ch.human() })
}

/// `expel` or `bring`: the two node actions that wait until done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Expel,
    Bring,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::Expel => "expel",
            Action::Bring => "bring",
        }
    }

    /// The count of processes it is about: guests here, or processes away.
    fn count(self, root: &Path) -> Result<Option<usize>, CtlError> {
        match self {
            Action::Expel => guests(root),
            Action::Bring => away(root),
        }
    }
}

/// What an action did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Done {
    pub action: Action,
    /// Processes concerned before and after (`None`: not readable).
    pub before: Option<usize>,
    pub after: Option<usize>,
    pub elapsed: Duration,
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

impl Done {
    pub fn human(&self) -> String {
        let secs = format!("{:.2} s", self.elapsed.as_secs_f64());
        match self.action {
            Action::Expel => {
                let what = match self.before {
                    Some(0) => "there were no guests here".to_string(),
                    Some(n) => format!("{} sent home in {secs}", plural(n, "guest", "guests")),
                    None => format!("every guest sent home in {secs}"),
                };
                let left = match self.after {
                    Some(0) | None => "none left".to_string(),
                    Some(n) => format!("{} arrived since", plural(n, "guest", "guests")),
                };
                format!("expel: {what}; {left}")
            }
            Action::Bring => {
                let what = match self.before {
                    Some(0) => "no process of this node was away".to_string(),
                    Some(n) => format!("{} brought home in {secs}", plural(n, "process", "processes")),
                    None => format!("every process brought home in {secs}"),
                };
                let left = match self.after {
                    Some(0) | None => "none away".to_string(),
                    Some(n) => format!("{} left since", plural(n, "process", "processes")),
                };
                format!("bring: {what}; {left}")
            }
        }
    }

    /// `{"action":..,"before":..,"after":..,"elapsed_ms":..}`.
    pub fn json(&self) -> DoneJson {
        DoneJson {
            action: self.action.name(),
            before: self.before,
            after: self.after,
            elapsed_ms: self.elapsed.as_millis() as u64,
        }
    }
}

/// Writes `1` to `expel` or `bring`, which returns once no guest is left
/// (every process is home); counts before and after.
pub fn act(root: &Path, a: Action) -> Result<Done, CtlError> {
    let before = a.count(root)?;
    let t = Instant::now();
    if let Err(e) = write(root, a.name(), "1") {
        // Say how many are still there, when the wait ran out.
        return Err(match (e, a.count(root).ok().flatten()) {
            (CtlError::Io { action, detail }, Some(n)) if detail.starts_with("timed out") => {
                let still = match a {
                    Action::Expel => format!("{} still here", plural(n, "guest", "guests")),
                    Action::Bring => format!("{} still away", plural(n, "process", "processes")),
                };
                CtlError::Io { action, detail: format!("{detail}; {still}") }
            }
            (e, _) => e,
        });
    }
    let elapsed = t.elapsed();
    Ok(Done { action: a, before, after: a.count(root)?, elapsed })
}

/// `roamctl node expel|bring`.
pub fn run_act(root: &Path, a: Action, json: bool) -> Result<String, CtlError> {
    let d = act(root, a)?;
    Ok(if json { to_json(&d.json()) } else { d.human() })
}

/// `roamctl node drain`: block on, expel, bring, each reported through
/// `progress` (as `drain 1/3: ...`) as soon as it is done. A failed step
/// stops the drain; the error names the step, and the earlier steps stay
/// done.
pub fn drain(root: &Path, json: bool, progress: &mut dyn FnMut(&str)) -> Result<String, CtlError> {
    let step_err = |n: usize, e: CtlError| {
        let note = |action: String| {
            let kept = if n > 1 { "; `block` stays on (`roamctl node block off` undoes it)" } else { "" };
            format!("{action} (drain step {n} of 3{kept})")
        };
        match e {
            CtlError::Permission { action } => CtlError::Permission { action: note(action) },
            CtlError::Io { action, detail } => CtlError::Io { action: note(action), detail },
            other => other,
        }
    };
    let block = set(root, Control::Block, true).map_err(|e| step_err(1, e))?;
    if !json {
        progress(&format!("drain 1/3: {}", block.human()));
    }
    let expel = act(root, Action::Expel).map_err(|e| step_err(2, e))?;
    if !json {
        progress(&format!("drain 2/3: {}", expel.human()));
    }
    let bring = act(root, Action::Bring).map_err(|e| step_err(3, e))?;
    if json {
        let doc = DrainJson { block: block.json(), expel: expel.json(), bring: bring.json(), drained: true };
        return Ok(to_json(&doc));
    }
    progress(&format!("drain 3/3: {}", bring.human()));
    Ok("drained: this node takes no guests, hosts none, and none of its processes runs elsewhere".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sysfs::testdir::TempDir;

    fn node_dir() -> TempDir {
        let d = TempDir::new("node");
        for (f, v) in [("accept", "1\n"), ("stay", "0\n"), ("lstay", "0\n"), ("quiet", "0\n"), ("balance", "1\n")] {
            d.file(f, v);
        }
        d.file("expel", "");
        d.file("bring", "");
        d.file("guests", "pid=85 home=2 home_pid=70 comm=migrate_work\npid=86 home=3 home_pid=71 comm=x\n");
        d.file("away", "pid=40 node=2 remote_pid=90\n");
        d
    }

    #[test]
    fn controls_map_to_files_and_values() {
        let d = node_dir();
        let cases = [
            (Control::Block, true, "accept", "0\n"),
            (Control::Block, false, "accept", "1\n"),
            (Control::Stay, true, "stay", "1\n"),
            (Control::Stay, false, "stay", "0\n"),
            (Control::Lstay, true, "lstay", "1\n"),
            (Control::Quiet, true, "quiet", "1\n"),
            (Control::Balance, false, "balance", "0\n"),
            (Control::Balance, true, "balance", "1\n"),
        ];
        for (c, on, file, want) in cases {
            let ch = set(d.path(), c, on).unwrap();
            assert_eq!(d.read(file), want, "{} {on}", c.name());
            assert_eq!(read_setting(d.path(), c).unwrap(), Setting::Known(on));
            assert_eq!(ch.on, on);
        }
        // Nothing else was written.
        assert_eq!(d.read("expel"), "");
        assert_eq!(d.read("bring"), "");
    }

    #[test]
    fn set_reports_the_change() {
        let d = node_dir();
        let ch = set(d.path(), Control::Block, true).unwrap();
        assert_eq!(ch, Change { control: Control::Block, on: true, was: Some(false) });
        assert_eq!(ch.human(), "block on: this node takes no new guests (was off)");
        assert_eq!(
            to_json(&ch.json()),
            r#"{"control":"block","on":true,"was":false,"file":"accept","value":"0"}"#
        );
        let again = run_set(d.path(), Control::Block, true, false).unwrap();
        assert_eq!(again, "block on: this node takes no new guests (it already was)");
        d.file("stay", "7\n");
        let ch = set(d.path(), Control::Stay, false).unwrap();
        assert_eq!(ch.was, None);
        assert_eq!(ch.human(), "stay off: processes may leave this node automatically");
    }

    #[test]
    fn shows_the_state() {
        let d = node_dir();
        d.file("quiet", "1\n");
        let s = read_state(d.path()).unwrap();
        assert_eq!(s.guests, Some(2));
        assert_eq!(s.away, Some(1));
        assert_eq!(
            format_state(&s, false),
            "\
block    off  this node takes guests
stay     off  processes may leave this node automatically
lstay    off  this node's own processes may leave automatically
quiet    on   this node sends no load pushes (it still answers its peers')
balance  on   automatic balancing is on
guests   2    processes of other nodes running here
away     1    processes of this node running elsewhere"
        );
        assert_eq!(
            format_state(&s, true),
            r#"{"block":false,"stay":false,"lstay":false,"quiet":true,"balance":true,"guests":2,"away":1}"#
        );
        // An older module without some files; a value that is not 0/1.
        fs::remove_file(d.path().join("lstay")).unwrap();
        fs::remove_file(d.path().join("away")).unwrap();
        d.file("stay", "2\n");
        let s = read_state(d.path()).unwrap();
        let text = format_state(&s, false);
        assert!(text.contains("\nlstay    ?    the loaded module has no `lstay` file\n"), "{text}");
        assert!(text.contains("\nstay     ?    `stay` shows `2`\n"), "{text}");
        assert!(text.ends_with("\naway     ?    processes of this node running elsewhere"), "{text}");
        let v: serde_json::Value = serde_json::from_str(&format_state(&s, true)).unwrap();
        assert_eq!((v["lstay"].is_null(), v["away"].is_null(), v["stay"].is_null()), (true, true, true));
    }

    #[test]
    fn not_loaded_and_refused_writes() {
        let d = node_dir();
        let gone = d.path().join("gone");
        assert_eq!(show(&gone, false).unwrap_err().exit_status(), 3);
        assert_eq!(set(&gone, Control::Stay, true).unwrap_err().exit_status(), 3);
        assert_eq!(act(&gone, Action::Expel).unwrap_err().exit_status(), 3);

        // What a non-root write gets from sysfs.
        for errno in [libc::EACCES, libc::EPERM] {
            let e = write_error(d.path(), "accept", "0", &io::Error::from_raw_os_error(errno));
            assert_eq!(e.exit_status(), 4);
            assert_eq!(
                e.to_string(),
                format!("cannot write 0 to {}/accept: permission denied; run roamctl as root", d.path().display())
            );
        }
        let e = write_error(d.path(), "stay", "1", &io::Error::from_raw_os_error(libc::EINVAL));
        assert_eq!(e.exit_status(), 1);
        assert!(e.to_string().contains("EINVAL: the module refused the value"), "{e}");
        // An older module without the file.
        fs::remove_file(d.path().join("lstay")).unwrap();
        let e = set(d.path(), Control::Lstay, true).unwrap_err();
        assert_eq!(e.exit_status(), 1);
        assert!(e.to_string().contains("no such attribute"), "{e}");
    }

    #[test]
    fn expel_and_bring_write_one_and_count() {
        let d = node_dir();
        let done = act(d.path(), Action::Expel).unwrap();
        assert_eq!(d.read("expel"), "1\n");
        assert_eq!(d.read("bring"), "");
        // The fake file does not change: the two guests are still "here".
        assert_eq!((done.before, done.after), (Some(2), Some(2)));
        d.file("guests", "");
        let done = Done { after: Some(0), elapsed: Duration::from_millis(1500), ..done };
        assert_eq!(done.human(), "expel: 2 guests sent home in 1.50 s; none left");
        assert_eq!(to_json(&done.json()), r#"{"action":"expel","before":2,"after":0,"elapsed_ms":1500}"#);
        let none = run_act(d.path(), Action::Expel, false).unwrap();
        assert_eq!(none, "expel: there were no guests here; none left");

        let done = act(d.path(), Action::Bring).unwrap();
        assert_eq!(d.read("bring"), "1\n");
        assert_eq!(done.before, Some(1));
        let done = Done { after: Some(0), elapsed: Duration::from_millis(800), ..done };
        assert_eq!(done.human(), "bring: 1 process brought home in 0.80 s; none away");
    }

    #[test]
    fn drain_runs_the_three_steps_in_order() {
        let d = node_dir();
        let mut said = Vec::new();
        let end = drain(d.path(), false, &mut |l| said.push(l.to_string())).unwrap();
        assert_eq!(d.read("accept"), "0\n");
        assert_eq!(d.read("expel"), "1\n");
        assert_eq!(d.read("bring"), "1\n");
        assert_eq!(said.len(), 3);
        assert_eq!(said[0], "drain 1/3: block on: this node takes no new guests (was off)");
        assert!(said[1].starts_with("drain 2/3: expel: 2 guests sent home in "), "{}", said[1]);
        assert!(said[2].starts_with("drain 3/3: bring: 1 process brought home in "), "{}", said[2]);
        assert!(end.starts_with("drained: "), "{end}");

        let json = drain(d.path(), true, &mut |_| panic!("no progress lines with --json")).unwrap();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["drained"], true);
        assert_eq!(v["block"]["control"], "block");
        assert_eq!(v["expel"]["action"], "expel");
        assert_eq!(v["bring"]["action"], "bring");
        assert_eq!(v["bring"]["before"], 1);
    }

    #[test]
    fn drain_stops_at_a_failed_step_and_names_it() {
        let d = node_dir();
        // An `expel` that cannot be written: a directory in its place.
        fs::remove_file(d.path().join("expel")).unwrap();
        fs::create_dir(d.path().join("expel")).unwrap();
        let mut said = Vec::new();
        let e = drain(d.path(), false, &mut |l| said.push(l.to_string())).unwrap_err();
        assert_eq!(said.len(), 1);
        assert_eq!(d.read("accept"), "0\n");
        assert_eq!(d.read("bring"), "");
        let msg = e.to_string();
        assert!(msg.contains("/expel (drain step 2 of 3; `block` stays on"), "{msg}");
        assert_eq!(e.exit_status(), 1);
    }
}
