use std::fs;

use super::*;
use crate::script;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    fs::write(&p, text).unwrap();
    p
}

fn analyze_file(dir: &Path, name: &str) -> Result<Requirements> {
    analyze(&script::read(&dir.join(name), None)?)
}

const API: &str = "# /// script\n# requires-python = \">=3.11\"\n# dependencies = [\n#   \"requests<3\",\n#   \"Flask >= 3.0\",\n# ]\n# ///\nimport flask\n";

#[test]
fn pep723_block_gives_dependencies_and_requires_python() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "api.py", API);
    let r = analyze_file(d.path(), "api.py").unwrap();
    assert_eq!(r.requirements, vec!["flask>=3.0", "requests<3"]);
    assert_eq!(r.requires_python.as_deref(), Some(">=3.11"));
    assert!(matches!(r.origin, Origin::Pep723(_)));
}

#[test]
fn pep723_wins_over_requirements_txt() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "api.py", API);
    write(d.path(), "requirements.txt", "django\n");
    let r = analyze_file(d.path(), "api.py").unwrap();
    assert_eq!(r.requirements, vec!["flask>=3.0", "requests<3"]);
}

#[test]
fn input_hash_ignores_order_and_spacing_but_not_content() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "a.py", API);
    write(
        d.path(),
        "b.py",
        &API.replace(
            "#   \"requests<3\",\n#   \"Flask >= 3.0\",",
            "#   \"Flask>=3.0\",\n#   \"requests <3\",",
        ),
    );
    write(d.path(), "c.py", &API.replace("requests<3", "requests<2"));
    let a = analyze_file(d.path(), "a.py").unwrap().input_hash();
    let b = analyze_file(d.path(), "b.py").unwrap().input_hash();
    let c = analyze_file(d.path(), "c.py").unwrap().input_hash();
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn unclosed_block_names_the_line() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        "x.py",
        "import os\n# /// script\n# dependencies = []\nprint(1)\n",
    );
    let e = analyze_file(d.path(), "x.py").unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("x.py:2:") && msg.contains("never closed"),
        "{msg}"
    );
    assert!(e.hint().unwrap().contains("# ///"));
}

#[test]
fn duplicate_block_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let twice = format!("{API}{API}");
    write(d.path(), "x.py", &twice);
    let msg = analyze_file(d.path(), "x.py").unwrap_err().to_string();
    assert!(
        msg.contains("second `# /// script` block (the first is on line 1)"),
        "{msg}"
    );
}

#[test]
fn adjacent_duplicate_blocks_are_refused_as_duplicates_not_as_bad_toml() {
    let d = tempfile::tempdir().unwrap();
    let block = "# /// script\n# dependencies = []\n# ///\n";
    write(d.path(), "x.py", &format!("{block}{block}print(1)\n"));
    let msg = analyze_file(d.path(), "x.py").unwrap_err().to_string();
    assert!(
        msg.contains("x.py:4:")
            && msg.contains("second `# /// script` block (the first is on line 1)"),
        "{msg}"
    );
    assert!(!msg.contains("TOML"), "{msg}");
}

#[test]
fn invalid_toml_in_block_names_the_script_line() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        "x.py",
        "# /// script\n# dependencies = [\"requests\"\n# ///\n",
    );
    let msg = analyze_file(d.path(), "x.py").unwrap_err().to_string();
    assert!(
        msg.contains("x.py:") && msg.contains("invalid TOML"),
        "{msg}"
    );
}

#[test]
fn invalid_pep508_requirement_is_named() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        "x.py",
        "# /// script\n# dependencies = [\"requests>>2\"]\n# ///\n",
    );
    let msg = analyze_file(d.path(), "x.py").unwrap_err().to_string();
    assert!(
        msg.contains("x.py:2:") && msg.contains("requests>>2"),
        "{msg}"
    );
}

#[test]
fn a_line_without_hash_inside_the_block_is_refused() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        "x.py",
        "# /// script\n#dependencies = []\n# ///\n",
    );
    let msg = analyze_file(d.path(), "x.py").unwrap_err().to_string();
    assert!(msg.contains("x.py:2:"), "{msg}");
}

#[test]
fn requirements_txt_follows_includes_extras_markers_hashes_and_index_options() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "main.py", "import app\n");
    write(
        d.path(),
        "requirements.txt",
        "# web\n-r base.txt\n-c constraints.txt\n--index-url https://pypi.example/simple\nuvicorn[standard]==0.30.1 \\\n    --hash=sha256:aaaa\nrich ; python_version >= \"3.8\"  # pretty\n",
    );
    write(
        d.path(),
        "base.txt",
        "requests>=2.31,<3\n-r requirements.txt\n",
    );
    write(d.path(), "constraints.txt", "idna<4\n");
    let r = analyze(&script::read(d.path(), None).unwrap()).unwrap();
    assert_eq!(
        r.requirements,
        vec![
            "requests>=2.31,<3",
            "rich ; python_full_version >= '3.8'",
            "uvicorn[standard]==0.30.1"
        ]
    );
    assert_eq!(r.constraints, vec!["idna<4"]);
    assert_eq!(
        r.index.index_url.as_deref(),
        Some("https://pypi.example/simple")
    );
}

