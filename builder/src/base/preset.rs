//! The bases prisn knows: which packages make them, which never go in, and how they start.
//!
//! Every base gets what slim images have and users rely on: `/usr/bin/env` (coreutils), a
//! shell (`dash` as `/bin/sh`), CA certificates, tzdata and netbase (`/etc/services`).
//! Left out on purpose, as the test suite's old fixture script did: perl (pulled in only
//! by maintainer tooling), dpkg and debconf (prisn runs no maintainer scripts, so nothing
//! calls them), and, for node, Python (node-gyp wants it, node does not).

/// A named base.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preset {
    pub name: &'static str,
    /// Root packages (the default of `--packages`).
    pub packages: &'static [&'static str],
    /// Never installed (globs with one `*`); a relation on one counts as met.
    pub exclude: &'static [&'static str],
    /// The image's default command.
    pub cmd: &'static [&'static str],
    /// The package whose version names the runtime in the image's labels.
    pub runtime_package: &'static str,
}

/// In every base.
const COMMON: &[&str] = &[
    "base-files",
    "ca-certificates",
    "coreutils",
    "dash",
    "netbase",
    "tzdata",
];

/// Never in any base.
const EXCLUDE: &[&str] = &[
    "cdebconf",
    "debconf",
    "debconf-2.0",
    "dpkg",
    "gawk",
    "install-info",
    "libdebian-installer4",
    "libnewt0.52",
    "libperl*",
    "libslang2",
    "libtextwrap1",
    "mailcap",
    "mime-support",
    "original-awk",
    "perl",
    "perl-base",
    "perl-modules-*",
    "tar",
];

const PYTHON3: &[&str] = &["python3"];
const NODE: &[&str] = &["nodejs"];
const BASH: &[&str] = &["bash", "grep", "sed"];

/// The bases by name: `python3`, `node`, `bash`.
pub fn find(name: &str) -> Option<Preset> {
    Some(match name {
        "python3" => Preset {
            name: "python3",
            packages: PYTHON3,
            exclude: EXCLUDE,
            cmd: &["python3"],
            runtime_package: "python3",
        },
        "node" => Preset {
            name: "node",
            packages: NODE,
            exclude: EXCLUDE,
            cmd: &["node"],
            runtime_package: "nodejs",
        },
        "bash" => Preset {
            name: "bash",
            packages: BASH,
            exclude: EXCLUDE,
            cmd: &["bash"],
            runtime_package: "bash",
        },
        _ => return None,
    })
}

/// The names [`find`] knows.
pub const NAMES: &[&str] = &["python3", "node", "bash"];

impl Preset {
    /// The default root packages: the runtime's, then [`COMMON`], sorted and unique.
    pub fn default_packages(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .packages
            .iter()
            .chain(COMMON)
            .map(|s| s.to_string())
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// What is excluded, including Python for node.
    pub fn default_exclude(&self) -> Vec<String> {
        let mut v: Vec<String> = self.exclude.iter().map(|s| s.to_string()).collect();
        if self.name == "node" {
            v.extend(["python3*".to_string(), "libpython3*".to_string()]);
        }
        v.sort();
        v.dedup();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_base_has_the_common_packages_and_its_runtime() {
        for name in NAMES {
            let p = find(name).unwrap();
            let pkgs = p.default_packages();
            for c in COMMON {
                assert!(pkgs.iter().any(|x| x == c), "{name} lacks {c}");
            }
            assert!(pkgs.iter().any(|x| x == p.runtime_package), "{name}");
            assert!(pkgs.windows(2).all(|w| w[0] < w[1]), "sorted, unique");
        }
        assert!(
            find("node")
                .unwrap()
                .default_exclude()
                .contains(&"python3*".to_string())
        );
        assert!(find("ruby").is_none());
    }
}
