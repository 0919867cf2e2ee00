//! Workload policies every mode understands: [`Isolation`] (local mode) and [`Concurrency`]
//! (cron jobs in every mode; the CRD's `concurrencyPolicy`).

use serde::{Deserialize, Serialize};

/// How a workload's processes are isolated (local mode; other modes ignore it, with a warning).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Isolation {
    /// Namespaces where the kernel allows them, else a plain process (status says which).
    #[default]
    Auto,
    /// Namespaces or fail.
    Namespaces,
    /// A plain process.
    None,
}

impl Isolation {
    pub fn as_str(self) -> &'static str {
        match self {
            Isolation::Auto => "auto",
            Isolation::Namespaces => "namespaces",
            Isolation::None => "none",
        }
    }
}

/// The network a workload's processes use (local mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    /// The machine's network: an app listens on the host's ports (the default).
    #[default]
    Host,
    /// A network namespace of its own with only loopback: no way in or out.
    None,
}

impl Network {
    pub fn as_str(self) -> &'static str {
        match self {
            Network::Host => "host",
            Network::None => "none",
        }
    }
}

/// The CronJob concurrency policy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "crd", derive(schemars::JsonSchema))]
pub enum Concurrency {
    /// Runs may overlap.
    Allow,
    /// Skip a run while the previous one still runs.
    #[default]
    Forbid,
    /// Stop the running one and start the new run.
    Replace,
}

impl Concurrency {
    /// `Allow`, `Forbid`, `Replace`: the API value.
    pub fn as_str(self) -> &'static str {
        match self {
            Concurrency::Allow => "Allow",
            Concurrency::Forbid => "Forbid",
            Concurrency::Replace => "Replace",
        }
    }
}
