use std::time::{Duration, UNIX_EPOCH};

use super::*;

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
}

fn text(path: &Path, opts: &ReadOptions) -> String {
    String::from_utf8(read(path, opts, end(path)).unwrap()).unwrap()
}

#[test]
fn lines_and_pieces_of_lines_are_stamped_and_joined() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.log");
    let mut w = LogWriter::open(&path, MAX_BYTES, KEEP).unwrap();
    w.write_at(b"one\ntwo\nthr", at(1)).unwrap();
    w.write_at(b"ee\nfour\n", at(2)).unwrap();
    let raw = fs::read_to_string(&path).unwrap();
    assert!(
        raw.starts_with("2023-11-14T22:13:21.000000000Z F one\n"),
        "{raw}"
    );
    assert!(raw.contains("Z P thr\n"), "{raw}");
    assert_eq!(
        text(&path, &ReadOptions::default()),
        "one\ntwo\nthree\nfour\n"
    );
    let tail = ReadOptions {
        tail: Some(2),
        ..Default::default()
    };
    assert_eq!(text(&path, &tail), "three\nfour\n");
    let stamped = ReadOptions {
        tail: Some(1),
        timestamps: true,
        ..Default::default()
    };
    assert_eq!(
        text(&path, &stamped),
        "2023-11-14T22:13:22.000000000Z four\n"
    );
    let since = ReadOptions {
        since: Some(at(2)),
        ..Default::default()
    };
    assert_eq!(text(&path, &since), "ee\nfour\n");
    assert_eq!(last_lines(&path, 3), vec!["two", "three", "four"]);
}

#[test]
fn rotation_keeps_old_files_and_tail_reads_across_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.log");
    let mut w = LogWriter::open(&path, 200, 2).unwrap();
    for i in 0..40 {
        w.write_at(format!("line {i}\n").as_bytes(), at(i)).unwrap();
    }
    let all = files(&path);
    assert_eq!(all.len(), 3, "{all:?}");
    assert_eq!(all[2], path);
    let got = text(
        &path,
        &ReadOptions {
            tail: Some(6),
            ..Default::default()
        },
    );
    assert_eq!(
        got,
        (34..40).map(|i| format!("line {i}\n")).collect::<String>()
    );
    // Everything still on disk is in order.
    let everything = text(&path, &ReadOptions::default());
    assert!(everything.ends_with("line 38\nline 39\n"), "{everything}");
    remove(&path);
    assert!(files(&path).is_empty());
}

#[test]
fn tail_reads_backwards_over_many_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.log");
    let mut w = LogWriter::open(&path, u64::MAX, KEEP).unwrap();
    let long = "x".repeat(1000);
    for i in 0..500 {
        w.write_at(format!("{i} {long}\n").as_bytes(), at(0))
            .unwrap();
    }
    let got = text(
        &path,
        &ReadOptions {
            tail: Some(100),
            ..Default::default()
        },
    );
    let lines: Vec<&str> = got.lines().collect();
    assert_eq!(lines.len(), 100);
    assert!(lines[0].starts_with("400 ") && lines[99].starts_with("499 "));
}

#[test]
fn a_follower_sees_new_output_and_survives_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.log");
    let mut w = LogWriter::open(&path, 120, 1).unwrap();
    w.write_at(b"before\n", at(0)).unwrap();
    let mut f = Follower::new(&path, end(&path), false);
    assert!(f.poll().unwrap().is_empty());
    w.write_at(b"after 1\n", at(1)).unwrap();
    assert_eq!(f.poll().unwrap(), b"after 1\n");
    // "after 2" fills the file past 120 bytes: it rotates, and "after 3" starts a new one.
    for i in 2..4 {
        w.write_at(format!("after {i}\n").as_bytes(), at(i))
            .unwrap();
    }
    assert_eq!(files(&path).len(), 2);
    assert_eq!(f.poll().unwrap(), b"after 2\nafter 3\n");
    w.write_at(b"after 4\n", at(4)).unwrap();
    assert_eq!(f.poll().unwrap(), b"after 4\n");
}

