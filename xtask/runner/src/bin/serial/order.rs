//! From a run's record to one serial order per table: which statement made each change,
//! where every statement sits, and which points of the order each read may have seen.
//!
//! **Statements with a `_seq`.** Each row version an INSERT or UPDATE wrote carries the
//! statement's id in `w`, so its change event names its statement. Tombstones keep the
//! row's old values, so a block of delete events is matched to the DELETE or TRUNCATE of
//! that scope, acknowledged with that many rows, running at that `_seq` (`before < seq <=
//! after`), whose predicate selects exactly those rows of the scope's state just before
//! (the state the events themselves build). A statement's `_seq`s are one contiguous
//! range (one commit); its place is the first.
//!
//! **Statements without one** take their place from the table's history:
//! - CREATE and ALTER held the table's gate, so no write of the table committed while
//!   they ran: they sit after every commit `<= before` (ties between gated statements by
//!   their start instant).
//! - A STREAM TRUNCATE held its scope's gate: likewise, within its scope.
//! - DROP TABLE sits after everything of its generation (at `after`, by its end
//!   instant): any write of that generation must have committed before it (checked).
//! - Everything else that changed nothing (UPDATE, DELETE or TRUNCATE that returned 0,
//!   and every read) "floats": it may sit at any cut of the order that keeps everything
//!   of its row scope (and the table's DDL) that finished before it started on its left
//!   and everything that started after it finished on its right (commits: `_seq <= before` left, `_seq > after + 1` right,
//!   since the commit section makes a commit visible just before it raises the counter
//!   `after` is sampled from). The replay looks for a cut where it gives the same answer.
//!
//! Statements of different tables never touch each other's rows, so each table has its
//! own order; FLUSH and jobs change no rows and are not part of it. The walk over the
//! events also checks the subscriptions themselves: every event's old row is the row the
//! scope held, initial rows after an ALTER are the scope's rows at that point, and the
//! last state is the one the engine holds after the run (`_seq` included).

mod walker;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::history::{Event, EventKind, History, Kind, Scope};
use crate::workload::{TABLES, TableKind};
use walker::{CommitWindow, Lifetimes, Snapshot, Walker, acked, committed_range, ddl_key, int, nanos, sorted};

/// A place in a table's order: `(_seq, phase, instant)`. A commit is `(first _seq, 1, 0)`;
/// a statement without a `_seq` placed after every commit `<= x` is `(x, 2, instant)`.
pub type Key = (u64, u8, u128);

#[derive(Debug, Clone, Copy)]
pub struct Item {
    /// Index into `History::stmts`.
    pub stmt: usize,
    pub key: Key,
    /// Whether its place comes from its `_seq`.
    pub committed: bool,
}

/// A statement checked at every admissible cut: cut `k` is the state after `items[..k]`.
#[derive(Debug, Clone, Copy)]
pub struct Floating {
    pub stmt: usize,
    pub first: usize,
    pub last: usize,
}

#[derive(Debug, Clone, Default)]
pub struct TablePlan {
    pub table: usize,
    pub items: Vec<Item>,
    pub floating: Vec<Floating>,
}

#[derive(Debug, Default)]
pub struct Stats {
    pub events: usize,
    pub committed: usize,
    pub unchanged_writes: usize,
    pub ddl: usize,
    pub reads: usize,
    /// Reads that failed with 40001 while an ALTER TABLE of their table ran (admissible:
    /// the read changed nothing and is to be run again).
    pub read_retries: usize,
    /// Reads that failed with another SQLSTATE than 42P01 (not compared).
    pub read_errors: usize,
    /// Delete blocks more than one statement could explain (the earliest-ending won).
    pub ambiguous_deletes: usize,
    /// Transaction blocks placed by their commit's `_seq`.
    pub blocks_committed: usize,
    /// Transaction blocks checked as floating (rolled back, or without a visible change).
    pub blocks_floating: usize,
    pub blocks_rolled_back: usize,
}

