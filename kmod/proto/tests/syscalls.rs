//! Host tests of the system-call table: completeness against the kernel's
//! `syscall_64.tbl`, the dispositions the design relies on, argument
//! descriptors, and `docs/syscalls.md` staying in step with the table.

use roam_proto::syscalls::*;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

/// Forwarded calls allowed an [`Arg::Ptr`]: the forwarding layer knows
/// these structures (iovec and pollfd arrays, msghdr, value-result socket
/// addresses, group lists, capability data, per-command ioctl/fcntl
/// arguments) and marshals them itself or refuses the variant.
const FORWARD_PTR_ALLOWED: &[&str] = &[
    "ioctl",
    "fcntl",
    "readv",
    "writev",
    "preadv",
    "pwritev",
    "preadv2",
    "pwritev2",
    "sendmsg",
    "recvmsg",
    "sendmmsg",
    "recvmmsg",
    "msgctl",
    "semctl",
    "shmctl",
];

/// Well-known numbers, checked when no kernel source tree is at hand.
const KNOWN: &[(u16, &str)] = &[
    (0, "read"),
    (1, "write"),
    (2, "open"),
    (3, "close"),
    (4, "stat"),
    (5, "fstat"),
    (9, "mmap"),
    (12, "brk"),
    (13, "rt_sigaction"),
    (15, "rt_sigreturn"),
    (16, "ioctl"),
    (22, "pipe"),
    (39, "getpid"),
    (41, "socket"),
    (56, "clone"),
    (57, "fork"),
    (58, "vfork"),
    (59, "execve"),
    (60, "exit"),
    (61, "wait4"),
    (62, "kill"),
    (72, "fcntl"),
    (101, "ptrace"),
    (158, "arch_prctl"),
    (186, "gettid"),
    (202, "futex"),
    (217, "getdents64"),
    (218, "set_tid_address"),
    (228, "clock_gettime"),
    (231, "exit_group"),
    (257, "openat"),
    (262, "newfstatat"),
    (273, "set_robust_list"),
    (293, "pipe2"),
    (302, "prlimit64"),
    (318, "getrandom"),
    (322, "execveat"),
    (332, "statx"),
    (334, "rseq"),
    (335, "uretprobe"),
    (424, "pidfd_send_signal"),
    (425, "io_uring_setup"),
    (435, "clone3"),
    (437, "openat2"),
    (449, "futex_waitv"),
    (462, "mseal"),
];

fn all() -> impl Iterator<Item = SyscallInfo> {
    (0..=u64::from(MAX_NR)).map(lookup)
}

fn assigned() -> impl Iterator<Item = SyscallInfo> {
    all().filter(|s| s.name != "unassigned")
}

fn by_name(name: &str) -> SyscallInfo {
    assigned().find(|s| s.name == name).unwrap_or_else(|| panic!("no system call {name}"))
}

/// The `common` and `64` entries of a `syscall_64.tbl`.
fn parse_tbl(text: &str) -> BTreeMap<u16, String> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() >= 3 && (f[1] == "common" || f[1] == "64") {
            let nr: u16 = f[0].parse().expect("number");
            assert!(out.insert(nr, f[2].to_string()).is_none(), "number {nr} twice in the .tbl");
        }
    }
    out
}

const TBL: &str = "arch/x86/entry/syscalls/syscall_64.tbl";

/// The kernel's table, from an unpacked tree or the source tarball.
fn kernel_tbl() -> Option<(String, String)> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Ok(dirs) = std::fs::read_dir("/root/.cache/roam/kernel") {
        for d in dirs.flatten() {
            candidates.push(d.path().join("src").join(TBL));
        }
    }
    candidates.push(Path::new("/tmp/kexp/linux-source-6.12").join(TBL));
    for p in candidates {
        if let Ok(text) = std::fs::read_to_string(&p) {
            return Some((p.display().to_string(), text));
        }
    }
    let tarball = "/usr/src/linux-source-6.12.tar.xz";
    if Path::new(tarball).exists() {
        let member = format!("linux-source-6.12/{TBL}");
        let out = std::process::Command::new("tar").args(["xJf", tarball, "-O", &member]).output().ok()?;
        if out.status.success() && !out.stdout.is_empty() {
            return Some((tarball.to_string(), String::from_utf8(out.stdout).ok()?));
        }
    }
    None
}

#[test]
fn every_number_has_one_entry_and_names_are_unique() {
    assert_eq!(MAX_NR, 462);
    assert_eq!(SYSCALLS.len(), usize::from(MAX_NR) + 1);
    let mut names = HashSet::new();
    for (i, s) in SYSCALLS.iter().enumerate() {
        assert_eq!(usize::from(s.nr), i, "slot {i}");
        assert_eq!(lookup(i as u64), *s);
        assert_eq!(name(i as u64), s.name);
        assert!(!s.name.is_empty());
        if s.name == "unassigned" {
            assert_eq!(s.disposition, Disposition::BringHome);
            assert_eq!(s.args, [Arg::None; 6]);
        } else {
            assert!(names.insert(s.name), "{} twice", s.name);
        }
    }
    assert_eq!(names.len(), 375);
    // The free range of Linux 6.12.
    for nr in 336..=423 {
        assert_eq!(name(nr), "unassigned", "{nr}");
    }
}

