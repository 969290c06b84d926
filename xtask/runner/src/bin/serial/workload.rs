//! The tables, users and statement shapes of a run.
//!
//! Six table names, two of each kind: SHARED `s0` and `s1` (PUBLIC; `s1` with a row-count
//! flush policy, so the job runner flushes it), USER `u0` and `u1` (likewise), STREAM `e0`
//! and `e1` (`e1` with MAX_ROWS, so inserts trim a user's oldest rows in their own
//! commit). Keyed tables are `(id BIGINT PRIMARY KEY, v BIGINT NOT NULL, w BIGINT NOT
//! NULL)`, STREAM tables `(v BIGINT, w BIGINT)`. Every DML statement writes its own
//! statement id into `w` (INSERT values, `UPDATE ... SET w = <id>`), so every row version
//! names the statement that wrote it. DML never names a column ALTER TABLE added, so
//! column changes commute with DML as far as the rows go.
//!
//! Predicates ([`Pred`]) use `id` and `v` only, in shapes the checker evaluates itself on
//! a row ([`Pred::matches`]), which is how it tells which DELETE made which tombstones.

use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;

use crate::history::{Kind, Scope};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableKind {
    Shared,
    User,
    Stream,
}

pub struct TableSpec {
    pub name: &'static str,
    pub kind: TableKind,
    pub with: &'static str,
    /// STREAM MAX_ROWS.
    pub max_rows: Option<usize>,
}

pub const TABLES: [TableSpec; 6] = [
    TableSpec { name: "s0", kind: TableKind::Shared, with: "WITH (ACCESS_LEVEL = 'PUBLIC')", max_rows: None },
    TableSpec { name: "s1", kind: TableKind::Shared, with: "WITH (ACCESS_LEVEL = 'PUBLIC', FLUSH_POLICY = 'rows:16')", max_rows: None },
    TableSpec { name: "u0", kind: TableKind::User, with: "WITH (TYPE = 'USER')", max_rows: None },
    TableSpec { name: "u1", kind: TableKind::User, with: "WITH (TYPE = 'USER', FLUSH_POLICY = 'rows:16')", max_rows: None },
    TableSpec { name: "e0", kind: TableKind::Stream, with: "WITH (TYPE = 'STREAM')", max_rows: None },
    TableSpec { name: "e1", kind: TableKind::Stream, with: "WITH (TYPE = 'STREAM', MAX_ROWS = 12)", max_rows: Some(12) },
];

/// The users that own rows of USER and STREAM tables (and write SHARED ones: `svc`), with
/// their roles. Root runs DDL, FLUSH and writes SHARED tables too.
pub const USERS: [(&str, &str); 3] = [("alice", "user"), ("bob", "user"), ("svc", "service")];
pub const WRITERS: [&str; 3] = ["alice", "bob", "svc"];

/// Keys of keyed tables are 0..KEYS: small, so statements collide.
pub const KEYS: i64 = 24;

pub fn create_sql(table: usize) -> String {
    let spec = &TABLES[table];
    let columns = match spec.kind {
        TableKind::Stream => "v BIGINT, w BIGINT",
        _ => "id BIGINT PRIMARY KEY, v BIGINT NOT NULL, w BIGINT NOT NULL",
    };
    format!("CREATE TABLE {} ({columns}) {}", spec.name, spec.with)
}

/// The row scopes of a table: the one of a SHARED table, or one per writer.
pub fn scopes(table: usize) -> Vec<Scope> {
    match TABLES[table].kind {
        TableKind::Shared => vec![Scope::Shared],
        _ => WRITERS.iter().map(|user| Scope::User(user)).collect(),
    }
}

/// A WHERE predicate over `id` and `v`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pred {
    Key(i64),
    Between(i64, i64),
    In(Vec<i64>),
    VLess(i64),
    VMod(i64, i64),
    KeyFromVLess(i64, i64),
}

