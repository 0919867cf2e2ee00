//! SBOMs (issue 14): `prisn build --image` attaches an SPDX 2.3 document to the image (tag
//! schema on distribution 2.8, which has no referrers API), an independent validator
//! (`pyspdxtools` from PyPI's spdx-tools) accepts it, it names what the base.lock and
//! prisn.lock pin, and it survives export → import into a second registry unchanged.

use std::path::{Path, PathBuf};
use std::process::Command;

use prisn_testsupport::registry::{Registry, base_layout};
use serde_json::Value;

use crate::common::*;
use crate::image_common::*;

/// spdx-tools' `pyspdxtools`: `$PRISN_SPDX_VALIDATOR` (tests/run.sh installs it into a
/// cached venv), else one on PATH. Missing is a failure, not a skip.
fn validator() -> PathBuf {
    if let Some(p) = std::env::var_os("PRISN_SPDX_VALIDATOR") {
        return PathBuf::from(p);
    }
    prisn_builder::interpreter::find_on_path("pyspdxtools").expect(
        "pyspdxtools not found: run tests/run.sh, or set PRISN_SPDX_VALIDATOR (pip install spdx-tools)",
    )
}

/// Run the validator on `doc`; Ok or its complaint.
pub(crate) fn validate(doc: &[u8], dir: &Path) -> Result<(), String> {
    let file = dir.join("sbom.spdx.json");
    std::fs::write(&file, doc).unwrap();
    let out = Command::new(validator())
        .arg("-i")
        .arg(&file)
        .output()
        .expect("pyspdxtools runs");
    let text = format!("{}{}", stdout(&out), stderr(&out));
    if out.status.success() && !text.contains("ValidationMessage") {
        Ok(())
    } else {
        Err(text)
    }
}

pub(crate) fn packages(doc: &Value) -> &Vec<Value> {
    doc["packages"].as_array().expect("packages")
}

fn purl(p: &Value) -> &str {
    p["externalRefs"][0]["referenceLocator"]
        .as_str()
        .unwrap_or("")
}

/// The document's Debian packages (purl `pkg:deb/…`).
pub(crate) fn debs(doc: &Value) -> Vec<&Value> {
    packages(doc)
        .iter()
        .filter(|p| purl(p).starts_with("pkg:deb/"))
        .collect()
}

pub(crate) fn sha256s(p: &Value) -> Vec<&str> {
    p["checksums"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["algorithm"] == "SHA256")
        .filter_map(|c| c["checksumValue"].as_str())
        .collect()
}

#[test]
fn a_built_image_has_a_valid_sbom_that_survives_export_and_import() {
    let t = TestContext::new();
    let (reg, base) = registry_with_base("python3");
    t.example("api.py");
    // The base.lock that made the test base, beside the script: its sha256s join the SBOM.
    let lock_path = base_layout("python3")
        .unwrap()
        .parent()
        .unwrap()
        .join("base.lock");
    let base_lock = std::fs::read_to_string(&lock_path).unwrap();
    std::fs::write(t.path("base.lock"), &base_lock).unwrap();

    let app = format!("{}/team/api:v1", reg.host());
    let pushed = image_line(&build_image(&t, "api.py", &app, &base, &[]), &reg.host());
    let digest = digest_of(&pushed);
    let doc_bytes = ok(&t.run(&["sbom", &app])).into_bytes();
    validate(&doc_bytes, t.work.path()).unwrap_or_else(|e| panic!("pyspdxtools: {e}"));
    let doc: Value = serde_json::from_slice(&doc_bytes).unwrap();

    // It describes the image by its manifest digest.
    let image = packages(&doc)
        .iter()
        .find(|p| p["SPDXID"] == "SPDXRef-Image")
        .expect("the image package");
    assert_eq!(doc["documentDescribes"][0], "SPDXRef-Image");
    assert_eq!(image["versionInfo"].as_str(), Some(digest.as_str()));
    assert_eq!(sha256s(image), [digest.trim_start_matches("sha256:")]);

    // A Debian package of the base, with the version and sha256 base.lock pins.
    let lock: toml::Value = toml::from_str(&base_lock).unwrap();
    let pins = lock["base"]["python3"]["package"].as_array().unwrap();
    let libc = pins
        .iter()
        .find(|p| p["name"].as_str() == Some("libc6"))
        .unwrap();
    let version = libc["version"].as_str().unwrap();
    let deb = packages(&doc)
        .iter()
        .find(|p| p["name"] == "libc6")
        .expect("libc6 in the SBOM");
    assert_eq!(deb["versionInfo"].as_str(), Some(version));
    assert!(purl(deb).starts_with("pkg:deb/debian/libc6@"), "{deb}");
    assert!(purl(deb).ends_with("?arch=amd64"), "{deb}");
    assert_eq!(
        sha256s(deb),
        [libc["sha256"].as_str().unwrap()],
        "libc6's sha256 from {} (if that lock was rewritten after the base was built, the \
         base no longer matches it: rerun tests/run.sh)",
        lock_path.display()
    );
    assert_eq!(
        packages(&doc)
            .iter()
            .filter(|p| purl(p).starts_with("pkg:deb/"))
            .count(),
        pins.len(),
        "every pinned Debian package, no other"
    );

    // A PyPI package of prisn.lock, with its version and a sha256 the lock pins.
    let plock: toml::Value =
        toml::from_str(&std::fs::read_to_string(t.path("prisn.lock")).unwrap()).unwrap();
    let flask = plock["scripts"]["api.py"]["package"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"].as_str() == Some("flask"))
        .expect("flask in prisn.lock");
    let fv = flask["version"].as_str().unwrap();
    let fp = packages(&doc)
        .iter()
        .find(|p| purl(p) == format!("pkg:pypi/flask@{fv}"))
        .expect("pkg:pypi/flask in the SBOM");
    for h in flask["hashes"].as_array().unwrap() {
        let hex = h.as_str().unwrap().trim_start_matches("sha256:");
        assert!(sha256s(fp).contains(&hex), "{hex} missing from {fp}");
    }

    // distribution 2.8 has no referrers API: the tag schema's index lists the SBOM, as
    // skopeo (an independent client) reads it.
    let tag = format!(
        "{}/team/api:sha256-{}",
        reg.host(),
        digest.trim_start_matches("sha256:")
    );
    let (index, _) = raw_manifest(&reg, &tag);
    let entry = &index["manifests"][0];
    assert_eq!(entry["artifactType"], "application/spdx+json", "{index}");
    let art = format!(
        "{}/team/api@{}",
        reg.host(),
        entry["digest"].as_str().unwrap()
    );
    let (art, _) = raw_manifest(&reg, &art);
    assert_eq!(art["subject"]["digest"].as_str(), Some(digest.as_str()));

    // The same image built again (into a layout, offline) has the byte-identical SBOM.
    ok(&t.run(&[
        "build",
        "api.py",
        "--output",
        "layout",
        "--offline",
        "--base",
        &base,
    ]));
    let again = ok(&t.run(&["sbom", &format!("{}:latest", t.path("layout").display())]));
    assert_eq!(
        again.as_bytes(),
        doc_bytes.as_slice(),
        "same image, same SBOM"
    );

    // Export → import into a second registry: the same document there.
    ok(&t.run(&["export", &app, "-o", "bundle.tar"]));
    let second = Registry::start().unwrap();
    ok(&t.run(&[
        "import",
        "bundle.tar",
        "--registry",
        &format!("{}/mirror", second.host()),
    ]));
    drop(reg);
    let there = ok(&t.run(&["sbom", &format!("{}/mirror/team/api:v1", second.host())]));
    assert_eq!(
        there.as_bytes(),
        doc_bytes.as_slice(),
        "the SBOM in registry B"
    );
    // `prisn push` of the layout takes the SBOM along too.
    let pushed_ref = format!("{}/pushed/api:v1", second.host());
    ok(&t.run(&[
        "push",
        &format!("{}:latest", t.path("layout").display()),
        &pushed_ref,
    ]));
    let from_push = ok(&t.run(&["sbom", &pushed_ref]));
    assert_eq!(
        from_push.as_bytes(),
        doc_bytes.as_slice(),
        "pushed from the layout"
    );
    let table = ok(&t.run(&[
        "sbom",
        &format!("{}/mirror/team/api@{digest}", second.host()),
        "-o",
        "text",
    ]));
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("pypi") && l.contains("flask") && l.contains(fv)),
        "{table}"
    );
}

