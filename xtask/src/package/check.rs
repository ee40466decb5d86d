//! `cargo xtask package --check`: inspects a built `roam` package the way
//! an administrator's tools would see it, and fails on the first sign that
//! it would not install or work: a missing or misowned file, a control
//! field or maintainer script that is wrong, a unit file
//! `systemd-analyze verify` refuses, an empty man page, a program that
//! does not run, a module built for another kernel, an example cluster
//! file roamctl's own parser refuses.
//!
//! The list of files it expects is written out here, independently of the
//! code that stages them, so that a file the builder forgets is caught.
//! It reads the package only through `dpkg-deb` (`-I`, `-c`, `-x`).
//!
//! Calls only `util`.

use crate::util;
use anyhow::{bail, Context, Result};
use std::fs;
use std::path::Path;
use std::process::Command;

/// What a file in the package must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// A program: executable, runs.
    Exec,
    /// A gzipped man page with a title, a name and some text.
    Man,
    /// Any non-empty file.
    File,
}

/// The files the package must hold (`{R}`: the kernel release).
const EXPECTED: &[(&str, Kind)] = &[
    ("usr/bin/roamctl", Kind::Exec),
    ("usr/bin/roamrun", Kind::Exec),
    ("usr/bin/roamtop", Kind::Exec),
    ("usr/bin/roam-adopt", Kind::Exec),
    ("usr/lib/roam/roam-check-kernel", Kind::Exec),
    ("lib/modules/{R}/extra/roam.ko", Kind::File),
    ("lib/systemd/system/roam.service", Kind::File),
    ("lib/systemd/system/roam-metrics.service", Kind::File),
    ("lib/systemd/system/roam-metrics.timer", Kind::File),
    ("etc/roam/cluster.toml", Kind::File),
    ("usr/share/man/man1/roamctl.1.gz", Kind::Man),
    ("usr/share/man/man1/roamrun.1.gz", Kind::Man),
    ("usr/share/man/man1/roamtop.1.gz", Kind::Man),
    ("usr/share/man/man1/roamctl-apply.1.gz", Kind::Man),
    ("usr/share/man/man1/roamctl-node-drain.1.gz", Kind::Man),
    ("usr/share/man/man8/roam-adopt.8.gz", Kind::Man),
    ("usr/share/bash-completion/completions/roamctl", Kind::File),
    ("usr/share/bash-completion/completions/roamrun", Kind::File),
    ("usr/share/bash-completion/completions/roamtop", Kind::File),
    ("usr/share/zsh/vendor-completions/_roamctl", Kind::File),
    ("usr/share/zsh/vendor-completions/_roamrun", Kind::File),
    ("usr/share/zsh/vendor-completions/_roamtop", Kind::File),
    ("usr/share/fish/vendor_completions.d/roamctl.fish", Kind::File),
    ("usr/share/fish/vendor_completions.d/roamrun.fish", Kind::File),
    ("usr/share/fish/vendor_completions.d/roamtop.fish", Kind::File),
    ("usr/share/doc/roam/copyright", Kind::File),
    ("usr/share/doc/roam/changelog.Debian.gz", Kind::File),
    ("usr/share/doc/roam/install.md.gz", Kind::File),
    ("usr/share/doc/roam/examples/slurm-task-prolog", Kind::File),
    ("usr/share/doc/roam/examples/roam-task", Kind::File),
];

/// Control archive members the package must have.
const CONTROL_MEMBERS: &[&str] = &["control", "md5sums", "conffiles", "postinst", "prerm", "postrm"];

/// What the check found.
#[derive(Debug, Default)]
pub struct Report {
    /// Checks that passed.
    pub passed: usize,
    /// `passed`, or `skipped (why)`: a skipped verification is not a pass.
    pub unit_verdict: String,
    /// One line per area, for people.
    pub lines: Vec<String>,
}

