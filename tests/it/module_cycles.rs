//! No import cycle inside any crate (issue 10). Builds each crate's module graph from its
//! `crate::`/`super::` paths and fails on a cycle, so no extra tool is needed.
//!
//! The rule, applied at every level of the module tree: a module and everything under it is
//! one unit to the outside, so a use between a module and its own descendants or ancestors is
//! not an edge (a parent declares and re-exports its children; children use their parent's
//! shared types). Every other use, from `a::x` to `b::y` where `a` and `b` are siblings under
//! their closest common parent, is an edge `a → b`, and those edges must form a DAG. So
//! `backend::kube::deploy` using `commands::build` while `commands::deploy` uses `backend` is a
//! cycle `backend → commands → backend`, the kind issue 10 removed.
//!
//! Limits: paths are read from the text (comments and the `#[cfg(test)]` tail of a file are
//! skipped); a path is resolved to the longest module prefix it names.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::common::repo_root;

/// Every crate of the workspace, by its `src/` directory.
const CRATES: [&str; 7] = [
    "src",
    "api/src",
    "builder/src",
    "operator/src",
    "local/src",
    "server/src",
    "tests/support/src",
];

/// Crates whose cycles another change is removing: their cycles are printed, not failed.
/// Empty: every crate's modules form a DAG (prisn-local's since the daemon split of issue 10).
const PENDING: &[(&str, &str)] = &[];

type Module = Vec<String>;

fn module_of(src: &Path, file: &Path) -> Option<Module> {
    let rel = file.strip_prefix(src).ok()?;
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if parts.first().is_some_and(|p| p == "bin") {
        return None; // separate crate roots
    }
    let last = parts.pop()?;
    let stem = last.strip_suffix(".rs")?;
    if !(parts.is_empty() && (stem == "lib" || stem == "main")) && stem != "mod" {
        parts.push(stem.to_string());
    }
    Some(parts)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable src dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file without comments and without its `#[cfg(test)]` tail.
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap_or("");
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every path after `crate::` or `super::` in `code`, expanded (`{a, b::c}` groups), as
/// absolute segment lists relative to the crate root.
fn paths(code: &str, here: &Module) -> Vec<Module> {
    let bytes: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let word_start = i == 0 || !(bytes[i - 1].is_alphanumeric() || bytes[i - 1] == '_');
        let rest: String = bytes[i..bytes.len().min(i + 7)].iter().collect();
        if word_start && (rest.starts_with("crate::") || rest.starts_with("super::")) {
            // The module the path starts from.
            let mut base: Module = Vec::new();
            let mut j = i;
            if rest.starts_with("crate::") {
                j += 7;
            } else {
                // `super` of `a::b` (a/b.rs or a/b/mod.rs alike) is `a`.
                base = here.clone();
                base.pop();
                j += 7;
                loop {
                    let next: String = bytes[j..bytes.len().min(j + 7)].iter().collect();
                    if next == "super::" {
                        base.pop();
                        j += 7;
                    } else {
                        break;
                    }
                }
            }
            let (found, end) = parse_tree(&bytes, j);
            for p in found {
                let mut full = base.clone();
                full.extend(p);
                out.push(full);
            }
            i = end.max(i + 1);
        } else {
            i += 1;
        }
    }
    out
}

/// Parse `a::b::{c, d::e}` starting at `j`; returns the expanded paths and where it ended.
fn parse_tree(b: &[char], mut j: usize) -> (Vec<Module>, usize) {
    let mut prefix: Module = Vec::new();
    loop {
        let start = j;
        while j < b.len() && (b[j].is_alphanumeric() || b[j] == '_') {
            j += 1;
        }
        if j > start {
            prefix.push(b[start..j].iter().collect());
        }
        let sep: String = b[j..b.len().min(j + 2)].iter().collect();
        if sep == "::" {
            j += 2;
            if b.get(j) == Some(&'{') {
                j += 1;
                let mut out = Vec::new();
                loop {
                    while j < b.len() && (b[j].is_whitespace() || b[j] == ',') {
                        j += 1;
                    }
                    if j >= b.len() || b[j] == '}' {
                        return (out, j + 1);
                    }
                    let (inner, end) = parse_tree(b, j);
                    for p in inner {
                        let mut full = prefix.clone();
                        full.extend(p);
                        out.push(full);
                    }
                    // Skip `as name` and anything up to the next separator.
                    j = end;
                    while j < b.len() && b[j] != ',' && b[j] != '}' {
                        j += 1;
                    }
                }
            }
            continue;
        }
        return (vec![prefix], j);
    }
}

/// The longest prefix of `path` that is a module.
fn resolve(path: &Module, modules: &BTreeSet<Module>) -> Module {
    (0..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|p| modules.contains(p))
        .unwrap_or_default()
}

/// Edges between siblings, keyed by their parent.
fn graph(src: &Path) -> BTreeMap<Module, BTreeSet<Module>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mods: Vec<(PathBuf, Module)> = files
        .into_iter()
        .filter_map(|f| module_of(src, &f).map(|m| (f, m)))
        .collect();
    let modules: BTreeSet<Module> = mods.iter().map(|(_, m)| m.clone()).collect();
    let mut edges: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for (file, here) in &mods {
        let text = std::fs::read_to_string(file).expect("readable source");
        for p in paths(&code(&text), here) {
            let target = resolve(&p, &modules);
            let common = here.iter().zip(&target).take_while(|(a, b)| a == b).count();
            // An ancestor or descendant (or itself): one unit, no edge.
            if common == here.len() || common == target.len() {
                continue;
            }
            edges
                .entry(here[..=common].to_vec())
                .or_default()
                .insert(target[..=common].to_vec());
        }
    }
    edges
}

