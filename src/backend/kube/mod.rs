//! Kubernetes mode: workloads are PrisnApp / PrisnJob / PrisnCronJob objects that the
//! operator reconciles. Deploy builds and pushes the image (or ships the code as a
//! ConfigMap), applies the resource by digest and waits for the operator's verdict.

mod artifact;
mod deploy;
mod history;
mod logs;
mod pods;
pub mod rebase;
mod view;

use std::cell::OnceCell;
use std::io::Write;

use std::time::Duration;

use super::{
    Backend, Deleted, DeployRequest, Deployed, Kind, LogOptions, Release, RolledBack, Status,
    Workload,
};
use crate::context::Mode;
use crate::deploy::apply;
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

/// Apply release `to` (default: the one before the newest) of `name` again and record it as
/// a new release.
async fn rollback(
    c: &Cluster,
    name: &str,
    to: Option<i64>,
) -> anyhow::Result<(RolledBack, apply::Applied)> {
    let stored = history::list(c, name).await?;
    let Some(newest) = stored.first().map(|s| s.record.revision) else {
        anyhow::bail!(
            "{name} has no releases in namespace {} (deploy it with prisn first)",
            c.namespace
        );
    };
    let target = history::pick(name, stored, to)?;
    let Some(objects) = target.objects else {
        anyhow::bail!(
            "revision {} of {name} cannot be restored: its ConfigMap {name}-rev-{} holds no objects",
            target.record.revision,
            target.record.revision
        );
    };
    let applied = apply::apply(&c.client, &objects).await?;
    let revision = if applied.changed {
        let record = history::Record {
            created: deploy::now(),
            who: crate::backend::who(),
            rollback_of: Some(target.record.revision),
            ..target.record.clone()
        };
        history::record(c, &objects, &applied, record).await?
    } else {
        newest
    };
    let done = RolledBack {
        name: name.to_string(),
        kind: target.record.kind,
        revision,
        restored: target.record.revision,
        changed: applied.changed,
        phase: None,
    };
    Ok((done, applied))
}

/// `--rollback-on-failure`: the new release failed with `failure`; apply `previous` again,
/// wait for it, and describe both in one error.
fn undo(
    b: &KubeBackend,
    name: &str,
    previous: i64,
    timeout: Duration,
    reporter: &dyn prisn_builder::Reporter,
    failure: anyhow::Error,
) -> anyhow::Error {
    let Ok(c) = b.cluster() else {
        return failure;
    };
    let (done, applied) = match b.rt.block_on(rollback(c, name, Some(previous))) {
        Ok(r) => r,
        Err(e) => {
            return failure.context(format!(
                "the new release of {name} failed, and rolling back to revision {previous} failed too: {e:#}"
            ));
        }
    };
    let state = match b
        .rt
        .block_on(apply::wait(&c.client, &applied, timeout, reporter))
    {
        Ok(w) => format!("it is {}", w.phase.to_lowercase()),
        Err(e) => format!("but it is not ready either: {e:#}"),
    };
    failure.context(format!(
        "the new release of {name} did not become ready; rolled back to revision {} (now revision {}): {state}",
        done.restored, done.revision
    ))
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

    fn history(&self, name: &str) -> anyhow::Result<Vec<Release>> {
        let c = self.cluster()?;
        self.rt.block_on(history::history(c, name))
    }

    fn rollback(
        &self,
        name: &str,
        to: Option<i64>,
        wait: Option<Duration>,
    ) -> anyhow::Result<RolledBack> {
        let c = self.cluster()?;
        let (mut done, applied) = self.rt.block_on(rollback(c, name, to))?;
        if let Some(timeout) = wait {
            let quiet = prisn_builder::NoReporter;
            let w = self
                .rt
                .block_on(apply::wait(&c.client, &applied, timeout, &quiet))?;
            done.phase = Some(w.phase);
        }
        Ok(done)
    }
}
