//! Typed requests (ripgrep's "high-level args"): what a command asks the library for, after
//! its flags were parsed and checked. Nothing here knows clap; the backends see only these.

use std::time::Duration;

use prisn_api::schedule::Seconds;
use prisn_api::{Concurrency, Isolation, Kind, Network};
use serde::{Deserialize, Serialize};

use crate::context::Mode;
use crate::image::BuildFlags;

/// Which script, and how to lock and prepare it.
#[derive(Debug, Clone)]
pub struct ScriptRequest {
    /// A script file or a project directory.
    pub path: std::path::PathBuf,
    /// The builder's options: entrypoint, interpreter, lock mode.
    pub prepare: prisn_builder::prepare::Options,
}

/// `--storage NAME=/PATH[:SIZE]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageRequest {
    pub name: String,
    pub path: String,
    pub size: Option<String>,
}

/// Everything `prisn deploy` (and `prisn run --detach`) accepts, typed: the name is valid
/// (checked by the command), the kind is decided; [`check`] checks the rest for the mode.
#[derive(Debug, Clone)]
pub struct DeployRequest {
    pub script: ScriptRequest,
    /// A DNS-1035 label.
    pub name: String,
    /// App unless `--schedule` (CronJob) or `--once` (Job).
    pub kind: Kind,
    pub port: Option<u16>,
    pub replicas: u32,
    pub schedule: Option<String>,
    pub concurrency: Concurrency,
    pub env: Vec<(String, String)>,
    pub args: Vec<String>,
    pub storage: Vec<StorageRequest>,
    /// Kubernetes quantities: `500m`, `2`.
    pub cpu: Option<String>,
    /// Kubernetes quantities: `256Mi`.
    pub memory: Option<String>,
    /// Wait this long for the app to be ready (a job to start); None returns at once.
    pub wait: Option<Duration>,
    /// Check and report; change no deployment.
    pub dry_run: bool,
    /// Local mode only.
    pub isolation: Option<Isolation>,
    /// Local mode only.
    pub network: Network,
    /// How to build the image (Kubernetes mode; local mode builds none).
    pub build: BuildFlags,
    /// Kubernetes mode: ship the code as a `<name>-code` ConfigMap even when a registry is
    /// configured (`--source configmap`).
    pub configmap: bool,
    /// Replace a workload of this name that runs another source (local mode).
    pub replace: bool,
    /// A job: wait until it has ended, not only started (`deploy --once --wait`; local mode).
    pub until_done: bool,
    /// When the new release is not ready within `wait`, return to the previous one and fail.
    pub rollback_on_failure: bool,
    /// Kubernetes mode: deploy this prisn image (`REF@sha256:…`) instead of building `script`.
    pub image: Option<String>,
}

/// Check what the flags cannot: the schedule in the grammar of the mode (a seconds field only
/// locally: Kubernetes refuses it with the operator's own words), the quantities, the name.
/// Runs before anything is built or pushed.
///
/// # Errors
/// The first invalid value, named, with what to write instead.
pub fn check(req: &DeployRequest, mode: Mode) -> anyhow::Result<()> {
    prisn_local::name::validate(&req.name)?;
    if let Some(s) = &req.schedule {
        match mode {
            Mode::Kubernetes => {
                prisn_api::schedule::parse(s, Seconds::Refused)?;
            }
            // The daemon runs the schedule (here or behind the remote server).
            Mode::Local | Mode::Remote => {
                prisn_local::cron::parse(s)?;
            }
        }
    }
    if let Some(m) = &req.memory {
        prisn_local::quantity::memory(m)?;
    }
    if let Some(c) = &req.cpu {
        prisn_local::quantity::cpu(c)?;
    }
    Ok(())
}

/// `name=/path[:size]` → a storage request.
///
/// # Errors
/// A malformed flag, naming it and showing the form.
pub fn parse_storage(flag: &str) -> anyhow::Result<StorageRequest> {
    let usage = "expected NAME=/MOUNT/PATH[:SIZE], e.g. --storage data=/var/lib/app:1Gi";
    let Some((name, rest)) = flag.split_once('=') else {
        anyhow::bail!("invalid --storage {flag:?}: {usage}");
    };
    let (path, size) = match rest.rsplit_once(':') {
        Some((p, s)) if !s.contains('/') => (p, Some(s.to_string())),
        _ => (rest, None),
    };
    if name.is_empty() || !path.starts_with('/') || size.as_deref() == Some("") {
        anyhow::bail!("invalid --storage {flag:?}: {usage}");
    }
    Ok(StorageRequest {
        name: name.to_string(),
        path: path.to_string(),
        size,
    })
}

/// `KEY=VALUE` pairs from `-e`.
///
/// # Errors
/// A pair without `=` or with an empty key.
pub fn parse_env(pairs: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    pairs
        .iter()
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => anyhow::bail!("invalid --env {pair:?}: expected KEY=VALUE, e.g. -e PORT=8080"),
        })
        .collect()
}

/// `my_script.py` → `my-script`: the name a script deploys as when `--name` is not given.
///
/// # Errors
/// When no valid name can be derived (the user must pass --name).
pub fn derive_name(script: &std::path::Path) -> anyhow::Result<String> {
    let stem = if script.is_dir() {
        std::fs::canonicalize(script)
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
    } else {
        script.file_stem().map(|n| n.to_string_lossy().into_owned())
    }
    .unwrap_or_default();
    Ok(prisn_local::name::derive(&stem)?)
}

/// Check a name given with --name.
///
/// # Errors
/// Not a DNS-1035 label (the message says what is wrong and suggests one).
pub fn check_name(name: &str) -> anyhow::Result<()> {
    Ok(prisn_local::name::validate(name)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_derive_from_scripts() {
        assert_eq!(
            derive_name(std::path::Path::new("dir/my_script.py")).unwrap(),
            "my-script"
        );
        assert_eq!(
            derive_name(std::path::Path::new("Big Job!.sh")).unwrap(),
            "big-job"
        );
        assert!(derive_name(std::path::Path::new("2fa.py")).is_err());
        assert!(
            check_name("My_App")
                .unwrap_err()
                .to_string()
                .contains("DNS-1035")
        );
    }

    #[test]
    fn storage_flags_parse() {
        assert_eq!(
            parse_storage("data=/var/lib/app:1Gi").unwrap(),
            StorageRequest {
                name: "data".into(),
                path: "/var/lib/app".into(),
                size: Some("1Gi".into())
            }
        );
        assert_eq!(parse_storage("cache=/cache").unwrap().size, None);
        for bad in ["data", "=/x", "data=relative", "data=/x:"] {
            assert!(parse_storage(bad).is_err(), "{bad}");
        }
    }
}