#[test]
fn requirements_txt_errors_name_file_and_line() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "main.py", "");
    write(d.path(), "requirements.txt", "flask\n\nflask ===== 3\n");
    let msg = analyze(&script::read(d.path(), None).unwrap())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("requirements.txt:3:"), "{msg}");
    write(d.path(), "requirements.txt", "-e ./lib\n");
    let e = analyze(&script::read(d.path(), None).unwrap()).unwrap_err();
    assert!(e.to_string().contains("editable"), "{e}");
    write(d.path(), "requirements.txt", "-r missing.txt\n");
    let e = analyze(&script::read(d.path(), None).unwrap()).unwrap_err();
    assert!(e.to_string().contains("missing.txt"), "{e}");
}

#[test]
fn pyproject_dependencies_are_read_and_dynamic_ones_refused() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "main.py", "");
    write(
        d.path(),
        "pyproject.toml",
        "[project]\nname = \"x\"\nrequires-python = \">=3.10\"\ndependencies = [\"httpx>=0.27\"]\n",
    );
    let r = analyze(&script::read(d.path(), None).unwrap()).unwrap();
    assert_eq!(r.requirements, vec!["httpx>=0.27"]);
    assert_eq!(r.requires_python.as_deref(), Some(">=3.10"));
    write(
        d.path(),
        "pyproject.toml",
        "[project]\nname = \"x\"\ndynamic = [\"dependencies\"]\n",
    );
    let msg = analyze(&script::read(d.path(), None).unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("pyproject.toml:3:") && msg.contains("dynamic"),
        "{msg}"
    );
}

#[test]
fn node_reads_package_json_and_lock_and_bash_declares_nothing() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "index.js", "");
    write(
        d.path(),
        "package.json",
        "{\"dependencies\": {\"is-number\": \"^7.0.0\"}}",
    );
    let r = analyze(&script::read(d.path(), None).unwrap()).unwrap();
    let node = r.node.clone().unwrap();
    assert_eq!((node.declared, node.package_lock.is_none()), (1, true));
    write(d.path(), "package-lock.json", "{not json");
    let msg = analyze(&script::read(d.path(), None).unwrap())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("package-lock.json:1:"), "{msg}");
    write(d.path(), "job.sh", "echo hi\n");
    let r = analyze_file(d.path(), "job.sh").unwrap();
    assert!(r.is_empty());
}

/// Found by fuzzing: pep508_rs panicked on a name ending in `-` before a space.
#[test]
fn a_name_ending_in_a_dash_is_an_error_not_a_panic() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "x.py", "print(1)\n");
    write(d.path(), "requirements.txt", "pa- bes.txt\n");
    let msg = analyze_file(d.path(), "x.py").unwrap_err().to_string();
    assert!(msg.contains("\"pa-\" is not a package name"), "{msg}");
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        "x.py",
        "# /// script\n# dependencies = [\"flask_ >=3\"]\n# ///\nprint(1)\n",
    );
    let msg = analyze_file(d.path(), "x.py").unwrap_err().to_string();
    assert!(msg.contains("\"flask_\" is not a package name"), "{msg}");
}

/// Found by fuzzing: pep508_rs panicked on an extra ending in `-` before `]` or a space too.
#[test]
fn an_extra_ending_in_a_dash_is_an_error_not_a_panic() {
    for line in ["abc[def-]", "abc [def, ind- ]", "abc[x.]==1"] {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "x.py", "print(1)\n");
        write(d.path(), "requirements.txt", &format!("{line}\n"));
        let msg = analyze_file(d.path(), "x.py").unwrap_err().to_string();
        assert!(msg.contains("is not an extra name"), "{line}: {msg}");
    }
}

/// Found by fuzzing: pep508_rs panicked on a multi-byte character in a marker (it counts
/// characters where it slices bytes); such a requirement is an error that names the character.
#[test]
fn a_non_ascii_character_is_an_error_not_a_panic() {
    for (line, c) in [
        ("abc[def] ; python_version ½ '3'", "'½'"),
        (
            "uests>=2; python_version >= \"3\" e\u{194de} >= _version",
            "'\\u{194de}'",
        ),
    ] {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "x.py", "print(1)\n");
        write(d.path(), "requirements.txt", &format!("{line}\n"));
        let msg = analyze_file(d.path(), "x.py").unwrap_err().to_string();
        assert!(msg.contains(&format!("{c} is not ASCII")), "{line}: {msg}");
    }
}