pub struct Analysis {
    pub tables: Vec<TablePlan>,
    /// Inconsistencies of the history itself: the order is not to be trusted.
    pub failures: Vec<String>,
    /// Statements that failed with an error a serial order never gives (reads with
    /// another error than 42P01; anything with an internal or system error).
    pub failed_reads: Vec<String>,
    pub stats: Stats,
}

pub fn analyse(history: &History) -> Analysis {
    // A block's steps name it: their DML writes the step's id into `w`.
    let mut by_id: HashMap<u64, usize> = history.stmts.iter().enumerate().map(|(i, s)| (s.id, i)).collect();
    let mut blocks: HashMap<(usize, Scope), Vec<CommitWindow>> = HashMap::new();
    for (index, stmt) in history.stmts.iter().enumerate() {
        if let Kind::Block(block) = &stmt.kind {
            by_id.extend(block.steps.iter().map(|step| (step.id, index)));
            if let (true, Some(table)) = (block.committed, stmt.table) {
                let (before, after) = block.commit_window;
                blocks.entry((table, stmt.scope)).or_default().push((before, after, index));
            }
        }
    }
    for windows in blocks.values_mut() {
        windows.sort_unstable();
    }
    let mut deleters: HashMap<(usize, Scope), Vec<usize>> = HashMap::new();
    for (index, stmt) in history.stmts.iter().enumerate() {
        if let Some(table) = stmt.table
            && matches!(stmt.kind, Kind::Delete { .. } | Kind::Truncate)
            && stmt.outcome.count().is_some_and(|n| n > 0)
        {
            deleters.entry((table, stmt.scope)).or_default().push(index);
        }
    }
    let mut walker = Walker {
        history,
        by_id,
        seqs: HashMap::new(),
        assigned: BTreeSet::new(),
        deleters,
        blocks,
        failures: Vec::new(),
        failed_reads: Vec::new(),
        stats: Stats::default(),
    };
    walker.stats.events = history.events.len();

    // Each table's DDL, in its owner's program order, and the lifetimes of its generations.
    let mut lifetimes: Vec<Lifetimes> = Vec::new();
    for (table, _) in TABLES.iter().enumerate() {
        let mut spans: Vec<(u32, Key, Option<Key>)> = Vec::new();
        for stmt in history.stmts.iter().filter(|s| s.table == Some(table) && s.kind.is_ddl() && acked(s)) {
            let generation = stmt.generation.unwrap_or(0);
            match stmt.kind {
                Kind::Create => spans.push((generation, ddl_key(stmt), None)),
                Kind::Drop => {
                    if let Some(span) = spans.iter_mut().find(|s| s.0 == generation) {
                        span.2 = Some(ddl_key(stmt));
                    }
                }
                _ => {}
            }
        }
        lifetimes.push(Lifetimes(spans));
    }

    // Events by table, generation and scope; initial rows by the subscription they began.
    let mut groups: BTreeMap<(usize, u32, Scope), Vec<&Event>> = BTreeMap::new();
    let mut initials: BTreeMap<(usize, u32, u32, Scope), Vec<&Event>> = BTreeMap::new();
    for event in &history.events {
        if event.kind == EventKind::Initial {
            initials.entry((event.table, event.generation, event.epoch, event.scope)).or_default().push(event);
        } else {
            groups.entry((event.table, event.generation, event.scope)).or_default().push(event);
        }
    }
    for events in groups.values_mut() {
        events.sort_by_key(|e| e.seq);
        for pair in events.windows(2) {
            if pair[0].seq == pair[1].seq {
                walker.fail(format!(
                    "{} ({}): two events with _seq {}: {:?} and {:?}",
                    TABLES[pair[0].table].name, pair[0].scope, pair[0].seq, pair[0].row, pair[1].row
                ));
            }
        }
    }
    // Subscriptions: each one ends only when its generation is dropped or altered.
    let mut last_epoch: HashMap<(usize, u32), u32> = HashMap::new();
    for watch in &history.watches {
        let last = last_epoch.entry((watch.table, watch.generation)).or_default();
        *last = (*last).max(watch.epoch);
    }
    let dropped: BTreeSet<(usize, u32)> =
        history.stmts.iter().filter(|s| matches!(s.kind, Kind::Drop) && acked(s)).filter_map(|s| Some((s.table?, s.generation?))).collect();
    let mut snapshots: BTreeMap<(usize, u32, Scope), Vec<Snapshot>> = BTreeMap::new();
    for watch in &history.watches {
        let rows = initials.get(&(watch.table, watch.generation, watch.epoch, watch.scope)).cloned().unwrap_or_default();
        if watch.epoch == 0 {
            if !rows.is_empty() {
                walker.fail(format!(
                    "{} ({}): a subscription opened right after CREATE TABLE started with rows",
                    TABLES[watch.table].name, watch.scope
                ));
            }
        } else {
            snapshots.entry((watch.table, watch.generation, watch.scope)).or_default().push(Snapshot {
                start_seq: watch.start_seq,
                opened: nanos(watch.opened),
                rows,
            });
        }
        let altered = last_epoch.get(&(watch.table, watch.generation)).is_some_and(|last| *last > watch.epoch);
        let dropped = dropped.contains(&(watch.table, watch.generation));
        let what = format!(
            "the subscription to {} generation {} epoch {} ({})",
            TABLES[watch.table].name, watch.generation, watch.epoch, watch.scope
        );
        match (&watch.ended, altered || dropped) {
            (Some(message), _) if watch.failed => walker.fail(format!("{what} fell behind: {message}")),
            (Some(message), false) => walker.fail(format!("{what} ended without a DROP or ALTER: {message}")),
            (None, true) => walker.fail(format!("{what} did not end when its table was dropped or altered")),
            _ => {}
        }
    }
    let finals: BTreeMap<(usize, u32, Scope), &crate::history::FinalScope> =
        history.finals.iter().map(|f| ((f.table, f.generation, f.scope), f)).collect();

    // STREAM TRUNCATEs by the generation their place falls in.
    let mut truncates: BTreeMap<(usize, u32, Scope), Vec<usize>> = BTreeMap::new();
    for (index, stmt) in history.stmts.iter().enumerate() {
        if let (Kind::StreamTruncate, Some(table)) = (&stmt.kind, stmt.table)
            && acked(stmt)
        {
            let key = (stmt.before, 2, nanos(stmt.start));
            match lifetimes[table].at(key) {
                Some(generation) => truncates.entry((table, generation, stmt.scope)).or_default().push(index),
                None => walker.fail(format!("{} succeeded where its table did not exist", stmt.describe())),
            }
        }
    }
    for list in truncates.values_mut() {
        list.sort_by_key(|&s| (history.stmts[s].before, history.stmts[s].start));
    }

    // Walk every scope of every generation (one that never saw an event included).
    let mut scopes: BTreeSet<(usize, u32, Scope)> = groups.keys().copied().collect();
    scopes.extend(truncates.keys().copied());
    scopes.extend(finals.keys().copied());
    scopes.extend(snapshots.keys().copied());
    for (table, generation, scope) in scopes {
        let events = groups.get(&(table, generation, scope)).cloned().unwrap_or_default();
        let snaps = snapshots.get(&(table, generation, scope)).cloned().unwrap_or_default();
        let name = TABLES[table].name;
        if TABLES[table].kind == TableKind::Stream {
            let list = truncates.get(&(table, generation, scope)).cloned().unwrap_or_default();
            let model = walker.stream(table, scope, &events, &list, &snaps);
            if let Some(last) = finals.get(&(table, generation, scope)) {
                let held: Vec<(i64, i64, u64)> = sorted(
                    last.decoded
                        .iter()
                        .map(|r| (int(r, "v").unwrap_or(i64::MIN), int(r, "w").unwrap_or(i64::MIN), int(r, "_seq").unwrap_or(-1) as u64)),
                );
                let built = sorted(model.into_iter());
                if held != built {
                    walker.fail(format!("{name} ({scope}): the engine holds {held:?}, but the events add up to {built:?}"));
                }
            }
        } else {
            let model = walker.keyed(table, scope, &events, &snaps);
            if let Some(last) = finals.get(&(table, generation, scope)) {
                let held: Vec<(i64, i64, i64, bool, u64)> = sorted(last.decoded.iter().map(|r| {
                    (
                        int(r, "id").unwrap_or(i64::MIN),
                        int(r, "v").unwrap_or(i64::MIN),
                        int(r, "w").unwrap_or(i64::MIN),
                        int(r, "_deleted") == Some(1),
                        int(r, "_seq").unwrap_or(-1) as u64,
                    )
                }));
                let mut built: Vec<(i64, i64, i64, bool, u64)> = model.iter().map(|(id, r)| (*id, r.v, r.w, r.deleted, r.seq)).collect();
                // A key a block inserted and deleted again keeps a tombstone no subscriber
                // sees (the row was never visible): over no row or a deleted one, and
                // written by the block whose COMMIT holds its `_seq`.
                for row in &held {
                    let over_nothing = model.get(&row.0).is_none_or(|r| r.deleted && r.seq < row.4);
                    if row.3 && over_nothing && walker.block_at(table, scope, row.4).is_some_and(|b| walker.names(b, row.2)) {
                        built.retain(|r| r.0 != row.0);
                        built.push(*row);
                    }
                }
                built.sort();
                if held != built {
                    let only_held: Vec<_> = held.iter().filter(|r| !built.contains(r)).collect();
                    let only_built: Vec<_> = built.iter().filter(|r| !held.contains(r)).collect();
                    walker.fail(format!(
                        "{name} ({scope}): the engine's rows differ from what the events add up to: \
                         only in the engine {only_held:?}; only in the events {only_built:?}"
                    ));
                }
            }
        }
    }
    // Every DELETE/TRUNCATE that removed rows must have been matched to its tombstones.
    for (index, stmt) in history.stmts.iter().enumerate() {
        if matches!(stmt.kind, Kind::Delete { .. } | Kind::Truncate)
            && stmt.outcome.count().is_some_and(|n| n > 0)
            && !walker.assigned.contains(&index)
            && walker.failures.is_empty()
        {
            walker.fail(format!("{} returned {}, but no tombstones it made were seen", stmt.describe(), stmt.outcome.brief()));
        }
    }

    // Internal and system errors (XX..., 58...) of statements other than reads.
    for stmt in history.stmts.iter().filter(|s| !matches!(s.kind, Kind::Read)) {
        let steps = match &stmt.kind {
            Kind::Block(block) => block.steps.iter().map(|step| &step.outcome).collect(),
            _ => Vec::new(),
        };
        let internal =
            |outcome: &crate::history::Outcome| outcome.state().is_some_and(|state| state.starts_with("XX") || state.starts_with("58"));
        if let Some(outcome) = std::iter::once(&stmt.outcome).chain(steps).find(|o| internal(o)) {
            let raced: Vec<String> = history
                .stmts
                .iter()
                .filter(|other| {
                    matches!(other.kind, Kind::Drop | Kind::AlterAdd | Kind::AlterDrop)
                        && (stmt.table.is_none() || other.table == stmt.table)
                        && other.start < stmt.end
                        && stmt.start < other.end
                })
                .map(|other| format!("{} {}", other.kind.name(), other.table.map(|t| TABLES[t].name).unwrap_or("-")))
                .collect();
            let note = if raced.is_empty() { String::new() } else { format!(" (while {} ran)", raced.join(", ")) };
            walker.failed_reads.push(format!("{} failed with {}{note}", stmt.describe(), outcome.brief()));
        }
    }

    // Each table's order.
    let mut tables = Vec::new();
    for (table, _) in TABLES.iter().enumerate() {
        let mut items: Vec<Item> = Vec::new();
        let mut floating: Vec<usize> = Vec::new();
        for (index, stmt) in history.stmts.iter().enumerate().filter(|(_, s)| s.table == Some(table)) {
            match &stmt.kind {
                // A read that failed for another reason than a missing table (the one
                // error a serial order also gives) fails the check, unless it is a
                // serialization failure (40001: run it again) of a read that overlapped
                // an ALTER TABLE of its table, which changed nothing.
                Kind::Read if stmt.outcome.state().is_some_and(|state| state != "42P01") => {
                    let raced: Vec<&str> = history
                        .stmts
                        .iter()
                        .filter(|other| {
                            other.table == Some(table)
                                && matches!(other.kind, Kind::Drop | Kind::AlterAdd | Kind::AlterDrop)
                                && other.outcome.is_ok()
                                && other.start < stmt.end
                                && stmt.start < other.end
                        })
                        .map(|other| other.kind.name())
                        .collect();
                    let raced_alter = raced.iter().any(|kind| *kind != Kind::Drop.name());
                    if stmt.outcome.state() == Some("40001") && raced_alter {
                        walker.stats.read_retries += 1;
                        continue;
                    }
                    walker.stats.read_errors += 1;
                    walker.failed_reads.push(format!(
                        "{}{}: {} failed with {}, which no serial order gives",
                        if raced.is_empty() { String::new() } else { format!("[raced {}] ", raced.join(", ")) },
                        TABLES[table].name,
                        stmt.describe(),
                        stmt.outcome.brief()
                    ));
                }
                Kind::Read => {
                    walker.stats.reads += 1;
                    floating.push(index);
                }
                Kind::Flush | Kind::Jobs => {}
                // A committed block with changes sits at its commit; any other (rolled
                // back, or committed without a change a subscriber sees) floats, checked
                // at the cuts between its BEGIN and its end.
                Kind::Block(block) => {
                    let first = match block.committed && walker.seqs.contains_key(&index) {
                        true => committed_range(&mut walker, index),
                        false => None,
                    };
                    match first {
                        Some(first) => {
                            walker.stats.blocks_committed += 1;
                            items.push(Item { stmt: index, key: (first, 1, 0), committed: true });
                        }
                        None => {
                            walker.stats.blocks_floating += 1;
                            floating.push(index);
                        }
                    }
                    if !block.committed {
                        walker.stats.blocks_rolled_back += 1;
                    }
                }
                _ if !acked(stmt) => {}
                kind if kind.is_ddl() => {
                    walker.stats.ddl += 1;
                    items.push(Item { stmt: index, key: ddl_key(stmt), committed: false });
                }
                Kind::StreamTruncate => items.push(Item { stmt: index, key: (stmt.before, 2, nanos(stmt.start)), committed: false }),
                _ if stmt.outcome.count() == Some(0) => {
                    walker.stats.unchanged_writes += 1;
                    floating.push(index);
                }
                _ => {
                    if let Some(first) = committed_range(&mut walker, index) {
                        walker.stats.committed += 1;
                        items.push(Item { stmt: index, key: (first, 1, 0), committed: true });
                    }
                }
            }
        }
        items.sort_by_key(|item| (item.key, item.stmt));
        check_lifetimes(&mut walker, table, &items);
        // Items are sorted by their `_seq` place; the few without a `_seq` are looked at
        // one by one.
        let uncommitted: Vec<usize> = (0..items.len()).filter(|&i| !items[i].committed).collect();
        let floating = floating
            .into_iter()
            .filter_map(|index| {
                let stmt = &history.stmts[index];
                // Only what touches its scope constrains it: statements of another user's
                // scope are placed exactly within their own scope only.
                let relevant = |item: &Item| {
                    let other = &history.stmts[item.stmt];
                    other.kind.is_ddl() || other.scope == stmt.scope
                };
                // On its left: commits `<= before`, and what ended before it started. A
                // committed block that wrote (only a tombstone no subscriber sees: a key
                // it inserted and deleted) ran, serially, at its COMMIT (its check made
                // its reads hold there): after every commit before the COMMIT began, else
                // a read of tombstones in between could see its tombstone too early.
                let before = match &stmt.kind {
                    Kind::Block(block) if block.committed_writes() => stmt.before.max(block.commit_window.0),
                    _ => stmt.before,
                };
                let committed_left = items[..items.partition_point(|i| i.key.0 <= before)].iter().rposition(|i| i.committed && relevant(i));
                let other_left =
                    uncommitted.iter().copied().filter(|&i| relevant(&items[i]) && history.stmts[items[i].stmt].end < stmt.start).max();
                let first = committed_left.max(other_left).map(|i| i + 1).unwrap_or(0);
                // On its right: commits `> after + 1` (the commit section writes a commit
                // before it raises the counter `after` was sampled from, so a read may see
                // the one after it), and what started after it ended.
                let from = items.partition_point(|i| i.key.0 <= stmt.after + 1);
                let committed_right = items[from..].iter().position(|i| i.committed && relevant(i)).map(|i| i + from);
                let other_right =
                    uncommitted.iter().copied().filter(|&i| relevant(&items[i]) && history.stmts[items[i].stmt].start > stmt.end).min();
                let last = match (committed_right, other_right) {
                    (Some(a), Some(b)) => a.min(b),
                    (a, b) => a.or(b).unwrap_or(items.len()),
                };
                if first > last {
                    walker.fail(format!(
                        "{}: what finished before it started is ordered after what started after it finished \
                         (cuts {first}..{last} of {})",
                        stmt.describe(),
                        TABLES[table].name
                    ));
                    return None;
                }
                Some(Floating { stmt: index, first, last })
            })
            .collect();
        tables.push(TablePlan { table, items, floating });
    }
    let Walker { failures, failed_reads, stats, .. } = walker;
    Analysis { tables, failures, failed_reads, stats }
}

