//! Project hygiene that runs under plain `cargo test`: every module has a `//!` doc, no
//! source file grows past its size budget, no test is ignored without a reason, the
//! engine's layers only point down, nothing outside `storage/` touches RocksDB, the engine
//! has no `unsafe` and reads the machine clock and randomness only in `clock.rs` and
//! `ids.rs`, and every document (and README section) a comment or the README cites exists.

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
    for dir in ["engine/src", "engine/tests", "xtask/src", "xtask/runner/src", "xtask/bench/src"] {
        rust_files(&root.join(dir), &mut files);
    }
    files.sort();
    files
}

#[test]
fn every_module_has_a_doc_comment() {
    let missing: Vec<_> =
        workspace_sources().into_iter().filter(|path| !std::fs::read_to_string(path).unwrap().trim_start().starts_with("//!")).collect();
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

/// The layers of `engine/src`, lowest first, as the README's layer table lists them (the
/// one place they are written): each row's backticked module names. A module may use only
/// modules of lower layers (the foundation's modules may also use each other).
fn layers() -> Vec<Vec<String>> {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join("README.md")).unwrap();
    let table = readme.split("| layer | modules |").nth(1).expect("the README's layer table");
    table
        .lines()
        .skip(2)
        .take_while(|line| line.starts_with('|'))
        .map(|row| {
            let modules = row.trim_matches('|').split('|').nth(1).unwrap_or_default();
            modules.split('`').skip(1).step_by(2).map(|name| name.trim_end_matches('/').to_string()).filter(|name| name != "lib").collect()
        })
        .collect()
}

fn layer_of(module: &str) -> Option<usize> {
    layers().iter().position(|layer| layer.iter().any(|m| m == module))
}

#[test]
fn the_layer_table_names_every_module_of_lib_rs_once() {
    let lib = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    let declared: Vec<String> = lib
        .lines()
        .filter_map(|line| line.strip_prefix("pub mod ").or_else(|| line.strip_prefix("mod ")))
        // A module with a file (an inline one, such as `exports`, re-exports only).
        .filter_map(|m| m.strip_suffix(';').map(str::to_string))
        .collect();
    let listed: Vec<String> = layers().into_iter().flatten().collect();
    for module in &declared {
        let rows = listed.iter().filter(|m| *m == module).count();
        assert_eq!(rows, 1, "module {module} of lib.rs is not in exactly one row of the README's layer table");
    }
    for module in &listed {
        assert!(declared.contains(module), "the README's layer table lists {module}, which lib.rs does not declare");
    }
}

/// The top-level module a source file belongs to (`storage/store.rs` → `storage`).
fn top_module(path: &Path) -> String {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let relative = path.strip_prefix(&src).unwrap();
    let first = relative.components().next().unwrap().as_os_str().to_string_lossy().into_owned();
    first.trim_end_matches(".rs").to_string()
}

/// The code of a file without its comments (doc links may name any module).
fn code_lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines().map(|line| line.split("//").next().unwrap_or("")).filter(|line| !line.trim().is_empty())
}

/// The top-level modules a file refers to with `crate::name`.
fn crate_references(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in code_lines(text) {
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            if !name.is_empty() && !found.contains(&name) {
                found.push(name);
            }
        }
    }
    found
}

#[test]
fn layers_only_point_down() {
    let mut files = Vec::new();
    rust_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut files);
    let mut violations = Vec::new();
    for path in files {
        let module = top_module(&path);
        if module == "lib" {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("crate::{"), "{}: import crate modules one path at a time", path.display());
        let Some(own) = layer_of(&module) else {
            violations.push(format!("{}: module {module} has no layer in the README's layer table", path.display()));
            continue;
        };
        for used in crate_references(&text) {
            if used == module {
                continue;
            }
            match layer_of(&used) {
                Some(layer) if layer < own || (layer == 0 && own == 0) => {}
                Some(layer) => violations
                    .push(format!("{}: {module} (layer {own}) uses {used} (layer {layer}): layers may only point down", path.display())),
                None => violations.push(format!("{}: uses crate::{used}, which has no layer", path.display())),
            }
        }
    }
    assert!(violations.is_empty(), "layering violations:\n{}", violations.join("\n"));
}

#[test]
fn only_storage_touches_rocksdb() {
    let mut files = Vec::new();
    rust_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut files);
    let offenders: Vec<_> = files
        .into_iter()
        .filter(|path| top_module(path) != "storage")
        .filter(|path| code_lines(&std::fs::read_to_string(path).unwrap()).any(|line| line.contains("rocksdb::")))
        .collect();
    assert!(offenders.is_empty(), "rocksdb used outside storage/: {offenders:#?}");
}

