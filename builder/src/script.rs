//! Read a script: which runtime runs it, which file is the entrypoint, and which files ship
//! with it. A single file ships alone; a directory ships all of its files except ignored ones.

use std::fs;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// The interpreter family a script needs: one definition for every crate, in `prisn-api`.
pub use prisn_api::Runtime;

/// A script ready for analysis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    /// The directory that holds the code, its declarations and prisn.lock.
    pub root: PathBuf,
    /// The entrypoint, relative to `root`, `/`-separated.
    pub entrypoint: String,
    pub runtime: Runtime,
    /// Every file to ship, relative to `root`, `/`-separated, sorted. A single-file script
    /// ships just itself.
    pub files: Vec<String>,
    /// True when the user named a directory.
    pub is_dir: bool,
}

impl Script {
    /// Absolute path of the entrypoint.
    pub fn entry_path(&self) -> PathBuf {
        self.root.join(&self.entrypoint)
    }

    /// A short name for store entries and deployments: the directory name for a project,
    /// the file stem for a single script.
    pub fn name(&self) -> String {
        let raw = if self.is_dir {
            self.root
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        } else {
            Path::new(&self.entrypoint)
                .file_stem()
                .map(|n| n.to_string_lossy().into_owned())
        };
        raw.unwrap_or_else(|| "script".into())
    }
}

/// Entrypoints looked for, in order, when a directory is given.
pub const ENTRYPOINTS: &[&str] = &[
    "main.py",
    "app.py",
    "__main__.py",
    "index.js",
    "main.js",
    "app.js",
    "server.js",
    "index.mjs",
    "main.mjs",
    "main.sh",
    "run.sh",
];

/// Paths never shipped: version control, dependency dirs (the lock rebuilds them), caches.
const ALWAYS_IGNORED: &[&str] = &[
    ".git/",
    ".hg/",
    ".svn/",
    "node_modules/",
    "__pycache__/",
    "*.pyc",
    ".venv/",
    ".prisn/",
    "prisn.lock",
    ".DS_Store",
];

/// Read the script or project at `path`.
///
/// # Errors
/// Missing path, no entrypoint in a directory, or no runtime for the entrypoint.
pub fn read(path: &Path, entrypoint: Option<&str>) -> Result<Script> {
    let meta = fs::metadata(path).map_err(|_| Error::ScriptNotFound(path.to_path_buf()))?;
    let abs = fs::canonicalize(path).map_err(Error::io("resolve", path))?;
    if meta.is_dir() {
        let entry = match entrypoint {
            Some(e) => {
                let e = e.trim_start_matches("./").to_string();
                if !abs.join(&e).is_file() {
                    return Err(Error::NoEntrypoint {
                        dir: path.to_path_buf(),
                        tried: e,
                    });
                }
                e
            }
            None => find_entrypoint(&abs).ok_or_else(|| Error::NoEntrypoint {
                dir: path.to_path_buf(),
                tried: ENTRYPOINTS.join(", "),
            })?,
        };
        let runtime = runtime_of(&abs.join(&entry))?;
        let files = walk(&abs)?;
        Ok(Script {
            root: abs,
            entrypoint: entry,
            runtime,
            files,
            is_dir: true,
        })
    } else {
        let runtime = runtime_of(&abs)?;
        let root = abs
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("/"));
        let name = abs
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| Error::ScriptNotFound(path.to_path_buf()))?;
        Ok(Script {
            root,
            entrypoint: name.clone(),
            runtime,
            files: vec![name],
            is_dir: false,
        })
    }
}

fn find_entrypoint(dir: &Path) -> Option<String> {
    // package.json's "main" names the Node entrypoint explicitly.
    if let Ok(text) = fs::read_to_string(dir.join("package.json"))
        && let Ok(json) = serde_json::from_str::<serde_json::Value>(&text)
        && let Some(main) = json.get("main").and_then(|m| m.as_str())
    {
        let main = main.trim_start_matches("./");
        if dir.join(main).is_file() {
            return Some(main.to_string());
        }
    }
    ENTRYPOINTS
        .iter()
        .find(|e| dir.join(e).is_file())
        .map(|e| e.to_string())
}

/// The runtime of one file: extension first, then shebang.
fn runtime_of(file: &Path) -> Result<Runtime> {
    if let Some(rt) = file
        .extension()
        .and_then(|e| e.to_str())
        .and_then(Runtime::from_extension)
    {
        return Ok(rt);
    }
    let bytes = fs::read(file).map_err(Error::io("read", file))?;
    let first = bytes.split(|b| *b == b'\n').next().unwrap_or_default();
    Runtime::from_shebang(&String::from_utf8_lossy(first)).ok_or_else(|| Error::UnknownRuntime {
        path: file.to_path_buf(),
    })
}

