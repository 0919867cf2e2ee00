//! Replays every saved fuzz input (`fuzz/corpus/<target>/`, crashes found and fixed
//! included) through the same target functions `cargo fuzz` runs, so a fixed crash stays
//! fixed without a nightly toolchain. `fuzz/README.md` says how to fuzz and add inputs.

use std::path::{Path, PathBuf};

#[path = "../../fuzz/src/targets.rs"]
mod targets;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("corpus entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_saved_fuzz_input_is_handled_without_a_panic() {
    let mut total = 0;
    for (name, target) in targets::TARGETS {
        let inputs = files_in(&fuzz_dir().join("corpus").join(name));
        assert!(!inputs.is_empty(), "fuzz/corpus/{name} has no inputs");
        for input in &inputs {
            let data = std::fs::read(input).expect("corpus file");
            let outcome = std::panic::catch_unwind(|| target(&data));
            assert!(outcome.is_ok(), "{name} panicked on {}", input.display());
        }
        total += inputs.len();
    }
    eprintln!("replayed {total} saved fuzz inputs");
}

#[test]
fn every_fuzz_target_binary_is_replayed() {
    let mut binaries: Vec<String> = files_in(&fuzz_dir().join("fuzz_targets"))
        .iter()
        .filter_map(|p| p.file_stem()?.to_str().map(str::to_string))
        .collect();
    binaries.sort();
    let mut listed: Vec<String> = targets::TARGETS
        .iter()
        .map(|(n, _)| n.to_string())
        .collect();
    listed.sort();
    assert_eq!(
        binaries, listed,
        "fuzz/fuzz_targets and targets::TARGETS differ"
    );
}
