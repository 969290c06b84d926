//! The check after every kill: the parent reopens the data directory in-process (no job
//! runner; the clock at the latest instant the child could have reached), reads every
//! table whole as each owner (`SELECT *, _updated, _deleted, _seq ... WHERE _deleted OR
//! NOT _deleted ORDER BY id`; STREAM tables `SELECT *, _seq`), and compares with a
//! candidate model exactly: the columns, then per key the values, `_updated` and
//! `_deleted`. Only two freedoms: a tombstone old enough for the retention purge may be
//! gone, and STREAM rows are expected exactly while visible (arrival less than the TTL
//! before the clock). Then `_seq` is checked across all tables: unique, and ordered as
//! the statements that wrote the rows. A few keys are also read by primary key (the point
//! read path over both tiers).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use engine::exports::arrow::array::{Array, AsArray};
use engine::exports::arrow::compute::cast;
use engine::exports::arrow::datatypes::{DataType, Int64Type};
use engine::{Engine, EngineConfig, ManualClock, QueryResult, Session};

use crate::model::{Kind, Model, Row, Val, purgeable, stream_visible};

/// One row as read: the user columns in order, then the system columns.
#[derive(Debug, Clone, PartialEq)]
pub struct FoundRow {
    pub values: Vec<Val>,
    pub updated: Option<i64>,
    pub deleted: Option<bool>,
    pub seq: i64,
}

/// One scope of one table as read.
#[derive(Debug, Clone)]
pub struct FoundScope {
    pub columns: Vec<String>,
    pub rows: Vec<FoundRow>,
    /// `SELECT * ... WHERE id = k` for a few keys: (key, rows found as values).
    pub points: Vec<(i64, Vec<Vec<Val>>)>,
}

/// Every table's scopes as read: `(table, owner)` to rows.
pub type Found = BTreeMap<(String, String), FoundScope>;

/// Opens the engine at `now`, reads everything the model has tables and owners for, and
/// closes it again.
pub fn read(dir: &Path, now: i64, model: &Model, point_keys: &[i64]) -> Result<Found> {
    let config = EngineConfig::for_tests(dir, Arc::new(ManualClock::new(now)));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(read_all(config, model, point_keys))
}

async fn read_all(config: EngineConfig, model: &Model, point_keys: &[i64]) -> Result<Found> {
    let engine = Engine::open(config).context("reopening the engine after the kill")?;
    let mut found = Found::new();
    for table in &model.tables {
        for owner in table.owners() {
            let mut session = if owner.is_empty() { engine.root_session() } else { engine.session(&owner)? };
            let sql = match table.kind {
                Kind::Stream => format!("SELECT *, _seq FROM {} ORDER BY id", table.name),
                _ => format!("SELECT *, _updated, _deleted, _seq FROM {} WHERE _deleted OR NOT _deleted ORDER BY id", table.name),
            };
            let (columns, rows) = query(&mut session, &sql).await?;
            let system = if table.kind == Kind::Stream { 1 } else { 3 };
            if columns.len() < system {
                bail!("{sql}: {} columns", columns.len());
            }
            let user = columns.len() - system;
            let mut scope_rows = Vec::new();
            for mut row in rows {
                let system_values = row.split_off(user);
                let int = |v: &Val| match v {
                    Val::Int(i) => Ok(*i),
                    other => bail!("{sql}: a system column reads {other}"),
                };
                let (updated, deleted, seq) = match system_values.as_slice() {
                    [seq] => (None, None, int(seq)?),
                    [updated, deleted, seq] => (Some(int(updated)?), Some(int(deleted)? != 0), int(seq)?),
                    _ => unreachable!("split above"),
                };
                scope_rows.push(FoundRow { values: row, updated, deleted, seq });
            }
            let mut points = Vec::new();
            if table.kind != Kind::Stream {
                for key in point_keys {
                    let (_, rows) = query(&mut session, &format!("SELECT * FROM {} WHERE id = {key}", table.name)).await?;
                    points.push((*key, rows));
                }
            }
            found.insert((table.name.to_string(), owner), FoundScope { columns: columns[..user].to_vec(), rows: scope_rows, points });
        }
    }
    Ok(found)
}

/// Runs a query; its column names and rows as [`Val`]s (booleans as 0/1, timestamps as
/// milliseconds).
async fn query(session: &mut Session, sql: &str) -> Result<(Vec<String>, Vec<Vec<Val>>)> {
    let result = session.execute(sql).await.with_context(|| format!("reading: {sql}"))?;
    let QueryResult::Rows { schema, batches } = result else { bail!("{sql}: no rows") };
    let columns = schema.fields().iter().map(|f| f.name().clone()).collect();
    let mut rows = Vec::new();
    for batch in &batches {
        let mut converted = Vec::new();
        for column in batch.columns() {
            converted.push(values(column.as_ref()).with_context(|| format!("{sql}: a column of type {}", column.data_type()))?);
        }
        for row in 0..batch.num_rows() {
            rows.push(converted.iter().map(|c| c[row].clone()).collect());
        }
    }
    Ok((columns, rows))
}

fn values(array: &dyn Array) -> Result<Vec<Val>> {
    let data_type = array.data_type();
    let as_int = |target: &DataType| -> Result<Vec<Val>> {
        let cast = cast(array, target)?;
        let ints = cast.as_primitive::<Int64Type>();
        Ok((0..ints.len()).map(|i| if ints.is_null(i) { Val::Null } else { Val::Int(ints.value(i)) }).collect())
    };
    match data_type {
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 | DataType::UInt32 | DataType::Timestamp(..) => {
            as_int(&DataType::Int64)
        }
        DataType::Boolean => {
            let bools = array.as_boolean();
            Ok((0..bools.len()).map(|i| if bools.is_null(i) { Val::Null } else { Val::Int(bools.value(i) as i64) }).collect())
        }
        DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 => {
            let cast = cast(array, &DataType::Utf8)?;
            let strings = cast.as_string::<i32>();
            Ok((0..strings.len()).map(|i| if strings.is_null(i) { Val::Null } else { Val::Text(strings.value(i).to_string()) }).collect())
        }
        other => bail!("unexpected type {other}"),
    }
}

