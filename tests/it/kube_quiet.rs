//! `--quiet` holds while `prisn deploy` waits in Kubernetes mode (issue 10: the wait printed
//! its phase lines with eprintln! whatever the flags said). Needs the test bed.

use crate::common::{ok, stderr};
use crate::kube_common::KubeEnv;

#[test]
fn quiet_deploys_wait_without_a_word_and_loud_ones_report_the_phases() {
    let Some(k) = KubeEnv::start("cli-quiet") else {
        return;
    };
    k.t.write("job.sh", "echo done\n");
    let deploy = |name: &str, quiet: bool| {
        let mut args = vec![
            "deploy",
            "job.sh",
            "--name",
            name,
            "--once",
            "--source",
            "configmap",
            "--wait",
            "--timeout",
            "90s",
        ];
        if quiet {
            args.insert(0, "--quiet");
        }
        k.prisn(&args)
    };
    let quiet = deploy("quiet-once", true);
    assert!(ok(&quiet).starts_with("job/quiet-once created"));
    assert_eq!(stderr(&quiet).trim(), "", "--quiet printed while waiting");
    // The control: without --quiet the same wait reports the phases it saw.
    let loud = deploy("loud-once", false);
    assert!(ok(&loud).starts_with("job/loud-once created"));
    assert!(
        stderr(&loud).contains("PrisnJob loud-once: Succeeded"),
        "{}",
        stderr(&loud)
    );
}
