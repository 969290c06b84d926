//! The statements of one epoch, drawn from the seeded RNG against a copy of the model
//! (so INSERTs mostly pick free keys and ALTER TABLE adds and drops columns that exist or
//! not), each with the engine-clock instant the child runs it at: a few seconds to a
//! minute after the one before, so STREAM rows expire, flush policies fall due and
//! tombstones grow old enough to purge within a few epochs.

use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;

use crate::model::{Filter, Kind, Model, Op, Set, Stmt, USERS, Val, Who};

/// Primary keys are drawn from `0..KEYS` per scope, so keys are reused, deleted and
/// inserted again.
pub const KEYS: i64 = 40;
/// The names ALTER TABLE adds and drops (a dropped name comes back as a new column).
const ADDED: [&str; 3] = ["c1", "c2", "c3"];

/// `count` statements from `start` on; `model` is the state they start from (a copy is
/// advanced as if every statement committed).
pub fn epoch(rng: &mut StdRng, model: &Model, start: i64, count: usize) -> Vec<Op> {
    let mut model = model.clone();
    let mut time = start;
    let mut ops = Vec::with_capacity(count);
    for _ in 0..count {
        time += rng.random_range(0..=60_000);
        let stmt = statement(rng, &model);
        let op = Op { time, stmt };
        let _ = model.apply(&op);
        ops.push(op);
    }
    ops
}

fn statement(rng: &mut StdRng, model: &Model) -> Stmt {
    if rng.random_range(0..100) < 8 {
        return block(rng, model);
    }
    one_statement(rng, model)
}

/// A transaction block of 2 to 5 writes, run in root's session (a user's rows through
/// EXECUTE AS), drawn against a copy of the model advanced by each.
fn block(rng: &mut StdRng, model: &Model) -> Stmt {
    let mut model = model.clone();
    let base = model.ops as i64;
    let count = rng.random_range(2..=5);
    let mut stmts = Vec::with_capacity(count);
    while stmts.len() < count {
        // Every statement drawn as the block's op; STREAM rows get ids of their own in the
        // block's range (`base * 100 + 10 * (j + 1) + i`), which no other op uses.
        model.ops = base as u64;
        let j = stmts.len() as i64;
        let stmt = match one_statement(rng, &model) {
            Stmt::Insert { table, who, added, mut rows } => {
                if model.tables[table].kind == Kind::Stream {
                    for (i, row) in rows.iter_mut().enumerate() {
                        row[0] = Val::Int(base * 100 + 10 * (j + 1) + i as i64);
                    }
                }
                Stmt::Insert { table, who: as_root(who), added, rows }
            }
            Stmt::Update { table, who, set, filter } => Stmt::Update { table, who: as_root(who), set, filter },
            Stmt::Delete { table, who, filter } => Stmt::Delete { table, who: as_root(who), filter },
            Stmt::Truncate { table, who } => Stmt::Truncate { table, who: as_root(who) },
            // DDL and FLUSH cannot run in a block.
            _ => continue,
        };
        let _ = model.apply(&Op { time: 0, stmt: stmt.clone() });
        stmts.push(stmt);
    }
    Stmt::Block { stmts }
}

/// The same writer, from root's session.
fn as_root(who: Who) -> Who {
    match who {
        Who::User(user) => Who::As(user),
        other => other,
    }
}

