//! `prisn rebase`: an image's own layers on a patched base (the test bases `python3` and
//! `python3-hello`, the same Python with GNU hello added, from tests/run.sh), compared with a
//! build on that base, run with runc; and the refusals.

use prisn_testsupport::registry::{Registry, base_layout};
use serde_json::Value;

use crate::common::*;
use crate::image_common::*;

/// The patched test base (`prisn base python3 --packages …,hello`) pushed as
/// `base/python3:hello`.
pub fn push_patched_base(reg: &Registry) -> String {
    let layout = base_layout("python3-hello")
        .expect("the patched base is built (tests/run.sh: prisn base python3 --packages …,hello)");
    reg.push_layout(&layout, "python3", "base/python3:hello")
        .expect("skopeo pushes the base")
}

fn config_of(reference: &str) -> Value {
    let out = std::process::Command::new("skopeo")
        .args(["inspect", "--config", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{reference}"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "skopeo inspect --config {reference}: {}",
        stderr(&out)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn rebase_puts_the_layers_on_the_patched_base_as_a_build_there_would() {
    let t = TestContext::new();
    let (reg, base) = registry_with_base("python3");
    let patched = push_patched_base(&reg);
    t.example("api.py");
    let v1 = image_line(
        &build_image(
            &t,
            "api.py",
            &format!("{}/team/api:v1", reg.host()),
            &base,
            &[],
        ),
        &reg.host(),
    );
    let out = t.run(&[
        "rebase",
        &format!("{}/team/api:v1", reg.host()),
        "--base",
        &patched,
    ]);
    let rebased = image_line(&out, &reg.host());
    assert_ne!(digest_of(&rebased), digest_of(&v1));
    assert!(
        rebased.starts_with(&format!("{}/team/api@", reg.host())),
        "same repository: {rebased}"
    );

    // Same inputs, same digest; the default tag names the image's tag and the new base.
    let again = image_line(&t.run(&["rebase", &v1, "--base", &patched]), &reg.host());
    assert_eq!(digest_of(&again), digest_of(&rebased));
    let (patched_manifest, patched_digest) = raw_manifest(&reg, &patched);
    let tag = format!("v1-base-{}", &patched_digest["sha256:".len()..][..12]);
    let (_, tagged) = raw_manifest(&reg, &format!("{}/team/api:{tag}", reg.host()));
    assert_eq!(tagged, digest_of(&rebased), "tag {tag}");

    // Exactly what a build on the patched base gives: nothing was rebuilt differently.
    let built = image_line(
        &build_image(
            &t,
            "api.py",
            &format!("{}/team/api:v2", reg.host()),
            &patched,
            &[],
        ),
        &reg.host(),
    );
    assert_eq!(
        digest_of(&built),
        digest_of(&rebased),
        "rebase == build on the new base"
    );

    // The base's layers are the patched base's, prisn's layers are v1's.
    let (old, _) = raw_manifest(&reg, &v1);
    let (new, _) = raw_manifest(&reg, &rebased);
    let layers = |m: &Value| -> Vec<String> {
        m["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["digest"].as_str().unwrap().to_string())
            .collect()
    };
    let base_layers = layers(&patched_manifest);
    assert_eq!(layers(&new)[..base_layers.len()], base_layers[..]);
    assert_eq!(
        layers(&new)[base_layers.len()..],
        layers(&old)[layers(&old).len() - 2..]
    );
    let cfg = config_of(&rebased);
    assert_eq!(
        cfg["config"]["Labels"]["io.prisn.base-digest"],
        patched_digest.as_str()
    );
    assert_eq!(
        cfg["config"]["Labels"]["io.prisn.base-layers"],
        base_layers.len().to_string().as_str()
    );

    // It runs under runc as the nonroot user, with the patched base's hello and v1's flask.
    let (code, out, err) = run_image(
        &reg,
        &rebased,
        Some(&[
            "sh",
            "-c",
            "id -u; hello; python3 -c 'import flask; print(flask.__name__)'",
        ]),
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "65532\nHello, world!\nflask\n");
    let (code, _, _) = run_image(&reg, &v1, Some(&["sh", "-c", "hello"]));
    assert_ne!(code, 0, "v1's base has no hello");
}

#[test]
fn rebase_refuses_another_runtime_a_foreign_image_and_tags_offline() {
    let t = TestContext::new();
    let (reg, base) = registry_with_base("python3");
    let bash = push_base(&reg, "bash");
    t.write("hello.py", "print('hi')\n");
    let v1 = image_line(
        &build_image(
            &t,
            "hello.py",
            &format!("{}/team/hello:v1", reg.host()),
            &base,
            &[],
        ),
        &reg.host(),
    );
    let facts = python_base_facts();
    let err = fails(&t.run(&[
        "rebase",
        &v1,
        "--base",
        &bash,
        "--image",
        &format!("{}/team/hello:bash", reg.host()),
    ]));
    assert!(
        err.contains("cannot rebase")
            && err.contains(&format!("Python {}", facts.python.minor_version()))
            && err.contains("no Python 3"),
        "{err}"
    );
    assert!(err.contains("hint:"), "{err}");
    let tags = std::process::Command::new("curl")
        .args([
            "-s",
            &format!("http://{}/v2/team/hello/tags/list", reg.host()),
        ])
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&tags.stdout).contains("\"bash\""),
        "nothing pushed"
    );

    // A base is no prisn image: nothing says which of its layers are its own.
    let err = fails(&t.run(&["rebase", &bash, "--base", &base]));
    assert!(err.contains("prisn did not build it"), "{err}");

    // Offline, tags are moving inputs.
    let err = fails(&t.run(&[
        "rebase",
        &format!("{}/team/hello:v1", reg.host()),
        "--base",
        &base,
        "--offline",
    ]));
    assert!(
        err.contains("named by tag") && err.contains("REF@sha256"),
        "{err}"
    );

    // -o json says what was compared; --dry-run pushes nothing.
    let out = ok(&t.run(&["rebase", &v1, "--base", &base, "--dry-run", "-o", "json"]));
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["runtime"], "python3");
    assert_eq!(v["facts"]["python"], facts.python.minor_version().as_str());
    assert!(v.get("reference").is_none(), "{v}");
    assert_eq!(
        v["digest"].as_str(),
        Some(digest_of(&v1).as_str()),
        "onto its own base: the same image"
    );
}

#[test]
fn rebase_deployed_is_refused_outside_kubernetes() {
    let t = TestContext::new();
    let err = fails(&t.run(&[
        "rebase",
        "--deployed",
        "--base",
        "127.0.0.1:9/base/python3:x",
    ]));
    assert!(
        err.contains("only Kubernetes contexts have") && err.contains("local mode"),
        "{err}"
    );
}

/// A fleet on the test bed: two apps on the old base and a bash cron job; `rebase --deployed`
/// moves the two apps (new releases, rollback returns the old digest) and leaves the rest.
#[test]
fn rebase_deployed_gives_each_app_on_the_old_base_a_release_with_the_rebased_image() {
    let Some(k) = crate::kube_common::KubeEnv::start("cli-rebase") else {
        return;
    };
    let patched = push_patched_base(&k.registry);
    let bash = push_base(&k.registry, "bash");
    k.t.example("api.py");
    k.t.write("two.py", "print('two')\n");
    k.t.write("tick.sh", "echo tick\n");
    for (script, name) in [("api.py", "one"), ("two.py", "two")] {
        ok(&k.prisn(&[
            "deploy",
            script,
            "--name",
            name,
            "--base",
            &k.base,
            "--no-wait",
        ]));
    }
    ok(&k.prisn(&[
        "deploy",
        "tick.sh",
        "--schedule",
        "*/5 * * * *",
        "--base",
        &bash,
        "--no-wait",
    ]));
    let image = |name: &str| -> String {
        let app: prisn_operator::PrisnApp = k.get(name).expect("the PrisnApp");
        app.spec.source.image.expect("an image source")
    };
    let before = [image("one"), image("two")];
    // Scaled without a release: the rebase keeps the count it runs with.
    ok(&k.prisn(&["scale", "two", "2"]));

    let outcomes = |args: &[&str], expect_ok: bool| -> Vec<Value> {
        let out = k.prisn(args);
        let text = if expect_ok { ok(&out) } else { stdout(&out) };
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
    };
    let by_name = |v: &[Value], name: &str| -> Value {
        v.iter()
            .find(|o| o["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} in {v:?}"))
    };

    // --dry-run: what would change, with the digests it would have; nothing applied.
    let dry = outcomes(
        &[
            "rebase",
            "--deployed",
            "--base",
            &patched,
            "--dry-run",
            "-o",
            "json",
        ],
        true,
    );
    assert_eq!(by_name(&dry, "one")["action"], "would rebase", "{dry:?}");
    assert_eq!(by_name(&dry, "two")["action"], "would rebase", "{dry:?}");
    assert_eq!(by_name(&dry, "tick")["action"], "skipped", "{dry:?}");
    assert!(
        by_name(&dry, "tick")["reason"]
            .as_str()
            .unwrap()
            .contains("a bash image"),
        "{dry:?}"
    );
    assert_eq!(
        [image("one"), image("two")],
        before,
        "a dry run applies nothing"
    );

    let done = outcomes(
        &["rebase", "--deployed", "--base", &patched, "-o", "json"],
        true,
    );
    for (i, name) in ["one", "two"].into_iter().enumerate() {
        let o = by_name(&done, name);
        assert_eq!(o["action"], "rebased", "{o}");
        let new = o["new_image"].as_str().unwrap().to_string();
        assert_eq!(image(name), new, "the PrisnApp runs the rebased digest");
        assert_ne!(new, before[i]);
        assert_eq!(
            digest_of(&new),
            digest_of(by_name(&dry, name)["new_image"].as_str().unwrap()),
            "the dry run named the same digest"
        );
        let h: Vec<Value> =
            serde_json::from_str(&ok(&k.prisn(&["history", name, "-o", "json"]))).unwrap();
        assert_eq!(h[0]["revision"], 2, "{h:?}");
        assert_eq!(h[0]["artifact"], new.as_str());
        assert_eq!(
            h[0]["lock_digest"], h[1]["lock_digest"],
            "same lock, new base"
        );
        let cfg = config_of(&new);
        let (_, patched_digest) = raw_manifest(&k.registry, &patched);
        assert_eq!(
            cfg["config"]["Labels"]["io.prisn.base-digest"],
            patched_digest.as_str()
        );
    }

    let two: prisn_operator::PrisnApp = k.get("two").unwrap();
    assert_eq!(two.spec.replicas, Some(2), "the live replica count stays");

    // Once more: nothing left on the old base.
    let again = outcomes(
        &["rebase", "--deployed", "--base", &patched, "-o", "json"],
        true,
    );
    assert_eq!(
        by_name(&again, "one")["reason"],
        "already on the new base",
        "{again:?}"
    );

    // Rollback returns the old digest.
    ok(&k.prisn(&["rollback", "one", "--no-wait"]));
    assert_eq!(image("one"), before[0]);

    // Without --base: the context's base for the runtime.
    let reg = format!("{}/team", k.registry.host());
    let ns = k.ns.name.clone();
    ok(&k.prisn(&[
        "context",
        "add",
        "tb2",
        "--mode",
        "kubernetes",
        "-n",
        &ns,
        "--registry",
        &reg,
        "--base",
        &format!("python3={patched}"),
    ]));
    let dry = outcomes(
        &[
            "--context",
            "tb2",
            "rebase",
            "--deployed",
            "--dry-run",
            "-o",
            "json",
        ],
        true,
    );
    assert_eq!(by_name(&dry, "one")["action"], "would rebase", "{dry:?}");
    assert_eq!(
        by_name(&dry, "two")["reason"],
        "already on the new base",
        "{dry:?}"
    );
    let none = outcomes(&["rebase", "--deployed", "--dry-run", "-o", "json"], true);
    assert!(
        by_name(&none, "one")["reason"]
            .as_str()
            .unwrap()
            .contains("names no base for python3"),
        "{none:?}"
    );
}
