//! The publisher against a real registry (Debian's docker-registry on 127.0.0.1): blobs the
//! registry has are skipped, a mount it declines (202) falls back to an upload, and a push
//! verifies.

use std::collections::HashSet;

use prisn_builder::NoReporter;
use prisn_builder::image::layout::{StoredImage, named};
use prisn_builder::image::manifest::{self, Descriptor, Manifest, OCI_CONFIG, OCI_MANIFEST};
use prisn_builder::image::publish::{self, Upstream};
use prisn_builder::image::{BlobStore, LayerSpec, Reference, Registries, RegistryOptions};
use prisn_testsupport::registry::Registry;

fn image(store: &BlobStore, text: &str) -> StoredImage {
    image_on(store, &[], text)
}

/// An image of one layer holding `text`, on top of the layers `base` (a registry checks no
/// config, so its diff_ids name only the new layer).
fn image_on(store: &BlobStore, base: &[Descriptor], text: &str) -> StoredImage {
    let mut spec = LayerSpec::new();
    spec.add_bytes("app/x.txt", text.as_bytes().to_vec(), false)
        .unwrap();
    let layer = spec.pack(store, 0, 2).unwrap();
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":["{}"]}}}}"#,
        layer.diff_id
    );
    let config_digest = store.put(config.as_bytes()).unwrap();
    let m = Manifest {
        schema_version: 2,
        media_type: Some(OCI_MANIFEST.into()),
        config: Descriptor::new(OCI_CONFIG, &config_digest, config.len() as u64),
        layers: base
            .iter()
            .cloned()
            .chain([Descriptor::new(
                prisn_builder::image::layer::MEDIA_TYPE,
                &layer.digest,
                layer.size,
            )])
            .collect(),
        annotations: None,
    };
    let bytes = manifest::canonical(&m);
    let digest = store.put(&bytes).unwrap();
    StoredImage::load(
        store,
        &named(OCI_MANIFEST, &digest, bytes.len() as u64, "t"),
    )
    .unwrap()
}

#[tokio::test]
async fn declined_mount_falls_back_to_upload_and_a_second_push_sends_nothing() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let reg = Registry::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::new(dir.path());
    let img = image(&store, "hello");
    let regs = Registries::new(RegistryOptions::default());
    let target = Reference::parse(&format!("{}/team/app:v1", reg.host())).unwrap();
    // The "base" repository does not have the layer, so the registry answers the mount
    // with 202 (start an upload instead).
    let layer = img.blobs[1].digest.clone();
    let upstream = Upstream {
        reference: Reference::parse(&format!("{}/base/empty", reg.host()))
            .unwrap()
            .with_digest(&img.manifest.digest),
        blobs: HashSet::from([layer.clone()]),
    };
    let pushed = publish::push(&regs, &target, &img, &store, Some(&upstream), &NoReporter)
        .await
        .unwrap();
    assert!(pushed.mounted.is_empty(), "{pushed:?}");
    assert_eq!(pushed.uploaded.len(), 2, "{pushed:?}");
    assert!(pushed.uploaded.contains(&layer));
    publish::verify(&regs, &target, &img).await.unwrap();

    let again = publish::push(&regs, &target, &img, &store, Some(&upstream), &NoReporter)
        .await
        .unwrap();
    assert!(
        again.uploaded.is_empty() && again.bytes_uploaded == 0,
        "{again:?}"
    );
    assert_eq!(
        again.reference,
        format!("{}/team/app@{}", reg.host(), img.manifest.digest)
    );

    // Mount from a repository that has the layer.
    let other = Reference::parse(&format!("{}/team/other:v1", reg.host())).unwrap();
    let upstream = Upstream {
        reference: target.with_digest(&img.manifest.digest),
        blobs: HashSet::from([layer.clone()]),
    };
    let mounted = publish::push(&regs, &other, &img, &store, Some(&upstream), &NoReporter)
        .await
        .unwrap();
    assert_eq!(mounted.mounted, vec![layer]);
}

/// Records the uploads a push starts and the blobs it reports done.
#[derive(Default)]
struct Uploads(std::sync::Mutex<Vec<String>>);

impl prisn_builder::Reporter for Uploads {
    fn report(&self, event: prisn_builder::Event) {
        if let prisn_builder::Event::UploadStart { digest, .. } = event {
            self.0.lock().unwrap().push(digest);
        }
    }
}

/// Blobs pushed early (as `build` does while the image is still being built) are not sent
/// again, and the push sums them up as one push of the whole image would: the same blobs
/// uploaded, mounted and found, the same bytes.
#[tokio::test]
async fn an_early_push_reports_what_one_push_would() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let reg = Registry::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::new(dir.path());
    let regs = Registries::new(RegistryOptions::default());
    let repo = |name: &str| Reference::parse(&format!("{}/{name}:v1", reg.host())).unwrap();
    // A "base" whose layer the images below mount, and an image with that layer, a layer of
    // its own and a config.
    let base = image(&store, "base");
    publish::push(&regs, &repo("base/src"), &base, &store, None, &NoReporter)
        .await
        .unwrap();
    let img = image_on(&store, &base.blobs[1..], "app");
    let upstream = Upstream {
        reference: repo("base/src").with_digest(&base.manifest.digest),
        blobs: HashSet::from([base.blobs[1].digest.clone()]),
    };
    let whole = publish::push(
        &regs,
        &repo("team/whole"),
        &img,
        &store,
        Some(&upstream),
        &NoReporter,
    )
    .await
    .unwrap();
    assert_eq!(
        whole.mounted,
        vec![base.blobs[1].digest.clone()],
        "{whole:?}"
    );
    assert_eq!(whole.uploaded.len(), 2, "{whole:?}");

    // The same image, its layers pushed before the config and the manifest.
    let target = repo("team/early");
    let early = publish::Early::default();
    let seen = Uploads::default();
    early
        .push(
            &regs,
            &target,
            &img.blobs[1..],
            &store,
            Some(&upstream),
            &seen,
        )
        .await
        .unwrap();
    let before = seen.0.lock().unwrap().clone();
    assert_eq!(
        before,
        vec![img.blobs[2].digest.clone()],
        "early: the base layer is mounted, only the app layer goes up"
    );
    let pushed = publish::push_with(&regs, &target, &img, &store, Some(&upstream), &early, &seen)
        .await
        .unwrap();
    let after = seen.0.lock().unwrap()[before.len()..].to_vec();
    assert_eq!(
        after,
        vec![img.blobs[0].digest.clone()],
        "then only the config"
    );
    assert_eq!(
        (
            &pushed.uploaded,
            &pushed.mounted,
            &pushed.existing,
            pushed.bytes_uploaded
        ),
        (
            &whole.uploaded,
            &whole.mounted,
            &whole.existing,
            whole.bytes_uploaded
        ),
        "early: {pushed:?}\nwhole: {whole:?}"
    );
    publish::verify(&regs, &target, &img).await.unwrap();
}
