//! Kubernetes mode: workloads are PrisnApp / PrisnJob / PrisnCronJob objects that the
//! operator reconciles. Deploy builds and pushes the image (or ships the code as a
//! ConfigMap), applies the resource by digest and waits for the operator's verdict.

mod deploy;
mod logs;
mod view;

use std::cell::OnceCell;
use std::io::Write;

use std::time::Duration;

use super::{
    Backend, Deleted, DeployRequest, Deployed, Kind, LogOptions, Release, RolledBack, Status,
    Workload,
};
use crate::context::Mode;
use crate::deploy::client::{self, Cluster};
use crate::settings::Settings;

/// The Kubernetes backend of one context.
pub struct KubeBackend {
    settings: Settings,
    rt: tokio::runtime::Runtime,
    /// Connected on first use: `deploy --dry-run` needs no cluster.
    cluster: OnceCell<Cluster>,
}

impl KubeBackend {
    /// # Errors
    /// When the async runtime cannot start.
    pub fn new(settings: &Settings) -> anyhow::Result<KubeBackend> {
        Ok(KubeBackend {
            settings: settings.clone(),
            rt: crate::image::runtime()?,
            cluster: OnceCell::new(),
        })
    }

    fn cluster(&self) -> anyhow::Result<&Cluster> {
        if let Some(c) = self.cluster.get() {
            return Ok(c);
        }
        let c = self.rt.block_on(client::connect(&self.settings.context))?;
        Ok(self.cluster.get_or_init(|| c))
    }

    /// The namespace without connecting (dry runs): the context's, else `default`.
    fn namespace_hint(&self) -> String {
        match self.cluster.get() {
            Some(c) => c.namespace.clone(),
            None if !self.settings.context.namespace.is_empty() => {
                self.settings.context.namespace.clone()
            }
            None => "default".into(),
        }
    }
}

impl Backend for KubeBackend {
    fn mode(&self) -> Mode {
        Mode::Kubernetes
    }

    fn deploy(
        &self,
        req: &DeployRequest,
        reporter: &dyn prisn_builder::Reporter,
    ) -> anyhow::Result<Deployed> {
        deploy::deploy(self, req, reporter)
    }

    fn list(&self, kind: Option<Kind>) -> anyhow::Result<Vec<Workload>> {
        let c = self.cluster()?;
        self.rt.block_on(view::list(c, kind))
    }

    fn status(&self, name: &str) -> anyhow::Result<Status> {
        let c = self.cluster()?;
        self.rt.block_on(view::status(c, name))
    }

    fn logs(&self, name: &str, opts: &LogOptions, out: &mut dyn Write) -> anyhow::Result<()> {
        let c = self.cluster()?;
        self.rt.block_on(logs::logs(c, name, opts, out))
    }

    fn delete(&self, name: &str) -> anyhow::Result<Option<Deleted>> {
        let c = self.cluster()?;
        self.rt.block_on(view::delete(c, name))
    }

    fn scale(&self, name: &str, replicas: u32) -> anyhow::Result<Workload> {
        let c = self.cluster()?;
        self.rt.block_on(view::scale(c, name, replicas))
    }

    fn history(&self, _name: &str) -> anyhow::Result<Vec<Release>> {
        anyhow::bail!("history is not kept in kubernetes mode yet")
    }

    fn rollback(
        &self,
        _name: &str,
        _to: Option<i64>,
        _wait: Option<Duration>,
    ) -> anyhow::Result<RolledBack> {
        anyhow::bail!("rollback is not available in kubernetes mode yet")
    }
}
