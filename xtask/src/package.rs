//! `cargo xtask package [--check]`: the `roam` Debian binary package for
//! real machines, `roam_<version>_amd64.deb` under `<cache>/packages/`.
//!
//! It holds roam.ko for the kernel `cargo xtask kernel` built (a prebuilt
//! module, not DKMS: Debian's stock kernel has no `CONFIG_RUST`, so there
//! are no headers DKMS could build a Rust module against, and a Rust
//! module must be built by the very rustc that built its kernel), the
//! static tools, `roam.service`, the example cluster file, man pages and
//! completions generated from the tools' clap definitions, and the
//! documentation. The hand-written pieces are in `packaging/`; this file
//! stages them with the built programs, writes `DEBIAN/`, and calls
//! `dpkg-deb --build --root-owner-group`. Every build is then checked
//! (`check`), and lintian is run when it is installed.
//!
//! Calls `kernel` (the build tree and its release), `build` (roam.ko and
//! the cargo invocation of the static tools) and `util`.

mod check;
mod manuals;

use crate::build;
use crate::kernel::{self, Kernel, Profile};
use crate::util::{self, step, Ctx};
use anyhow::{bail, Context, Result};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

pub use check::verify;

/// The Debian revision of the package (the upstream version is the
/// workspace's).
const DEB_REVISION: u32 = 1;
/// Programs the package installs in `/usr/bin`, by name; the cargo
/// packages that build them are [`TOOL_PACKAGES`].
pub const PROGRAMS: &[&str] = &["roamctl", "roamrun", "roamtop", "roam-adopt"];
const TOOL_PACKAGES: &[&str] = &["roamctl", "roamtop", "roam-adopt"];
/// The systemd units (none enabled on installation).
pub const UNITS: &[&str] = &["roam.service", "roam-metrics.service", "roam-metrics.timer"];
/// The example cluster file, a conffile.
pub const CLUSTER_FILE: &str = "etc/roam/cluster.toml";
/// Placeholders the files in `packaging/` carry.
const PLACEHOLDERS: &[&str] = &["@VERSION@", "@KERNELRELEASE@", "@MAINTAINER@", "@INSTALLED_SIZE@", "@DATE@"];

/// `<upstream>-<revision>`.
pub fn deb_version() -> String {
    format!("{}-{DEB_REVISION}", env!("CARGO_PKG_VERSION"))
}

/// Where `cargo xtask package` puts the package.
pub fn deb_path(ctx: &Ctx) -> PathBuf {
    ctx.cache.join("packages").join(format!("roam_{}_amd64.deb", deb_version()))
}

/// What goes into one package build.
pub struct Inputs {
    /// The repository (for `packaging/` and `docs/install.md`).
    pub root: PathBuf,
    /// The directory holding the built programs ([`PROGRAMS`]).
    pub bin: PathBuf,
    pub module: PathBuf,
    /// `uname -r` of the kernel the module is built for.
    pub release: String,
    pub version: String,
    /// `Name <address>` ($DEBFULLNAME and $DEBEMAIL when set).
    pub maintainer: String,
    /// The changelog's date (RFC 2822) and $SOURCE_DATE_EPOCH for
    /// dpkg-deb: the last commit's, so a rebuild gives the same package.
    pub date: String,
    pub epoch: u64,
    /// Strip the programs and the module (off only for tests' stand-ins).
    pub strip: bool,
}

/// The kernel release of a kernel build tree (`uname -r` of its image).
pub fn kernel_release(out: &Path) -> Result<String> {
    let f = out.join("include/config/kernel.release");
    let r = fs::read_to_string(&f).with_context(|| format!("cannot read {} (is the kernel built?)", f.display()))?;
    let r = r.trim().to_string();
    if r.is_empty() || r.contains(['/', ' ']) {
        bail!("{} holds no usable kernel release: {r:?}", f.display());
    }
    Ok(r)
}

/// Builds the static tools with `build`'s cargo invocation (target and
/// flags), so their objects are shared with `cargo xtask build`.
fn tools(ctx: &Ctx) -> Result<PathBuf> {
    let log = ctx.log_path("package-tools");
    let _ = fs::remove_file(&log);
    let mut c = Command::new("cargo");
    c.current_dir(&ctx.root).args(build::STATIC_TOOLS_ARGS).env("RUSTFLAGS", build::STATIC_RUSTFLAGS);
    for p in TOOL_PACKAGES {
        c.args(["-p", p]);
    }
    let t = util::run_logged(&mut c, &log, "building the static tools", "fix the compiler errors in the log")?;
    println!("    tools built in {}", util::fmt_duration(t));
    Ok(ctx.root.join(build::STATIC_TOOLS_DIR))
}

