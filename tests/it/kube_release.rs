//! Every deploy is a release (issue 15), Kubernetes mode on the test bed: history lives in
//! ConfigMaps `<name>-rev-<N>` owned by the resource; a rollback applies the stored resource
//! (image by digest, or the `<name>-code` content) again without building anything; a
//! rollout that fails with `--rollback-on-failure` returns to the previous release.

use k8s_openapi::api::core::v1::{ConfigMap, LimitRange};
use kube::api::PostParams;
use prisn_operator::PrisnApp;
use serde_json::Value;

use crate::common::*;
use crate::kube_common::*;
use crate::local_release::app;

fn history(k: &KubeEnv, name: &str) -> Vec<Value> {
    let out = ok(&k.prisn(&["history", name, "-o", "json"]));
    serde_json::from_str(&out).expect("history is a JSON list")
}

fn image_of(k: &KubeEnv, name: &str) -> String {
    let app: PrisnApp = k.get(name).expect("the PrisnApp");
    app.spec.source.image.expect("an image source")
}

#[test]
fn rollback_applies_an_old_image_by_digest_and_a_failed_rollout_is_undone() {
    let Some(k) = KubeEnv::start("cli-rel") else {
        return;
    };
    let deploy = |version: u32, six: &str, extra: &[&str]| {
        k.t.write("web.py", &app(version, six));
        let mut args = vec!["deploy", "web.py", "--port", "8080", "--base", &k.base];
        args.extend_from_slice(extra);
        k.prisn(&args)
    };
    let mut images = Vec::new();
    for (v, six) in [(1, "1.15.0"), (2, "1.16.0"), (3, "1.17.0")] {
        ok(&deploy(v, six, &["--wait", "--timeout", "90s"]));
        images.push(image_of(&k, "web"));
    }
    assert!(
        images[0] != images[1] && images[1] != images[2],
        "{images:?}"
    );
    let h = history(&k, "web");
    let revs: Vec<i64> = h.iter().map(|r| r["revision"].as_i64().unwrap()).collect();
    assert_eq!(revs, [3, 2, 1], "{h:?}");
    assert_eq!(h[2]["artifact"], images[0].as_str());
    assert_eq!(h[0]["current"], true);
    assert!(
        h[0]["flags"]
            .as_array()
            .unwrap()
            .contains(&Value::from("--port 8080"))
    );
    assert_ne!(h[0]["lock_digest"], h[2]["lock_digest"]);

    // Back to v1: its image by digest (built with six 1.15.0), nothing built or pushed.
    let out = ok(&k.prisn(&["rollback", "web", "--to", "1", "--timeout", "90s"]));
    assert!(
        out.contains("rolled back to revision 1 (now revision 4)"),
        "{out}"
    );
    assert_eq!(image_of(&k, "web"), images[0]);
    let h = history(&k, "web");
    assert_eq!(
        (h[0]["revision"].as_i64(), h[0]["rollback_of"].as_i64()),
        (Some(4), Some(1))
    );
    assert_eq!(h[0]["lock_digest"], h[3]["lock_digest"]);
    let out = ok(&k.prisn(&["rollback", "web", "--timeout", "90s"]));
    assert!(
        out.contains("rolled back to revision 3 (now revision 5)"),
        "{out}"
    );
    assert_eq!(image_of(&k, "web"), images[2]);

    // A v4 whose pods the namespace refuses (more memory than its LimitRange allows) never
    // becomes ready: prisn returns to revision 5 (v3) and says so.
    let limits: LimitRange = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "small"},
        "spec": {"limits": [{"type": "Container", "max": {"memory": "1Gi"}}]}
    }))
    .unwrap();
    k.rt.block_on(
        k.api::<LimitRange>()
            .create(&PostParams::default(), &limits),
    )
    .unwrap();
    let err = fails(&deploy(
        3,
        "1.17.0",
        &[
            "--memory",
            "2Gi",
            "--timeout",
            "30s",
            "--rollback-on-failure",
        ],
    ));
    assert!(
        err.contains("did not become ready; rolled back to revision 5 (now revision 7)"),
        "{err}"
    );
    let app: PrisnApp = k.get("web").unwrap();
    assert_eq!(app.spec.source.image.as_deref(), Some(images[2].as_str()));
    assert!(app.spec.resources.is_none(), "{:?}", app.spec.resources);
    let h = history(&k, "web");
    assert_eq!(
        (h[0]["revision"].as_i64(), h[0]["rollback_of"].as_i64()),
        (Some(7), Some(5))
    );

    // The releases go with the app.
    ok(&k.prisn(&["delete", "web", "--yes"]));
    for rev in 1..=7 {
        assert!(k.get::<ConfigMap>(&format!("web-rev-{rev}")).is_none());
    }
}

