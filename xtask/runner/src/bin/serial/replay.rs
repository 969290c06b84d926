//! The serial replay: a fresh engine runs every table's order one statement at a time,
//! as the same users, and must agree with the concurrent run at every step:
//! - each statement with a place gives the same answer (a write the same count, DDL
//!   success);
//! - each floating statement finds a cut of its admissible range where it gives the same
//!   answer: a read the same rows (or the same SQLSTATE), a write that changed nothing a
//!   cut where its predicate selects no row (it then runs there and must return 0);
//! - after the last statement, every scope of the table holds the same rows (every
//!   column, `_deleted` included; `_seq` and `_updated` left out) as the engine after the
//!   concurrent run.
//!
//! A table stops at its first divergence (the rest would only repeat it).

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Result;
use engine::{Engine, EngineConfig, ManualClock, Session};

use crate::history::{Block, History, Kind, Outcome, Scope, decode};
use crate::order::{Item, TablePlan};
use crate::run::{create_users, read_scope, sessions_of};
use crate::workload::{self, TABLES};

#[derive(Debug, Default)]
pub struct Report {
    pub failures: Vec<String>,
    pub replayed: usize,
    pub reads_checked: usize,
    pub unchanged_checked: usize,
    /// Evaluations of floating statements at candidate cuts.
    pub probes: usize,
    /// Rolled-back blocks (and committed ones without a visible change) found at a cut.
    pub blocks_checked: usize,
}

pub struct Options {
    /// Check reads and count-0 writes (off for the self-test's wrong order).
    pub floating: bool,
}

pub async fn replay(history: &History, tables: &[TablePlan], options: &Options) -> Result<Report> {
    let dir = tempfile::tempdir()?;
    let engine = Engine::open(EngineConfig::for_tests(dir.path().join("data"), Arc::new(ManualClock::default())))?;
    create_users(&mut engine.root_session()).await?;
    let mut sessions = sessions_of(&engine)?;
    let mut report = Report::default();
    for plan in tables {
        replay_table(history, plan, options, &mut sessions, &mut report).await?;
    }
    Ok(report)
}

fn cut_text(history: &History, plan: &TablePlan, cut: usize) -> String {
    match cut.checked_sub(1).and_then(|i| plan.items.get(i)) {
        Some(item) => format!("cut {cut} (after {})", history.stmts[item.stmt].describe()),
        None => format!("cut {cut} (before anything on {})", TABLES[plan.table].name),
    }
}

