//! Find what a script declares it needs, offline. Precedence for Python: the PEP 723
//! `# /// script` block, then `requirements.txt` beside the script, then `pyproject.toml`
//! `[project]`. Node: `package.json` (+ `package-lock.json`). Bash declares nothing.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Serialize;

use crate::script::{Runtime, Script};
use crate::{Error, Result};

mod pep723;
mod requirements_txt;

pub use pep723::{Pep723, parse as parse_pep723};

/// Where the declarations came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "path")]
pub enum Origin {
    /// Nothing declared.
    None,
    /// The script's `# /// script` block.
    Pep723(PathBuf),
    RequirementsTxt(PathBuf),
    Pyproject(PathBuf),
    PackageJson(PathBuf),
}

/// Package index settings found in the declarations (requirements.txt options).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IndexOptions {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index_url: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extra_index_urls: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub find_links: Vec<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub no_index: bool,
}

/// The Node declarations: the manifest and npm's lock, verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeDecl {
    pub package_json: String,
    pub package_lock: Option<String>,
    /// Number of declared dependencies (dependencies + optionalDependencies).
    pub declared: usize,
}

/// Everything a script declares it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirements {
    pub runtime: Runtime,
    pub origin: Origin,
    /// PEP 508 requirements, normalised, sorted, deduplicated.
    pub requirements: Vec<String>,
    /// PEP 508 constraints (`-c` files), normalised and sorted.
    pub constraints: Vec<String>,
    pub requires_python: Option<String>,
    pub index: IndexOptions,
    pub node: Option<NodeDecl>,
}

impl Requirements {
    /// True when there is nothing to install.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty() && self.node.as_ref().is_none_or(|n| n.declared == 0)
    }

    /// sha256 of the declarations, recorded in prisn.lock to tell when it went stale.
    /// Only what changes the resolution goes in: the requirements (sorted, so reordering
    /// lines does not invalidate a lock), constraints, requires-python and the index.
    pub fn input_hash(&self) -> String {
        #[derive(Serialize)]
        struct Inputs<'a> {
            format: u32,
            runtime: Runtime,
            requirements: &'a [String],
            constraints: &'a [String],
            requires_python: &'a Option<String>,
            index: &'a IndexOptions,
            package_json: Option<String>,
            package_lock: Option<String>,
        }
        let inputs = Inputs {
            format: 1,
            runtime: self.runtime,
            requirements: &self.requirements,
            constraints: &self.constraints,
            requires_python: &self.requires_python,
            index: &self.index,
            package_json: self
                .node
                .as_ref()
                .map(|n| crate::digest::sha256(n.package_json.as_bytes())),
            package_lock: self
                .node
                .as_ref()
                .and_then(|n| n.package_lock.as_ref())
                .map(|l| crate::digest::sha256(l.as_bytes())),
        };
        let json = serde_json::to_vec(&inputs).expect("plain structs always serialise");
        crate::digest::sha256(&json)
    }
}

/// Analyse `script`'s declarations without touching the network.
///
/// # Errors
/// A malformed declaration, with its file, line and what to fix.
pub fn analyze(script: &Script) -> Result<Requirements> {
    let mut req = Requirements {
        runtime: script.runtime,
        origin: Origin::None,
        requirements: Vec::new(),
        constraints: Vec::new(),
        requires_python: None,
        index: IndexOptions::default(),
        node: None,
    };
    match script.runtime {
        Runtime::Bash => {}
        Runtime::Python3 => analyze_python(script, &mut req)?,
        Runtime::Node => analyze_node(script, &mut req)?,
    }
    Ok(req)
}

fn analyze_python(script: &Script, req: &mut Requirements) -> Result<()> {
    let entry = script.entry_path();
    let text = fs::read_to_string(&entry).map_err(Error::io("read", &entry))?;
    if let Some(block) = pep723::parse(&text, &entry)? {
        req.origin = Origin::Pep723(entry.clone());
        req.requirements = normalise(&block.dependencies, &entry, block.dependencies_line)?;
        req.requires_python = block.requires_python;
        validate_requires_python(req.requires_python.as_deref(), &entry, block.line)?;
        return Ok(());
    }
    let txt = script.root.join("requirements.txt");
    if txt.is_file() {
        let parsed = requirements_txt::parse_file(&txt)?;
        req.origin = Origin::RequirementsTxt(txt);
        req.requirements = sorted_unique(parsed.requirements);
        req.constraints = sorted_unique(parsed.constraints);
        req.index = parsed.index;
        return Ok(());
    }
    let pyproject = script.root.join("pyproject.toml");
    if pyproject.is_file() {
        analyze_pyproject(&pyproject, req)?;
    }
    Ok(())
}

