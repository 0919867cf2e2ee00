//! `prisn build --image`: each example becomes an image in a real registry, skopeo reads it
//! back, runc runs it, and a rebuild elsewhere gives the same digest.

use std::process::Command;

use crate::common::*;
use crate::image_common::*;

/// Build `example` (runtime `runtime`), push, inspect with skopeo, return (registry, ref).
fn build_example(
    t: &TestContext,
    example: &str,
    runtime: &str,
) -> (prisn_testsupport::registry::Registry, String) {
    let (reg, base) = registry_with_base(runtime);
    t.example(example);
    let repo = format!(
        "{}/examples/{}:v1",
        reg.host(),
        example.replace(['.', '_'], "-")
    );
    let out = build_image(t, example, &repo, &base, &[]);
    let reference = image_line(&out, &reg.host());
    // An independent client sees exactly that manifest.
    let (manifest, digest) = raw_manifest(&reg, &reference);
    assert_eq!(digest, digest_of(&reference));
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    // The tag points at it too.
    let (_, tagged) = raw_manifest(&reg, &repo);
    assert_eq!(tagged, digest);
    (reg, reference)
}

#[test]
fn hello_image_runs_its_script_with_the_base_python() {
    let t = TestContext::new();
    let (reg, reference) = build_example(&t, "hello.py", "python3");
    let (code, out, err) = run_image(&reg, &reference, None);
    assert_eq!(code, 0, "{err}");
    let python = python_base_facts().python.minor_version();
    assert!(
        out.starts_with(&format!("hello, world, from Python {python}.")),
        "{out}"
    );
    let info = reg.skopeo_inspect(&reference, false).unwrap();
    assert_eq!(info["Created"], "1970-01-01T00:00:00Z");
    assert!(
        info["Labels"]["io.prisn.base-digest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
}

#[test]
fn flask_api_image_has_its_dependencies_for_the_base_python() {
    let t = TestContext::new();
    let (reg, reference) = build_example(&t, "api.py", "python3");
    // The entrypoint would serve forever; import the app and call it through Flask's client.
    let probe = "import runpy; m = runpy.run_path('/app/api.py', run_name='probe'); \
                 c = m['app'].test_client(); print(c.get('/healthz').data.decode().strip(), \
                 c.get('/').json['flask']); import flask, sys; print(flask.__file__)";
    let (code, out, err) = run_image(&reg, &reference, Some(&["python3", "-B", "-c", probe]));
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("ok 3."), "{out}");
    assert_eq!(lines[1], "/opt/prisn/site-packages/flask/__init__.py");
    // The image's own entrypoint is python3 -u -B /app/api.py.
    let info = reg.skopeo_inspect(&reference, false).unwrap();
    let env: Vec<String> = serde_json::from_value(info["Env"].clone()).unwrap();
    assert!(
        env.contains(&"PYTHONPATH=/opt/prisn/site-packages".to_string()),
        "{env:?}"
    );
    // Nothing of the build machine leaked into console scripts; bytecode (the default) is in
    // the dependency layer only.
    let check = "import pathlib; print(open('/opt/prisn/site-packages/bin/flask').readline().strip()); \
                 print(*(sum(1 for _ in pathlib.Path(d).rglob('*.pyc')) > 0 for d in ('/opt', '/app')))";
    let (code, out, err) = run_image(&reg, &reference, Some(&["python3", "-B", "-c", check]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out, "#!/usr/bin/python3\nTrue False\n",
        "the base's own python3"
    );
    // Console scripts start, by name, through the image's PATH.
    let (code, out, err) = run_image(&reg, &reference, Some(&["flask", "--version"]));
    assert_eq!(code, 0, "flask --version in the image: {out}{err}");
    assert!(out.contains("Flask 3."), "{out}");
    // No stray files: uv's 0-byte lock file of --target stays out of the layer.
    let check = "import os; print(sorted(f for f in os.listdir('/opt/prisn/site-packages') if f.startswith('.')))";
    let (code, out, err) = run_image(&reg, &reference, Some(&["python3", "-B", "-c", check]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "[]\n");
}

#[test]
fn project_directory_image_ships_all_its_files() {
    let t = TestContext::new();
    let (reg, reference) = build_example(&t, "project", "python3");
    let (code, out, err) = run_image(&reg, &reference, None);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("hello, Ada\n") && out.contains("total size of names: 8.2 kB"),
        "{out}"
    );
}

#[test]
fn bash_job_image_runs_with_bash() {
    let t = TestContext::new();
    let (reg, reference) = build_example(&t, "job.sh", "bash");
    let (code, out, err) = run_image(&reg, &reference, None);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("job ran at ") && out.ends_with("with 0 args: none\n"),
        "{out}"
    );
}

#[test]
fn node_app_image_has_node_modules_from_npm_ci() {
    let t = TestContext::new();
    let (reg, reference) = build_example(&t, "node-app", "node");
    let (code, out, err) = run_image(&reg, &reference, None);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "        42 is a number: true\n forty-two is a number: false\n"
    );
}