/// Every file under `root`, honouring .gitignore and .prisnignore (also outside git
/// repositories) but never the user's global git excludes: those differ between machines,
/// and the code layer must not. Symlinks are followed, to files and to directories (a loop is
/// an error): the code that ships is the code `prisn run` sees, by content.
fn walk(root: &Path) -> Result<Vec<String>> {
    let failed = |message: String| Error::Walk {
        root: root.to_path_buf(),
        message,
    };
    let mut overrides = ignore::overrides::OverrideBuilder::new(root);
    for pattern in ALWAYS_IGNORED {
        overrides
            .add(&format!("!{pattern}"))
            .map_err(|e| failed(format!("bad built-in ignore pattern {pattern}: {e}")))?;
    }
    let overrides = overrides
        .build()
        .map_err(|e| failed(format!("ignore patterns: {e}")))?;
    let walker = ignore::WalkBuilder::new(root)
        .hidden(false)
        .parents(false)
        .git_global(false)
        .git_exclude(false)
        .require_git(false)
        .ignore(false)
        .add_custom_ignore_filename(".prisnignore")
        .overrides(overrides)
        .follow_links(true)
        .build();
    let mut files = Vec::new();
    for entry in walker {
        let entry = entry.map_err(|e| failed(e.to_string()))?;
        let Some(ft) = entry.file_type() else {
            continue;
        };
        if ft.is_dir() {
            continue;
        }
        let rel = entry
            .path()
            .strip_prefix(root)
            .map_err(|_| failed(format!("{} is outside it", entry.path().display())))?;
        let rel = rel.to_str().ok_or_else(|| Error::NotUtf8Path {
            path: entry.path().to_path_buf(),
        })?;
        files.push(rel.replace(std::path::MAIN_SEPARATOR, "/"));
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shebangs_name_their_runtime() {
        assert_eq!(
            Runtime::from_shebang("#!/usr/bin/env python3"),
            Some(Runtime::Python3)
        );
        assert_eq!(
            Runtime::from_shebang("#!/usr/bin/python3.11 -u"),
            Some(Runtime::Python3)
        );
        assert_eq!(
            Runtime::from_shebang("#!/usr/bin/env -S node --enable-source-maps"),
            Some(Runtime::Node)
        );
        assert_eq!(Runtime::from_shebang("#!/bin/bash"), Some(Runtime::Bash));
        assert_eq!(Runtime::from_shebang("#!/bin/sh -e"), Some(Runtime::Bash));
        assert_eq!(Runtime::from_shebang("#!/usr/bin/ruby"), None);
        assert_eq!(Runtime::from_shebang("print('x')"), None);
    }

    #[test]
    fn a_symlinked_sub_directory_ships_its_files_and_a_loop_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let (app, shared) = (dir.path().join("app"), dir.path().join("shared"));
        fs::create_dir_all(&app).unwrap();
        fs::create_dir_all(&shared).unwrap();
        fs::write(app.join("main.py"), "from lib.mod import X\n").unwrap();
        fs::write(shared.join("mod.py"), "X = 1\n").unwrap();
        std::os::unix::fs::symlink("../shared", app.join("lib")).unwrap();
        let s = read(&app, None).unwrap();
        assert_eq!(s.files, vec!["lib/mod.py", "main.py"]);
        std::os::unix::fs::symlink("..", shared.join("up")).unwrap();
        let err = read(&app, None).unwrap_err().to_string();
        assert!(err.contains("cannot list the files of"), "{err}");
    }

    #[test]
    fn a_directory_ships_all_files_but_ignored_ones() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::write(d.join("main.py"), "import helper\n").unwrap();
        fs::write(d.join("helper.py"), "X = 1\n").unwrap();
        fs::create_dir_all(d.join("data")).unwrap();
        fs::write(d.join("data/table.csv"), "a,b\n").unwrap();
        fs::write(d.join(".gitignore"), "secret.txt\n").unwrap();
        fs::write(d.join("secret.txt"), "s").unwrap();
        fs::write(d.join(".prisnignore"), "*.log\n").unwrap();
        fs::write(d.join("debug.log"), "l").unwrap();
        fs::create_dir_all(d.join("__pycache__")).unwrap();
        fs::write(d.join("__pycache__/helper.cpython-311.pyc"), "c").unwrap();
        fs::write(d.join("prisn.lock"), "version = 1\n").unwrap();
        let s = read(d, None).unwrap();
        assert_eq!(s.entrypoint, "main.py");
        assert_eq!(s.runtime, Runtime::Python3);
        assert!(s.is_dir);
        assert_eq!(
            s.files,
            vec![
                ".gitignore",
                ".prisnignore",
                "data/table.csv",
                "helper.py",
                "main.py"
            ]
        );
    }

    #[test]
    fn a_single_file_ships_alone_and_unknown_files_need_a_shebang() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::write(d.join("job"), "#!/usr/bin/env bash\necho hi\n").unwrap();
        fs::write(d.join("other.py"), "").unwrap();
        let s = read(&d.join("job"), None).unwrap();
        assert_eq!(
            (s.runtime, s.files.clone()),
            (Runtime::Bash, vec!["job".to_string()])
        );
        assert_eq!(s.name(), "job");
        fs::write(d.join("notes.txt"), "hello").unwrap();
        let err = read(&d.join("notes.txt"), None).unwrap_err();
        assert!(matches!(err, Error::UnknownRuntime { .. }), "{err}");
        let err = read(&d.join("missing.py"), None).unwrap_err();
        assert!(matches!(err, Error::ScriptNotFound(_)), "{err}");
    }

    #[test]
    fn a_directory_without_entrypoint_says_what_it_looked_for() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("lib.py"), "").unwrap();
        let err = read(dir.path(), None).unwrap_err();
        assert!(err.to_string().contains("main.py"), "{err}");
        let s = read(dir.path(), Some("lib.py")).unwrap();
        assert_eq!(s.entrypoint, "lib.py");
    }
}
