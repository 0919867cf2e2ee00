//! Local mode: a deployed app tries to break out, from inside, and fails (issue 13, items 1
//! and 2). The probe is an ordinary Python script that prints one line per attempt; the test
//! reads its log and checks each line.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use crate::local::*;

/// Every attempt, one `name: outcome` line each, then `done`. Syscall numbers are x86_64's.
const PROBE: &str = r#"
import ctypes, errno, glob, os, socket, subprocess, sys, time
home = os.environ['PRISN_TEST_HOME']
libc = ctypes.CDLL(None, use_errno=True)

def out(name, text):
    print(f'{name}: {text}', flush=True)

def attempt(name, f):
    try:
        out(name, 'ok ' + str(f()))
    except Exception as e:
        out(name, 'refused ' + type(e).__name__ + ' ' + str(getattr(e, 'strerror', '') or e))

def deploy_through_the_socket():
    s = socket.socket(socket.AF_UNIX)
    s.connect(os.path.join(home, 'daemon.sock'))
    body = b'{"kind":"app","source":"x","code":{"root":"/","entrypoint":"bin/sh","files":[],"runtime":"bash","is_dir":true},"env_dir":"/","isolation":"none"}'
    s.sendall(b'PUT /v1/workloads/escaped HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ' + str(len(body)).encode() + b'\r\nConnection: close\r\n\r\n' + body)
    return s.recv(200).split(b'\r\n')[0]

attempt('socket', deploy_through_the_socket)
attempt('auth', lambda: open(os.path.join(home, 'auth.json')).read())
attempt('home', lambda: os.listdir(home))
attempt('specs', lambda: [open(p).read()[:20] for p in glob.glob(os.path.join(home, 'run', '*', '*', 'spec.json'))] or os.listdir(os.path.join(home, 'run')))
def environ_of_others():
    found = []
    for p in glob.glob('/proc/[0-9]*/environ'):
        try:
            if b'TOKEN' in open(p, 'rb').read():
                found.append(p)
        except OSError:
            pass
    return found
out('environ', environ_of_others())
for target in ['/etc/prisn-probe', '/var/tmp/prisn-probe', os.path.join(os.getcwd(), 'x'), '/root/prisn-probe', '/dev/prisn-probe']:
    def write(t=target):
        open(t, 'w').write('x')
        return t
    attempt('write ' + target, write)
attempt('storage', lambda: open('/tmp/data/kept', 'w').write('kept'))
out('pids', sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))
ip = subprocess.run(['ip', 'link', 'add', 'prisnprobe0', 'type', 'dummy'], capture_output=True, text=True)
out('ip link add', f'{ip.returncode} {ip.stderr.strip()}')
def so_mark():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, 36, 1)
    return 'set'
attempt('so_mark', so_mark)
def syscall(nr, *args):
    r = libc.syscall(nr, *args)
    return 'ok' if r == 0 else errno.errorcode.get(ctypes.get_errno(), str(ctypes.get_errno()))
# delete_module(2) of a module that does not exist: ENOENT with the right, EPERM without.
out('delete_module', syscall(176, b'prisn_no_such_module', 0))
# mount(2) of a tmpfs on /tmp/data.
out('mount', syscall(165, b'none', b'/tmp/data', b'tmpfs', 0, None))
# ptrace(PTRACE_ATTACH) of the daemon (a host pid) and of our own child.
out('ptrace daemon', syscall(101, 16, int(os.environ['PRISN_TEST_DAEMON']), 0, 0))
child = subprocess.Popen(['sleep', '60'])
out('ptrace child', syscall(101, 16, child.pid, 0, 0))
child.kill()
out('unshare user', syscall(272, 0x10000000))
status = dict(l.split(':', 1) for l in open('/proc/self/status').read().splitlines() if ':' in l)
out('uid', os.getuid())
for key in ['CapEff', 'CapPrm', 'CapBnd', 'CapAmb', 'NoNewPrivs', 'Seccomp']:
    out(key, status[key].strip())
out('dev', sorted(os.listdir('/dev')))
print('done', flush=True)
time.sleep(600)
"#;

/// The probe's `name: outcome` lines.
fn outcome(log: &str, name: &str) -> String {
    let prefix = format!("{name}: ");
    log.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no line {name:?} in the probe's output:\n{log}"))
        .to_string()
}