#[test]
fn history_taken_before_the_file_existed_leaves_it_all_to_the_follower() {
    // `prisn logs -f` right after a deploy: the snapshot sees no file, the job writes its
    // line, then history is read and the follower starts. The line must come out once.
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("job.log");
    let snapshot = end(&path);
    std::fs::write(&path, "2026-01-01T00:00:00.000000000Z F failing\n").unwrap();
    for tail in [None, Some(10)] {
        let opts = ReadOptions {
            tail,
            ..Default::default()
        };
        assert_eq!(read(&path, &opts, snapshot).unwrap(), b"", "tail {tail:?}");
    }
    let mut follower = Follower::new(&path, snapshot, false);
    assert_eq!(follower.poll().unwrap(), b"failing\n");
}

#[test]
fn a_follower_misses_nothing_when_the_log_rotates_twice_between_polls() {
    // At ~100 MB/s the log rotates more than once between two polls (issue 13, item 8).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fast.log");
    let mut w = LogWriter::open(&path, 100, 3).unwrap();
    w.write_at(b"line 0\n", at(0)).unwrap();
    let mut f = Follower::new(&path, end(&path), false);
    let mut seen = Vec::new();
    for round in 0..3 {
        // Each line is ~40 bytes in the file: 8 lines make about three files.
        for i in 1..=8 {
            let n = round * 8 + i;
            w.write_at(format!("line {n}\n").as_bytes(), at(n)).unwrap();
        }
        seen.extend(f.poll().unwrap());
    }
    let expected: String = (1..=24).map(|n| format!("line {n}\n")).collect();
    assert_eq!(String::from_utf8_lossy(&seen), expected);
}

#[test]
fn a_follower_that_began_before_the_first_file_skips_the_history() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.log");
    // History: a rotated file and no current one (e.g. a removed current file).
    std::fs::write(rotated(&path, 1), "2026-01-01T00:00:00.000000000Z F old\n").unwrap();
    let mut f = Follower::new(&path, end(&path), false);
    let mut w = LogWriter::open(&path, 100, 3).unwrap();
    for n in 1..=4 {
        w.write_at(format!("new {n}\n").as_bytes(), at(n)).unwrap();
    }
    assert_eq!(
        String::from_utf8_lossy(&f.poll().unwrap()),
        "new 1\nnew 2\nnew 3\nnew 4\n"
    );
}

#[test]
fn a_position_is_written_and_read_back_and_garbage_is_refused() {
    let p = Position {
        file: FileId {
            ino: 1234,
            born: 1_796_007_350_573_002_220,
        },
        offset: u64::MAX,
    };
    assert_eq!(
        p.to_string(),
        "1234-1796007350573002220-18446744073709551615"
    );
    assert_eq!(Position::parse(&p.to_string()), Ok(p));
    assert_eq!(Position::parse("0-0-0"), Ok(START));
    let long = "9".repeat(5000);
    for bad in [
        "",
        "1-2",
        "1-2-3-4",
        "-1-2-3",
        "1--2-3",
        "1-2-+3",
        " 1-2-3",
        "1-2-3\n",
        "1-2-18446744073709551616",
        "../../etc/passwd",
        "1-2-../3",
        "a-b-c",
        "１-2-3",
        long.as_str(),
    ] {
        let err = Position::parse(bad).unwrap_err();
        assert_eq!(err.value, bad.chars().take(64).collect::<String>());
        assert!(err.to_string().contains("invalid log position"), "{err}");
    }
}

/// A log whose files hold `line 0` … `line 39`, ~120 bytes a file, two rotated files kept.
fn rotating_log(dir: &Path) -> (PathBuf, LogWriter) {
    let path = dir.join("resume.log");
    let w = LogWriter::open(&path, 120, 2).unwrap();
    (path, w)
}

fn follow_all(f: &mut Follower) -> String {
    String::from_utf8(f.poll().unwrap()).unwrap()
}