/// The package's date, as seconds and as an RFC 2822 date:
/// $SOURCE_DATE_EPOCH when set (the reproducible-builds convention), else
/// the last commit's time (`git log` only reads).
fn commit_date(root: &Path) -> Result<(u64, String)> {
    let epoch = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(s) if !s.is_empty() => s.trim().parse().context("SOURCE_DATE_EPOCH is not a number of seconds")?,
        _ => util::output(Command::new("git").current_dir(root).args(["log", "-1", "--format=%ct"]))
            .context("no commit to date the package by; set SOURCE_DATE_EPOCH")?
            .trim()
            .parse()
            .context("git log printed no commit time")?,
    };
    let date = util::output(Command::new("date").args(["-u", "-R", "-d"]).arg(format!("@{epoch}")))?;
    Ok((epoch, date.trim().to_string()))
}

fn maintainer() -> String {
    match (std::env::var("DEBFULLNAME"), std::env::var("DEBEMAIL")) {
        (Ok(n), Ok(e)) if !n.is_empty() && !e.is_empty() => format!("{n} <{e}>"),
        _ => "roam developers <roam@example.org>".to_string(),
    }
}

/// `text` with every placeholder replaced.
fn fill(text: &str, inp: &Inputs, installed_size: u64) -> String {
    text.replace("@VERSION@", &inp.version)
        .replace("@KERNELRELEASE@", &inp.release)
        .replace("@MAINTAINER@", &inp.maintainer)
        .replace("@INSTALLED_SIZE@", &installed_size.to_string())
        .replace("@DATE@", &inp.date)
}

/// Writes `data` at `stage/rel` with `mode`, creating its directories.
fn put(stage: &Path, rel: &str, data: &[u8], mode: u32) -> Result<()> {
    let p = stage.join(rel);
    let dir = p.parent().context("no parent")?;
    fs::create_dir_all(dir)?;
    fs::write(&p, data).with_context(|| format!("cannot write {}", p.display()))?;
    fs::set_permissions(&p, fs::Permissions::from_mode(mode))?;
    Ok(())
}