#[test]
fn rollback_of_a_configmap_source_restores_the_old_code() {
    let Some(k) = KubeEnv::start("cli-rel-cm") else {
        return;
    };
    for text in ["print('one')\n", "print('two')\n"] {
        k.t.write("show.py", text);
        ok(&k.prisn(&["deploy", "show.py", "--source", "configmap", "--no-wait"]));
    }
    let code = || -> String {
        let cm: ConfigMap = k.get("show-code").unwrap();
        cm.data.unwrap()["show.py"].clone()
    };
    assert_eq!(code(), "print('two')\n");
    let out = ok(&k.prisn(&["rollback", "show", "--no-wait"]));
    assert!(
        out.contains("rolled back to revision 1 (now revision 3)"),
        "{out}"
    );
    assert_eq!(code(), "print('one')\n");
    let h = history(&k, "show");
    assert!(
        h[0]["artifact"]
            .as_str()
            .unwrap()
            .starts_with("configmap sha256:")
    );
    assert_eq!(h[0]["artifact"], h[2]["artifact"]);
    let err = fails(&k.prisn(&["rollback", "show", "--to", "9"]));
    assert!(err.contains("has no revision 9 (kept: 3, 2, 1)"), "{err}");
}

/// The air gap end to end: build against registry A, export, import into registry B (another
/// registry process), deploy the imported image by digest with no script and no index.
#[test]
fn an_imported_image_is_deployed_by_digest_from_the_second_registry() {
    let Some(k) = KubeEnv::start("cli-rel-air") else {
        return;
    };
    k.t.example("hello.py");
    let app = format!("{}/team/hello:v1", k.registry.host());
    ok(&crate::image_common::build_image(
        &k.t,
        "hello.py",
        &app,
        &k.base,
        &[],
    ));
    ok(&k.prisn(&["export", &app, &k.base, "-o", "bundle.tar"]));
    let b = prisn_testsupport::registry::Registry::start().unwrap();
    let out = ok(&k.prisn(&[
        "import",
        "bundle.tar",
        "--registry",
        &format!("{}/site", b.host()),
    ]));
    let imported = out.lines().next().unwrap().to_string();
    let base_in_b = out.lines().nth(1).unwrap().to_string();
    assert!(
        imported.starts_with(&format!("{}/site/team/hello@sha256:", b.host())),
        "{out}"
    );

    // GitOps: the objects, with the image as given and no runtime (the image has it).
    let yaml = ok(&k.prisn(&["deploy", "--image", &imported, "--dry-run", "-o", "yaml"]));
    assert!(
        yaml.contains("kind: PrisnApp") && yaml.contains("image:") && yaml.contains(&imported),
        "{yaml}"
    );
    assert!(!yaml.contains("runtime:"), "{yaml}");

    let out = ok(&k.prisn(&["deploy", "--image", &imported, "--no-wait"]));
    assert!(out.starts_with("app/hello created"), "{out}");
    let deployed: PrisnApp = k.get("hello").unwrap();
    assert_eq!(
        deployed.spec.source.image.as_deref(),
        Some(imported.as_str())
    );
    let h = history(&k, "hello");
    assert_eq!(h[0]["artifact"], imported.as_str());
    assert!(h[0]["lock_digest"].as_str().unwrap().starts_with("sha256:"));

    // Refused: no digest, and an image prisn did not build (the base).
    let tagged = format!("{}/site/team/hello:v1", b.host());
    let err = fails(&k.prisn(&["deploy", "--image", &tagged, "--no-wait"]));
    assert!(err.contains("has no digest"), "{err}");
    let err = fails(&k.prisn(&["deploy", "--image", &base_in_b, "--name", "b", "--no-wait"]));
    assert!(err.contains("was not built by prisn"), "{err}");
    // A script and an image at once make no sense.
    let err = fails(&k.prisn(&["deploy", "hello.py", "--image", &imported]));
    assert!(err.contains("cannot be used with"), "{err}");
}
