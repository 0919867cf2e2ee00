//! One function per parser that reads user input. Each must return for every input without
//! panicking, hanging or allocating without bound, and where a parse succeeds the checks
//! below hold. Used by `fuzz/fuzz_targets/*` (cargo fuzz) and by `tests/it/fuzz_corpus.rs`,
//! which replays the committed corpus (`fuzz/corpus/<target>/`) on stable in the test
//! command, so a fixed crash stays fixed.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use prisn_builder::analyze;
use prisn_builder::image::Reference;
use prisn_builder::lock::LockFile;
use prisn_builder::script;

/// A target: takes any bytes, returns normally or panics on a broken check.
pub type Target = fn(&[u8]);

/// Every target by name, as `cargo fuzz run NAME` and the corpus directories call them.
pub const TARGETS: &[(&str, Target)] = &[
    ("pep723", pep723),
    ("requirements_txt", requirements_txt),
    ("pyproject", pyproject),
    ("package_json", package_json),
    ("lock_file", lock_file),
    ("schedule", schedule),
    ("quantity", quantity),
    ("image_reference", image_reference),
    ("api_body", api_body),
];

fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

/// A scratch directory per process; each input overwrites the files it uses.
fn scratch(name: &str) -> PathBuf {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    let root = DIR.get_or_init(|| tempfile::tempdir().expect("a temporary directory"));
    let dir = root.path().join(name);
    // Fresh each time: an earlier input's files must not change this one's outcome.
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

fn write(dir: &Path, file: &str, data: &[u8]) {
    fs::write(dir.join(file), data).expect("scratch file");
}

/// The `# /// script` block of a Python file.
pub fn pep723(data: &[u8]) {
    let _ = analyze::parse_pep723(&text(data), Path::new("fuzz.py"));
}

/// requirements.txt with `-r`/`-c` includes: two siblings exist for the input to name.
pub fn requirements_txt(data: &[u8]) {
    let dir = scratch("requirements");
    write(&dir, "main.py", b"print(1)\n");
    write(&dir, "requirements.txt", data);
    write(&dir, "base.txt", b"requests==2.32.3\n-r requirements.txt\n");
    write(&dir, "constraints.txt", b"urllib3<3\n");
    analyze_dir(&dir);
}

/// pyproject.toml's `[project]` table.
pub fn pyproject(data: &[u8]) {
    let dir = scratch("pyproject");
    write(&dir, "main.py", b"print(1)\n");
    write(&dir, "pyproject.toml", data);
    analyze_dir(&dir);
}

/// package.json, and package-lock.json after the first NUL byte when there is one.
pub fn package_json(data: &[u8]) {
    let dir = scratch("node");
    write(&dir, "index.js", b"console.log(1)\n");
    match data.iter().position(|b| *b == 0) {
        Some(i) => {
            write(&dir, "package.json", &data[..i]);
            write(&dir, "package-lock.json", &data[i + 1..]);
        }
        None => write(&dir, "package.json", data),
    }
    analyze_dir(&dir);
}

fn analyze_dir(dir: &Path) {
    let Ok(script) = script::read(dir, None) else {
        return;
    };
    if let Ok(req) = analyze::analyze(&script) {
        // The input hash is what decides whether a lock is fresh: it must be stable.
        assert_eq!(req.input_hash(), req.input_hash());
    }
}

/// prisn.lock: what parses must write back to text that parses to the same lock.
pub fn lock_file(data: &[u8]) {
    let path = Path::new("prisn.lock");
    if let Ok(lock) = LockFile::parse(&text(data), path) {
        let again = LockFile::parse(&lock.to_text(), path).expect("a written lock parses");
        assert_eq!(again, lock, "lock changed on a write/read round trip");
    }
}

/// Cron schedules (local mode's grammar, the widest: 5 or 6 fields and macros).
pub fn schedule(data: &[u8]) {
    if let Ok(s) = prisn_local::cron::parse(&text(data)) {
        let now = std::time::SystemTime::now();
        let _ = s.next_after(now);
        let _ = s.latest_at_or_before(now);
    }
}

/// `--memory` and `--cpu` quantities.
pub fn quantity(data: &[u8]) {
    let t = text(data);
    if let Ok(bytes) = prisn_local::quantity::memory(&t) {
        assert!(bytes >= 1);
        let _ = prisn_local::quantity::format_bytes(bytes);
    }
    if let Ok(millis) = prisn_local::quantity::cpu(&t) {
        assert!(millis >= 1);
    }
}

/// Image references: what parses prints as a reference that parses to the same thing.
pub fn image_reference(data: &[u8]) {
    if let Ok(r) = Reference::parse(&text(data)) {
        let printed = r.to_string();
        let again = Reference::parse(&printed)
            .unwrap_or_else(|e| panic!("{printed:?} (printed from {r:?}) does not parse: {e}"));
        assert_eq!(again, r, "{printed:?} round trip");
    }
}

/// The daemon API's request bodies (`PUT /v1/workloads/NAME`, `PUT …/scale`).
pub fn api_body(data: &[u8]) {
    let _ = serde_json::from_slice::<prisn_local::api::DeployBody>(data);
    let _ = serde_json::from_slice::<prisn_local::api::ScaleBody>(data);
}
