//! `environ`, `cmdline` and `proc_args`: the process's
//! arguments, environment and names.
//!
//! * `environ` — before `READY`: `ZDTM_ENV_A` (`alpha-PID`),
//!   `ZDTM_ENV_EMPTY` (empty), `ZDTM_ENV_LONG` (3000 bytes) and
//!   `ZDTM_ENV_UTF8` (non-ASCII) set, `PATH` (if set) replaced by
//!   `/zdtm/bin:` and its old value, and one other inherited variable (if
//!   any) removed. Each round: `std::env::vars_os` is the whole
//!   environment as it was after these changes, in order, and each
//!   changed name reads its value (or none). At the end, home again:
//!   `/proc/self/environ` (the kernel's copy of the initial environment,
//!   which `setenv` never writes) holds the bytes it held at setup, which
//!   are the initial variables, `NAME=VALUE\0` each.
//! * `cmdline` — before `READY` the process rewrites its second argument
//!   (`cmdline`) in place in its argument area, as `setproctitle` does
//!   (found at `/proc/self/stat`'s `arg_start`), to `CMDLINE`, and sets
//!   its name with `PR_SET_NAME` to `zdtm` (the harness looks for that
//!   name on each remote, so it cannot be another; the adopting task's
//!   own name there would be `roam-adopt`). Each round: `std::env::args_os`
//!   gives the rewritten arguments, `PR_GET_NAME` (answered where the
//!   process runs), `/proc/self/comm` and the name in `/proc/self/stat`
//!   are `zdtm`, the argument and environment bounds of
//!   `/proc/self/stat` (fields 48-51) are as at setup, and
//!   `/proc/self/exe` links to the program. At the end, home again,
//!   `/proc/self/cmdline` is the rewritten arguments.
//! * `proc_args` — each round, wherever the process runs,
//!   `/proc/self/cmdline` and `/proc/self/environ` hold the bytes they
//!   held at setup. On a remote these files are read at home, from the
//!   deputy, which keeps the pages that hold them when it drops the rest
//!   of the memory.

use super::{read_bytes, same, setup_failed, stat_fields, Slot};
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

/// `NAME=VALUE\0` for each variable.
fn environ_bytes(vars: &[(OsString, OsString)]) -> Vec<u8> {
    let mut b = Vec::new();
    for (k, v) in vars {
        b.extend_from_slice(k.as_bytes());
        b.push(b'=');
        b.extend_from_slice(v.as_bytes());
        b.push(0);
    }
    b
}

struct Env {
    /// The environment after setup's changes.
    want: Vec<(OsString, OsString)>,
    /// Each changed name and its value (`None`: removed).
    changed: Vec<(OsString, Option<OsString>)>,
    initial: Vec<(OsString, OsString)>,
    kernel: Vec<u8>,
}

static ENV: Slot<Env> = Slot::new(None);

pub(crate) fn environ() -> super::Check {
    let kernel = read_bytes("/proc/self/environ").unwrap_or_else(|_| setup_failed("/proc/self/environ"));
    let initial: Vec<(OsString, OsString)> = std::env::vars_os().collect();
    let long: String = (0..3000).map(|i| (b'!' + (i * 7 % 90) as u8) as char).collect();
    let mut changed: Vec<(OsString, Option<OsString>)> = vec![
        ("ZDTM_ENV_A".into(), Some(format!("alpha-{}", std::process::id()).into())),
        ("ZDTM_ENV_EMPTY".into(), Some("".into())),
        ("ZDTM_ENV_LONG".into(), Some(long.into())),
        ("ZDTM_ENV_UTF8".into(), Some("żółw=ü €".into())),
    ];
    if let Some(path) = std::env::var_os("PATH") {
        let mut p = OsString::from("/zdtm/bin:");
        p.push(path);
        changed.push(("PATH".into(), Some(p)));
    }
    if let Some((k, _)) = initial.iter().find(|(k, _)| k != "PATH") {
        changed.push((k.clone(), None));
    }
    for (k, v) in &changed {
        match v {
            Some(v) => std::env::set_var(k, v),
            None => std::env::remove_var(k),
        }
    }
    let want = std::env::vars_os().collect();
    super::start(
        &ENV,
        Env {
            want,
            changed,
            initial,
            kernel,
        },
        environ_round,
        |st| {
            let now = read_bytes("/proc/self/environ")?;
            first_difference("/proc/self/environ, against its bytes at setup", &now, &st.kernel)?;
            first_difference("/proc/self/environ, against the initial variables", &now, &environ_bytes(&st.initial))
        },
    )
}

