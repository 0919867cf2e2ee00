//! Kubernetes mode end to end on a real node: real containers from prisn's images, pulled by
//! containerd from the node's registry, reconciled by the operator running as a pod.
//! Issue 12's list, in order; see node_common.rs for the shared set-up.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{PersistentVolume, Pod};
use kube::api::{DeleteParams, PostParams};
use prisn_testsupport::testbed::unique_name;

use crate::common::*;
use crate::node_common::*;

fn job_done(j: &Job) -> bool {
    j.status.as_ref().is_some_and(|s| {
        s.conditions.as_ref().is_some_and(|cs| {
            cs.iter()
                .any(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")
        })
    })
}

#[test]
fn node_operator_runs_as_a_pod_from_the_readme_install_then_prisn_operator_install_and_logs() {
    let Some(e) = NodeEnv::start() else { return };
    let pods: kube::Api<Pod> = kube::Api::namespaced(e.client.clone(), OPERATOR_NS);
    let list =
        e.rt.block_on(pods.list(
            &kube::api::ListParams::default().labels("app.kubernetes.io/name=prisn-operator"),
        ))
        .unwrap()
        .items;
    assert_eq!(list.len(), 1, "one operator pod");
    let pod = &list[0];
    assert!(pod_ready(pod), "the operator pod is Ready");
    assert_eq!(
        on_node(pod),
        Some(e.node.name.as_str()),
        "it runs on the real node"
    );
    let status = pod.status.as_ref().unwrap();
    let cs = &status.container_statuses.as_ref().unwrap()[0];
    // The README's install pulled `prisn-operator:latest` through the docker.io mirror;
    // `prisn operator install` then pinned it by digest (the same binary, so the same
    // digest as tests/run.sh's layout: the image is reproducible across PRISN_HOMEs).
    let digest = operator_layout_digest().unwrap();
    assert_eq!(
        e.shared.operator_image,
        format!("{}/prisn-operator@{digest}", e.node.registry)
    );
    assert!(
        e.shared
            .install_said
            .contains("is Ready in namespace prisn-system"),
        "{}",
        e.shared.install_said
    );
    assert!(
        cs.image.contains(&digest) || cs.image_id.contains(&digest),
        "the pod runs the pinned image: {cs:?}"
    );
    let out = e
        .node
        .kubectl()
        .args([
            "logs",
            "-n",
            OPERATOR_NS,
            &format!("deployment/{OPERATOR_DEPLOYMENT}"),
        ])
        .output()
        .unwrap();
    let logs = ok(&out);
    assert!(logs.contains("controllers started"), "{logs}");
    assert!(
        logs.contains(&e.shared.ns),
        "the pod watches the e2e namespace: {logs}"
    );
}

#[test]
fn node_image_app_answers_through_its_service_from_the_host() {
    let Some(e) = NodeEnv::start() else { return };
    e.t.example("api.py");
    let name = unique_name("api");
    let out = ok(&e.deploy_python_app("api.py", &name, &["--timeout", "180s"]));
    assert!(out.starts_with(&format!("app/{name} created")), "{out}");
    let pods = e.wait_ready_pods(&format!("prisn.io/app={name}"), 1);
    let image = pods[0].spec.as_ref().unwrap().containers[0]
        .image
        .clone()
        .unwrap();
    assert!(
        image.starts_with(&format!("{}/team/{name}@sha256:", e.node.registry)),
        "{image}"
    );
    let body = e.wait_answer(&name, "/hello/Ada", "hello, Ada");
    assert!(body.contains(r#""greeting""#), "{body}");
}

// The scripts listen on PORT with no default: `--port` promises the app gets it as PORT, in
// Kubernetes mode as in local mode, so a pod without it crashes and the test fails.
const PY_SERVER: &str = r#"import http.server, os

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"stdlib python says hi as uid {os.getuid()}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

print("serving", flush=True)
http.server.HTTPServer(("", int(os.environ["PORT"])), Handler).serve_forever()
"#;

#[test]
fn node_configmap_python_and_bash_and_an_inline_source_run() {
    let Some(e) = NodeEnv::start() else { return };
    // A stdlib Python server from a ConfigMap, in the default python base.
    let py = unique_name("cm-py");
    let path = e.script("server.py", PY_SERVER);
    let out = ok(&e.prisn(&[
        "deploy",
        &path,
        "--name",
        &py,
        "--source",
        "configmap",
        "--port",
        "8080",
        "--wait",
        "--timeout",
        "180s",
    ]));
    assert!(out.starts_with(&format!("app/{py} created")), "{out}");
    e.wait_answer(&py, "/", "stdlib python says hi as uid 65532");

    // A Bash script from a ConfigMap, run once; its output is in `prisn logs`.
    let sh = unique_name("cm-sh");
    let path = e.script("hello.sh", "echo \"bash from a configmap, args: $*\"\n");
    ok(&e.prisn(&[
        "deploy",
        &path,
        "--name",
        &sh,
        "--source",
        "configmap",
        "--once",
        "--wait",
        "--timeout",
        "180s",
        "--",
        "a",
        "b",
    ]));
    let logs = ok(&e.prisn(&["logs", &sh]));
    assert!(logs.contains("bash from a configmap, args: a b"), "{logs}");

    // An inline source, applied with kubectl as a user would.
    let inline = unique_name("inline");
    let yaml = format!(
        "apiVersion: prisn.io/v1alpha1\nkind: PrisnJob\nmetadata:\n  name: {inline}\nspec:\n  runtime: bash\n  source:\n    inline: |\n      echo \"inline says $((6 * 7))\"\n"
    );
    let file = e.script("inline.yaml", &yaml);
    ok(&e.kubectl(&["apply", "-f", &file]));
    e.eventually(&format!("job {inline} finished"), || {
        let api = e.api::<Job>();
        let inline = inline.clone();
        async move { Ok(api.get_opt(&inline).await?.filter(job_done)) }
    });
    let logs = ok(&e.prisn(&["logs", &inline]));
    assert!(logs.contains("inline says 42"), "{logs}");
}

#[test]
fn node_once_job_completes_and_its_output_is_in_prisn_logs() {
    let Some(e) = NodeEnv::start() else { return };
    let good = unique_name("once");
    let path = e.script("count.py", "for i in range(3):\n    print(f'line {i}')\n");
    let out = ok(&e.prisn(&[
        "deploy",
        &path,
        "--name",
        &good,
        "--source",
        "configmap",
        "--once",
        "--wait",
        "--timeout",
        "180s",
    ]));
    assert!(out.starts_with(&format!("job/{good} created")), "{out}");
    let logs = ok(&e.prisn(&["logs", &good]));
    assert!(logs.contains("line 0") && logs.contains("line 2"), "{logs}");

    // A failing job: one attempt (as in local mode), and `deploy --wait` fails with its output.
    let bad = unique_name("once-fails");
    let path = e.script(
        "fails.py",
        "print('about to fail: the input is missing')\nraise SystemExit(3)\n",
    );
    let err = fails(&e.prisn(&[
        "deploy",
        &path,
        "--name",
        &bad,
        "--source",
        "configmap",
        "--once",
        "--wait",
        "--timeout",
        "180s",
    ]));
    assert!(
        err.contains(&format!("PrisnJob {bad} failed"))
            && err.contains("last output:")
            && err.contains("about to fail: the input is missing"),
        "{err}"
    );
}

#[test]
fn node_schedule_makes_a_cronjob_whose_run_completes() {
    let Some(e) = NodeEnv::start() else { return };
    let name = unique_name("cron");
    let path = e.script("tick.sh", "echo \"tick from $(id -u)\"\n");
    let out = ok(&e.prisn(&[
        "deploy",
        &path,
        "--name",
        &name,
        "--source",
        "configmap",
        "--schedule",
        "0 0 1 1 *",
    ]));
    assert!(out.starts_with(&format!("cronjob/{name} created")), "{out}");
    e.eventually(&format!("CronJob {name}"), || {
        let api = e.api::<k8s_openapi::api::batch::v1::CronJob>();
        let name = name.clone();
        async move { Ok(api.get_opt(&name).await?) }
    });
    // Fire it now rather than wait for the clock.
    let run = format!("{name}-now");
    ok(&e.kubectl(&["create", "job", &format!("--from=cronjob/{name}"), &run]));
    let job = e.eventually(&format!("job {run} finished"), || {
        let api = e.api::<Job>();
        let run = run.clone();
        async move { Ok(api.get_opt(&run).await?.filter(job_done)) }
    });
    assert_eq!(job.status.unwrap().succeeded, Some(1));
    let logs = ok(&e.kubectl(&["logs", &format!("job/{run}")]));
    assert_eq!(logs.trim(), "tick from 65532");
}

const COUNTER: &str = r#"import http.server, os, sys

VERSION = "one"

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    def do_GET(self):
        body = f"version {VERSION}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass

print(f"started version {VERSION}", flush=True)
http.server.ThreadingHTTPServer(("", int(os.environ["PORT"])), Handler).serve_forever()
"#;

#[test]
fn node_a_one_line_change_rolls_out_with_no_failed_request() {
    let Some(e) = NodeEnv::start() else { return };
    let name = unique_name("roll");
    let path = e.script("roll.py", COUNTER);
    let deploy = || e.deploy_python_app(&path, &name, &["--timeout", "180s"]);
    ok(&deploy());
    e.wait_answer(&name, "/", "version one");
    let addr = e.service_addr(&name).unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let good = Arc::new(AtomicUsize::new(0));
    let seen_two = Arc::new(AtomicBool::new(false));
    let load = {
        let (stop, good, seen_two) = (stop.clone(), good.clone(), seen_two.clone());
        std::thread::spawn(move || {
            let mut errors = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                match http_get(addr, "/") {
                    Ok((200, body)) => {
                        good.fetch_add(1, Ordering::SeqCst);
                        if body.contains("version two") {
                            seen_two.store(true, Ordering::SeqCst);
                        }
                    }
                    Ok((status, body)) => {
                        errors.push(format!("HTTP {status}: {body}"));
                    }
                    Err(err) => {
                        errors.push(format!("{err:#}"));
                    }
                }
            }
            errors
        })
    };
    std::fs::write(
        &path,
        COUNTER.replace(r#"VERSION = "one""#, r#"VERSION = "two""#),
    )
    .unwrap();
    let out = ok(&deploy());
    assert!(out.starts_with(&format!("app/{name} configured")), "{out}");
    // --wait returned: the new pods are Ready; the old ones drain. Keep the load on until
    // only the new version answers.
    e.eventually("only version two answers", || {
        let seen = seen_two.load(Ordering::SeqCst);
        async move {
            Ok(match (seen, http_get(addr, "/")) {
                (true, Ok((200, b))) if b.contains("version two") => {
                    let old = (0..20)
                        .filter_map(|_| http_get(addr, "/").ok())
                        .any(|(_, b)| b.contains("version one"));
                    (!old).then_some(())
                }
                _ => None,
            })
        }
    });
    stop.store(true, Ordering::SeqCst);
    let errors = load.join().unwrap();
    let good = good.load(Ordering::SeqCst);
    assert!(good > 20, "the load loop ran ({good} requests)");
    assert!(
        errors.is_empty(),
        "{} failed requests of {}, the first: {:?}",
        errors.len(),
        good + errors.len(),
        &errors[..errors.len().min(5)]
    );
}

#[test]
fn node_scale_1_3_0_1_and_logs_follow_across_a_rollout() {
    let Some(e) = NodeEnv::start() else { return };
    let name = unique_name("scale");
    let path = e.script("scale.py", COUNTER);
    let deploy = || {
        e.prisn(&[
            "deploy",
            &path,
            "--name",
            &name,
            "--source",
            "configmap",
            "--port",
            "8080",
            "--wait",
            "--timeout",
            "180s",
        ])
    };
    ok(&deploy());
    let sel = format!("prisn.io/app={name}");
    e.wait_ready_pods(&sel, 1);
    for n in [3usize, 0, 1] {
        ok(&e.prisn(&["scale", &name, &n.to_string()]));
        e.wait_ready_pods(&sel, n);
    }
    e.wait_answer(&name, "/", "version one");

    // `prisn logs -f` follows the app; a new version's pod shows up in the same stream.
    let mut follow = e
        .cmd()
        .args(["logs", "-f", &name])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = follow.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let wait_line = |needle: &str| {
        let deadline = std::time::Instant::now() + WAIT;
        let mut seen = Vec::new();
        while std::time::Instant::now() < deadline {
            if let Ok(line) = rx.recv_timeout(std::time::Duration::from_secs(1)) {
                if line.contains(needle) {
                    return;
                }
                seen.push(line);
            }
        }
        panic!("`prisn logs -f` never printed {needle:?}; it printed {seen:?}");
    };
    wait_line("started version one");
    std::fs::write(
        &path,
        COUNTER.replace(r#"VERSION = "one""#, r#"VERSION = "two""#),
    )
    .unwrap();
    ok(&deploy());
    wait_line("started version two");
    let _ = follow.kill();
    let _ = follow.wait();
}

#[test]
fn node_storage_on_a_static_pv_survives_a_pod_restart() {
    let Some(e) = NodeEnv::start() else { return };
    let name = unique_name("store");
    // A statically provisioned volume: a directory on the node, owned by the pods' user.
    let dir = e.node.state.join("node/pv").join(&name);
    std::fs::create_dir_all(&dir).unwrap();
    std::os::unix::fs::chown(&dir, Some(65532), Some(65532)).unwrap();
    let pv: PersistentVolume = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": name},
        "spec": {
            "capacity": {"storage": "1Gi"},
            "accessModes": ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": "",
            "hostPath": {"path": dir.display().to_string(), "type": "Directory"},
        }
    }))
    .unwrap();
    let pvs: kube::Api<PersistentVolume> = kube::Api::all(e.client.clone());
    e.rt.block_on(pvs.create(&PostParams::default(), &pv))
        .unwrap();

    let script = r#"import http.server, os

with open("/data/boots", "a") as f:
    f.write(f"boot {os.getpid()}\n")

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = open("/data/boots", "rb").read()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

http.server.HTTPServer(("", int(os.environ["PORT"])), Handler).serve_forever()
"#;
    let path = e.script("store.py", script);
    ok(&e.prisn(&[
        "deploy",
        &path,
        "--name",
        &name,
        "--source",
        "configmap",
        "--port",
        "8080",
        "--storage",
        "data=/data:1Gi",
        "--wait",
        "--timeout",
        "180s",
    ]));
    let first = e.wait_answer(&name, "/", "boot ");
    assert_eq!(first.lines().count(), 1, "{first}");

    let sel = format!("prisn.io/app={name}");
    let old = e.wait_ready_pods(&sel, 1)[0].metadata.name.clone().unwrap();
    e.rt.block_on(e.api::<Pod>().delete(&old, &DeleteParams::default()))
        .unwrap();
    let addr = e.service_addr(&name).unwrap();
    let second = e.eventually("a new pod answers with two boots", || async move {
        Ok(match http_get(addr, "/") {
            Ok((200, body)) if body.lines().count() == 2 => Some(body),
            _ => None,
        })
    });
    assert!(
        second.starts_with(&first),
        "the first boot's line is kept: {second}"
    );
    assert!(
        std::fs::read_to_string(dir.join("boots"))
            .unwrap()
            .lines()
            .count()
            == 2
    );
}

#[test]
fn node_python_node_and_bash_run_as_uid_65532_on_a_read_only_root() {
    let Some(e) = NodeEnv::start() else { return };
    let scripts = [
        (
            "probe.py",
            "import os\ntry:\n    open('/probe', 'w')\n    ro = 'writable'\nexcept OSError as err:\n    ro = 'read-only' if err.errno == 30 else str(err)\nprint(f'uid={os.getuid()} root={ro}')\n",
        ),
        (
            "probe.js",
            "const fs = require('fs');\nlet ro = 'writable';\ntry { fs.writeFileSync('/probe', 'x'); } catch (err) { ro = err.code === 'EROFS' ? 'read-only' : String(err); }\nconsole.log(`uid=${process.getuid()} root=${ro}`);\n",
        ),
        (
            "probe.sh",
            "if : 2>/dev/null > /probe; then ro=writable; else ro=read-only; fi\necho \"uid=$(id -u) root=$ro\"\n",
        ),
    ];
    for (file, text) in scripts {
        let name = unique_name(&file.replace('.', "-"));
        let path = e.script(file, text);
        ok(&e.prisn(&[
            "deploy",
            &path,
            "--name",
            &name,
            "--source",
            "configmap",
            "--once",
            "--wait",
            "--timeout",
            "180s",
        ]));
        let logs = ok(&e.prisn(&["logs", &name]));
        assert!(logs.contains("uid=65532 root=read-only"), "{file}: {logs}");
    }
}

const PROBE_HOST: &str = r#"import os, socket, ssl, urllib.error, urllib.request

HOST = "10.244.0.1"  # the node: the bridge's address, the pods' gateway

def tcp(port):
    try:
        socket.create_connection((HOST, int(port)), timeout=3).close()
        return "open"
    except OSError as err:
        return type(err).__name__

def kubelet(port):
    try:
        urllib.request.urlopen(f"https://{HOST}:{port}/pods", context=ssl._create_unverified_context(), timeout=5)
        return "200"
    except urllib.error.HTTPError as err:
        return str(err.code)
    except OSError as err:
        return type(err).__name__

print(f"etcd={tcp(os.environ['ETCD'])} apiserver={tcp(os.environ['APISERVER'])} "
      f"registry={tcp(os.environ['REGISTRY'])} kubelet={kubelet(os.environ['KUBELET'])}")
"#;

#[test]
fn node_pods_reach_no_loopback_service_of_the_host_and_no_kubelet_without_a_certificate() {
    let Some(e) = NodeEnv::start() else { return };
    let name = unique_name("probe-host");
    let path = e.script("probe_host.py", PROBE_HOST);
    let port = |k: &str| format!("{}={}", &k[..k.find('_').unwrap()], e.node.ports[k]);
    let envs = [
        port("ETCD_PORT"),
        port("APISERVER_PORT"),
        port("REGISTRY_PORT"),
        port("KUBELET_PORT"),
    ];
    let mut args = vec![
        "deploy",
        &path,
        "--name",
        &name,
        "--source",
        "configmap",
        "--once",
        "--wait",
        "--timeout",
        "180s",
    ];
    for env in &envs {
        args.extend(["-e", env.as_str()]);
    }
    ok(&e.prisn(&args));
    let logs = ok(&e.prisn(&["logs", &name]));
    // The servers listen on 127.0.0.1 only; the kubelet wants a client certificate.
    assert!(
        logs.contains(
            "etcd=ConnectionRefusedError apiserver=ConnectionRefusedError registry=ConnectionRefusedError kubelet=401"
        ),
        "{logs}"
    );
}

/// The operator's Deployment says which prisn installed it (`prisn.io/version`); `prisn
/// deploy` warns when that is older than itself, and says nothing when it is not.
#[test]
fn node_deploy_warns_when_the_operator_is_older_than_this_prisn() {
    let Some(e) = NodeEnv::start() else { return };
    let annotate = |v: &str| {
        let out = e
            .node
            .kubectl()
            .args(["-n", OPERATOR_NS, "annotate", "--overwrite"])
            .arg(format!("deployment/{OPERATOR_DEPLOYMENT}"))
            .arg(format!("prisn.io/version={v}"))
            .output()
            .unwrap();
        ok(&out);
    };
    /// Puts the real version back however the test ends (only metadata: no rollout).
    struct Restore<'a>(&'a dyn Fn(&str));
    impl Drop for Restore<'_> {
        fn drop(&mut self) {
            (self.0)(env!("CARGO_PKG_VERSION"));
        }
    }
    let _restore = Restore(&annotate);
    let path = e.script("old.sh", "echo hi\n");
    let deploy = |name: &str| {
        e.prisn(&[
            "deploy",
            &path,
            "--name",
            name,
            "--source",
            "configmap",
            "--once",
            "--no-progress",
            "--no-wait",
        ])
    };
    annotate("0.0.1");
    let out = deploy(&unique_name("verwarn"));
    ok(&out);
    let said = stderr(&out);
    assert!(
        said.contains("operator in prisn-system is version 0.0.1, older than this prisn"),
        "{said}"
    );
    annotate(env!("CARGO_PKG_VERSION"));
    let out = deploy(&unique_name("vernowarn"));
    ok(&out);
    assert!(!stderr(&out).contains("older than"), "{}", stderr(&out));
}

