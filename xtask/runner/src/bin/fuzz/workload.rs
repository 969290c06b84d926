//! The writes between queries: multi-row INSERTs (as root or as `fz`, simple-path or typed
//! literals, with or without a column list, mostly fresh keys), UPDATE and DELETE with
//! generated WHERE clauses, TRUNCATE, FLUSH TABLE, ALTER TABLE ADD / DROP / RENAME COLUMN,
//! clock steps, restarts and job runs (compaction); and statements that must fail (a duplicate key in the middle of a VALUES
//! list, NOT NULL and type violations, values out of range, a division by zero halfway
//! through an UPDATE, unknown columns, writes a table kind refuses), each of which must
//! leave storage as it was.

use std::collections::HashSet;

use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;

use crate::data::{Ty, Value};
use crate::model::{Change, Model, Op, Scope, SetTo, TableModel};
use crate::query::{Cols, Gen};
use crate::schema::{Alter, Column, Kind, Table, ident};

/// What the main loop should do next.
pub enum Next {
    Op(Op),
    /// Flush this table, with the hot/cold oracle around it.
    Flush(String),
}

pub fn create_tables(rng: &mut StdRng) -> Vec<Op> {
    let n = rng.random_range(1..=3);
    (0..n)
        .map(|i| {
            let kind = *[Kind::Shared, Kind::Shared, Kind::User, Kind::User, Kind::Stream].choose(rng).expect("kinds");
            Op::Create(Table::random(format!("t{i}"), kind, rng))
        })
        .collect()
}

/// How often each kind of write comes in one world (weights), so that worlds differ:
/// some flush after nearly every write (many segments, compaction), some change their
/// schema often, some delete much.
#[derive(Debug, Clone)]
pub struct Profile {
    weights: [u32; 13],
}

/// The kinds of writes, in the order of [`Profile::weights`].
#[derive(Debug, Clone, Copy)]
enum WriteKind {
    Insert,
    InsertAsFz,
    DuplicateKey,
    Update,
    Delete,
    Truncate,
    Flush,
    Alter,
    Clock,
    Restart,
    Jobs,
    MustFail,
    Bulk,
}

const KINDS: [WriteKind; 13] = [
    WriteKind::Insert,
    WriteKind::InsertAsFz,
    WriteKind::DuplicateKey,
    WriteKind::Update,
    WriteKind::Delete,
    WriteKind::Truncate,
    WriteKind::Flush,
    WriteKind::Alter,
    WriteKind::Clock,
    WriteKind::Restart,
    WriteKind::Jobs,
    WriteKind::MustFail,
    WriteKind::Bulk,
];

impl Profile {
    pub fn random(rng: &mut StdRng) -> Profile {
        //          ins fz dup upd del trn flu alt clk rst job bad bulk
        let mut weights = [35, 7, 5, 9, 6, 2, 12, 9, 1, 1, 1, 12, 0];
        match rng.random_range(0..6) {
            0 => {
                weights[6] = 40; // flush-heavy: many segments per scope
                weights[10] = 6;
            }
            1 => weights[7] = 30, // schema changes between most inserts
            2 => {
                weights[3] = 25; // updates and deletes over flushed rows
                weights[4] = 20;
            }
            3 => weights[12] = 1, // now and then thousands of rows at once
            _ => {}
        }
        Profile { weights }
    }
}

pub fn next(rng: &mut StdRng, model: &Model, profile: &Profile) -> Next {
    let table = model.tables.choose(rng).expect("a world has tables").clone();
    let total: u32 = profile.weights.iter().sum();
    let mut roll = rng.random_range(0..total);
    let mut kind = WriteKind::MustFail;
    for (k, w) in KINDS.iter().zip(profile.weights) {
        if roll < w {
            kind = *k;
            break;
        }
        roll -= w;
    }
    Next::Op(match kind {
        WriteKind::Insert => insert(rng, &table, Scope::Root, false),
        WriteKind::InsertAsFz if table.schema.kind.per_user() => insert(rng, &table, Scope::Fz, false),
        WriteKind::DuplicateKey if table.schema.has_key() => insert(rng, &table, Scope::Root, true),
        WriteKind::InsertAsFz | WriteKind::DuplicateKey => insert(rng, &table, Scope::Root, false),
        WriteKind::Update => update(rng, &table, model),
        WriteKind::Delete => delete(rng, &table, model),
        WriteKind::Truncate => {
            Op::Truncate { table: table.schema.name.clone(), scope: Scope::Root, sql: format!("TRUNCATE TABLE {}", table.schema.ident()) }
        }
        WriteKind::Flush => return Next::Flush(table.schema.name.clone()),
        WriteKind::Alter => alter(rng, &table),
        WriteKind::Clock => Op::Clock(rng.random_range(1..=5_000)),
        WriteKind::Restart => Op::Restart,
        WriteKind::Jobs => Op::RunJobs,
        WriteKind::MustFail => must_fail(rng, &table, model),
        WriteKind::Bulk => bulk(rng, &table),
    })
}

