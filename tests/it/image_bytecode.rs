//! Bytecode by the base image's own Python (issue 14): the dependency layer's pycs come from
//! the interpreter the image runs, compiled in a user + mount namespace over the unpacked base,
//! so the digest does not depend on the build machine's Python, and the runtime uses them.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;
use crate::image_common::*;

/// six, and click, whose `utils.py` compiles to other bytes under CPython 3.11.2 and 3.11.7
/// (Debian's and pyenv's here), so a host-compiled layer would differ.
const SCRIPT: &str = "# /// script\n# dependencies = [\"six==1.16.0\", \"click==8.5.1\"]\n# ///\nimport six\nprint(six.__version__)\n";

/// Every `python3.X` of the base's minor version on this machine with its own patch release
/// (Debian's, pyenv's, …), one per version.
fn host_pythons(minor: &str) -> Vec<(String, PathBuf)> {
    let mut candidates = vec![
        PathBuf::from(format!("/usr/bin/python{minor}")),
        PathBuf::from(format!("/usr/local/bin/python{minor}")),
    ];
    let pyenv = std::env::var_os("PYENV_ROOT")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".pyenv")));
    if let Some(versions) = pyenv.map(|p| p.join("versions"))
        && let Ok(dir) = std::fs::read_dir(versions)
    {
        let mut found: Vec<PathBuf> = dir
            .flatten()
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with(&format!("{minor}."))
            })
            .map(|e| e.path().join("bin").join(format!("python{minor}")))
            .collect();
        found.sort();
        candidates.extend(found);
    }
    let mut out: Vec<(String, PathBuf)> = Vec::new();
    for py in candidates {
        let Ok(o) = Command::new(&py)
            .args(["-c", "import sys; print(sys.version)"])
            .output()
        else {
            continue;
        };
        let version = String::from_utf8_lossy(&o.stdout).trim().to_string();
        if o.status.success() && !out.iter().any(|(v, _)| *v == version) {
            out.push((version, py));
        }
    }
    out
}