/// Two lists of NUL-terminated strings are equal, or the first that
/// differs (shortened).
fn first_difference(what: &str, got: &[u8], want: &[u8]) -> Result<(), String> {
    if got == want {
        return Ok(());
    }
    let show = |e: Option<&[u8]>| e.map(|e| String::from_utf8_lossy(&e[..e.len().min(120)]).into_owned());
    let (g, w): (Vec<&[u8]>, Vec<&[u8]>) = (got.split(|&b| b == 0).collect(), want.split(|&b| b == 0).collect());
    let i = g.iter().zip(&w).position(|(a, b)| a != b).unwrap_or(g.len().min(w.len()));
    Err(format!(
        "{what}: {} bytes, {} expected; entry {i} is {:?}, expected {:?}",
        got.len(),
        want.len(),
        show(g.get(i).copied()),
        show(w.get(i).copied())
    ))
}

fn environ_round(st: &mut Env) -> Result<(), String> {
    let now: Vec<(OsString, OsString)> = std::env::vars_os().collect();
    if now != st.want {
        let diff = now.iter().zip(&st.want).position(|(a, b)| a != b).unwrap_or(now.len().min(st.want.len()));
        return Err(format!(
            "the environment has {} variables ({} expected); first difference at {diff}: {:?}, expected {:?}",
            now.len(),
            st.want.len(),
            now.get(diff),
            st.want.get(diff)
        ));
    }
    for (k, v) in &st.changed {
        same(&format!("getenv({k:?})"), std::env::var_os(k), v.clone())?;
    }
    Ok(())
}

pub(crate) fn environ_tick(n: u64) {
    super::tick(n, &ENV, environ_round);
}

/// The process's name as it set it: what the harness expects everywhere.
const NAME: &str = "zdtm";

struct Cmd {
    args: Vec<OsString>,
    /// `arg_start`, `arg_end`, `env_start`, `env_end` (`/proc/self/stat`).
    bounds: Vec<String>,
    exe: std::path::PathBuf,
}

static CMD: Slot<Cmd> = Slot::new(None);

/// Fields 48-51 of `/proc/self/stat`: the argument and environment
/// bounds.
fn bounds() -> Result<Vec<String>, String> {
    let (_, f) = stat_fields("/proc/self/stat")?;
    f.get(45..49)
        .map(<[String]>::to_vec)
        .ok_or_else(|| format!("/proc/self/stat has {} fields after the name", f.len()))
}

fn pr_get_name() -> String {
    let mut b = [0u8; 17];
    // SAFETY: PR_GET_NAME writes at most 16 bytes.
    unsafe { libc::prctl(libc::PR_GET_NAME, b.as_mut_ptr()) };
    let n = b.iter().position(|&c| c == 0).unwrap_or(16);
    String::from_utf8_lossy(&b[..n]).into_owned()
}

