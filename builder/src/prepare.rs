//! The whole local pipeline in one call: script → analyze → lock → environment. `prisn run`,
//! `prisn build` (without an image) and local mode all go through here.

use std::path::{Path, PathBuf};

use crate::Result;
use crate::analyze::{self, Requirements};
use crate::env::{self, Env, Interpreter};
use crate::home::Home;
use crate::interpreter;
use crate::lock::{self, EnsureOptions, LockOutcome};
use crate::reporter::Reporter;
use crate::script::{self, Runtime, Script};
use crate::store::Store;

/// What to prepare and how.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub entrypoint: Option<String>,
    /// The Python interpreter (default: python3 on PATH).
    pub python: Option<PathBuf>,
    pub lock: EnsureOptions,
}

/// A script with its fresh lock (the environment is not built yet).
#[derive(Debug, Clone)]
pub struct Resolved {
    pub script: Script,
    pub requirements: Requirements,
    pub lock: LockOutcome,
    pub interpreter: Interpreter,
}

/// Read, analyse and lock `path` (no install).
///
/// # Errors
/// Any stage's error: missing script, bad declaration, lock refused, resolver failure.
pub fn resolve(
    path: &Path,
    opts: &Options,
    home: &Home,
    reporter: &dyn Reporter,
) -> Result<Resolved> {
    let script = script::read(path, opts.entrypoint.as_deref())?;
    let requirements = analyze::analyze(&script)?;
    let interpreter = match script.runtime {
        Runtime::Python3 => Interpreter::Python(interpreter::python(opts.python.as_deref(), home)?),
        Runtime::Node => Interpreter::Node(interpreter::node()?),
        Runtime::Bash => Interpreter::Bash,
    };
    crate::timings::mark("host interpreter found");
    let python = match &interpreter {
        Interpreter::Python(p) => Some(p),
        _ => None,
    };
    let lock = lock::ensure(&script, &requirements, python, home, &opts.lock, reporter)?;
    crate::timings::mark("lock checked");
    Ok(Resolved {
        script,
        requirements,
        lock,
        interpreter,
    })
}

/// Read, analyse, lock and install `path` into the store.
///
/// # Errors
/// As [`resolve`], plus install failures.
pub fn prepare(
    path: &Path,
    opts: &Options,
    home: &Home,
    reporter: &dyn Reporter,
) -> Result<(Resolved, Env)> {
    let resolved = resolve(path, opts, home, reporter)?;
    let env = env::ensure(
        &Store::new(home),
        &resolved.script,
        &resolved.requirements,
        &resolved.lock.section,
        &resolved.interpreter,
        reporter,
    )?;
    Ok((resolved, env))
}
