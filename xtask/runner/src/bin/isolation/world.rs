//! The world the checker runs in: users of every role, USER tables and a STREAM table
//! (`events`) whose every value
//! carries its owner, SHARED tables of every access level whose values carry their level,
//! views over both, and the ground truth of every user's rows ([`Model`]), from which the
//! oracle (a plain DataFusion context holding only what one user may see) is built.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
pub use engine::catalog::Role;
use engine::exports::datafusion::prelude::SessionContext;

/// A user of the world and its role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Principal {
    pub name: &'static str,
    pub role: Role,
}

/// Who may act as whom (README.md#users-roles-and-permissions), stated here again rather than taken from the
/// engine, so the checker does not share the engine's mistakes.
pub fn may_act_as(actor: Role, target: Role) -> bool {
    match actor {
        Role::User => false,
        Role::Service => target <= Role::Service,
        Role::Dba => target <= Role::Dba,
        Role::System => true,
    }
}

/// Everyone who owns rows; root is created by the engine itself.
pub const PRINCIPALS: [Principal; 6] = [
    Principal { name: "alice", role: Role::User },
    Principal { name: "bob", role: Role::User },
    Principal { name: "carol", role: Role::User },
    Principal { name: "svc", role: Role::Service },
    Principal { name: "ops", role: Role::Dba },
    Principal { name: "root", role: Role::System },
];

/// The marker every text value of `user`'s rows starts with.
pub fn marker(user: &str) -> String {
    format!("mk_{user}_")
}

/// Markers of the SHARED tables' values.
pub const PRIVATE_MARKER: &str = "mk_private_";
pub const RESTRICTED_MARKER: &str = "mk_restricted_";

/// Keys every user starts with in `notes` (the same keys for everyone).
pub const NOTE_IDS: std::ops::RangeInclusive<i32> = 1..=8;
pub const ITEM_IDS: std::ops::RangeInclusive<i32> = 1..=6;
pub const SHARED_IDS: std::ops::RangeInclusive<i32> = 1..=10;

/// The schema, as both the engine (with kinds and access levels) and the oracle (plain
/// DataFusion) create it.
pub struct TableSpec {
    pub name: &'static str,
    pub columns: &'static str,
    pub engine_suffix: &'static str,
    /// The weakest role that reads it (USER tables: everyone, each its own rows).
    pub readers: Role,
    pub per_user: bool,
}

pub const TABLES: [TableSpec; 6] = [
    TableSpec {
        name: "notes",
        columns: "id INT PRIMARY KEY, owner TEXT NOT NULL, val INT, tag TEXT",
        engine_suffix: "WITH (TYPE = 'USER')",
        readers: Role::User,
        per_user: true,
    },
    TableSpec {
        name: "items",
        columns: "id INT PRIMARY KEY, owner TEXT NOT NULL, qty INT",
        engine_suffix: "WITH (TYPE = 'USER')",
        readers: Role::User,
        per_user: true,
    },
    TableSpec {
        name: "events",
        columns: "owner TEXT NOT NULL, n INT",
        engine_suffix: "WITH (TYPE = 'STREAM')",
        readers: Role::User,
        per_user: true,
    },
    TableSpec {
        name: "catalog",
        columns: "id INT PRIMARY KEY, name TEXT, price INT",
        engine_suffix: "WITH (ACCESS_LEVEL = 'PUBLIC')",
        readers: Role::User,
        per_user: false,
    },
    TableSpec {
        name: "internal",
        columns: "id INT PRIMARY KEY, secret TEXT, level INT",
        engine_suffix: "WITH (ACCESS_LEVEL = 'PRIVATE')",
        readers: Role::Service,
        per_user: false,
    },
    TableSpec {
        name: "vault",
        columns: "id INT PRIMARY KEY, secret TEXT, level INT",
        engine_suffix: "WITH (ACCESS_LEVEL = 'RESTRICTED')",
        readers: Role::Dba,
        per_user: false,
    },
];

/// SHARED tables only written (and counted by root after each write): name, the weakest
/// role that reads it, the weakest role that writes it.
pub const SCRATCH: [(&str, &str, Role, Role); 3] = [
    ("scratch_public", "PUBLIC", Role::User, Role::Service),
    ("scratch_private", "PRIVATE", Role::Service, Role::Service),
    ("scratch_restricted", "RESTRICTED", Role::Dba, Role::Dba),
];

/// The tables and views of `default` that `role` sees in listings, sorted.
pub fn visible_names(role: Role) -> Vec<String> {
    let mut names: Vec<String> = TABLES
        .iter()
        .filter(|t| role >= t.readers)
        .map(|t| t.name.to_string())
        .chain(SCRATCH.iter().filter(|s| role >= s.2).map(|s| s.0.to_string()))
        .chain(VIEWS.iter().filter(|v| role >= v.2).map(|v| v.0.to_string()))
        .collect();
    names.sort();
    names
}

