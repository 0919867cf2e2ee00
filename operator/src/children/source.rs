//! Pure: a spec's `source` (+ the data of a referenced ConfigMap/Secret) → [`ResolvedSource`]:
//! the image to run, the code hash that rolls pods, and how the code reaches `/app`.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::config::OperatorConfig;
use crate::crd::{GitSource, Runtime, Source, SourceKind};
use crate::error::Problem;
use crate::source::{configmap_key, path_from_key};

use super::validate;

/// How the code gets into the container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Code {
    /// The image carries its code and entrypoint.
    Image,
    /// Files from a ConfigMap, mounted at `/app` with `items` (key → relative path, sorted).
    ConfigMap {
        name: String,
        items: Vec<(String, String)>,
    },
    /// Files from a Secret, mounted like a ConfigMap.
    Secret {
        name: String,
        items: Vec<(String, String)>,
    },
    /// Inline text, stored by the operator in ConfigMap `config_map` under `key`.
    Inline {
        config_map: String,
        key: String,
        text: String,
    },
    /// A git checkout made by init containers into an emptyDir at `/app`.
    Git(GitSource),
}

/// A source ready to be turned into pod parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedSource {
    pub kind: SourceKind,
    /// The image of the main container.
    pub image: String,
    /// `sha256:<hex>` of what the pods run; put on the pod template so a change rolls them.
    pub code_hash: String,
    /// Interpreter (code sources only).
    pub runtime: Option<Runtime>,
    /// Path of the file to run, relative to `/app` (code sources only; includes `git.path`).
    pub entrypoint: Option<String>,
    pub code: Code,
}

impl ResolvedSource {
    /// The working directory of the main container (code sources: the entrypoint's tree).
    pub fn working_dir(&self) -> Option<String> {
        match &self.code {
            Code::Image => None,
            Code::Git(GitSource { path: Some(p), .. }) => Some(format!("/app/{p}")),
            _ => Some("/app".to_string()),
        }
    }
}

/// Name of the ConfigMap the operator writes for an `inline` source of resource `owner`.
pub fn inline_config_map_name(owner: &str) -> String {
    format!("{owner}-inline")
}

/// Resolves `source` for resource `owner`.
///
/// `data` holds the referenced ConfigMap's or Secret's entries (key → bytes) for
/// `configMapRef`/`secretRef` sources; the caller fetches it and reports a missing object itself.
///
/// # Errors
/// A [`Problem`] naming the field: none or several sources set, no runtime for a code source,
/// an image without digest while digests are required, a key that does not decode to a path
/// under `/app`, an entrypoint the ConfigMap/Secret does not hold.
pub fn resolve(
    owner: &str,
    source: &Source,
    runtime: Option<Runtime>,
    data: Option<&BTreeMap<String, Vec<u8>>>,
    config: &OperatorConfig,
) -> Result<ResolvedSource, Problem> {
    let kind = source
        .kind()
        .map_err(|m| Problem::source("InvalidSource", m))?;
    if kind == SourceKind::Image {
        let image = source.image.clone().unwrap_or_default();
        if config.require_digest && !validate::is_pinned(&image) {
            return Err(Problem::source(
                "ImageNotPinned",
                format!(
                    "source.image {image:?} has no @sha256: digest; deploy the repo@sha256:… reference that `prisn build` prints (or run the operator with --allow-unpinned-images)"
                ),
            ));
        }
        let code_hash = hash(&[b"image", image.as_bytes()]);
        return Ok(ResolvedSource {
            kind,
            image,
            code_hash,
            runtime,
            entrypoint: None,
            code: Code::Image,
        });
    }

    let runtime = runtime.ok_or_else(|| {
        Problem::source(
            "RuntimeMissing",
            format!(
                "runtime: required with {} (one of python3, node, bash)",
                kind.field()
            ),
        )
    })?;
    let entry = source
        .entrypoint
        .clone()
        .unwrap_or_else(|| runtime.default_entrypoint().to_string());
    let image = config.base_image(runtime).to_string();
    let mut h = Hasher::new();
    h.part(runtime.as_str().as_bytes());
    h.part(entry.as_bytes());

    let (code, entrypoint) = match kind {
        SourceKind::ConfigMap | SourceKind::Secret => {
            let (field, name) = if kind == SourceKind::ConfigMap {
                (
                    "configMapRef",
                    source.config_map_ref.as_ref().map(|r| r.name.clone()),
                )
            } else {
                (
                    "secretRef",
                    source.secret_ref.as_ref().map(|r| r.name.clone()),
                )
            };
            let name = name.unwrap_or_default();
            let empty = BTreeMap::new();
            let data = data.unwrap_or(&empty);
            let what = if kind == SourceKind::ConfigMap {
                "ConfigMap"
            } else {
                "Secret"
            };
            let mut items = Vec::with_capacity(data.len());
            for (key, value) in data {
                let path = path_from_key(key).map_err(|e| {
                    Problem::source(
                        "InvalidCodeKey",
                        format!("source.{field}: {what} {name:?}: {e}"),
                    )
                })?;
                h.part(key.as_bytes());
                h.part(value);
                items.push((key.clone(), path));
            }
            if !items.iter().any(|(_, p)| *p == entry) {
                let mut have: Vec<&str> = items.iter().map(|(_, p)| p.as_str()).collect();
                have.truncate(20);
                return Err(Problem::source(
                    "EntrypointMissing",
                    format!(
                        "source.entrypoint: {what} {name:?} has no file {entry:?} (key {:?}); it holds [{}]",
                        configmap_key(&entry),
                        have.join(", ")
                    ),
                ));
            }
            h.part(name.as_bytes());
            let code = if kind == SourceKind::ConfigMap {
                Code::ConfigMap { name, items }
            } else {
                Code::Secret { name, items }
            };
            (code, entry)
        }
        SourceKind::Inline => {
            let text = source.inline.clone().unwrap_or_default();
            h.part(text.as_bytes());
            let code = Code::Inline {
                config_map: inline_config_map_name(owner),
                key: configmap_key(&entry),
                text,
            };
            (code, entry)
        }
        SourceKind::Git => {
            let git = source.git.clone().unwrap_or_default();
            h.part(git.url.as_bytes());
            h.part(git.git_ref.as_deref().unwrap_or("HEAD").as_bytes());
            h.part(git.path.as_deref().unwrap_or("").as_bytes());
            let entrypoint = match &git.path {
                Some(p) => format!("{p}/{entry}"),
                None => entry,
            };
            (Code::Git(git), entrypoint)
        }
        SourceKind::Image => unreachable!("image sources returned above"),
    };
    Ok(ResolvedSource {
        kind,
        image,
        code_hash: h.finish(),
        runtime: Some(runtime),
        entrypoint: Some(entrypoint),
        code,
    })
}

