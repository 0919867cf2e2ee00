//! A fresh PRISN_HOME and work directory per test, and a `prisn` command bound to them.

#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct TestContext {
    pub home: tempfile::TempDir,
    pub work: tempfile::TempDir,
}

impl TestContext {
    pub fn new() -> TestContext {
        TestContext {
            home: tempfile::tempdir().expect("temp home"),
            work: tempfile::tempdir().expect("temp work dir"),
        }
    }

    /// `prisn` with PRISN_HOME set, run in the work dir, no progress bars.
    pub fn prisn(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_prisn"));
        cmd.env("PRISN_HOME", self.home.path())
            .env_remove("PRISN_CONTEXT")
            .env_remove("RUST_LOG")
            .current_dir(self.work.path());
        cmd
    }

    /// Run `prisn args…` and return its output.
    pub fn run(&self, args: &[&str]) -> Output {
        self.prisn().args(args).output().expect("prisn runs")
    }

    /// Write a file under the work dir.
    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let path = self.work.path().join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, text).unwrap();
        path
    }

    /// Copy `examples/<name>` (file or directory, without its prisn.lock) into the work dir.
    pub fn example(&self, name: &str) -> PathBuf {
        let from = repo_root().join("examples").join(name);
        let to = self.work.path().join(name);
        copy_tree(&from, &to);
        to
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.work.path().join(rel)
    }

    /// Complete store entries (`<hash>-<name>` directories).
    pub fn store_entries(&self) -> Vec<String> {
        let mut out: Vec<String> = fs::read_dir(self.home.path().join("store"))
            .map(|r| {
                r.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| !n.starts_with('.'))
                    .collect()
            })
            .unwrap_or_default();
        out.sort();
        out
    }
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn copy_tree(from: &Path, to: &Path) {
    if from.is_dir() {
        fs::create_dir_all(to).unwrap();
        for entry in fs::read_dir(from).unwrap().flatten() {
            let name = entry.file_name();
            if name == "prisn.lock" || name == "node_modules" {
                continue;
            }
            copy_tree(&entry.path(), &to.join(name));
        }
    } else {
        fs::create_dir_all(to.parent().unwrap()).unwrap();
        fs::copy(from, to).unwrap();
    }
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Assert success, showing stderr when not.
#[track_caller]
pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "prisn failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        stdout(out),
        stderr(out)
    );
    stdout(out)
}

/// Assert failure and return stderr.
#[track_caller]
pub fn fails(out: &Output) -> String {
    assert!(
        !out.status.success(),
        "prisn should have failed:\nstdout: {}\nstderr: {}",
        stdout(out),
        stderr(out)
    );
    stderr(out)
}

/// A Python's version, as the tests derive paths and messages from it (never hard-coded:
/// another Debian release or interpreter ships another one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PythonVersion {
    pub major: u32,
    pub minor: u32,
}

impl PythonVersion {
    /// `3.11`
    pub fn minor_version(&self) -> String {
        format!("{}.{}", self.major, self.minor)
    }
    /// `python3.11`: the directory under `lib/`.
    pub fn lib_dir(&self) -> String {
        format!("python{}.{}", self.major, self.minor)
    }
    /// `cpython-311`: the bytecode cache tag (`sys.implementation.cache_tag`).
    pub fn cache_tag(&self) -> String {
        format!("cpython-{}{}", self.major, self.minor)
    }
    /// Parse `3.11` (or `3.11.7`).
    pub fn parse(text: &str) -> PythonVersion {
        let mut parts = text.trim().split('.');
        let mut next = || {
            parts
                .next()
                .and_then(|p| p.parse().ok())
                .unwrap_or_else(|| panic!("not a Python version: {text:?}"))
        };
        PythonVersion {
            major: next(),
            minor: next(),
        }
    }
}

/// The `python3` on PATH: what prisn builds store environments for by default.
pub fn host_python() -> PythonVersion {
    static HOST: std::sync::OnceLock<PythonVersion> = std::sync::OnceLock::new();
    HOST.get_or_init(|| {
        let out = Command::new("python3")
            .args(["-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
            .output()
            .expect("python3 on PATH");
        assert!(out.status.success(), "python3: {}", stderr(&out));
        PythonVersion::parse(&stdout(&out))
    })
    .clone()
}
