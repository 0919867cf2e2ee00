//! Bad input for `prisn build --image` and friends: every failure names what failed and says
//! what to do.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use prisn_builder::image::layout::{self, StoredImage};
use prisn_builder::image::manifest::{
    self, Descriptor, Manifest, OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST,
};
use prisn_builder::image::{BlobStore, LayerSpec};
use prisn_testsupport::registry::Registry;

use crate::common::*;
use crate::image_common::*;

#[test]
fn unknown_host_and_refused_connection_are_explained() {
    let t = TestContext::new();
    let (_reg, base) = registry_with_base("python3");
    t.write("hello.py", "print('hi')\n");
    let err = fails(&build_image(
        &t,
        "hello.py",
        "no-such-registry.invalid:5000/x:1",
        &base,
        &[],
    ));
    assert!(
        err.contains("unknown host no-such-registry.invalid"),
        "{err}"
    );
    assert!(err.contains("hint: check the registry name"), "{err}");

    let err = fails(
        &t.prisn()
            .env("PRISN_PUSH_RETRIES", "2")
            .args([
                "build",
                "hello.py",
                "--image",
                "127.0.0.1:9/x:1",
                "--base",
                &base,
            ])
            .output()
            .unwrap(),
    );
    assert!(
        err.contains("cannot connect to http://127.0.0.1:9/v2/ (after 3 attempts)"),
        "{err}"
    );
    assert!(
        err.contains("is the registry running at 127.0.0.1:9?"),
        "{err}"
    );
}

#[test]
fn a_registry_with_auth_says_which_credentials_were_tried() {
    let t = TestContext::new();
    let reg = Registry::start_tls().unwrap();
    let plain = Registry::start().unwrap();
    let base = push_base(&plain, "python3");
    let tls = reg.tls_files().unwrap();
    let ca = tls.ca.to_str().unwrap().to_string();
    t.write("hello.py", "print('hi')\n");
    let image = format!("{}/team/hello:v1", reg.host());
    let docker = t.path("docker");
    let run = |extra: &[&str]| {
        let mut args = vec!["build", "hello.py", "--image", &image, "--base", &base];
        args.extend_from_slice(extra);
        t.prisn()
            .env("DOCKER_CONFIG", &docker)
            .args(&args)
            .output()
            .unwrap()
    };
    // Without the CA the self-made certificate does not verify.
    let err = fails(&run(&[]));
    assert!(
        err.contains("does not verify") && err.contains("--registry-ca"),
        "{err}"
    );
    // With the CA but no credentials: 401, and the message lists where we looked.
    let err = fails(&run(&["--registry-ca", &ca]));
    assert!(
        err.contains("401 Unauthorized") && err.contains("credentials tried: none"),
        "{err}"
    );
    assert!(err.contains("docker/config.json"), "{err}");
    assert!(
        err.contains(&format!("prisn login {}", reg.host())),
        "{err}"
    );
    // A wrong password is refused by prisn login and not stored.
    let mut login = t.prisn();
    login.args([
        "login",
        &reg.host(),
        "-u",
        "testuser",
        "--password-stdin",
        "--registry-ca",
        &ca,
    ]);
    let err = fails(&with_stdin(login, "wrong\n"));
    assert!(
        err.contains("refused the password of user \"testuser\""),
        "{err}"
    );
    // Docker's config.json (base64 auth) works…
    reg.write_docker_config(&docker).unwrap();
    let reference = image_line(&run(&["--registry-ca", &ca]), &reg.host());
    let (_, digest) = raw_manifest(&reg, &reference);
    assert_eq!(digest, digest_of(&reference));
    // …and so does prisn login.
    std::fs::remove_dir_all(&docker).unwrap();
    let mut login = t.prisn();
    login.args([
        "login",
        &reg.host(),
        "-u",
        "testuser",
        "--password-stdin",
        "--registry-ca",
        &ca,
    ]);
    ok(&with_stdin(login, "testpass\n"));
    let again = image_line(&run(&["--registry-ca", &ca]), &reg.host());
    assert_eq!(again, reference);
}

fn with_stdin(mut cmd: Command, input: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn a_base_without_python_is_refused() {
    let t = TestContext::new();
    let (reg, base) = registry_with_base("bash");
    t.write("hello.py", "print('hi')\n");
    let err = fails(&build_image(
        &t,
        "hello.py",
        &format!("{}/x:1", reg.host()),
        &base,
        &[],
    ));
    assert!(
        err.contains(&format!("base image {base}: has no Python 3")),
        "{err}"
    );
    assert!(
        err.contains("hint: a Python script needs a base with python3"),
        "{err}"
    );
}

/// A one-layer base whose python3 is 3.`minor`, with glibc 2.36.
fn synthetic_python_base(dir: &Path, minor: u32) -> PathBuf {
    let cache = BlobStore::new(dir.join("cache"));
    let mut spec = LayerSpec::new();
    spec.add_symlink("usr/bin/python3", Path::new(&format!("python3.{minor}")))
        .unwrap();
    spec.add_bytes(
        &format!("usr/lib/python3.{minor}/os.py"),
        b"#\n".to_vec(),
        false,
    )
    .unwrap();
    spec.add_bytes(
        "lib/x86_64-linux-gnu/libc.so.6",
        b"\0GNU C Library (Debian GLIBC 2.36-9) stable release version 2.36.\n".to_vec(),
        true,
    )
    .unwrap();
    let layer = spec.pack(&cache, 0, 1).unwrap();
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","config":{{}},"rootfs":{{"type":"layers","diff_ids":["{}"]}}}}"#,
        layer.diff_id
    );
    let config_digest = cache.put(config.as_bytes()).unwrap();
    let m = Manifest {
        schema_version: 2,
        media_type: Some(OCI_MANIFEST.into()),
        config: Descriptor::new(OCI_CONFIG, &config_digest, config.len() as u64),
        layers: vec![Descriptor::new(OCI_LAYER_GZIP, &layer.digest, layer.size)],
        annotations: None,
    };
    let bytes = manifest::canonical(&m);
    let digest = cache.put(&bytes).unwrap();
    let img = StoredImage::load(
        &cache,
        &layout::named(OCI_MANIFEST, &digest, bytes.len() as u64, "py"),
    )
    .unwrap();
    let out = dir.join("layout");
    layout::write(&out, &cache, &[img]).unwrap();
    out
}

