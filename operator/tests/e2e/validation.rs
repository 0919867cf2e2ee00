use kube::api::{Api, ApiResource, DynamicObject, PostParams};
use prisn_operator::crd::{NameRef, PrisnCronJobSpec, PrisnJobSpec, Runtime, Source};
use prisn_operator::{PrisnApp, PrisnCronJob, PrisnJob};
use serde_json::{Value, json};

use crate::common::*;

/// Creates `body` as raw JSON (bad values often cannot even be typed in Rust) and returns the
/// API server's refusal message (panics if it was accepted).
async fn refused(api: &Api<DynamicObject>, body: Value) -> String {
    let obj: DynamicObject =
        serde_json::from_value(body.clone()).expect("a JSON object with metadata");
    match api.create(&PostParams::default(), &obj).await {
        Ok(_) => panic!("the API server accepted {body}"),
        Err(kube::Error::Api(s)) => {
            assert_eq!(s.code, 422, "{}", s.message);
            s.message
        }
        Err(e) => panic!("unexpected error {e}"),
    }
}

fn dynamic<K: kube::Resource<DynamicType = ()>>(
    ns: &prisn_testsupport::testbed::TestNamespace,
) -> Api<DynamicObject> {
    Api::namespaced_with(ns.client.clone(), &ns.name, &ApiResource::erase::<K>(&()))
}

fn app_body(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "prisn.io/v1alpha1", "kind": "PrisnApp", "metadata": {"name": name}, "spec": spec})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_objects_are_refused_with_the_field_named() {
    let Some(ns) = setup("op-validate").await else {
        return;
    };
    let apps = dynamic::<PrisnApp>(&ns);
    let cases: Vec<(Value, &[&str])> = vec![
        (
            app_body(
                "two-sources",
                json!({"source": {"image": IMAGE, "inline": "x"}, "runtime": "bash"}),
            ),
            &["spec.source", "set exactly one of source.image"],
        ),
        (
            app_body("no-source", json!({"source": {}})),
            &["spec.source", "exactly one"],
        ),
        (
            app_body("no-runtime", json!({"source": {"inline": "print(1)"}})),
            &["spec.runtime", "runtime is required"],
        ),
        (
            app_body("neg", json!({"source": {"image": IMAGE}, "replicas": -1})),
            &["spec.replicas"],
        ),
        (
            app_body(
                "big-port",
                json!({"source": {"image": IMAGE}, "port": 70000}),
            ),
            &["spec.port"],
        ),
        (
            app_body(
                "mem",
                json!({"source": {"image": IMAGE}, "resources": {"memory": "lots"}}),
            ),
            &["spec.resources.memory"],
        ),
        (
            app_body(
                "ing",
                json!({"source": {"image": IMAGE}, "ingress": {"host": "a.example"}}),
            ),
            &["spec.ingress", "ingress needs port"],
        ),
        (
            app_body("rt", json!({"source": {"inline": "x"}, "runtime": "ruby"})),
            &["spec.runtime", "python3"],
        ),
        (
            app_body("dots.in.name", json!({"source": {"image": IMAGE}})),
            &["metadata.name"],
        ),
        (
            app_body(
                "escape",
                json!({"source": {"configMapRef": {"name": "c"}, "entrypoint": "../etc/passwd"}, "runtime": "bash"}),
            ),
            &["spec.source.entrypoint"],
        ),
        (
            app_body(
                "store",
                json!({"source": {"image": IMAGE}, "storage": [{"name": "d", "mountPath": "/d"}]}),
            ),
            &["spec.storage[0]", "set size"],
        ),
    ];
    for (body, needles) in cases {
        let msg = refused(&apps, body.clone()).await;
        for n in needles {
            assert!(
                msg.contains(n),
                "refusal of {body} should mention {n:?}: {msg}"
            );
        }
    }

    let jobs = dynamic::<PrisnJob>(&ns);
    let msg = refused(
        &jobs,
        json!({"apiVersion": "prisn.io/v1alpha1", "kind": "PrisnJob", "metadata": {"name": "t"},
               "spec": {"source": {"image": IMAGE}, "timeout": "soon"}}),
    )
    .await;
    assert!(msg.contains("spec.timeout"), "{msg}");

    let cron = dynamic::<PrisnCronJob>(&ns);
    for (spec, needle) in [
        (
            json!({"schedule": "every day", "jobTemplate": {"source": {"image": IMAGE}}}),
            "spec.schedule",
        ),
        (
            json!({"schedule": "@daily", "concurrencyPolicy": "Sometimes", "jobTemplate": {"source": {"image": IMAGE}}}),
            "spec.concurrencyPolicy",
        ),
        (
            json!({"schedule": "@daily", "jobTemplate": {"source": {"inline": "x"}}}),
            "spec.jobTemplate.runtime",
        ),
    ] {
        let msg = refused(&cron, json!({"apiVersion": "prisn.io/v1alpha1", "kind": "PrisnCronJob", "metadata": {"name": "c"}, "spec": spec})).await;
        assert!(msg.contains(needle), "should mention {needle}: {msg}");
    }

    // And a good object of each kind is accepted, as the CLI would build it.
    create(
        &ns,
        &PrisnApp::new(
            "ok",
            prisn_operator::PrisnAppSpec {
                source: Source::image(IMAGE),
                ..Default::default()
            },
        ),
    )
    .await
    .expect("valid app");
    create(
        &ns,
        &PrisnJob::new(
            "ok",
            PrisnJobSpec {
                source: Source {
                    secret_ref: Some(NameRef::new("s")),
                    ..Default::default()
                },
                runtime: Some(Runtime::Python3),
                ..Default::default()
            },
        ),
    )
    .await
    .expect("valid job");
    create(
        &ns,
        &PrisnCronJob::new(
            "ok",
            PrisnCronJobSpec {
                schedule: "*/5 * * * *".into(),
                job_template: PrisnJobSpec {
                    source: Source::image(IMAGE),
                    ..Default::default()
                },
                ..Default::default()
            },
        ),
    )
    .await
    .expect("valid cronjob");
}
