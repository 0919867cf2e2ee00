//! The shim: one small process per run, between the daemon and the script (like
//! containerd-shim or conmon). It is started by the daemon in a session of its own, so it —
//! and the script — survive the daemon being killed, and:
//!
//! 1. enters the namespaces (a pid namespace, and a user namespace when not root);
//! 2. forks the run's first process, which joins the cgroups, sets up the mounts
//!    ([`crate::isolate`]), lowers rlimits and — as pid 1 of the namespace, reaping and
//!    forwarding signals — starts the script (with `--isolation none` the child is the script);
//! 3. writes `started.json`, then copies the script's output (stdout and stderr share one pipe,
//!    so their order is kept) into the rotated log;
//! 4. on SIGTERM forwards it and, after the grace period, kills the run;
//! 5. writes `exited.json` with the exit code or signal and exits with the same code.
//!
//! The daemon learns everything from those files and from a pidfd on the shim, also after a
//! restart, when the shim is no longer its child.
//!
//! The shim must be single-threaded until it forks: user namespaces refuse multithreaded
//! callers, and the child runs ordinary Rust code after `fork`.

// The run's first process (pid 1 of its namespace) is the shim's own child: its code lives
// below the shim's and shares the shim's signal state.
mod init;

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::api::{Isolation, Network, now_ms};
use crate::isolate::MountPlan;
use crate::limits;
use crate::logs::LogWriter;

pub const SPEC: &str = "spec.json";
pub const STARTED: &str = "started.json";
pub const EXITED: &str = "exited.json";

/// Everything the shim needs, written by the daemon into the run directory.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShimSpec {
    pub workload: String,
    pub run: i64,
    /// An absolute path.
    pub program: PathBuf,
    pub args: Vec<String>,
    /// The complete environment of the script.
    pub env: Vec<(String, String)>,
    pub cwd: PathBuf,
    pub isolation: Isolation,
    pub keep_visible: Vec<PathBuf>,
    /// Directories replaced by an empty tmpfs in the run (`$PRISN_HOME`, homes).
    #[serde(default)]
    pub hide: Vec<PathBuf>,
    /// The uid and gid the run becomes (a root daemon; see [`crate::sandbox`]).
    #[serde(default)]
    pub run_id: Option<u32>,
    #[serde(default)]
    pub network: Network,
    pub storage: Vec<(PathBuf, PathBuf)>,
    pub limits: limits::Plan,
    pub log: PathBuf,
    pub log_max_bytes: u64,
    pub log_keep: u32,
    pub stop_grace_ms: u64,
}

/// `started.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Started {
    pub shim_pid: i32,
    /// The script's process (host pid); None when it already exited.
    pub pid: Option<i32>,
    /// How the run is isolated, e.g. `namespaces (pid, mount); read-only /, private /tmp`.
    pub isolation: String,
    /// Each limit and how it is applied.
    pub limits: Vec<String>,
    pub started_ms: i64,
}

/// `exited.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exited {
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub ended_ms: i64,
    /// Why the script did not start at all.
    pub error: Option<String>,
}

/// Write JSON so readers see the old file or the new one, never half of one; 0600, as a
/// spec holds the run's environment (its secrets).
pub fn write_json(path: &Path, value: &impl Serialize) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(&serde_json::to_vec_pretty(value).map_err(std::io::Error::other)?)?;
    drop(file);
    std::fs::rename(&tmp, path)
}

pub fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Option<T> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

// Signal forwarding state (signal handlers may only touch atomics and call kill(2)).
pub(crate) static TARGET: AtomicI32 = AtomicI32::new(0);
static TERM_AT_MS: AtomicU64 = AtomicU64::new(0);
static TERMINATING: AtomicBool = AtomicBool::new(false);

pub(crate) const FORWARDED: &[libc::c_int] = &[
    libc::SIGTERM,
    libc::SIGINT,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
];