/// Thousands of rows in one INSERT (fresh keys counted up from a random start), so that
/// scans and segments hold more than a few batches.
fn bulk(rng: &mut StdRng, table: &TableModel) -> Op {
    let schema = &table.schema;
    let counted = |ty: Ty| matches!(ty, Ty::Int | Ty::BigInt | Ty::Double | Ty::Text | Ty::Timestamp | Ty::Decimal);
    if schema.keys().iter().any(|&k| !counted(schema.columns[k].ty)) {
        return insert(rng, table, Scope::Root, false);
    }
    let n = rng.random_range(1_000..=4_000);
    let start: i64 = rng.random_range(-1_000_000..1_000_000);
    let mut taken = existing_keys(table, Scope::Root);
    let columns: Vec<usize> = (0..schema.columns.len()).collect();
    let mut rows = Vec::with_capacity(n);
    for i in 0..n {
        let mut r = row(rng, schema, &columns, &mut taken);
        for &k in &schema.keys() {
            // Keys from a counter where the type holds it (few collisions), else random.
            let v = start + i as i64;
            r[k] = match schema.columns[k].ty {
                Ty::Int | Ty::BigInt => Value::Int(v as i128),
                Ty::Double => Value::F64(v as f64 / 4.0),
                Ty::Text => Value::Text(format!("k{v}")),
                Ty::Timestamp => Value::Ts(v * 1_000_000_007),
                Ty::Decimal => Value::Dec(v as i128),
                _ => r[k].clone(),
            };
        }
        rows.push(r);
    }
    let values: Vec<String> = rows
        .iter()
        .map(|r| {
            let cells: Vec<String> = r.iter().zip(&schema.columns).map(|(v, c)| v.literal(c.ty, true)).collect();
            format!("({})", cells.join(", "))
        })
        .collect();
    Op::Insert {
        table: schema.name.clone(),
        scope: Scope::Root,
        columns: None,
        rows,
        sql: format!("INSERT INTO {} VALUES {}", schema.ident(), values.join(", ")),
    }
}

fn existing_keys(table: &TableModel, scope: Scope) -> HashSet<Vec<String>> {
    let keys = table.schema.keys();
    table.scope_rows(scope).iter().map(|r| keys.iter().map(|&k| r[k].key_identity()).collect()).collect()
}

/// A row for `columns` (positions), keys fresh when possible.
fn row(rng: &mut StdRng, schema: &Table, columns: &[usize], taken: &mut HashSet<Vec<String>>) -> Vec<Value> {
    let keys = schema.keys();
    let mut values = Vec::new();
    for _attempt in 0..8 {
        values = columns
            .iter()
            .map(|&p| {
                let c = &schema.columns[p];
                let nulls = if c.not_null { 0.02 } else { 0.2 };
                Value::random_or_null(c.ty, nulls, rng)
            })
            .collect();
        if keys.is_empty() {
            return values;
        }
        let key: Vec<String> = keys
            .iter()
            .map(|k| match columns.iter().position(|p| p == k) {
                Some(i) => values[i].key_identity(),
                None => schema.columns[*k].default.clone().unwrap_or(Value::Null).key_identity(),
            })
            .collect();
        if taken.insert(key) {
            return values;
        }
    }
    values
}