/// A PATH whose `python3`, `python3.X` and `python` are `py`, before the usual PATH.
fn path_with(dir: &Path, py: &Path, minor: &str) -> String {
    std::fs::create_dir_all(dir).unwrap();
    for name in ["python", "python3", &format!("python{minor}")] {
        std::os::unix::fs::symlink(py, dir.join(name)).unwrap();
    }
    format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// Two builds, each in its own home with empty caches and another host Python first on PATH,
/// give one digest; the image's pycs are unchecked-hash pycs of the base's interpreter, and
/// the runtime loads them instead of compiling the sources.
#[test]
fn bytecode_digest_is_the_same_whatever_python_the_build_machine_has() {
    let facts = python_base_facts();
    let minor = facts.python.minor_version();
    let pythons = host_pythons(&minor);
    assert!(
        pythons.len() >= 2,
        "this test needs two different python{minor} on the machine (e.g. Debian's /usr/bin/python{minor} and pyenv's), found {pythons:?}"
    );
    let (reg, base) = registry_with_base("python3");
    let host = reg.host();
    let mut digests = Vec::new();
    let mut lock = None::<String>;
    for (i, (version, py)) in pythons.iter().take(2).enumerate() {
        let t = TestContext::new();
        t.write("s.py", SCRIPT);
        if let Some(l) = &lock {
            std::fs::write(t.path("prisn.lock"), l).unwrap();
        }
        let path = path_with(&t.home.path().join("hostbin"), py, &minor);
        let out = t
            .prisn()
            .env("PATH", path)
            .args([
                "build",
                "s.py",
                "--image",
                &format!("{host}/bc:{i}"),
                "--base",
                &base,
            ])
            .output()
            .unwrap();
        let reference = image_line(&out, &host);
        lock.get_or_insert_with(|| std::fs::read_to_string(t.path("prisn.lock")).unwrap());
        digests.push((version.clone(), reference));
    }
    assert_eq!(
        digest_of(&digests[0].1),
        digest_of(&digests[1].1),
        "host Pythons {:?} and {:?} gave two images",
        digests[0].0,
        digests[1].0
    );
    let reference = &digests[0].1;

    // The pyc is PEP 552 unchecked-hash (flags 1), of this interpreter's magic number, and
    // holds the hash of the source it was compiled from.
    let probe = "import importlib.util as u; s = u.find_spec('six').origin; \
                 b = open(u.cache_from_source(s), 'rb').read(16); \
                 print(b[:4] == u.MAGIC_NUMBER, b[4], b[8:16] == u.source_hash(open(s, 'rb').read()))";
    let (code, out, err) = run_image(&reg, reference, Some(&["python3", "-B", "-c", probe]));
    assert_eq!((code, out.as_str()), (0, "True 1 True\n"), "{err}");
    // At run time the import reads the pyc (python -v says where each module's code came from).
    let (code, _, err) = run_image(
        &reg,
        reference,
        Some(&["python3", "-B", "-v", "-c", "import six"]),
    );
    assert_eq!(code, 0, "{err}");
    let tag = facts.python.cache_tag();
    let from_pyc = format!("code object from '/opt/prisn/site-packages/__pycache__/six.{tag}.pyc'");
    assert!(
        err.contains(&from_pyc),
        "six was not loaded from its pyc:\n{err}"
    );
    let (code, out, err) = run_image(&reg, reference, None);
    assert_eq!((code, out.as_str()), (0, "1.16.0\n"), "{err}");
}

/// `--no-bytecode` ships no pycs, and the label that says who compiled them is absent.
#[test]
fn no_bytecode_ships_no_pycs() {
    let t = TestContext::new();
    let (reg, base) = registry_with_base("python3");
    let host = reg.host();
    t.write("s.py", SCRIPT);
    let build = |tag: &str, extra: &[&str]| {
        image_line(
            &build_image(&t, "s.py", &format!("{host}/nb:{tag}"), &base, extra),
            &host,
        )
    };
    let with = build("with", &[]);
    let without = build("without", &["--no-bytecode"]);
    assert_ne!(digest_of(&with), digest_of(&without));
    assert_eq!(
        digest_of(&build("again", &["--bytecode"])),
        digest_of(&with)
    );
    let count = "import pathlib; print(sum(1 for _ in pathlib.Path('/opt').rglob('*.pyc')))";
    let (code, out, err) = run_image(&reg, &without, Some(&["python3", "-B", "-c", count]));
    assert_eq!((code, out.as_str()), (0, "0\n"), "{err}");
    let labels = |r: &str| reg.skopeo_inspect(r, false).unwrap()["Labels"].clone();
    assert!(
        labels(&with)["io.prisn.bytecode"]
            .as_str()
            .is_some_and(|l| l.contains("base's /usr/bin/python3")),
        "{}",
        labels(&with)
    );
    assert!(labels(&without)["io.prisn.bytecode"].is_null());
}

/// A machine that refuses user namespaces gets an error that says so and what to do, and
/// `--no-bytecode` builds there. The refusal is real: prisn runs in a user namespace whose
/// `user.max_user_namespaces` is 0.
#[test]
fn a_machine_without_user_namespaces_is_told_to_allow_them_or_pass_no_bytecode() {
    let t = TestContext::new();
    let (reg, base) = registry_with_base("python3");
    let host = reg.host();
    t.write("s.py", SCRIPT);
    let confined = |tag: &str, extra: &[&str]| {
        let mut cmd = Command::new("unshare");
        cmd.args([
            "--user",
            "--map-root-user",
            "sh",
            "-c",
            "echo 0 > /proc/sys/user/max_user_namespaces && exec \"$0\" \"$@\"",
            env!("CARGO_BIN_EXE_prisn"),
            "build",
            "s.py",
            "--image",
            &format!("{host}/ns:{tag}"),
            "--base",
            &base,
        ])
        .args(extra)
        .env("PRISN_HOME", t.home.path())
        .current_dir(t.work.path());
        cmd.output().expect("unshare runs")
    };
    let err = fails(&confined("refused", &[]));
    assert!(
        err.contains("unshare(CLONE_NEWUSER") && err.contains("user namespaces"),
        "{err}"
    );
    assert!(err.contains("--no-bytecode"), "{err}");
    // Nothing half-built was pushed.
    assert!(
        reg.skopeo_inspect(&format!("{host}/ns:refused"), false)
            .is_err()
    );
    image_line(&confined("plain", &["--no-bytecode"]), &host);
}

/// The compile is shared by one sandboxed process per core the build may use, and the split
/// does not show in the bytes: built on one core and on two, from empty caches, one digest.
#[test]
fn bytecode_digest_is_the_same_on_one_core_and_on_two() {
    let (reg, base) = registry_with_base("python3");
    let host = reg.host();
    let mut lock = None::<String>;
    let mut digests = Vec::new();
    for (i, (cpus, shards)) in [("0", "1 shard"), ("0,1", "2 shard")].iter().enumerate() {
        let t = TestContext::new();
        t.write("s.py", SCRIPT);
        if let Some(l) = &lock {
            std::fs::write(t.path("prisn.lock"), l).unwrap();
        }
        // taskset: the cores the build may use, which set the number of compiling processes.
        let out = Command::new("taskset")
            .args(["-c", cpus, env!("CARGO_BIN_EXE_prisn"), "build", "s.py"])
            .args(["--image", &format!("{host}/cores:{i}"), "--base", &base])
            .env("PRISN_HOME", t.home.path())
            .env("PRISN_TIMINGS", "1")
            .current_dir(t.work.path())
            .output()
            .expect("taskset runs");
        let reference = image_line(&out, &host);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("dependencies compiled in {shards}")),
            "on cpus {cpus} expected {shards}(s):\n{err}"
        );
        lock.get_or_insert_with(|| std::fs::read_to_string(t.path("prisn.lock")).unwrap());
        digests.push(digest_of(&reference));
    }
    assert_eq!(digests[0], digests[1], "one core and two gave two images");
}

