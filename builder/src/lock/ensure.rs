//! Keep prisn.lock in step with the declarations: use it when fresh, refuse when asked to
//! (`--locked`, `--frozen`), resolve again otherwise. Writes are serialised across
//! processes by a lock file under `$PRISN_HOME/locks/`.

use std::path::{Path, PathBuf};
use std::str::FromStr;

pub use super::resolve::Target;
use super::resolve::{self, PyTool};
use super::{BasePin, LockFile, LockSection};
use crate::analyze::{self, Requirements};
use crate::fslock::FileLock;
use crate::home::Home;
use crate::interpreter::Python;
use crate::reporter::Reporter;
use crate::script::{Runtime, Script};
use crate::{Error, Result};

/// What to do with a missing or stale lock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LockMode {
    /// Resolve again when missing or stale (the default).
    #[default]
    Refresh,
    /// Fail when missing or stale (`--locked`).
    Locked,
    /// Use what is there even if stale; fail only when missing (`--frozen`).
    Frozen,
}

/// Options of [`ensure`].
#[derive(Debug, Clone, Default)]
pub struct EnsureOptions {
    pub mode: LockMode,
    /// Resolve again even if fresh, at a new date.
    pub upgrade: bool,
    /// The `exclude-newer` instant to resolve at (default: the recorded one, else now).
    pub exclude_newer: Option<String>,
    /// Write a section even when nothing is declared (`prisn lock` does).
    pub write_empty: bool,
}

/// The lock section to use and what happened to get it.
#[derive(Debug, Clone)]
pub struct LockOutcome {
    pub section: LockSection,
    /// prisn.lock was (re)written.
    pub written: bool,
    pub path: PathBuf,
}

/// Why a lock is not fresh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Freshness {
    Fresh,
    Missing,
    Stale(String),
}

/// Where `script`'s lock lives.
pub fn lock_path(script: &Script) -> PathBuf {
    script.root.join("prisn.lock")
}

/// The lock section `script` needs, resolving and writing prisn.lock as `opts.mode` allows.
/// `python` is required for Python scripts with dependencies.
///
/// # Errors
/// A corrupt lock, a refused `--locked`/`--frozen`, requires-python not met, or the
/// resolver's explanation.
pub fn ensure(
    script: &Script,
    req: &Requirements,
    python: Option<&Python>,
    home: &Home,
    opts: &EnsureOptions,
    reporter: &dyn Reporter,
) -> Result<LockOutcome> {
    let path = lock_path(script);
    if let (Runtime::Python3, Some(py)) = (script.runtime, python) {
        check_requires_python(req, py, &path)?;
    }
    let target = python.map(Target::for_python);
    let existing = LockFile::read(&path)?;
    let current = existing
        .as_ref()
        .and_then(|f| f.scripts.get(&script.entrypoint));
    let freshness = freshness(current, req, target.as_ref());
    let done = |section: LockSection, written| LockOutcome {
        section,
        written,
        path: path.clone(),
    };

    if freshness == Freshness::Fresh && !opts.upgrade {
        return Ok(done(
            current.cloned().expect("fresh implies present"),
            false,
        ));
    }
    if req.is_empty() && current.is_none() && !opts.write_empty {
        // Nothing declared and nothing recorded: no lock file is needed at all.
        return Ok(done(empty_section(req), false));
    }
    match (opts.mode, &freshness, current) {
        (LockMode::Frozen, _, Some(section)) => return Ok(done(section.clone(), false)),
        (LockMode::Frozen | LockMode::Locked, Freshness::Missing, _) => {
            return Err(Error::lock_state(
                format!("{} has no lock for {}", path.display(), script.entrypoint),
                format!(
                    "run `prisn lock {}` and commit prisn.lock",
                    script.entry_path().display()
                ),
            ));
        }
        (LockMode::Locked, Freshness::Stale(why), _) => {
            return Err(Error::lock_state(
                format!(
                    "{} is stale for {}: {why}",
                    path.display(),
                    script.entrypoint
                ),
                format!(
                    "run `prisn lock {}` to update it",
                    script.entry_path().display()
                ),
            ));
        }
        _ => {}
    }

    // Resolve under the lock file's cross-process lock, after reading it again: concurrent
    // first runs of one script then resolve once, and all use that one resolution (each
    // resolving on its own would stamp its own `exclude-newer` and lock digest).
    let _guard = FileLock::exclusive(&guard_path(script, home))?;
    let existing = LockFile::read(&path)?;
    let current = existing
        .as_ref()
        .and_then(|f| f.scripts.get(&script.entrypoint));
    if !opts.upgrade
        && let Some(section) = current
        && self::freshness(Some(section), req, target.as_ref()) == Freshness::Fresh
    {
        return Ok(done(section.clone(), false));
    }
    let exclude_newer = opts
        .exclude_newer
        .clone()
        .or_else(|| {
            current
                .filter(|_| !opts.upgrade)
                .and_then(|s| s.exclude_newer.clone())
        })
        .unwrap_or_else(now_rfc3339);
    let mut section = match script.runtime {
        Runtime::Bash => empty_section(req),
        Runtime::Node => resolve::resolve_node(script, req, &exclude_newer, reporter)?.0,
        Runtime::Python3 if req.requirements.is_empty() => empty_section(req),
        Runtime::Python3 => {
            let python = python.ok_or_else(|| {
                Error::tool(
                    "a Python interpreter is needed to lock Python dependencies".into(),
                    None,
                )
            })?;
            let target = target.clone().unwrap_or_else(|| Target::for_python(python));
            resolve::resolve_python(
                script,
                req,
                &target,
                &exclude_newer,
                &PyTool::find(python),
                reporter,
            )?
        }
    };
    section.base = current.and_then(|s| s.base.clone());
    let mut file = existing.unwrap_or_default();
    file.scripts
        .insert(script.entrypoint.clone(), section.clone());
    file.write(&path)?;
    Ok(done(section, true))
}

