//! The SPDX 2.3 JSON document of one image: plain serde structs in the spec's field order,
//! pretty-printed, so the same inputs give the same bytes.
//!
//! Why SPDX 2.3 and not CycloneDX 1.6: both would do; SPDX 2.3 is what the OCI tooling an
//! auditor meets first reads (Syft, Trivy, `docker sbom`, Debian's own tooling), it has
//! `primaryPackagePurpose: CONTAINER` and `CONTAINS` relationships that say exactly "this
//! image holds these packages", and an independent validator (`pyspdxtools`) checks it.
//! Why no crate: the Rust SPDX crates on crates.io model 2.2 or parse more than they write
//! and are thinly maintained; the document is a handful of structs.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Document {
    #[serde(rename = "spdxVersion")]
    pub spdx_version: String,
    #[serde(rename = "dataLicense")]
    pub data_license: String,
    #[serde(rename = "SPDXID")]
    pub spdx_id: String,
    pub name: String,
    #[serde(rename = "documentNamespace")]
    pub document_namespace: String,
    #[serde(rename = "creationInfo")]
    pub creation_info: CreationInfo,
    #[serde(rename = "documentDescribes")]
    pub document_describes: Vec<String>,
    pub packages: Vec<Package>,
    pub relationships: Vec<Relationship>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CreationInfo {
    pub created: String,
    pub creators: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Package {
    #[serde(rename = "SPDXID")]
    pub spdx_id: String,
    pub name: String,
    #[serde(rename = "versionInfo")]
    pub version_info: String,
    #[serde(rename = "downloadLocation")]
    pub download_location: String,
    #[serde(rename = "filesAnalyzed")]
    pub files_analyzed: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub checksums: Vec<Checksum>,
    #[serde(rename = "externalRefs", skip_serializing_if = "Vec::is_empty")]
    pub external_refs: Vec<ExternalRef>,
    #[serde(rename = "primaryPackagePurpose")]
    pub primary_package_purpose: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Checksum {
    pub algorithm: String,
    #[serde(rename = "checksumValue")]
    pub checksum_value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExternalRef {
    #[serde(rename = "referenceCategory")]
    pub reference_category: String,
    #[serde(rename = "referenceType")]
    pub reference_type: String,
    #[serde(rename = "referenceLocator")]
    pub reference_locator: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Relationship {
    #[serde(rename = "spdxElementId")]
    pub spdx_element_id: String,
    #[serde(rename = "relationshipType")]
    pub relationship_type: String,
    #[serde(rename = "relatedSpdxElement")]
    pub related_spdx_element: String,
}

impl Relationship {
    pub fn new(from: &str, kind: &str, to: &str) -> Self {
        Self {
            spdx_element_id: from.into(),
            relationship_type: kind.into(),
            related_spdx_element: to.into(),
        }
    }
}

/// SPDX's "no assertion" value.
pub const NOASSERTION: &str = "NOASSERTION";

impl Package {
    /// A package with a purl, found by its package manager (no files analysed).
    pub fn new(spdx_id: String, name: &str, version: &str, purpose: &str) -> Self {
        Self {
            spdx_id,
            name: name.into(),
            version_info: version.into(),
            download_location: NOASSERTION.into(),
            files_analyzed: false,
            checksums: Vec::new(),
            external_refs: Vec::new(),
            primary_package_purpose: purpose.into(),
            comment: None,
        }
    }

    pub fn purl(mut self, purl: String) -> Self {
        self.external_refs.push(ExternalRef {
            reference_category: "PACKAGE-MANAGER".into(),
            reference_type: "purl".into(),
            reference_locator: purl,
        });
        self
    }

    pub fn checksum(mut self, algorithm: &str, hex: &str) -> Self {
        self.checksums.push(Checksum {
            algorithm: algorithm.into(),
            checksum_value: hex.to_ascii_lowercase(),
        });
        self
    }
}

/// An SPDX identifier (`SPDXRef-` + letters, digits, `.` and `-`) for `kind`, number `n`,
/// named `name` (other characters become `-`; the number keeps two names apart that differ
/// only there).
pub fn id(kind: &str, n: usize, name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("SPDXRef-{kind}-{n}-{clean}")
}

/// Percent-encode a purl component: everything but `A-Z a-z 0-9 . - _ ~` (the purl spec's
/// unreserved set), so `1:2.3+b1` becomes `1%3A2.3%2Bb1`.
pub fn purl_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_purl_components_are_clean() {
        assert_eq!(id("deb", 3, "libstdc++6"), "SPDXRef-deb-3-libstdc--6");
        assert_eq!(purl_encode("1:2.36-9+deb12u13"), "1%3A2.36-9%2Bdeb12u13");
        assert_eq!(purl_encode("@scope"), "%40scope");
    }
}