async fn replay_table(
    history: &History,
    plan: &TablePlan,
    options: &Options,
    sessions: &mut BTreeMap<&'static str, Session>,
    report: &mut Report,
) -> Result<()> {
    let name = TABLES[plan.table].name;
    let mut floating = if options.floating { plan.floating.clone() } else { Vec::new() };
    floating.sort_by_key(|f| (f.first, f.last));
    let mut resolved = vec![false; floating.len()];
    // What each floating statement gave at the cuts tried (for the report).
    let mut seen: Vec<Vec<(usize, Outcome)>> = vec![Vec::new(); floating.len()];
    // At each cut the floating statements that change nothing go first; a committed block
    // that left a tombstone no subscriber sees (a key it inserted and deleted) goes after
    // them, and when it commits the ones still unresolved try the cut again: whether a read
    // overlapping it saw its tombstone is then decided by the read, not by the order of
    // the list.
    let writes = |index: usize| match &history.stmts[index].kind {
        Kind::Block(block) => block.committed_writes(),
        _ => false,
    };
    let mut order: Vec<usize> = (0..floating.len()).collect();
    order.sort_by_key(|&at| writes(floating[at].stmt));
    for cut in 0..=plan.items.len() {
        let mut again = true;
        while again {
            again = false;
            for &at in &order {
                let f = &floating[at];
                if resolved[at] || f.first > cut || cut > f.last {
                    continue;
                }
                let stmt = &history.stmts[f.stmt];
                report.probes += 1;
                let session = sessions.get_mut(stmt.user).expect("a session per user");
                match &stmt.kind {
                    Kind::Read => {
                        let outcome = Outcome::of(session.execute(&stmt.sql).await);
                        if outcome.same_as(&stmt.outcome) {
                            resolved[at] = true;
                            report.reads_checked += 1;
                        } else if !seen[at].iter().any(|(_, o)| o.same_as(&outcome)) {
                            seen[at].push((cut, outcome));
                        }
                    }
                    Kind::Block(block) => match run_block(session, block, "ROLLBACK").await {
                        Ok(()) => {
                            resolved[at] = true;
                            report.blocks_checked += 1;
                            // A committed block that changed nothing visible may still have
                            // left a tombstone (a key it inserted and deleted): commit it here.
                            if block.committed
                                && let Err(divergence) = run_block(session, block, "COMMIT").await
                            {
                                report.failures.push(format!(
                                    "{name}: {} agreed at {} rolled back, but not committed: {divergence}",
                                    stmt.describe(),
                                    cut_text(history, plan, cut)
                                ));
                                return Ok(());
                            }
                            again |= writes(f.stmt);
                        }
                        Err(divergence) => seen[at].push((cut, Outcome::Rows(vec![divergence]))),
                    },
                    kind => {
                        // A write that changed nothing: does its predicate select nothing here?
                        let probe = match kind {
                            Kind::Update { pred } | Kind::Delete { pred } => format!("SELECT count(*) FROM {name} WHERE {}", pred.sql()),
                            _ => format!("SELECT count(*) FROM {name}"),
                        };
                        let selected = match session.execute(&probe).await {
                            Ok(engine::QueryResult::Rows { batches, .. }) => {
                                decode(&batches).first().and_then(|r| r.values().next().copied().flatten())
                            }
                            _ => None,
                        };
                        match selected {
                            Some(0) => {
                                let outcome = Outcome::of(session.execute(&stmt.sql).await);
                                resolved[at] = true;
                                report.unchanged_checked += 1;
                                if outcome != Outcome::Count(0) {
                                    report.failures.push(format!(
                                        "{name}: {} returned 0 in the run; run serially at {} it returned {}",
                                        stmt.describe(),
                                        cut_text(history, plan, cut),
                                        outcome.brief()
                                    ));
                                    return Ok(());
                                }
                            }
                            other => seen[at].push((cut, Outcome::Rows(vec![format!("{other:?} rows selected")]))),
                        }
                    }
                }
            }
        }
        // Floating statements whose last admissible cut has passed.
        for (at, f) in floating.iter().enumerate() {
            if !resolved[at] && f.last == cut {
                resolved[at] = true;
                let stmt = &history.stmts[f.stmt];
                let tried: Vec<String> = seen[at]
                    .iter()
                    .take(3)
                    .map(|(cut, outcome)| format!("\n      at {}: {}", cut_text(history, plan, *cut), outcome.brief()))
                    .collect();
                // Name the usual suspect: a DROP TABLE of this table running at the same time.
                let raced_drop = plan.items[f.first.saturating_sub(1)..f.last.min(plan.items.len())].iter().any(|item| {
                    let other = &history.stmts[item.stmt];
                    matches!(other.kind, Kind::Drop) && other.start < stmt.end && stmt.start < other.end
                });
                report.failures.push(format!(
                    "{}{name}: {} gave {} in the run, which no admissible point of the serial order gives \
                     (cuts {}..={}; _seq window {}..{}; ran {:?}..{:?}); the serial order gives:{}\n    the order there:{}",
                    if raced_drop { "[raced DROP TABLE] " } else { "" },
                    stmt.describe(),
                    stmt.outcome.brief(),
                    f.first,
                    f.last,
                    stmt.before,
                    stmt.after,
                    stmt.start,
                    stmt.end,
                    tried.concat(),
                    context(history, plan, f.first.saturating_sub(4), f.last + 2)
                ));
            }
        }
        let Some(item) = plan.items.get(cut) else { break };
        if let Some(failure) = step(history, item, sessions).await {
            report.failures.push(format!("{name}: at position {cut} of its order: {failure}"));
            return Ok(());
        }
        report.replayed += 1;
    }
    // The final state, scope by scope.
    let current = history.finals.iter().filter(|f| f.table == plan.table).collect::<Vec<_>>();
    if current.is_empty() {
        let root = sessions.get_mut("root").expect("root's session");
        let outcome = Outcome::of(root.execute(&format!("SELECT * FROM {name}")).await);
        if outcome.state() != Some("42P01") {
            report.failures.push(format!("{name}: the run ended without the table, but the serial replay has it: {}", outcome.brief()));
        }
        return Ok(());
    }
    for scope in workload::scopes(plan.table) {
        let expected = current.iter().find(|f| f.scope == scope).map(|f| f.rendered.clone()).unwrap_or_default();
        let replayed = match read_scope(sessions, plan.table, scope).await {
            Ok((rendered, _)) => rendered,
            Err(error) => {
                report.failures.push(format!("{name} ({scope}): the serial replay cannot read it: {error:#}"));
                continue;
            }
        };
        if replayed != expected {
            report.failures.push(diff(name, scope, &expected, &replayed));
        }
    }
    Ok(())
}

