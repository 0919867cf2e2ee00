//! Operator tests against the real control plane of the test bed (kube-apiserver, etcd,
//! controller-manager, scheduler, kwok fake nodes): `tests/testbed/testbed.sh up`.
//!
//! Without a test bed each test fails under tests/run.sh (`PRISN_TESTBED_REQUIRED=1`) and in
//! CI (`CI=true`); a plain `cargo test` prints `SKIPPED: …` and passes. Every test works in a namespace of its own and runs its own operator scoped
//! to it, so tests run in parallel without seeing each other's objects.

mod common;

/// ConfigMap change rolls the Deployment; scale subresource; delete keeps PVCs.
mod app_lifecycle;
/// Each source type → children, pod spec, status; Ready on the fake node; bad objects affect
/// only themselves.
mod app_sources;
/// PrisnJob success and failure, PrisnCronJob → CronJob → Jobs.
mod jobs;
/// Leader election over a Lease.
mod leader;
/// The install manifests pass `kubectl apply --dry-run=server`.
mod manifests;
/// The operator as a child process, killed mid-way and restarted: converges, no duplicates.
mod restart;
/// Bad objects are refused at apply time with messages naming the field.
mod validation;
