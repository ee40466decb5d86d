//! KTAP output for the guest programs and a KTAP reader for the host.
//!
//! The writer ([`Ktap`]) prints the subset the kernel's kselftest helpers
//! print: a version line, a plan, one `ok`/`not ok` line per test, `# SKIP`
//! directives and `# ` diagnostic lines. Every line is flushed at once, so
//! a guest that hangs or panics still leaves everything it got through on
//! the console.
//!
//! The reader ([`parse`]) is used by the host runner on a console capture,
//! so it skips anything that is not KTAP (kernel log lines, shell noise,
//! blank lines, indented subtest output) and reports what is structurally
//! wrong with the stream in [`Report::problems`].

use std::io::Write;

/// Writes one KTAP stream to stdout.
///
/// Create it with [`Ktap::plan`], report each test exactly once, and end
/// the program with [`Ktap::finish`].
#[derive(Debug)]
pub struct Ktap {
    planned: usize,
    emitted: usize,
    passed: usize,
    failed: usize,
    skipped: usize,
}

/// Prints one line and flushes it, ignoring a closed stdout: a test
/// program has nowhere else to report that.
fn emit(line: &str) {
    let out = std::io::stdout();
    let mut out = out.lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Makes `name` safe for a result line: one line, and a `#` that cannot be
/// mistaken for the start of a directive.
fn clean_name(name: &str) -> String {
    let mut s = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            '\n' | '\r' => s.push(' '),
            '#' => s.push_str("\\#"),
            c => s.push(c),
        }
    }
    s
}

/// Prints `msg` as diagnostic lines, one `# ` line per line of text.
fn emit_diag(msg: &str) {
    if msg.is_empty() {
        return;
    }
    for line in msg.lines() {
        if line.is_empty() {
            emit("#");
        } else {
            emit(&format!("# {line}"));
        }
    }
}

/// Prints a diagnostic line without a [`Ktap`] at hand, e.g. from a child
/// process started by [`crate::guest::as_user`].
pub fn diag(msg: &str) {
    emit_diag(msg);
}

impl Ktap {
    /// Starts a stream of `n` tests: prints the version line and the plan.
    pub fn plan(n: usize) -> Ktap {
        emit("TAP version 13");
        emit(&format!("1..{n}"));
        Ktap {
            planned: n,
            emitted: 0,
            passed: 0,
            failed: 0,
            skipped: 0,
        }
    }

    fn next(&mut self) -> usize {
        self.emitted += 1;
        self.emitted
    }

    /// Reports a passing test.
    pub fn ok(&mut self, name: &str) {
        let n = self.next();
        self.passed += 1;
        emit(&format!("ok {n} {}", clean_name(name)));
    }

    /// Reports a failing test; `diag` (may span lines, may be empty) is
    /// printed after it as `# ` lines.
    pub fn not_ok(&mut self, name: &str, diag: &str) {
        let n = self.next();
        self.failed += 1;
        emit(&format!("not ok {n} {}", clean_name(name)));
        emit_diag(diag);
    }

    /// Reports a test that could not run here, with the reason.
    pub fn skip(&mut self, name: &str, reason: &str) {
        let n = self.next();
        self.skipped += 1;
        let reason = reason.replace(['\n', '\r'], " ");
        emit(&format!("ok {n} {} # SKIP {reason}", clean_name(name)));
    }

    /// Reports `name` as passed when `cond` holds, else as failed with
    /// `diag`. Returns `cond`.
    pub fn check(&mut self, cond: bool, name: &str, diag: &str) -> bool {
        if cond {
            self.ok(name);
        } else {
            self.not_ok(name, diag);
        }
        cond
    }

    /// Prints a diagnostic line that belongs to no particular result.
    pub fn diag(&self, msg: &str) {
        emit_diag(msg);
    }

    /// How many tests failed so far.
    pub fn failures(&self) -> usize {
        self.failed
    }