/// `INSERT INTO t [(columns)] VALUES ...`; `duplicate`: one row in the middle repeats an
/// existing key (or an earlier row's), so the statement must fail whole.
fn insert(rng: &mut StdRng, table: &TableModel, scope: Scope, duplicate: bool) -> Op {
    let schema = &table.schema;
    let columns: Vec<usize> = if rng.random_bool(0.3) {
        let mut chosen: Vec<usize> = (0..schema.columns.len())
            .filter(|&i| {
                let c = &schema.columns[i];
                (c.key || c.not_null) && c.default.is_none() && rng.random_bool(0.95) || rng.random_bool(0.5)
            })
            .collect();
        if chosen.is_empty() {
            chosen.push(0);
        }
        if rng.random_bool(0.3) {
            chosen.reverse();
        }
        chosen
    } else {
        (0..schema.columns.len()).collect()
    };
    let listed = columns.len() != schema.columns.len() || columns.windows(2).any(|w| w[0] > w[1]);
    let n = if rng.random_bool(0.1) { rng.random_range(10..=40) } else { rng.random_range(1..=6) };
    let mut taken = existing_keys(table, scope);
    let mut rows: Vec<Vec<Value>> = (0..n).map(|_| row(rng, schema, &columns, &mut taken)).collect();
    if duplicate {
        let keys = schema.keys();
        let source = table.scope_rows(scope).choose(rng).map(|r| columns.iter().map(|&p| r[p].clone()).collect::<Vec<_>>());
        let _ = keys;
        let copy = source.unwrap_or_else(|| rows[0].clone());
        let at = rng.random_range(0..=rows.len());
        rows.insert(at.max(1).min(rows.len()), copy);
        if rows.len() < 3 {
            rows.push(row(rng, schema, &columns, &mut taken));
        }
    }
    let plain = rng.random_bool(0.6);
    let values: Vec<String> = rows
        .iter()
        .map(|r| {
            let cells: Vec<String> = r.iter().zip(&columns).map(|(v, &p)| v.literal(schema.columns[p].ty, plain)).collect();
            format!("({})", cells.join(", "))
        })
        .collect();
    let names: Vec<String> = columns.iter().map(|&p| schema.columns[p].name.clone()).collect();
    let list = if listed { format!(" ({})", names.iter().map(|n| ident(n)).collect::<Vec<_>>().join(", ")) } else { String::new() };
    Op::Insert {
        table: schema.name.clone(),
        scope,
        columns: listed.then_some(names),
        rows,
        sql: format!("INSERT INTO {}{list} VALUES {}", schema.ident(), values.join(", ")),
    }
}

fn safe_predicate(rng: &mut StdRng, table: &Table, model: &Model) -> String {
    let mut g = Gen::new(rng, Vec::new()).with_pool(model, &table.name);
    let cols = Cols { table, alias: None, seq: false, safe: true };
    let _ = model;
    if table.has_key() && g.rng.random_bool(0.25) {
        // By whole key: the simple path for DELETE and UPDATE.
        let rows = model.table(&table.name).map(|m| m.scope_rows(Scope::Root).to_vec()).unwrap_or_default();
        if let Some(r) = rows.choose(g.rng) {
            let conditions: Vec<String> = table
                .keys()
                .iter()
                .map(|&k| format!("{} = {}", table.columns[k].ident(), r[k].literal(table.columns[k].ty, true)))
                .collect();
            return conditions.join(" AND ");
        }
    }
    g.predicate(cols, 2)
}

fn update(rng: &mut StdRng, table: &TableModel, model: &Model) -> Op {
    let schema = &table.schema;
    let n = rng.random_range(1..=2.min(schema.columns.len()));
    let mut sets = Vec::new();
    let mut targets: Vec<usize> = (0..schema.columns.len()).collect();
    targets.sort_by_key(|_| rng.random::<u32>());
    for &p in targets.iter().take(n) {
        let c = &schema.columns[p];
        // Keys change rarely (a collision fails the statement).
        if c.key && rng.random_bool(0.7) {
            continue;
        }
        let same: Vec<&Column> = schema.columns.iter().filter(|d| d.ty == c.ty && d.name != c.name).collect();
        let to = match same.choose(rng) {
            Some(d) if rng.random_bool(0.2) => SetTo::Column(d.name.clone()),
            _ => SetTo::Value(Value::random_or_null(c.ty, if c.not_null { 0.03 } else { 0.2 }, rng)),
        };
        sets.push((c.name.clone(), to));
    }
    if sets.is_empty() {
        let c = &schema.columns[targets[0]];
        sets.push((c.name.clone(), SetTo::Value(Value::random(c.ty, rng))));
    }
    let plain = rng.random_bool(0.5);
    let assignments: Vec<String> = sets
        .iter()
        .map(|(name, to)| {
            let ty = schema.columns.iter().find(|c| &c.name == name).expect("a column").ty;
            let value = match to {
                SetTo::Value(v) => v.literal(ty, plain),
                SetTo::Column(other) => ident(other),
            };
            format!("{} = {value}", ident(name))
        })
        .collect();
    let predicate = safe_predicate(rng, schema, model);
    let scope = if schema.kind.per_user() && rng.random_bool(0.2) { Scope::Fz } else { Scope::Root };
    Op::Update {
        table: schema.name.clone(),
        scope,
        sets,
        sql: format!("UPDATE {} SET {} WHERE {predicate}", schema.ident(), assignments.join(", ")),
        predicate,
    }
}