/// The same example checked out twice, built by different homes, at different times, with
/// another umask, TZ and file mtimes: the same digest, byte for byte.
#[test]
fn two_checkouts_give_the_same_digest() {
    let (reg, base) = registry_with_base("python3");
    let a = TestContext::new();
    let b = TestContext::new();
    a.example("project");
    b.example("project");
    // Different mtimes and modes in the second checkout.
    for f in ["main.py", "greeting.py", "requirements.txt"] {
        let p = b.path(&format!("project/{f}"));
        Command::new("touch")
            .args(["-d", "2001-02-03 04:05:06"])
            .arg(&p)
            .status()
            .unwrap();
        Command::new("chmod").arg("600").arg(&p).status().unwrap();
    }
    let repo = format!("{}/repro/project", reg.host());
    let first = image_line(
        &build_image(&a, "project", &format!("{repo}:a"), &base, &[]),
        &reg.host(),
    );
    // A real second checkout has the committed prisn.lock (pins, resolution date, base pin).
    std::fs::copy(a.path("project/prisn.lock"), b.path("project/prisn.lock")).unwrap();
    // The second build runs in a later second than the first (a clock that leaked into
    // the image would change its digest): wait for the clock to tick over, not a fixed time.
    let second_of = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    };
    let built_at = second_of();
    while second_of() == built_at {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let mut cmd = b.prisn();
    cmd.env("TZ", "Pacific/Kiritimati").env("LC_ALL", "C");
    let prisn = cmd.get_program().to_owned();
    let out = Command::new("sh")
        .arg("-c")
        .arg("umask 077; exec \"$@\"")
        .arg("sh")
        .arg(prisn)
        .args([
            "build",
            "project",
            "--image",
            &format!("{repo}:b"),
            "--base",
            &base,
        ])
        .envs(
            cmd.get_envs()
                .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))),
        )
        .current_dir(b.work.path())
        .output()
        .unwrap();
    let second = image_line(&out, &reg.host());
    assert_eq!(digest_of(&first), digest_of(&second));
}

#[test]
fn no_op_rebuild_uploads_nothing_and_a_code_change_only_code_and_config() {
    let t = TestContext::new();
    let (reg, base) = registry_with_base("python3");
    t.example("api.py");
    let image = format!("{}/team/api:v1", reg.host());
    let first = push_record(&build_image(&t, "api.py", &image, &base, &["-o", "json"]));
    // First push: the base layer is mounted from base/python3, the rest uploaded.
    assert_eq!(first["mounted"].as_array().unwrap().len(), 1, "{first}");
    assert_eq!(first["uploaded"].as_array().unwrap().len(), 3, "{first}");

    let again = push_record(&build_image(&t, "api.py", &image, &base, &["-o", "json"]));
    assert_eq!(again["digest"], first["digest"]);
    assert_eq!(again["uploaded"].as_array().unwrap().len(), 0, "{again}");
    assert_eq!(again["bytes_uploaded"], 0);

    let path = t.path("api.py");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("return \"ok\\n\"", "return \"ok!\\n\"")).unwrap();
    let changed = push_record(&build_image(&t, "api.py", &image, &base, &["-o", "json"]));
    assert_ne!(changed["digest"], first["digest"]);
    let uploaded = changed["uploaded"].as_array().unwrap();
    assert_eq!(uploaded.len(), 2, "code layer + config only: {changed}");
    let v: serde_json::Value = serde_json::from_str(&ok(&build_image(
        &t,
        "api.py",
        &image,
        &base,
        &["-o", "json"],
    )))
    .unwrap();
    let code_layer = v["layers"].as_array().unwrap().last().unwrap()["digest"].clone();
    assert!(uploaded.contains(&code_layer), "{changed}");
}