/// One line of `dpkg-deb -c`.
#[derive(Debug, PartialEq, Eq)]
pub struct Entry {
    pub mode: String,
    pub owner: String,
    pub size: u64,
    /// Relative, without the leading `./`.
    pub path: String,
}

/// Parses `dpkg-deb -c` (tar's verbose listing).
pub fn parse_listing(text: &str) -> Vec<Entry> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let (mode, owner, size) = (it.next()?, it.next()?, it.next()?.parse().ok()?);
            let (_date, _time) = (it.next()?, it.next()?);
            let path = it.collect::<Vec<&str>>().join(" ");
            let path = path.split(" -> ").next()?.trim_start_matches("./").trim_end_matches('/').to_string();
            Some(Entry { mode: mode.to_string(), owner: owner.to_string(), size, path })
        })
        .collect()
}

/// `Field: value` pairs of `dpkg-deb -I` (indented by one space).
pub fn parse_fields(info: &str) -> Vec<(String, String)> {
    info.lines()
        .filter(|l| l.starts_with(' ') && !l.starts_with("  "))
        .filter_map(|l| l.trim().split_once(": ").map(|(k, v)| (k.to_string(), v.trim().to_string())))
        .filter(|(k, _)| !k.contains(' '))
        .collect()
}

/// Control members listed by `dpkg-deb -I`: `   123 bytes,   4 lines   control`,
/// and for scripts `   17 bytes,   2 lines   *  postinst   #!/bin/sh`.
fn control_members(info: &str) -> Vec<String> {
    info.lines().filter_map(|l| l.split_once(" lines ")).filter_map(|(_, rest)| rest.split_whitespace().find(|w| *w != "*").map(str::to_string)).collect()
}

fn dpkg_deb(args: &[&str], deb: &Path) -> Result<String> {
    util::output(Command::new("dpkg-deb").args(args).arg(deb))
}

/// Checks the package's control data.
fn check_control(deb: &Path, release: &str, problems: &mut Vec<String>, r: &mut Report) -> Result<()> {
    let info = dpkg_deb(&["-I"], deb)?;
    let fields = parse_fields(&info);
    let get = |k: &str| fields.iter().find(|(f, _)| f == k).map(|(_, v)| v.as_str()).unwrap_or("");
    let mut ok = |cond: bool, what: String, problems: &mut Vec<String>| {
        if cond {
            r.passed += 1;
        } else {
            problems.push(what);
        }
    };
    ok(get("Package") == "roam", format!("control: Package is {:?}, not roam", get("Package")), problems);
    ok(get("Architecture") == "amd64", format!("control: Architecture is {:?}, not amd64", get("Architecture")), problems);
    ok(!get("Version").is_empty(), "control: no Version".into(), problems);
    ok(get("Depends").split(',').any(|d| d.trim().starts_with("kmod")), format!("control: Depends {:?} lacks kmod", get("Depends")), problems);
    ok(get("Installed-Size").parse::<u64>().is_ok_and(|s| s > 0), "control: no Installed-Size".into(), problems);
    ok(get("Description").len() > 10, "control: no Description".into(), problems);
    let members = control_members(&info);
    for m in CONTROL_MEMBERS {
        ok(members.iter().any(|x| x == m), format!("control archive: no {m}"), problems);
    }
    let member = |m: &str| util::output(Command::new("dpkg-deb").arg("-I").arg(deb).arg(m)).unwrap_or_default();
    let conffiles = member("conffiles");
    ok(conffiles.lines().any(|l| l.trim() == "/etc/roam/cluster.toml"), "conffiles: /etc/roam/cluster.toml is not a conffile".into(), problems);
    let postinst = member("postinst");
    ok(
        postinst.contains("depmod -a \"$release\"") && postinst.contains(&format!("release=\"{release}\"")),
        format!("postinst: does not run depmod -a {release}"),
        problems,
    );
    let mut scripts = postinst;
    for s in ["prerm", "postrm"] {
        scripts += &member(s);
    }
    ok(
        !scripts.contains('@') && !info.contains("@VERSION@") && !info.contains("@KERNELRELEASE@"),
        "control or scripts: a placeholder (@...@) was left".into(),
        problems,
    );
    r.lines.push(format!("control: roam {} {}, Depends: {}", get("Version"), get("Architecture"), get("Depends")));
    Ok(())
}

