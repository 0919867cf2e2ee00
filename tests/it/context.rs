//! `prisn context use|list|remove`: contexts decide where commands act, and they persist in
//! `$PRISN_HOME/config.toml` between commands.

use assert_cmd::Command;
use predicates::prelude::*;

use crate::local::Local;

/// `prisn ARGS` as assert_cmd runs it: the real binary, this test's home and work dir.
fn prisn(l: &Local, args: &[&str]) -> assert_cmd::assert::Assert {
    Command::from_std(l.t.prisn()).args(args).assert()
}

/// The rows of `context list` as (current, name, mode, namespace, registry).
fn rows(l: &Local) -> Vec<Vec<String>> {
    let out = prisn(l, &["context", "list"]).success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    assert!(
        header
            .split_whitespace()
            .eq(["CURRENT", "NAME", "MODE", "NAMESPACE", "REGISTRY"]),
        "{text}"
    );
    lines
        .map(|l| {
            let mut cells: Vec<String> = l.split_whitespace().map(str::to_string).collect();
            if !l.starts_with('*') {
                cells.insert(0, String::new());
            }
            cells
        })
        .collect()
}

#[test]
fn use_list_and_remove_switch_where_commands_act() {
    let l = Local::new();
    // No kubeconfig anywhere: a kubernetes context cannot reach a cluster.
    let nowhere = l.t.path("no-kubeconfig");
    let kube_fails = |l: &Local| {
        Command::from_std(l.t.prisn())
            .env("KUBECONFIG", &nowhere)
            .args(["get"])
            .assert()
            .failure()
            .stderr(predicate::str::contains(format!(
                "failed to create K8s client from kubeconfig {}",
                nowhere.display()
            )))
    };
    prisn(&l, &["context", "add", "laptop", "--mode", "local"]).success();
    prisn(
        &l,
        &[
            "-n",
            "apps",
            "context",
            "add",
            "prod",
            "--mode",
            "kubernetes",
            "--registry",
            "127.0.0.1:5000/team",
        ],
    )
    .success();
    // The first context added became current; list marks it.
    assert_eq!(
        rows(&l),
        [
            vec!["*", "laptop", "local", "-", "-"],
            vec!["", "prod", "kubernetes", "apps", "127.0.0.1:5000/team"]
        ]
    );
    prisn(&l, &["get"]).success();

    // use: the choice persists, and the next commands act in the other context.
    prisn(&l, &["context", "use", "prod"])
        .success()
        .stderr(predicate::str::contains("switched to context prod"));
    prisn(&l, &["context", "current"])
        .success()
        .stdout("prod (kubernetes, namespace apps)\n");
    assert_eq!(rows(&l)[1][0], "*");
    assert_eq!(rows(&l)[0][0], "");
    kube_fails(&l);
    // --context overrides the current one for one command, without changing it.
    prisn(&l, &["--context", "laptop", "get"]).success();
    prisn(&l, &["context", "current"])
        .success()
        .stdout(predicate::str::starts_with("prod "));
    let listed: serde_json::Value = serde_json::from_slice(
        &prisn(&l, &["context", "list", "-o", "json"])
            .success()
            .get_output()
            .stdout,
    )
    .unwrap();
    assert_eq!(listed["current_context"], "prod", "{listed}");

    // An unknown name is refused and changes nothing.
    prisn(&l, &["context", "use", "staging"])
        .failure()
        .stderr(predicate::str::contains(
            "context not found: \"staging\" (known: laptop, prod)",
        ));
    prisn(&l, &["context", "current"])
        .success()
        .stdout(predicate::str::starts_with("prod "));

    // remove: gone from the list; removing the current one falls back to local mode.
    prisn(&l, &["context", "remove", "laptop"])
        .success()
        .stderr(predicate::str::contains("removed context laptop"));
    assert_eq!(
        rows(&l),
        [vec![
            "*",
            "prod",
            "kubernetes",
            "apps",
            "127.0.0.1:5000/team"
        ]]
    );
    prisn(&l, &["context", "remove", "prod"]).success();
    assert!(rows(&l).is_empty());
    prisn(&l, &["context", "current"])
        .success()
        .stdout(predicate::str::starts_with("local (local"));
    prisn(&l, &["get"]).success();
    prisn(&l, &["context", "remove", "prod"])
        .failure()
        .stderr(predicate::str::contains(
            "no context named \"prod\" to remove (known: none)",
        ))
        .stderr(predicate::str::contains("context add").not());
}

/// Settings that do not belong to a context's mode are refused when it is added, and when a
/// hand-edited config.toml is used; nothing is written for a refused `add`.
#[test]
fn a_context_with_settings_of_another_mode_is_refused() {
    let l = Local::new();
    let refused = [
        (vec!["--mode", "remote"], "has no server"),
        (
            vec!["--mode", "kubernetes", "--server", "x:1"],
            "--server is only for remote",
        ),
        (
            vec!["--mode", "local", "--token", "t"],
            "--token is only for remote",
        ),
        (
            vec!["--mode", "local", "--kube-context", "k"],
            "--kube-context is only for kubernetes",
        ),
        (
            vec!["--mode", "remote", "--server", "x:1", "--kube-context", "k"],
            "--kube-context is only for kubernetes",
        ),
    ];
    for (flags, words) in refused {
        let mut args = vec!["context", "add", "bad"];
        args.extend(flags.iter().copied());
        prisn(&l, &args)
            .failure()
            .stderr(predicate::str::contains(words));
        assert!(
            rows(&l).is_empty(),
            "a refused add wrote a context: {flags:?}"
        );
    }
    // A hand-edited file with the same mistake: every command that resolves it says so.
    std::fs::write(
        l.t.home.path().join("config.toml"),
        "current_context = \"k\"\n[contexts.k]\nname = \"k\"\nmode = \"kubernetes\"\nserver = \"x:1\"\n",
    )
    .unwrap();
    prisn(&l, &["get"])
        .failure()
        .stderr(predicate::str::contains("--server is only for remote"));
}