impl Pred {
    pub fn random(rng: &mut StdRng) -> Pred {
        match rng.random_range(0..6) {
            0 => Pred::Key(rng.random_range(0..KEYS)),
            1 => {
                let low = rng.random_range(0..KEYS);
                Pred::Between(low, low + rng.random_range(0..6))
            }
            2 => Pred::In((0..3).map(|_| rng.random_range(0..KEYS)).collect()),
            3 => Pred::VLess(rng.random_range(0..40)),
            4 => {
                let m = rng.random_range(2..5);
                Pred::VMod(m, rng.random_range(0..m))
            }
            _ => Pred::KeyFromVLess(rng.random_range(0..KEYS), rng.random_range(10..80)),
        }
    }

    pub fn sql(&self) -> String {
        match self {
            Pred::Key(k) => format!("id = {k}"),
            Pred::Between(a, b) => format!("id BETWEEN {a} AND {b}"),
            Pred::In(keys) => format!("id IN ({})", keys.iter().map(|k| k.to_string()).collect::<Vec<_>>().join(", ")),
            Pred::VLess(c) => format!("v < {c}"),
            Pred::VMod(m, r) => format!("v % {m} = {r}"),
            Pred::KeyFromVLess(a, c) => format!("id >= {a} AND v < {c}"),
        }
    }

    /// Whether a live row `(id, v)` satisfies it (every `v` of the workload is >= 0).
    pub fn matches(&self, id: i64, v: i64) -> bool {
        match self {
            Pred::Key(k) => id == *k,
            Pred::Between(a, b) => *a <= id && id <= *b,
            Pred::In(keys) => keys.contains(&id),
            Pred::VLess(c) => v < *c,
            Pred::VMod(m, r) => v % m == *r,
            Pred::KeyFromVLess(a, c) => id >= *a && v < *c,
        }
    }
}

/// One generated statement, before it runs.
pub struct Planned {
    pub user: &'static str,
    pub scope: Scope,
    pub kind: Kind,
    pub sql: String,
}

fn value(rng: &mut StdRng) -> i64 {
    rng.random_range(0..100)
}

