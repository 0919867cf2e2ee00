//! requirements.txt as pip reads it: `-r`/`-c` includes, continuations, comments, index
//! options, per-line `--hash` options (dropped: the lock records every artifact's hash).

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use super::IndexOptions;
use crate::{Error, Result};

#[derive(Debug, Default)]
pub struct Parsed {
    pub requirements: Vec<String>,
    pub constraints: Vec<String>,
    pub index: IndexOptions,
}

/// Parse `path` and everything it includes.
///
/// # Errors
/// An unreadable include, an include cycle, an option prisn cannot lock, an invalid requirement.
pub fn parse_file(path: &Path) -> Result<Parsed> {
    let mut parsed = Parsed::default();
    let mut seen = HashSet::new();
    parse_into(path, false, &mut parsed, &mut seen)?;
    Ok(parsed)
}

fn parse_into(
    path: &Path,
    constraint: bool,
    out: &mut Parsed,
    seen: &mut HashSet<PathBuf>,
) -> Result<()> {
    let canonical = fs::canonicalize(path).map_err(Error::io("read", path))?;
    if !seen.insert(canonical) {
        return Ok(()); // included twice (or a cycle): pip reads it once too.
    }
    let text = fs::read_to_string(path).map_err(Error::io("read", path))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    for (line_no, line) in logical_lines(&text) {
        let err = |message: String, hint: Option<&str>| Error::Declaration {
            file: path.to_path_buf(),
            line: line_no,
            message,
            hint: hint.map(str::to_string),
        };
        let mut words = line.split_whitespace();
        let Some(first) = words.next() else { continue };
        if first.starts_with('-') {
            let (opt, inline) = match first.split_once('=') {
                Some((o, v)) => (o, Some(v.to_string())),
                None => (first, None),
            };
            let mut value = || {
                inline
                    .clone()
                    .or_else(|| words.next().map(str::to_string))
                    .ok_or_else(|| err(format!("{opt} needs a value"), None))
            };
            match opt {
                "-r" | "--requirement" => parse_into(&dir.join(value()?), constraint, out, seen)?,
                "-c" | "--constraint" => parse_into(&dir.join(value()?), true, out, seen)?,
                "-i" | "--index-url" => out.index.index_url = Some(value()?),
                "--extra-index-url" => out.index.extra_index_urls.push(value()?),
                "-f" | "--find-links" => out.index.find_links.push(value()?),
                "--no-index" => out.index.no_index = true,
                "--hash" | "--require-hashes" | "--only-binary" | "--prefer-binary" | "--pre"
                | "--trusted-host" => {}
                "-e" | "--editable" => {
                    return Err(err(
                        format!("editable requirement {line:?} cannot be locked"),
                        Some(
                            "install the package by name and version, or ship its source in the script's directory",
                        ),
                    ));
                }
                _ => {
                    return Err(err(
                        format!("unsupported option {opt}"),
                        Some(
                            "remove it; prisn supports -r, -c, --index-url, --extra-index-url, --find-links, --no-index and --hash",
                        ),
                    ));
                }
            }
            continue;
        }
        // A requirement, possibly followed by per-requirement options such as --hash.
        let spec = match line.find(" --") {
            Some(i) => line[..i].trim(),
            None => line.trim(),
        };
        let parsed = super::parse_pep508(spec).map_err(|e| {
            err(
                format!("invalid requirement {spec:?}: {e}"),
                Some("write it as in PEP 508, e.g. `requests>=2.31,<3` or `uvicorn[standard]==0.30.1; python_version >= \"3.9\"`"),
            )
        })?;
        if constraint {
            out.constraints.push(parsed.to_string());
        } else {
            out.requirements.push(parsed.to_string());
        }
    }
    Ok(())
}

/// Join `\` continuations and drop comments; yields (1-based first line, text).
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut start = 0;
    for (i, raw) in text.lines().enumerate() {
        if current.is_empty() {
            start = i + 1;
        }
        let without_comment = strip_comment(raw);
        if let Some(body) = without_comment.trim_end().strip_suffix('\\') {
            current.push_str(body);
            current.push(' ');
            continue;
        }
        current.push_str(without_comment);
        let line = current.trim().to_string();
        current.clear();
        if !line.is_empty() {
            out.push((start, line));
        }
    }
    let tail = current.trim();
    if !tail.is_empty() {
        out.push((start, tail.to_string()));
    }
    out
}

/// pip treats `#` at the start or after whitespace as a comment.
fn strip_comment(line: &str) -> &str {
    let bytes = line.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'#' && (i == 0 || bytes[i - 1].is_ascii_whitespace()) {
            return &line[..i];
        }
    }
    line
}
