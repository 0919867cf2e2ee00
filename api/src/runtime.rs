//! [`Runtime`]: the interpreter family a script needs. One type for the builder (which reads it
//! from an extension or a `#!` line), the daemon and the CRDs' `runtime` field.

use serde::{Deserialize, Serialize};

/// The interpreter a code source runs with.
///
/// `python3` runs `python3 -u -B /app/<entrypoint>`, `node` runs `node /app/<entrypoint>` and
/// `bash` runs `bash /app/<entrypoint>`, each in the runtime's base image (configurable on the
/// operator). Image sources ignore it: the image runs its own entrypoint.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[cfg_attr(feature = "crd", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Runtime {
    #[default]
    Python3,
    Node,
    Bash,
}

impl Runtime {
    /// Every runtime, in a stable order.
    pub const ALL: [Runtime; 3] = [Runtime::Python3, Runtime::Node, Runtime::Bash];

    /// The name used in the API (`python3`, `node`, `bash`).
    pub fn as_str(self) -> &'static str {
        match self {
            Runtime::Python3 => "python3",
            Runtime::Node => "node",
            Runtime::Bash => "bash",
        }
    }

    /// From a file extension (without the dot).
    pub fn from_extension(ext: &str) -> Option<Runtime> {
        match ext {
            "py" | "pyw" => Some(Runtime::Python3),
            "js" | "mjs" | "cjs" => Some(Runtime::Node),
            "sh" | "bash" => Some(Runtime::Bash),
            _ => None,
        }
    }

    /// From a `#!` line: `/usr/bin/env python3`, `/bin/bash`, `/usr/bin/env -S node --flag`…
    pub fn from_shebang(line: &str) -> Option<Runtime> {
        let rest = line.strip_prefix("#!")?;
        let mut words = rest.split_whitespace();
        let mut program = words.next()?;
        if program.ends_with("/env") {
            program = words.find(|w| !w.starts_with('-'))?;
        }
        let name = program.rsplit('/').next()?;
        if name.starts_with("python") {
            Some(Runtime::Python3)
        } else if name == "node" || name == "nodejs" {
            Some(Runtime::Node)
        } else if matches!(name, "bash" | "sh" | "dash") {
            Some(Runtime::Bash)
        } else {
            None
        }
    }

    /// The entrypoint used when `source.entrypoint` is not set.
    pub fn default_entrypoint(self) -> &'static str {
        match self {
            Runtime::Python3 => "main.py",
            Runtime::Node => "index.js",
            Runtime::Bash => "main.sh",
        }
    }

    /// The stock base image used for code sources unless the operator is told otherwise.
    pub fn default_base_image(self) -> &'static str {
        match self {
            Runtime::Python3 => "python:3.11-slim",
            Runtime::Node => "node:20-slim",
            Runtime::Bash => "bash:5",
        }
    }

    /// The interpreter command, without the script path.
    pub fn interpreter(self) -> &'static [&'static str] {
        match self {
            // -u: unbuffered, so logs show up at once; -B: no .pyc writes (the root fs is read-only).
            Runtime::Python3 => &["python3", "-u", "-B"],
            Runtime::Node => &["node"],
            Runtime::Bash => &["bash"],
        }
    }
}

impl std::fmt::Display for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Runtime {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Runtime::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown runtime {s:?}; expected one of python3, node, bash"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for r in Runtime::ALL {
            assert_eq!(r.as_str().parse::<Runtime>(), Ok(r));
        }
        assert!("ruby".parse::<Runtime>().is_err());
    }
}
