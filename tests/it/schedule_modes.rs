//! One schedule grammar per mode (issue 10): a Kubernetes context refuses a 6-field (seconds)
//! schedule before anything is locked, built or pushed, with the operator's own words. Needs
//! no cluster: the refusal comes before the backend connects, and the control runs `--dry-run`.

use crate::common::TestContext;

const SIX_FIELDS: &str = "*/2 * * * * *";

fn kube_context(t: &TestContext) {
    // A registry nobody listens on: reaching it would fail with another message.
    let out = t.run(&[
        "context",
        "add",
        "k",
        "--mode",
        "kubernetes",
        "--registry",
        "127.0.0.1:9/team",
        "--use",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_seconds_field_is_refused_in_kubernetes_mode_before_anything_is_built() {
    let t = TestContext::new();
    kube_context(&t);
    t.write("job.sh", "echo tick\n");
    let out = t.run(&["deploy", "job.sh", "--schedule", SIX_FIELDS]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    // The operator's words for the same schedule.
    let operator = prisn_operator::children::validate::schedule(SIX_FIELDS)
        .expect_err("the operator refuses a seconds field")
        .message;
    assert!(operator.contains("it needs exactly 5 fields"), "{operator}");
    assert!(stderr.contains(&operator), "{stderr}\nwanted: {operator}");
    assert!(
        !stderr.contains("127.0.0.1:9"),
        "it reached the registry: {stderr}"
    );
    assert!(!t.path("prisn.lock").exists(), "it locked the script");
    assert!(t.store_entries().is_empty(), "it built an environment");
}

#[test]
fn five_fields_pass_in_kubernetes_mode_with_the_concurrency_asked_for() {
    let t = TestContext::new();
    kube_context(&t);
    t.write("job.sh", "echo tick\n");
    let out = t.run(&[
        "deploy",
        "job.sh",
        "--schedule",
        "*/2 * * * *",
        "--concurrency",
        "allow",
        "--source",
        "configmap",
        "--dry-run",
        "-o",
        "yaml",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("kind: PrisnCronJob"), "{stdout}");
    assert!(stdout.contains("concurrencyPolicy: Allow"), "{stdout}");
}
