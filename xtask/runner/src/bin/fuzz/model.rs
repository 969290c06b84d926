//! The state oracle: what every table should hold, per user scope, and what each write
//! should do (its count, or that it fails and with which SQLSTATE). Writes are described
//! by names, not positions ([`Op`]), so a statement list with some statements removed
//! (minimisation) still means something to the model. A WHERE clause of an UPDATE or
//! DELETE is evaluated by plain DataFusion on the model's own rows; everything else
//! (defaults, NOT NULL, key uniqueness with the engine's float key rule, MAX_ROWS, the
//! effect of ALTER TABLE on existing rows) is computed here, independently of the engine.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use engine::exports::arrow::array::{ArrayRef, AsArray, Int64Array};
use engine::exports::arrow::datatypes::{Field, Schema};
use engine::exports::arrow::record_batch::RecordBatch;
use engine::exports::datafusion::common::TableReference;
use engine::exports::datafusion::datasource::MemTable;
use engine::exports::datafusion::prelude::SessionContext;

use crate::data::{Value, to_array};
use crate::schema::{Column, Kind, Table, ident};

/// Whose rows: root's, or those of the second user (`fz`, role user), written through
/// `EXECUTE AS USER fz (...)`. SHARED tables have one scope (root's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    Root,
    Fz,
}

impl Scope {
    /// The statement as this scope's user runs it.
    pub fn wrap(self, sql: &str) -> String {
        match self {
            Scope::Root => sql.to_string(),
            Scope::Fz => format!("{}{sql})", crate::world::FZ_PREFIX),
        }
    }
}

/// The new value of a column in an UPDATE.
#[derive(Debug, Clone)]
pub enum SetTo {
    Value(Value),
    /// Another column of the same type.
    Column(String),
}

/// A schema change, by column names.
#[derive(Debug, Clone)]
pub enum Change {
    Add(Column),
    Drop(String),
    Rename(String, String),
}

/// A statement that changes state (or fails trying), with what the model needs.
#[derive(Debug, Clone)]
pub enum Op {
    Create(Table),
    Insert {
        table: String,
        scope: Scope,
        columns: Option<Vec<String>>,
        rows: Vec<Vec<Value>>,
        sql: String,
    },
    Update {
        table: String,
        scope: Scope,
        sets: Vec<(String, SetTo)>,
        predicate: String,
        sql: String,
    },
    Delete {
        table: String,
        scope: Scope,
        predicate: String,
        sql: String,
    },
    Truncate {
        table: String,
        scope: Scope,
        sql: String,
    },
    Flush {
        table: String,
    },
    Alter {
        table: String,
        change: Change,
        sql: String,
    },
    /// `INSERT INTO t SELECT * FROM t` as root: with a key, every key collides (23505)
    /// unless the table is empty; without one, the rows double.
    InsertSelf {
        table: String,
        sql: String,
    },
    /// `UPDATE t SET c = c / 0 WHERE c IS NOT NULL` as root: a division by zero halfway
    /// through (22012) when a row has a value in `c`.
    DivideByZero {
        table: String,
        column: String,
        sql: String,
    },
    /// Moves the engine clock (`_updated`, and the arrival of STREAM rows).
    Clock(i64),
    /// Closes the engine and opens it again on the same directory.
    Restart,
    /// Runs the engine's due jobs (compaction of scopes with many segments).
    RunJobs,
    /// A statement the model does not describe, which must fail with one of `codes`
    /// (type errors, values out of range, unknown columns, writes a kind refuses).
    MustFail {
        sql: String,
        codes: Vec<&'static str>,
    },
}