/// Checks the file listing against [`EXPECTED`].
fn check_listing(deb: &Path, release: &str, problems: &mut Vec<String>, r: &mut Report) -> Result<Vec<Entry>> {
    let entries = parse_listing(&dpkg_deb(&["-c"], deb)?);
    for (path, kind) in EXPECTED {
        let path = path.replace("{R}", release);
        match entries.iter().find(|e| e.path == path) {
            None => problems.push(format!("missing: /{path}")),
            Some(e) if !e.mode.starts_with('-') => problems.push(format!("/{path} is not a regular file ({})", e.mode)),
            Some(e) if e.size == 0 => problems.push(format!("/{path} is empty")),
            Some(e) if *kind == Kind::Exec && &e.mode[1..4] != "rwx" => problems.push(format!("/{path} is not executable ({})", e.mode)),
            Some(_) => r.passed += 1,
        }
    }
    for e in &entries {
        if e.owner != "root/root" {
            problems.push(format!("/{} is owned by {}, not root/root", e.path, e.owner));
        }
        let top = e.path.split('/').next().unwrap_or("");
        if !["", "etc", "lib", "usr"].contains(&top) {
            problems.push(format!("/{} is outside /etc, /lib and /usr", e.path));
        }
    }
    r.passed += 1;
    let files = entries.iter().filter(|e| e.mode.starts_with('-')).count();
    r.lines.push(format!("files: {files} in the package, all {} expected present, all root/root", EXPECTED.len()));
    Ok(entries)
}

fn gunzip(p: &Path) -> Result<Vec<u8>> {
    let o = Command::new("gzip").arg("-dc").arg(p).output().context("cannot run gzip")?;
    if !o.status.success() {
        bail!("{} is not gzip data", p.display());
    }
    Ok(o.stdout)
}

/// Whether a man page has a title, a NAME section and text past its
/// synopsis (clap's pages always have the first two: an empty
/// description shows as a page of headers only).
fn man_page_problem(text: &str) -> Option<&'static str> {
    if !text.contains(".TH ") {
        return Some("no .TH title");
    }
    if !text.contains(".SH NAME") {
        return Some("no NAME section");
    }
    let words = text.lines().filter(|l| !l.starts_with('.')).flat_map(str::split_whitespace).count();
    (words < 12).then_some("almost no text")
}

/// Runs `prog args`; its stdout, stderr and exit code.
fn run_prog(prog: &Path, args: &[&str]) -> Result<(String, i32)> {
    let o = Command::new(prog).args(args).env_clear().output().with_context(|| format!("cannot run {}", prog.display()))?;
    let text = String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
    Ok((text, o.status.code().unwrap_or(-1)))
}

