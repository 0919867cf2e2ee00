//! Registry failures → errors that say what failed and what to do, and which failures are
//! worth a retry.

use oci_client::errors::OciDistributionError;

use super::reference::{host_of, is_loopback_host};
use crate::error::Error;

/// What an error message needs to know about the host.
pub(super) struct HostInfo<'a> {
    pub registry: &'a str,
    pub scheme: &'a str,
    /// Credentials were sent (so a 401 means they were rejected).
    pub basic: bool,
    /// Which credentials were looked up, for 401 messages.
    pub tried: &'a str,
}

pub(super) fn is_unauthorized(e: &OciDistributionError) -> bool {
    match e {
        OciDistributionError::UnauthorizedError { .. }
        | OciDistributionError::AuthenticationFailure(_) => true,
        OciDistributionError::ServerError { code, .. } => *code == 401,
        // A HEAD (a blob's existence) has no body to carry the registry's error envelope.
        OciDistributionError::RequestError(r) => r.status().is_some_and(|s| s.as_u16() == 401),
        OciDistributionError::RegistryError { envelope, .. } => envelope.errors.iter().any(|e| {
            format!("{:?}", e.code)
                .to_ascii_uppercase()
                .contains("UNAUTHORIZED")
        }),
        _ => false,
    }
}

/// Worth another try: the network failed, or the server had a bad moment.
pub(super) fn is_transient(e: &OciDistributionError) -> bool {
    match e {
        OciDistributionError::RequestError(r) => {
            // A certificate problem or a DNS failure will not fix itself in a second.
            let chain = error_chain(r);
            let refused = r
                .status()
                .is_some_and(|s| s.is_client_error() && ![408, 429].contains(&s.as_u16()));
            !(chain.contains("certificate")
                || chain.contains("dns error")
                || speaks_plain_http(&chain)
                || r.is_builder()
                || refused)
        }
        OciDistributionError::IoError(_) => true,
        OciDistributionError::ServerError { code, .. } => *code >= 500 || *code == 429,
        _ => false,
    }
}

/// rustls's complaint when the other side answers a ClientHello in plain HTTP.
fn speaks_plain_http(chain: &str) -> bool {
    chain.contains("InvalidContentType") || chain.contains("invalid content type")
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// The deepest cause, which is the one people can act on ("Connection refused").
fn root_cause(e: &dyn std::error::Error) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

pub(super) fn classify(
    host: &HostInfo,
    what: &str,
    e: OciDistributionError,
    retries: u32,
) -> Error {
    let registry = host.registry.to_string();
    let after = if retries > 0 {
        format!(" (after {} attempts)", retries + 1)
    } else {
        String::new()
    };
    if is_unauthorized(&e) {
        let tried = if host.basic {
            format!("{} (rejected)", host.tried)
        } else {
            host.tried.to_string()
        };
        return Error::Unauthorized {
            registry,
            operation: what.to_string(),
            tried,
        };
    }
    let url = format!("{}://{}/v2/", host.scheme, host.registry);
    match e {
        OciDistributionError::RequestError(r) => {
            let chain = error_chain(&r);
            let cause = root_cause(&r);
            let (message, hint) = if chain.contains("dns error")
                || chain.contains("failed to lookup")
            {
                (
                    format!(
                        "cannot {what}: unknown host {} ({cause})",
                        host_of(&registry)
                    ),
                    "check the registry name in the image reference (REGISTRY/REPO[:TAG])"
                        .to_string(),
                )
            } else if speaks_plain_http(&chain) {
                (
                    format!("cannot {what}: {registry} answers plain HTTP, not HTTPS ({cause})"),
                    format!(
                        "if that is intended, allow it with --insecure-registry {registry} (or `insecure = true` under [registries.\"{registry}\"] in config.toml)"
                    ),
                )
            } else if chain.contains("certificate") || chain.contains("Certificate") {
                (
                    format!(
                        "cannot {what}: the TLS certificate of {url} does not verify ({cause})"
                    ),
                    format!(
                        "give prisn the registry's CA with --registry-ca FILE, or allow it with --insecure-registry {registry}"
                    ),
                )
            } else if r.is_connect() {
                (
                    format!("cannot {what}: cannot connect to {url}{after}: {cause}"),
                    if is_loopback_host(&registry) {
                        format!("is the registry running at {registry}?")
                    } else {
                        format!(
                            "is the registry running at {registry}? For a plain-HTTP registry that is not on localhost, pass --insecure-registry {registry}"
                        )
                    },
                )
            } else if r.is_timeout() {
                (
                    format!("cannot {what}: {url} timed out{after}"),
                    "the registry is slow or unreachable; run the command again (finished blobs are not sent twice)".to_string(),
                )
            } else {
                (
                    format!("cannot {what}: the connection to {url} failed{after}: {cause}"),
                    "run the command again: blobs already in the registry are skipped, so it resumes where it stopped".to_string(),
                )
            };
            Error::Registry {
                registry,
                message,
                hint: Some(hint),
            }
        }
        OciDistributionError::ServerError { code, message, .. } => Error::Registry {
            registry,
            message: if code == 404 {
                format!("cannot {what}: not found")
            } else {
                format!("cannot {what}: HTTP {code}{after}: {}", message.trim())
            },
            hint: (code >= 500).then(|| {
                "the registry failed; run the command again (finished blobs are not sent twice)"
                    .to_string()
            }),
        },
        OciDistributionError::RegistryError { envelope, .. } => {
            let codes: Vec<String> = envelope
                .errors
                .iter()
                .map(|e| format!("{:?}: {}", e.code, e.message))
                .collect();
            let joined = codes.join("; ");
            let not_found = joined.contains("UNKNOWN") || joined.contains("Unknown");
            Error::Registry {
                registry,
                message: if not_found {
                    format!("cannot {what}: not found ({joined})")
                } else {
                    format!("cannot {what}: {joined}")
                },
                hint: None,
            }
        }
        OciDistributionError::ImageManifestNotFoundError(m) => Error::Registry {
            registry,
            message: format!("cannot {what}: not found ({m})"),
            hint: None,
        },
        other => Error::Registry {
            registry,
            message: format!("cannot {what}{after}: {other}"),
            hint: None,
        },
    }
}