extern "C" fn forward(sig: libc::c_int) {
    let target = TARGET.load(Ordering::SeqCst);
    if target != 0 {
        // SAFETY: kill(2) is async-signal-safe.
        unsafe { libc::kill(target, sig) };
    }
    if (sig == libc::SIGTERM || sig == libc::SIGINT) && !TERMINATING.swap(true, Ordering::SeqCst) {
        TERM_AT_MS.store(now_ms() as u64, Ordering::SeqCst);
    }
}

pub(crate) fn install_forwarding() {
    for &sig in FORWARDED {
        // SAFETY: a zeroed sigaction with a valid extern "C" handler.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = forward as extern "C" fn(libc::c_int) as usize;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

/// `prisn daemon shim RUN_DIR`: returns the process exit code.
pub fn main(run_dir: &Path) -> i32 {
    let Some(spec) = read_json::<ShimSpec>(&run_dir.join(SPEC)) else {
        let err = format!("cannot read {}", run_dir.join(SPEC).display());
        eprintln!("prisn shim: {err}");
        let _ = write_json(
            &run_dir.join(EXITED),
            &Exited {
                code: None,
                signal: None,
                ended_ms: now_ms(),
                error: Some(err),
            },
        );
        return 127;
    };
    match run(run_dir, &spec) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("prisn shim {} run {}: {err}", spec.workload, spec.run);
            let _ = write_json(
                &run_dir.join(EXITED),
                &Exited {
                    code: None,
                    signal: None,
                    ended_ms: now_ms(),
                    error: Some(err),
                },
            );
            127
        }
    }
}

/// Everything the forked processes need, prepared before forking.
pub(crate) struct Prepared {
    pub program: CString,
    pub argv: Vec<CString>,
    pub envp: Vec<CString>,
    pub cwd: CString,
    pub procs: Vec<(PathBuf, CString)>,
    /// The compiled seccomp filters, or why there are none.
    pub seccomp: Result<Vec<seccompiler::BpfProgram>, String>,
}

fn cstring(bytes: &[u8], what: &str) -> Result<CString, String> {
    CString::new(bytes).map_err(|_| format!("{what} contains a NUL byte"))
}

