//! `cargo xtask kernel`: the guest kernel and the module build tree, built
//! once from Debian's linux-source-6.12 and cached outside the repository.
//!
//! Calls only `deps` (is bindgen there?) and `util`.

use crate::util::{self, fmt_duration, step, Ctx};
use anyhow::{bail, Context, Result};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

pub const SOURCE_TARBALL: &str = "/usr/src/linux-source-6.12.tar.xz";
pub const RUSTC: &str = "/usr/bin/rustc";
pub const RUST_LIB_SRC: &str = "/usr/lib/rustlib/src/rust/library";

/// Which kernel: the normal one, or one with KASAN, lockdep and friends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    Normal,
    Debug,
}

impl Profile {
    pub fn name(self) -> &'static str {
        match self {
            Profile::Normal => "normal",
            Profile::Debug => "debug",
        }
    }
    pub fn from_debug(debug: bool) -> Self {
        if debug {
            Profile::Debug
        } else {
            Profile::Normal
        }
    }
}

/// A built kernel: its source tree, its `O=` build tree and its image.
#[derive(Clone, Debug)]
pub struct Kernel {
    pub src: PathBuf,
    pub out: PathBuf,
    pub bzimage: PathBuf,
    pub profile: Profile,
}

/// The make variables every kernel and module build uses.
pub fn make_vars() -> Vec<String> {
    vec![
        "LLVM=1".into(),
        format!("RUSTC={RUSTC}"),
        format!("RUST_LIB_SRC={RUST_LIB_SRC}"),
    ]
}

fn fragments(ctx: &Ctx, profile: Profile) -> Vec<PathBuf> {
    let mut v = vec![ctx.root.join("qemu/kernel.fragment")];
    if profile == Profile::Debug {
        v.push(ctx.root.join("qemu/kernel-debug.fragment"));
    }
    v
}

fn version_of(prog: &str, arg: &str) -> String {
    Command::new(prog)
        .arg(arg)
        .env("PATH", util::path_with_cargo_bin())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// The cache key: kernel source, config fragments, bindings list and
/// compiler versions. Any change gives a new build directory.
fn cache_key(ctx: &Ctx, profile: Profile) -> Result<String> {
    let meta = fs::metadata(SOURCE_TARBALL).with_context(|| {
        format!("{SOURCE_TARBALL} is missing: run `cargo xtask deps` (package linux-source-6.12)")
    })?;
    let src_id = format!("{}:{:?}", meta.len(), meta.modified().ok());
    let mut parts: Vec<Vec<u8>> = vec![src_id.into_bytes(), profile.name().as_bytes().to_vec()];
    for f in fragments(ctx, profile) {
        parts.push(fs::read(&f).with_context(|| format!("cannot read {}", f.display()))?);
    }
    parts.push(fs::read(ctx.root.join("qemu/rust-bindings.h"))?);
    parts.push(version_of(RUSTC, "--version").into_bytes());
    parts.push(version_of("bindgen", "--version").into_bytes());
    parts.push(version_of("clang", "--version").into_bytes());
    let refs: Vec<&[u8]> = parts.iter().map(|p| p.as_slice()).collect();
    Ok(util::fnv64(&refs))
}

/// Where the kernel for `profile` is (or would be) cached.
pub fn locate(ctx: &Ctx, profile: Profile) -> Result<(Kernel, PathBuf)> {
    let key = cache_key(ctx, profile)?;
    let dir = ctx.cache.join("kernel").join(format!("{}-{key}", profile.name()));
    let k = Kernel {
        src: dir.join("src"),
        out: dir.join("out"),
        bzimage: dir.join("out/arch/x86/boot/bzImage"),
        profile,
    };
    Ok((k, dir.join("stamp")))
}

/// The cached kernel for `profile`, or an error saying to build it.
pub fn cached(ctx: &Ctx, profile: Profile) -> Result<Kernel> {
    let (k, stamp) = locate(ctx, profile)?;
    if !stamp.exists() {
        let flag = if profile == Profile::Debug { " --debug" } else { "" };
        bail!("no {} kernel in the cache for the current sources; run `cargo xtask kernel{flag}`", profile.name());
    }
    Ok(k)
}

/// Parses `CONFIG_X=y` / `CONFIG_X=n` lines of a fragment.
fn fragment_options(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| l.starts_with("CONFIG_"))
        .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
        .collect()
}

/// Checks that every option a fragment asks for made it into `.config`
/// (Kconfig silently drops options whose dependencies are unmet).
fn verify_config(config: &Path, frags: &[PathBuf]) -> Result<()> {
    let cfg = fs::read_to_string(config)?;
    let mut missing = Vec::new();
    for f in frags {
        for (k, v) in fragment_options(&fs::read_to_string(f)?) {
            let ok = if v == "n" {
                !cfg.lines().any(|l| l.starts_with(&format!("{k}=")))
            } else {
                cfg.lines().any(|l| l == format!("{k}={v}"))
            };
            if !ok {
                missing.push(format!("{k}={v} (from {})", f.file_name().unwrap_or_default().to_string_lossy()));
            }
        }
    }
    if !missing.is_empty() {
        bail!(
            "the kernel config lacks options the fragment asks for (unmet Kconfig dependencies?):\n  {}\n  config: {}",
            missing.join("\n  "),
            config.display()
        );
    }
    Ok(())
}

