//! Checks of a deploy body that the types cannot express: where its code, entrypoint and
//! environment may be. The daemon snapshots the code root and binds the environment into the
//! run, so a body that names `/etc` or `$PRISN_HOME` would hand the app files it must never
//! see. Unknown fields are refused by the types themselves (`deny_unknown_fields`).

use std::path::{Component, Path, PathBuf};

use crate::api::DeployBody;
use crate::paths::Paths;
use crate::{Error, Result};

/// Directories of the system that are never code: their files belong to the machine.
const SYSTEM: &[&str] = &[
    "/etc", "/proc", "/sys", "/dev", "/boot", "/run", "/var/run", "/usr", "/bin", "/sbin", "/lib",
    "/lib32", "/lib64", "/libx32",
];

/// Refuse a body whose entrypoint leaves its code, whose code root is a system directory,
/// whose files lead into the prisn home or the system, or whose environment is a system
/// directory or (in) the prisn home outside its store.
///
/// # Errors
/// [`Error::Invalid`] naming the field and the value.
pub(crate) fn deploy_body(paths: &Paths, body: &DeployBody) -> Result<()> {
    entrypoint(body)?;
    code_root(paths, body)?;
    env_dir(paths, &body.env_dir)
}

fn entrypoint(body: &DeployBody) -> Result<()> {
    let e = &body.code.entrypoint;
    let inside = !e.is_empty()
        && Path::new(e)
            .components()
            .all(|c| matches!(c, Component::Normal(_)));
    if !inside {
        return Err(Error::invalid(
            format!("code.entrypoint {e:?} is not a relative path inside the code"),
            Some("name the script relative to code.root, e.g. \"main.py\"".to_string()),
        ));
    }
    if !body.code.files.iter().any(|f| f == e) {
        return Err(Error::invalid(
            format!("code.entrypoint {e:?} is not one of code.files"),
            Some("list the entrypoint in code.files".to_string()),
        ));
    }
    Ok(())
}

fn code_root(paths: &Paths, body: &DeployBody) -> Result<()> {
    let root = &body.code.root;
    if !root.is_absolute() {
        return Err(Error::invalid(
            format!("code.root {} is not an absolute path", root.display()),
            None,
        ));
    }
    if is_system(&canonical(root)) {
        return Err(Error::invalid(
            format!(
                "code.root {} is a system directory, not a directory of code",
                root.display()
            ),
            Some("deploy a script or a project directory of your own".to_string()),
        ));
    }
    // A file may be a link: what counts is where it leads.
    let home = canonical(paths.root());
    for f in &body.code.files {
        let real = canonical(&root.join(f));
        if real.starts_with(&home) || is_system(&real) {
            return Err(Error::invalid(
                format!(
                    "code file {f:?} is {} ({})",
                    if is_system(&real) {
                        "a system file"
                    } else {
                        "in prisn's own home"
                    },
                    real.display()
                ),
                Some("deploy files of your own project".to_string()),
            ));
        }
    }
    Ok(())
}

fn is_system(real: &Path) -> bool {
    real == Path::new("/") || SYSTEM.iter().any(|s| real.starts_with(s))
}

fn env_dir(paths: &Paths, env: &Path) -> Result<()> {
    // The run sees its environment (bound read-only): it must not be a way to show it the
    // system's private files, prisn's home or what holds it. The CLI always sends a store
    // entry; tests and other clients may use a directory of their own.
    let store = canonical(&paths.home().store());
    let home = canonical(paths.root());
    let real = canonical(env);
    let in_store = real != store && real.starts_with(&store);
    let why = if in_store {
        return Ok(());
    } else if is_system(&real) {
        "a system directory"
    } else if real.starts_with(&home) {
        "in prisn's home but not an environment of its store"
    } else if home.starts_with(&real) {
        "a directory that holds prisn's home"
    } else {
        return Ok(());
    };
    Err(Error::invalid(
        format!("env_dir {} is {why}", env.display()),
        Some("let prisn build the environment (`prisn deploy` does)".to_string()),
    ))
}

fn canonical(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}