/// Walks a table's order: every write lies inside the lifetime of the generation its
/// events came from, and the gated statements had no commit of theirs beside them.
fn check_lifetimes(walker: &mut Walker, table: usize, items: &[Item]) {
    let name = TABLES[table].name;
    let history = walker.history;
    let mut current: Option<u32> = None;
    // The generation each committed statement's events came from.
    let mut generation_of: HashMap<u64, u32> = HashMap::new();
    for event in history.events.iter().filter(|e| e.table == table) {
        generation_of.insert(event.seq, event.generation);
    }
    for item in items {
        let stmt = &history.stmts[item.stmt];
        match &stmt.kind {
            Kind::Create => {
                if current.is_some() {
                    walker.fail(format!("{name}: {} is ordered while generation {current:?} exists", stmt.describe()));
                }
                current = stmt.generation;
            }
            Kind::Drop => {
                if current != stmt.generation {
                    walker.fail(format!("{name}: {} is ordered while generation {current:?} exists", stmt.describe()));
                }
                current = None;
            }
            _ if item.committed => {
                let generation = generation_of.get(&item.key.0).copied();
                if generation != current || current.is_none() {
                    walker.fail(format!(
                        "{name}: {} committed _seq {} into generation {generation:?}, which is not the one alive at that \
                         place of the order ({current:?}); a write committed after its table's DROP TABLE returned?",
                        stmt.describe(),
                        item.key.0
                    ));
                }
            }
            _ => {
                if current.is_none() {
                    walker.fail(format!("{name}: {} succeeded at a place where the table does not exist", stmt.describe()));
                }
            }
        }
        // CREATE and ALTER hold the table's gate: none of its commits may fall inside.
        if matches!(stmt.kind, Kind::Create | Kind::AlterAdd | Kind::AlterDrop) {
            // Items are sorted by their `_seq` place.
            let from = items.partition_point(|i| i.key.0 <= stmt.before);
            let inside = items[from..].iter().take_while(|i| i.key.0 <= stmt.after).find(|i| i.committed);
            if let Some(first) = inside {
                walker.fail(format!(
                    "{name}: {} committed _seq {} while {} held the table's gate",
                    history.stmts[first.stmt].describe(),
                    first.key.0,
                    stmt.describe()
                ));
            }
        }
    }
}