/// Issue 15 on real pods: v1, v2, v3 each with another `six` → `rollback --to 1` serves v1's
/// code with v1's dependency through the Service; back to v3; a v4 that crashes, deployed with
/// `--rollback-on-failure`, is undone and v3 keeps answering.
#[test]
fn node_rollback_serves_the_old_release_and_a_crashing_release_is_undone() {
    let Some(e) = NodeEnv::start() else { return };
    let name = unique_name("rel");
    // The local-mode app binds 127.0.0.1; in a pod the Service reaches it on every address.
    let script =
        |version, six| crate::local_release::app(version, six).replace("\"127.0.0.1\"", "\"\"");
    let deploy = |text: String, extra: &[&str]| {
        e.deploy_python_app(&e.script("rel.py", &text), &name, extra)
    };
    for (v, six) in [(1, "1.15.0"), (2, "1.16.0"), (3, "1.17.0")] {
        ok(&deploy(script(v, six), &["--timeout", "180s"]));
        e.wait_answer(&name, "/", &format!("v{v} six {six}"));
    }

    let out = ok(&e.prisn(&["rollback", &name, "--to", "1", "--timeout", "180s"]));
    assert!(
        out.contains("rolled back to revision 1 (now revision 4)"),
        "{out}"
    );
    e.wait_answer(&name, "/", "v1 six 1.15.0");
    let out = ok(&e.prisn(&["rollback", &name, "--to", "3", "--timeout", "180s"]));
    assert!(
        out.contains("rolled back to revision 3 (now revision 5)"),
        "{out}"
    );
    e.wait_answer(&name, "/", "v3 six 1.17.0");

    let crash = "import sys\nprint('v4 cannot start', flush=True)\nsys.exit(3)\n".to_string();
    let err = fails(&deploy(
        crash,
        &["--timeout", "45s", "--rollback-on-failure"],
    ));
    assert!(err.contains("rolled back to revision 5"), "{err}");
    // Failed when its pods crash-looped (not at the timeout), saying why, with their output.
    assert!(
        err.contains("is CrashLoopBackOff")
            && err.contains("exited with code 3")
            && err.contains("v4 cannot start"),
        "{err}"
    );
    assert!(!err.contains("is not ready after"), "{err}");
    // Every pod that answers now is v3's: the crashing v4 is gone from the Service.
    e.wait_ready_pods(&format!("prisn.io/app={name}"), 1);
    let (status, body) = e.service_get(&name, "/").expect("the Service answers");
    assert_eq!((status, body.as_str()), (200, "v3 six 1.17.0"));
    ok(&e.prisn(&["delete", &name, "--yes"]));
}

