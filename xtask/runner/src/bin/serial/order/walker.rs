//! The walk over a run's change events behind [`super::analyse`]: the rows each scope
//! held as the events built them, which statement made each change, and the checks on
//! the history itself (a failure here means the order cannot be trusted).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::{Key, Stats};
use crate::history::{Event, EventKind, History, Kind, Scope, Stmt, Values};
use crate::workload::TABLES;

/// The row of a keyed scope as the events built it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Row {
    pub(super) v: i64,
    pub(super) w: i64,
    pub(super) deleted: bool,
    pub(super) seq: u64,
}

/// The rows a subscription opened after an ALTER TABLE started with.
#[derive(Debug, Clone)]
pub(super) struct Snapshot<'a> {
    pub(super) start_seq: u64,
    pub(super) opened: u128,
    pub(super) rows: Vec<&'a Event>,
}

pub(super) fn int(values: &Values, name: &str) -> Option<i64> {
    values.get(name).copied().flatten()
}

pub(super) fn nanos(d: std::time::Duration) -> u128 {
    d.as_nanos()
}

/// The generations of one table: `(generation, from, until)` keys of its CREATE and DROP.
pub(super) struct Lifetimes(pub(super) Vec<(u32, Key, Option<Key>)>);

impl Lifetimes {
    pub(super) fn at(&self, key: Key) -> Option<u32> {
        self.0.iter().find(|(_, from, until)| *from < key && until.is_none_or(|u| key < u)).map(|(g, ..)| *g)
    }
}

pub(super) fn ddl_key(stmt: &Stmt) -> Key {
    match stmt.kind {
        Kind::Drop => (stmt.after, 2, nanos(stmt.end)),
        _ => (stmt.before, 2, nanos(stmt.start)),
    }
}

pub(super) fn acked(stmt: &Stmt) -> bool {
    stmt.acked()
}

/// A committed block's COMMIT window `(before, after]` and the block's index.
pub(super) type CommitWindow = (u64, u64, usize);

pub(super) struct Walker<'a> {
    pub(super) history: &'a History,
    pub(super) by_id: HashMap<u64, usize>,
    /// `_seq`s each statement committed.
    pub(super) seqs: HashMap<usize, Vec<u64>>,
    /// DELETE/TRUNCATE statements already matched to a block.
    pub(super) assigned: BTreeSet<usize>,
    /// DELETE/TRUNCATE statements that removed rows, by table and scope.
    pub(super) deleters: HashMap<(usize, Scope), Vec<usize>>,
    /// Committed transaction blocks by table and scope, in `_seq` order.
    pub(super) blocks: HashMap<(usize, Scope), Vec<CommitWindow>>,
    pub(super) failures: Vec<String>,
    pub(super) failed_reads: Vec<String>,
    pub(super) stats: Stats,
}

impl<'a> Walker<'a> {
    pub(super) fn fail(&mut self, text: String) {
        self.failures.push(text);
    }

    /// The committed block whose `COMMIT` window holds `seq` in this scope (it held the
    /// scope's gate: every change of the scope in that window is its).
    pub(super) fn block_at(&self, table: usize, scope: Scope, seq: u64) -> Option<usize> {
        let windows = self.blocks.get(&(table, scope))?;
        // Windows of one scope never overlap (each COMMIT held the scope's gate): the last
        // that opens before `seq` is the only one that may hold it.
        let (_, after, block) = windows[..windows.partition_point(|(before, ..)| *before < seq)].last()?;
        (seq <= *after).then_some(*block)
    }

    /// Whether statement `index` is the one a row's `w` names (a block: one of its steps).
    pub(super) fn names(&self, index: usize, w: i64) -> bool {
        self.by_id.get(&(w as u64)) == Some(&index)
    }