/// Views: name, query, and the weakest role that may read every table it reads.
pub const VIEWS: [(&str, &str, Role); 3] = [
    ("v_notes", "SELECT id, tag, val FROM notes", Role::User),
    ("v_mix", "SELECT n.id, n.tag, c.name, c.price FROM notes n JOIN catalog c ON n.id = c.id", Role::User),
    ("v_private", "SELECT i.id, i.secret, n.val FROM internal i JOIN notes n ON i.id = n.id", Role::Service),
];

/// The rows of one user, as they should be.
#[derive(Debug, Clone, Default)]
pub struct UserRows {
    /// id -> (val, tag)
    pub notes: BTreeMap<i32, (i32, String)>,
    /// id -> qty
    pub items: BTreeMap<i32, i32>,
    pub events: Vec<i32>,
}

/// The ground truth: every user's rows, and how many rows each scratch table holds. The
/// SHARED tables that queries read never change.
#[derive(Debug, Clone, Default)]
pub struct Model {
    pub users: BTreeMap<&'static str, UserRows>,
    pub scratch: BTreeMap<&'static str, u64>,
}

impl Model {
    pub fn initial() -> Model {
        let mut model = Model::default();
        for (index, principal) in PRINCIPALS.iter().enumerate() {
            let rows = UserRows {
                notes: NOTE_IDS.map(|id| (id, (id * 10 + index as i32, format!("{}{id}", marker(principal.name))))).collect(),
                items: ITEM_IDS.map(|id| (id, id + index as i32)).collect(),
                events: vec![1, 2, 3, index as i32],
            };
            model.users.insert(principal.name, rows);
        }
        model
    }
}

fn shared_rows(table: &str) -> Vec<String> {
    SHARED_IDS
        .map(|id| match table {
            "catalog" => format!("({id}, 'item {id}', {})", id * 3),
            "internal" => format!("({id}, '{PRIVATE_MARKER}{id}', {})", id % 3),
            _ => format!("({id}, '{RESTRICTED_MARKER}{id}', {})", id % 4),
        })
        .collect()
}

fn user_rows(table: &str, user: &str, rows: &UserRows) -> Vec<String> {
    match table {
        "notes" => rows.notes.iter().map(|(id, (val, tag))| format!("({id}, '{user}', {val}, '{tag}')")).collect(),
        "items" => rows.items.iter().map(|(id, qty)| format!("({id}, '{user}', {qty})")).collect(),
        _ => rows.events.iter().map(|n| format!("('{user}', {n})")).collect(),
    }
}

/// The statements root runs to build the world in the engine, and the rows each user
/// inserts for itself (as `EXECUTE AS USER`).
pub fn engine_setup(model: &Model) -> Vec<String> {
    let mut statements = Vec::new();
    for principal in PRINCIPALS.iter().filter(|p| p.name != "root") {
        statements.push(format!("CREATE USER {} WITH PASSWORD 'pw' ROLE {}", principal.name, principal.role.as_str()));
    }
    for table in &TABLES {
        statements.push(format!("CREATE TABLE {} ({}) {}", table.name, table.columns, table.engine_suffix));
        if !table.per_user {
            statements.push(format!("INSERT INTO {} VALUES {}", table.name, shared_rows(table.name).join(", ")));
        }
    }
    for (name, query, _) in VIEWS {
        statements.push(format!("CREATE VIEW {name} AS {query}"));
    }
    for (name, level, _, _) in SCRATCH {
        statements.push(format!("CREATE TABLE {name} (id INT PRIMARY KEY, v INT) WITH (ACCESS_LEVEL = '{level}')"));
    }
    for (user, rows) in &model.users {
        for table in TABLES.iter().filter(|t| t.per_user) {
            let values = user_rows(table.name, user, rows);
            if !values.is_empty() {
                statements.push(format!("EXECUTE AS USER {user} (INSERT INTO {} VALUES {})", table.name, values.join(", ")));
            }
        }
    }
    statements
}

/// A plain DataFusion context holding exactly what `principal` may see: its own rows of
/// the USER tables, the SHARED tables its role reads, and the views over those.
pub async fn oracle(model: &Model, principal: Principal) -> Result<SessionContext> {
    let ctx = SessionContext::new();
    let rows = model.users.get(principal.name).cloned().unwrap_or_default();
    for table in TABLES.iter().filter(|t| principal.role >= t.readers) {
        let columns = table.columns.replace(" PRIMARY KEY", "").replace(" NOT NULL", "");
        run(&ctx, &format!("CREATE TABLE {} ({columns})", table.name)).await?;
        let values = if table.per_user { user_rows(table.name, principal.name, &rows) } else { shared_rows(table.name) };
        if !values.is_empty() {
            run(&ctx, &format!("INSERT INTO {} VALUES {}", table.name, values.join(", "))).await?;
        }
    }
    for (name, query, readers) in VIEWS {
        if principal.role >= readers {
            run(&ctx, &format!("CREATE VIEW {name} AS {query}")).await?;
        }
    }
    Ok(ctx)
}

async fn run(ctx: &SessionContext, sql: &str) -> Result<()> {
    ctx.sql(sql).await.with_context(|| sql.to_string())?.collect().await.with_context(|| sql.to_string())?;
    Ok(())
}
