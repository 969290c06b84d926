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

fn readme() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join("README.md")).unwrap()
}

/// The rows of the README table under `header`, lowest first: each row's backticked names.
fn table_rows(readme: &str, header: &str) -> Vec<Vec<String>> {
    let table = readme.split(header).nth(1).unwrap_or_else(|| panic!("the README's table {header}"));
    table
        .lines()
        .map(str::trim_start)
        .skip(2)
        .take_while(|line| line.starts_with('|'))
        .map(|row| {
            let names = row.trim_matches('|').split('|').nth(1).unwrap_or_default();
            names.split('`').skip(1).step_by(2).map(|name| name.trim_end_matches('/').to_string()).filter(|name| name != "lib").collect()
        })
        .collect()
}

/// Levels of code, lowest first, and how a file names the code of another level.
struct Levels {
    rows: Vec<Vec<String>>,
    /// How a reference starts (`crate::`, `super::`); the name that follows is the module.
    prefixes: &'static [&'static str],
    /// Whether files of a level may use each other.
    same_level_ok: fn(usize) -> bool,
    /// Whether a reference to a name no level lists is a violation (otherwise it is not a
    /// module of these levels, such as `super::Item` in a test module).
    unknown_is_violation: bool,
}

impl Levels {
    /// The layers of `engine/src`, as the README's layer table lists them (the one place
    /// they are written). A module may use only modules of lower layers (the foundation's
    /// modules may also use each other).
    fn crate_layers() -> Self {
        Levels {
            rows: table_rows(&readme(), "| layer | modules |"),
            prefixes: &["crate::"],
            same_level_ok: |level| level == 0,
            unknown_is_violation: true,
        }
    }

    /// The levels inside `provider/` (vocabulary, assemble, merge, physical, logical), as
    /// the README's provider table lists them: a file uses files of its own level or lower.
    fn provider_levels() -> Self {
        Levels {
            rows: table_rows(&readme(), "| provider level | files |"),
            prefixes: &["crate::provider::", "super::"],
            same_level_ok: |_| true,
            unknown_is_violation: false,
        }
    }

    fn level_of(&self, name: &str) -> Option<usize> {
        self.rows.iter().position(|row| row.iter().any(|m| m == name))
    }

    /// The names a file's code refers to through one of the prefixes.
    fn references(&self, text: &str) -> Vec<String> {
        let mut found = Vec::new();
        for line in code_lines(text) {
            for prefix in self.prefixes {
                let mut rest = line;
                while let Some(at) = rest.find(prefix) {
                    // `crate::provider::x` is not also `super::`-less `provider::x` of `crate::`.
                    let whole_word = at == 0 || !rest[..at].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':');
                    rest = &rest[at + prefix.len()..];
                    let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                    if whole_word && !name.is_empty() && !found.contains(&name) {
                        found.push(name);
                    }
                }
            }
        }
        found
    }

    /// Every use in `files` (a file's module name and its text) that points up.
    fn upward_uses(&self, files: &[(String, String)]) -> Vec<String> {
        let mut violations = Vec::new();
        for (module, text) in files {
            let Some(own) = self.level_of(module) else {
                violations.push(format!("{module} has no level in the README's table"));
                continue;
            };
            for used in self.references(text) {
                if used == *module {
                    continue;
                }
                match self.level_of(&used) {
                    Some(level) if level < own || (level == own && (self.same_level_ok)(own)) => {}
                    Some(level) => {
                        violations.push(format!("{module} (level {own}) uses {used} (level {level}): levels may only point down"))
                    }
                    None if self.unknown_is_violation => violations.push(format!("{module} uses {used}, which has no level")),
                    None => {}
                }
            }
        }
        violations
    }
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
    assert_each_listed_once(&declared, &Levels::crate_layers(), "lib.rs");
}

#[test]
fn the_provider_table_names_every_file_of_provider_once() {
    let mut files = Vec::new();
    rust_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src/provider"), &mut files);
    let mut declared: Vec<String> = files.iter().filter_map(|path| provider_module(path)).collect();
    declared.sort();
    declared.dedup();
    assert_each_listed_once(&declared, &Levels::provider_levels(), "provider/");
}

/// The module of `provider/` a file belongs to (`provider/writer/stream.rs` → `writer`;
/// `None` for `provider/mod.rs`).
fn provider_module(path: &Path) -> Option<String> {
    let provider = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/provider");
    let first = path.strip_prefix(&provider).unwrap().components().next()?.as_os_str().to_string_lossy().into_owned();
    (first != "mod.rs").then(|| first.trim_end_matches(".rs").to_string())
}