    /// A change inside a block's `COMMIT` must be that block's; false (and a failure) if not.
    fn inside_its_commit(&mut self, event: &Event, writer: usize) -> bool {
        match self.block_at(event.table, event.scope, event.seq) {
            Some(block) if block != writer => {
                let history = self.history;
                self.fail(format!(
                    "{} ({}): the change at _seq {} by {} committed inside the COMMIT of {}, which held the scope's gate",
                    TABLES[event.table].name,
                    event.scope,
                    event.seq,
                    history.stmts[writer].describe(),
                    history.stmts[block].describe()
                ));
                false
            }
            _ => true,
        }
    }

    /// The statement a row version names in `w`, if it is a DML statement of this table
    /// and scope that was acknowledged; a failure otherwise.
    pub(super) fn writer(&mut self, event: &Event, kinds: &[&str]) -> Option<usize> {
        let table = TABLES[event.table].name;
        let Some(w) = int(&event.row, "w") else {
            self.fail(format!("{table} ({}): the change at _seq {} has no w: {:?}", event.scope, event.seq, event.row));
            return None;
        };
        let Some(&index) = self.by_id.get(&(w as u64)) else {
            self.fail(format!("{table} ({}): the change at _seq {} names statement {w}, which never ran", event.scope, event.seq));
            return None;
        };
        let history = self.history;
        let stmt = &history.stmts[index];
        let reason = if stmt.table != Some(event.table) || stmt.scope != event.scope {
            Some(format!("was a statement on {} ({})", stmt.table.map(|t| TABLES[t].name).unwrap_or("-"), stmt.scope))
        } else if !kinds.contains(&stmt.kind.name()) {
            Some(format!("is a {}, which cannot make this change", stmt.kind.name()))
        } else if !acked(stmt) {
            Some(format!("failed ({}), so must have written nothing", stmt.outcome.brief()))
        } else {
            None
        };
        if let Some(reason) = reason {
            self.fail(format!(
                "{table} ({}): the {:?} event at _seq {} ({:?}) was written by {}, which {reason}",
                event.scope,
                event.kind,
                event.seq,
                event.row,
                stmt.describe()
            ));
            return None;
        }
        Some(index)
    }

    /// Walks one keyed scope of one generation.
    pub(super) fn keyed(&mut self, table: usize, scope: Scope, events: &[&Event], snapshots: &[Snapshot]) -> BTreeMap<i64, Row> {
        let name = TABLES[table].name;
        let mut model: BTreeMap<i64, Row> = BTreeMap::new();
        // DELETE and TRUNCATE statements of this scope that removed rows.
        let candidates: Vec<usize> = self.deleters.get(&(table, scope)).cloned().unwrap_or_default();
        let mut snapshot = 0;
        let mut i = 0;
        while i < events.len() {
            let event = events[i];
            while snapshot < snapshots.len() && snapshots[snapshot].start_seq < event.seq {
                self.check_snapshot(table, scope, &model, &snapshots[snapshot]);
                snapshot += 1;
            }
            let id = int(&event.row, "id").unwrap_or(i64::MIN);
            match event.kind {
                EventKind::Insert | EventKind::Update => {
                    let Some(writer) = self.writer(event, &["INSERT", "UPDATE", "BLOCK"]) else {
                        return model;
                    };
                    if !self.inside_its_commit(event, writer) {
                        return model;
                    }
                    let live = model.get(&id).filter(|r| !r.deleted);
                    let expected_kind = if live.is_some() { EventKind::Update } else { EventKind::Insert };
                    if event.kind != expected_kind {
                        self.fail(format!(
                            "{name} ({scope}): _seq {} is an {:?} event for id {id}, but the row was {:?}",
                            event.seq, event.kind, live
                        ));
                        return model;
                    }
                    if let (Some(live), Some(old)) = (live, &event.old)
                        && (int(old, "v") != Some(live.v) || int(old, "w") != Some(live.w))
                    {
                        self.fail(format!(
                            "{name} ({scope}): the update at _seq {} says id {id} was {old:?}, but it was {live:?}",
                            event.seq
                        ));
                        return model;
                    }
                    let v = int(&event.row, "v").unwrap_or(i64::MIN);
                    let w = int(&event.row, "w").unwrap_or(i64::MIN);
                    model.insert(id, Row { v, w, deleted: false, seq: event.seq });
                    self.seqs.entry(writer).or_default().push(event.seq);
                    i += 1;
                }
                EventKind::Delete if let Some(block) = self.block_at(table, scope, event.seq) => {
                    match model.get_mut(&id) {
                        Some(row) if !row.deleted && int(&event.row, "v") == Some(row.v) && int(&event.row, "w") == Some(row.w) => {
                            row.deleted = true;
                            row.seq = event.seq;
                        }
                        row => {
                            self.fail(format!(
                                "{name} ({scope}): the delete at _seq {} (inside the COMMIT of block {}) shows id {id} as {:?}, but it was {row:?}",
                                event.seq, self.history.stmts[block].id, event.row
                            ));
                            return model;
                        }
                    }
                    self.seqs.entry(block).or_default().push(event.seq);
                    i += 1;
                }
                EventKind::Delete => {
                    let Some(length) = self.delete_block(table, scope, &candidates, &model, &events[i..]) else {
                        return model;
                    };
                    for event in &events[i..i + length] {
                        let id = int(&event.row, "id").unwrap_or(i64::MIN);
                        if let Some(row) = model.get_mut(&id) {
                            row.deleted = true;
                            row.seq = event.seq;
                        }
                    }
                    i += length;
                }
                EventKind::Initial => unreachable!("initial rows are kept apart"),
            }
        }
        for rest in &snapshots[snapshot..] {
            self.check_snapshot(table, scope, &model, rest);
        }
        model
    }

