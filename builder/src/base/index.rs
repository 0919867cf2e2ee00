//! A `Packages` index (deb822 stanzas) → [`Index`]: every binary package of one
//! architecture (plus `all`) with its relations, and who provides which virtual package.
//!
//! Only the fields the closure and the fetch need are kept. Relations are parsed as Debian
//! Policy §7.1 writes them: `a (>= 1) | b:any, c [amd64] <!nocheck>`; architecture
//! qualifiers (`:any`, `:native`) are dropped (one architecture per image), and the
//! architecture and build-profile restrictions that only source packages carry are ignored.

use std::collections::BTreeMap;

use super::version::Op;
use crate::error::{Error, Result};

/// One alternative of a relation: `name [(op version)]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dep {
    pub name: String,
    pub constraint: Option<(Op, String)>,
}

impl std::fmt::Display for Dep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.constraint {
            Some((op, v)) => write!(f, "{} ({} {v})", self.name, op.as_str()),
            None => f.write_str(&self.name),
        }
    }
}

/// A relation: any one of its alternatives satisfies it.
pub type Relation = Vec<Dep>;

/// One binary package from the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    pub name: String,
    pub version: String,
    pub architecture: String,
    /// `Pre-Depends` then `Depends`: both must be in the image (nothing is configured).
    pub depends: Vec<Relation>,
    /// Virtual packages this one provides, with the version it provides them at, if any.
    pub provides: Vec<(String, Option<String>)>,
    /// Path below the mirror root (`pool/main/…/x.deb`).
    pub filename: String,
    /// Hex sha256 of the `.deb`.
    pub sha256: String,
    pub size: u64,
    /// `required` < `important` < `standard` < `optional` < `extra` (lower is preferred).
    pub priority: u8,
}

/// Every package of the index by name (several versions possible), and providers.
#[derive(Debug, Default)]
pub struct Index {
    pub packages: BTreeMap<String, Vec<Package>>,
    /// virtual name → (provider name, provider version, provided version)
    pub providers: BTreeMap<String, Vec<(String, String, Option<String>)>>,
}

fn priority(p: &str) -> u8 {
    match p {
        "required" => 0,
        "important" => 1,
        "standard" => 2,
        "optional" => 3,
        _ => 4,
    }
}

/// Parse one alternative (`name:any (>= 1.0) [arch] <profile>`).
fn parse_dep(text: &str, what: &str) -> Result<Dep> {
    let text = text.trim();
    // Restrictions after the name or version: architecture lists and build profiles
    // (source packages only). `<` inside the version constraint is an operator.
    let text = match text.find(')') {
        Some(close) => &text[..=close],
        None => text.split(['[', '<']).next().unwrap_or("").trim(),
    };
    let (name, constraint) = match text.split_once('(') {
        Some((name, rest)) => {
            let inner = rest
                .trim_end()
                .strip_suffix(')')
                .ok_or_else(|| bad(what, text))?;
            let inner = inner.trim();
            let split = inner
                .find(|c: char| !matches!(c, '<' | '>' | '='))
                .ok_or_else(|| bad(what, text))?;
            let op = Op::parse(&inner[..split]).ok_or_else(|| bad(what, text))?;
            let version = inner[split..].trim();
            if version.is_empty() {
                return Err(bad(what, text));
            }
            (name.trim(), Some((op, version.to_string())))
        }
        None => (text, None),
    };
    let name = name.split(':').next().unwrap_or("").trim();
    if name.is_empty() || name.contains(char::is_whitespace) {
        return Err(bad(what, text));
    }
    Ok(Dep {
        name: name.to_string(),
        constraint,
    })
}

fn bad(what: &str, text: &str) -> Error {
    Error::Archive {
        what: what.to_string(),
        message: format!("cannot parse the relation {text:?}"),
        hint: None,
    }
}

/// Parse a `Depends`-style field: `,` between relations, `|` between alternatives.
pub fn parse_relations(field: &str, what: &str) -> Result<Vec<Relation>> {
    field
        .split(',')
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(|r| r.split('|').map(|alt| parse_dep(alt, what)).collect())
        .collect()
}

/// deb822 stanzas: field name → value (continuation lines joined with `\n`).
pub fn stanzas(text: &str) -> impl Iterator<Item = BTreeMap<&str, String>> {
    text.split("\n\n").filter_map(|block| {
        let mut fields: BTreeMap<&str, String> = BTreeMap::new();
        let mut last: Option<&str> = None;
        for line in block.lines() {
            if line.starts_with([' ', '\t']) {
                if let Some(k) = last
                    && let Some(v) = fields.get_mut(k)
                {
                    v.push('\n');
                    v.push_str(line.trim());
                }
            } else if let Some((k, v)) = line.split_once(':') {
                fields.insert(k.trim(), v.trim().to_string());
                last = Some(k.trim());
            }
        }
        (!fields.is_empty()).then_some(fields)
    })
}