/// `gzip -9n` of `data` (no name, no time: reproducible).
fn gzip(data: &[u8]) -> Result<Vec<u8>> {
    use std::io::Write;
    let mut child = Command::new("gzip")
        .args(["-9", "-n", "-c"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("cannot run gzip")?;
    let mut stdin = child.stdin.take().context("gzip stdin")?;
    let input = data.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output()?;
    writer.join().map_err(|_| anyhow::anyhow!("gzip writer panicked"))??;
    if !out.status.success() {
        bail!("gzip failed ({})", out.status);
    }
    Ok(out.stdout)
}

/// Copies an ELF program or module, stripped of its symbol tables when
/// `strip` (Debian ships stripped programs; lintian checks).
fn install_elf(src: &Path, dst: &Path, strip: bool, keep_module_symbols: bool) -> Result<()> {
    fs::copy(src, dst).with_context(|| format!("cannot copy {}", src.display()))?;
    if !strip {
        return Ok(());
    }
    let mut c = Command::new("strip");
    if keep_module_symbols {
        // What the kernel's INSTALL_MOD_STRIP=1 does: the symbols the
        // kernel links the module with stay.
        c.arg("--strip-debug");
    } else {
        c.args(["--strip-unneeded", "--remove-section=.comment", "--remove-section=.note"]);
    }
    c.arg(dst);
    util::output(&mut c).with_context(|| format!("cannot strip {}", dst.display()))?;
    Ok(())
}

/// Fills `stage` with the package's files (not `DEBIAN/`).
pub fn stage_files(inp: &Inputs, stage: &Path) -> Result<()> {
    let pk = inp.root.join("packaging");
    let read = |name: &str| fs::read_to_string(pk.join(name)).with_context(|| format!("cannot read packaging/{name}"));
    for p in PROGRAMS {
        let src = inp.bin.join(p);
        if !src.is_file() {
            bail!("{} was not built", src.display());
        }
        let dst = stage.join("usr/bin").join(p);
        fs::create_dir_all(dst.parent().unwrap())?;
        install_elf(&src, &dst, inp.strip, false)?;
        fs::set_permissions(&dst, fs::Permissions::from_mode(0o755))?;
    }
    let ko = stage.join(format!("lib/modules/{}/extra/roam.ko", inp.release));
    fs::create_dir_all(ko.parent().unwrap())?;
    install_elf(&inp.module, &ko, inp.strip, true)?;
    fs::set_permissions(&ko, fs::Permissions::from_mode(0o644))?;

    for unit in UNITS {
        put(stage, &format!("lib/systemd/system/{unit}"), read(unit)?.as_bytes(), 0o644)?;
    }
    put(stage, "usr/lib/roam/roam-check-kernel", fill(&read("roam-check-kernel")?, inp, 0).as_bytes(), 0o755)?;
    put(stage, CLUSTER_FILE, read("cluster.toml")?.as_bytes(), 0o644)?;
    put(stage, "usr/share/lintian/overrides/roam", read("lintian-overrides")?.as_bytes(), 0o644)?;

    let doc = "usr/share/doc/roam";
    put(stage, &format!("{doc}/copyright"), read("copyright")?.as_bytes(), 0o644)?;
    put(stage, &format!("{doc}/changelog.Debian.gz"), &gzip(fill(&read("changelog")?, inp, 0).as_bytes())?, 0o644)?;
    let install = fs::read(inp.root.join("docs/install.md")).context("cannot read docs/install.md")?;
    put(stage, &format!("{doc}/install.md.gz"), &gzip(&install)?, 0o644)?;
    for ex in ["slurm-task-prolog", "roam-task"] {
        put(stage, &format!("{doc}/examples/{ex}"), read(&format!("examples/{ex}"))?.as_bytes(), 0o644)?;
    }

    let man = manuals::man_pages(&inp.version)?;
    for (name, section, text) in man.iter() {
        put(stage, &format!("usr/share/man/man{section}/{name}.{section}.gz"), &gzip(text)?, 0o644)?;
    }
    let adopt = fill(&read("roam-adopt.8")?, inp, 0);
    put(stage, "usr/share/man/man8/roam-adopt.8.gz", &gzip(adopt.as_bytes())?, 0o644)?;
    for (rel, text) in manuals::completions()? {
        put(stage, &rel, &text, 0o644)?;
    }
    Ok(())
}

/// Every regular file under `dir`, relative to it, sorted.
fn files_under(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in fs::read_dir(&d)? {
            let e = e?;
            let t = e.file_type()?;
            if t.is_dir() {
                todo.push(e.path());
            } else if t.is_file() {
                out.push(e.path().strip_prefix(dir)?.to_path_buf());
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Writes `DEBIAN/`: control (with the installed size), conffiles,
/// md5sums and the maintainer scripts.
pub fn write_control(inp: &Inputs, stage: &Path) -> Result<()> {
    let pk = inp.root.join("packaging");
    let files = files_under(stage)?;
    // Installed-Size: KiB, each file rounded up, as dpkg-gencontrol does.
    let kib: u64 = files.iter().map(|f| fs::metadata(stage.join(f)).map(|m| m.len().div_ceil(1024)).unwrap_or(0)).sum();
    let control = fill(&fs::read_to_string(pk.join("control"))?, inp, kib.max(1));
    put(stage, "DEBIAN/control", control.as_bytes(), 0o644)?;
    put(stage, "DEBIAN/conffiles", format!("/{CLUSTER_FILE}\n").as_bytes(), 0o644)?;
    for script in ["postinst", "prerm", "postrm"] {
        let text = fill(&fs::read_to_string(pk.join(script))?, inp, 0);
        put(stage, &format!("DEBIAN/{script}"), text.as_bytes(), 0o755)?;
    }
    // md5sums of everything but the conffiles (dpkg keeps theirs itself).
    let mut c = Command::new("md5sum");
    c.current_dir(stage);
    for f in files.iter().filter(|f| !f.starts_with("etc")) {
        c.arg(f);
    }
    put(stage, "DEBIAN/md5sums", util::output(&mut c)?.as_bytes(), 0o644)?;
    for f in ["DEBIAN/control", "DEBIAN/postinst", "DEBIAN/prerm", "DEBIAN/postrm"] {
        let t = fs::read_to_string(stage.join(f))?;
        if let Some(p) = PLACEHOLDERS.iter().find(|p| t.contains(**p)) {
            bail!("{f} still holds the placeholder {p}");
        }
    }
    Ok(())
}

/// Sets every directory under `dir` to 0755 (the umask must not leak into
/// the package).
fn fix_dir_modes(dir: &Path) -> Result<()> {
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755))?;
    for e in fs::read_dir(dir)? {
        let e = e?;
        if e.file_type()?.is_dir() {
            fix_dir_modes(&e.path())?;
        }
    }
    Ok(())
}

/// An empty staging directory.
fn fresh(stage: &Path) -> Result<()> {
    if stage.exists() {
        fs::remove_dir_all(stage).with_context(|| format!("cannot clear {}", stage.display()))?;
    }
    fs::create_dir_all(stage)?;
    Ok(())
}

/// `dpkg-deb --build` of a staged tree (files and `DEBIAN/`).
fn pack(stage: &Path, deb: &Path, epoch: u64, log: &Path) -> Result<()> {
    fix_dir_modes(stage)?;
    if let Some(d) = deb.parent() {
        fs::create_dir_all(d)?;
    }
    let mut c = Command::new("dpkg-deb");
    c.args(["--build", "--root-owner-group", "-Zxz"]).arg(stage).arg(deb).env("SOURCE_DATE_EPOCH", epoch.to_string());
    util::run_logged(&mut c, log, "dpkg-deb --build", "read the log; dpkg-deb names the file it refused")?;
    Ok(())
}

/// Stages everything and builds the package at `deb` (`stage` is emptied
/// first).
pub fn build_deb(inp: &Inputs, stage: &Path, deb: &Path, log: &Path) -> Result<()> {
    fresh(stage)?;
    stage_files(inp, stage)?;
    write_control(inp, stage)?;
    pack(stage, deb, inp.epoch, log)
}

/// Runs lintian on `deb` if it is installed; prints its tags. Lintian's
/// verdict is reported, not enforced: the remaining tags are explained in
/// docs/install.md, and `packaging/lintian-overrides` says why the one
/// false positive is overridden.
fn lintian(deb: &Path, log: &Path) {
    let Some(prog) = util::find_program("lintian") else {
        println!("    lintian: not installed, skipped (apt-get install lintian)");
        return;
    };
    let out = Command::new(prog).args(["--display-info", "--tag-display-limit", "0"]).arg(deb).output();
    match out {
        Ok(o) => {
            let text = String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
            let _ = fs::write(log, &text);
            let tags: Vec<&str> = text.lines().filter(|l| l.len() > 2 && l.as_bytes()[1] == b':').collect();
            let count = |k: u8| tags.iter().filter(|l| l.as_bytes()[0] == k).count();
            println!(
                "    lintian: {} errors, {} warnings, {} info, {} other (log: {})",
                count(b'E'),
                count(b'W'),
                count(b'I'),
                count(b'P') + count(b'X') + count(b'O'),
                log.display()
            );
            for t in tags {
                println!("      {t}");
            }
        }
        Err(e) => println!("    lintian: could not run ({e})"),
    }
}

/// The kernel to build roam.ko against: `kdir` (an in-tree build, as
/// `make bindeb-pkg` leaves it), or the normal kernel `cargo xtask kernel`
/// built.
fn target_kernel(ctx: &Ctx, kdir: Option<&Path>) -> Result<Kernel> {
    let Some(dir) = kdir else { return kernel::cached(ctx, Profile::Normal) };
    let dir = dir.canonicalize().with_context(|| format!("no kernel tree at {}", dir.display()))?;
    let config = fs::read_to_string(dir.join(".config")).with_context(|| format!("{} has no .config: not a kernel build tree", dir.display()))?;
    if !config.lines().any(|l| l == "CONFIG_RUST=y") {
        bail!("{} was configured without CONFIG_RUST=y; roam.ko needs a Rust-enabled kernel (docs/install.md)", dir.display());
    }
    Ok(Kernel { src: dir.clone(), out: dir.clone(), bzimage: dir.join("arch/x86/boot/bzImage"), profile: Profile::Normal })
}

/// `cargo xtask package [--check] [--kdir DIR]`.
pub fn run(ctx: &Ctx, check_only: bool, kdir: Option<&Path>) -> Result<()> {
    let deb = deb_path(ctx);
    let mut release = None;
    if !check_only {
        let start = Instant::now();
        let k = target_kernel(ctx, kdir)?;
        let rel = kernel_release(&k.out)?;
        step(&format!("building roam.ko against kernel {rel} ({})", k.out.display()));
        let module = match kdir {
            None => build::module(ctx, &k)?,
            Some(_) => build::module_in(ctx, &k, &ctx.cache.join("packages").join(format!("kmod-{rel}")), &format!("module-{rel}"))?,
        };
        step("building the static tools");
        let bin = tools(ctx)?;
        let (epoch, date) = commit_date(&ctx.root)?;
        let inp =
            Inputs { root: ctx.root.clone(), bin, module, release: rel.clone(), version: deb_version(), maintainer: maintainer(), date, epoch, strip: true };
        step(&format!("building {}", deb.display()));
        let stage = ctx.cache.join("packages/stage");
        build_deb(&inp, &stage, &deb, &ctx.log_path("package"))?;
        println!("    {} ({} KiB) in {}", deb.display(), fs::metadata(&deb)?.len() / 1024, util::fmt_duration(start.elapsed()));
        lintian(&deb, &ctx.log_path("package-lintian"));
        release = Some(rel);
    } else if !deb.exists() {
        bail!("{} does not exist; build it with `cargo xtask package`", deb.display());
    }
    step(&format!("checking {}", deb.display()));
    let report = verify(&deb, release.as_deref(), &ctx.cache.join("packages/check"))?;
    for l in &report.lines {
        println!("    {l}");
    }
    println!("==> package check passed ({} checks; systemd-analyze verify: {})", report.passed, report.unit_verdict);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const RELEASE: &str = "6.12.0-test";

    /// A scratch directory, removed when dropped.
    struct Scratch(PathBuf);

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    /// Inputs whose programs and module are stand-ins: scripts that answer
    /// `--version` as the tools do, and a file with an ELF header and the
    /// module's vermagic string.
    fn fake_inputs(dir: &Path) -> Inputs {
        let bin = dir.join("bin");
        fs::create_dir_all(&bin).unwrap();
        let upstream = env!("CARGO_PKG_VERSION");
        for p in ["roamctl", "roamrun", "roamtop"] {
            put(&bin, p, format!("#!/bin/sh\necho {p} {upstream}\n").as_bytes(), 0o755).unwrap();
        }
        put(&bin, "roam-adopt", b"#!/bin/sh\nexit 2\n", 0o755).unwrap();
        let module = dir.join("roam.ko");
        fs::write(&module, format!("\x7fELF....vermagic={RELEASE} SMP mod_unload \0")).unwrap();
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
        Inputs {
            root,
            bin,
            module,
            release: RELEASE.into(),
            version: deb_version(),
            maintainer: "Test <test@example.org>".into(),
            date: "Sun, 06 Dec 2026 20:20:56 +0000".into(),
            epoch: 1_796_588_456,
            strip: false,
        }
    }

    /// Stages the fake package, lets `spoil` damage the staged tree, packs
    /// it and checks it.
    fn build_and_check(name: &str, spoil: &dyn Fn(&Path)) -> Option<Result<check::Report>> {
        if util::find_program("dpkg-deb").is_none() {
            eprintln!("dpkg-deb is not installed: skipped");
            return None;
        }
        let dir = std::env::temp_dir().join(format!("roam-package-{name}-{}", std::process::id()));
        let _guard = Scratch(dir.clone());
        let inp = fake_inputs(&dir);
        let stage = dir.join("stage");
        fresh(&stage).unwrap();
        stage_files(&inp, &stage).unwrap();
        spoil(&stage);
        write_control(&inp, &stage).unwrap();
        let deb = dir.join("roam_test_amd64.deb");
        pack(&stage, &deb, inp.epoch, &dir.join("pack.log")).unwrap();
        Some(verify(&deb, Some(RELEASE), &dir.join("check")))
    }

    #[test]
    fn a_whole_package_passes_the_check() {
        let Some(r) = build_and_check("whole", &|_| {}) else { return };
        let r = r.unwrap();
        assert!(r.passed > 60, "{r:?}");
        assert!(r.lines.iter().any(|l| l.contains("roamctl's parser accepts it")), "{r:?}");
    }

    #[test]
    fn a_missing_file_fails_the_check() {
        let Some(r) = build_and_check("missing", &|s| fs::remove_file(s.join("usr/share/man/man1/roamrun.1.gz")).unwrap()) else {
            return;
        };
        let e = format!("{:#}", r.unwrap_err());
        assert!(e.contains("missing: /usr/share/man/man1/roamrun.1.gz"), "{e}");
    }

    #[test]
    fn an_empty_man_page_fails_the_check() {
        let Some(r) = build_and_check("emptyman", &|s| fs::write(s.join("usr/share/man/man1/roamtop.1.gz"), gzip(b"").unwrap()).unwrap()) else {
            return;
        };
        let e = format!("{:#}", r.unwrap_err());
        assert!(e.contains("man page /usr/share/man/man1/roamtop.1.gz: no .TH title"), "{e}");
    }

    #[test]
    fn a_bad_unit_fails_the_check() {
        let spoil = |s: &Path| {
            let unit = s.join("lib/systemd/system/roam.service");
            let text = fs::read_to_string(&unit).unwrap().replace("ExecStart=/usr/bin/roamctl", "ExecStart=/usr/bin/roamctl-missing");
            fs::write(&unit, text).unwrap();
        };
        let Some(r) = build_and_check("badunit", &spoil) else { return };
        let e = format!("{:#}", r.unwrap_err());
        assert!(e.contains("/lib/systemd/system/roam.service runs /usr/bin/roamctl-missing, which is not an executable"), "{e}");
        if util::find_program("systemd-analyze").is_some() {
            // Its first ExecStart is fine: systemd-analyze sees only a
            // broken first command, so break that one too.
            let spoil = |s: &Path| {
                let unit = s.join("lib/systemd/system/roam.service");
                let text = fs::read_to_string(&unit).unwrap().replace("ExecStart=/sbin/modprobe", "ExecStart=sbin/modprobe");
                fs::write(&unit, text).unwrap();
            };
            let e = format!("{:#}", build_and_check("badunit2", &spoil).unwrap().unwrap_err());
            assert!(e.contains("systemd-analyze verify refused the units") && e.contains("roam.service"), "{e}");
        }
    }

    #[test]
    fn the_check_kernel_script_names_the_missing_rust_support() {
        let dir = std::env::temp_dir().join(format!("roam-check-kernel-{}", std::process::id()));
        let _guard = Scratch(dir.clone());
        let inp = fake_inputs(&dir);
        let script = dir.join("roam-check-kernel");
        let text = fill(&fs::read_to_string(inp.root.join("packaging/roam-check-kernel")).unwrap(), &inp, 0);
        put(&dir, "roam-check-kernel", text.as_bytes(), 0o755).unwrap();
        let run = |release: &str| {
            // Through sh: exec'ing a file just written races with other
            // tests' forks holding it open (ETXTBSY).
            let o = Command::new("sh")
                .arg(&script)
                .env("ROAM_KERNEL_RELEASE", release)
                .env("ROAM_BOOT_DIR", dir.join("boot"))
                .env("ROAM_MODULES_DIR", dir.join("modules"))
                .output()
                .unwrap();
            (o.status.code(), String::from_utf8_lossy(&o.stderr).into_owned())
        };
        put(&dir, "boot/config-6.12.0-stock", b"CONFIG_HAVE_RUST=y\n# CONFIG_RUST is not set\n", 0o644).unwrap();
        let (code, err) = run("6.12.0-stock");
        assert_eq!(code, Some(1));
        assert!(err.contains("this kernel (6.12.0-stock) was built without CONFIG_RUST") && err.contains(&format!("linux-image-{RELEASE}")), "{err}");
        put(&dir, &format!("boot/config-{RELEASE}"), b"CONFIG_RUST=y\n", 0o644).unwrap();
        let (code, err) = run(RELEASE);
        assert_eq!(code, Some(1), "no module yet: {err}");
        assert!(err.contains("roam.ko is not installed for this kernel"), "{err}");
        put(&dir, &format!("modules/{RELEASE}/extra/roam.ko"), b"x", 0o644).unwrap();
        assert_eq!(run(RELEASE), (Some(0), String::new()));
    }

    #[test]
    fn the_kernel_release_is_read_from_the_build_tree() {
        let dir = std::env::temp_dir().join(format!("roam-release-{}", std::process::id()));
        let _guard = Scratch(dir.clone());
        put(&dir, "include/config/kernel.release", b"6.12.118\n", 0o644).unwrap();
        assert_eq!(kernel_release(&dir).unwrap(), "6.12.118");
        put(&dir, "include/config/kernel.release", b"\n", 0o644).unwrap();
        assert!(kernel_release(&dir).is_err());
    }
}
