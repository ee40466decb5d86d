//! `cargo xtask build`: roam.ko (Kbuild), the static userspace tools and
//! test programs, and the guest initramfs.
//!
//! Calls only `kernel` (the build tree) and `util`.

use crate::kernel::{self, Kernel, Profile};
use crate::stackcheck;
use crate::util::{self, step, Ctx};
use anyhow::{bail, Context, Result};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Static binaries that go into the guest image, by cargo package, as
/// `/usr/bin/<name>`.
pub const TOOLS: &[&str] = &["roamctl", "roamtop", "roam-agent"];
/// Further binaries of those packages that go into the image.
pub const MORE_TOOLS: &[&str] = &["roamrun"];
/// Static binaries the module itself runs, by cargo package, and where the
/// guest image has them (the module names these paths).
pub const HELPERS: &[(&str, &str)] = &[("roam-adopt", "/bin/roam-adopt")];
/// The test package whose binaries run in the guests.
pub const TEST_PACKAGE: &str = "roam-tests";
/// How the static tools are built (`cargo` arguments before the `-p`s,
/// RUSTFLAGS, and where the programs land); `package` builds the same way.
pub const STATIC_TOOLS_ARGS: &[&str] = &["build", "--release", "--target", "x86_64-unknown-linux-gnu"];
pub const STATIC_RUSTFLAGS: &str = "-C target-feature=+crt-static";
pub const STATIC_TOOLS_DIR: &str = "target/x86_64-unknown-linux-gnu/release";

/// What a build produced.
#[derive(Clone, Debug)]
pub struct Artifacts {
    pub kernel: Kernel,
    pub module: PathBuf,
    pub initramfs: PathBuf,
    pub tests: Vec<String>,
}

pub fn build_dir(ctx: &Ctx, profile: Profile) -> PathBuf {
    ctx.cache.join("build").join(profile.name())
}

fn copy_tree(from: &Path, to: &Path, filter: &dyn Fn(&Path) -> bool) -> Result<()> {
    fs::create_dir_all(to)?;
    for e in fs::read_dir(from)? {
        let e = e?;
        let p = e.path();
        let dst = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            if !matches!(e.file_name().to_str(), Some("target" | "fuzz" | "tests")) {
                copy_tree(&p, &dst, filter)?;
            }
        } else if filter(&p) {
            // Copy only when changed, so Kbuild's timestamps stay meaningful.
            let same = fs::read(&dst).ok().zip(fs::read(&p).ok()).map(|(a, b)| a == b).unwrap_or(false);
            if !same {
                fs::copy(&p, &dst)?;
            }
        }
    }
    Ok(())
}

/// Builds roam.ko against `k` with Kbuild. The sources are mirrored into the
/// cache so the normal and debug builds do not share objects.
pub fn module(ctx: &Ctx, k: &Kernel) -> Result<PathBuf> {
    module_in(ctx, k, &build_dir(ctx, k.profile).join("kmod"), &format!("module-{}", k.profile.name()))
}