    /// Prints the totals and exits: status 0 if every planned test was
    /// reported and none failed, 1 otherwise.
    pub fn finish(self) -> ! {
        emit(&format!(
            "# Totals: pass:{} fail:{} xfail:0 xpass:0 skip:{} error:0",
            self.passed, self.failed, self.skipped
        ));
        let mut code = 0;
        if self.emitted != self.planned {
            emit(&format!(
                "# planned {} tests but reported {}",
                self.planned, self.emitted
            ));
            code = 1;
        }
        if self.failed > 0 {
            code = 1;
        }
        std::process::exit(code)
    }
}

/// How one test ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// `ok` without a directive.
    Pass,
    /// `not ok` without a directive.
    Fail,
    /// A `# SKIP` directive (either result word), with its reason. A
    /// `# TODO` directive lands here too, its reason prefixed by `TODO: `.
    Skip(String),
}

/// One `ok`/`not ok` line and the diagnostic lines that follow it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestResult {
    /// The number printed on the line; 0 if it had none.
    pub number: usize,
    /// The description, without a leading `- ` and without the directive.
    pub name: String,
    /// Pass, fail or skip.
    pub outcome: Outcome,
    /// The `# ` lines up to the next result, without the `# ` prefix.
    pub diag: Vec<String>,
}

/// Everything [`parse`] found in a stream.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// A `TAP version N` or `KTAP version N` line was present.
    pub version_seen: bool,
    /// The `N` of the `1..N` plan line.
    pub plan: Option<usize>,
    /// The result lines in the order they appeared.
    pub results: Vec<TestResult>,
    /// The text after `Bail out!`, if the program gave up.
    pub bail_out: Option<String>,
    /// Human-readable explanations of what is wrong with the stream's
    /// structure (missing version or plan, numbering, counts, bail out).
    pub problems: Vec<String>,
}

impl Report {
    /// True only for a complete stream in which nothing failed: a version
    /// line, a plan, as many results as planned numbered 1..=N in order,
    /// no `not ok` (skips are fine), no bail out and no other problem.
    pub fn passed(&self) -> bool {
        let Some(plan) = self.plan else { return false };
        self.version_seen
            && self.bail_out.is_none()
            && self.problems.is_empty()
            && self.results.len() == plan
            && self
                .results
                .iter()
                .enumerate()
                .all(|(i, r)| r.number == i + 1)
            && !self.results.iter().any(|r| r.outcome == Outcome::Fail)
    }

    /// The results that failed.
    pub fn failures(&self) -> impl Iterator<Item = &TestResult> {
        self.results.iter().filter(|r| r.outcome == Outcome::Fail)
    }

    /// Counts of (passed, failed, skipped) results.
    pub fn counts(&self) -> (usize, usize, usize) {
        let mut c = (0, 0, 0);
        for r in &self.results {
            match r.outcome {
                Outcome::Pass => c.0 += 1,
                Outcome::Fail => c.1 += 1,
                Outcome::Skip(_) => c.2 += 1,
            }
        }
        c
    }
}

/// Matches `TAP version N` / `KTAP version N`.
fn is_version_line(line: &str) -> bool {
    let rest = match line
        .strip_prefix("KTAP version ")
        .or_else(|| line.strip_prefix("TAP version "))
    {
        Some(r) => r.trim(),
        None => return false,
    };
    !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit())
}

/// Parses a plan line `1..N` (optionally followed by a `#` comment).
/// `None` if the line is not a plan at all, `Some(Err)` if it starts like
/// one but is malformed.
fn parse_plan(line: &str) -> Option<Result<usize, ()>> {
    let rest = line.strip_prefix("1..")?;
    let count = match rest.find('#') {
        Some(i) => &rest[..i],
        None => rest,
    }
    .trim();
    Some(count.parse::<usize>().map_err(|_| ()))
}