/// Builds (or finds in the cache) the kernel for `profile`.
pub fn run(ctx: &Ctx, profile: Profile) -> Result<Kernel> {
    let (k, stamp) = locate(ctx, profile)?;
    if stamp.exists() {
        println!("==> {} kernel: cached ({})", profile.name(), k.out.parent().unwrap().display());
        return Ok(k);
    }
    if !crate::deps::bindgen_ok() {
        bail!("bindgen {} is missing: run `cargo xtask deps`", crate::deps::BINDGEN_VERSION);
    }
    let dir = k.src.parent().unwrap().to_path_buf();
    let log = ctx.log_path(&format!("kernel-{}", profile.name()));
    let _ = fs::remove_file(&log);
    let start = Instant::now();
    step(&format!("building the {} kernel in {} (log: {})", profile.name(), dir.display(), log.display()));
    if dir.exists() {
        fs::remove_dir_all(&dir).with_context(|| format!("cannot clear {}", dir.display()))?;
    }
    fs::create_dir_all(&dir)?;

    println!("    unpacking {SOURCE_TARBALL}");
    let unpack = dir.join("unpack");
    fs::create_dir_all(&unpack)?;
    util::run_logged(
        Command::new("tar").arg("xJf").arg(SOURCE_TARBALL).arg("-C").arg(&unpack),
        &log,
        "unpacking the kernel source",
        "check free disk space",
    )?;
    let top = fs::read_dir(&unpack)?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| p.is_dir())
        .context("the kernel tarball holds no directory")?;
    fs::rename(&top, &k.src)?;
    fs::remove_dir_all(&unpack)?;

    // The 6.12 kernel crate has no bindings for the interfaces roam wraps;
    // add their headers to the bindings bindgen generates.
    let helper = k.src.join("rust/bindings/bindings_helper.h");
    let mut text = fs::read_to_string(&helper)?;
    text.push('\n');
    text.push_str(&fs::read_to_string(ctx.root.join("qemu/rust-bindings.h"))?);
    fs::write(&helper, text)?;

    let make = |args: &[&str]| {
        let mut c = Command::new("make");
        c.current_dir(&k.src)
            .env("PATH", util::path_with_cargo_bin())
            .arg(format!("O={}", k.out.display()))
            .args(make_vars())
            .args(args);
        c
    };
    let hint = "read the log; `cargo xtask deps` installs the toolchain";
    println!("    configuring: tinyconfig + {}", fragments(ctx, profile).iter().map(|f| f.file_name().unwrap().to_string_lossy().into_owned()).collect::<Vec<_>>().join(" + "));
    util::run_logged(&mut make(&["tinyconfig"]), &log, "make tinyconfig", hint)?;
    let mut merge = Command::new(k.src.join("scripts/kconfig/merge_config.sh"));
    merge.current_dir(&k.src).arg("-m").arg("-O").arg(&k.out).arg(k.out.join(".config"));
    merge.args(fragments(ctx, profile));
    util::run_logged(&mut merge, &log, "merging the config fragment", hint)?;
    util::run_logged(&mut make(&["olddefconfig"]), &log, "make olddefconfig", hint)?;
    verify_config(&k.out.join(".config"), &fragments(ctx, profile))?;
    util::run_logged(&mut make(&["rustavailable"]), &log, "make rustavailable", hint)?;

    let jobs = format!("-j{}", util::ncpus());
    println!("    compiling bzImage and the module build tree ({jobs}); progress every 15 s");
    util::run_logged(&mut make(&[&jobs, "bzImage", "modules"]), &log, "kernel build", hint)?;
    if !k.bzimage.exists() {
        bail!("the kernel build finished but {} is missing; log: {}", k.bzimage.display(), log.display());
    }
    fs::write(&stamp, format!("built in {}\n", fmt_duration(start.elapsed())))?;
    println!("==> {} kernel built in {}", profile.name(), fmt_duration(start.elapsed()));
    Ok(k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragment_parsing_skips_comments() {
        let v = fragment_options("# c\nCONFIG_A=y\n\nCONFIG_B=n\n  CONFIG_C=8\n");
        assert_eq!(v, vec![("CONFIG_A".into(), "y".into()), ("CONFIG_B".into(), "n".into()), ("CONFIG_C".into(), "8".into())]);
    }

    #[test]
    fn the_fragments_in_the_repo_parse() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let normal = fragment_options(&fs::read_to_string(root.join("qemu/kernel.fragment")).unwrap());
        assert!(normal.iter().any(|(k, v)| k == "CONFIG_RUST" && v == "y"));
        let debug = fragment_options(&fs::read_to_string(root.join("qemu/kernel-debug.fragment")).unwrap());
        assert!(debug.iter().any(|(k, _)| k == "CONFIG_KASAN"));
        assert!(debug.iter().any(|(k, _)| k == "CONFIG_PROVE_LOCKING"));
    }
}