#[test]
fn an_app_cannot_reach_the_daemon_other_apps_secrets_or_the_kernel() {
    let l = Local::new();
    let home = l.t.home.path().to_path_buf();
    // Another app with a secret in its environment, and registry credentials in the home.
    l.t.write("other.sh", "exec sleep 600\n");
    l.ok(&["deploy", "other.sh", "-e", "API_TOKEN=s3cret-token"]);
    std::fs::write(
        home.join("auth.json"),
        r#"{"auths":{"r":{"auth":"c2VjcmV0"}}}"#,
    )
    .unwrap();
    std::fs::set_permissions(home.join("auth.json"), PermissionsExt::from_mode(0o600)).unwrap();

    l.t.write("probe.py", PROBE);
    let env_home = format!("PRISN_TEST_HOME={}", home.display());
    let env_daemon = format!("PRISN_TEST_DAEMON={}", l.daemon_pid());
    l.ok(&[
        "deploy",
        "probe.py",
        "-e",
        &env_home,
        "-e",
        &env_daemon,
        "--storage",
        "data=/tmp/data",
    ]);
    eventually("the probe's report", 60, || {
        l.ok(&["logs", "probe"]).contains("\ndone\n")
    });
    let log = l.ok(&["logs", "probe"]);
    // Remove what an escape would have left on the host before asserting.
    let _ = std::process::Command::new("ip")
        .args(["link", "del", "prisnprobe0"])
        .output();
    for leftover in [
        "/etc/prisn-probe",
        "/var/tmp/prisn-probe",
        "/root/prisn-probe",
    ] {
        let _ = std::fs::remove_file(leftover);
    }

    // Every escape that worked is listed (so a regression shows them all at once).
    let mut escaped = Vec::new();
    let mut check = |ok: bool, what: String| {
        if !ok {
            escaped.push(what);
        }
    };
    // The daemon's socket, its home and the other app's spec are not there at all.
    for name in ["socket", "auth", "specs"] {
        let o = outcome(&log, name);
        check(
            o.starts_with("refused FileNotFoundError"),
            format!("{name}: {o}"),
        );
    }
    // Of the home, only what the run runs shows through: its code and its environment.
    let listed = outcome(&log, "home");
    check(
        listed == "ok ['code', 'store']" || listed == "ok ['store', 'code']",
        format!("home: {listed}"),
    );
    check(
        l.run(&["status", "escaped"]).status.code() != Some(0),
        "a workload deployed from inside exists".into(),
    );
    let environ = outcome(&log, "environ");
    check(environ == "[]", format!("environ: {environ}"));
    // Nothing is writable but its storage and /tmp.
    for target in [
        "/etc/prisn-probe",
        "/var/tmp/prisn-probe",
        "/root/prisn-probe",
        "/dev/prisn-probe",
    ] {
        let o = outcome(&log, &format!("write {target}"));
        check(
            o.contains("Read-only file system"),
            format!("write {target}: {o}"),
        );
    }
    let storage = outcome(&log, "storage");
    check(storage == "ok 4", format!("storage: {storage}"));
    let kept = std::fs::read_to_string(home.join("volumes/probe/data/kept"));
    check(
        kept.is_ok_and(|k| k == "kept"),
        "storage not on the host".into(),
    );
    // Its own processes only: its pid 1 and itself.
    let pids = outcome(&log, "pids");
    check(pids.starts_with("[1, 2"), format!("pids: {pids}"));
    // No capabilities, no new privileges, the seccomp filter, its own uid.
    let ip = outcome(&log, "ip link add");
    check(
        ip.starts_with("2 ") && ip.contains("Operation not permitted"),
        format!("ip link add: {ip}"),
    );
    let mark = outcome(&log, "so_mark");
    check(
        mark.contains("Operation not permitted"),
        format!("so_mark: {mark}"),
    );
    for call in ["delete_module", "mount", "ptrace child", "unshare user"] {
        let o = outcome(&log, call);
        check(o == "EPERM", format!("{call}: {o}"));
    }
    let o = outcome(&log, "ptrace daemon");
    check(o != "ok", format!("ptrace daemon: {o}"));
    for caps in ["CapEff", "CapPrm", "CapBnd", "CapAmb"] {
        let o = outcome(&log, caps);
        check(o == "0000000000000000", format!("{caps}: {o}"));
    }
    for (key, want) in [("NoNewPrivs", "1"), ("Seccomp", "2")] {
        let o = outcome(&log, key);
        check(o == want, format!("{key}: {o}"));
    }
    let uid: u32 = outcome(&log, "uid").parse().unwrap();
    check(uid >= 0x5000_0000, format!("uid {uid}"));
    let owner = std::fs::metadata(home.join("volumes/probe/data")).map(|m| m.uid());
    check(
        owner.as_ref().is_ok_and(|o| *o == uid),
        format!("storage owner {owner:?}"),
    );
    let dev = outcome(&log, "dev");
    check(
        dev == "['fd', 'full', 'null', 'random', 'shm', 'stderr', 'stdin', 'stdout', 'tty', 'urandom', 'zero']",
        format!("dev: {dev}"),
    );
    assert!(
        escaped.is_empty(),
        "escapes that worked:\n{}\n\n{log}",
        escaped.join("\n")
    );
    // status names each part.
    let text = l.ok(&["status", "probe"]);
    for part in [
        "namespaces (pid, mount): read-only /, private /tmp",
        "hidden: $PRISN_HOME",
        "without capabilities, no_new_privs",
        "seccomp filter",
        "host network",
    ] {
        assert!(text.contains(part), "{part}\n{text}");
    }
}