#[test]
fn table_matches_the_kernel() {
    match kernel_tbl() {
        Some((from, text)) => {
            let tbl = parse_tbl(&text);
            assert!(tbl.len() > 300, "{from} looks wrong");
            for (nr, n) in &tbl {
                assert_eq!(lookup(u64::from(*nr)).name, n, "number {nr} in {from}");
            }
            for s in assigned() {
                assert_eq!(tbl.get(&s.nr).map(String::as_str), Some(s.name), "{} is not in {from}", s.name);
            }
            assert_eq!(tbl.keys().max(), Some(&MAX_NR));
        }
        None => {
            println!("note: no syscall_64.tbl found; checking {} well-known numbers", KNOWN.len());
        }
    }
    for (nr, n) in KNOWN {
        assert_eq!(name(u64::from(*nr)), *n, "number {nr}");
    }
}

#[test]
fn unknown_numbers_go_home() {
    // Home answers them as any kernel does (ENOSYS, or the call itself if
    // its kernel is newer): never an answer a remote made up.
    for nr in [9999u64, u64::from(MAX_NR) + 1, 512, 65_535, 65_536, u64::MAX] {
        let s = lookup(nr);
        assert_eq!(s.disposition, Disposition::BringHome, "{nr}");
        assert_eq!(s.name, "unassigned");
        assert_eq!(name(nr), "unassigned");
    }
    assert_eq!(lookup(9999).nr, 9999);
    assert_eq!(lookup(u64::MAX).nr, u16::MAX);
}

/// What must run at home: process creation and exec, the sandbox, and
/// changes of credentials and limits (made at home, where the process's
/// next move takes them from: a change made by the deputy alone would
/// leave the guest running with the old ones). Every call in the table is
/// local, forwarded or brought home: none fails on a remote with an errno
/// it would not get at home.
#[test]
fn bring_home_and_no_refusal() {
    for n in [
        "capset", "clone", "clone3", "execve", "execveat", "fork", "seccomp", "setfsgid", "setfsuid", "setgid", "setgroups",
        "setregid", "setresgid", "setresuid", "setreuid", "setrlimit", "setuid", "vfork",
    ] {
        assert_eq!(by_name(n).disposition, Disposition::BringHome, "{n}");
    }
    for s in SYSCALLS.iter() {
        assert!(matches!(s.disposition, Disposition::Local | Disposition::Forward | Disposition::BringHome), "{}", s.name);
    }
}

#[test]
fn exits_are_forwarded() {
    assert_eq!(by_name("exit").disposition, Disposition::Forward);
    assert_eq!(by_name("exit_group").disposition, Disposition::Forward);
    assert_eq!(by_name("exit").args, [Arg::Int, Arg::None, Arg::None, Arg::None, Arg::None, Arg::None]);
}

#[test]
fn forwarded_pointers_are_described_or_allowlisted() {
    let mut used = HashSet::new();
    for s in assigned().filter(|s| s.disposition == Disposition::Forward) {
        if s.args.contains(&Arg::Ptr) {
            assert!(FORWARD_PTR_ALLOWED.contains(&s.name), "{} is forwarded with an undescribed pointer", s.name);
            used.insert(s.name);
        }
    }
    for n in FORWARD_PTR_ALLOWED {
        assert!(used.contains(n), "{n} is allowlisted but has no Ptr argument or is not forwarded");
    }
}

#[test]
fn argument_descriptors_are_well_formed() {
    for s in all() {
        let n = s.nargs();
        assert!(s.args[n..].iter().all(|a| *a == Arg::None), "{}: None before an argument", s.name);
        for a in &s.args[..n] {
            match *a {
                Arg::InBuf { len_arg } | Arg::OutBuf { len_arg } => {
                    let l = usize::from(len_arg);
                    assert!(l < n, "{}: length argument {l} out of range", s.name);
                    assert_eq!(s.args[l], Arg::Int, "{}: length argument {l} is not an integer", s.name);
                }
                Arg::InFixed(sz) | Arg::OutFixed(sz) | Arg::InOutFixed(sz) => {
                    assert!(sz > 0 && sz <= 4096, "{}: size {sz}", s.name);
                }
                Arg::InOutArray { count_arg, elem } | Arg::OutArray { count_arg, elem } => {
                    let l = usize::from(count_arg);
                    assert!(l < n && s.args[l] == Arg::Int, "{}: count argument {l}", s.name);
                    assert!(elem > 0 && elem <= 4096, "{}: element size {elem}", s.name);
                }
                Arg::InOutBits { count_arg } | Arg::SigMask { size_arg: count_arg } => {
                    let l = usize::from(count_arg);
                    assert!(l < n && s.args[l] == Arg::Int, "{}: count/size argument {l}", s.name);
                }
                Arg::InOutSized { lenp, max } => {
                    let l = usize::from(lenp);
                    assert!(l < n && s.args[l] == Arg::InOutFixed(4), "{}: length pointer {l} is not a socklen_t", s.name);
                    assert!(max > 0 && usize::from(max) <= roam_proto::fwd::MAX_BUF, "{}: max {max}", s.name);
                }
                _ => {}
            }
        }
    }
}

