//! Project hygiene that runs under plain `cargo test`: every module has a `//!` doc, no
//! source file grows past its size budget, and no test is ignored without a reason.

use std::path::{Path, PathBuf};

const MAX_LINES: usize = 600;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn workspace_sources() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut files = Vec::new();
    for dir in ["engine/src", "engine/tests", "xtask/src", "xtask/runner/src"] {
        rust_files(&root.join(dir), &mut files);
    }
    files.sort();
    files
}

#[test]
fn every_module_has_a_doc_comment() {
    let missing: Vec<_> = workspace_sources()
        .into_iter()
        .filter(|path| !std::fs::read_to_string(path).unwrap().trim_start().starts_with("//!"))
        .collect();
    assert!(missing.is_empty(), "modules without a //! doc: {missing:#?}");
}

#[test]
fn source_files_stay_within_their_size_budget() {
    let large: Vec<_> = workspace_sources()
        .into_iter()
        .map(|path| (std::fs::read_to_string(&path).unwrap().lines().count(), path))
        .filter(|(lines, _)| *lines > MAX_LINES)
        .collect();
    assert!(large.is_empty(), "files over {MAX_LINES} lines (split them): {large:#?}");
}

#[test]
fn ignored_tests_say_why() {
    let bare = ["#[ignore]", "#[should_panic]"];
    let offenders: Vec<_> = workspace_sources()
        .into_iter()
        .filter(|path| {
            let text = std::fs::read_to_string(path).unwrap();
            bare.iter().any(|attribute| text.lines().any(|line| line.trim() == *attribute))
        })
        .collect();
    assert!(offenders.is_empty(), "#[ignore]/#[should_panic] without a reason: {offenders:#?}");
}
