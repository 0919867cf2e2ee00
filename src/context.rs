//! Contexts: where `deploy`, `get`, `logs`… act. Kept in `$PRISN_HOME/config.toml` (mode
//! 0600: it may hold a server token). Resolution: `--context`, then `PRISN_CONTEXT`, then
//! `current_context`, then local mode on this machine.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};

/// Where workloads run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Processes on this machine, supervised by `prisn daemon`, state in SQLite.
    #[default]
    Local,
    /// A prisn server reached over HTTPS.
    Remote,
    /// PrisnApp / PrisnJob / PrisnCronJob objects in a Kubernetes cluster.
    Kubernetes,
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mode::Local => "local",
            Mode::Remote => "remote",
            Mode::Kubernetes => "kubernetes",
        })
    }
}

/// One named context.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Context {
    pub name: String,
    pub mode: Mode,
    /// kubeconfig context to use; empty = the kubeconfig's current one.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kube_context: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// Remote mode: the server URL.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub server: String,
    /// Remote mode: the bearer token.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub token: String,
    /// Remote mode: `sha256:<hex>` of the server certificate's public key (SPKI), as
    /// `prisn server init` prints it; the client trusts that key and no other.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub fingerprint: String,
    /// Where `deploy` pushes images (`HOST[:PORT]/PREFIX`); empty = ConfigMap sources.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub registry: String,
    /// `deploy` behaves as with `--rollback-on-failure` (unless `--no-rollback-on-failure`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rollback_on_failure: bool,
    /// Base image per runtime for images built in this context (`python3` → the team's
    /// `prisn base` image); before `[base]` in config.toml, after `--base`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub base: BTreeMap<String, String>,
}

impl Context {
    /// The settings that belong to the context's mode and no other: a remote context needs a
    /// server; the server and token mean nothing to a local or Kubernetes context, nor a
    /// kubeconfig context to a local or remote one. Refused at `context add`, and when a
    /// hand-edited config.toml is used.
    ///
    /// # Errors
    /// The first setting that does not fit, naming the context and what to do.
    pub fn check(&self) -> anyhow::Result<()> {
        let name = &self.name;
        let misplaced = |flag: &str, belongs: &str| {
            anyhow::anyhow!(
                "context {name:?} is in {} mode, but {flag} is only for {belongs} contexts; remove it (or add the context with --mode {belongs})",
                self.mode
            )
        };
        match self.mode {
            Mode::Remote if self.server.is_empty() => bail!(
                "context {name:?} is in remote mode but has no server; add it with `prisn context add {name} --mode remote --server HOST:PORT --token TOKEN`"
            ),
            Mode::Remote if !self.kube_context.is_empty() => {
                Err(misplaced("--kube-context", "kubernetes"))
            }
            Mode::Local | Mode::Kubernetes if !self.server.is_empty() => {
                Err(misplaced("--server", "remote"))
            }
            Mode::Local | Mode::Kubernetes if !self.token.is_empty() => {
                Err(misplaced("--token", "remote"))
            }
            Mode::Local if !self.kube_context.is_empty() => {
                Err(misplaced("--kube-context", "kubernetes"))
            }
            _ => Ok(()),
        }
    }
}

/// Per-registry transport settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistrySettings {
    /// Plain HTTP (or unverified TLS) for this registry.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
    /// A PEM file with the CA that signed the registry's certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<PathBuf>,
}

/// `$PRISN_HOME/config.toml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub current_context: String,
    #[serde(default)]
    pub contexts: BTreeMap<String, Context>,
    /// Keyed by registry host[:port].
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub registries: BTreeMap<String, RegistrySettings>,
    /// Base image per runtime (`python3`, `node`, `bash`), e.g. a private mirror.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub base: BTreeMap<String, String>,
}

impl Config {
    pub fn path(home: &prisn_builder::home::Home) -> PathBuf {
        home.root().join("config.toml")
    }