/// Checks the extracted files' contents.
fn check_contents(dir: &Path, entries: &[Entry], release: &str, version: &str, problems: &mut Vec<String>, r: &mut Report) -> Result<()> {
    let pages: Vec<&Entry> = entries.iter().filter(|e| e.path.starts_with("usr/share/man/") && e.path.ends_with(".gz")).collect();
    for e in &pages {
        let text = gunzip(&dir.join(&e.path))?;
        match man_page_problem(&String::from_utf8_lossy(&text)) {
            Some(why) => problems.push(format!("man page /{}: {why}", e.path)),
            None => r.passed += 1,
        }
    }
    r.lines.push(format!("man pages: {} with a title, a NAME section and text", pages.len()));

    let upstream = version.split('-').next().unwrap_or(version);
    for p in ["roamctl", "roamrun", "roamtop"] {
        match run_prog(&dir.join("usr/bin").join(p), &["--version"]) {
            Ok((out, 0)) if out.trim() == format!("{p} {upstream}") => r.passed += 1,
            Ok((out, code)) => problems.push(format!("/usr/bin/{p} --version: exit {code}, printed {:?}", out.trim())),
            Err(e) => problems.push(format!("/usr/bin/{p}: {e:#}")),
        }
    }
    match run_prog(&dir.join("usr/bin/roam-adopt"), &[]) {
        Ok((_, 2)) => r.passed += 1,
        Ok((out, code)) => problems.push(format!("/usr/bin/roam-adopt without a ticket: exit {code} (want 2, usage), printed {:?}", out.trim())),
        Err(e) => problems.push(format!("/usr/bin/roam-adopt: {e:#}")),
    }
    r.lines.push("programs: roamctl, roamrun, roamtop print their version; roam-adopt refuses to run without a ticket".into());

    let ko = fs::read(dir.join(format!("lib/modules/{release}/extra/roam.ko"))).unwrap_or_default();
    let vermagic = format!("vermagic={release} ");
    if ko.starts_with(b"\x7fELF") && ko.windows(vermagic.len()).any(|w| w == vermagic.as_bytes()) {
        r.passed += 1;
        r.lines.push(format!("roam.ko: an ELF module whose vermagic is kernel {release}"));
    } else {
        problems.push(format!("roam.ko is not an ELF module built for {release} (no \"{vermagic}\")"));
    }

    let check_kernel = fs::read_to_string(dir.join("usr/lib/roam/roam-check-kernel")).unwrap_or_default();
    if check_kernel.contains(&format!("built_for=\"{release}\"")) && !check_kernel.contains("@KERNELRELEASE@") {
        r.passed += 1;
    } else {
        problems.push(format!("roam-check-kernel does not name kernel {release}"));
    }

    let example = dir.join("etc/roam/cluster.toml");
    match check_example(&example) {
        Ok(summary) => {
            r.passed += 1;
            r.lines.push(format!("/etc/roam/cluster.toml: roamctl's parser accepts it ({summary})"));
        }
        Err(e) => problems.push(format!("/etc/roam/cluster.toml: {e}")),
    }
    Ok(())
}

/// Checks an example cluster file with roamctl's own parser and checks,
/// as node 1 (its key file is the administrator's to make).
pub fn check_example(file: &Path) -> Result<String, String> {
    let text = fs::read_to_string(file).map_err(|e| format!("cannot read it: {e}"))?;
    let doc = roamctl::apply::parse_doc(&text)?;
    let c = roamctl::apply::check_doc(&doc, Path::new("/etc/roam/cluster.toml"), Some(1), || Ok(vec![]))?;
    if c.key_path != Path::new("/etc/roam/cluster.key") {
        return Err(format!("its key file is {}, not /etc/roam/cluster.key", c.key_path.display()));
    }
    Ok(format!("{} nodes, port {}, key {}", c.peers.len() + 1, c.me.port, c.key_path.display()))
}

