use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use kube::api::Api;
use prisn_operator::leader::{self, LeaderConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_one_replica_holds_the_lease_and_release_hands_it_over() {
    let Some(ns) = crate::common::setup("op-leader").await else {
        return;
    };
    let api: Api<Lease> = ns.api();
    let a = LeaderConfig::new(&ns.name, "replica-a");
    let b = LeaderConfig::new(&ns.name, "replica-b");
    tokio::time::timeout(Duration::from_secs(10), leader::acquire(&ns.client, &a))
        .await
        .expect("a free lease is taken at once");
    assert!(
        !leader::try_acquire_or_renew(&api, &b).await.expect("api"),
        "b must not take a held lease"
    );
    assert!(
        leader::try_acquire_or_renew(&api, &a).await.expect("api"),
        "a renews its own lease"
    );
    leader::release(&ns.client, &a).await;
    assert!(
        leader::try_acquire_or_renew(&api, &b).await.expect("api"),
        "a released lease goes to b"
    );
    let lease = api.get(&a.name).await.expect("lease");
    let spec = lease.spec.expect("spec");
    assert_eq!(spec.holder_identity.as_deref(), Some("replica-b"));
    assert_eq!(spec.lease_transitions, Some(1));
}