pub(crate) fn cmdline() -> super::Check {
    let before: Vec<OsString> = std::env::args_os().collect();
    let bounds = bounds().unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2)
    });
    let (start, end) = (bounds[0].parse::<usize>().unwrap_or(0), bounds[1].parse::<usize>().unwrap_or(0));
    let at = before.first().map(|a| a.len() + 1).unwrap_or(0);
    let second = before.get(1).map(|a| a.as_bytes().to_vec()).unwrap_or_default();
    // The second argument must lie in the area where /proc/self/stat says.
    if start == 0 || second != b"cmdline" || start + at + second.len() >= end {
        eprintln!("argument area {start:#x}..{end:#x}: cannot find the argument \"cmdline\" in it");
        std::process::exit(2);
    }
    // SAFETY: the argument area is this process's own writable memory (its
    // initial stack), and the 7 bytes at `start + at` are the second
    // argument's, as checked: each is rewritten in place.
    let arg = unsafe { std::slice::from_raw_parts_mut((start + at) as *mut u8, second.len()) };
    if arg != second.as_slice() {
        eprintln!("argument area: {:?} at {:#x}, not \"cmdline\"", String::from_utf8_lossy(arg), start + at);
        std::process::exit(2);
    }
    arg.make_ascii_uppercase();
    // SAFETY: a NUL-terminated name of fewer than 16 bytes.
    if unsafe { libc::prctl(libc::PR_SET_NAME, c"zdtm".as_ptr()) } != 0 {
        setup_failed("PR_SET_NAME");
    }
    let args: Vec<OsString> = std::env::args_os().collect();
    let exe = std::fs::read_link("/proc/self/exe").unwrap_or_else(|_| setup_failed("/proc/self/exe"));
    super::start(&CMD, Cmd { args, bounds, exe }, cmdline_round, |st| {
        let mut want = Vec::new();
        for a in &st.args {
            want.extend_from_slice(a.as_bytes());
            want.push(0);
        }
        let got = read_bytes("/proc/self/cmdline")?;
        same("/proc/self/cmdline", String::from_utf8_lossy(&got), String::from_utf8_lossy(&want))
    })
}

fn cmdline_round(st: &mut Cmd) -> Result<(), String> {
    let args: Vec<OsString> = std::env::args_os().collect();
    same("arguments", &args, &st.args)?;
    if args.get(1).map(OsString::as_os_str) != Some(OsStr::new("CMDLINE")) {
        return Err(format!("the second argument is {:?}, not the rewritten CMDLINE", args.get(1)));
    }
    same("PR_GET_NAME", pr_get_name().as_str(), NAME)?;
    same("/proc/self/comm", super::read_text("/proc/self/comm")?.trim_end_matches('\n'), NAME)?;
    let (name, _) = stat_fields("/proc/self/stat")?;
    same("the name in /proc/self/stat", name.as_str(), NAME)?;
    same("argument and environment bounds in /proc/self/stat", bounds()?, st.bounds.clone())?;
    let exe = std::fs::read_link("/proc/self/exe").map_err(|e| format!("/proc/self/exe: {e}"))?;
    same("/proc/self/exe", &exe, &st.exe)
}

pub(crate) fn cmdline_tick(n: u64) {
    super::tick(n, &CMD, cmdline_round);
}

struct ProcArgs {
    cmdline: Vec<u8>,
    environ: Vec<u8>,
}

static PROC_ARGS: Slot<ProcArgs> = Slot::new(None);

pub(crate) fn proc_args() -> super::Check {
    let cmdline = read_bytes("/proc/self/cmdline").unwrap_or_else(|_| setup_failed("/proc/self/cmdline"));
    let environ = read_bytes("/proc/self/environ").unwrap_or_else(|_| setup_failed("/proc/self/environ"));
    let want: Vec<u8> = std::env::args_os().flat_map(|a| a.into_vec().into_iter().chain([0])).collect();
    if cmdline != want {
        eprintln!(
            "/proc/self/cmdline {:?} is not the arguments {:?}",
            String::from_utf8_lossy(&cmdline),
            String::from_utf8_lossy(&want)
        );
        std::process::exit(2);
    }
    super::start(&PROC_ARGS, ProcArgs { cmdline, environ }, proc_args_round, |_| Ok(()))
}

fn proc_args_round(st: &mut ProcArgs) -> Result<(), String> {
    let c = read_bytes("/proc/self/cmdline")?;
    same("/proc/self/cmdline", String::from_utf8_lossy(&c), String::from_utf8_lossy(&st.cmdline))?;
    first_difference("/proc/self/environ", &read_bytes("/proc/self/environ")?, &st.environ)
}

pub(crate) fn proc_args_tick(n: u64) {
    super::tick(n, &PROC_ARGS, proc_args_round);
}
