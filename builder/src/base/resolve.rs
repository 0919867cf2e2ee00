//! Root packages + [`Index`] → the closure over `Pre-Depends` and `Depends`, as pins.
//!
//! Not a SAT solver: like apt's default choice, relations are taken in breadth-first order
//! from the roots (deterministic for a given index and request), and for each relation:
//! 1. met already by a chosen package (or one that provides it) → nothing to do;
//! 2. else the first alternative that is not excluded and that a real package satisfies
//!    (highest version that meets the constraint), else the first one a provider that is not
//!    excluded satisfies (the best `Priority`, then the smallest name: `awk` → `mawk`);
//! 3. else, when an alternative is excluded → met (the image does without it, on purpose);
//! 4. else an error naming the package, the relation and what the index has.
//!
//! One version per package: a later relation that the chosen version does not meet is an
//! error (Debian suites carry one version of each package, so this does not happen there).
//! Recommends and Suggests are not followed.

use std::collections::{BTreeMap, VecDeque};

use super::index::{Dep, Index, Package};
use super::lock::Pin;
use super::version::{self, Op};
use crate::error::{Error, Result};

/// Does `pattern` (a name, or a name with one `*`) match `name`?
pub fn matches(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        Some((pre, post)) => {
            name.len() >= pre.len() + post.len() && name.starts_with(pre) && name.ends_with(post)
        }
        None => pattern == name,
    }
}

struct Closure<'a> {
    index: &'a Index,
    exclude: &'a [String],
    chosen: BTreeMap<String, &'a Package>,
    queue: VecDeque<&'a Package>,
}

impl<'a> Closure<'a> {
    fn excluded(&self, name: &str) -> bool {
        self.exclude.iter().any(|p| matches(p, name))
    }

    fn meets(dep: &Dep, version: &str) -> bool {
        dep.constraint
            .as_ref()
            .is_none_or(|(op, want)| op.holds(version, want))
    }

    /// A chosen package that satisfies `dep` (directly or by Provides).
    fn met(&self, dep: &Dep) -> bool {
        if let Some(p) = self.chosen.get(&dep.name)
            && Self::meets(dep, &p.version)
        {
            return true;
        }
        self.index.providers.get(&dep.name).is_some_and(|ps| {
            ps.iter().any(|(name, version, provided)| {
                self.chosen.get(name).is_some_and(|c| &c.version == version)
                    && provided_meets(dep, provided.as_deref())
            })
        })
    }

    /// The best real package for `dep`: the highest version meeting its constraint.
    fn real(&self, dep: &Dep) -> Option<&'a Package> {
        self.index
            .packages
            .get(&dep.name)?
            .iter()
            .filter(|p| Self::meets(dep, &p.version))
            .max_by(|a, b| version::compare(&a.version, &b.version))
    }

    /// The best provider of the virtual package `dep`.
    fn provider(&self, dep: &Dep) -> Option<&'a Package> {
        let mut candidates: Vec<&'a Package> = self
            .index
            .providers
            .get(&dep.name)?
            .iter()
            .filter(|(name, _, provided)| {
                !self.excluded(name) && provided_meets(dep, provided.as_deref())
            })
            .filter_map(|(name, version, _)| {
                self.index
                    .packages
                    .get(name)?
                    .iter()
                    .find(|p| &p.version == version)
            })
            .collect();
        candidates.sort_by(|a, b| a.priority.cmp(&b.priority).then(a.name.cmp(&b.name)));
        candidates.first().copied()
    }

    fn choose(&mut self, p: &'a Package, wanted_by: &str) -> Result<()> {
        if let Some(old) = self.chosen.get(&p.name) {
            if old.version != p.version {
                return Err(conflict(&p.name, &old.version, &p.version, wanted_by));
            }
            return Ok(());
        }
        self.chosen.insert(p.name.clone(), p);
        self.queue.push_back(p);
        Ok(())
    }

    fn relation(&mut self, owner: &Package, alts: &[Dep]) -> Result<()> {
        if alts.iter().any(|d| self.met(d)) {
            return Ok(());
        }
        let pick = alts
            .iter()
            .filter(|d| !self.excluded(&d.name))
            .find_map(|d| self.real(d))
            .or_else(|| alts.iter().find_map(|d| self.provider(d)));
        match pick {
            Some(p) => self.choose(p, &owner.name),
            // Only excluded alternatives left: the image does without, on purpose.
            None if alts.iter().any(|d| self.excluded(&d.name)) => Ok(()),
            None => {
                // A chosen package of the right name but the wrong version is a conflict.
                if let Some(d) = alts.iter().find(|d| self.chosen.contains_key(&d.name)) {
                    let have = &self.chosen[&d.name].version;
                    return Err(conflict(&d.name, have, &d.to_string(), &owner.name));
                }
                Err(unmet(self.index, owner, alts))
            }
        }
    }
}