    /// Matches the delete events starting at `events[0]` to one statement; returns how
    /// many events it made.
    pub(super) fn delete_block(
        &mut self,
        table: usize,
        scope: Scope,
        candidates: &[usize],
        model: &BTreeMap<i64, Row>,
        events: &[&Event],
    ) -> Option<usize> {
        let name = TABLES[table].name;
        let history = self.history;
        let first = events[0].seq;
        // The row each delete event names must be the live row it removed.
        let mut matching = Vec::new();
        for &candidate in candidates.iter().filter(|c| !self.assigned.contains(c)) {
            let stmt = &history.stmts[candidate];
            if !(stmt.before < first && first <= stmt.after) {
                continue;
            }
            let count = stmt.outcome.count().unwrap_or(0) as usize;
            if events.len() < count {
                continue;
            }
            let block = &events[..count];
            let contiguous = block.iter().enumerate().all(|(j, e)| e.kind == EventKind::Delete && e.seq == first + j as u64);
            if !contiguous {
                continue;
            }
            let removed: BTreeSet<i64> = block.iter().map(|e| int(&e.row, "id").unwrap_or(i64::MIN)).collect();
            let selected: BTreeSet<i64> = model
                .iter()
                .filter(|(id, row)| {
                    !row.deleted
                        && match &stmt.kind {
                            Kind::Delete { pred } => pred.matches(**id, row.v),
                            _ => true,
                        }
                })
                .map(|(id, _)| *id)
                .collect();
            if removed == selected && removed.len() == count {
                matching.push(candidate);
            }
        }
        let Some(&chosen) = matching.iter().min_by_key(|c| (self.history.stmts[**c].after, self.history.stmts[**c].end)) else {
            let ids: Vec<String> = events
                .iter()
                .take_while(|e| e.kind == EventKind::Delete)
                .take(12)
                .map(|e| format!("{}@{}", int(&e.row, "id").unwrap_or(i64::MIN), e.seq))
                .collect();
            let near: Vec<String> = candidates
                .iter()
                .map(|c| &self.history.stmts[*c])
                .filter(|s| s.before < first + 50 && first <= s.after + 50)
                .map(|s| format!("{} [_seq {}..{}]", s.describe(), s.before, s.after))
                .collect();
            self.fail(format!(
                "{name} ({scope}): the deletions starting at _seq {first} (id@_seq: {}) are no acknowledged DELETE or TRUNCATE \
                 (none of that scope, running then, removes exactly those rows from the rows the scope held); \
                 statements near: {near:?}; live rows: {:?}",
                ids.join(", "),
                model.iter().filter(|(_, r)| !r.deleted).map(|(id, r)| (id, r.v, r.w)).collect::<Vec<_>>()
            ));
            return None;
        };
        if matching.len() > 1 {
            self.stats.ambiguous_deletes += 1;
        }
        let count = self.history.stmts[chosen].outcome.count().unwrap_or(0) as usize;
        for event in &events[..count] {
            let id = int(&event.row, "id").unwrap_or(i64::MIN);
            let row = &model[&id];
            if int(&event.row, "v") != Some(row.v) || int(&event.row, "w") != Some(row.w) {
                self.fail(format!(
                    "{name} ({scope}): the delete at _seq {} shows id {id} as {:?}, but it was {row:?}",
                    event.seq, event.row
                ));
                return None;
            }
        }
        self.assigned.insert(chosen);
        self.seqs.entry(chosen).or_default().extend(events[..count].iter().map(|e| e.seq));
        Some(count)
    }