fn distinct_keys(rng: &mut StdRng, n: usize) -> Vec<i64> {
    let mut keys = Vec::new();
    while keys.len() < n {
        let key = rng.random_range(0..KEYS);
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    keys
}

/// A user who may write `table`, and the row scope they write.
pub fn writer(rng: &mut StdRng, table: usize) -> (&'static str, Scope) {
    match TABLES[table].kind {
        TableKind::Shared => (*["svc", "root"].choose(rng).expect("writers"), Scope::Shared),
        _ => {
            let user = *WRITERS.choose(rng).expect("writers");
            (user, Scope::User(user))
        }
    }
}

/// A DML statement on `table` with statement id `id`.
pub fn dml(rng: &mut StdRng, table: usize, id: u64) -> Planned {
    let (user, scope) = writer(rng, table);
    dml_as(rng, table, id, user, scope, true)
}

/// A DML statement on `table` as `user` (a writer of `scope`); a STREAM TRUNCATE only
/// when `stream_truncate` allows it.
fn dml_as(rng: &mut StdRng, table: usize, id: u64, user: &'static str, scope: Scope, stream_truncate: bool) -> Planned {
    let spec = &TABLES[table];
    let name = spec.name;
    if spec.kind == TableKind::Stream {
        if stream_truncate && rng.random_bool(0.12) {
            return Planned { user, scope, kind: Kind::StreamTruncate, sql: format!("TRUNCATE TABLE {name}") };
        }
        let rows = rng.random_range(1..=3);
        let values: Vec<String> = (0..rows).map(|_| format!("({}, {id})", value(rng))).collect();
        return Planned {
            user,
            scope,
            kind: Kind::StreamInsert { rows },
            sql: format!("INSERT INTO {name} (v, w) VALUES {}", values.join(", ")),
        };
    }
    let roll = rng.random_range(0..100);
    let (kind, sql) = if roll < 22 {
        let key = rng.random_range(0..KEYS);
        (Kind::Insert { keys: vec![key] }, format!("INSERT INTO {name} (id, v, w) VALUES ({key}, {}, {id})", value(rng)))
    } else if roll < 34 {
        let n = rng.random_range(2..=4);
        let keys = distinct_keys(rng, n);
        let rows: Vec<String> = keys.iter().map(|k| format!("({k}, {}, {id})", value(rng))).collect();
        (Kind::Insert { keys }, format!("INSERT INTO {name} (id, v, w) VALUES {}", rows.join(", ")))
    } else if roll < 40 {
        // The planned path: INSERT ... SELECT of literals (no table is read).
        let n = rng.random_range(1..=3);
        let keys = distinct_keys(rng, n);
        let rows: Vec<String> = keys.iter().map(|k| format!("SELECT {k} AS id, {} AS v, {id} AS w", value(rng))).collect();
        (Kind::Insert { keys }, format!("INSERT INTO {name} (id, v, w) {}", rows.join(" UNION ALL ")))
    } else if roll < 54 {
        // By whole key: the simple-statement path.
        let key = rng.random_range(0..KEYS);
        (Kind::Update { pred: Pred::Key(key) }, format!("UPDATE {name} SET v = v + {}, w = {id} WHERE id = {key}", rng.random_range(1..6)))
    } else if roll < 70 {
        let pred = Pred::random(rng);
        let set = if rng.random_bool(0.5) { format!("v + {}", rng.random_range(1..6)) } else { value(rng).to_string() };
        let sql = format!("UPDATE {name} SET v = {set}, w = {id} WHERE {}", pred.sql());
        (Kind::Update { pred }, sql)
    } else if roll < 80 {
        let key = rng.random_range(0..KEYS);
        (Kind::Delete { pred: Pred::Key(key) }, format!("DELETE FROM {name} WHERE id = {key}"))
    } else if roll < 95 {
        let pred = Pred::random(rng);
        let sql = format!("DELETE FROM {name} WHERE {}", pred.sql());
        (Kind::Delete { pred }, sql)
    } else {
        (Kind::Truncate, format!("TRUNCATE TABLE {name}"))
    };
    Planned { user, scope, kind, sql }
}

/// A read of `table`.
pub fn read(rng: &mut StdRng, table: usize) -> Planned {
    let (user, scope) = match TABLES[table].kind {
        TableKind::Shared => (*["alice", "bob", "svc", "root"].choose(rng).expect("readers"), Scope::Shared),
        _ => {
            let user = *WRITERS.choose(rng).expect("writers");
            (user, Scope::User(user))
        }
    };
    read_as(rng, table, user, scope)
}

fn read_as(rng: &mut StdRng, table: usize, user: &'static str, scope: Scope) -> Planned {
    let spec = &TABLES[table];
    let name = spec.name;
    let sql = if spec.kind == TableKind::Stream {
        match rng.random_range(0..3) {
            0 => format!("SELECT v, w FROM {name}"),
            1 => format!("SELECT count(*), sum(v), max(w) FROM {name}"),
            _ => format!("SELECT v, w FROM {name} ORDER BY w DESC, v DESC LIMIT 2"),
        }
    } else {
        match rng.random_range(0..5) {
            0 => format!("SELECT id, v, w FROM {name}"),
            1 => format!("SELECT id, v, w, _deleted FROM {name}"),
            2 => format!("SELECT v, w FROM {name} WHERE id = {}", rng.random_range(0..KEYS)),
            3 => format!("SELECT count(*), sum(v), max(w) FROM {name} WHERE {}", Pred::random(rng).sql()),
            _ => format!("SELECT id, v FROM {name} WHERE {} ORDER BY id DESC LIMIT 3", Pred::random(rng).sql()),
        }
    };
    Planned { user, scope, kind: Kind::Read, sql }
}

/// A transaction block's statements: 2-4 of them on `table` as one writer of one scope,
/// DML (no STREAM TRUNCATE, whose place the checker takes from its scope's gate) and
/// reads, each DML with its own statement id from `ids`.
pub fn block(rng: &mut StdRng, table: usize, mut ids: impl FnMut() -> u64) -> (&'static str, Scope, Vec<(u64, Planned)>) {
    let (user, scope) = writer(rng, table);
    let length = rng.random_range(2..=4);
    let steps = (0..length)
        .map(|_| {
            let id = ids();
            let planned = if rng.random_bool(0.3) { read_as(rng, table, user, scope) } else { dml_as(rng, table, id, user, scope, false) };
            (id, planned)
        })
        .collect();
    (user, scope, steps)
}
