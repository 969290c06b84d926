//! `--complete`: fills in or rewrites the expected output of records that fail or have
//! none, keeping every expectation that still passes, and lists what it changed.

use std::fmt::Write as _;
use std::path::Path;

use sqllogictest::{Record, default_normalizer, default_validator, update_record_with_output};

use crate::normalize::column_types_match;
use crate::scenario::{FileSession, load, record_line};

/// Completes one file in place. Returns the lines of the records it changed.
pub async fn complete_file(path: &Path) -> Result<Vec<usize>, String> {
    let records = load(path)?;
    let mut session = FileSession::open(crate::db::Backend::Engine, crate::scenario::Tier::Written)?;
    let mut text = String::new();
    let mut changed = Vec::new();
    let mut halted = false;
    for loaded in records {
        for (directive, _) in &loaded.directives {
            session.apply_directive(directive).await?;
        }
        let record = loaded.record;
        if !loaded.own {
            if !halted && !matches!(record, Record::Comment(_) | Record::Newline | Record::Include { .. }) {
                session.prepare_for(&record);
                session.runner.apply_record(record).await;
            }
            continue;
        }
        if let Record::Comment(lines) = &record {
            for line in lines {
                match loaded.directives.iter().find(|(_, original)| line.trim() == crate::directives::marker_text(original)) {
                    Some((_, original)) => writeln!(text, "{original}").unwrap(),
                    None => writeln!(text, "#{line}").unwrap(),
                }
            }
            continue;
        }
        if halted || matches!(record, Record::Include { .. } | Record::Newline) {
            writeln!(text, "{record}").unwrap();
            continue;
        }
        if matches!(record, Record::Halt { .. }) {
            halted = true;
            writeln!(text, "{record}").unwrap();
            continue;
        }
        session.prepare_for(&record);
        let output = session.runner.apply_record(record.clone()).await;
        let updated = update_record_with_output(&record, &output, " ", default_validator, default_normalizer, column_types_match)
            .unwrap_or_else(|| record.clone());
        if updated.to_string() != record.to_string() {
            changed.push(record_line(&record).unwrap_or(0));
        }
        writeln!(text, "{updated}").unwrap();
    }
    session.runner.shutdown_async().await;
    while text.ends_with("\n\n") {
        text.pop();
    }
    if !changed.is_empty() {
        let temporary = path.with_extension("slt.tmp");
        std::fs::write(&temporary, &text).map_err(|e| format!("{}: {e}", temporary.display()))?;
        std::fs::rename(&temporary, path).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(changed)
}