impl Op {
    /// The SQL the engine runs (as root; `EXECUTE AS` included).
    pub fn sql(&self) -> String {
        match self {
            Op::Create(table) => table.create_sql(),
            Op::Insert { scope, sql, .. }
            | Op::Update { scope, sql, .. }
            | Op::Delete { scope, sql, .. }
            | Op::Truncate { scope, sql, .. } => scope.wrap(sql),
            Op::Flush { table } => format!("FLUSH TABLE {}", ident(table)),
            Op::Alter { sql, .. } | Op::MustFail { sql, .. } | Op::InsertSelf { sql, .. } | Op::DivideByZero { sql, .. } => sql.clone(),
            Op::Clock(ms) => format!("-- clock advance {ms}ms"),
            Op::Restart => "-- restart".into(),
            Op::RunJobs => "-- jobs run".into(),
        }
    }

    /// The table it writes, if one.
    pub fn table(&self) -> Option<&str> {
        match self {
            Op::Create(t) => Some(&t.name),
            Op::Insert { table, .. }
            | Op::Update { table, .. }
            | Op::Delete { table, .. }
            | Op::Truncate { table, .. }
            | Op::Flush { table }
            | Op::InsertSelf { table, .. }
            | Op::DivideByZero { table, .. }
            | Op::Alter { table, .. } => Some(table),
            Op::Clock(_) | Op::MustFail { .. } | Op::Restart | Op::RunJobs => None,
        }
    }

    pub fn scope(&self) -> Scope {
        match self {
            Op::Insert { scope, .. } | Op::Update { scope, .. } | Op::Delete { scope, .. } | Op::Truncate { scope, .. } => *scope,
            _ => Scope::Root,
        }
    }
}

/// What a statement should do.
#[derive(Debug, Clone, PartialEq)]
pub enum Expect {
    /// Succeed; with this count for INSERT, UPDATE, DELETE and TRUNCATE.
    Ok(Option<u64>),
    /// Fail with one of these SQLSTATEs (empty: any).
    Fail(Vec<&'static str>),
}

/// A table's schema and its rows, per scope, in arrival order.
#[derive(Debug, Clone)]
pub struct TableModel {
    pub schema: Table,
    pub rows: BTreeMap<Scope, Vec<Vec<Value>>>,
    /// Soft-deleted rows still stored (SHARED and USER tables; STREAM deletes for good):
    /// keys per scope, and a count for tables without a key. They count as rows for
    /// `ADD COLUMN ... NOT NULL` without a DEFAULT (a deleted row would read NULL there).
    pub tombstones: BTreeMap<Scope, HashSet<Vec<String>>>,
    pub keyless_tombstones: BTreeMap<Scope, usize>,
}

impl TableModel {
    pub fn scope_rows(&self, scope: Scope) -> &[Vec<Value>] {
        self.rows.get(&scope).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The rows as the engine's `SELECT *` renders them: float zeros keep their sign,
    /// except in float key columns, where `0.0` and `-0.0` are one key (README).
    pub fn rendered(&self, scope: Scope) -> Vec<String> {
        let strict = self.strict_columns();
        let mut rows: Vec<String> = self
            .scope_rows(scope)
            .iter()
            .map(|row| row.iter().zip(&strict).map(|(v, s)| v.render(*s)).collect::<Vec<_>>().join(&crate::render::SEP.to_string()))
            .collect();
        rows.sort();
        rows
    }

    /// Per column: does a float zero keep its sign when rendered?
    pub fn strict_columns(&self) -> Vec<bool> {
        self.schema.columns.iter().map(|c| !(c.key && c.ty.is_float())).collect()
    }

    /// Replaces one scope's rows; rows that went (`deleted` of them for a table without
    /// a key) stay stored as tombstones, and a key written again is live again.
    fn set_rows(&mut self, scope: Scope, rows: Vec<Vec<Value>>, deleted: usize) {
        if self.schema.kind != Kind::Stream {
            if self.schema.has_key() {
                let old: HashSet<Vec<String>> = self.scope_rows(scope).iter().filter_map(|r| key_of(&self.schema, r)).collect();
                let new: HashSet<Vec<String>> = rows.iter().filter_map(|r| key_of(&self.schema, r)).collect();
                let tombstones = self.tombstones.entry(scope).or_default();
                tombstones.extend(old.difference(&new).cloned());
                tombstones.retain(|k| !new.contains(k));
            } else {
                *self.keyless_tombstones.entry(scope).or_default() += deleted;
            }
        }
        self.rows.insert(scope, rows);
    }

    fn has_tombstones(&self) -> bool {
        self.keyless_tombstones.values().any(|n| *n > 0) || self.tombstones.values().any(|t| !t.is_empty())
    }

    /// How many soft-deleted rows one scope keeps (`WHERE _deleted` counts them).
    pub fn tombstone_count(&self, scope: Scope) -> usize {
        self.tombstones.get(&scope).map_or(0, HashSet::len) + self.keyless_tombstones.get(&scope).copied().unwrap_or(0)
    }

    fn column(&self, name: &str) -> Option<usize> {
        self.schema.columns.iter().position(|c| c.name == name)
    }

    /// A RecordBatch of one scope's rows with a leading row number `__rid`.
    fn batch(&self, scope: Scope) -> anyhow::Result<RecordBatch> {
        let rows = self.scope_rows(scope);
        let mut fields = vec![Field::new("__rid", engine::exports::arrow::datatypes::DataType::Int64, false)];
        let mut columns: Vec<ArrayRef> = vec![Arc::new(Int64Array::from_iter_values(0..rows.len() as i64))];
        for (index, column) in self.schema.columns.iter().enumerate() {
            fields.push(Field::new(&column.name, column.ty.arrow(), true));
            let values: Vec<&Value> = rows.iter().map(|r| &r[index]).collect();
            columns.push(to_array(column.ty, &values));
        }
        Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?)
    }