#[test]
fn the_base_digest_is_pinned_in_the_lock_and_reused() {
    let t = TestContext::new();
    let (reg, base) = registry_with_base("python3");
    t.example("api.py");
    let image = format!("{}/team/api:v1", reg.host());
    let first = image_line(&build_image(&t, "api.py", &image, &base, &[]), &reg.host());
    let lock = std::fs::read_to_string(t.path("prisn.lock")).unwrap();
    assert!(lock.contains(&format!("image = \"{base}\"")), "{lock}");
    // Move the tag to another image: the pinned digest keeps the build where it was…
    push_base_as(&reg, "bash", &base);
    let second = image_line(&build_image(&t, "api.py", &image, &base, &[]), &reg.host());
    assert_eq!(digest_of(&first), digest_of(&second));
    // …until --refresh-base (and a bash base has no Python for this script).
    let err = fails(&build_image(
        &t,
        "api.py",
        &image,
        &base,
        &["--refresh-base"],
    ));
    assert!(err.contains("has no Python 3"), "{err}");
}

fn push_base_as(reg: &prisn_testsupport::registry::Registry, runtime: &str, reference: &str) {
    let name = base_name(runtime);
    let layout = prisn_testsupport::registry::base_layout(name).unwrap();
    let repo_tag = reference.strip_prefix(&format!("{}/", reg.host())).unwrap();
    reg.push_layout(&layout, name, repo_tag).unwrap();
}

#[test]
fn a_base_on_another_registry_has_its_layers_copied() {
    let t = TestContext::new();
    let (base_reg, base) = registry_with_base("bash");
    let target = prisn_testsupport::registry::Registry::start().unwrap();
    t.example("job.sh");
    let out = build_image(
        &t,
        "job.sh",
        &format!("{}/team/job:v1", target.host()),
        &base,
        &["-o", "json"],
    );
    let push = push_record(&out);
    // Base layer + code layer + config went up; nothing could be mounted across registries.
    assert_eq!(push["uploaded"].as_array().unwrap().len(), 3, "{push}");
    assert!(push["mounted"].as_array().unwrap().is_empty(), "{push}");
    drop(base_reg);
    let reference = push["reference"].as_str().unwrap().to_string();
    let (code, out, err) = run_image(&target, &reference, None);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("job ran at "), "{out}");
}

/// Images run as the `nonroot` user 65532 of `prisn base` bases unless `--user` says
/// otherwise, and what an app writes to (its HOME, /tmp) is writable for that user.
#[test]
fn images_run_as_nonroot_65532_with_a_writable_home_and_tmp() {
    let t = TestContext::new();
    let (reg, base) = registry_with_base("python3");
    t.example("hello.py");
    let probe = "import os; h = os.environ['HOME']; \
        open(os.path.join(h, 'x'), 'w').write('1'); open('/tmp/y', 'w').write('1'); \
        print(os.getuid(), os.getgid(), h)";
    let nonroot = image_line(
        &build_image(
            &t,
            "hello.py",
            &format!("{}/u/default", reg.host()),
            &base,
            &[],
        ),
        &reg.host(),
    );
    let (code, out, err) = run_image(&reg, &nonroot, Some(&["python3", "-c", probe]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "65532 65532 /home/nonroot\n");

    let root = image_line(
        &build_image(
            &t,
            "hello.py",
            &format!("{}/u/root", reg.host()),
            &base,
            &["--user", "0:0"],
        ),
        &reg.host(),
    );
    assert_ne!(
        digest_of(&root),
        digest_of(&nonroot),
        "the user is part of the config"
    );
    let (code, out, err) = run_image(
        &reg,
        &root,
        Some(&["python3", "-c", "import os; print(os.getuid())"]),
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "0\n");

    for bad in ["a b", "1:", "../etc"] {
        let out = build_image(
            &t,
            "hello.py",
            &format!("{}/u/bad", reg.host()),
            &base,
            &["--user", bad],
        );
        let e = fails(&out);
        assert!(
            e.contains("--user") && e.contains("USER[:GROUP]"),
            "{bad}: {e}"
        );
    }
}