/// Length-prefixed sha256, so that `("ab","c")` and `("a","bc")` hash differently.
struct Hasher(Sha256);

impl Hasher {
    fn new() -> Self {
        Hasher(Sha256::new())
    }
    fn part(&mut self, bytes: &[u8]) {
        self.0.update((bytes.len() as u64).to_be_bytes());
        self.0.update(bytes);
    }
    fn finish(self) -> String {
        format!("sha256:{}", hex::encode(self.0.finalize()))
    }
}

/// `sha256:<hex>` of length-prefixed parts.
pub fn hash(parts: &[&[u8]]) -> String {
    let mut h = Hasher::new();
    for p in parts {
        h.part(p);
    }
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::NameRef;

    fn data(entries: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
        entries
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn unpinned_images_are_refused_by_default() {
        let cfg = OperatorConfig::default();
        let e = resolve("web", &Source::image("reg/app:latest"), None, None, &cfg)
            .expect_err("tag-only image");
        assert_eq!(e.reason, "ImageNotPinned");
        assert!(e.message.contains("source.image"));
        let lax = OperatorConfig {
            require_digest: false,
            ..cfg
        };
        let r = resolve("web", &Source::image("reg/app:latest"), None, None, &lax)
            .expect("allowed when digests are not required");
        assert_eq!(r.image, "reg/app:latest");
        assert_eq!(r.code, Code::Image);
    }

    #[test]
    fn configmap_items_and_hash_follow_the_data() {
        let cfg = OperatorConfig::default();
        let src = Source::config_map("web-code");
        let d1 = data(&[("main.py", "print(1)"), ("pkg--__init__.py", "")]);
        let r1 = resolve("web", &src, Some(Runtime::Python3), Some(&d1), &cfg).expect("valid");
        assert_eq!(r1.image, "python:3.11-slim");
        assert_eq!(r1.entrypoint.as_deref(), Some("main.py"));
        assert_eq!(
            r1.code,
            Code::ConfigMap {
                name: "web-code".into(),
                items: vec![
                    ("main.py".into(), "main.py".into()),
                    ("pkg--__init__.py".into(), "pkg/__init__.py".into())
                ]
            }
        );
        let d2 = data(&[("main.py", "print(2)"), ("pkg--__init__.py", "")]);
        let r2 = resolve("web", &src, Some(Runtime::Python3), Some(&d2), &cfg).expect("valid");
        assert_ne!(r1.code_hash, r2.code_hash, "new code must roll the pods");
        let r1b = resolve("web", &src, Some(Runtime::Python3), Some(&d1), &cfg).expect("valid");
        assert_eq!(r1.code_hash, r1b.code_hash, "same code, same hash");
    }

    #[test]
    fn missing_entrypoint_names_the_file_and_the_keys() {
        let cfg = OperatorConfig::default();
        let d = data(&[("app.py", "")]);
        let e = resolve(
            "web",
            &Source::config_map("c"),
            Some(Runtime::Python3),
            Some(&d),
            &cfg,
        )
        .expect_err("no main.py");
        assert_eq!(e.reason, "EntrypointMissing");
        assert!(
            e.message.contains("\"main.py\"") && e.message.contains("app.py"),
            "{}",
            e.message
        );
    }

    #[test]
    fn code_sources_need_a_runtime() {
        let cfg = OperatorConfig::default();
        let e = resolve("web", &Source::inline("echo"), None, None, &cfg).expect_err("no runtime");
        assert_eq!(e.reason, "RuntimeMissing");
    }

    #[test]
    fn two_sources_are_refused() {
        let cfg = OperatorConfig::default();
        let src = Source {
            secret_ref: Some(NameRef::new("s")),
            ..Source::inline("x")
        };
        let e = resolve("web", &src, Some(Runtime::Bash), None, &cfg).expect_err("two sources");
        assert_eq!(e.reason, "InvalidSource");
        assert!(e.message.contains("source.secretRef") && e.message.contains("source.inline"));
    }

    #[test]
    fn git_entrypoint_lives_under_path() {
        let cfg = OperatorConfig::default();
        let src = Source {
            git: Some(GitSource {
                url: "https://example.invalid/r.git".into(),
                git_ref: Some("v1".into()),
                path: Some("svc".into()),
                secret_ref: None,
            }),
            ..Default::default()
        };
        let r = resolve("web", &src, Some(Runtime::Node), None, &cfg).expect("valid git");
        assert_eq!(r.entrypoint.as_deref(), Some("svc/index.js"));
        assert_eq!(r.working_dir().as_deref(), Some("/app/svc"));
    }
}