    /// A subscription opened after an ALTER starts with the scope's live rows.
    pub(super) fn check_snapshot(&mut self, table: usize, scope: Scope, model: &BTreeMap<i64, Row>, snapshot: &Snapshot) {
        let held: BTreeSet<(i64, i64, i64)> = model.iter().filter(|(_, r)| !r.deleted).map(|(id, r)| (*id, r.v, r.w)).collect();
        let initial: BTreeSet<(i64, i64, i64)> = snapshot
            .rows
            .iter()
            .map(|e| (int(&e.row, "id").unwrap_or(i64::MIN), int(&e.row, "v").unwrap_or(i64::MIN), int(&e.row, "w").unwrap_or(i64::MIN)))
            .collect();
        if held != initial || snapshot.rows.len() != held.len() {
            self.fail(format!(
                "{} ({scope}): a subscription opened at _seq {} started with {initial:?}, but the scope held {held:?}",
                TABLES[table].name, snapshot.start_seq
            ));
        }
    }

    /// Walks one STREAM scope of one generation, with its TRUNCATEs at their places.
    pub(super) fn stream(
        &mut self,
        table: usize,
        scope: Scope,
        events: &[&Event],
        truncates: &[usize],
        snapshots: &[Snapshot],
    ) -> Vec<(i64, i64, u64)> {
        let name = TABLES[table].name;
        let max_rows = TABLES[table].max_rows;
        let mut model: Vec<(i64, i64, u64)> = Vec::new();
        let (mut i, mut t, mut snapshot) = (0, 0, 0);
        loop {
            let next_event = events.get(i).map(|e| e.seq);
            let next_truncate = truncates.get(t).map(|&s| self.history.stmts[s].before);
            let next_snapshot = snapshots.get(snapshot).map(|s| s.start_seq);
            // A snapshot and a TRUNCATE at the same place: by their instants (both
            // held gates, so they did not overlap).
            let snapshot_first = match (snapshots.get(snapshot), truncates.get(t)) {
                (Some(s), Some(&tr)) => {
                    let truncate = &self.history.stmts[tr];
                    (s.start_seq, s.opened) < (truncate.before, nanos(truncate.start))
                }
                (Some(_), None) => true,
                _ => false,
            };
            // The earliest of: a snapshot (after commits <= its start), a TRUNCATE (after
            // commits <= its `before`), an event.
            let event_first = |bound: Option<u64>| match (next_event, bound) {
                (Some(e), Some(b)) => e <= b,
                (Some(_), None) => true,
                (None, _) => false,
            };
            if event_first(next_snapshot) && event_first(next_truncate) {
                let event = events[i];
                i += 1;
                if event.kind != EventKind::Insert {
                    self.fail(format!("{name} ({scope}): a STREAM table delivered a {:?} event at _seq {}", event.kind, event.seq));
                    return model;
                }
                let Some(writer) = self.writer(event, &["STREAM INSERT", "BLOCK"]) else {
                    return model;
                };
                if !self.inside_its_commit(event, writer) {
                    return model;
                }
                self.seqs.entry(writer).or_default().push(event.seq);
                model.push((int(&event.row, "v").unwrap_or(i64::MIN), int(&event.row, "w").unwrap_or(i64::MIN), event.seq));
                if let Some(max) = max_rows
                    && model.len() > max
                {
                    model.drain(..model.len() - max);
                }
            } else if snapshot_first {
                let Snapshot { start_seq: start, rows, .. } = &snapshots[snapshot];
                snapshot += 1;
                let held: Vec<(i64, i64)> = sorted(model.iter().map(|(v, w, _)| (*v, *w)));
                let initial: Vec<(i64, i64)> =
                    sorted(rows.iter().map(|e| (int(&e.row, "v").unwrap_or(i64::MIN), int(&e.row, "w").unwrap_or(i64::MIN))));
                if held != initial {
                    self.fail(format!(
                        "{name} ({scope}): a subscription opened at _seq {start} started with {initial:?}, but the scope held {held:?}"
                    ));
                }
            } else if let Some(&truncate) = truncates.get(t) {
                t += 1;
                let history = self.history;
                let stmt = &history.stmts[truncate];
                let count = stmt.outcome.count().unwrap_or(0) as usize;
                if count != model.len() {
                    self.fail(format!(
                        "{name} ({scope}): {} returned {count}, but the scope held {} rows at its place (after _seq {})",
                        stmt.describe(),
                        model.len(),
                        stmt.before
                    ));
                    return model;
                }
                if let Some(e) = events.iter().find(|e| stmt.before < e.seq && e.seq <= stmt.after) {
                    self.fail(format!(
                        "{name} ({scope}): the insert at _seq {} committed while {} held the scope's gate",
                        e.seq,
                        stmt.describe()
                    ));
                }
                model.clear();
            } else {
                break;
            }
        }
        model
    }
}

