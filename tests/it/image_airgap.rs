//! Air-gap paths: --output layouts, --offline, export → import into a second registry,
//! push from a layout or bundle, tampered bundles, and reproducibility checks.

use std::process::Command;

use prisn_testsupport::registry::Registry;

use crate::common::*;
use crate::image_common::*;

#[test]
fn output_layout_and_offline_rebuild_match_the_pushed_digest() {
    let t = TestContext::new();
    let (reg, base) = registry_with_base("python3");
    t.example("api.py");
    let pushed = image_line(
        &build_image(
            &t,
            "api.py",
            &format!("{}/team/api:v1", reg.host()),
            &base,
            &[],
        ),
        &reg.host(),
    );
    // Registry gone: the lock, the store and the caches are enough.
    drop(reg);
    let out = ok(&t.run(&[
        "build",
        "api.py",
        "--output",
        "layout",
        "--offline",
        "--base",
        &base,
    ]));
    assert_eq!(out.trim(), digest_of(&pushed), "stdout is the digest");
    // skopeo and runc read the layout.
    let inspect = Command::new("skopeo")
        .arg("inspect")
        .arg(format!("oci:{}:latest", t.path("layout").display()))
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
    assert_eq!(v["Digest"].as_str(), Some(digest_of(&pushed).as_str()));
    let (code, out, err) = run_layout(
        &t.path("layout"),
        "latest",
        Some(&["python3", "-c", "import flask; print(flask.__name__)"]),
    );
    assert_eq!((code, out.as_str()), (0, "flask\n"), "{err}");
}

#[test]
fn offline_without_caches_fails_and_says_what_is_missing() {
    let t = TestContext::new();
    t.write("hello.py", "print('hi')\n");
    let err = fails(&t.run(&[
        "build",
        "hello.py",
        "--output",
        "out",
        "--offline",
        "--base",
        "127.0.0.1:9/base/python3:test",
    ]));
    assert!(
        err.contains("offline build") && err.contains("not pinned in prisn.lock"),
        "{err}"
    );
    assert!(err.contains("hint:"), "{err}");
    assert!(!t.path("out").exists(), "nothing half-written");
}