/// The validator is a real check: a document with a broken part is refused.
#[test]
fn the_validator_refuses_a_broken_sbom() {
    let t = TestContext::new();
    let (reg, base) = registry_with_base("bash");
    t.example("job.sh");
    let app = format!("{}/team/job:v1", reg.host());
    image_line(&build_image(&t, "job.sh", &app, &base, &[]), &reg.host());
    let doc = ok(&t.run(&["sbom", &app]));
    validate(doc.as_bytes(), t.work.path()).unwrap_or_else(|e| panic!("pyspdxtools: {e}"));
    // No base.lock beside the script: Debian packages from dpkg's status, without sha256.
    let v: Value = serde_json::from_str(&doc).unwrap();
    let dash = packages(&v)
        .iter()
        .find(|p| p["name"] == "dash")
        .expect("dash");
    assert!(sha256s(dash).is_empty(), "{dash}");
    // A relationship to a package that does not exist.
    let mut broken = v.clone();
    broken["relationships"][1]["relatedSpdxElement"] = "SPDXRef-Nothing".into();
    let broken = serde_json::to_string_pretty(&broken).unwrap();
    let err = validate(broken.as_bytes(), t.work.path()).expect_err("refused");
    assert!(err.contains("SPDXRef-Nothing"), "{err}");
}

#[test]
fn an_image_without_an_sbom_says_so() {
    let t = TestContext::new();
    let (reg, base) = registry_with_base("bash");
    let err = fails(&t.run(&["sbom", &base]));
    assert!(err.contains("has no SBOM attached"), "{err}");
    drop(reg);
}

/// A registry whose referrers tag holds something else than an index (a tampered or
/// misused `sha256-<hex>` tag): `prisn sbom` and a new attach refuse it and name the tag.
#[test]
fn a_referrers_tag_holding_an_image_is_refused_by_name() {
    let t = TestContext::new();
    let (reg, base) = registry_with_base("bash");
    t.example("job.sh");
    let app = format!("{}/team/job:v1", reg.host());
    let pushed = image_line(&build_image(&t, "job.sh", &app, &base, &[]), &reg.host());
    let hex = digest_of(&pushed).trim_start_matches("sha256:").to_string();
    // Put an image (the base) where the referrers index belongs.
    let mut cmd = Command::new("skopeo");
    cmd.args([
        "copy",
        "--quiet",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
    ])
    .arg(format!("docker://{base}"))
    .arg(format!("docker://{}/team/job:sha256-{hex}", reg.host()));
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let err = fails(&t.run(&["sbom", &app]));
    assert!(err.contains(&format!("sha256-{hex}")), "{err}");
    let err2 = fails(&build_image(&t, "job.sh", &app, &base, &[]));
    assert!(err2.contains(&format!("sha256-{hex}")), "{err2}");
    assert!(
        err2.contains("hint:") && err2.contains("reserved"),
        "{err2}"
    );
}