pub(super) fn sorted<T: Ord>(items: impl Iterator<Item = T>) -> Vec<T> {
    let mut items: Vec<T> = items.collect();
    items.sort();
    items
}

/// The `_seq` a statement's events say it committed, and checks on them.
pub(super) fn committed_range(walker: &mut Walker, index: usize) -> Option<u64> {
    let history = walker.history;
    let stmt = &history.stmts[index];
    let count = stmt.outcome.count().unwrap_or(0);
    let mut seqs = walker.seqs.get(&index).cloned().unwrap_or_default();
    seqs.sort();
    // A block's rows all commit inside its COMMIT (a key it inserted and deleted again
    // takes a `_seq` no subscriber sees, so they need not be contiguous).
    if let Kind::Block(block) = &stmt.kind {
        let (before, after) = block.commit_window;
        if let Some(outside) = seqs.iter().find(|seq| !(before < **seq && **seq <= after)) {
            walker.fail(format!("{} committed _seq {outside}, outside its COMMIT ({before}..{after})", stmt.describe()));
            return None;
        }
        return seqs.first().copied();
    }
    if seqs.is_empty() {
        walker.fail(format!(
            "{} returned {count}, but no subscription saw a change it made (_seq window {}..{})",
            stmt.describe(),
            stmt.before,
            stmt.after
        ));
        return None;
    }
    if let Some(given) = stmt.kind.rows_given()
        && given != count
    {
        walker.fail(format!("{} was given {given} rows and returned {count}", stmt.describe()));
    }
    let (first, last) = (seqs[0], seqs[seqs.len() - 1]);
    if seqs.len() as u64 != count || last - first + 1 != count {
        walker.fail(format!("{} returned {count}, and its changes have _seq {seqs:?}", stmt.describe()));
        return None;
    }
    if !(stmt.before < first && last <= stmt.after) {
        walker.fail(format!(
            "{} committed _seq {first}..{last}, outside the window it ran in ({}..{})",
            stmt.describe(),
            stmt.before,
            stmt.after
        ));
    }
    Some(first)
}