/// An app whose container exits at once: `deploy --wait` says so as soon as kubelet backs
/// off (not at the timeout), with the exit code and the output; `get` and `status` call it
/// CrashLoopBackOff, as local mode does, with its restarts.
#[test]
fn node_a_crash_looping_app_fails_its_wait_and_get_and_status_say_so() {
    let Some(e) = NodeEnv::start() else { return };
    let name = unique_name("crash");
    let script = "import sys\nprint('cannot start: no config', flush=True)\nsys.exit(3)\n";
    let err =
        fails(&e.deploy_python_app(&e.script("crash.py", script), &name, &["--timeout", "300s"]));
    assert!(
        err.contains("is CrashLoopBackOff")
            && err.contains("exited with code 3")
            && err.contains("cannot start: no config"),
        "{err}"
    );
    assert!(!err.contains("is not ready after"), "{err}");
    let status = ok(&e.prisn(&["status", &name, "-o", "json"]));
    let v: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(v["phase"], "CrashLoopBackOff", "{v}");
    assert!(v["restarts"].as_u64().unwrap() >= 1, "{v}");
    assert!(
        v["instances"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["phase"] == "CrashLoopBackOff"),
        "{v}"
    );
    let table = ok(&e.prisn(&["get", "apps"]));
    assert!(
        table
            .lines()
            .any(|l| l.contains(&name) && l.contains("CrashLoopBackOff")),
        "{table}"
    );
    ok(&e.prisn(&["delete", &name, "--yes"]));
}