#[test]
fn export_then_import_into_a_second_registry_keeps_every_digest() {
    let t = TestContext::new();
    let (reg, base) = registry_with_base("python3");
    t.example("api.py");
    let app = format!("{}/team/api:v1", reg.host());
    let pushed = image_line(&build_image(&t, "api.py", &app, &base, &[]), &reg.host());
    let out = ok(&t.run(&["export", &app, &base, "-o", "bundle.tar"]));
    assert_eq!(out.lines().count(), 2, "{out}");

    // skopeo reads the bundle as an OCI archive.
    let inspect = Command::new("skopeo")
        .arg("inspect")
        .arg(format!(
            "oci-archive:{}:{app}",
            t.path("bundle.tar").display()
        ))
        .output()
        .unwrap();
    assert!(inspect.status.success(), "{}", stderr(&inspect));

    let second = Registry::start().unwrap();
    let out = ok(&t.run(&[
        "import",
        "bundle.tar",
        "--registry",
        &format!("{}/mirror", second.host()),
    ]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert_eq!(
        lines[0],
        format!("{}/mirror/team/api@{}", second.host(), digest_of(&pushed))
    );
    // Every digest is the same in the second registry: manifest, config, layers.
    let (m1, d1) = raw_manifest(&reg, &app);
    let (m2, d2) = raw_manifest(&second, &format!("{}/mirror/team/api:v1", second.host()));
    assert_eq!((m1, d1), (m2, d2));
    let (_, b1) = raw_manifest(&reg, &base);
    let (_, b2) = raw_manifest(
        &second,
        &format!("{}/mirror/base/python3:test", second.host()),
    );
    assert_eq!(b1, b2);
    // And it runs from there.
    let (code, out, err) = run_image(
        &second,
        &format!("{}/mirror/team/api:v1", second.host()),
        Some(&["python3", "-c", "import flask; print('ok')"]),
    );
    assert_eq!((code, out.as_str()), (0, "ok\n"), "{err}");
}

#[test]
fn a_tampered_bundle_is_refused_and_nothing_is_tagged() {
    let t = TestContext::new();
    let (reg, base) = registry_with_base("bash");
    t.example("job.sh");
    let app = format!("{}/team/job:v1", reg.host());
    image_line(&build_image(&t, "job.sh", &app, &base, &[]), &reg.host());
    ok(&t.run(&["export", &app, "-o", "bundle.tar"]));
    // Flip one byte inside the first blob's data (the tar is deterministic: blobs/ first).
    let path = t.path("bundle.tar");
    let mut bytes = std::fs::read(&path).unwrap();
    let name = b"blobs/sha256/";
    let header = bytes
        .windows(name.len())
        .enumerate()
        .filter(|(_, w)| *w == name)
        .map(|(i, _)| i)
        .find(|&i| bytes[i + name.len()] != 0)
        .expect("a blob entry");
    let data = header + 512 + 20;
    bytes[data] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();

    let second = Registry::start().unwrap();
    let err = fails(&t.run(&["import", "bundle.tar", "--registry", &second.host()]));
    assert!(
        err.contains("digest mismatch") && err.contains("bundle.tar"),
        "{err}"
    );
    let catalog = prisn_testsupport::registry::http_status(
        second.host().parse().unwrap(),
        "/v2/team/job/manifests/v1",
    )
    .unwrap();
    assert_eq!(catalog, 404, "nothing may be tagged after a refused import");
}

#[test]
fn push_from_a_layout_or_a_bundle_and_verify() {
    let t = TestContext::new();
    let (reg, base) = registry_with_base("python3");
    t.example("hello.py");
    let out = ok(&t.run(&["build", "hello.py", "--output", "layout", "--base", &base]));
    let digest = out.trim().to_string();
    let dest = format!("{}/pushed/hello:v1", reg.host());
    let line = image_line(&t.run(&["push", "layout", &dest]), &reg.host());
    assert_eq!(digest_of(&line), digest);
    // From a bundle of that image to another repository.
    ok(&t.run(&["export", &dest, "-o", "b.tar"]));
    let line = image_line(
        &t.run(&["push", "b.tar", &format!("{}/again/hello:v2", reg.host())]),
        &reg.host(),
    );
    assert_eq!(digest_of(&line), digest);
}

#[test]
fn build_verify_and_verify_command_rebuild_to_the_same_digest() {
    let t = TestContext::new();
    let (reg, base) = registry_with_base("python3");
    t.example("project");
    let image = format!("{}/team/project:v1", reg.host());
    let out = build_image(&t, "project", &image, &base, &["--verify"]);
    let reference = image_line(&out, &reg.host());
    assert!(stderr(&out).contains("verified"), "{}", stderr(&out));
    let line = ok(&t.run(&["verify", &image, "project"]));
    assert_eq!(line.trim(), reference);
    // A changed source no longer matches.
    t.write(
        "project/greeting.py",
        "def greet(name):\n    return f'hi, {name}'\n",
    );
    let err = fails(&t.run(&["verify", &image, "project"]));
    assert!(err.contains("not reproducible"), "{err}");
}

/// Without `--base`, `--output` builds on the base prisn.lock pins (not the runtime's default
/// on docker.io, which this machine cannot reach), and `--offline` still pushes to the
/// registry it was told to push to.
#[test]
fn output_and_offline_push_use_the_pinned_base_and_the_target_registry() {
    let t = TestContext::new();
    let (reg, base) = registry_with_base("python3");
    t.example("hello.py");
    let pushed = image_line(
        &build_image(
            &t,
            "hello.py",
            &format!("{}/team/hello:v1", reg.host()),
            &base,
            &[],
        ),
        &reg.host(),
    );
    let out = ok(&t.run(&["build", "hello.py", "--output", "layout"]));
    assert_eq!(out.trim(), digest_of(&pushed), "same base, same image");

    let again = image_line(
        &t.run(&[
            "build",
            "hello.py",
            "--offline",
            "--image",
            &format!("{}/team/hello:v2", reg.host()),
        ]),
        &reg.host(),
    );
    assert_eq!(digest_of(&again), digest_of(&pushed));
    let (_, tagged) = raw_manifest(&reg, &format!("{}/team/hello:v2", reg.host()));
    assert_eq!(tagged, digest_of(&pushed));
    // Any other registry stays out of reach.
    let err = fails(&t.run(&[
        "build",
        "hello.py",
        "--offline",
        "--base",
        "127.0.0.1:9/other/python3:1",
        "--output",
        "x",
    ]));
    assert!(err.contains("offline build"), "{err}");
}

/// `export` prints each image's reference with its digest once, also when given pinned.
#[test]
fn export_prints_each_reference_once() {
    let t = TestContext::new();
    let (reg, base) = registry_with_base("bash");
    t.example("job.sh");
    let app = format!("{}/team/job:v1", reg.host());
    let pinned = image_line(&build_image(&t, "job.sh", &app, &base, &[]), &reg.host());
    let out = ok(&t.run(&["export", &pinned, &app, "-o", "bundle.tar"]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [pinned.clone(), format!("{app}@{}", digest_of(&pinned))],
        "{out}"
    );
}
