//! Reaching a registry: `prisn login --logout` and `build --insecure-registry`, against the
//! real TLS registry (self-signed certificate, htpasswd) from tests/support.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use assert_cmd::Command;
use predicates::prelude::*;
use prisn_testsupport::registry::{PASSWORD, Registry, USER};

use crate::common::*;
use crate::image_common::*;

/// A work dir with hello.py, a TLS registry to push to and a plain one holding the base.
struct Setup {
    t: TestContext,
    reg: Registry,
    _plain: Registry,
    base: String,
    image: String,
    ca: String,
}

impl Setup {
    fn new() -> Setup {
        let t = TestContext::new();
        let reg = Registry::start_tls().unwrap();
        let plain = Registry::start().unwrap();
        let base = push_base(&plain, "python3");
        let ca = reg.tls_files().unwrap().ca.to_str().unwrap().to_string();
        t.write("hello.py", "print('hi')\n");
        let image = format!("{}/team/hello:v1", reg.host());
        Setup {
            t,
            reg,
            _plain: plain,
            base,
            image,
            ca,
        }
    }

    /// `prisn build hello.py --image … --base … EXTRA`, with Docker credentials from
    /// `docker` (a directory; empty means none).
    fn build(&self, docker: &Path, extra: &[&str]) -> assert_cmd::assert::Assert {
        Command::from_std(self.t.prisn())
            .env("DOCKER_CONFIG", docker)
            .args([
                "build",
                "hello.py",
                "--image",
                &self.image,
                "--base",
                &self.base,
            ])
            .args(extra)
            .assert()
    }
}

fn stdout_of(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stdout).into_owned()
}

#[test]
fn login_logout_forgets_the_credentials() {
    let s = Setup::new();
    let host = s.reg.host();
    let no_docker = s.t.path("no-docker");
    let auth = s.t.home.path().join("auth.json");
    Command::from_std(s.t.prisn())
        .args([
            "login",
            &host,
            "-u",
            USER,
            "--password-stdin",
            "--registry-ca",
            &s.ca,
        ])
        .write_stdin(format!("{PASSWORD}\n"))
        .assert()
        .success()
        .stderr(predicate::str::contains(format!("logged in to {host}")));
    let mode = std::fs::metadata(&auth).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "auth.json must be private");
    assert!(std::fs::read_to_string(&auth).unwrap().contains(&host));
    s.build(&no_docker, &["--registry-ca", &s.ca]).success();

    Command::from_std(s.t.prisn())
        .args(["login", &host, "--logout"])
        .assert()
        .success()
        .stderr(predicate::str::contains(format!(
            "removed the credentials for {host}"
        )));
    let left = std::fs::read_to_string(&auth).unwrap_or_default();
    assert!(!left.contains(&host), "still there after logout: {left}");
    assert!(!left.contains(PASSWORD), "{left}");
    // Without them the registry refuses the push, and prisn says no credentials were tried.
    s.build(&no_docker, &["--registry-ca", &s.ca])
        .failure()
        .stderr(
            predicate::str::contains("401 Unauthorized")
                .and(predicate::str::contains("credentials tried: none")),
        );
    // A second logout has nothing to remove, and says so.
    Command::from_std(s.t.prisn())
        .args(["login", &host, "--logout"])
        .assert()
        .success()
        .stderr(predicate::str::contains(format!(
            "held no credentials for {host}"
        )));
}

#[test]
fn insecure_registry_skips_certificate_checks_for_that_registry_only() {
    let s = Setup::new();
    let host = s.reg.host();
    let docker = s.t.path("docker");
    s.reg.write_docker_config(&docker).unwrap();
    // The self-signed certificate does not verify, and the error names the way out.
    s.build(&docker, &[])
        .failure()
        .stderr(
            predicate::str::contains("does not verify").and(predicate::str::contains(format!(
                "--insecure-registry {host}"
            ))),
        );
    // Allowing another registry changes nothing for this one.
    s.build(&docker, &["--insecure-registry", "127.0.0.1:1"])
        .failure()
        .stderr(predicate::str::contains("does not verify"));
    let pushed = s.build(&docker, &["--insecure-registry", &host]).success();
    let reference = stdout_of(&pushed).trim().to_string();
    assert!(
        reference.starts_with(&format!("{host}/team/hello@sha256:")),
        "{reference}"
    );
    // An independent client that checks the certificate (skopeo with the CA) finds it.
    let (_, digest) = raw_manifest(&s.reg, &reference);
    assert_eq!(digest, digest_of(&reference));
    // The same image as through a verified connection: the flag changes only the transport.
    let verified = s.build(&docker, &["--registry-ca", &s.ca]).success();
    assert_eq!(stdout_of(&verified).trim(), reference);
}

/// `--image REPO` without a tag is pushed as `REPO:latest` too, so tag lists show it.
#[test]
fn an_image_name_without_a_tag_is_also_tagged_latest() {
    let t = TestContext::new();
    let (reg, base) = registry_with_base("bash");
    t.example("job.sh");
    let repo = format!("{}/team/untagged", reg.host());
    let pushed = image_line(&build_image(&t, "job.sh", &repo, &base, &[]), &reg.host());
    let (_, latest) = raw_manifest(&reg, &format!("{repo}:latest"));
    assert_eq!(latest, digest_of(&pushed));
}

/// A context can name the base per runtime: builds in it need no `--base`.
#[test]
fn a_context_names_the_default_base() {
    let t = TestContext::new();
    let (reg, base) = registry_with_base("bash");
    t.example("job.sh");
    let err = fails(&t.run(&[
        "context",
        "add",
        "airgap",
        "--mode",
        "local",
        "--base",
        "perl=x/y:1",
    ]));
    assert!(err.contains("--base") && err.contains("perl"), "{err}");
    ok(&t.run(&[
        "context",
        "add",
        "airgap",
        "--mode",
        "local",
        "--base",
        &format!("bash={base}"),
        "--use",
    ]));
    let pushed = image_line(
        &t.run(&[
            "build",
            "job.sh",
            "--image",
            &format!("{}/team/job:v1", reg.host()),
        ]),
        &reg.host(),
    );
    let info = reg.skopeo_inspect(&pushed, false).unwrap();
    assert_eq!(
        info["Labels"]["org.opencontainers.image.base.name"],
        base.as_str(),
        "{info}"
    );
}
