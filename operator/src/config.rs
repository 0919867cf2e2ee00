//! Operator settings that change what children look like (base images, digest policy).
//!
//! Built by `main` from flags and environment variables; tests build it directly.

use std::collections::BTreeMap;

use crate::crd::Runtime;

/// Default image of the git init containers. Override with `--git-image` / `PRISN_GIT_IMAGE`.
pub const DEFAULT_GIT_IMAGE: &str = "alpine/git:2.47.2";

/// Settings of one operator process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperatorConfig {
    /// Base image per runtime for code sources (configMapRef, secretRef, inline, git).
    pub base_images: BTreeMap<Runtime, String>,
    /// Image of the git init containers.
    pub git_image: String,
    /// Refuse `source.image` references without `@sha256:` (default true).
    pub require_digest: bool,
}

impl Default for OperatorConfig {
    fn default() -> Self {
        OperatorConfig {
            base_images: Runtime::ALL
                .into_iter()
                .map(|r| (r, r.default_base_image().to_string()))
                .collect(),
            git_image: DEFAULT_GIT_IMAGE.to_string(),
            require_digest: true,
        }
    }
}

impl OperatorConfig {
    /// The base image for `runtime`.
    pub fn base_image(&self, runtime: Runtime) -> &str {
        self.base_images
            .get(&runtime)
            .map(String::as_str)
            .unwrap_or_else(|| runtime.default_base_image())
    }

    /// The environment variable that overrides the base image of `runtime`, e.g.
    /// `PRISN_BASE_IMAGE_PYTHON3`.
    pub fn base_image_env(runtime: Runtime) -> String {
        format!("PRISN_BASE_IMAGE_{}", runtime.as_str().to_ascii_uppercase())
    }

    /// Applies one `--base-image RUNTIME=REF` override.
    ///
    /// # Errors
    /// When the text is not `RUNTIME=REF` or names an unknown runtime.
    pub fn set_base_image(&mut self, spec: &str) -> Result<(), String> {
        let (rt, image) = spec
            .split_once('=')
            .ok_or_else(|| format!("--base-image {spec:?}: expected RUNTIME=IMAGE, e.g. python3=registry.local/python:3.11-slim"))?;
        let runtime: Runtime = rt.parse()?;
        if image.is_empty() {
            return Err(format!("--base-image {spec:?}: the image is empty"));
        }
        self.base_images.insert(runtime, image.to_string());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_image_overrides() {
        let mut c = OperatorConfig::default();
        assert_eq!(c.base_image(Runtime::Python3), "python:3.11-slim");
        c.set_base_image("python3=mirror.local/python:3.11-slim")
            .expect("valid override");
        assert_eq!(
            c.base_image(Runtime::Python3),
            "mirror.local/python:3.11-slim"
        );
        assert_eq!(c.base_image(Runtime::Node), "node:20-slim");
        assert!(c.set_base_image("ruby=x").is_err());
        assert!(c.set_base_image("python3").is_err());
        assert_eq!(
            OperatorConfig::base_image_env(Runtime::Python3),
            "PRISN_BASE_IMAGE_PYTHON3"
        );
    }
}