#[test]
fn network_none_leaves_only_loopback() {
    let l = Local::new();
    let host = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = host.local_addr().unwrap().port();
    l.t.write(
        "net.py",
        "import socket, time, sys\n\
         print('interfaces', sorted(n for _, n in socket.if_nameindex()))\n\
         try:\n    socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=2); print('host reached')\n\
         except OSError as e:\n    print('host refused', e.strerror)\n\
         s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n\
         socket.create_connection(s.getsockname(), timeout=2); print('loopback works')\n\
         print('done', flush=True)\n\
         time.sleep(600)\n",
    );
    l.ok(&[
        "deploy",
        "net.py",
        "--network",
        "none",
        "--",
        &port.to_string(),
    ]);
    eventually("the probe's report", 60, || {
        l.ok(&["logs", "net"]).contains("done")
    });
    let log = l.ok(&["logs", "net"]);
    assert!(log.contains("interfaces ['lo']\n"), "{log}");
    assert!(log.contains("host refused Connection refused\n"), "{log}");
    assert!(log.contains("loopback works\n"), "{log}");
    let text = l.ok(&["status", "net"]);
    assert!(text.contains("net (loopback only)"), "{text}");
    // It takes namespaces.
    let err = l.fails(&[
        "deploy",
        "net.py",
        "--name",
        "plain",
        "--network",
        "none",
        "--isolation",
        "none",
    ]);
    assert!(
        err.contains("--network none needs a network namespace"),
        "{err}"
    );
    drop(host);
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .mode()
        & 0o777
}