#[test]
fn a_base_with_another_python_minor_than_the_lock_is_refused() {
    let t = TestContext::new();
    let reg = Registry::start().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    // A minor the real base does not have.
    let facts = python_base_facts();
    let other = facts.python.minor + 1;
    let layout = synthetic_python_base(scratch.path(), other);
    let base = reg
        .push_layout(&layout, "py", "base/python312:test")
        .unwrap();
    t.example("api.py");
    let err = fails(&build_image(
        &t,
        "api.py",
        &format!("{}/x:1", reg.host()),
        &base,
        &[],
    ));
    let (major, locked) = (facts.python.major, facts.python.minor_version());
    assert!(
        err.contains(&format!(
            "has Python {major}.{other}, but prisn.lock resolved api.py for Python {locked}"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("--base python:{locked}-slim")),
        "{err}"
    );
}

#[test]
fn a_package_without_a_wheel_for_the_base_platform_is_named() {
    let t = TestContext::new();
    let (reg, base) = registry_with_base("python3");
    // docopt 0.6.2 exists only as an sdist.
    t.write(
        "cli.py",
        "# /// script\n# dependencies = [\"docopt==0.6.2\"]\n# ///\nimport docopt\nprint(docopt.__version__)\n",
    );
    let err = fails(&build_image(
        &t,
        "cli.py",
        &format!("{}/cli:1", reg.host()),
        &base,
        &[],
    ));
    let facts = python_base_facts();
    assert!(
        err.contains(&format!(
            "docopt==0.6.2 has no wheel for {} (Python {})",
            facts.manylinux(),
            facts.python.minor_version()
        )),
        "{err}"
    );
    assert!(err.contains("--allow-sdist"), "{err}");
    // The suggested fix works for this pure-Python package, and the image runs it.
    let reference = image_line(
        &build_image(
            &t,
            "cli.py",
            &format!("{}/cli:1", reg.host()),
            &base,
            &["--allow-sdist"],
        ),
        &reg.host(),
    );
    let (code, out, err) = run_image(&reg, &reference, None);
    assert_eq!((code, out.as_str()), (0, "0.6.2\n"), "{err}");
}

#[test]
fn a_registry_dying_mid_push_fails_clearly_and_a_rerun_resumes_to_the_same_digest() {
    let t = TestContext::new();
    let mut reg = Registry::start().unwrap();
    let base = push_base(&reg, "python3");
    // 24 MiB of incompressible data makes the code layer upload take a while.
    t.write(
        "big/main.py",
        "print(len(open('/app/blob.bin','rb').read()))\n",
    );
    let mut data = vec![0u8; 24 << 20];
    let mut x: u64 = 0x9e3779b97f4a7c15;
    for b in data.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    std::fs::write(t.path("big/blob.bin"), &data).unwrap();
    // The digest the image must end up with, computed without any registry push.
    let expected = ok(&t.run(&["build", "big", "--output", "layout", "--base", &base]))
        .trim()
        .to_string();

    let image = format!("{}/team/big:v1", reg.host());
    let child = t
        .prisn()
        .env("PRISN_PUSH_RETRIES", "2")
        .args(["build", "big", "--image", &image, "--base", &base])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Kill the registry as soon as an upload of ours is in progress.
    let uploads = reg
        .storage()
        .join("docker/registry/v2/repositories/team/big/_uploads");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !uploads.is_dir() || std::fs::read_dir(&uploads).map(|d| d.count()).unwrap_or(0) == 0 {
        assert!(Instant::now() < deadline, "the push never started");
        std::thread::sleep(Duration::from_millis(2));
    }
    reg.stop();
    let out = child.wait_with_output().unwrap();
    let err = fails(&out);
    assert!(err.contains(&format!("registry {}", reg.host())), "{err}");
    assert!(err.contains("attempts") && err.contains("hint:"), "{err}");

    reg.restart().unwrap();
    let reference = image_line(&build_image(&t, "big", &image, &base, &[]), &reg.host());
    assert_eq!(digest_of(&reference), expected);
    let (code, out, stderr) = run_image(&reg, &reference, None);
    assert_eq!((code, out.as_str()), (0, "25165824\n"), "{stderr}");
}