fn assert_each_listed_once(declared: &[String], levels: &Levels, what: &str) {
    let listed: Vec<&String> = levels.rows.iter().flatten().collect();
    for name in declared {
        let rows = listed.iter().filter(|m| **m == name).count();
        assert_eq!(rows, 1, "{name} of {what} is not in exactly one row of its README table");
    }
    for name in listed {
        assert!(declared.contains(name), "the README's table lists {name}, which {what} does not have");
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

#[test]
fn layers_only_point_down() {
    let files: Vec<(String, String)> = engine_sources()
        .into_iter()
        .filter(|path| top_module(path) != "lib")
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(!text.contains("crate::{"), "{}: import crate modules one path at a time", path.display());
            (top_module(&path), text)
        })
        .collect();
    let violations = Levels::crate_layers().upward_uses(&files);
    assert!(violations.is_empty(), "layering violations:\n{}", violations.join("\n"));
}

#[test]
fn provider_levels_only_point_down() {
    let mut paths = Vec::new();
    rust_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src/provider"), &mut paths);
    let files: Vec<(String, String)> =
        paths.iter().filter_map(|path| Some((provider_module(path)?, std::fs::read_to_string(path).unwrap()))).collect();
    let violations = Levels::provider_levels().upward_uses(&files);
    assert!(
        violations.is_empty(),
        "provider/ levels violated (logical, physical, merge, assemble, vocabulary):\n{}",
        violations.join("\n")
    );
}

#[test]
fn only_storage_touches_rocksdb() {
    let offenders: Vec<_> = engine_sources()
        .into_iter()
        .filter(|path| top_module(path) != "storage")
        .filter(|path| code_lines(&std::fs::read_to_string(path).unwrap()).any(|line| line.contains("rocksdb::")))
        .collect();
    assert!(offenders.is_empty(), "rocksdb used outside storage/: {offenders:#?}");
}

/// A fixture: the checks above fail on an upward import, so their passing means something.
#[test]
fn the_level_checks_fail_on_an_upward_import() {
    let layers = Levels { rows: vec![vec!["storage".into()], vec!["exec".into()], vec!["session".into()]], ..Levels::crate_layers() };
    let files = vec![
        ("storage".to_string(), "use crate::session::Session; // crate::exec in a comment".to_string()),
        ("exec".to_string(), "let key = crate::storage::keys::row_key();".to_string()),
        ("session".to_string(), "use crate::exec::simple;\nuse crate::nowhere::Thing;".to_string()),
    ];
    assert_eq!(
        layers.upward_uses(&files),
        ["storage (level 0) uses session (level 2): levels may only point down", "session uses nowhere, which has no level"]
    );
    let provider = Levels { rows: vec![vec!["request".into()], vec!["assemble".into()], vec!["scan".into()]], ..Levels::provider_levels() };
    let files = vec![
        ("assemble".to_string(), "use crate::provider::scan::ScanRequest;\nuse super::request::ColumnSource;".to_string()),
        ("request".to_string(), "use super::scan;\n    use super::Item;".to_string()),
        ("scan".to_string(), "use crate::provider::assemble::BatchAssembler;".to_string()),
    ];
    assert_eq!(
        provider.upward_uses(&files),
        [
            "assemble (level 1) uses scan (level 2): levels may only point down",
            "request (level 0) uses scan (level 2): levels may only point down"
        ]
    );
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
        if name.len() == 3 || (name.starts_with('.') && !name.starts_with("../")) {
            continue;
        }
        let anchor = after.strip_prefix('#').map(|rest| rest.chars().take_while(|&c| is_anchor(c)).collect::<String>());
        cited.push((name.to_string(), anchor.filter(|a| !a.is_empty())));
    }
    cited
}

/// A file's path from the repository's root.
fn own_name(root: &Path, path: &Path) -> String {
    path.strip_prefix(root).unwrap().display().to_string()
}

#[test]
fn every_cited_document_and_section_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut sources = workspace_sources();
    sources.push(root.join("README.md"));
    for entry in std::fs::read_dir(root.join("docs")).unwrap().flatten() {
        sources.push(entry.path());
    }
    let mut missing = Vec::new();
    for path in sources {
        let text = std::fs::read_to_string(&path).unwrap();
        let mut citations = cited_documents(&text);
        // A Markdown file's own links to its sections.
        if path.extension().is_some_and(|e| e == "md") {
            let own = own_name(root, &path);
            citations.extend(text.match_indices("](#").map(|(at, _)| {
                let anchor: String = text[at + 3..].chars().take_while(|&c| c != ')').collect();
                (own.clone(), Some(anchor))
            }));
        }
        for (document, anchor) in citations {
            // A Markdown file links relative to its own folder (as GitHub reads it); a
            // source comment names a path from the repository's root.
            let markdown_file = path.extension().is_some_and(|e| e == "md");
            if !markdown_file && document.starts_with("../") {
                continue; // a string of this file's own fixtures
            }
            let base = if markdown_file { path.parent().unwrap() } else { root };
            let target = if document == own_name(root, &path) { path.clone() } else { base.join(&document) };
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
    let cited = cited_documents("see slt/README.md and (README.md#live-subscriptions), (../README.md), not x.mdx or .md");
    assert_eq!(
        cited,
        [
            ("slt/README.md".to_string(), None),
            ("README.md".to_string(), Some("live-subscriptions".to_string())),
            ("../README.md".to_string(), None)
        ]
    );
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