/// Builds roam.ko against `k` in `dir` (a mirror of `kmod/`), logging to
/// the log named `log_name`.
pub fn module_in(ctx: &Ctx, k: &Kernel, dir: &Path, log_name: &str) -> Result<PathBuf> {
    let dir = dir.to_path_buf();
    copy_tree(&ctx.root.join("kmod"), &dir, &|p| {
        let name = p.file_name().unwrap_or_default().to_string_lossy();
        name == "Kbuild" || name.ends_with(".rs") || name.ends_with(".c") || name.ends_with(".h")
    })?;
    let log = ctx.log_path(log_name);
    let _ = fs::remove_file(&log);
    let mut c = Command::new("make");
    c.arg("-C")
        .arg(&k.out)
        .arg(format!("M={}", dir.display()))
        .args(kernel::make_vars())
        .arg(format!("-j{}", util::ncpus()))
        .arg("modules")
        .env("PATH", util::path_with_cargo_bin());
    let t = util::run_logged(&mut c, &log, "building roam.ko", "fix the compiler errors in the log")?;
    let ko = dir.join("roam.ko");
    if !ko.exists() {
        bail!("Kbuild finished but {} is missing; log: {}", ko.display(), log.display());
    }
    let text = fs::read_to_string(&log).unwrap_or_default();
    if let Some(w) = own_warning(&text) {
        bail!("the module build printed a warning (roam builds warning-free):\n    {w}\n  log: {}", log.display());
    }
    println!("    roam.ko built in {}", util::fmt_duration(t));
    let largest = stackcheck::check(&ko, stackcheck::LIMIT)?;
    let shown: Vec<String> = largest.iter().map(|(f, n)| format!("{n} B {f}")).collect();
    println!("    largest stack frames (at most {} B allowed): {}", stackcheck::LIMIT, shown.join("; "));
    Ok(ko)
}

/// The first warning about roam's own code in a Kbuild log: rustc's
/// (`warning: ...` at the start of a line), objtool's and modpost's about
/// roam.o/roam.ko. Warnings clang prints for the kernel's own headers while
/// compiling Kbuild's generated C files (e.g. `asm/ibt.h` under some debug
/// configurations) are not roam's and are not counted.
pub fn own_warning(log: &str) -> Option<&str> {
    log.lines().find(|l| {
        l.starts_with("warning:")
            || ((l.contains("warning:") || l.contains("WARNING:"))
                && (l.contains("roam.o") || l.contains("roam.ko") || l.contains(".rs:") || l.contains("/kmod/")))
    })
}

/// Builds the static tools and test programs; returns their directory.
pub fn userspace(ctx: &Ctx) -> Result<PathBuf> {
    let log = ctx.log_path("userspace");
    let _ = fs::remove_file(&log);
    let mut c = Command::new("cargo");
    c.current_dir(&ctx.root).args(STATIC_TOOLS_ARGS).env("RUSTFLAGS", STATIC_RUSTFLAGS);
    for p in TOOLS.iter().chain(HELPERS.iter().map(|(p, _)| p)).chain([TEST_PACKAGE].iter()) {
        c.args(["-p", p]);
    }
    let t = util::run_logged(&mut c, &log, "building the static tools and tests", "fix the compiler errors in the log")?;
    println!("    static tools and tests built in {}", util::fmt_duration(t));
    Ok(ctx.root.join(STATIC_TOOLS_DIR))
}

/// The test programs: the binaries of the test package (`bin/NAME.rs`, or
/// `bin/NAME/main.rs` for one of several files).
pub fn test_programs(ctx: &Ctx) -> Result<Vec<String>> {
    let mut v: Vec<String> = fs::read_dir(ctx.root.join("tests/src/bin"))?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_string();
            if e.path().join("main.rs").is_file() {
                return Some(name);
            }
            name.strip_suffix(".rs").map(str::to_string)
        })
        .collect();
    v.sort();
    Ok(v)
}