#[test]
fn some_signatures() {
    use Arg::*;
    let cases: &[(&str, Disposition, [Arg; 6])] = &[
        ("read", Disposition::Forward, [Fd, OutBuf { len_arg: 2 }, Int, None, None, None]),
        ("write", Disposition::Forward, [Fd, InBuf { len_arg: 2 }, Int, None, None, None]),
        ("openat", Disposition::Forward, [Fd, Path, Int, Int, None, None]),
        ("fstat", Disposition::Forward, [Fd, OutFixed(144), None, None, None, None]),
        ("newfstatat", Disposition::Forward, [Fd, Path, OutFixed(144), Int, None, None]),
        ("pipe2", Disposition::Forward, [OutFixed(8), Int, None, None, None, None]),
        ("getcwd", Disposition::Forward, [OutBuf { len_arg: 1 }, Int, None, None, None, None]),
        ("statx", Disposition::Forward, [Fd, Path, Int, Int, OutFixed(256), None]),
        ("wait4", Disposition::Forward, [Int, OutFixed(4), Int, OutFixed(144), None, None]),
        ("uname", Disposition::Forward, [OutFixed(390), None, None, None, None, None]),
        ("poll", Disposition::Forward, [InOutArray { count_arg: 1, elem: 8 }, Int, Int, None, None, None]),
        ("ptrace", Disposition::BringHome, [Int, Int, Ptr, Ptr, None, None]),
    ];
    for (n, d, args) in cases {
        let s = by_name(n);
        assert_eq!(s.disposition, *d, "{n}");
        assert_eq!(s.args, *args, "{n}");
    }
}

#[test]
fn dispositions_of_the_design() {
    let local = [
        "brk",
        "mmap",
        "munmap",
        "mprotect",
        "mremap",
        "madvise",
        "msync",
        "mincore",
        "mlock",
        "mlock2",
        "mlockall",
        "munlock",
        "munlockall",
        "futex",
        "rt_sigprocmask",
        "rt_sigaction",
        "sigaltstack",
        "rt_sigreturn",
        "rt_sigsuspend",
        "getpid",
        "gettid",
        "getuid",
        "geteuid",
        "getgid",
        "getegid",
        "clock_gettime",
        "clock_getres",
        "clock_nanosleep",
        "nanosleep",
        "gettimeofday",
        "time",
        "sched_yield",
        "arch_prctl",
        "set_tid_address",
        "set_robust_list",
        "get_robust_list",
        "rseq",
        "getrandom",
        "prctl",
        // The guest holds the home credentials and limits (the image
        // carries them, and they change only at home).
        "getresuid",
        "getresgid",
        "getgroups",
        "capget",
        "getrlimit",
    ];
    for n in local {
        assert_eq!(by_name(n).disposition, Disposition::Local, "{n}");
    }
    let forward = [
        "read", "write", "open", "openat", "close", "lseek", "getdents64", "ioctl", "poll", "select", "epoll_wait",
        "fcntl", "dup", "dup3", "chdir", "getcwd", "stat", "fstat", "socket", "connect", "pipe", "kill", "tgkill",
        "tkill", "wait4", "waitid", "prlimit64", "times", "getrusage", "sysinfo", "uname",
    ];
    for n in forward {
        assert_eq!(by_name(n).disposition, Disposition::Forward, "{n}");
    }
    // What a remote could not answer as home would: made at home.
    let home = [
        "ptrace",
        "process_vm_readv",
        "process_vm_writev",
        "userfaultfd",
        "io_uring_setup",
        "io_uring_enter",
        "io_uring_register",
        "shmat",
        "shmdt",
        "bpf",
        "perf_event_open",
        "kexec_load",
        "kexec_file_load",
        "reboot",
        "init_module",
        "finit_module",
        "delete_module",
    ];
    for n in home {
        assert_eq!(by_name(n).disposition, Disposition::BringHome, "{n}");
    }
}

