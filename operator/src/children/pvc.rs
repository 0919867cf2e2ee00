//! Pure: a storage entry → PersistentVolumeClaim `<app>-<storage>`.
//!
//! Claims carry no owner reference unless `reclaimPolicy: Delete`, so deleting an app keeps its
//! data (the garbage collector only follows owner references).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    PersistentVolumeClaim, PersistentVolumeClaimSpec, VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

use crate::crd::{Storage, StorageReclaimPolicy};
use crate::error::Problem;
use crate::labels::Kind;

use super::{child_meta, validate};

/// Name of the claim made for storage entry `storage` of app `app`.
pub fn claim_name(app: &str, storage: &str) -> String {
    format!("{app}-{storage}")
}

/// The claim for `s`, or `None` when it mounts an `existingClaim`.
///
/// # Errors
/// A [`Problem`] when `size` is missing or not a quantity.
pub fn claim(
    app: &str,
    namespace: &str,
    owner: &OwnerReference,
    s: &Storage,
) -> Result<Option<PersistentVolumeClaim>, Problem> {
    if s.existing_claim.is_some() {
        return Ok(None);
    }
    let field = format!("storage[{}].size", s.name);
    let size = s.size.as_deref().ok_or_else(|| {
        Problem::spec(
            "StorageSizeMissing",
            format!("{field}: required unless existingClaim is set"),
        )
    })?;
    validate::quantity(&field, size)?;
    let delete = s.reclaim_policy == Some(StorageReclaimPolicy::Delete);
    let owner = delete.then_some(owner);
    Ok(Some(PersistentVolumeClaim {
        metadata: child_meta(&claim_name(app, &s.name), namespace, app, Kind::App, owner),
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec![s.access_mode.unwrap_or_default().as_str().to_string()]),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([(
                    "storage".to_string(),
                    Quantity(size.to_string()),
                )])),
                limits: None,
            }),
            storage_class_name: s.storage_class_name.clone(),
            ..Default::default()
        }),
        ..Default::default()
    }))
}