    /// Read the config; a missing file is an empty config.
    pub fn load(home: &prisn_builder::home::Home) -> anyhow::Result<Config> {
        let path = Self::path(home);
        match fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text).with_context(|| {
                format!(
                    "{} is not a valid prisn config; fix or delete it",
                    path.display()
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    /// Write atomically with mode 0600.
    pub fn save(&self, home: &prisn_builder::home::Home) -> anyhow::Result<()> {
        let path = Self::path(home);
        let dir = path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o600))?;
        std::io::Write::write_all(&mut tmp, toml::to_string_pretty(self)?.as_bytes())?;
        tmp.persist(&path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(())
    }

    /// The context the flags, the environment and the config select.
    ///
    /// # Errors
    /// A named context that does not exist ("context not found", listing the known ones).
    pub fn resolve(
        &self,
        flag: Option<&str>,
        namespace_flag: Option<&str>,
    ) -> anyhow::Result<Context> {
        let env = std::env::var("PRISN_CONTEXT")
            .ok()
            .filter(|s| !s.is_empty());
        let chosen = flag
            .map(str::to_string)
            .or(env)
            .or_else(|| Some(self.current_context.clone()).filter(|s| !s.is_empty()));
        let mut ctx = match chosen {
            None => Context {
                name: "local".into(),
                mode: Mode::Local,
                ..Default::default()
            },
            Some(name) => match self.contexts.get(&name) {
                Some(c) => {
                    c.check()?;
                    c.clone()
                }
                None if name == "local" => Context {
                    name: "local".into(),
                    mode: Mode::Local,
                    ..Default::default()
                },
                None => {
                    let known: Vec<_> = self.contexts.keys().cloned().collect();
                    bail!(
                        "context not found: {name:?} (known: {}); add it with `prisn context add {name} --mode kubernetes`",
                        if known.is_empty() {
                            "none".to_string()
                        } else {
                            known.join(", ")
                        }
                    );
                }
            },
        };
        let env_ns = std::env::var("PRISN_NAMESPACE")
            .ok()
            .filter(|s| !s.is_empty());
        if let Some(ns) = namespace_flag.map(str::to_string).or(env_ns) {
            ctx.namespace = ns;
        }
        Ok(ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        let mut c = Config::default();
        for (name, ns) in [("prod", "apps"), ("dev", "")] {
            c.contexts.insert(
                name.into(),
                Context {
                    name: name.into(),
                    mode: Mode::Kubernetes,
                    namespace: ns.into(),
                    ..Default::default()
                },
            );
        }
        c.current_context = "dev".into();
        c
    }

    // One test: it sets process-wide env vars.
    #[test]
    fn resolution_order_is_flag_env_current_then_local() {
        let c = config();
        unsafe {
            std::env::remove_var("PRISN_CONTEXT");
            std::env::remove_var("PRISN_NAMESPACE");
        }
        assert_eq!(c.resolve(None, None).unwrap().name, "dev");
        assert_eq!(c.resolve(Some("prod"), None).unwrap().namespace, "apps");
        unsafe { std::env::set_var("PRISN_CONTEXT", "prod") };
        assert_eq!(c.resolve(None, None).unwrap().name, "prod");
        assert_eq!(c.resolve(Some("dev"), None).unwrap().name, "dev");
        unsafe { std::env::set_var("PRISN_NAMESPACE", "team") };
        assert_eq!(c.resolve(None, None).unwrap().namespace, "team");
        assert_eq!(
            c.resolve(None, Some("flagged")).unwrap().namespace,
            "flagged"
        );
        unsafe {
            std::env::remove_var("PRISN_CONTEXT");
            std::env::remove_var("PRISN_NAMESPACE");
        }
        assert_eq!(
            Config::default().resolve(None, None).unwrap().mode,
            Mode::Local
        );
        let err = c.resolve(Some("staging"), None).unwrap_err().to_string();
        assert!(
            err.contains("context not found")
                && err.contains("dev, prod")
                && err.contains("prisn context add staging"),
            "{err}"
        );
    }
}
