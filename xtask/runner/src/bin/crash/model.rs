//! The model: what every table must hold after a given sequence of acknowledged
//! statements, exactly (each row's values, `_updated`, `_deleted`, and which statement
//! wrote it last, which orders the rows' `_seq`).
//!
//! Three tables: `s` (SHARED, written by root), `ut` (USER, one scope per user) and `ev`
//! (STREAM, one scope per user, rows visible until their arrival is [`TTL_MILLIS`] old).
//! `s` and `ut` purge tombstones [`RETENTION_MILLIS`] old in the background, so a tombstone
//! that old may be missing; everything else is exact. Every column is `id BIGINT`, `v
//! BIGINT`, `note TEXT`, then the columns ALTER TABLE added (`BIGINT`, an optional
//! constant DEFAULT, which rows that existed before it read too).
//!
//! [`Model::apply`] also predicts each statement's result (its count, or 23505 for an
//! INSERT of a live key), which the parent compares with what the child reported.

use std::collections::BTreeMap;

/// The users who own rows of the USER and STREAM tables (role user).
pub const USERS: [&str; 2] = ["alice", "bob"];
/// `DELETED_RETENTION_HOURS = 1` of `s` and `ut`.
pub const RETENTION_MILLIS: i64 = 3_600_000;
/// `TTL_SECONDS = 600` of `ev`.
pub const TTL_MILLIS: i64 = 600_000;
/// The modulus that keeps `v = (v * 3 + 1) % M` small.
pub const V_MODULUS: i64 = 1_000_003;

/// The statements that create the world (run once, as root, before the first child).
pub fn setup_sql() -> Vec<String> {
    let mut sql: Vec<String> = USERS.iter().map(|u| format!("CREATE USER '{u}' ROLE user")).collect();
    sql.push(
        "CREATE SHARED TABLE s (id BIGINT PRIMARY KEY, v BIGINT, note TEXT) \
         WITH (DELETED_RETENTION_HOURS = 1, FLUSH_POLICY = 'rows:30')"
            .into(),
    );
    sql.push(
        "CREATE USER TABLE ut (id BIGINT PRIMARY KEY, v BIGINT, note TEXT) \
         WITH (DELETED_RETENTION_HOURS = 1, FLUSH_POLICY = 'interval:300')"
            .into(),
    );
    sql.push(format!("CREATE STREAM TABLE ev (id BIGINT, v BIGINT, note TEXT) WITH (TTL_SECONDS = {})", TTL_MILLIS / 1000));
    sql
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Shared,
    User,
    Stream,
}

/// A value as the check reads it (timestamps as milliseconds).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Val {
    Null,
    Int(i64),
    Text(String),
}

impl std::fmt::Display for Val {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Val::Null => f.write_str("NULL"),
            Val::Int(i) => write!(f, "{i}"),
            Val::Text(t) => write!(f, "'{t}'"),
        }
    }
}

impl Val {
    fn sql(&self) -> String {
        match self {
            Val::Null => "NULL".into(),
            Val::Int(i) => i.to_string(),
            Val::Text(t) => format!("'{}'", t.replace('\'', "''")),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    /// The constant DEFAULT of an added column (the base columns are always given).
    pub default: Option<i64>,
}

/// One row of one scope: a live row, a tombstone, or a STREAM event.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Every user column by name.
    pub values: BTreeMap<String, Val>,
    /// `_updated` (SHARED, USER) or the arrival time (STREAM), engine clock ms.
    pub updated: i64,
    pub deleted: bool,
    /// The global index of the statement that wrote this version: rows' `_seq` follow it.
    pub op: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub name: &'static str,
    pub kind: Kind,
    pub columns: Vec<Column>,
    /// Scope ("" for SHARED, else the owner's name) to rows by `id`.
    pub scopes: BTreeMap<String, BTreeMap<i64, Row>>,
}

impl Table {
    pub fn scope(&self, owner: &str) -> Option<&BTreeMap<i64, Row>> {
        self.scopes.get(owner)
    }

    pub fn added_columns(&self) -> Vec<&Column> {
        self.columns.iter().skip(3).collect()
    }

    pub fn is_live(&self, owner: &str, id: i64) -> bool {
        self.scope(owner).and_then(|rows| rows.get(&id)).is_some_and(|row| !row.deleted)
    }