#[test]
fn resuming_from_a_position_in_a_rotated_file_gives_exactly_the_lines_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut w) = rotating_log(dir.path());
    w.write_at(b"line 0\n", at(0)).unwrap();
    let mut f = Follower::new(&path, START, false);
    assert_eq!(follow_all(&mut f), "line 0\n");
    w.write_at(b"line 1\n", at(1)).unwrap();
    assert_eq!(follow_all(&mut f), "line 1\n");
    let cursor = f.position().to_string();
    // The cursor's file rotates (to .1, then to .2) while nobody follows.
    for i in 2..8 {
        w.write_at(format!("line {i}\n").as_bytes(), at(i)).unwrap();
    }
    assert_eq!(files(&path).len(), 3);
    let from = Position::parse(&cursor).unwrap();
    let oldest = std::fs::metadata(&files(&path)[0]).unwrap();
    assert!(from.is_in(&oldest), "{cursor} lies in the oldest file now");
    let mut resumed = Follower::new(&path, from, false);
    assert!(!resumed.lost());
    let expected: String = (2..8).map(|i| format!("line {i}\n")).collect();
    assert_eq!(follow_all(&mut resumed), expected);
    // And it follows on from there.
    w.write_at(b"line 8\n", at(8)).unwrap();
    assert_eq!(follow_all(&mut resumed), "line 8\n");
}

#[test]
fn resuming_from_a_position_whose_file_rotated_out_starts_at_the_oldest_file_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut w) = rotating_log(dir.path());
    w.write_at(b"line 0\n", at(0)).unwrap();
    let cursor = end(&path);
    for i in 1..40 {
        w.write_at(format!("line {i}\n").as_bytes(), at(i)).unwrap();
    }
    let mut resumed = Follower::new(&path, cursor, false);
    assert!(resumed.lost(), "{cursor} rotated out");
    // Everything still on disk, in order, once.
    assert_eq!(
        follow_all(&mut resumed),
        text(&path, &ReadOptions::default())
    );
    // A later file that reuses the inode is not the cursor's file.
    let current = std::fs::metadata(&path).unwrap();
    let id = FileId::of(&current);
    assert_ne!(
        id.born, 0,
        "this test needs a file system that records birth times"
    );
    let reused = Position {
        file: FileId {
            ino: id.ino,
            born: id.born - 1,
        },
        offset: 0,
    };
    assert!(Follower::new(&path, reused, false).lost());
    // The start of a log is not a lost position.
    assert!(!Follower::new(&path, START, false).lost());
}

#[test]
fn the_end_of_a_log_being_written_is_the_end_of_its_last_complete_line() {
    // A reader can see part of a write (one that crosses a page, say): history and
    // follower must meet at a line boundary, or the follower prints the rest as a line.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.log");
    let whole = "2026-01-01T00:00:00.000000000Z P n\n";
    std::fs::write(&path, format!("{whole}2026-01-01T00:00:01.000000000Z P n")).unwrap();
    let at = end(&path);
    assert_eq!(at.offset, whole.len() as u64);
    assert_eq!(read(&path, &ReadOptions::default(), at).unwrap(), b"n");
    let mut f = Follower::new(&path, at, false);
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(b"\n2026-01-01T00:00:02.000000000Z F  1\n")
        .unwrap();
    assert_eq!(f.poll().unwrap(), b"n 1\n");
}

#[test]
fn resuming_after_a_piece_of_a_line_does_not_stamp_its_rest_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.log");
    let mut w = LogWriter::open(&path, MAX_BYTES, KEEP).unwrap();
    w.write_at(b"one\npro", at(1)).unwrap();
    let mut f = Follower::new(&path, START, true);
    assert_eq!(
        String::from_utf8(f.poll().unwrap()).unwrap(),
        "2023-11-14T22:13:21.000000000Z one\n2023-11-14T22:13:21.000000000Z pro"
    );
    let cursor = f.position();
    w.write_at(b"gress\ntwo\n", at(2)).unwrap();
    let mut resumed = Follower::new(&path, cursor, true);
    assert_eq!(
        String::from_utf8(resumed.poll().unwrap()).unwrap(),
        "gress\n2023-11-14T22:13:22.000000000Z two\n"
    );
}