/// Parse a whole `Packages` file, keeping packages of `arch` and `all`.
///
/// # Errors
/// A stanza without Package/Version/Filename/SHA256, or a relation that does not parse,
/// named by the package and `source` (the index's path).
pub fn parse(text: &str, arch: &str, source: &str) -> Result<Index> {
    let mut index = Index::default();
    for f in stanzas(text) {
        let get = |k: &str| f.get(k).map(String::as_str);
        let Some(name) = get("Package") else {
            continue;
        };
        let architecture = get("Architecture").unwrap_or("");
        if architecture != arch && architecture != "all" {
            continue;
        }
        let what = format!("{source}: package {name}");
        let need = |k: &str| {
            get(k).ok_or_else(|| Error::Archive {
                what: what.clone(),
                message: format!("has no {k} field"),
                hint: Some("the mirror's index is damaged; re-sync it".into()),
            })
        };
        let mut depends = parse_relations(get("Pre-Depends").unwrap_or(""), &what)?;
        depends.extend(parse_relations(get("Depends").unwrap_or(""), &what)?);
        let provides = parse_relations(get("Provides").unwrap_or(""), &what)?
            .into_iter()
            .flatten()
            .map(|d| (d.name, d.constraint.map(|(_, v)| v)))
            .collect::<Vec<_>>();
        let pkg = Package {
            name: name.to_string(),
            version: need("Version")?.to_string(),
            architecture: architecture.to_string(),
            depends,
            provides,
            filename: need("Filename")?.to_string(),
            sha256: need("SHA256")?.to_string(),
            size: get("Size").and_then(|s| s.parse().ok()).unwrap_or(0),
            priority: priority(get("Priority").unwrap_or("")),
        };
        for (virt, provided) in &pkg.provides {
            index.providers.entry(virt.clone()).or_default().push((
                pkg.name.clone(),
                pkg.version.clone(),
                provided.clone(),
            ));
        }
        index
            .packages
            .entry(pkg.name.clone())
            .or_default()
            .push(pkg);
    }
    Ok(index)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
Package: python3
Version: 3.11.2-1+b1
Architecture: amd64
Provides: python3-profiler, python3-supported-max (= 3.11)
Depends: python3.11 (>= 3.11.2-1~), libpython3-stdlib (= 3.11.2-1+b1)
Pre-Depends: python3-minimal (= 3.11.2-1+b1)
Priority: optional
Description: interactive high-level object-oriented language
 Python, the high-level, interactive object oriented language,
 includes an extensive class library.
Filename: pool/main/p/python3-defaults/python3_3.11.2-1+b1_amd64.deb
Size: 26300
SHA256: 0123

Package: armonly
Version: 1
Architecture: arm64
Filename: pool/a.deb
SHA256: 00

Package: ca-certificates
Version: 20230311+deb12u1
Architecture: all
Depends: openssl (>= 1.1.1), debconf (>= 0.5) | debconf-2.0, libc6:any [amd64] <!nocheck>, x (<< 2) [amd64]
Priority: standard
Filename: pool/main/c/ca-certificates/ca-certificates_20230311+deb12u1_all.deb
SHA256: 4567
";

    #[test]
    fn stanzas_relations_and_providers_are_parsed() {
        let idx = parse(SAMPLE, "amd64", "Packages").unwrap();
        assert_eq!(idx.packages.len(), 2, "arm64 package dropped");
        let py = &idx.packages["python3"][0];
        assert_eq!(py.depends.len(), 3, "Pre-Depends come first, then Depends");
        assert_eq!(
            py.depends[0][0].to_string(),
            "python3-minimal (= 3.11.2-1+b1)"
        );
        assert_eq!(
            py.depends[1][0].constraint,
            Some((Op::Ge, "3.11.2-1~".into()))
        );
        assert_eq!(py.size, 26300);
        assert_eq!(py.priority, 3);
        assert_eq!(
            idx.providers["python3-supported-max"],
            [("python3".into(), "3.11.2-1+b1".into(), Some("3.11".into()))]
        );
        let ca = &idx.packages["ca-certificates"][0];
        assert_eq!(ca.depends[1].len(), 2, "an alternative");
        assert_eq!(ca.depends[1][1].name, "debconf-2.0");
        assert_eq!(
            ca.depends[2][0].name, "libc6",
            ":any and restrictions dropped"
        );
    }

    #[test]
    fn broken_stanzas_name_the_package() {
        let err = parse(
            "Package: x\nArchitecture: all\nVersion: 1\n",
            "amd64",
            "main/Packages",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("main/Packages: package x") && err.contains("Filename"),
            "{err}"
        );
        let err = parse_relations("a (>= )", "p").unwrap_err().to_string();
        assert!(err.contains("a (>= )"), "{err}");
    }
}
