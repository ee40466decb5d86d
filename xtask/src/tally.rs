//! The pass/fail tally of `cargo xtask test`: every check of the host
//! tests, the guest KTAP programs and the cluster scenarios lands here as
//! one [`Case`], and the summary at the end is printed from it.
//!
//! Shared by `test` and `scenarios`; calls nothing else in xtask.

/// One line of the final summary.
#[derive(Debug, Clone)]
pub struct Case {
    pub name: String,
    pub passed: bool,
    pub skipped: bool,
    pub detail: String,
}

#[derive(Default)]
pub struct Tally {
    pub cases: Vec<Case>,
}

impl Tally {
    pub fn add(&mut self, name: String, passed: bool, detail: impl Into<String>) {
        self.cases.push(Case { name, passed, skipped: false, detail: detail.into() });
    }

    /// A case that did not run, and why: neither passed nor failed (it
    /// is counted apart, and does not fail the run).
    pub fn skip(&mut self, name: String, why: String) {
        self.cases.push(Case { name, passed: true, skipped: true, detail: why });
    }

    /// Cases that ran and passed (skipped ones are not among them).
    pub fn passed(&self) -> usize {
        self.cases.iter().filter(|c| c.passed && !c.skipped).count()
    }

    pub fn skipped(&self) -> usize {
        self.cases.iter().filter(|c| c.skipped).count()
    }

    pub fn failed(&self) -> usize {
        self.cases.iter().filter(|c| !c.passed).count()
    }

    /// Prints one line per group (the name up to its first `:`; all host
    /// tests are one group) with its counts, then every failure with its
    /// detail.
    pub fn print_summary(&self) {
        let mut by_group: std::collections::BTreeMap<String, (usize, usize, usize)> = Default::default();
        for c in &self.cases {
            let group = if c.name.starts_with("host test") {
                "host: cargo test".to_string()
            } else {
                c.name.split(':').next().unwrap_or("").to_string()
            };
            let e = by_group.entry(group).or_default();
            if c.skipped {
                e.2 += 1;
            } else if c.passed {
                e.0 += 1;
            } else {
                e.1 += 1;
            }
        }
        for (g, (p, f, s)) in &by_group {
            let skip = if *s > 0 { format!(", {s} skipped") } else { String::new() };
            println!("    {} {g}: {p} passed, {f} failed{skip}", if *f == 0 { "ok  " } else { "FAIL" });
        }
        let failures: Vec<&Case> = self.cases.iter().filter(|c| !c.passed).collect();
        if !failures.is_empty() {
            println!("\nfailures:");
            for c in &failures {
                println!("  not ok {}", c.name);
                for l in c.detail.lines().filter(|l| !l.trim().is_empty()) {
                    println!("      {l}");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Tally;

    #[test]
    fn skipped_is_neither_passed_nor_failed() {
        let mut t = Tally::default();
        t.add("a: one".into(), true, "");
        t.add("a: two".into(), false, "why");
        t.skip("a: three".into(), "no device".into());
        assert_eq!((t.passed(), t.failed(), t.skipped()), (1, 1, 1));
    }
}
