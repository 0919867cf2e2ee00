//! PEP 723 inline script metadata: a `# /// script` … `# ///` comment block holding TOML.
//! <https://peps.python.org/pep-0723/>

use std::path::Path;

use crate::{Error, Result};

/// The parts of the block prisn uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pep723 {
    pub dependencies: Vec<String>,
    pub requires_python: Option<String>,
    /// 1-based line of the opening `# /// script`.
    pub line: usize,
    /// 1-based line of `dependencies =` (or of the opening line).
    pub dependencies_line: usize,
}

const HINT: &str = "a PEP 723 block starts with `# /// script`, ends with `# ///`, and every line between starts with `#`";

/// Find and parse the `script` block of `text` (the contents of `file`).
///
/// # Errors
/// An unclosed or duplicate block, a line without `#` inside it, or invalid TOML.
pub fn parse(text: &str, file: &Path) -> Result<Option<Pep723>> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found: Option<(usize, Vec<String>)> = None;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim_end_matches('\r');
        let Some(kind) = line.strip_prefix("# /// ") else {
            i += 1;
            continue;
        };
        let kind = kind.trim();
        if kind.is_empty() || !kind.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            i += 1;
            continue;
        }
        // The block runs to the last `# ///` among the comment lines that follow.
        let mut end = None;
        let mut j = i + 1;
        while j < lines.len() && lines[j].starts_with('#') {
            if lines[j].trim_end_matches('\r') == "# ///" {
                end = Some(j);
            }
            j += 1;
        }
        let Some(end) = end else {
            return Err(declaration(
                file,
                i + 1,
                format!("the `# /// {kind}` block is never closed with `# ///`"),
            ));
        };
        if kind == "script" {
            if let Some((first, _)) = &found {
                return Err(declaration(
                    file,
                    i + 1,
                    format!(
                        "a second `# /// script` block (the first is on line {})",
                        first + 1
                    ),
                ));
            }
            let mut content = Vec::new();
            for (k, raw) in lines[i + 1..end].iter().enumerate() {
                let raw = raw.trim_end_matches('\r');
                if raw == "# /// script" {
                    // No code line between two blocks: by PEP 723's rule the first runs to the
                    // second's `# ///`, and its TOML error would say nothing useful.
                    return Err(declaration(
                        file,
                        i + 2 + k,
                        format!(
                            "a second `# /// script` block (the first is on line {}); with no code line between them they read as one block — merge them into one",
                            i + 1
                        ),
                    ));
                }
                let stripped = if raw == "#" {
                    ""
                } else if let Some(rest) = raw.strip_prefix("# ") {
                    rest
                } else {
                    return Err(declaration(
                        file,
                        i + 2 + k,
                        format!(
                            "line {raw:?} inside the script block must be `#` or start with `# `"
                        ),
                    ));
                };
                content.push(stripped.to_string());
            }
            found = Some((i, content));
        }
        i = end + 1;
    }
    let Some((start, content)) = found else {
        return Ok(None);
    };
    let toml_text = content.join("\n");
    let table: toml::Table = toml::from_str(&toml_text)
        .map_err(|e| super::toml_error(file, &toml_text, start + 1, &e))?;
    let line_of = |key: &str| {
        content
            .iter()
            .position(|l| l.trim_start().starts_with(key))
            .map_or(start + 1, |k| start + 2 + k)
    };
    let dependencies = match table.get("dependencies") {
        None => Vec::new(),
        Some(v) => v
            .as_array()
            .and_then(|a| {
                a.iter()
                    .map(|x| x.as_str().map(str::to_string))
                    .collect::<Option<Vec<_>>>()
            })
            .ok_or_else(|| {
                declaration(
                    file,
                    line_of("dependencies"),
                    "`dependencies` must be an array of strings, e.g. [\"requests<3\"]".into(),
                )
            })?,
    };
    let requires_python = match table.get("requires-python") {
        None => None,
        Some(v) => Some(
            v.as_str()
                .ok_or_else(|| {
                    declaration(
                        file,
                        line_of("requires-python"),
                        "`requires-python` must be a string such as \">=3.11\"".into(),
                    )
                })?
                .to_string(),
        ),
    };
    Ok(Some(Pep723 {
        dependencies,
        requires_python,
        line: start + 1,
        dependencies_line: line_of("dependencies"),
    }))
}

fn declaration(file: &Path, line: usize, message: String) -> Error {
    Error::Declaration {
        file: file.to_path_buf(),
        line,
        message,
        hint: Some(HINT.into()),
    }
}
