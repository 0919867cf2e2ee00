//! The YAML that installs prisn, generated in [`prisn_api::manifests`] (pure, so the CLI prints
//! it without linking the operator); re-exported here for `crdgen`. The test below keeps the
//! committed files under `operator/config/` equal to what the types generate.

pub use prisn_api::manifests::*;

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed YAML must be what the Rust types generate (controller-rs' "Please run
    /// `just generate`" check).
    #[test]
    fn committed_manifests_are_current() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
        for (path, text) in config_files(DEFAULT_IMAGE).expect("renders") {
            let committed = std::fs::read_to_string(root.join(&path)).unwrap_or_default();
            assert!(
                committed == text,
                "operator/config/{} is stale; run `cargo run -p prisn-operator --bin crdgen -- --write` and commit the result",
                path.display()
            );
        }
    }

    #[test]
    fn render_puts_crds_first_and_uses_the_image() {
        let out = render("reg.local/prisn-operator@sha256:abc");
        let kinds: Vec<&str> = out
            .lines()
            .filter_map(|l| l.strip_prefix("kind: "))
            .collect();
        assert_eq!(&kinds[..3], ["CustomResourceDefinition"; 3]);
        assert_eq!(kinds.last(), Some(&"Deployment"));
        assert!(out.contains("image: reg.local/prisn-operator@sha256:abc"));
        assert_eq!(
            out,
            render("reg.local/prisn-operator@sha256:abc"),
            "deterministic"
        );
    }

    #[test]
    fn rbac_never_grants_wildcards_or_pods() {
        let role = cluster_role();
        for r in role.rules.unwrap_or_default() {
            assert!(!r.verbs.iter().any(|v| v == "*"), "{r:?}");
            let res = r.resources.unwrap_or_default();
            assert!(
                !res.iter()
                    .any(|x| x == "*" || x == "pods" || x == "customresourcedefinitions"),
                "{res:?}"
            );
            if res.iter().any(|x| x == "secrets") {
                assert!(
                    r.verbs
                        .iter()
                        .all(|v| ["get", "list", "watch"].contains(&v.as_str()))
                );
            }
        }
    }
}