fn run(run_dir: &Path, spec: &ShimSpec) -> Result<i32, String> {
    let prepared = Prepared {
        program: cstring(spec.program.as_os_str().as_bytes(), "the program path")?,
        argv: std::iter::once(spec.program.as_os_str().as_bytes().to_vec())
            .chain(spec.args.iter().map(|a| a.as_bytes().to_vec()))
            .map(|a| cstring(&a, "an argument"))
            .collect::<Result<_, _>>()?,
        envp: spec
            .env
            .iter()
            .map(|(k, v)| cstring(format!("{k}={v}").as_bytes(), "an environment variable"))
            .collect::<Result<_, _>>()?,
        cwd: cstring(spec.cwd.as_os_str().as_bytes(), "the working directory")?,
        procs: spec
            .limits
            .procs_files()
            .into_iter()
            .map(|p| {
                Ok((
                    p.clone(),
                    cstring(p.as_os_str().as_bytes(), "a cgroup path")?,
                ))
            })
            .collect::<Result<_, String>>()?,
        seccomp: crate::sandbox::filters(),
    };
    let mut writer = LogWriter::open(&spec.log, spec.log_max_bytes, spec.log_keep)
        .map_err(|e| format!("cannot open the log {}: {e}", spec.log.display()))?;
    let (log_r, log_w) = pipe()?;
    let (rep_r, rep_w) = pipe()?;

    // Namespaces: pid, ipc, uts (and net with --network none; user when not root, which
    // grants the rights for the rest); the mount namespace is the child's own (see isolate).
    let mut isolation_note = None;
    let mut namespaces = false;
    // SAFETY: plain syscalls.
    let (euid, egid) = unsafe { (libc::geteuid(), libc::getegid()) };
    if spec.isolation != Isolation::None {
        let mut flags = libc::CLONE_NEWPID | libc::CLONE_NEWIPC | libc::CLONE_NEWUTS;
        if euid != 0 {
            flags |= libc::CLONE_NEWUSER;
        }
        if spec.network == Network::None {
            flags |= libc::CLONE_NEWNET;
        }
        // SAFETY: unshare(2) in a single-threaded process.
        if unsafe { libc::unshare(flags) } == 0 {
            namespaces = true;
            if euid != 0 {
                map_ids(euid, egid)?;
            }
            if spec.network == Network::None {
                crate::sandbox::loopback_up()?;
            }
        } else {
            let why = format!(
                "unshare(CLONE_NEWPID|CLONE_NEWIPC|CLONE_NEWUTS{}{}) failed: {}",
                if euid != 0 { "|CLONE_NEWUSER" } else { "" },
                if spec.network == Network::None {
                    "|CLONE_NEWNET"
                } else {
                    ""
                },
                std::io::Error::last_os_error()
            );
            if spec.isolation == Isolation::Namespaces {
                return Err(format!("--isolation namespaces cannot be applied: {why}"));
            }
            if !spec.storage.is_empty() {
                return Err(format!(
                    "--storage needs a mount namespace, which is unavailable: {why}"
                ));
            }
            if spec.network == Network::None {
                return Err(format!(
                    "--network none needs a network namespace, which is unavailable: {why}"
                ));
            }
            isolation_note = Some(format!("none (namespaces unavailable: {why})"));
        }
    }
    let mounts = MountPlan {
        keep: spec.keep_visible.clone(),
        hide: spec.hide.clone(),
        storage: spec.storage.clone(),
    };

    // SAFETY: plain syscalls; the process is single-threaded, so the child may run Rust code.
    let shim_pid = unsafe { libc::getpid() };
    let child = unsafe { libc::fork() };
    if child < 0 {
        return Err(format!("fork: {}", std::io::Error::last_os_error()));
    }
    if child == 0 {
        close(log_r);
        close(rep_r);
        init::first_process(shim_pid, namespaces, &mounts, spec, &prepared, log_w, rep_w);
    }
    close(log_w);
    close(rep_w);
    // Signals go to pid 1 of the namespace (which forwards them), or to the script's group.
    TARGET.store(if namespaces { child } else { -child }, Ordering::SeqCst);
    install_forwarding();

    let report = read_to_end(rep_r);
    close(rep_r);
    let mut notes = Vec::new();
    let mut error = None;
    for line in report.lines() {
        if let Some(n) = line.strip_prefix("N ") {
            notes.push(n.to_string());
        } else if let Some(e) = line.strip_prefix("E ") {
            error = Some(e.to_string());
        }
    }
    if let Some(err) = error {
        let status = wait_blocking(child);
        let _ = status;
        return Err(err);
    }
    let pid = if namespaces {
        // The script is the only child of pid 1; it may already be gone.
        let mut found = None;
        for _ in 0..50 {
            if let Some(p) = crate::proc::children(child).first() {
                found = Some(*p);
                break;
            }
            if crate::proc::state(child).is_none_or(|s| s == 'Z') {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        found
    } else {
        Some(child)
    };
    let isolation = match (namespaces, isolation_note) {
        (true, _) => {
            let mut s = format!(
                "namespaces (pid, mount{}): read-only /, private /tmp; also ipc, uts{}",
                if euid != 0 { ", user" } else { "" },
                if spec.network == Network::None {
                    ", net (loopback only)"
                } else {
                    "; host network"
                }
            );
            for n in &notes {
                s.push_str("; ");
                s.push_str(n);
            }
            s
        }
        (false, Some(note)) => note,
        (false, None) => "none".to_string(),
    };
    let started = Started {
        shim_pid,
        pid,
        isolation,
        limits: spec.limits.notes.clone(),
        started_ms: now_ms(),
    };
    write_json(&run_dir.join(STARTED), &started)
        .map_err(|e| format!("cannot write {}: {e}", run_dir.join(STARTED).display()))?;

    let status = pump(
        log_r,
        child,
        &mut writer,
        Duration::from_millis(spec.stop_grace_ms),
    );
    close(log_r);
    let (code, signal) = decode(status);
    write_json(
        &run_dir.join(EXITED),
        &Exited {
            code,
            signal,
            ended_ms: now_ms(),
            error: None,
        },
    )
    .map_err(|e| format!("cannot write {}: {e}", run_dir.join(EXITED).display()))?;
    Ok(code.unwrap_or_else(|| 128 + signal.unwrap_or(0)))
}

/// Copy output into the log until the run is over; enforce the stop grace period.
fn pump(log_r: i32, child: i32, writer: &mut LogWriter, grace: Duration) -> libc::c_int {
    let mut buf = vec![0u8; 64 * 1024];
    let mut status = None;
    let mut killed = false;
    let mut eof = false;
    let mut drain_until: Option<Instant> = None;
    loop {
        if !eof {
            let mut pfd = libc::pollfd {
                fd: log_r,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            let ready = unsafe { libc::poll(&mut pfd, 1, 100) };
            if ready > 0 {
                // SAFETY: reading into a buffer we own.
                let n = unsafe { libc::read(log_r, buf.as_mut_ptr().cast(), buf.len()) };
                if n > 0 {
                    if let Err(e) = writer.write(&buf[..n as usize]) {
                        eprintln!("prisn shim: writing the log failed: {e}");
                    }
                } else if n == 0 {
                    eof = true;
                }
            }
        } else {
            std::thread::sleep(Duration::from_millis(50));
        }
        if status.is_none() {
            let mut st = 0;
            // SAFETY: waitpid on our own child.
            if unsafe { libc::waitpid(child, &mut st, libc::WNOHANG) } == child {
                status = Some(st);
                // Descendants may still hold the pipe (isolation none): read what they
                // wrote for a moment, then stop.
                drain_until = Some(Instant::now() + Duration::from_millis(200));
            }
        }
        if let Some(st) = status
            && (eof || drain_until.is_some_and(|t| Instant::now() >= t))
        {
            return st;
        }
        let term_at = TERM_AT_MS.load(Ordering::SeqCst);
        if !killed
            && term_at != 0
            && (now_ms() as u64).saturating_sub(term_at) >= grace.as_millis() as u64
        {
            killed = true;
            let target = TARGET.load(Ordering::SeqCst);
            // SAFETY: kill(2).
            unsafe { libc::kill(target, libc::SIGKILL) };
        }
    }
}

/// `(code, signal)` of a wait status.
fn decode(st: libc::c_int) -> (Option<i32>, Option<i32>) {
    if libc::WIFEXITED(st) {
        let code = libc::WEXITSTATUS(st);
        // pid 1 of the namespace reports a killed script as 128 + signal.
        if code > 128 && code <= 128 + 64 {
            (Some(code), Some(code - 128))
        } else {
            (Some(code), None)
        }
    } else if libc::WIFSIGNALED(st) {
        (None, Some(libc::WTERMSIG(st)))
    } else {
        (None, None)
    }
}

fn wait_blocking(pid: i32) -> libc::c_int {
    let mut st = 0;
    loop {
        // SAFETY: waitpid on our own child.
        let r = unsafe { libc::waitpid(pid, &mut st, 0) };
        if r == pid
            || (r < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR))
        {
            return st;
        }
    }
}

/// Write this process's id maps in a new user namespace: the same uid and gid inside, so files
/// keep their owners and the script has no capabilities after exec.
fn map_ids(uid: libc::uid_t, gid: libc::gid_t) -> Result<(), String> {
    let write = |file: &str, text: String| {
        std::fs::write(file, text).map_err(|e| format!("cannot write {file}: {e}"))
    };
    write("/proc/self/setgroups", "deny".into())?;
    write("/proc/self/uid_map", format!("{uid} {uid} 1"))?;
    write("/proc/self/gid_map", format!("{gid} {gid} 1"))
}

fn pipe() -> Result<(i32, i32), String> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 into a 2-element array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(format!("pipe: {}", std::io::Error::last_os_error()));
    }
    Ok((fds[0], fds[1]))
}

pub(crate) fn close(fd: i32) {
    // SAFETY: closing an fd we own.
    unsafe { libc::close(fd) };
}

fn read_to_end(fd: i32) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        // SAFETY: reading into our own buffer.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n > 0 {
            out.extend_from_slice(&buf[..n as usize]);
        } else if n == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            break;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
