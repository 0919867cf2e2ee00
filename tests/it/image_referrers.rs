//! SBOMs on a registry with the OCI referrers API (issue 14). Debian's docker-registry
//! (image_sbom.rs) has none, so prisn writes the `sha256-<hex>` tag index there; here the
//! registry is go-containerregistry's `pkg/registry` with its referrers endpoint on
//! (tests/referrers-registry), which lists the artifact by itself: prisn must find it
//! there, write no fallback tag, and carry the SBOM across the two kinds of registry.
//!
//! The registry API is read directly over HTTP (`http_get`), not through prisn's client.

use prisn_testsupport::registry::{Registry, http_get};
use serde_json::Value;

use crate::common::*;
use crate::image_common::*;
use crate::image_sbom::{packages, sha256s, validate};

fn referrers_registry() -> Registry {
    Registry::start_referrers().expect(
        "the referrers registry starts (tests/run.sh builds it: \
         export PRISN_REFERRERS_REGISTRY=$(tests/referrers-registry/build.sh))",
    )
}

/// `GET path` on `reg`, which must answer 200 with JSON.
#[track_caller]
fn get_json(reg: &Registry, path: &str) -> Value {
    let (status, body) = http_get(&reg.host(), path).unwrap();
    let text = String::from_utf8_lossy(&body);
    assert_eq!(status, 200, "GET {path}: {text}");
    serde_json::from_slice(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {text}"))
}

/// What the referrers API lists for `digest` in `repo`, checked to be exactly one SBOM
/// artifact about `digest`; returns the document its layer holds, read as a blob.
#[track_caller]
fn listed_sbom(reg: &Registry, repo: &str, digest: &str) -> Vec<u8> {
    let index = get_json(reg, &format!("/v2/{repo}/referrers/{digest}"));
    assert_eq!(
        index["mediaType"], "application/vnd.oci.image.index.v1+json",
        "{index}"
    );
    let listed = index["manifests"].as_array().expect("manifests");
    assert_eq!(listed.len(), 1, "one referrer, the SBOM: {index}");
    // go-containerregistry reports the config's media type as `artifactType` here, not the
    // manifest's own (distribution spec 1.1 says the manifest's): the artifact is checked by
    // its manifest below instead.
    let art = listed[0]["digest"].as_str().unwrap();
    assert_eq!(
        listed[0]["mediaType"], "application/vnd.oci.image.manifest.v1+json",
        "{index}"
    );
    let m = get_json(reg, &format!("/v2/{repo}/manifests/{art}"));
    assert_eq!(m["artifactType"], "application/spdx+json", "{m}");
    assert_eq!(
        m["config"]["mediaType"], "application/vnd.oci.empty.v1+json",
        "{m}"
    );
    assert_eq!(m["subject"]["digest"].as_str(), Some(digest), "{m}");
    let layers = m["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1, "{m}");
    assert_eq!(layers[0]["mediaType"], "application/spdx+json", "{m}");
    let (status, doc) = http_get(
        &reg.host(),
        &format!("/v2/{repo}/blobs/{}", layers[0]["digest"].as_str().unwrap()),
    )
    .unwrap();
    assert_eq!(status, 200);
    doc
}

/// The tags of `repo`: no `sha256-<hex>` referrers tag among them on this registry.
#[track_caller]
fn tags(reg: &Registry, repo: &str) -> Vec<String> {
    let v = get_json(reg, &format!("/v2/{repo}/tags/list"));
    v["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect()
}

/// Build job.sh into `<target>/team/job:v1` on the bash base pushed to `base`; returns
/// (ref, digest).
fn build_job(t: &TestContext, base: &Registry, target: &Registry) -> (String, String) {
    let base = push_base(base, "bash");
    t.example("job.sh");
    let app = format!("{}/team/job:v1", target.host());
    let pushed = image_line(&build_image(t, "job.sh", &app, &base, &[]), &target.host());
    (app, digest_of(&pushed))
}

#[test]
fn the_referrers_api_lists_the_sbom_and_no_fallback_tag_is_written() {
    let t = TestContext::new();
    let reg = referrers_registry();
    // The base comes from docker-registry, so the same build can go to both registries:
    // the image names its base, and a base pulled from elsewhere would be another image.
    let plain = Registry::start().expect("docker-registry starts");
    let (app, digest) = build_job(&t, &plain, &reg);

    // (1) The registry lists the artifact by itself; its layer is the document.
    let listed = listed_sbom(&reg, "team/job", &digest);
    // (2) prisn saw it listed and wrote no tag-schema index.
    assert_eq!(tags(&reg, "team/job"), ["v1"], "no sha256-<hex> tag");

    // (3) `prisn sbom` finds it through the API: the listed layer's bytes, a valid SPDX
    // document about this image.
    let doc = ok(&t.run(&["sbom", &app])).into_bytes();
    assert_eq!(
        doc, listed,
        "prisn sbom prints the listed artifact's document"
    );
    validate(&doc, t.work.path()).unwrap_or_else(|e| panic!("pyspdxtools: {e}"));
    let v: Value = serde_json::from_slice(&doc).unwrap();
    let image = packages(&v)
        .iter()
        .find(|p| p["SPDXID"] == "SPDXRef-Image")
        .expect("the image package");
    assert_eq!(image["versionInfo"].as_str(), Some(digest.as_str()));
    assert_eq!(sha256s(image), [digest.trim_start_matches("sha256:")]);

    // The same build pushed to docker-registry: the same image, found there through the
    // tag schema, with the byte-identical SBOM.
    let base = format!("{}/base/bash:test", plain.host());
    let other = format!("{}/team/job:v1", plain.host());
    let there = image_line(
        &build_image(&t, "job.sh", &other, &base, &[]),
        &plain.host(),
    );
    assert_eq!(digest_of(&there), digest, "same build, same image");
    let (index, _) = raw_manifest(
        &plain,
        &format!(
            "{}/team/job:sha256-{}",
            plain.host(),
            digest.trim_start_matches("sha256:")
        ),
    );
    assert_eq!(
        index["manifests"][0]["artifactType"], "application/spdx+json",
        "{index}"
    );
    let from_plain = ok(&t.run(&["sbom", &other]));
    assert_eq!(
        from_plain.as_bytes(),
        doc.as_slice(),
        "same image, same SBOM"
    );

    // Building again attaches nothing new: still one referrer, still no tag.
    image_line(&build_image(&t, "job.sh", &app, &base, &[]), &reg.host());
    assert_eq!(listed_sbom(&reg, "team/job", &digest), listed);
    assert_eq!(tags(&reg, "team/job"), ["v1"]);
}

/// Referrers registry → bundle → docker-registry (tag schema) → bundle → a second
/// referrers registry: each side finds the same document by its own mechanism.
#[test]
fn export_and_import_carry_the_sbom_between_referrers_api_and_tag_schema() {
    let t = TestContext::new();
    let a = referrers_registry();
    let (app, digest) = build_job(&t, &a, &a);
    let doc = ok(&t.run(&["sbom", &app])).into_bytes();
    let hex = digest.trim_start_matches("sha256:");

    // Into docker-registry: no referrers API there, so the tag index lists it.
    ok(&t.run(&["export", &app, "-o", "a.tar"]));
    let b = Registry::start().expect("docker-registry starts");
    ok(&t.run(&[
        "import",
        "a.tar",
        "--registry",
        &format!("{}/mirror", b.host()),
    ]));
    drop(a);
    let on_b = format!("{}/mirror/team/job", b.host());
    let (index, _) = raw_manifest(&b, &format!("{on_b}:sha256-{hex}"));
    assert_eq!(
        index["manifests"][0]["artifactType"], "application/spdx+json",
        "{index}"
    );
    let there = ok(&t.run(&["sbom", &format!("{on_b}:v1")]));
    assert_eq!(
        there.as_bytes(),
        doc.as_slice(),
        "the SBOM in docker-registry"
    );

    // And back into a referrers registry: listed by the API again, no tag written.
    ok(&t.run(&["export", &format!("{on_b}:v1"), "-o", "b.tar"]));
    let c = referrers_registry();
    ok(&t.run(&[
        "import",
        "b.tar",
        "--registry",
        &format!("{}/back", c.host()),
    ]));
    drop(b);
    let repo = "back/mirror/team/job";
    assert_eq!(listed_sbom(&c, repo, &digest), doc);
    assert_eq!(tags(&c, repo), ["v1"], "no sha256-<hex> tag");
    let back = ok(&t.run(&["sbom", &format!("{}/{repo}@{digest}", c.host())]));
    assert_eq!(
        back.as_bytes(),
        doc.as_slice(),
        "the SBOM back in a referrers registry"
    );
}