fn analyze_pyproject(path: &Path, req: &mut Requirements) -> Result<()> {
    let text = fs::read_to_string(path).map_err(Error::io("read", path))?;
    let doc: toml::Table = toml::from_str(&text).map_err(|e| toml_error(path, &text, 0, &e))?;
    let Some(project) = doc.get("project").and_then(|p| p.as_table()) else {
        return Ok(());
    };
    let dynamic = project
        .get("dynamic")
        .and_then(|d| d.as_array())
        .is_some_and(|d| d.iter().any(|v| v.as_str() == Some("dependencies")));
    if dynamic {
        return Err(Error::Declaration {
            file: path.to_path_buf(),
            line: line_of(&text, "dynamic"),
            message: "[project] dependencies are dynamic, so they cannot be read without running a build backend".into(),
            hint: Some("list them in [project] dependencies, or use requirements.txt or a PEP 723 block".into()),
        });
    }
    let deps = match project.get("dependencies") {
        None => Vec::new(),
        Some(v) => string_array(v).ok_or_else(|| Error::Declaration {
            file: path.to_path_buf(),
            line: line_of(&text, "dependencies"),
            message: "[project] dependencies must be an array of strings".into(),
            hint: None,
        })?,
    };
    req.origin = Origin::Pyproject(path.to_path_buf());
    req.requirements = normalise(&deps, path, line_of(&text, "dependencies"))?;
    if let Some(rp) = project.get("requires-python") {
        let rp = rp.as_str().ok_or_else(|| Error::Declaration {
            file: path.to_path_buf(),
            line: line_of(&text, "requires-python"),
            message: "[project] requires-python must be a string such as \">=3.10\"".into(),
            hint: None,
        })?;
        validate_requires_python(Some(rp), path, line_of(&text, "requires-python"))?;
        req.requires_python = Some(rp.to_string());
    }
    Ok(())
}

fn analyze_node(script: &Script, req: &mut Requirements) -> Result<()> {
    let manifest = script.root.join("package.json");
    let Ok(text) = fs::read_to_string(&manifest) else {
        return Ok(());
    };
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| Error::Declaration {
        file: manifest.clone(),
        line: e.line(),
        message: format!("invalid JSON: {e}"),
        hint: Some("fix package.json so that `npm install` accepts it".into()),
    })?;
    let mut declared = 0;
    for field in ["dependencies", "optionalDependencies"] {
        match json.get(field) {
            None => {}
            Some(serde_json::Value::Object(m)) => declared += m.len(),
            Some(_) => {
                return Err(Error::Declaration {
                    file: manifest.clone(),
                    line: line_of(&text, field),
                    message: format!("\"{field}\" must be an object of name → version range"),
                    hint: None,
                });
            }
        }
    }
    let lock_path = script.root.join("package-lock.json");
    let package_lock = match fs::read_to_string(&lock_path) {
        Ok(lock) => {
            serde_json::from_str::<serde_json::Value>(&lock).map_err(|e| Error::Declaration {
                file: lock_path.clone(),
                line: e.line(),
                message: format!("invalid JSON: {e}"),
                hint: Some(
                    "delete package-lock.json and run `prisn lock` to let npm write a new one"
                        .into(),
                ),
            })?;
            Some(lock)
        }
        Err(_) => None,
    };
    req.origin = Origin::PackageJson(manifest);
    req.node = Some(NodeDecl {
        package_json: text,
        package_lock,
        declared,
    });
    Ok(())
}

