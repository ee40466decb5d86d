//! `cargo xtask deps`: installs what roam needs on Debian 12, idempotently.
//!
//! Calls only `util`.

use crate::util::{self, step, Ctx};
use anyhow::{bail, Result};
use std::process::Command;

/// Debian packages: the kernel's Rust compiler and `core` source, the kernel
/// source roam builds against, the LLVM toolchain, kernel build tools, QEMU,
/// a static busybox for the guests, and iproute2 for the test network.
pub const PACKAGES: &[&str] = &[
    "rustc-web",
    "rust-web-src",
    "linux-source-6.12",
    "clang",
    "lld",
    "llvm",
    "libclang-dev",
    "flex",
    "bison",
    "bc",
    "libelf-dev",
    "libssl-dev",
    "cpio",
    "xz-utils",
    "gzip",
    "make",
    "qemu-system-x86",
    "busybox-static",
    "iproute2",
];

pub const BINDGEN_VERSION: &str = "0.69.5";

fn installed(pkg: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", pkg])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
        .unwrap_or(false)
}

pub fn bindgen_ok() -> bool {
    util::find_program("bindgen")
        .and_then(|p| Command::new(p).arg("--version").output().ok())
        .map(|o| String::from_utf8_lossy(&o.stdout).contains(BINDGEN_VERSION))
        .unwrap_or(false)
}

/// Installs whatever is missing; a quick no-op when everything is there.
pub fn run(ctx: &Ctx) -> Result<()> {
    step("checking dependencies");
    if Command::new("dpkg-query").arg("--version").output().is_err() {
        bail!("dpkg-query not found: roam's setup expects Debian 12 (bookworm). Install the packages listed in README.md by hand.");
    }
    let missing: Vec<&str> = PACKAGES.iter().copied().filter(|p| !installed(p)).collect();
    if !missing.is_empty() {
        println!("    installing Debian packages: {}", missing.join(" "));
        let sudo = !util::is_root();
        if sudo && util::find_program("sudo").is_none() {
            bail!("packages missing ({}) and not root and no sudo: run `apt-get install {}` as root", missing.join(" "), missing.join(" "));
        }
        let apt = |args: &[&str]| {
            let mut c = if sudo { Command::new("sudo") } else { Command::new("apt-get") };
            if sudo {
                c.arg("apt-get");
            }
            c.args(args).env("DEBIAN_FRONTEND", "noninteractive");
            c
        };
        let log = ctx.log_path("deps");
        util::run_logged(&mut apt(&["update"]), &log, "apt-get update", "check network access to the Debian mirror")?;
        let mut args = vec!["install", "-y", "--no-install-recommends"];
        args.extend(missing.iter().copied());
        util::run_logged(&mut apt(&args), &log, "apt-get install", "run the apt-get command from the log by hand")?;
    } else {
        println!("    Debian packages: all {} present", PACKAGES.len());
    }
    if !bindgen_ok() {
        println!("    installing bindgen-cli {BINDGEN_VERSION} (cargo install --locked)");
        let log = ctx.log_path("deps");
        util::run_logged(
            Command::new("cargo").args(["install", "--locked", "bindgen-cli", "--version", BINDGEN_VERSION]),
            &log,
            "cargo install bindgen-cli",
            "check access to crates.io",
        )?;
        if !bindgen_ok() {
            bail!("bindgen {BINDGEN_VERSION} installed but not found on PATH or in ~/.cargo/bin");
        }
    } else {
        println!("    bindgen {BINDGEN_VERSION}: present");
    }
    Ok(())
}
