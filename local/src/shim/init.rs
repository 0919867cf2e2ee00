//! The run's first process, forked by the shim: it joins the cgroups, lowers rlimits and —
//! with namespaces — sets up the mounts and, as pid 1 of the pid namespace, starts the script,
//! forwards signals to it, reaps orphans and ends with it. Without namespaces it becomes the
//! script. Errors before the script runs go back to the shim over the report pipe.
//!
//! Runs in a forked child of the single-threaded shim, so it may allocate; it never returns.

use std::ffi::CString;
use std::sync::atomic::Ordering;

use super::{FORWARDED, Prepared, ShimSpec, TARGET, close, install_forwarding};
use crate::api::Isolation;
use crate::isolate::{self, MountPlan};
use crate::sandbox;

/// The forked child: pid 1 of the new pid namespace (which then starts the script), or, with
/// no namespaces, the script itself. Never returns.
#[allow(clippy::too_many_arguments)]
pub(crate) fn first_process(
    shim_pid: i32,
    namespaces: bool,
    mounts: &MountPlan,
    spec: &ShimSpec,
    p: &Prepared,
    log_w: i32,
    rep_w: i32,
) -> ! {
    // SAFETY: prctl/getppid; die with the shim so a killed shim never leaves an orphan run.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        if libc::getppid() != shim_pid && !namespaces {
            libc::_exit(1);
        }
    }
    for (path, c) in &p.procs {
        if let Err(e) = write_c(c, b"0") {
            fail(
                rep_w,
                &format!("cannot join cgroup {}: {e}", path.display()),
            );
        }
    }
    if let Some(bytes) = spec.limits.rlimit_as {
        let lim = libc::rlimit {
            rlim_cur: bytes,
            rlim_max: bytes,
        };
        // SAFETY: setrlimit with a valid struct; lowering is always allowed.
        if unsafe { libc::setrlimit(libc::RLIMIT_AS, &lim) } != 0 {
            fail(
                rep_w,
                &format!("setrlimit(RLIMIT_AS): {}", std::io::Error::last_os_error()),
            );
        }
    }
    if !namespaces {
        // Its own process group, so signals reach the script's children too.
        // SAFETY: setpgid on ourselves.
        unsafe { libc::setpgid(0, 0) };
        exec_script(p, log_w, rep_w);
    }
    // SAFETY: prctl with a static NUL-terminated name; `ps` then tells it from the shim.
    unsafe { libc::prctl(libc::PR_SET_NAME, c"prisn-init".as_ptr()) };
    match isolate::setup(mounts) {
        Ok(notes) => {
            if !mounts.hide.is_empty() {
                report(rep_w, "N hidden: $PRISN_HOME, /root, /home, /run/user");
            }
            for n in notes {
                report(rep_w, &format!("N {n}"));
            }
        }
        Err(e) => fail(rep_w, &format!("isolation: {e}")),
    }
    confine(spec, p, rep_w);
    // SAFETY: fork in a single-threaded process.
    let script = unsafe { libc::fork() };
    if script < 0 {
        fail(rep_w, &format!("fork: {}", std::io::Error::last_os_error()));
    }
    if script == 0 {
        exec_script(p, log_w, rep_w);
    }
    close(log_w);
    close(rep_w);
    // As pid 1: forward signals to the script, reap every orphan, end with the script.
    TARGET.store(script, Ordering::SeqCst);
    install_forwarding();
    loop {
        let mut st = 0;
        // SAFETY: waitpid for any child.
        let r = unsafe { libc::waitpid(-1, &mut st, 0) };
        if r == script {
            let code = if libc::WIFEXITED(st) {
                libc::WEXITSTATUS(st)
            } else if libc::WIFSIGNALED(st) {
                128 + libc::WTERMSIG(st)
            } else {
                1
            };
            // Leaving kills whatever else still runs in the namespace.
            // SAFETY: _exit.
            unsafe { libc::_exit(code) };
        }
        if r < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ECHILD) {
            // SAFETY: _exit.
            unsafe { libc::_exit(1) };
        }
    }
}

/// Give up every privilege for good, before the script exists: the run's own uid (a root
/// daemon), no capabilities, no_new_privs, the seccomp filter. Reports what applies.
fn confine(spec: &ShimSpec, p: &Prepared, rep_w: i32) {
    if let Err(e) = sandbox::become_unprivileged(spec.run_id) {
        fail(rep_w, &format!("isolation: {e}"));
    }
    // A credential change clears the parent-death signal: set it again.
    // SAFETY: prctl with plain integers.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
    if let Err(e) = sandbox::no_new_privs() {
        fail(rep_w, &format!("isolation: {e}"));
    }
    report(
        rep_w,
        &match spec.run_id {
            Some(id) => format!("N uid {id} without capabilities, no_new_privs"),
            None => "N no capabilities, no_new_privs".to_string(),
        },
    );
    let applied = p
        .seccomp
        .as_ref()
        .map_err(Clone::clone)
        .and_then(|f| sandbox::apply(f));
    match applied {
        Ok(()) => report(rep_w, "N seccomp filter"),
        Err(e) if spec.isolation == Isolation::Namespaces => {
            fail(rep_w, &format!("--isolation namespaces: {e}"))
        }
        Err(e) => report(rep_w, &format!("N no seccomp filter ({e})")),
    }
}

/// Become the script. Never returns.
fn exec_script(p: &Prepared, log_w: i32, rep_w: i32) -> ! {
    // SAFETY: fd and signal plumbing on our own process before execve.
    unsafe {
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        if null >= 0 {
            libc::dup2(null, 0);
        }
        libc::dup2(log_w, 1);
        libc::dup2(log_w, 2);
        for &sig in FORWARDED {
            libc::signal(sig, libc::SIG_DFL);
        }
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
        if libc::chdir(p.cwd.as_ptr()) != 0 {
            fail(
                rep_w,
                &format!(
                    "cannot enter {}: {}",
                    p.cwd.to_string_lossy(),
                    std::io::Error::last_os_error()
                ),
            );
        }
    }
    let mut argv: Vec<*const libc::c_char> = p.argv.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = p.envp.iter().map(|a| a.as_ptr()).collect();
    envp.push(std::ptr::null());
    // SAFETY: NUL-terminated arrays of valid C strings.
    unsafe { libc::execve(p.program.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    fail(
        rep_w,
        &format!(
            "cannot execute {}: {}",
            p.program.to_string_lossy(),
            std::io::Error::last_os_error()
        ),
    )
}

fn report(fd: i32, line: &str) {
    let mut bytes = line.replace('\n', " ").into_bytes();
    bytes.push(b'\n');
    // SAFETY: writing our own buffer to a pipe.
    unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
}

fn fail(rep_w: i32, message: &str) -> ! {
    report(rep_w, &format!("E {message}"));
    // SAFETY: _exit without running the parent's destructors.
    unsafe { libc::_exit(127) }
}

fn write_c(path: &CString, data: &[u8]) -> std::io::Result<()> {
    // SAFETY: open/write/close with valid arguments.
    unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let n = libc::write(fd, data.as_ptr().cast(), data.len());
        let err = std::io::Error::last_os_error();
        libc::close(fd);
        if n < 0 { Err(err) } else { Ok(()) }
    }
}
