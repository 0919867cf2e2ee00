use std::path::Path;

use super::*;

fn section() -> LockSection {
    LockSection {
        runtime: Runtime::Python3,
        inputs: "sha256:abc".into(),
        requires_python: Some(">=3.11".into()),
        python: Some("3.11".into()),
        platform: Some("x86_64-manylinux_2_28".into()),
        exclude_newer: Some("2026-11-26T00:00:00Z".into()),
        resolver: "uv".into(),
        base: None,
        packages: vec![
            Package {
                name: "requests".into(),
                version: "2.32.3".into(),
                url: None,
                hashes: vec!["sha256:11".into(), "sha256:22".into()],
            },
            Package {
                name: "idna".into(),
                version: "3.10".into(),
                url: None,
                hashes: vec!["sha256:33".into()],
            },
        ],
    }
}

#[test]
fn lock_text_is_sorted_stable_and_round_trips() {
    let mut file = LockFile::default();
    file.scripts.insert("b.py".into(), section());
    file.scripts.insert("a.py".into(), section());
    let text = file.to_text();
    assert!(
        text.find("[scripts.\"a.py\"]").unwrap() < text.find("[scripts.\"b.py\"]").unwrap(),
        "{text}"
    );
    assert!(text.find("name = \"idna\"").unwrap() < text.find("name = \"requests\"").unwrap());
    let back = LockFile::parse(&text, Path::new("prisn.lock")).unwrap();
    assert_eq!(back.to_text(), text);
    assert_eq!(back.scripts["a.py"].packages[0].name, "idna");
}

#[test]
fn requirements_txt_carries_every_hash() {
    let txt = section().requirements_txt();
    assert!(
        txt.contains("requests==2.32.3 \\\n    --hash=sha256:11 \\\n    --hash=sha256:22\n"),
        "{txt}"
    );
}

#[test]
fn digest_ignores_the_base_pin_but_not_packages() {
    let a = section();
    let mut b = section();
    b.base = Some(BasePin {
        image: "python:3.11-slim".into(),
        digest: "sha256:ff".into(),
    });
    assert_eq!(a.digest(), b.digest());
    b.packages[0].version = "2.32.4".into();
    assert_ne!(a.digest(), b.digest());
}

#[test]
fn corrupt_and_future_locks_are_refused_with_a_reason() {
    let p = Path::new("x/prisn.lock");
    let e = LockFile::parse("version = 1\n[scripts", p).unwrap_err();
    assert!(
        e.to_string()
            .contains("x/prisn.lock is not a valid prisn lock: invalid TOML"),
        "{e}"
    );
    let e = LockFile::parse("version = 7\n", p).unwrap_err();
    assert!(e.to_string().contains("newer prisn"), "{e}");
    let e = LockFile::parse("[scripts]\n", p).unwrap_err();
    assert!(e.to_string().contains("no `version`"), "{e}");
    let e =
        LockFile::parse("version = 1\n[scripts.\"a.py\"]\nruntime = \"cobol\"\n", p).unwrap_err();
    assert!(matches!(e, crate::Error::LockCorrupt { .. }), "{e}");
}

#[test]
fn uv_output_parses_into_packages() {
    let text = "certifi==2024.8.30 \\\n    --hash=sha256:aa \\\n    --hash=sha256:bb\nFlask_Login==0.6.3 \\\n    --hash=sha256:cc\n";
    let pkgs = resolve::parse_pinned(text).unwrap();
    assert_eq!(pkgs.len(), 2);
    assert_eq!(pkgs[0].name, "certifi");
    assert_eq!(pkgs[0].hashes, vec!["sha256:aa", "sha256:bb"]);
    assert_eq!(pkgs[1].name, "flask-login");
}