/// `cat path` as another user (nobody): its stderr, or None when it could read it.
fn read_as_nobody(path: &Path) -> Option<String> {
    let out = std::process::Command::new("setpriv")
        .args([
            "--reuid",
            "65534",
            "--regid",
            "65534",
            "--clear-groups",
            "cat",
        ])
        .arg(path)
        .output()
        .expect("setpriv runs");
    (!out.status.success()).then(|| String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn files_with_secrets_are_private_also_in_a_home_made_by_hand() {
    let l = Local::new();
    let home = l.t.home.path();
    // A home someone made with the usual umask: readable by everyone.
    std::fs::set_permissions(home, PermissionsExt::from_mode(0o755)).unwrap();
    l.t.write("app.sh", "echo the token is $API_TOKEN; exec sleep 600\n");
    l.ok(&["deploy", "app.sh", "-e", "API_TOKEN=s3cret-token"]);
    eventually("its output", 30, || {
        l.ok(&["logs", "app"]).contains("s3cret")
    });

    assert_eq!(mode(home), 0o700);
    for dir in ["logs", "run", "run/app", "code"] {
        assert_eq!(mode(&home.join(dir)), 0o700, "{dir}");
    }
    let spec = std::fs::read_dir(home.join("run/app"))
        .unwrap()
        .flatten()
        .map(|e| e.path().join("spec.json"))
        .find(|p| p.is_file())
        .expect("a run with a spec");
    assert_eq!(mode(spec.parent().unwrap()), 0o700);
    let mut files = vec![
        spec.clone(),
        home.join("logs/app.log"),
        home.join("logs/daemon.log"),
    ];
    for f in ["state.db", "state.db-wal", "state.db-shm"] {
        files.push(home.join(f));
    }
    for f in &files {
        assert_eq!(mode(f), 0o600, "{}", f.display());
    }
    // Even where a directory is opened up again, another user cannot read them.
    assert!(read_as_nobody(&spec).is_some_and(|e| e.contains("Permission denied")));
    for dir in [
        home.to_path_buf(),
        home.join("run"),
        home.join("run/app"),
        spec.parent().unwrap().to_path_buf(),
        home.join("logs"),
    ] {
        std::fs::set_permissions(&dir, PermissionsExt::from_mode(0o755)).unwrap();
    }
    for f in &files {
        let err = read_as_nobody(f);
        assert!(
            err.as_deref()
                .is_some_and(|e| e.contains("Permission denied")),
            "{}: {err:?}",
            f.display()
        );
    }
    // The next daemon tightens the home again.
    l.ok(&["daemon", "stop"]);
    l.ok(&["get"]);
    assert_eq!(mode(home), 0o700);
}

/// `prisn args…` as the user nobody, with `home` as PRISN_HOME and HOME.
fn as_nobody(bin: &Path, home: &Path, work: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new("setpriv")
        .args([
            "--reuid",
            "65534",
            "--regid",
            "65534",
            "--clear-groups",
            "env",
            "-i",
        ])
        .arg("PATH=/usr/local/bin:/usr/bin:/bin")
        .arg(format!("HOME={}", home.display()))
        .arg(format!("PRISN_HOME={}", home.display()))
        .arg(bin)
        .args(args)
        .current_dir(work)
        .output()
        .expect("setpriv runs")
}

#[test]
fn a_daemon_of_an_ordinary_user_confines_its_apps_in_a_user_namespace() {
    // Everything nobody needs, owned by nobody: the prisn binary (the build's may sit in a
    // private directory), a home, a bash app.
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), PermissionsExt::from_mode(0o755)).unwrap();
    let (home, work) = (dir.path().join("home"), dir.path().join("work"));
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&work).unwrap();
    let bin = work.join("prisn");
    std::fs::copy(env!("CARGO_BIN_EXE_prisn"), &bin).unwrap();
    std::fs::write(
        work.join("nb.sh"),
        "echo uid $(id -u); echo home $(ls -A \"$PRISN_TEST_HOME\" | tr '\\n' ' '); grep -E 'CapEff|NoNewPrivs|Seccomp:' /proc/self/status; echo done; sleep 600\n",
    )
    .unwrap();
    for p in [&home, &work, &bin, &work.join("nb.sh")] {
        std::os::unix::fs::chown(p, Some(65534), Some(65534)).unwrap();
    }
    /// Stops nobody's daemon (and with it the app) however the test ends.
    struct Stop<'a>(&'a Path, &'a Path, &'a Path);
    impl Drop for Stop<'_> {
        fn drop(&mut self) {
            as_nobody(self.0, self.1, self.2, &["daemon", "stop"]);
        }
    }
    let _stop = Stop(&bin, &home, &work);
    let env = format!("PRISN_TEST_HOME={}", home.display());
    let out = as_nobody(&bin, &home, &work, &["deploy", "nb.sh", "-e", &env]);
    assert!(
        out.status.success(),
        "deploy as nobody: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut log = String::new();
    eventually("the app's report", 30, || {
        log = String::from_utf8_lossy(&as_nobody(&bin, &home, &work, &["logs", "nb"]).stdout)
            .into_owned();
        log.contains("done")
    });
    let status = String::from_utf8_lossy(&as_nobody(&bin, &home, &work, &["status", "nb"]).stdout)
        .into_owned();
    assert!(log.contains("uid 65534\n"), "{log}");
    // Of its home, only its code and environment show.
    assert!(
        log.lines().any(|l| l.trim_end() == "home code store"),
        "{log}"
    );
    assert!(log.contains("CapEff:\t0000000000000000"), "{log}");
    assert!(
        log.contains("NoNewPrivs:\t1") && log.contains("Seccomp:\t2"),
        "{log}"
    );
    assert!(
        status.contains("namespaces (pid, mount, user)") && status.contains("seccomp filter"),
        "{status}"
    );
}
