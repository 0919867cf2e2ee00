//! Image references: `[REGISTRY/]REPOSITORY[:TAG][@sha256:HEX]`, parsed and printed.
//!
//! The rules are Docker's (distribution/reference): the first component is a registry when
//! it contains `.` or `:` or is `localhost`; otherwise the registry is `docker.io`, and a
//! one-component repository there gets the `library/` prefix.

use std::fmt;
use std::net::IpAddr;

use crate::error::{Error, Result};

pub const DOCKER_HUB: &str = "docker.io";

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    /// `host[:port]`, e.g. `127.0.0.1:5000`, `ghcr.io`, `docker.io`.
    pub registry: String,
    /// `team/app`, lowercase.
    pub repository: String,
    pub tag: Option<String>,
    /// `sha256:<hex>`.
    pub digest: Option<String>,
}

fn bad(reference: &str, message: impl Into<String>) -> Error {
    Error::Reference {
        reference: reference.to_string(),
        message: message.into(),
    }
}

fn valid_component(c: &str) -> bool {
    // [a-z0-9]+ separated by one `.`, one or two `_`, or any number of `-`.
    !c.is_empty()
        && c.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        && c.as_bytes()[0].is_ascii_alphanumeric()
        && c.as_bytes()[c.len() - 1].is_ascii_alphanumeric()
}

fn valid_tag(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 128
        && (t.as_bytes()[0].is_ascii_alphanumeric() || t.starts_with('_'))
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

impl Reference {
    /// Parse a full reference; a missing tag stays `None` (see [`Self::tag_or_latest`]).
    pub fn parse(s: &str) -> Result<Self> {
        let input = s.trim();
        if input.is_empty() {
            return Err(bad(s, "empty"));
        }
        if input.contains("://") {
            return Err(bad(s, "leave out the scheme (http:// or https://)"));
        }
        let (rest, digest) = match input.split_once('@') {
            Some((r, d)) => {
                super::blobs::parse_digest(d).map_err(|_| {
                    bad(
                        s,
                        format!("{d:?} is not a sha256 digest (sha256: + 64 hex digits)"),
                    )
                })?;
                (r, Some(d.to_string()))
            }
            None => (input, None),
        };
        // A tag is after the last `:` that comes after the last `/` (a port comes before one).
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (
                &rest[..last_slash + i],
                Some(rest[last_slash + i + 1..].to_string()),
            ),
            None => (rest, None),
        };
        if let Some(t) = &tag
            && !valid_tag(t)
        {
            return Err(bad(s, format!("{t:?} is not a valid tag")));
        }
        let (registry, repository) = match name.split_once('/') {
            Some((first, repo))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_string(), repo.to_string())
            }
            _ => (DOCKER_HUB.to_string(), name.to_string()),
        };
        let repository = if registry == DOCKER_HUB && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository
        };
        if repository.is_empty() || !repository.split('/').all(valid_component) {
            return Err(bad(
                s,
                format!(
                    "{repository:?} is not a valid repository (lowercase letters, digits, `.`, `_`, `-`, separated by `/`)"
                ),
            ));
        }
        if registry.is_empty() || registry.contains(char::is_whitespace) {
            return Err(bad(s, "empty registry host"));
        }
        Ok(Self {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// A reference to `registry/repository` with nothing after it.
    pub fn repo(registry: &str, repository: &str) -> Self {
        Self {
            registry: registry.to_string(),
            repository: repository.to_string(),
            tag: None,
            digest: None,
        }
    }

    /// `registry/repository` (no tag, no digest).
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    pub fn tag_or_latest(&self) -> &str {
        self.tag.as_deref().unwrap_or("latest")
    }

    /// The same repository pinned to `digest` (the tag is dropped: digest wins).
    pub fn with_digest(&self, digest: &str) -> Self {
        Self {
            tag: None,
            digest: Some(digest.to_string()),
            ..self.clone()
        }
    }

    pub fn with_tag(&self, tag: &str) -> Self {
        Self {
            tag: Some(tag.to_string()),
            digest: None,
            ..self.clone()
        }
    }

    /// What to ask the registry for: the digest when there is one, else the tag (or latest).
    pub fn to_oci(&self) -> oci_client::Reference {
        match &self.digest {
            Some(d) => oci_client::Reference::with_digest(
                self.registry.clone(),
                self.repository.clone(),
                d.clone(),
            ),
            None => oci_client::Reference::with_tag(
                self.registry.clone(),
                self.repository.clone(),
                self.tag_or_latest().to_string(),
            ),
        }
    }

    /// True for registries Docker talks plain HTTP to without being told: localhost,
    /// 127.0.0.0/8 and ::1.
    pub fn is_loopback(&self) -> bool {
        is_loopback_host(&self.registry)
    }
}

/// `host[:port]` → is the host localhost, 127.0.0.0/8 or ::1?
pub fn is_loopback_host(registry: &str) -> bool {
    let host = host_of(registry);
    host == "localhost"
        || host
            .parse::<IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
}

/// `host[:port]`, `[v6]:port` → host without brackets or port.
pub fn host_of(registry: &str) -> &str {
    if let Some(rest) = registry.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match registry.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !h.contains(':') => h,
        _ => registry,
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Reference {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Reference {
        Reference::parse(s).unwrap()
    }

    #[test]
    fn docker_hub_short_names_are_expanded() {
        let r = p("python:3.11-slim");
        assert_eq!(r.registry, "docker.io");
        assert_eq!(r.repository, "library/python");
        assert_eq!(r.tag.as_deref(), Some("3.11-slim"));
        assert_eq!(r.to_string(), "docker.io/library/python:3.11-slim");
        assert_eq!(p("bitnami/redis").repository, "bitnami/redis");
    }

    #[test]
    fn a_registry_with_a_port_is_not_a_tag() {
        let r = p("127.0.0.1:5000/team/app");
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.repository, "team/app");
        assert_eq!(r.tag, None);
        assert_eq!(r.tag_or_latest(), "latest");
        let r = p("localhost:5000/app:v1");
        assert_eq!(
            (r.registry.as_str(), r.tag.as_deref()),
            ("localhost:5000", Some("v1"))
        );
    }

    #[test]
    fn digests_round_trip() {
        let d = format!("sha256:{}", "a".repeat(64));
        let r = p(&format!("ghcr.io/o/app:v1@{d}"));
        assert_eq!(r.digest.as_deref(), Some(d.as_str()));
        assert_eq!(r.to_string(), format!("ghcr.io/o/app:v1@{d}"));
        assert_eq!(r.with_digest(&d).to_string(), format!("ghcr.io/o/app@{d}"));
        assert_eq!(r.to_oci().digest(), Some(d.as_str()));
    }

    #[test]
    fn bad_references_are_explained() {
        for s in [
            "",
            "Upper/Case",
            "reg.io/app@sha256:123",
            "http://reg.io/app",
            "reg.io/app:bad tag",
        ] {
            let err = Reference::parse(s).unwrap_err();
            assert!(matches!(err, Error::Reference { .. }), "{s}: {err}");
        }
    }

    #[test]
    fn loopback_registries_are_recognised() {
        for r in [
            "localhost:5000",
            "127.0.0.1:5000",
            "127.1.2.3",
            "[::1]:5000",
            "localhost",
        ] {
            assert!(is_loopback_host(r), "{r}");
        }
        for r in [
            "10.0.0.1:5000",
            "registry.local:5000",
            "ghcr.io",
            "128.0.0.1",
        ] {
            assert!(!is_loopback_host(r), "{r}");
        }
    }
}
