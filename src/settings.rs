//! [`Settings`]: where a command acts, resolved once per command. `$PRISN_HOME`, its
//! `config.toml`, and the context in effect (`--context` > `PRISN_CONTEXT` > current > local,
//! with `--namespace` > `PRISN_NAMESPACE` > the context's). Registry, CA and base image come
//! from here for every command that builds or pushes, so `build` and `deploy` cannot differ.

use prisn_builder::home::Home;
use prisn_builder::image::RegistryOptions;
use prisn_builder::image::auth::AuthFiles;

use crate::context::{Config, Context};

/// The registry flags of a command, typed (no clap).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryFlags {
    /// `--registry HOST[:PORT][/PREFIX]` for names without a registry; else the context's.
    pub registry: Option<String>,
    /// `--insecure-registry HOST[:PORT]`: plain HTTP or unverified TLS.
    pub insecure: Vec<String>,
    /// `--registry-ca FILE`: extra CA certificates (PEM).
    pub ca_files: Vec<std::path::PathBuf>,
}

/// Home, config and the context in effect.
#[derive(Debug, Clone)]
pub struct Settings {
    pub home: Home,
    pub config: Config,
    pub context: Context,
}

impl Settings {
    /// Read `$PRISN_HOME/config.toml` and resolve the context.
    ///
    /// # Errors
    /// An unusable `$PRISN_HOME`, a config that does not parse, a context that does not exist.
    pub fn load(context: Option<&str>, namespace: Option<&str>) -> anyhow::Result<Settings> {
        let home = Home::from_env()?;
        let config = Config::load(&home)?;
        let context = config.resolve(context, namespace)?;
        Ok(Settings {
            home,
            config,
            context,
        })
    }

    /// The registry prefix from the flag, else the context's (`None` when neither has one).
    pub fn registry(&self, flags: &RegistryFlags) -> Option<String> {
        match &flags.registry {
            Some(r) => Some(r.trim_end_matches('/').to_string()),
            None => Some(self.context.registry.clone()).filter(|r| !r.is_empty()),
        }
    }

    /// How to reach registries: the flags, then `[registries."HOST"]` in config.toml, then
    /// `PRISN_PUSH_RETRIES`.
    pub fn registry_options(&self, flags: &RegistryFlags, offline: bool) -> RegistryOptions {
        registry_options(&self.home, &self.config, flags, offline)
    }

    /// The base image for `runtime`: the flag, else the context's, else `[base]` in
    /// config.toml, else the builder's default (None).
    pub fn base(&self, runtime: prisn_api::Runtime, flag: Option<&str>) -> Option<String> {
        flag.map(str::to_string)
            .or_else(|| self.context.base.get(runtime.as_str()).cloned())
            .or_else(|| self.config.base.get(runtime.as_str()).cloned())
    }
}

/// [`Settings::registry_options`] without a resolved context (image commands that never
/// need one).
pub fn registry_options(
    home: &Home,
    config: &Config,
    flags: &RegistryFlags,
    offline: bool,
) -> RegistryOptions {
    let mut opts = RegistryOptions {
        auth: AuthFiles::standard(home.root()),
        offline,
        ..Default::default()
    };
    opts.insecure = flags.insecure.clone();
    opts.ca_files = flags.ca_files.clone();
    for (host, settings) in &config.registries {
        if settings.insecure && !opts.insecure.contains(host) {
            opts.insecure.push(host.clone());
        }
        if let Some(ca) = &settings.ca {
            opts.ca_files.push(ca.clone());
        }
    }
    if let Ok(n) = std::env::var("PRISN_PUSH_RETRIES")
        && let Ok(n) = n.parse()
    {
        opts.retries = n;
    }
    opts
}