    /// The row numbers of one scope for which `predicate` is true, evaluated by plain
    /// DataFusion; `None` when DataFusion cannot evaluate it.
    async fn matching(&self, scope: Scope, predicate: &str) -> Option<Vec<usize>> {
        let batch = self.batch(scope).ok()?;
        let ctx = SessionContext::new();
        let table = MemTable::try_new(batch.schema(), vec![vec![batch]]).ok()?;
        ctx.register_table(TableReference::bare(self.schema.name.clone()), Arc::new(table)).ok()?;
        let sql = format!("SELECT __rid FROM {} WHERE {predicate}", self.schema.ident());
        let batches = ctx.sql(&sql).await.ok()?.collect().await.ok()?;
        let mut ids = Vec::new();
        for batch in batches {
            let column = batch.column(0).as_primitive::<engine::exports::arrow::datatypes::Int64Type>();
            ids.extend(column.values().iter().map(|v| *v as usize));
        }
        ids.sort_unstable();
        Some(ids)
    }
}

fn key_of(schema: &Table, row: &[Value]) -> Option<Vec<String>> {
    let keys = schema.keys();
    if keys.is_empty() { None } else { Some(keys.iter().map(|&k| row[k].key_identity()).collect()) }
}

/// Whether the rows keep their keys unique and NOT NULL columns filled; the error if not.
fn violation(schema: &Table, rows: &[Vec<Value>]) -> Option<&'static str> {
    for row in rows {
        if schema.columns.iter().zip(row).any(|(c, v)| c.not_null && v.is_null()) {
            return Some("23502");
        }
    }
    if schema.has_key() {
        let mut seen = HashSet::new();
        for row in rows {
            if !seen.insert(key_of(schema, row)) {
                return Some("23505");
            }
        }
    }
    None
}

#[derive(Debug, Default, Clone)]
pub struct Model {
    pub tables: Vec<TableModel>,
}

impl Model {
    pub fn table(&self, name: &str) -> Option<&TableModel> {
        self.tables.iter().find(|t| t.schema.name == name)
    }

    fn table_mut(&mut self, name: &str) -> Option<&mut TableModel> {
        self.tables.iter_mut().find(|t| t.schema.name == name)
    }