/// The exit code of a pod's first container, once it has ended.
fn exit_code(pod: &Pod) -> Option<i32> {
    let statuses = pod.status.as_ref()?.container_statuses.as_ref()?;
    Some(
        statuses
            .first()?
            .state
            .as_ref()?
            .terminated
            .as_ref()?
            .exit_code,
    )
}

/// A deleted pod's script ends on SIGTERM (exit 143), not on the SIGKILL at the end of the
/// grace period (137): the script is not PID 1 of its pod, where the kernel would drop a
/// SIGTERM that Python has no handler for.
#[test]
fn node_a_deleted_pod_ends_on_sigterm_not_after_the_grace_period() {
    use futures::StreamExt;
    use kube::runtime::watcher;
    let Some(e) = NodeEnv::start() else { return };
    let name = unique_name("term");
    let path = e.script("term.py", PY_SERVER);
    ok(&e.deploy_python_app(&path, &name, &["--timeout", "180s"]));
    let pod = e
        .wait_ready_pods(&format!("prisn.io/app={name}"), 1)
        .remove(0);
    let pod_name = pod.metadata.name.clone().unwrap();
    let api = e.api::<Pod>();
    let watch = async {
        let config = watcher::Config::default().fields(&format!("metadata.name={pod_name}"));
        let mut events = std::pin::pin!(watcher(api.clone(), config));
        let mut last = None;
        while let Some(event) = events.next().await {
            match event.expect("the pod watch") {
                watcher::Event::InitDone => {
                    api.delete(&pod_name, &DeleteParams::default())
                        .await
                        .unwrap();
                }
                watcher::Event::Apply(p) | watcher::Event::InitApply(p) => {
                    last = exit_code(&p).or(last);
                }
                watcher::Event::Delete(p) => return exit_code(&p).or(last),
                watcher::Event::Init => {}
            }
        }
        last
    };
    // A guard against a hung watch, far above the 30 s grace period; not a timing assertion.
    let guard = std::time::Duration::from_secs(180);
    let exit =
        e.rt.block_on(async { tokio::time::timeout(guard, watch).await })
            .expect("the pod was deleted");
    assert_eq!(
        exit,
        Some(143),
        "the script should end on SIGTERM (143), not SIGKILL (137)"
    );
    ok(&e.prisn(&["delete", &name, "--yes"]));
}
