//! Snapshot review and checks: pending snapshots (`.snap.new`) and snapshots no test
//! refers to. Uses cargo-insta when it is installed, and its own accept/reject otherwise.

use std::collections::BTreeSet;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Result;

fn snapshot_dir(root: &Path) -> PathBuf {
    root.join("snapshots")
}

fn files_with_suffix(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| entries.flatten().map(|e| e.path()).filter(|p| p.to_string_lossy().ends_with(suffix)).collect())
        .unwrap_or_default();
    out.sort();
    out
}

/// Problems that fail CI: pending snapshots, and snapshots no test referenced in this run.
pub fn check_snapshots(root: &Path, references: &Path) -> Result<Vec<String>> {
    let dir = snapshot_dir(root);
    let mut problems = Vec::new();
    for pending in files_with_suffix(&dir, ".snap.new").into_iter().chain(files_with_suffix(&dir, ".pending-snap")) {
        problems.push(format!("{} is pending review (cargo xtask review)", pending.display()));
    }
    let referenced: BTreeSet<PathBuf> = std::fs::read_to_string(references)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| std::fs::canonicalize(l.trim()).unwrap_or_else(|_| PathBuf::from(l.trim())))
        .collect();
    for snapshot in files_with_suffix(&dir, ".snap") {
        let canonical = std::fs::canonicalize(&snapshot).unwrap_or(snapshot.clone());
        if !referenced.contains(&canonical) {
            problems.push(format!("{} is not referenced by any test (delete it if it is stale)", snapshot.display()));
        }
    }
    Ok(problems)
}

pub fn review(root: &Path) -> Result<()> {
    let has_cargo_insta = Command::new("cargo").args(["insta", "--version"]).output().is_ok_and(|o| o.status.success());
    if has_cargo_insta {
        let status = Command::new("cargo").current_dir(root).args(["insta", "review", "--workspace"]).status()?;
        if !status.success() {
            anyhow::bail!("cargo insta review failed");
        }
        return Ok(());
    }
    let pending = files_with_suffix(&snapshot_dir(root), ".snap.new");
    if pending.is_empty() {
        println!("no pending snapshots (run `cargo test` to produce them)");
        return Ok(());
    }
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    for new in pending {
        let old = PathBuf::from(new.to_string_lossy().trim_end_matches(".new"));
        let old_text = std::fs::read_to_string(&old).unwrap_or_default();
        let new_text = std::fs::read_to_string(&new)?;
        println!("\n=== {} ===", old.display());
        print_diff(&body(&old_text), &body(&new_text));
        print!("accept (a), reject (r), skip (s)? ");
        std::io::stdout().flush()?;
        match lines.next().transpose()?.as_deref().map(str::trim) {
            Some("a") => {
                std::fs::rename(&new, &old)?;
                println!("accepted");
            }
            Some("r") => {
                std::fs::remove_file(&new)?;
                println!("rejected");
            }
            _ => println!("skipped"),
        }
    }
    Ok(())
}

/// The snapshot body without insta's metadata header.
fn body(text: &str) -> String {
    match text.strip_prefix("---") {
        Some(rest) => rest.split_once("\n---\n").map(|(_, b)| b.to_string()).unwrap_or_else(|| text.to_string()),
        None => text.to_string(),
    }
}

/// A coloured line diff: `-` old, `+` new.
fn print_diff(old: &str, new: &str) {
    use similar::{ChangeTag, TextDiff};
    for change in TextDiff::from_lines(old, new).iter_all_changes() {
        let line = change.value().trim_end_matches('\n');
        match change.tag() {
            ChangeTag::Equal => println!("  {line}"),
            ChangeTag::Insert => println!("\x1b[32m+ {line}\x1b[0m"),
            ChangeTag::Delete => println!("\x1b[31m- {line}\x1b[0m"),
        }
    }
}