/// A copy of the python3 base without its `io.prisn.base.info` label (as any image not made
/// by `prisn base` is), pushed as `base/unlabelled:test`; returns the reference.
fn push_unlabelled_base(reg: &prisn_testsupport::registry::Registry) -> String {
    let layout = base_layout_with_config("python3", |config| {
        let labels = config["config"]["Labels"].as_object_mut().unwrap();
        assert!(
            labels.remove("io.prisn.base.info").is_some(),
            "the base has the label"
        );
    });
    reg.push_layout(layout.path(), "python3", "base/unlabelled:test")
        .unwrap()
}

/// A base without prisn's facts label (any image not made by `prisn base`) has its layers
/// scanned, as before the label; one with it has not (no scan cached for it), and both give
/// the same dependency layer: the same Python, platform, and interpreter in the shebang of
/// tabulate's console script.
#[test]
fn a_base_without_the_info_label_is_scanned_and_gives_the_same_layer() {
    let reg = prisn_testsupport::registry::Registry::start().unwrap();
    let host = reg.host();
    let labelled = push_base(&reg, "python3");
    let unlabelled = push_unlabelled_base(&reg);
    let t = TestContext::new();
    t.write(
        "t.py",
        "# /// script\n# dependencies = [\"tabulate==0.9.0\"]\n# ///\nimport tabulate\n",
    );
    let mut built = Vec::new();
    for (i, base) in [&labelled, &unlabelled].into_iter().enumerate() {
        let out = build_image(
            &t,
            "t.py",
            &format!("{host}/facts:{i}"),
            base,
            &["-o", "json"],
        );
        let v: serde_json::Value = serde_json::from_str(&ok(&out)).unwrap();
        let deps = v["layers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["role"] == "dependencies")
            .expect("a dependency layer")["digest"]
            .clone();
        let base_digest = v["base_digest"].as_str().unwrap().to_string();
        let scanned = t
            .home
            .path()
            .join("cache/base-v2")
            .join(format!("{}.json", &base_digest[7..]))
            .exists();
        built.push((deps, base_digest, scanned));
    }
    assert_ne!(built[0].1, built[1].1, "two bases");
    assert_eq!(
        (built[0].2, built[1].2),
        (false, true),
        "only the unlabelled base is scanned"
    );
    assert_eq!(built[0].0, built[1].0, "one dependency layer on both");

    // The label's Debian packages are what the layers' dpkg status lists: the SBOM on the
    // labelled base (from the label) and on the other (from the layers) name the same ones.
    let sbom = |i: usize| -> (String, Vec<(String, String)>) {
        let doc = ok(&t.run(&["sbom", &format!("{host}/facts:{i}")]));
        let v: serde_json::Value = serde_json::from_str(&doc).unwrap();
        let mut debs: Vec<(String, String)> = crate::image_sbom::debs(&v)
            .into_iter()
            .map(|p| {
                let field = |k: &str| p[k].as_str().unwrap().to_string();
                (field("name"), field("versionInfo"))
            })
            .collect();
        debs.sort();
        (v["creationInfo"]["comment"].as_str().unwrap().into(), debs)
    };
    let (from_label, labelled_debs) = sbom(0);
    let (from_layers, scanned_debs) = sbom(1);
    assert!(
        from_label.contains("io.prisn.base.info label"),
        "{from_label}"
    );
    assert!(
        from_layers.contains("/var/lib/dpkg/status"),
        "{from_layers}"
    );
    assert!(
        labelled_debs.iter().any(|(n, _)| n == "libc6"),
        "{labelled_debs:?}"
    );
    assert_eq!(labelled_debs, scanned_debs);
}

/// Without bytecode, an image on a labelled base needs nothing of the base's layers: not for
/// the platform (the label), not for the SBOM (the label's packages), not for the push (the
/// registry mounts them). Nothing of them is downloaded.
#[test]
fn an_image_without_bytecode_on_a_labelled_base_downloads_no_base_layer() {
    let reg = prisn_testsupport::registry::Registry::start().unwrap();
    let base = push_base(&reg, "python3");
    let t = TestContext::new();
    t.write(
        "t.py",
        "# /// script\n# dependencies = [\"tabulate==0.9.0\"]\n# ///\nimport tabulate\n",
    );
    let image = format!("{}/nolayers:1", reg.host());
    let out = build_image(&t, "t.py", &image, &base, &["--no-bytecode", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&ok(&out)).unwrap();
    let base_layers: Vec<&str> = v["layers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["role"] == "base")
        .map(|l| l["digest"].as_str().unwrap())
        .collect();
    assert!(!base_layers.is_empty(), "{v}");
    for d in base_layers {
        let blob = t.home.path().join("cache/blobs/sha256").join(&d[7..]);
        assert!(!blob.exists(), "{d} was downloaded");
    }
    let doc = ok(&t.run(&["sbom", &image]));
    assert!(
        doc.contains("pkg:deb/debian/libc6@"),
        "the SBOM lists the base's packages"
    );
}