/// What one comparison learned: tombstones the purge removed, rows and `_seq`s seen.
#[derive(Debug, Default)]
pub struct Matched {
    /// `(table index, owner, id)` of tombstones that are gone.
    pub purged: Vec<(usize, String, i64)>,
    pub rows: usize,
}

/// Compares what was read with `model` at clock `now`; the differences, one line each.
pub fn compare(found: &Found, model: &Model, now: i64) -> std::result::Result<Matched, Vec<String>> {
    let mut diffs = Vec::new();
    let mut matched = Matched::default();
    // (statement index, _seq) of every row read that the model expects.
    let mut seqs: Vec<(u64, i64, String)> = Vec::new();
    for (index, table) in model.tables.iter().enumerate() {
        let names: Vec<String> = table.columns.iter().map(|c| c.name.clone()).collect();
        let render = |row: &Row| -> Vec<Val> { names.iter().map(|n| row.values.get(n).cloned().unwrap_or(Val::Null)).collect() };
        for owner in table.owners() {
            let place = if owner.is_empty() { table.name.to_string() } else { format!("{} of {owner}", table.name) };
            let Some(scope) = found.get(&(table.name.to_string(), owner.clone())) else {
                diffs.push(format!("{place}: not read"));
                continue;
            };
            if scope.columns != names {
                diffs.push(format!("{place}: columns {:?}, expected {:?}", scope.columns, names));
                continue;
            }
            let empty = BTreeMap::new();
            let expected: BTreeMap<i64, &Row> = table
                .scope(&owner)
                .unwrap_or(&empty)
                .iter()
                .filter(|(_, row)| table.kind != Kind::Stream || stream_visible(row, now))
                .map(|(id, row)| (*id, row))
                .collect();
            let mut read: BTreeMap<i64, &FoundRow> = BTreeMap::new();
            for row in &scope.rows {
                let Val::Int(id) = row.values[0] else {
                    diffs.push(format!("{place}: a row without an id: {row:?}"));
                    continue;
                };
                if read.insert(id, row).is_some() {
                    diffs.push(format!("{place}: id {id} read twice"));
                }
            }
            let ids: std::collections::BTreeSet<i64> = expected.keys().chain(read.keys()).copied().collect();
            for id in ids {
                match (expected.get(&id), read.get(&id)) {
                    (Some(want), Some(got)) => {
                        matched.rows += 1;
                        let values = render(want);
                        let (updated, deleted) = match table.kind {
                            Kind::Stream => (None, None),
                            _ => (Some(want.updated), Some(want.deleted)),
                        };
                        if got.values != values || got.updated != updated || got.deleted != deleted {
                            diffs.push(format!(
                                "{place} id {id}: read {} _updated={:?} _deleted={:?} _seq={}, expected {} _updated={updated:?} _deleted={deleted:?} (written by statement {})",
                                show(&got.values),
                                got.updated,
                                got.deleted,
                                got.seq,
                                show(&values),
                                want.op
                            ));
                        }
                        seqs.push((want.op, got.seq, format!("{place} id {id}")));
                    }
                    (Some(want), None) if table.kind != Kind::Stream && purgeable(want, now) => {
                        matched.purged.push((index, owner.clone(), id));
                    }
                    (Some(want), None) => diffs.push(format!(
                        "{place} id {id}: missing, expected {} _updated={} _deleted={} (written by statement {})",
                        show(&render(want)),
                        want.updated,
                        want.deleted,
                        want.op
                    )),
                    (None, Some(got)) => diffs.push(format!(
                        "{place} id {id}: unexpected row {} _updated={:?} _deleted={:?} _seq={}",
                        show(&got.values),
                        got.updated,
                        got.deleted,
                        got.seq
                    )),
                    (None, None) => unreachable!("from one of the two"),
                }
            }
            // Point reads by key agree with the scan (live rows only).
            for (key, rows) in &scope.points {
                let want: Vec<Vec<Val>> = expected.get(key).filter(|r| !r.deleted).map(|r| render(r)).into_iter().collect();
                if *rows != want {
                    let rows: Vec<String> = rows.iter().map(|r| show(r)).collect();
                    diffs.push(format!(
                        "{place}: SELECT * WHERE id = {key} read [{}], expected {:?}",
                        rows.join(", "),
                        want.first().map(|r| show(r))
                    ));
                }
            }
        }
    }
    // _seq: unique, and in the order of the statements that wrote the rows.
    seqs.sort_by_key(|(_, seq, _)| *seq);
    for pair in seqs.windows(2) {
        let ((op_a, seq_a, at_a), (op_b, seq_b, at_b)) = (&pair[0], &pair[1]);
        if seq_a == seq_b {
            diffs.push(format!("_seq {seq_a} read twice: {at_a} and {at_b}"));
        } else if op_a > op_b {
            diffs.push(format!(
                "_seq out of order: {at_a} has _seq {seq_a} from statement {op_a}, {at_b} has _seq {seq_b} from the earlier statement {op_b}"
            ));
        }
    }
    if diffs.is_empty() { Ok(matched) } else { Err(diffs) }
}

fn show(values: &[Val]) -> String {
    format!("({})", values.iter().map(Val::to_string).collect::<Vec<_>>().join(", "))
}