#[test]
fn the_layering_check_sees_upward_imports() {
    assert_eq!(
        crate_references("use crate::exec::simple; // crate::session\nlet x = crate::storage::keys::row_key();"),
        vec!["exec".to_string(), "storage".to_string()]
    );
    assert!(layer_of("storage") < layer_of("catalog") && layer_of("exec") < layer_of("session"));
}

/// The anchor GitHub gives a Markdown heading: lower case, spaces as `-`, punctuation
/// other than `-` and `_` left out.
fn heading_anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The anchors of a Markdown file's headings.
fn anchors_of(markdown: &str) -> std::collections::HashSet<String> {
    markdown.lines().filter(|l| l.starts_with('#')).map(|l| heading_anchor(l.trim_start_matches('#'))).collect()
}

/// Every Markdown document `text` names by its path (ending in `.md`), with the `#anchor`
/// that follows it, if any.
fn cited_documents(text: &str) -> Vec<(String, Option<String>)> {
    let is_path = |c: char| c.is_ascii_alphanumeric() || "_-./".contains(c);
    let is_anchor = |c: char| c.is_ascii_alphanumeric() || "-_".contains(c);
    let mut cited = Vec::new();
    for (at, _) in text.match_indices(".md") {
        let after = &text[at + 3..];
        if after.chars().next().is_some_and(|c| c.is_ascii_alphanumeric()) {
            continue;
        }
        let start = text[..at].rfind(|c: char| !is_path(c)).map_or(0, |i| i + 1);
        let name = &text[start..at + 3];
        if name.starts_with('.') || name.len() == 3 {
            continue;
        }
        let anchor = after.strip_prefix('#').map(|rest| rest.chars().take_while(|&c| is_anchor(c)).collect::<String>());
        cited.push((name.to_string(), anchor.filter(|a| !a.is_empty())));
    }
    cited
}

#[test]
fn every_cited_document_and_section_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut sources = workspace_sources();
    sources.push(root.join("README.md"));
    let mut missing = Vec::new();
    for path in sources {
        let text = std::fs::read_to_string(&path).unwrap();
        let mut citations = cited_documents(&text);
        // A Markdown file's own links to its sections.
        if path.extension().is_some_and(|e| e == "md") {
            let own = path.strip_prefix(root).unwrap().display().to_string();
            citations.extend(text.match_indices("](#").map(|(at, _)| {
                let anchor: String = text[at + 3..].chars().take_while(|&c| c != ')').collect();
                (own.clone(), Some(anchor))
            }));
        }
        for (document, anchor) in citations {
            let target = root.join(&document);
            let Ok(markdown) = std::fs::read_to_string(&target) else {
                missing.push(format!("{}: {document} does not exist", path.display()));
                continue;
            };
            if let Some(anchor) = anchor
                && !anchors_of(&markdown).contains(&anchor)
            {
                missing.push(format!("{}: {document} has no section #{anchor}", path.display()));
            }
        }
    }
    assert!(missing.is_empty(), "citations of documents the repository does not hold: {missing:#?}");
}

#[test]
fn citations_are_found_and_anchors_are_githubs() {
    let cited = cited_documents("see slt/README.md and (README.md#live-subscriptions), not x.mdx or .md");
    assert_eq!(cited, [("slt/README.md".to_string(), None), ("README.md".to_string(), Some("live-subscriptions".to_string()))]);
    assert_eq!(heading_anchor(" Users, roles and permissions"), "users-roles-and-permissions");
    assert_eq!(heading_anchor("Architecture (code map)"), "architecture-code-map");
}

/// The engine's own sources (not its tests).
fn engine_sources() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    files.sort();
    files
}

#[test]
fn the_engine_has_no_unsafe_code() {
    let offenders: Vec<_> = engine_sources()
        .into_iter()
        .filter(|path| {
            code_lines(&std::fs::read_to_string(path).unwrap())
                .any(|line| line.split(|c: char| !c.is_alphanumeric() && c != '_').any(|w| w == "unsafe"))
        })
        .collect();
    assert!(offenders.is_empty(), "unsafe code in the engine: {offenders:#?}");
}

#[test]
fn only_the_clock_and_id_modules_read_the_machine_clock_or_randomness() {
    let allowed = ["clock.rs", "ids.rs"];
    let reads = ["SystemTime::now", "Instant::now", "thread_rng", "rand::", "getrandom", "new_v4"];
    let offenders: Vec<_> = engine_sources()
        .into_iter()
        .filter(|path| !allowed.iter().any(|name| path.ends_with(name)))
        .filter(|path| code_lines(&std::fs::read_to_string(path).unwrap()).any(|line| reads.iter().any(|read| line.contains(read))))
        .collect();
    assert!(
        offenders.is_empty(),
        "the machine clock or randomness outside clock.rs and ids.rs (take them from the configuration): {offenders:#?}"
    );
}