fn provided_meets(dep: &Dep, provided: Option<&str>) -> bool {
    match (&dep.constraint, provided) {
        (None, _) => true,
        (Some((op, want)), Some(v)) => op.holds(v, want),
        // An unversioned Provides never meets a versioned relation (Policy §7.5).
        (Some(_), None) => false,
    }
}

fn conflict(name: &str, have: &str, want: &str, by: &str) -> Error {
    Error::Archive {
        what: format!("package {name}"),
        message: format!("{by} needs {want}, but {name} {have} is already chosen"),
        hint: Some("the suite is inconsistent; pick another suite or pin with --packages".into()),
    }
}

fn unmet(index: &Index, owner: &Package, alts: &[Dep]) -> Error {
    let rel = alts
        .iter()
        .map(Dep::to_string)
        .collect::<Vec<_>>()
        .join(" | ");
    let have: Vec<String> = alts
        .iter()
        .flat_map(|d| index.packages.get(&d.name).into_iter().flatten())
        .map(|p| format!("{} {}", p.name, p.version))
        .collect();
    Error::Archive {
        what: format!("package {} {}", owner.name, owner.version),
        message: format!(
            "needs {rel}, which the index cannot satisfy{}",
            if have.is_empty() {
                " (no such package)".to_string()
            } else {
                format!(" (it has {})", have.join(", "))
            }
        ),
        hint: Some("add another component or suite, or exclude the package".into()),
    }
}