    /// What `op` should do, and the model after it (applied only when `Expect::Ok`).
    /// `None`: the model cannot tell (a WHERE clause plain DataFusion cannot evaluate);
    /// the statement is then not run at all.
    pub async fn predict(&self, op: &Op) -> Option<(Expect, Option<Model>)> {
        let fail = |code: &'static str| Some((Expect::Fail(vec![code]), None));
        let fail_any = || Some((Expect::Fail(Vec::new()), None));
        let mut next = self.clone();
        match op {
            Op::Create(table) => {
                if self.table(&table.name).is_some() {
                    return fail("42P07");
                }
                next.tables.push(TableModel {
                    schema: table.clone(),
                    rows: BTreeMap::new(),
                    tombstones: BTreeMap::new(),
                    keyless_tombstones: BTreeMap::new(),
                });
                Some((Expect::Ok(None), Some(next)))
            }
            Op::Clock(_) | Op::Restart | Op::RunJobs => Some((Expect::Ok(None), Some(next))),
            Op::MustFail { codes, .. } => Some((Expect::Fail(codes.clone()), None)),
            Op::InsertSelf { table, .. } => {
                let Some(model) = next.table_mut(table) else { return fail_any() };
                let mut rows = model.scope_rows(Scope::Root).to_vec();
                let count = rows.len() as u64;
                if model.schema.max_rows.is_some() {
                    // The copies arrive in the order the SELECT yields them, which SQL leaves
                    // open; MAX_ROWS evicts by arrival, so which values stay is unknown.
                    return None;
                }
                if model.schema.has_key() {
                    return if count > 0 { fail("23505") } else { Some((Expect::Ok(Some(0)), Some(next))) };
                }
                rows.extend(rows.clone());
                if let Some(max) = model.schema.max_rows {
                    let over = rows.len().saturating_sub(max);
                    rows.drain(..over);
                }
                model.set_rows(Scope::Root, rows, 0);
                Some((Expect::Ok(Some(count)), Some(next)))
            }
            Op::DivideByZero { table, column, .. } => {
                let model = self.table(table)?;
                let Some(p) = model.column(column) else { return fail("42703") };
                if model.schema.kind == Kind::Stream {
                    return fail("0A000");
                }
                if model.scope_rows(Scope::Root).iter().any(|r| !r[p].is_null()) {
                    return fail("22012");
                }
                Some((Expect::Ok(Some(0)), Some(next)))
            }
            Op::Flush { table } => {
                let model = self.table(table)?;
                if model.schema.kind == Kind::Stream {
                    return fail("0A000");
                }
                Some((Expect::Ok(None), Some(next)))
            }
            Op::Insert { table, scope, columns, rows, .. } => {
                let Some(model) = next.table_mut(table) else { return fail_any() };
                let schema = model.schema.clone();
                let positions: Vec<usize> = match columns {
                    Some(names) => {
                        let mut positions = Vec::new();
                        for name in names {
                            match schema.columns.iter().position(|c| &c.name == name) {
                                Some(p) => positions.push(p),
                                None => return fail("42703"),
                            }
                        }
                        positions
                    }
                    None if rows.first().is_some_and(|r| r.len() != schema.columns.len()) => return fail_any(),
                    None => (0..schema.columns.len()).collect(),
                };
                let mut full = Vec::new();
                for row in rows {
                    let mut values: Vec<Value> = schema.columns.iter().map(|c| c.default.clone().unwrap_or(Value::Null)).collect();
                    for (value, &p) in row.iter().zip(&positions) {
                        values[p] = value.clone();
                    }
                    full.push(values);
                }
                let mut all = model.scope_rows(*scope).to_vec();
                all.extend(full.iter().cloned());
                if let Some(code) = violation(&schema, &all) {
                    return fail(code);
                }
                if let Some(max) = schema.max_rows {
                    let over = all.len().saturating_sub(max);
                    all.drain(..over);
                }
                model.set_rows(*scope, all, 0);
                Some((Expect::Ok(Some(rows.len() as u64)), Some(next)))
            }
            Op::Update { table, scope, sets, predicate, .. } => {
                let model = self.table(table)?;
                if model.schema.kind == Kind::Stream {
                    // Refused whatever the clause; one that fails to plan may fail first.
                    model.matching(*scope, predicate).await?;
                    return fail("0A000");
                }
                let mut targets = Vec::new();
                for (name, to) in sets {
                    let Some(p) = model.column(name) else { return fail("42703") };
                    let to = match to {
                        SetTo::Value(v) => Ok(v.clone()),
                        SetTo::Column(other) => match model.column(other) {
                            Some(o) => Err(o),
                            None => return fail("42703"),
                        },
                    };
                    targets.push((p, to));
                }
                let matching = model.matching(*scope, predicate).await?;
                let mut rows = model.scope_rows(*scope).to_vec();
                for &r in &matching {
                    let before = rows[r].clone();
                    for (p, to) in &targets {
                        rows[r][*p] = match to {
                            Ok(v) => v.clone(),
                            Err(o) => before[*o].clone(),
                        };
                    }
                }
                if let Some(code) = violation(&model.schema, &rows) {
                    return fail(code);
                }
                next.table_mut(table)?.set_rows(*scope, rows, 0);
                Some((Expect::Ok(Some(matching.len() as u64)), Some(next)))
            }
            Op::Delete { table, scope, predicate, .. } => {
                let model = self.table(table)?;
                if model.schema.kind == Kind::Stream {
                    model.matching(*scope, predicate).await?;
                    return fail("0A000");
                }
                let matching = model.matching(*scope, predicate).await?;
                let keep: Vec<Vec<Value>> = model
                    .scope_rows(*scope)
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| matching.binary_search(i).is_err())
                    .map(|(_, r)| r.clone())
                    .collect();
                next.table_mut(table)?.set_rows(*scope, keep, matching.len());
                Some((Expect::Ok(Some(matching.len() as u64)), Some(next)))
            }
            Op::Truncate { table, scope, .. } => {
                let model = self.table(table)?;
                let count = model.scope_rows(*scope).len() as u64;
                next.table_mut(table)?.set_rows(*scope, Vec::new(), count as usize);
                Some((Expect::Ok(Some(count)), Some(next)))
            }
            Op::Alter { table, change, .. } => {
                let Some(model) = next.table_mut(table) else { return fail_any() };
                match change {
                    Change::Add(column) => {
                        if model.column(&column.name).is_some() {
                            return fail("42701");
                        }
                        let any_rows = model.rows.values().any(|r| !r.is_empty()) || model.has_tombstones();
                        if column.not_null && column.default.is_none() && any_rows {
                            return fail("23502");
                        }
                        let value = column.default.clone().unwrap_or(Value::Null);
                        for rows in model.rows.values_mut() {
                            for row in rows.iter_mut() {
                                row.push(value.clone());
                            }
                        }
                        model.schema.columns.push(column.clone());
                    }
                    Change::Drop(name) => {
                        let Some(p) = model.column(name) else { return fail("42703") };
                        if model.schema.columns[p].key {
                            return fail("2BP01");
                        }
                        if model.schema.columns.len() == 1 {
                            return fail("0A000");
                        }
                        model.schema.columns.remove(p);
                        for rows in model.rows.values_mut() {
                            for row in rows.iter_mut() {
                                row.remove(p);
                            }
                        }
                    }
                    Change::Rename(old, new) => {
                        let Some(p) = model.column(old) else { return fail("42703") };
                        if model.column(new).is_some() {
                            return fail("42701");
                        }
                        model.schema.columns[p].name = new.clone();
                    }
                }
                Some((Expect::Ok(None), Some(next)))
            }
        }
    }
}