/// Position of the first `#` not escaped by a backslash.
fn directive_start(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'#' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

/// The text after the first word of `s` (the directive keyword), trimmed.
fn after_keyword(s: &str) -> String {
    match s.find(char::is_whitespace) {
        Some(i) => s[i..].trim().to_string(),
        None => String::new(),
    }
}

/// Parses the part of a result line after `ok`/`not ok`.
fn parse_result(passed: bool, rest: &str) -> TestResult {
    let rest = rest.trim_start();
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let (number, rest) = if digits > 0 {
        (
            rest[..digits].parse::<usize>().unwrap_or(0),
            &rest[digits..],
        )
    } else {
        (0, rest)
    };
    let (desc, directive) = match directive_start(rest) {
        Some(i) => (&rest[..i], Some(rest[i + 1..].trim())),
        None => (rest, None),
    };
    let desc = desc.trim();
    let desc = desc.strip_prefix("- ").unwrap_or(desc).trim();
    let name = desc.replace("\\#", "#");

    let mut outcome = if passed { Outcome::Pass } else { Outcome::Fail };
    if let Some(d) = directive {
        let lower = d.to_ascii_lowercase();
        if lower.starts_with("skip") {
            outcome = Outcome::Skip(after_keyword(d));
        } else if lower.starts_with("todo") {
            outcome = Outcome::Skip(format!("TODO: {}", after_keyword(d)));
        }
    }
    TestResult {
        number,
        name,
        outcome,
        diag: Vec::new(),
    }
}

/// `ok` / `not ok` followed by the end of the line or whitespace.
fn result_rest(line: &str) -> Option<(bool, &str)> {
    let (passed, rest) = if let Some(r) = line.strip_prefix("not ok") {
        (false, r)
    } else if let Some(r) = line.strip_prefix("ok") {
        (true, r)
    } else {
        return None;
    };
    if rest.is_empty() || rest.starts_with([' ', '\t']) {
        Some((passed, rest))
    } else {
        None
    }
}

/// How many numbering complaints are listed before they are summarised.
const MAX_NUMBERING_PROBLEMS: usize = 5;

/// Reads a KTAP/TAP stream out of `text`, which may contain other output.
///
/// Only top-level lines count; indented lines (subtests, or anything else
/// indented) and lines that are not KTAP are ignored.
pub fn parse(text: &str) -> Report {
    let mut rep = Report::default();
    let mut plan_after_results = false;
    let mut result_after_trailing_plan = false;

    for raw in text.lines() {
        let line = raw.trim_end_matches(['\r', '\n', ' ', '\t']);
        if line.is_empty() || line.starts_with([' ', '\t']) {
            continue;
        }
        if is_version_line(line) {
            if rep.version_seen {
                rep.problems
                    .push(format!("more than one version line (again: {line:?})"));
            } else if !rep.results.is_empty() || rep.plan.is_some() {
                rep.problems
                    .push("the version line comes after the plan or results".into());
            }
            rep.version_seen = true;
            continue;
        }
        if let Some(plan) = parse_plan(line) {
            match plan {
                Ok(n) if rep.plan.is_none() => {
                    rep.plan = Some(n);
                    plan_after_results = !rep.results.is_empty();
                }
                Ok(_) => rep
                    .problems
                    .push(format!("more than one plan line (again: {line:?})")),
                Err(()) => rep.problems.push(format!("malformed plan line {line:?}")),
            }
            continue;
        }
        if let Some(reason) = line.strip_prefix("Bail out!") {
            if rep.bail_out.is_none() {
                rep.bail_out = Some(reason.trim().to_string());
            }
            continue;
        }
        if let Some((passed, rest)) = result_rest(line) {
            if plan_after_results {
                result_after_trailing_plan = true;
            }
            rep.results.push(parse_result(passed, rest));
            continue;
        }
        if let Some(d) = line.strip_prefix('#') {
            if let Some(last) = rep.results.last_mut() {
                last.diag.push(d.strip_prefix(' ').unwrap_or(d).to_string());
            }
            continue;
        }
        // Anything else is console noise.
    }

    if !rep.version_seen {
        rep.problems
            .push("no \"TAP version\" or \"KTAP version\" line".into());
    }
    match rep.plan {
        None => rep.problems.push("no plan line (1..N)".into()),
        Some(n) if n != rep.results.len() => rep.problems.push(format!(
            "planned {n} tests but found {} results",
            rep.results.len()
        )),
        Some(_) => {}
    }
    if result_after_trailing_plan {
        rep.problems
            .push("the plan line is in the middle of the results".into());
    }
    let misnumbered: Vec<String> = rep
        .results
        .iter()
        .enumerate()
        .filter(|(i, r)| r.number != i + 1)
        .map(|(i, r)| {
            if r.number == 0 {
                format!("result {} ({:?}) has no number (or 0)", i + 1, r.name)
            } else {
                format!("result {} ({:?}) is numbered {}", i + 1, r.name, r.number)
            }
        })
        .collect();
    let extra = misnumbered.len().saturating_sub(MAX_NUMBERING_PROBLEMS);
    rep.problems
        .extend(misnumbered.into_iter().take(MAX_NUMBERING_PROBLEMS));
    if extra > 0 {
        rep.problems
            .push(format!("... and {extra} more misnumbered results"));
    }
    if let Some(reason) = &rep.bail_out {
        rep.problems.push(format!("bailed out: {reason}"));
    }
    rep
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passing_stream() {
        let r = parse("TAP version 13\n1..3\nok 1 first\nok 2 - second\nok 3 third\n");
        assert!(r.passed(), "{:?}", r.problems);
        assert!(r.version_seen);
        assert_eq!(r.plan, Some(3));
        assert_eq!(r.results.len(), 3);
        assert_eq!(r.results[1].name, "second");
        assert_eq!(r.results[1].number, 2);
        assert!(r.problems.is_empty());
        assert_eq!(r.counts(), (3, 0, 0));
    }

    #[test]
    fn ktap_version_line_is_accepted() {
        let r = parse("KTAP version 1\n1..1\nok 1 a\n");
        assert!(r.passed(), "{:?}", r.problems);
    }

    #[test]
    fn one_failure_fails_the_stream() {
        let r = parse(
            "TAP version 13\n1..3\nok 1 a\nnot ok 2 b\n# expected 1, got 2\n# second line\nok 3 c\n",
        );
        assert!(!r.passed());
        // A failure is not a structural problem.
        assert!(r.problems.is_empty(), "{:?}", r.problems);
        assert_eq!(r.results[1].outcome, Outcome::Fail);
        assert_eq!(r.results[1].diag, vec!["expected 1, got 2", "second line"]);
        assert!(r.results[2].diag.is_empty());
        assert_eq!(
            r.failures().map(|f| f.name.as_str()).collect::<Vec<_>>(),
            vec!["b"]
        );
    }

    #[test]
    fn missing_plan() {
        let r = parse("TAP version 13\nok 1 a\nok 2 b\n");
        assert!(!r.passed());
        assert_eq!(r.plan, None);
        assert!(
            r.problems.iter().any(|p| p.contains("no plan")),
            "{:?}",
            r.problems
        );
    }

    #[test]
    fn missing_version() {
        let r = parse("1..1\nok 1 a\n");
        assert!(!r.passed());
        assert!(!r.version_seen);
        assert!(
            r.problems.iter().any(|p| p.contains("version")),
            "{:?}",
            r.problems
        );
    }

    #[test]
    fn short_count() {
        let r = parse("TAP version 13\n1..3\nok 1 a\nok 2 b\n");
        assert!(!r.passed());
        assert!(r
            .problems
            .iter()
            .any(|p| p.contains("planned 3") && p.contains("found 2")));
    }

    #[test]
    fn too_many_results() {
        let r = parse("TAP version 13\n1..1\nok 1 a\nok 2 b\n");
        assert!(!r.passed());
        assert!(r.problems.iter().any(|p| p.contains("planned 1")));
    }

    #[test]
    fn bail_out() {
        let r = parse("TAP version 13\n1..2\nok 1 a\nBail out! module did not load\n");
        assert!(!r.passed());
        assert_eq!(r.bail_out.as_deref(), Some("module did not load"));
        assert!(r.problems.iter().any(|p| p.contains("module did not load")));
    }

    #[test]
    fn bail_out_even_with_full_count() {
        let r = parse("TAP version 13\n1..1\nok 1 a\nBail out!\n");
        assert!(!r.passed());
        assert_eq!(r.bail_out.as_deref(), Some(""));
    }

    #[test]
    fn noise_is_ignored() {
        let text = "\
[    0.000000] Linux version 6.8.0 (gcc)\r
random shell output\r
\r
TAP version 13\r
[    1.234567] roam: node id set to 2\r
1..2\r
    KTAP version 1\r
    1..1\r
    not ok 1 an indented subtest result is not ours\r
ok 1 a\r
<6>[    1.3] roam: something\r
okay this is not a result\r
nothing ok 5 here\r
ok 2 b\r
/ # \r
";
        let r = parse(text);
        assert!(r.passed(), "{:?}", r.problems);
        assert_eq!(r.results.len(), 2);
        assert_eq!(r.results[0].name, "a");
        assert_eq!(r.results[1].name, "b");
    }

    #[test]
    fn skip_directives() {
        let r = parse(
            "TAP version 13\n1..4\nok 1 a # SKIP no network\nok 2 b # skip\n\
             not ok 3 c # SKIP old kselftest style\nnot ok 4 d # TODO later\n",
        );
        assert!(r.passed(), "{:?}", r.problems);
        assert_eq!(r.results[0].outcome, Outcome::Skip("no network".into()));
        assert_eq!(r.results[0].name, "a");
        assert_eq!(r.results[1].outcome, Outcome::Skip(String::new()));
        assert_eq!(
            r.results[2].outcome,
            Outcome::Skip("old kselftest style".into())
        );
        assert_eq!(r.results[3].outcome, Outcome::Skip("TODO: later".into()));
        assert_eq!(r.counts(), (0, 0, 4));
    }

    #[test]
    fn other_comment_is_not_a_directive() {
        let r = parse("TAP version 13\n1..1\nnot ok 1 a # took 3s\n");
        assert!(!r.passed());
        assert_eq!(r.results[0].outcome, Outcome::Fail);
        assert_eq!(r.results[0].name, "a");
    }

    #[test]
    fn wrong_numbering() {
        let r = parse("TAP version 13\n1..3\nok 1 a\nok 3 b\nok 2 c\n");
        assert!(!r.passed());
        assert_eq!(r.problems.len(), 2, "{:?}", r.problems);
        assert!(r.problems[0].contains("numbered 3"));
    }

    #[test]
    fn numbering_starting_at_zero_or_missing() {
        let r = parse("TAP version 13\n1..2\nok 0 a\nok b\n");
        assert!(!r.passed());
        assert_eq!(r.results[1].number, 0);
        assert_eq!(r.results[1].name, "b");
        assert!(r
            .problems
            .contains(&"result 1 (\"a\") has no number (or 0)".to_string()));
        assert!(r
            .problems
            .contains(&"result 2 (\"b\") has no number (or 0)".to_string()));
    }

    #[test]
    fn trailing_plan_is_fine_but_not_one_in_the_middle() {
        let r = parse("TAP version 13\nok 1 a\nok 2 b\n1..2\n");
        assert!(r.passed(), "{:?}", r.problems);
        let r = parse("TAP version 13\nok 1 a\n1..2\nok 2 b\n");
        assert!(!r.passed());
    }

    #[test]
    fn empty_plan_passes() {
        let r = parse("TAP version 13\n1..0 # SKIP nothing to do\n");
        assert!(r.passed(), "{:?}", r.problems);
        assert_eq!(r.plan, Some(0));
    }

    #[test]
    fn duplicate_plan_and_version() {
        assert!(!parse("TAP version 13\n1..1\n1..1\nok 1 a\n").passed());
        assert!(!parse("TAP version 13\n1..1\nok 1 a\nTAP version 13\n").passed());
        assert!(!parse("TAP version 13\n1..x\nok 1 a\n").passed());
    }

    #[test]
    fn empty_input() {
        let r = parse("");
        assert!(!r.passed());
        assert!(r.problems.len() >= 2);
    }

    #[test]
    fn escaped_hash_in_name() {
        let r = parse("TAP version 13\n1..1\nok 1 issue \\#12 # SKIP not here\n");
        assert_eq!(r.results[0].name, "issue #12");
        assert_eq!(r.results[0].outcome, Outcome::Skip("not here".into()));
    }

    #[test]
    fn writer_helpers_produce_parseable_names() {
        assert_eq!(clean_name("a#b\nc"), "a\\#b c");
        let r = parse(&format!(
            "TAP version 13\n1..1\nok 1 {}\n",
            clean_name("x # y")
        ));
        assert!(r.passed());
        assert_eq!(r.results[0].name, "x # y");
        assert_eq!(r.results[0].outcome, Outcome::Pass);
    }
}