#[test]
fn disposition_helpers() {
    assert_eq!(Disposition::BringHome.name(), "bring_home");
    assert!(Arg::Path.is_pointer() && Arg::Ptr.is_pointer() && Arg::OutFixed(8).is_pointer());
    assert!(!Arg::Fd.is_pointer() && !Arg::Int.is_pointer() && !Arg::None.is_pointer());
    assert_eq!(by_name("read").nargs(), 3);
    assert_eq!(by_name("fork").nargs(), 0);
    assert_eq!(by_name("mmap").nargs(), 6);
}

/// How `docs/syscalls.md` shows an argument.
fn arg_text(a: Arg) -> String {
    match a {
        Arg::None => String::new(),
        Arg::Int => "int".into(),
        Arg::Fd => "fd".into(),
        Arg::Path => "path".into(),
        Arg::InBuf { len_arg } => format!("in_buf[arg{len_arg}]"),
        Arg::OutBuf { len_arg } => format!("out_buf[arg{len_arg}]"),
        Arg::InFixed(n) => format!("in({n})"),
        Arg::OutFixed(n) => format!("out({n})"),
        Arg::InOutFixed(n) => format!("inout({n})"),
        Arg::InOutArray { count_arg, elem } => format!("inout({elem}[arg{count_arg}])"),
        Arg::OutArray { count_arg, elem } => format!("out({elem}[arg{count_arg}])"),
        Arg::InOutSized { lenp, max } => format!("inout(*arg{lenp}, at most {max})"),
        Arg::InOutBits { count_arg } => format!("inout_bits[arg{count_arg}]"),
        Arg::InArray { count_arg, elem } => format!("in({elem}[arg{count_arg}])"),
        Arg::InMsg { len_arg } => format!("in_msgbuf[8+arg{len_arg}]"),
        Arg::OutMsg { len_arg } => format!("out_msgbuf[8+arg{len_arg}]"),
        Arg::SigMask { size_arg } => format!("sigmask(8=arg{size_arg})"),
        Arg::SigMaskPair => "sigmask_pair".into(),
        Arg::Ptr => "ptr".into(),
    }
}

/// How `docs/syscalls.md` shows a disposition.
fn disposition_text(d: Disposition) -> String {
    match d {
        Disposition::Local => "local".into(),
        Disposition::Forward => "forward".into(),
        Disposition::BringHome => "bring home".into(),
    }
}

/// The generated list: one line per assigned number.
fn expected_list() -> String {
    let mut out = String::new();
    for s in assigned() {
        let args: Vec<String> = s.args[..s.nargs()].iter().map(|a| arg_text(*a)).collect();
        out.push_str(&format!("- {} `{}`: {} ({})\n", s.nr, s.name, disposition_text(s.disposition), args.join(", ")));
    }
    out
}

const BEGIN: &str = "<!-- syscall-table:begin -->\n";
const END: &str = "<!-- syscall-table:end -->";

/// `docs/syscalls.md` must list every system call exactly as the table
/// has it. `ROAM_BLESS_DOCS=1 cargo test -p roam-proto --test syscalls`
/// rewrites the list after a change to the table.
#[test]
fn docs_list_the_table() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/syscalls.md");
    let doc = std::fs::read_to_string(&path).expect("docs/syscalls.md");
    let start = doc.find(BEGIN).expect("begin marker") + BEGIN.len();
    let end = doc.find(END).expect("end marker");
    let want = expected_list();
    if std::env::var_os("ROAM_BLESS_DOCS").is_some() {
        let new = format!("{}{}{}", &doc[..start], want, &doc[end..]);
        std::fs::write(&path, new).expect("write docs/syscalls.md");
        return;
    }
    let have = &doc[start..end];
    for (i, (h, w)) in have.lines().zip(want.lines()).enumerate() {
        assert_eq!(h, w, "docs/syscalls.md list line {} differs from the table", i + 1);
    }
    assert_eq!(have.lines().count(), want.lines().count(), "docs/syscalls.md list length");
    // Every name also appears, as `name`, in the list.
    for s in assigned() {
        assert!(have.contains(&format!("`{}`", s.name)), "{} missing from docs/syscalls.md", s.name);
    }
}

#[test]
fn disposition_counts() {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for s in assigned() {
        *counts.entry(disposition_text(s.disposition)).or_default() += 1;
    }
    println!("{counts:?}");
    assert_eq!(counts.values().sum::<usize>(), 375);
    // The summary at the top of docs/syscalls.md gives the same counts.
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/syscalls.md");
    let doc = std::fs::read_to_string(path).expect("docs/syscalls.md");
    for (d, n) in &counts {
        let row = doc.lines().find(|l| l.starts_with(&format!("| {d} |"))).unwrap_or_else(|| panic!("no row for {d}"));
        assert!(row.ends_with(&format!("| {n} |")), "docs/syscalls.md says `{row}`, the table has {n}");
    }
}