fn one_statement(rng: &mut StdRng, model: &Model) -> Stmt {
    let table = match rng.random_range(0..100) {
        0..40 => 0,
        40..75 => 1,
        _ => 2,
    };
    let kind = model.tables[table].kind;
    let who = match kind {
        Kind::Shared => Who::Root,
        _ => {
            let user = rng.random_range(0..USERS.len());
            if rng.random_bool(0.3) { Who::As(user) } else { Who::User(user) }
        }
    };
    let roll = rng.random_range(0..100);
    if kind == Kind::Stream {
        return match roll {
            0..55 => insert(rng, model, table, who, 1),
            55..88 => {
                let rows = rng.random_range(2..=8);
                insert(rng, model, table, who, rows)
            }
            88..96 => Stmt::Truncate { table, who },
            _ => alter(rng, model, table),
        };
    }
    match roll {
        0..22 => insert(rng, model, table, who, 1),
        22..34 => {
            let rows = rng.random_range(2..=6);
            insert(rng, model, table, who, rows)
        }
        34..58 => {
            let added: Vec<String> = model.tables[table].added_columns().iter().map(|c| c.name.clone()).collect();
            let set = match rng.random_range(0..10) {
                0..6 => Set::V,
                6..8 => Set::Note,
                _ => added.choose(rng).map_or(Set::V, |c| Set::Added(c.clone())),
            };
            Stmt::Update { table, who, set, filter: filter(rng) }
        }
        58..72 => Stmt::Delete { table, who, filter: filter(rng) },
        72..74 => Stmt::Truncate { table, who },
        74..84 => Stmt::Flush { table: Some(table) },
        84..87 => Stmt::Flush { table: None },
        87..90 => alter(rng, model, table),
        // More inserts keep the tables from emptying.
        _ => {
            let rows = rng.random_range(1..=4);
            insert(rng, model, table, who, rows)
        }
    }
}

fn filter(rng: &mut StdRng) -> Filter {
    match rng.random_range(0..10) {
        0..4 => Filter::Key(rng.random_range(0..KEYS)),
        4..7 => {
            let from = rng.random_range(0..KEYS);
            Filter::Range(from, from + rng.random_range(0..8))
        }
        7 => Filter::In((0..rng.random_range(1..5)).map(|_| rng.random_range(0..KEYS)).collect()),
        8 => Filter::VMod(rng.random_range(2..5), 0),
        _ => {
            if rng.random_bool(0.3) {
                Filter::All
            } else {
                Filter::VMod(3, 1)
            }
        }
    }
}

/// An INSERT of `rows` rows: free keys (now and then a live one, which must fail with
/// 23505 and change nothing); STREAM rows get ids no other row has.
fn insert(rng: &mut StdRng, model: &Model, table: usize, who: Who, rows: usize) -> Stmt {
    let t = &model.tables[table];
    let owner = who.owner(t.kind);
    let ids: Vec<i64> = if t.kind == Kind::Stream {
        (0..rows as i64).map(|i| model.ops as i64 * 100 + i).collect()
    } else {
        let free: Vec<i64> = (0..KEYS).filter(|k| !t.is_live(&owner, *k)).collect();
        let live: Vec<i64> = (0..KEYS).filter(|k| t.is_live(&owner, *k)).collect();
        let mut ids: Vec<i64> = free.choose_multiple(rng, rows).copied().collect();
        if (ids.is_empty() || rng.random_bool(0.04)) && !live.is_empty() {
            ids.truncate(rows.saturating_sub(1));
            ids.push(*live.choose(rng).expect("not empty"));
        }
        ids
    };
    // Now and then the added columns are given too (NULL among them).
    let added: Vec<String> = if rng.random_bool(0.3) { t.added_columns().iter().map(|c| c.name.clone()).collect() } else { Vec::new() };
    let rows = ids
        .iter()
        .map(|id| {
            let mut row = vec![Val::Int(*id), Val::Int(rng.random_range(0..1000)), Val::Text(format!("r{}", model.ops))];
            for _ in &added {
                row.push(if rng.random_bool(0.2) { Val::Null } else { Val::Int(rng.random_range(-50..50)) });
            }
            row
        })
        .collect();
    Stmt::Insert { table, who, added, rows }
}

/// ADD COLUMN of a name the table lacks (a constant DEFAULT or none), or DROP COLUMN of
/// one it has.
fn alter(rng: &mut StdRng, model: &Model, table: usize) -> Stmt {
    let t = &model.tables[table];
    let present: Vec<&str> = ADDED.iter().copied().filter(|n| t.columns.iter().any(|c| c.name == *n)).collect();
    let absent: Vec<&str> = ADDED.iter().copied().filter(|n| !present.contains(n)).collect();
    if !absent.is_empty() && (present.is_empty() || rng.random_bool(0.6)) {
        let name = absent.choose(rng).expect("not empty").to_string();
        let default = rng.random_bool(0.7).then(|| rng.random_range(0..100));
        Stmt::AddColumn { table, name, default }
    } else {
        Stmt::DropColumn { table, name: present.choose(rng).expect("not empty").to_string() }
    }
}
