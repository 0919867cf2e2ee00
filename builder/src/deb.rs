//! A Debian package as dpkg records it in a root filesystem: the record and the status-file
//! parser. One definition for the three places that need it: `prisn base` (which writes the
//! record into its image's `io.prisn.base.info` label), `prisn build` (which trusts that label
//! instead of reading the base's layers) and the SBOM (which lists the packages either way).

use serde::{Deserialize, Serialize};

/// A Debian package of a base.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DebPackage {
    pub name: String,
    pub version: String,
    pub architecture: String,
    /// Hex sha256 of the `.deb` (from base.lock), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// Packages whose `Status:` says installed, from dpkg's status format.
pub fn parse_status(text: &str) -> Vec<DebPackage> {
    let mut out = Vec::new();
    for stanza in text.split("\n\n") {
        let field = |name: &str| {
            stanza.lines().find_map(|l| {
                l.strip_prefix(name)
                    .and_then(|r| r.strip_prefix(':'))
                    .map(|v| v.trim().to_string())
            })
        };
        let (Some(name), Some(version)) = (field("Package"), field("Version")) else {
            continue;
        };
        // distroless's status.d entries have no Status field: they are installed.
        if field("Status").is_some_and(|s| !s.ends_with(" installed")) {
            continue;
        }
        out.push(DebPackage {
            name,
            version,
            architecture: field("Architecture").unwrap_or_default(),
            sha256: None,
        });
    }
    out
}

/// Sorted and without repeats: the order the SBOM lists them in, whatever file or label
/// they came from.
pub fn normalise(mut debs: Vec<DebPackage>) -> Vec<DebPackage> {
    debs.sort();
    debs.dedup();
    debs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installed_packages_are_read_and_others_skipped() {
        let text = "Package: libc6\nStatus: install ok installed\nVersion: 2.36-9\nArchitecture: amd64\n\n\
                    Package: gone\nStatus: deinstall ok config-files\nVersion: 1\n\n\
                    Package: tzdata\nVersion: 2026b\nArchitecture: all\n";
        let p = parse_status(text);
        assert_eq!(p.len(), 2);
        assert_eq!(
            (p[0].name.as_str(), p[0].version.as_str()),
            ("libc6", "2.36-9")
        );
        assert_eq!(p[1].architecture, "all");
    }
}