/// Writes the initramfs: busybox, /init, the module, tools and tests.
pub fn initramfs(ctx: &Ctx, k: &Kernel, ko: &Path, bin: &Path, tests: &[String]) -> Result<PathBuf> {
    let busybox = Path::new("/bin/busybox");
    if !busybox.exists() {
        bail!("/bin/busybox is missing: run `cargo xtask deps` (package busybox-static)");
    }
    let gen = k.out.join("usr/gen_init_cpio");
    if !gen.exists() {
        bail!("{} is missing: rebuild the kernel (`cargo xtask kernel`)", gen.display());
    }
    let mut spec = String::new();
    for d in [
        "/bin", "/sbin", "/usr", "/usr/bin", "/usr/sbin", "/usr/lib", "/usr/lib/roam", "/usr/lib/roam/tests", "/lib",
        "/lib/modules", "/etc", "/etc/roam", "/proc", "/sys", "/dev", "/tmp", "/root", "/run", "/var",
    ] {
        writeln!(spec, "dir {d} 0755 0 0")?;
    }
    writeln!(spec, "nod /dev/console 0600 0 0 c 5 1")?;
    writeln!(spec, "nod /dev/null 0666 0 0 c 1 3")?;
    writeln!(spec, "file /bin/busybox {} 0755 0 0", busybox.display())?;
    writeln!(spec, "slink /bin/sh /bin/busybox 0777 0 0")?;
    writeln!(spec, "file /init {} 0755 0 0", ctx.root.join("qemu/init").display())?;
    writeln!(spec, "file /lib/modules/roam.ko {} 0644 0 0", ko.display())?;
    for t in TOOLS.iter().chain(MORE_TOOLS) {
        writeln!(spec, "file /usr/bin/{t} {} 0755 0 0", bin.join(t).display())?;
    }
    for (t, path) in HELPERS {
        let p = bin.join(t);
        if !p.exists() {
            bail!("{} was not built", p.display());
        }
        writeln!(spec, "file {path} {} 0755 0 0", p.display())?;
    }
    for t in tests {
        let p = bin.join(t);
        if !p.exists() {
            bail!("test program {} was not built", p.display());
        }
        writeln!(spec, "file /usr/lib/roam/tests/{t} {} 0755 0 0", p.display())?;
    }
    let out_dir = build_dir(ctx, k.profile);
    fs::create_dir_all(&out_dir)?;
    let spec_path = out_dir.join("initramfs.list");
    fs::write(&spec_path, spec)?;
    let o = Command::new(&gen).arg(&spec_path).output().context("cannot run gen_init_cpio")?;
    if !o.status.success() {
        bail!("gen_init_cpio failed: {}", String::from_utf8_lossy(&o.stderr));
    }
    let cpio = o.stdout;
    let raw = out_dir.join("initramfs.cpio");
    fs::write(&raw, &cpio)?;
    let gz = out_dir.join("initramfs.cpio.gz");
    let o = Command::new("gzip").args(["-9", "-n", "-f", "-k"]).arg(&raw).output().context("gzip")?;
    if !o.status.success() {
        bail!("gzip failed: {}", String::from_utf8_lossy(&o.stderr));
    }
    Ok(gz)
}

/// The whole build for `profile` (the kernel must be built already).
pub fn run(ctx: &Ctx, profile: Profile) -> Result<Artifacts> {
    let k = kernel::cached(ctx, profile)?;
    step(&format!("building roam.ko against the {} kernel", profile.name()));
    let ko = module(ctx, &k)?;
    step("building the static userspace tools and test programs");
    let bin = userspace(ctx)?;
    let tests = test_programs(ctx)?;
    step("writing the guest initramfs");
    let initramfs = initramfs(ctx, &k, &ko, &bin, &tests)?;
    println!("    {} ({} KiB)", initramfs.display(), fs::metadata(&initramfs)?.len() / 1024);
    Ok(Artifacts { kernel: k, module: ko, initramfs, tests })
}

#[cfg(test)]
mod tests {
    use super::own_warning;

    #[test]
    fn only_roams_own_warnings_count() {
        assert_eq!(own_warning("  RUSTC [M] x/roam.o\n  LD [M] x/roam.ko\n"), None);
        let clang = "/k/src/arch/x86/include/asm/ibt.h:77:8: warning: 'nocf_check' attribute ignored [-Wignored-attributes]";
        assert_eq!(own_warning(clang), None);
        assert!(own_warning("warning: unused variable: `head`").is_some());
        assert!(own_warning("/b/kmod/roam.o: warning: objtool: f() falls through").is_some());
        assert!(own_warning("WARNING: modpost: \"x\" [/b/kmod/roam.ko] undefined!").is_some());
    }
}