fn find_cycle(edges: &BTreeMap<Module, BTreeSet<Module>>) -> Option<Vec<Module>> {
    fn visit(
        n: &Module,
        edges: &BTreeMap<Module, BTreeSet<Module>>,
        state: &mut BTreeMap<Module, u8>,
        stack: &mut Vec<Module>,
    ) -> Option<Vec<Module>> {
        state.insert(n.clone(), 1);
        stack.push(n.clone());
        for m in edges.get(n).into_iter().flatten() {
            match state.get(m) {
                Some(1) => {
                    let at = stack.iter().position(|s| s == m).unwrap_or(0);
                    let mut cycle = stack[at..].to_vec();
                    cycle.push(m.clone());
                    return Some(cycle);
                }
                Some(_) => {}
                None => {
                    if let Some(c) = visit(m, edges, state, stack) {
                        return Some(c);
                    }
                }
            }
        }
        stack.pop();
        state.insert(n.clone(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in edges.keys() {
        if !state.contains_key(n) {
            let mut stack = Vec::new();
            if let Some(c) = visit(n, edges, &mut state, &mut stack) {
                return Some(c);
            }
        }
    }
    None
}

fn show(cycle: &[Module]) -> String {
    cycle
        .iter()
        .map(|m| m.join("::"))
        .collect::<Vec<_>>()
        .join(" -> ")
}

#[test]
fn no_crate_has_an_import_cycle() {
    let mut found = Vec::new();
    for dir in CRATES {
        let mut edges = graph(&repo_root().join(dir));
        // Report every cycle, one at a time: drop one edge of each found and look again.
        while let Some(cycle) = find_cycle(&edges) {
            let shown = format!("{dir}: {}", show(&cycle));
            if let Some(set) = edges.get_mut(&cycle[0]) {
                set.remove(&cycle[1]);
            }
            found.push(shown);
        }
    }
    let pending = |c: &str| {
        PENDING
            .iter()
            .find(|(dir, _)| c.starts_with(&format!("{dir}:")))
    };
    for c in &found {
        if let Some((_, why)) = pending(c) {
            eprintln!("note: {c} (pending: {why})");
        }
    }
    let new: Vec<&String> = found.iter().filter(|c| pending(c).is_none()).collect();
    assert!(
        new.is_empty(),
        "import cycles (move the shared part into a leaf module both can use):\n  {}",
        new.iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n  ")
    );
}

#[test]
fn the_checker_sees_a_cycle_between_siblings() {
    // The shape issue 10 removed from the CLI: a backend importing a command module.
    let dir = tempfile::tempdir().expect("temp dir");
    let write = |rel: &str, text: &str| {
        let p = dir.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    write("lib.rs", "mod backend;\nmod commands;\n");
    write("backend/mod.rs", "pub mod kube;\npub struct Backend;\n");
    write(
        "backend/kube/deploy.rs",
        "use crate::commands::build::{qualify, RegistryArgs};\nuse super::super::Backend;\n",
    );
    write("backend/kube/mod.rs", "mod deploy;\n");
    write("commands/mod.rs", "mod build;\nmod deploy;\n");
    write("commands/build.rs", "pub fn qualify() {}\n");
    write("commands/deploy.rs", "use crate::backend::Backend;\n");
    let edges = graph(dir.path());
    let cycle = find_cycle(&edges).expect("a cycle");
    assert_eq!(show(&cycle), "backend -> commands -> backend");
    // Without the backend's import, there is none.
    write("backend/kube/deploy.rs", "use super::super::Backend;\n");
    assert_eq!(find_cycle(&graph(dir.path())), None);
}

/// The crate layers (issue 10, go-containerregistry's depcheck): the CLI does not link the
/// operator, and neither the builder nor local mode links kube. Asks `cargo tree`, offline.
#[test]
fn the_cli_links_no_operator_and_the_builder_and_local_no_kube() {
    let tree = |package: &str| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let out = std::process::Command::new(cargo)
            .args([
                "tree",
                "--offline",
                "--locked",
                "-e",
                "normal",
                "-p",
                package,
            ])
            .current_dir(repo_root())
            .output()
            .expect("cargo runs");
        assert!(
            out.status.success(),
            "cargo tree -p {package}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let names = |text: &str| -> BTreeSet<String> {
        text.lines()
            .filter_map(|l| {
                l.trim_start_matches(|c: char| !c.is_ascii_alphanumeric())
                    .split(' ')
                    .next()
                    .map(str::to_string)
            })
            .collect()
    };
    let cli = names(&tree("prisn"));
    assert!(cli.contains("prisn-api"), "the tree was not read: {cli:?}");
    assert!(
        !cli.contains("prisn-operator"),
        "prisn links prisn-operator"
    );
    for package in ["prisn-builder", "prisn-local", "prisn-server"] {
        let deps = names(&tree(package));
        assert!(deps.contains("prisn-api"), "{package}: {deps:?}");
        for banned in ["kube", "kube-client", "k8s-openapi"] {
            assert!(!deps.contains(banned), "{package} links {banned}");
        }
    }
}