    /// The owners whose rows this table's reads must cover.
    pub fn owners(&self) -> Vec<String> {
        match self.kind {
            Kind::Shared => vec![String::new()],
            _ => USERS.iter().map(|u| u.to_string()).collect(),
        }
    }
}

/// Who runs a statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    Root,
    /// A session of `USERS[i]`.
    User(usize),
    /// Root's session, `EXECUTE AS USER USERS[i] (...)`.
    As(usize),
}

impl Who {
    /// The scope a statement of this principal writes in a table of `kind`.
    pub fn owner(self, kind: Kind) -> String {
        match (kind, self) {
            (Kind::Shared, _) | (_, Who::Root) => String::new(),
            (_, Who::User(i) | Who::As(i)) => USERS[i].to_string(),
        }
    }

    /// The session name the child runs it in: `root` or the user's.
    pub fn session(self) -> &'static str {
        match self {
            Who::User(i) => USERS[i],
            Who::Root | Who::As(_) => "root",
        }
    }
}

/// The rows an UPDATE or DELETE reaches (live rows only).
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Key(i64),
    Range(i64, i64),
    In(Vec<i64>),
    /// `v % m = r`.
    VMod(i64, i64),
    All,
}

impl Filter {
    fn sql(&self) -> String {
        match self {
            Filter::Key(k) => format!(" WHERE id = {k}"),
            Filter::Range(a, b) => format!(" WHERE id BETWEEN {a} AND {b}"),
            Filter::In(keys) => format!(" WHERE id IN ({})", keys.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")),
            Filter::VMod(m, r) => format!(" WHERE v % {m} = {r}"),
            Filter::All => String::new(),
        }
    }

    fn matches(&self, id: i64, row: &Row) -> bool {
        match self {
            Filter::Key(k) => id == *k,
            Filter::Range(a, b) => *a <= id && id <= *b,
            Filter::In(keys) => keys.contains(&id),
            Filter::VMod(m, r) => matches!(row.values.get("v"), Some(Val::Int(v)) if v % m == *r),
            Filter::All => true,
        }
    }
}

/// What an UPDATE sets. Each is visible when applied twice.
#[derive(Debug, Clone, PartialEq)]
pub enum Set {
    /// `v = (v * 3 + 1) % M`.
    V,
    /// `note = note || '*'`.
    Note,
    /// `c = COALESCE(c, 0) + v + 1` for an added column.
    Added(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Stmt {
    /// `INSERT INTO t (id, v, note[, added...]) VALUES ...`; each row's values in that order.
    Insert {
        table: usize,
        who: Who,
        added: Vec<String>,
        rows: Vec<Vec<Val>>,
    },
    Update {
        table: usize,
        who: Who,
        set: Set,
        filter: Filter,
    },
    Delete {
        table: usize,
        who: Who,
        filter: Filter,
    },
    Truncate {
        table: usize,
        who: Who,
    },
    /// `FLUSH TABLE t`, or `FLUSH ALL TABLES` for `None`.
    Flush {
        table: Option<usize>,
    },
    AddColumn {
        table: usize,
        name: String,
        default: Option<i64>,
    },
    DropColumn {
        table: usize,
        name: String,
    },
    /// `BEGIN; ...; COMMIT` in root's session: every statement or none (a refused one
    /// fails the block, which the child then rolls back).
    Block {
        stmts: Vec<Stmt>,
    },
}

/// A statement and the engine-clock instant the child runs it at.
#[derive(Debug, Clone, PartialEq)]
pub struct Op {
    pub time: i64,
    pub stmt: Stmt,
}

impl Op {
    pub fn who(&self) -> Who {
        match &self.stmt {
            Stmt::Insert { who, .. } | Stmt::Update { who, .. } | Stmt::Delete { who, .. } | Stmt::Truncate { who, .. } => *who,
            _ => Who::Root,
        }
    }

    pub fn is_flush(&self) -> bool {
        matches!(self.stmt, Stmt::Flush { .. })
    }

    pub fn is_block(&self) -> bool {
        matches!(self.stmt, Stmt::Block { .. })
    }

    /// The SQL text, as run in the session of [`Op::who`].
    pub fn sql(&self, model: &Model) -> String {
        if let Stmt::Block { stmts } = &self.stmt {
            let inner: Vec<String> = stmts.iter().map(|stmt| Op { time: self.time, stmt: stmt.clone() }.sql(model)).collect();
            return format!("BEGIN; {}; COMMIT", inner.join("; "));
        }
        let name = |t: usize| model.tables[t].name;
        let inner = match &self.stmt {
            Stmt::Insert { table, added, rows, .. } => {
                let mut columns = vec!["id", "v", "note"];
                columns.extend(added.iter().map(String::as_str));
                let rows: Vec<String> =
                    rows.iter().map(|r| format!("({})", r.iter().map(Val::sql).collect::<Vec<_>>().join(", "))).collect();
                format!("INSERT INTO {} ({}) VALUES {}", name(*table), columns.join(", "), rows.join(", "))
            }
            Stmt::Update { table, set, filter, .. } => {
                let set = match set {
                    Set::V => format!("v = (v * 3 + 1) % {V_MODULUS}"),
                    Set::Note => "note = note || '*'".into(),
                    Set::Added(c) => format!("{c} = COALESCE({c}, 0) + v + 1"),
                };
                format!("UPDATE {} SET {set}{}", name(*table), filter.sql())
            }
            Stmt::Delete { table, filter, .. } => format!("DELETE FROM {}{}", name(*table), filter.sql()),
            Stmt::Truncate { table, .. } => format!("TRUNCATE TABLE {}", name(*table)),
            Stmt::Flush { table: Some(t) } => format!("FLUSH TABLE {}", name(*t)),
            Stmt::Flush { table: None } => "FLUSH ALL TABLES".into(),
            Stmt::AddColumn { table, name: column, default } => match default {
                Some(d) => format!("ALTER TABLE {} ADD COLUMN {column} BIGINT DEFAULT {d}", name(*table)),
                None => format!("ALTER TABLE {} ADD COLUMN {column} BIGINT", name(*table)),
            },
            Stmt::DropColumn { table, name: column } => format!("ALTER TABLE {} DROP COLUMN {column}", name(*table)),
            Stmt::Block { .. } => unreachable!("returned above"),
        };
        match self.who() {
            Who::As(i) => format!("EXECUTE AS USER '{}' ({inner})", USERS[i]),
            _ => inner,
        }
    }
}

/// What a statement returns: a count (DML), nothing checked (FLUSH, DDL), or an error's
/// SQLSTATE.
pub type Outcome = Result<Option<u64>, String>;

/// Every table's rows; [`Model::ops`] counts the statements applied (the next one's index).
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub tables: Vec<Table>,
    pub ops: u64,
}

impl Model {
    pub fn initial() -> Model {
        let base = || ["id", "v", "note"].iter().map(|n| Column { name: n.to_string(), default: None }).collect::<Vec<_>>();
        let table = |name, kind| Table { name, kind, columns: base(), scopes: BTreeMap::new() };
        Model { tables: vec![table("s", Kind::Shared), table("ut", Kind::User), table("ev", Kind::Stream)], ops: 0 }
    }