fn delete(rng: &mut StdRng, table: &TableModel, model: &Model) -> Op {
    let schema = &table.schema;
    let predicate = safe_predicate(rng, schema, model);
    let scope = if schema.kind.per_user() && rng.random_bool(0.2) { Scope::Fz } else { Scope::Root };
    Op::Delete { table: schema.name.clone(), scope, sql: format!("DELETE FROM {} WHERE {predicate}", schema.ident()), predicate }
}

fn alter(rng: &mut StdRng, table: &TableModel) -> Op {
    let mut schema = table.schema.clone();
    // Now and then a change that must fail: a taken name, a key column, NOT NULL without
    // a default on a table with rows.
    let change = match rng.random_range(0..12) {
        0 => {
            let c = schema.columns.choose(rng).expect("columns").clone();
            Change::Add(Column { key: false, not_null: false, default: None, ..c })
        }
        1 if schema.has_key() => Change::Drop(schema.columns[schema.keys()[0]].name.clone()),
        2 if schema.columns.len() > 1 => Change::Rename(schema.columns[0].name.clone(), schema.columns[1].name.clone()),
        3 => Change::Add(Column { name: schema.fresh_name(rng), ty: Ty::Int, not_null: true, key: false, default: None }),
        _ => match Alter::random(&mut schema, rng) {
            Alter::Add(c) => Change::Add(c),
            Alter::Drop(at) => Change::Drop(schema.columns[at].name.clone()),
            Alter::Rename(at, new) => Change::Rename(schema.columns[at].name.clone(), new),
        },
    };
    let name = schema.ident();
    let sql = match &change {
        Change::Add(c) => {
            let mut text = format!("ALTER TABLE {name} ADD COLUMN {} {}", c.ident(), c.ty.sql());
            if c.not_null {
                text.push_str(" NOT NULL");
            }
            if let Some(default) = &c.default {
                text.push_str(&format!(" DEFAULT {}", default.literal(c.ty, rng.random_bool(0.7))));
            }
            text
        }
        Change::Drop(c) => format!("ALTER TABLE {name} DROP COLUMN {}", ident(c)),
        Change::Rename(a, b) => format!("ALTER TABLE {name} RENAME COLUMN {} TO {}", ident(a), ident(b)),
    };
    Op::Alter { table: schema.name.clone(), change, sql }
}

/// A literal that cannot be stored in a column of `ty`, or that is not of its type.
fn bad_literal(rng: &mut StdRng, ty: Ty) -> Option<String> {
    Some(match ty {
        Ty::TinyInt => (*["128", "-129", "'x'", "1e300"].choose(rng)?).to_string(),
        Ty::SmallInt => (*["32768", "-32769", "'12a'"].choose(rng)?).to_string(),
        Ty::Int => (*["2147483648", "-2147483649", "'abc'", "'1.5.2'"].choose(rng)?).to_string(),
        Ty::BigInt => (*["9223372036854775808", "99999999999999999999", "'--1'"].choose(rng)?).to_string(),
        Ty::UBigInt => (*["-1", "18446744073709551616", "'minus'"].choose(rng)?).to_string(),
        Ty::Decimal => (*["123456789012.5", "CAST('1e20' AS DOUBLE)", "'dec'"].choose(rng)?).to_string(),
        Ty::Date => (*["'2024-02-30'", "'2023-13-01'", "'yesterday'"].choose(rng)?).to_string(),
        Ty::Timestamp => (*["'2024-01-01 25:00:00'", "'not a time'"].choose(rng)?).to_string(),
        Ty::Bool => (*["'maybe'", "'2'"].choose(rng)?).to_string(),
        Ty::Real => (*["'1.2.3'", "'real'"].choose(rng)?).to_string(),
        Ty::Double => (*["'1.2.3'", "'double'"].choose(rng)?).to_string(),
        Ty::Text => return None,
    })
}