fn diff(name: &str, scope: Scope, run: &[String], serial: &[String]) -> String {
    let only_run: Vec<&String> = run.iter().filter(|r| !serial.contains(r)).take(8).collect();
    let only_serial: Vec<&String> = serial.iter().filter(|r| !run.contains(r)).take(8).collect();
    format!(
        "{name} ({scope}): the final rows differ ({} after the run, {} serially): only after the run {only_run:?}; \
         only serially {only_serial:?}",
        run.len(),
        serial.len()
    )
}

/// Items `from..until` of a table's order, one line each (for reports).
fn context(history: &History, plan: &TablePlan, from: usize, until: usize) -> String {
    plan.items
        .iter()
        .enumerate()
        .skip(from)
        .take(until.saturating_sub(from))
        .map(|(i, item)| {
            let stmt = &history.stmts[item.stmt];
            format!(
                "\n      [{i}] key {:?}, ran {:?}..{:?}, _seq window {}..{}: {} -> {}",
                item.key,
                stmt.start,
                stmt.end,
                stmt.before,
                stmt.after,
                stmt.describe(),
                stmt.outcome.brief()
            )
        })
        .collect()
}

/// Runs a block's replayable steps in a block of the replay's own, ended with `end`
/// (`COMMIT` or `ROLLBACK`); the first step that answers differently, if any.
async fn run_block(session: &mut Session, block: &Block, end: &str) -> std::result::Result<(), String> {
    let begin = Outcome::of(session.execute(Block::BEGIN).await);
    if !begin.is_ok() {
        return Err(format!("BEGIN failed: {}", begin.brief()));
    }
    let mut divergence = None;
    for step in block.replayable() {
        let outcome = Outcome::of(session.execute(&step.sql).await);
        let agrees = match &step.outcome {
            Outcome::Count(n) => outcome == Outcome::Count(*n),
            recorded => outcome.same_as(recorded),
        };
        if !agrees {
            divergence =
                Some(format!("{} {} gave {} in the run, {} serially", step.kind.name(), step.sql, step.outcome.brief(), outcome.brief()));
            break;
        }
    }
    let end = if divergence.is_some() { "ROLLBACK" } else { end };
    let ended = Outcome::of(session.execute(end).await);
    match divergence {
        Some(divergence) => Err(divergence),
        None if !ended.is_ok() => Err(format!("{end} failed serially: {}", ended.brief())),
        None => Ok(()),
    }
}

/// Runs one placed statement; the divergence, if any.
async fn step(history: &History, item: &Item, sessions: &mut BTreeMap<&'static str, Session>) -> Option<String> {
    let stmt = &history.stmts[item.stmt];
    let session = sessions.get_mut(stmt.user).expect("a session per user");
    if let Kind::Block(block) = &stmt.kind {
        let divergence = run_block(session, block, "COMMIT").await.err()?;
        return Some(format!("{} (committed at _seq {}): {divergence}", stmt.describe(), item.key.0));
    }
    let outcome = Outcome::of(session.execute(&stmt.sql).await);
    let agrees = match (&stmt.kind, &stmt.outcome) {
        (kind, _) if kind.is_ddl() => outcome.is_ok(),
        (_, Outcome::Count(n)) => outcome == Outcome::Count(*n),
        (_, recorded) => outcome.same_as(recorded),
    };
    (!agrees).then(|| {
        format!(
            "{} (_seq {}) returned {} in the run, {} serially",
            stmt.describe(),
            if item.committed { item.key.0.to_string() } else { "none".into() },
            stmt.outcome.brief(),
            outcome.brief()
        )
    })
}

/// The self-test's deliberately wrong order: within each generation of each table, the
/// statements with a `_seq` in reverse.
pub fn reversed(tables: &[TablePlan], history: &History) -> Vec<TablePlan> {
    tables
        .iter()
        .map(|plan| {
            let mut items = plan.items.clone();
            let mut start = 0;
            while start < items.len() {
                if !items[start].committed {
                    start += 1;
                    continue;
                }
                let end = (start..items.len()).find(|&i| !items[i].committed).unwrap_or(items.len());
                items[start..end].reverse();
                start = end;
            }
            let _ = history;
            TablePlan { table: plan.table, items, floating: Vec::new() }
        })
        .collect()
}
