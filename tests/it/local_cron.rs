//! Local mode: cron jobs on a seconds schedule (fast) and on a real minute.

use std::io::BufRead;

use crate::local::*;

#[test]
fn a_seconds_schedule_runs_logs_follow_and_suspends() {
    let l = Local::new();
    l.t.example("job.sh");
    let out = l.ok(&[
        "deploy",
        "job.sh",
        "--schedule",
        "*/1 * * * * *",
        "--name",
        "tick",
    ]);
    assert_eq!(out, "cronjob/tick created\n");
    let mut follow =
        l.t.prisn()
            .args(["logs", "tick", "-f"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
    let mut lines = std::io::BufReader::new(follow.stdout.take().unwrap()).lines();
    for _ in 0..3 {
        let line = lines.next().unwrap().unwrap();
        assert!(line.starts_with("job ran at "), "{line}");
    }
    follow.kill().unwrap();
    follow.wait().unwrap();
    let s = l.status("tick");
    assert!(
        matches!(s["phase"].as_str(), Some("Scheduled" | "Running")),
        "{s}"
    );
    assert!(
        s["next_run"].is_string() && s["last_run"].is_string(),
        "{s}"
    );
    assert_eq!(s["schedule"], "*/1 * * * * *");
    let table = l.ok(&["get", "cronjobs"]);
    assert!(
        table.contains("SCHEDULE") && table.contains("*/1 * * * * *") && table.contains("ago"),
        "{table}"
    );

    // A witness on the same schedule: while it runs three more times, tick has had three
    // slots in which it must not run (we wait for those runs, not for a time).
    l.ok(&[
        "deploy",
        "job.sh",
        "--schedule",
        "*/1 * * * * *",
        "--name",
        "witness",
    ]);
    l.ok(&["scale", "tick", "0"]);
    assert_eq!(l.status("tick")["phase"], "Suspended");
    // A run that started just before the suspension may still be printing.
    eventually("tick's last run to end", 30, || {
        l.status("tick")["runs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["exit"].is_object())
    });
    let runs = |name: &str| l.ok(&["logs", name]).lines().count();
    let before = runs("tick");
    let witnessed = runs("witness");
    eventually("three more runs of the witness", 60, || {
        runs("witness") >= witnessed + 3
    });
    assert_eq!(runs("tick"), before, "a suspended cron job ran");
    assert!(
        l.status("tick")["next_run"].is_null(),
        "suspended, yet a next run is planned"
    );
    l.ok(&["scale", "tick", "1"]);
    eventually("runs again after resume", 30, || runs("tick") > before);
}

#[test]
fn forbid_skips_a_run_while_the_previous_one_still_runs() {
    let l = Local::new();
    l.t.write("slow.sh", "echo start; sleep 3; echo end\n");
    l.ok(&["deploy", "slow.sh", "--schedule", "*/1 * * * * *"]);
    // Two finished runs with a skipped slot in between: the second run started after the
    // first one, and we can check they did not overlap.
    eventually("two finished runs and a skipped one", 60, || {
        let s = l.status("slow");
        let runs = s["runs"].as_array().cloned().unwrap_or_default();
        let finished = runs
            .iter()
            .filter(|r| r["exit"]["reason"] == "Completed")
            .count();
        finished >= 2 && runs.iter().any(|r| r["exit"]["reason"] == "Skipped")
    });
    // Never two at once: each run that ran (newest first) started after the one before it
    // had finished. RFC 3339 UTC with milliseconds sorts as text.
    let s = l.status("slow");
    let ran: Vec<&serde_json::Value> = s["runs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["exit"]["reason"] != "Skipped")
        .collect();
    for pair in ran.windows(2) {
        let (newer, older) = (pair[0], pair[1]);
        let older_end = older["exit"]["finished"].as_str().unwrap_or_else(|| {
            panic!(
                "run {} still runs while {} started: {s}",
                older["id"], newer["id"]
            )
        });
        let newer_start = newer["started"].as_str().unwrap();
        assert!(
            older_end <= newer_start,
            "run {} started at {newer_start}, before run {} ended at {older_end}: {s}",
            newer["id"],
            older["id"]
        );
    }
}

#[test]
fn an_every_minute_schedule_runs_at_the_minute_it_announced() {
    let l = Local::new();
    l.t.example("job.sh");
    l.ok(&[
        "deploy",
        "job.sh",
        "--schedule",
        "* * * * *",
        "--name",
        "minutely",
    ]);
    let mut next = String::new();
    eventually("a planned run", 30, || {
        next = l.status("minutely")["next_run"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        !next.is_empty()
    });
    assert!(next.ends_with(":00.000Z"), "not on a minute: {next}");
    // The slot is up to a minute away; the bound is only there to fail instead of hanging.
    eventually("the announced run to complete", 180, || {
        l.status("minutely")["runs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["scheduled_for"] == next.as_str() && r["exit"]["reason"] == "Completed")
    });
    assert!(l.ok(&["logs", "minutely"]).starts_with("job ran at "));
}