/// Whether `script`'s lock is fresh, without resolving anything.
///
/// # Errors
/// A corrupt lock.
pub fn check(script: &Script, req: &Requirements, python: Option<&Python>) -> Result<Freshness> {
    let existing = LockFile::read(&lock_path(script))?;
    let current = existing
        .as_ref()
        .and_then(|f| f.scripts.get(&script.entrypoint));
    let target = python.map(Target::for_python);
    Ok(freshness(current, req, target.as_ref()))
}

/// Record the base image pin of `script`'s section in prisn.lock, creating the section for
/// a script that declares nothing.
///
/// # Errors
/// A corrupt lock or an unwritable directory.
pub fn record_base(script: &Script, pin: BasePin, home: &Home) -> Result<()> {
    let req = analyze::analyze(script)?;
    update(script, home, |file| {
        let section = file
            .scripts
            .entry(script.entrypoint.clone())
            .or_insert_with(|| empty_section(&req));
        section.base = Some(pin);
        Ok(())
    })
}

/// Read-modify-write prisn.lock under the cross-process lock.
fn update(
    script: &Script,
    home: &Home,
    change: impl FnOnce(&mut LockFile) -> Result<()>,
) -> Result<()> {
    let path = lock_path(script);
    let _guard = FileLock::exclusive(&guard_path(script, home))?;
    let mut file = LockFile::read(&path)?.unwrap_or_default();
    change(&mut file)?;
    file.write(&path)
}

/// The cross-process lock of `script`'s prisn.lock (one per lock file path).
fn guard_path(script: &Script, home: &Home) -> PathBuf {
    let key = crate::digest::sha256_hex(lock_path(script).to_string_lossy().as_bytes());
    home.root()
        .join("locks")
        .join(format!("lock-{}.lock", &key[..16]))
}

fn freshness(
    current: Option<&LockSection>,
    req: &Requirements,
    target: Option<&Target>,
) -> Freshness {
    let Some(section) = current else {
        return Freshness::Missing;
    };
    if section.inputs != req.input_hash() {
        return Freshness::Stale("the declared dependencies changed since it was written".into());
    }
    if section.runtime == Runtime::Python3
        && !section.packages.is_empty()
        && let Some(t) = target
    {
        if section.python.as_deref() != Some(t.python.as_str()) {
            return Freshness::Stale(format!(
                "it was resolved for Python {}, the interpreter is Python {}",
                section.python.as_deref().unwrap_or("?"),
                t.python
            ));
        }
        if section.platform.as_deref() != Some(t.platform.as_str()) {
            return Freshness::Stale(format!(
                "it was resolved for {}, not {}",
                section.platform.as_deref().unwrap_or("?"),
                t.platform
            ));
        }
    }
    Freshness::Fresh
}

/// The section of a script that needs nothing installed.
pub fn empty_section(req: &Requirements) -> LockSection {
    LockSection {
        runtime: req.runtime,
        inputs: req.input_hash(),
        requires_python: req.requires_python.clone(),
        python: None,
        platform: None,
        exclude_newer: None,
        resolver: "none".into(),
        base: None,
        packages: Vec::new(),
    }
}

fn check_requires_python(req: &Requirements, python: &Python, file: &Path) -> Result<()> {
    let Some(spec) = &req.requires_python else {
        return Ok(());
    };
    let specs = pep440_rs::VersionSpecifiers::from_str(spec).map_err(|e| Error::Declaration {
        file: file.to_path_buf(),
        line: 1,
        message: format!("invalid requires-python {spec:?}: {e}"),
        hint: None,
    })?;
    let version = pep440_rs::Version::from_str(&python.version)
        .map_err(|e| Error::tool(format!("odd Python version {}: {e}", python.version), None))?;
    if specs.contains(&version) {
        return Ok(());
    }
    let origin = match &req.origin {
        analyze::Origin::Pep723(p)
        | analyze::Origin::Pyproject(p)
        | analyze::Origin::RequirementsTxt(p)
        | analyze::Origin::PackageJson(p) => p.clone(),
        analyze::Origin::None => file.to_path_buf(),
    };
    Err(Error::PythonMismatch {
        interpreter: python.executable.clone(),
        version: python.version.clone(),
        wanted: spec.clone(),
        file: origin,
    })
}

/// Now, to the second, as RFC 3339 UTC (`2026-11-26T11:40:12Z`).
fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}