/// Parse one PEP 508 requirement, never panicking: pep508_rs 0.9.2 panics on non-ASCII text
/// (below), and (an `expect`) on a
/// name or an extra that ends in `-`, `_` or `.` before a space or a `]`, such as `pa- x` or
/// `pa[ex- ]` (both found by fuzzing the requirements parser), so such names are refused here
/// first, and any other panic of the parser becomes an error too (outside the fuzzer, whose
/// panic hook aborts first).
pub(crate) fn parse_pep508(
    text: &str,
) -> std::result::Result<pep508_rs::Requirement<pep508_rs::VerbatimUrl>, String> {
    // pep508_rs counts characters where it means bytes in places (a marker's `and`/`or` and its
    // error printing), and slicing inside a multi-byte character panics; nothing in PEP 508 but
    // a URL may hold one, and a URL can be percent-encoded (found by fuzzing).
    if let Some(c) = text.chars().find(|c| !c.is_ascii()) {
        return Err(format!(
            "{c:?} is not ASCII: names, versions and markers are ASCII; percent-encode it in a URL"
        ));
    }
    let is_name_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    let text_after_space = text.trim_start();
    let name_len = text_after_space
        .find(|c: char| !is_name_char(c))
        .unwrap_or(text_after_space.len());
    let name = &text_after_space[..name_len];
    let extras = text_after_space[name_len..]
        .trim_start()
        .strip_prefix('[')
        .map(|rest| rest.split(']').next().unwrap_or(rest))
        .unwrap_or("");
    for (what, word) in std::iter::once(("a package", name))
        .chain(extras.split(',').map(|extra| ("an extra", extra.trim())))
    {
        let word: String = word.chars().take_while(|c| is_name_char(*c)).collect();
        if word.ends_with(['-', '_', '.']) {
            return Err(format!(
                "{word:?} is not {what} name: a name starts and ends with a letter or digit"
            ));
        }
    }
    std::panic::catch_unwind(|| pep508_rs::Requirement::<pep508_rs::VerbatimUrl>::from_str(text))
        .map_err(|_| "the requirement parser failed on it".to_string())?
        .map_err(|e| underline(&e))
}

/// A PEP 508 error as pep508_rs prints it: the message, the input, a caret line under the
/// span. Its own `Display` slices the input at the span and panics when the span ends inside
/// a multi-byte character (found by fuzzing requirements_txt), so the columns are counted here.
fn underline(e: &pep508_rs::Pep508Error<pep508_rs::VerbatimUrl>) -> String {
    let input = &e.input;
    let column = input.get(..e.start).unwrap_or(input).chars().count();
    let width = input
        .get(e.start..e.start.saturating_add(e.len))
        .map_or(1, |span| span.chars().count().max(1));
    format!(
        "{}\n{input}\n{}{}",
        e.message,
        " ".repeat(column),
        "^".repeat(width)
    )
}

/// Parse each string as PEP 508 and print it back in normal form, sorted and unique.
fn normalise(items: &[String], file: &Path, line: usize) -> Result<Vec<String>> {
    let mut out = BTreeSet::new();
    for item in items {
        let parsed = parse_pep508(item).map_err(|e| Error::Declaration {
            file: file.to_path_buf(),
            line,
            message: format!("invalid requirement {item:?}: {e}"),
            hint: Some("write requirements as in PEP 508, e.g. \"requests>=2.31,<3\" or \"uvicorn[standard]==0.30.1\"".into()),
        })?;
        out.insert(parsed.to_string());
    }
    Ok(out.into_iter().collect())
}

fn sorted_unique(items: Vec<String>) -> Vec<String> {
    items
        .into_iter()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

fn validate_requires_python(spec: Option<&str>, file: &Path, line: usize) -> Result<()> {
    if let Some(spec) = spec {
        pep440_rs::VersionSpecifiers::from_str(spec).map_err(|e| Error::Declaration {
            file: file.to_path_buf(),
            line,
            message: format!("invalid requires-python {spec:?}: {e}"),
            hint: Some("use a PEP 440 specifier such as \">=3.10\"".into()),
        })?;
    }
    Ok(())
}

fn string_array(v: &toml::Value) -> Option<Vec<String>> {
    v.as_array()?
        .iter()
        .map(|x| x.as_str().map(str::to_string))
        .collect()
}

/// 1-based line of the first occurrence of `needle`, or 1.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .map_or(1, |i| i + 1)
}

/// A TOML error as a Declaration error, its line counted from `first_line` (0-based offset
/// of `text` inside `file`).
pub(crate) fn toml_error(file: &Path, text: &str, first_line: usize, e: &toml::de::Error) -> Error {
    let line = e
        .span()
        .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1)
        .unwrap_or(1);
    Error::Declaration {
        file: file.to_path_buf(),
        line: first_line + line,
        message: format!("invalid TOML: {}", e.message()),
        hint: None,
    }
}

#[cfg(test)]
mod tests;
