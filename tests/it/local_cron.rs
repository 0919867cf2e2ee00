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

    l.ok(&["scale", "tick", "0"]);
    assert_eq!(l.status("tick")["phase"], "Suspended");
    let runs = |l: &Local| l.ok(&["logs", "tick"]).lines().count();
    let before = runs(&l);
    std::thread::sleep(std::time::Duration::from_millis(2500));
    assert_eq!(runs(&l), before, "a suspended cron job ran");
    l.ok(&["scale", "tick", "1"]);
    eventually("runs again after resume", 30, || runs(&l) > before);
}

#[test]
fn forbid_skips_a_run_while_the_previous_one_still_runs() {
    let l = Local::new();
    l.t.write("slow.sh", "echo start; sleep 3; echo end\n");
    l.ok(&["deploy", "slow.sh", "--schedule", "*/1 * * * * *"]);
    eventually("a skipped run", 30, || {
        l.status("slow")["runs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["exit"]["reason"] == "Skipped")
    });
    // Never two at once.
    let s = l.status("slow");
    assert!(s["active"].as_u64() <= Some(1), "{s}");
}

#[test]
fn an_every_minute_schedule_runs_within_a_minute() {
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
    eventually("a run on the minute", 75, || {
        l.status("minutely")["last_exit"]["reason"] == "Completed"
    });
    assert!(l.ok(&["logs", "minutely"]).starts_with("job ran at "));
    let s = l.status("minutely");
    let next = s["next_run"].as_str().unwrap();
    assert!(
        next.contains(":00.000Z") || next.ends_with(":00Z"),
        "{next}"
    );
}
