//! Man pages and shell completions for the packaged tools, generated from
//! the same clap definitions the programs parse their arguments with
//! (`roamctl::command`, `roamctl::roamrun_command`, `roamtop::command`), so
//! they cannot drift from the programs.
//!
//! Calls nothing else in xtask; writes nothing (returns the texts).

use anyhow::{Context, Result};
use clap_complete::Shell;

/// The tools, each with its command-line definition.
fn commands() -> Vec<clap::Command> {
    vec![roamctl::command(), roamctl::roamrun_command(), roamtop::command()]
}

/// Every man page as (name, section, roff text): one per tool and one per
/// subcommand (`roamctl-apply`, `roamctl-node-drain`, ...).
pub fn man_pages(version: &str) -> Result<Vec<(String, String, Vec<u8>)>> {
    let mut out = Vec::new();
    for cmd in commands() {
        let mut cmd = cmd.disable_help_subcommand(true);
        cmd.build();
        collect(cmd, version, &mut out)?;
    }
    Ok(out)
}

/// `cmd`'s page and its subcommands' pages, depth first.
fn collect(cmd: clap::Command, version: &str, out: &mut Vec<(String, String, Vec<u8>)>) -> Result<()> {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()).cloned() {
        collect(sub, version, out)?;
    }
    let man = clap_mangen::Man::new(cmd).source(format!("roam {version}")).manual("roam");
    let mut text = Vec::new();
    man.render(&mut text).context("rendering a man page")?;
    let name = man.get_filename();
    let (stem, section) = name.rsplit_once('.').context("a man page name without a section")?;
    out.push((stem.to_string(), section.to_string(), text));
    Ok(())
}

/// Every completion script as (path in the package, text): bash, zsh and
/// fish, where each shell looks for the completions of packaged programs.
pub fn completions() -> Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    for mut cmd in commands() {
        let name = cmd.get_name().to_string();
        for (shell, path) in [
            (Shell::Bash, format!("usr/share/bash-completion/completions/{name}")),
            (Shell::Zsh, format!("usr/share/zsh/vendor-completions/_{name}")),
            (Shell::Fish, format!("usr/share/fish/vendor_completions.d/{name}.fish")),
        ] {
            let mut text = Vec::new();
            clap_complete::generate(shell, &mut cmd, name.clone(), &mut text);
            out.push((path, text));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tool_and_subcommand_has_a_page() {
        let pages = man_pages("0.1.0-1").unwrap();
        let names: Vec<&str> = pages.iter().map(|(n, _, _)| n.as_str()).collect();
        for want in ["roamctl", "roamrun", "roamtop", "roamctl-apply", "roamctl-node", "roamctl-node-drain", "roamctl-metrics"] {
            assert!(names.contains(&want), "{want} missing from {names:?}");
        }
        for (name, section, text) in &pages {
            assert_eq!(section, "1", "{name}");
            let text = String::from_utf8_lossy(text);
            assert!(text.contains(".TH") && text.contains(".SH NAME") && text.contains(".SH SYNOPSIS"), "{name}: {text}");
        }
        let apply = pages.iter().find(|(n, _, _)| n == "roamctl-apply").unwrap();
        assert!(String::from_utf8_lossy(&apply.2).contains("check"), "apply's page documents --check");
    }

    #[test]
    fn completions_know_the_subcommands() {
        let c = completions().unwrap();
        assert_eq!(c.len(), 9);
        let bash = c.iter().find(|(p, _)| p.ends_with("completions/roamctl")).unwrap();
        let text = String::from_utf8_lossy(&bash.1);
        assert!(text.contains("apply") && text.contains("drain") && text.contains("keygen"));
        let fish = c.iter().find(|(p, _)| p.ends_with("roamrun.fish")).unwrap();
        assert!(String::from_utf8_lossy(&fish.1).contains("best"));
    }
}