    /// Applies a statement that committed (or is assumed to), returning what it returns.
    pub fn apply(&mut self, op: &Op) -> Outcome {
        let index = self.ops;
        self.ops += 1;
        let time = op.time;
        match &op.stmt {
            Stmt::Insert { table, who, added, rows } => {
                let table = &mut self.tables[*table];
                let owner = who.owner(table.kind);
                if table.kind != Kind::Stream && rows.iter().any(|r| matches!(r[0], Val::Int(id) if table.is_live(&owner, id))) {
                    return Err("23505".into());
                }
                let columns = table.columns.clone();
                let scope = table.scopes.entry(owner).or_default();
                for given in rows {
                    let Val::Int(id) = given[0] else { unreachable!("ids are integers") };
                    let mut values = BTreeMap::new();
                    for column in &columns {
                        let value = match ["id", "v", "note"].iter().position(|b| *b == column.name) {
                            Some(i) => given[i].clone(),
                            None => match added.iter().position(|a| *a == column.name) {
                                Some(i) => given[3 + i].clone(),
                                None => column.default.map_or(Val::Null, Val::Int),
                            },
                        };
                        values.insert(column.name.clone(), value);
                    }
                    scope.insert(id, Row { values, updated: time, deleted: false, op: index });
                }
                Ok(Some(rows.len() as u64))
            }
            Stmt::Update { table, who, set, filter } => {
                let table = &mut self.tables[*table];
                let owner = who.owner(table.kind);
                let mut count = 0;
                for (id, row) in table.scopes.entry(owner).or_default().iter_mut() {
                    if row.deleted || !filter.matches(*id, row) {
                        continue;
                    }
                    count += 1;
                    let v = match row.values.get("v") {
                        Some(Val::Int(v)) => Some(*v),
                        _ => None,
                    };
                    match set {
                        Set::V => {
                            row.values.insert("v".into(), v.map_or(Val::Null, |v| Val::Int((v * 3 + 1) % V_MODULUS)));
                        }
                        Set::Note => {
                            let note = match row.values.get("note") {
                                Some(Val::Text(t)) => Val::Text(format!("{t}*")),
                                _ => Val::Null,
                            };
                            row.values.insert("note".into(), note);
                        }
                        Set::Added(c) => {
                            let old = match row.values.get(c) {
                                Some(Val::Int(i)) => *i,
                                _ => 0,
                            };
                            row.values.insert(c.clone(), v.map_or(Val::Null, |v| Val::Int(old + v + 1)));
                        }
                    }
                    row.updated = time;
                    row.op = index;
                }
                Ok(Some(count))
            }
            Stmt::Delete { table, who, filter } => {
                let table = &mut self.tables[*table];
                let owner = who.owner(table.kind);
                let mut count = 0;
                for (id, row) in table.scopes.entry(owner).or_default().iter_mut() {
                    if !row.deleted && filter.matches(*id, row) {
                        count += 1;
                        row.deleted = true;
                        row.updated = time;
                        row.op = index;
                    }
                }
                Ok(Some(count))
            }
            Stmt::Truncate { table, who } => {
                let table = &mut self.tables[*table];
                let owner = who.owner(table.kind);
                let scope = table.scopes.entry(owner).or_default();
                if table.kind == Kind::Stream {
                    // Rows go for good; the count is the rows still visible.
                    let visible = scope.values().filter(|row| stream_visible(row, time)).count();
                    scope.clear();
                    return Ok(Some(visible as u64));
                }
                let mut count = 0;
                for row in scope.values_mut().filter(|row| !row.deleted) {
                    count += 1;
                    row.deleted = true;
                    row.updated = time;
                    row.op = index;
                }
                Ok(Some(count))
            }
            Stmt::Flush { .. } => Ok(None),
            Stmt::Block { stmts } => {
                // Each statement on a copy, its rows marked as this block's; the copy
                // replaces the model only if none is refused.
                let mut inner = self.clone();
                for stmt in stmts {
                    inner.ops = index;
                    inner.apply(&Op { time, stmt: stmt.clone() })?;
                }
                inner.ops = index + 1;
                // A row the block deleted holds the values it had before the block, as a
                // DELETE outside a block leaves it (the block's in-between version was
                // never visible).
                for (table, before) in inner.tables.iter_mut().zip(&self.tables) {
                    for (owner, scope) in table.scopes.iter_mut() {
                        for (id, row) in scope.iter_mut().filter(|(_, row)| row.deleted && row.op == index) {
                            if let Some(old) = before.scopes.get(owner).and_then(|rows| rows.get(id)).filter(|old| !old.deleted) {
                                row.values = old.values.clone();
                            }
                        }
                    }
                }
                *self = inner;
                Ok(None)
            }
            Stmt::AddColumn { table, name, default } => {
                let table = &mut self.tables[*table];
                table.columns.push(Column { name: name.clone(), default: *default });
                for scope in table.scopes.values_mut() {
                    for row in scope.values_mut() {
                        row.values.insert(name.clone(), default.map_or(Val::Null, Val::Int));
                    }
                }
                Ok(None)
            }
            Stmt::DropColumn { table, name } => {
                let table = &mut self.tables[*table];
                table.columns.retain(|c| c.name != *name);
                for scope in table.scopes.values_mut() {
                    for row in scope.values_mut() {
                        row.values.remove(name);
                    }
                }
                Ok(None)
            }
        }
    }

    /// Forgets STREAM rows invisible at `now` (the clock never goes back, so they stay so).
    pub fn forget_expired(&mut self, now: i64) {
        for table in self.tables.iter_mut().filter(|t| t.kind == Kind::Stream) {
            for scope in table.scopes.values_mut() {
                scope.retain(|_, row| stream_visible(row, now));
            }
        }
    }
}

/// A STREAM row is visible until its arrival is TTL old.
pub fn stream_visible(row: &Row, now: i64) -> bool {
    now - row.updated < TTL_MILLIS
}

/// A tombstone the retention purge may have removed by the time the clock reached `now`.
pub fn purgeable(row: &Row, now: i64) -> bool {
    row.deleted && row.updated < now - RETENTION_MILLIS
}