/// A root for checking the unit: the package's files, the host's targets
/// and slices (the unit's dependencies), and kmod's modprobe (a
/// dependency of the package; a stand-in script if this host lacks it).
fn unit_root(dir: &Path, scratch: &Path) -> Result<()> {
    let units = scratch.join("lib/systemd/system");
    fs::create_dir_all(&units)?;
    if let Ok(rd) = fs::read_dir("/lib/systemd/system") {
        for e in rd {
            let e = e?;
            let name = e.file_name().to_string_lossy().into_owned();
            if (name.ends_with(".target") || name.ends_with(".slice")) && e.path().is_file() {
                fs::copy(e.path(), units.join(&name))?;
            }
        }
    }
    util::output(Command::new("cp").arg("-a").arg(format!("{}/.", dir.display())).arg(scratch))?;
    let modprobe = scratch.join("sbin/modprobe");
    fs::create_dir_all(modprobe.parent().unwrap())?;
    if Path::new("/sbin/modprobe").is_file() {
        fs::copy("/sbin/modprobe", &modprobe)?;
    } else {
        fs::write(&modprobe, "#!/bin/sh\n# stand-in for kmod's modprobe (a dependency of roam)\n")?;
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&modprobe, fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}

/// The programs a unit's `Exec*=` lines run (prefixes `-@:+!` dropped).
pub fn unit_commands(unit: &str) -> Vec<String> {
    unit.lines()
        .filter_map(|l| l.trim().split_once('='))
        .filter(|(k, _)| k.trim().starts_with("Exec"))
        .filter_map(|(_, v)| v.trim().trim_start_matches(['-', '@', ':', '+', '!']).split_whitespace().next().map(str::to_string))
        .collect()
}

/// The package's unit files, as paths from the root (`/lib/systemd/system/...`).
fn units(root: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(root.join("lib/systemd/system"))
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    v.retain(|n| n.starts_with("roam"));
    v.sort();
    v.into_iter().map(|n| format!("/lib/systemd/system/{n}")).collect()
}

/// Checks that every command the package's units run is an absolute path
/// to an executable in `root` (systemd-analyze 252 checks only the first
/// of each `Exec*=` list); returns how many.
fn check_unit_commands(root: &Path) -> Result<usize, String> {
    let mut n = 0;
    for unit in units(root) {
        let text = fs::read_to_string(root.join(&unit[1..])).map_err(|e| format!("{unit}: {e}"))?;
        for c in unit_commands(&text) {
            use std::os::unix::fs::PermissionsExt;
            let ok = c.starts_with('/') && fs::metadata(root.join(&c[1..])).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
            if !ok {
                return Err(format!("{unit} runs {c}, which is not an executable in the package or its dependencies"));
            }
            n += 1;
        }
    }
    Ok(n)
}

/// `systemd-analyze verify` of the package's units in `root`; `Ok(None)`
/// when systemd-analyze is not installed (skipped, which is not passed).
fn verify_unit(root: &Path) -> Result<Option<String>> {
    let Some(analyze) = util::find_program("systemd-analyze") else { return Ok(None) };
    let units = units(root);
    let o = Command::new(analyze)
        .args(["verify", "--man=no"])
        .arg(format!("--root={}", root.display()))
        .args(&units)
        .output()
        .context("cannot run systemd-analyze")?;
    let text = String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
    if !o.status.success() || !text.trim().is_empty() {
        bail!("systemd-analyze verify refused the units ({}):\n{}", o.status, text.trim());
    }
    Ok(Some(format!("passed ({} units)", units.len())))
}

/// The kernel release a package carries roam.ko for (from its listing).
fn packaged_release(deb: &Path) -> Result<String> {
    let entries = parse_listing(&dpkg_deb(&["-c"], deb)?);
    let rel = entries.iter().find_map(|e| e.path.strip_prefix("lib/modules/")?.strip_suffix("/extra/roam.ko").map(str::to_string));
    rel.with_context(|| format!("{} holds no /lib/modules/RELEASE/extra/roam.ko", deb.display()))
}

/// Checks the package at `deb`, which must carry roam.ko for kernel
/// `release` (by default the one it carries it for); `work` is a scratch
/// directory (emptied). Fails listing every problem found.
pub fn verify(deb: &Path, release: Option<&str>, work: &Path) -> Result<Report> {
    let mut r = Report::default();
    let mut problems = Vec::new();
    let release = match release {
        Some(r) => r.to_string(),
        None => packaged_release(deb)?,
    };
    let release = release.as_str();
    if work.exists() {
        fs::remove_dir_all(work)?;
    }
    let dir = work.join("root");
    fs::create_dir_all(&dir)?;
    check_control(deb, release, &mut problems, &mut r)?;
    let entries = check_listing(deb, release, &mut problems, &mut r)?;
    util::output(Command::new("dpkg-deb").arg("-x").arg(deb).arg(&dir))?;
    let version = parse_fields(&dpkg_deb(&["-I"], deb)?).into_iter().find(|(k, _)| k == "Version").map(|(_, v)| v).unwrap_or_default();
    check_contents(&dir, &entries, release, &version, &mut problems, &mut r)?;
    let root = work.join("unit-root");
    unit_root(&dir, &root)?;
    match check_unit_commands(&root) {
        Ok(n) => {
            r.passed += 1;
            r.lines.push(format!("units: their {n} commands are executables of the package or of kmod"));
        }
        Err(e) => problems.push(e),
    }
    match verify_unit(&root) {
        Ok(Some(v)) => {
            r.passed += 1;
            r.unit_verdict = v;
        }
        Ok(None) => r.unit_verdict = "skipped (systemd-analyze is not installed)".into(),
        Err(e) => {
            problems.push(format!("{e:#}"));
            r.unit_verdict = "failed".into();
        }
    }
    r.lines.push(format!("units: systemd-analyze verify {}", r.unit_verdict));
    if !problems.is_empty() {
        bail!("the package {} has {} problem(s):\n  {}", deb.display(), problems.len(), problems.join("\n  "));
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_and_fields_parse() {
        let l = parse_listing(
            "drwxr-xr-x root/root         0 2026-12-06 20:20 ./\n\
             -rwxr-xr-x root/root   2345678 2026-12-06 20:20 ./usr/bin/roamctl\n\
             lrwxrwxrwx root/root         0 2026-12-06 20:20 ./usr/bin/x -> roamctl\n",
        );
        assert_eq!(l.len(), 3);
        assert_eq!(l[1], Entry { mode: "-rwxr-xr-x".into(), owner: "root/root".into(), size: 2345678, path: "usr/bin/roamctl".into() });
        assert_eq!(l[2].path, "usr/bin/x");
        let info = " new Debian package, version 2.0.\n size 100 bytes: control archive=50 bytes.\n     300 bytes,    10 lines      control\n      40 bytes,     1 lines      conffiles\n     17 bytes,     2 lines   *  postinst             #!/bin/sh\n Package: roam\n Version: 0.1.0-1\n Description: one line\n  more text\n";
        let f = parse_fields(info);
        assert!(f.contains(&("Package".into(), "roam".into())));
        assert!(f.contains(&("Version".into(), "0.1.0-1".into())));
        assert!(!f.iter().any(|(k, _)| k == "more"));
        assert_eq!(control_members(info), vec!["control", "conffiles", "postinst"]);
    }

    #[test]
    fn unit_commands_are_found() {
        let unit = "[Service]\nExecStartPre=-/a/b x\nExecStart=/sbin/modprobe roam\nExecStop=!/c\nDescription=Exec=no\n";
        assert_eq!(unit_commands(unit), vec!["/a/b", "/sbin/modprobe", "/c"]);
    }

    #[test]
    fn empty_man_pages_are_refused() {
        assert_eq!(man_page_problem(""), Some("no .TH title"));
        assert_eq!(man_page_problem(".TH X 1\n.SH NAME\nx\n"), Some("almost no text"));
        let good = ".TH roamctl 1\n.SH NAME\nroamctl \\- Inspect and control roam on this node\n.SH DESCRIPTION\nShow this node's id, state and roam version, and more words.\n";
        assert_eq!(man_page_problem(good), None);
    }

    #[test]
    fn the_shipped_example_cluster_file_is_accepted_by_roamctl() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let s = check_example(&root.join("packaging/cluster.toml")).unwrap();
        assert!(s.starts_with("3 nodes, port 7077"), "{s}");
    }
}