/// The closure of `roots` in `index`, minus `exclude`, as pins sorted by name.
///
/// # Errors
/// A root that does not exist, or a relation nothing satisfies (see the module docs).
pub fn closure(index: &Index, roots: &[String], exclude: &[String]) -> Result<Vec<Pin>> {
    let mut c = Closure {
        index,
        exclude,
        chosen: BTreeMap::new(),
        queue: VecDeque::new(),
    };
    for root in roots {
        let (name, constraint) = match root.split_once('=') {
            Some((n, v)) => (n, Some((Op::Eq, v.to_string()))),
            None => (root.as_str(), None),
        };
        let dep = Dep {
            name: name.to_string(),
            constraint,
        };
        let p = c.real(&dep).or_else(|| c.provider(&dep)).ok_or_else(|| {
            let have = index.packages.get(name).map(|ps| {
                ps.iter().map(|p| p.version.as_str()).collect::<Vec<_>>().join(", ")
            });
            Error::Archive {
                what: format!("package {root}"),
                message: match have {
                    Some(v) => format!("is not in the index in that version (it has {v})"),
                    None => "is not in the index (not a package of this suite, component and architecture)".into(),
                },
                hint: Some("check the name with the suite's package list (packages.debian.org)".into()),
            }
        })?;
        c.choose(p, "the request")?;
    }
    while let Some(p) = c.queue.pop_front() {
        for alts in &p.depends {
            c.relation(p, alts)?;
        }
    }
    Ok(c.chosen
        .values()
        .map(|p| Pin {
            name: p.name.clone(),
            version: p.version.clone(),
            architecture: p.architecture.clone(),
            sha256: p.sha256.clone(),
            filename: p.filename.clone(),
            size: p.size,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::index::parse;

    fn stanza(name: &str, version: &str, prio: &str, rest: &str) -> String {
        format!(
            "Package: {name}\nVersion: {version}\nArchitecture: amd64\nPriority: {prio}\n{rest}Filename: pool/{name}_{version}.deb\nSHA256: {}\n\n",
            "0".repeat(64)
        )
    }

    fn index() -> Index {
        let text = [
            stanza("base-files", "12.4", "required", "Pre-Depends: awk\n"),
            stanza("gawk", "5.2", "optional", "Provides: awk\nDepends: libc6\n"),
            stanza(
                "mawk",
                "1.3",
                "required",
                "Provides: awk\nDepends: libc6 (>= 2.34)\n",
            ),
            stanza("libc6", "2.36-9", "optional", "Depends: libgcc-s1\n"),
            stanza("libc6", "2.30-1", "optional", ""),
            stanza(
                "libgcc-s1",
                "12.2",
                "optional",
                "Depends: libc6 (>= 2.35)\n",
            ),
            stanza(
                "ca-certificates",
                "2023",
                "standard",
                "Depends: openssl (>= 1.1.1), debconf (>= 0.5) | debconf-2.0\n",
            ),
            stanza("openssl", "3.0.20", "optional", "Depends: libc6\n"),
            stanza("debconf", "1.5", "important", "Depends: perl-base\n"),
            stanza("perl-base", "5.36", "required", ""),
            stanza(
                "stdlib",
                "1",
                "optional",
                "Depends: mime-support | media-types\n",
            ),
            stanza("media-types", "1", "optional", ""),
            stanza("mime-support", "1", "optional", "Depends: perl\n"),
            stanza("needs-new", "1", "optional", "Depends: libc6 (>= 9)\n"),
            stanza(
                "needs-ghost",
                "1",
                "optional",
                "Depends: ghost | phantom (>= 2)\n",
            ),
        ]
        .concat();
        parse(&text, "amd64", "Packages").unwrap()
    }

    fn names(pins: &[Pin]) -> Vec<String> {
        pins.iter()
            .map(|p| format!("{}={}", p.name, p.version))
            .collect()
    }

    #[test]
    fn virtual_packages_pick_the_required_provider_and_highest_version() {
        let pins = closure(&index(), &["base-files".into()], &[]).unwrap();
        assert_eq!(
            names(&pins),
            [
                "base-files=12.4",
                "libc6=2.36-9",
                "libgcc-s1=12.2",
                "mawk=1.3"
            ]
        );
    }

    #[test]
    fn excluded_packages_meet_relations_and_drop_their_closure() {
        let ex = vec!["debconf*".to_string(), "perl*".to_string()];
        let pins = closure(&index(), &["ca-certificates".into()], &ex).unwrap();
        assert_eq!(
            names(&pins),
            [
                "ca-certificates=2023",
                "libc6=2.36-9",
                "libgcc-s1=12.2",
                "openssl=3.0.20"
            ]
        );
        let pins = closure(&index(), &["ca-certificates".into()], &[]).unwrap();
        assert!(names(&pins).contains(&"perl-base=5.36".to_string()));
        // An excluded alternative is skipped when another one is there.
        let pins = closure(&index(), &["stdlib".into()], &["mime-support".into()]).unwrap();
        assert_eq!(names(&pins), ["media-types=1", "stdlib=1"]);
    }

    #[test]
    fn roots_can_pin_a_version() {
        let pins = closure(&index(), &["libc6=2.30-1".into()], &[]).unwrap();
        assert_eq!(names(&pins), ["libc6=2.30-1"]);
        let err = closure(&index(), &["libc6=1.0".into()], &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("2.36-9, 2.30-1") || err.contains("2.30-1, 2.36-9"),
            "{err}"
        );
    }

    #[test]
    fn unmet_relations_name_the_package_and_relation() {
        let err = closure(&index(), &["needs-new".into()], &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("needs-new 1") && err.contains("libc6 (>= 9)"),
            "{err}"
        );
        assert!(err.contains("it has libc6 2.36-9"), "{err}");
        let err = closure(&index(), &["needs-ghost".into()], &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("ghost | phantom (>= 2)") && err.contains("no such package"),
            "{err}"
        );
        let err = closure(&index(), &["nope".into()], &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("package nope"), "{err}");
    }

    #[test]
    fn glob_patterns() {
        assert!(matches("perl-modules-*", "perl-modules-5.36"));
        assert!(matches("libperl*", "libperl5.36"));
        assert!(!matches("perl", "perl-base"));
        assert!(matches("*-doc", "python3-doc"));
    }
}