fn must_fail(rng: &mut StdRng, table: &TableModel, model: &Model) -> Op {
    let schema = &table.schema;
    let t = schema.ident();
    let list: Vec<String> = schema.columns.iter().map(Column::ident).collect();
    match rng.random_range(0..8) {
        0 | 1 => {
            // A bad value in the middle of an otherwise good multi-row INSERT.
            let candidates: Vec<usize> = (0..schema.columns.len()).filter(|&i| schema.columns[i].ty != Ty::Text).collect();
            if let Some(&bad) = candidates.choose(rng) {
                let mut taken = existing_keys(table, Scope::Root);
                let all: Vec<usize> = (0..schema.columns.len()).collect();
                let mut rows: Vec<String> = (0..3)
                    .map(|_| {
                        let r = row(rng, schema, &all, &mut taken);
                        let cells: Vec<String> = r.iter().zip(&schema.columns).map(|(v, c)| v.literal(c.ty, true)).collect();
                        format!("({})", cells.join(", "))
                    })
                    .collect();
                let r = row(rng, schema, &all, &mut taken);
                let cells: Vec<String> = r
                    .iter()
                    .zip(&schema.columns)
                    .enumerate()
                    .map(|(i, (v, c))| if i == bad { bad_literal(rng, c.ty).unwrap_or_default() } else { v.literal(c.ty, true) })
                    .collect();
                rows.insert(1, format!("({})", cells.join(", ")));
                return Op::MustFail {
                    sql: format!("INSERT INTO {t} ({}) VALUES {}", list.join(", "), rows.join(", ")),
                    codes: Vec::new(),
                };
            }
            Op::MustFail { sql: format!("INSERT INTO {t} (no_such_column) VALUES (1)"), codes: vec!["42703"] }
        }
        2 => {
            // A division by zero halfway through an UPDATE (when a row has a value).
            let ints: Vec<&Column> = schema.columns.iter().filter(|c| c.ty.is_int() && !c.key).collect();
            match ints.choose(rng) {
                Some(c) => {
                    let name = c.ident();
                    Op::DivideByZero {
                        table: schema.name.clone(),
                        column: c.name.clone(),
                        sql: format!("UPDATE {t} SET {name} = {name} / 0 WHERE {name} IS NOT NULL"),
                    }
                }
                None => Op::MustFail { sql: format!("SELECT * FROM {t} WHERE"), codes: vec!["42601"] },
            }
        }
        3 => {
            // Every row again, from the table itself: with a key, each key collides.
            Op::InsertSelf { table: schema.name.clone(), sql: format!("INSERT INTO {t} SELECT * FROM {t}") }
        }
        4 => Op::MustFail { sql: format!("INSERT INTO {t} ({0}, {0}) VALUES (NULL, NULL)", list[0]), codes: Vec::new() },
        5 => {
            let name = format!("t{}", model.tables.len() + 10);
            let sql = match rng.random_range(0..3) {
                0 => format!("CREATE TABLE {name} (a INT, a INT)"),
                1 => format!("CREATE STREAM TABLE {name} (a INT PRIMARY KEY)"),
                _ => format!("CREATE TABLE {name} (a INT PRIMARY KEY, b NOSUCHTYPE)"),
            };
            Op::MustFail { sql, codes: Vec::new() }
        }
        6 if schema.kind == Kind::Stream => Op::MustFail { sql: format!("UPDATE {t} SET {} = NULL", list[0]), codes: vec!["0A000"] },
        _ => {
            // NOT NULL violated by an UPDATE (the model knows whether rows match).
            let not_null: Vec<&Column> = schema.columns.iter().filter(|c| c.not_null && !c.key).collect();
            match not_null.choose(rng) {
                Some(c) => {
                    let predicate = "TRUE".to_string();
                    Op::Update {
                        table: schema.name.clone(),
                        scope: Scope::Root,
                        sets: vec![(c.name.clone(), SetTo::Value(Value::Null))],
                        sql: format!("UPDATE {t} SET {} = NULL WHERE {predicate}", c.ident()),
                        predicate,
                    }
                }
                None => Op::MustFail { sql: format!("INSERT INTO {t} VALUES ()"), codes: Vec::new() },
            }
        }
    }
}
