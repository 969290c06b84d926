//! The permission matrix: the README's permission table is the single source; this module
//! reads it and generates `slt/permissions/matrix.slt`, which runs every role against
//! every table kind and access level with every statement kind. `cargo xtask permissions`
//! writes the file; `cargo xtask test` fails when the file is not what the table generates.
//!
//! A cell names the weakest role that may run the statement (`user+`, `service+`, `dba+`,
//! `system`), `none`, `n/a` (the statement does not apply: dba and system get a
//! non-permission error, weaker roles 42501), or `append-only` (every role gets 0A000:
//! STREAM tables refuse UPDATE and DELETE). `(own rows)` marks USER and STREAM tables,
//! where the statement succeeds and sees or changes only the effective user's rows; the
//! scenario checks that with rows of the same id owned by every user.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

const START: &str = "<!-- permission-matrix:start -->";
const END: &str = "<!-- permission-matrix:end -->";

const ROLES: [&str; 4] = ["user", "service", "dba", "system"];

/// The table kinds and access levels, as the README's columns name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    SharedPublic,
    SharedPrivate,
    SharedRestricted,
    User,
    Stream,
}

impl Target {
    const ALL: [Target; 5] = [Target::SharedPublic, Target::SharedPrivate, Target::SharedRestricted, Target::User, Target::Stream];

    /// Whether every user has rows of its own (USER and STREAM tables).
    fn per_user(self) -> bool {
        matches!(self, Target::User | Target::Stream)
    }

    fn header(self) -> &'static str {
        match self {
            Target::SharedPublic => "SHARED PUBLIC",
            Target::SharedPrivate => "SHARED PRIVATE",
            Target::SharedRestricted => "SHARED RESTRICTED",
            Target::User => "USER",
            Target::Stream => "STREAM",
        }
    }

    /// The table every role works on.
    fn table(self) -> &'static str {
        match self {
            Target::SharedPublic => "shared_public",
            Target::SharedPrivate => "shared_private",
            Target::SharedRestricted => "shared_restricted",
            Target::User => "user_rows",
            Target::Stream => "stream_rows",
        }
    }

    fn create_clause(self) -> &'static str {
        match self {
            Target::SharedPublic => "WITH (ACCESS_LEVEL = 'PUBLIC')",
            Target::SharedPrivate => "WITH (ACCESS_LEVEL = 'PRIVATE')",
            Target::SharedRestricted => "WITH (ACCESS_LEVEL = 'RESTRICTED')",
            Target::User => "WITH (TYPE = 'USER')",
            Target::Stream => "WITH (TYPE = 'STREAM')",
        }
    }

    fn access_level(self) -> &'static str {
        match self {
            Target::SharedPublic => "PUBLIC",
            Target::SharedPrivate => "PRIVATE",
            Target::SharedRestricted | Target::User | Target::Stream => "RESTRICTED",
        }
    }
}

/// What the README says one role gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Allowed {
        own_rows: bool,
    },
    Denied,
    NotApplicable,
    /// Every role gets 0A000 (UPDATE and DELETE of STREAM tables).
    AppendOnly,
}

/// One row of the README table: a statement kind and a cell per target.
#[derive(Debug, Clone)]
struct Row {
    statement: String,
    cells: Vec<String>,
}

fn readme(root: &Path) -> PathBuf {
    root.join("README.md")
}

pub fn matrix_path(root: &Path) -> PathBuf {
    root.join("slt/permissions/matrix.slt")
}

fn read_table(root: &Path) -> Result<Vec<Row>> {
    let text = std::fs::read_to_string(readme(root)).context("reading README.md")?;
    let start = text.find(START).context("README.md has no permission-matrix:start marker")?;
    let end = text.find(END).context("README.md has no permission-matrix:end marker")?;
    let mut rows = Vec::new();
    for line in text[start + START.len()..end].lines().map(str::trim).filter(|l| l.starts_with('|')) {
        let cells: Vec<String> = line.trim_matches('|').split('|').map(|c| c.trim().to_string()).collect();
        if cells.iter().all(|c| c.chars().all(|ch| ch == '-' || ch == ':')) {
            continue;
        }
        if cells.first().map(String::as_str) == Some("statement") {
            let headers: Vec<&str> = Target::ALL.iter().map(|t| t.header()).collect();
            if cells[1..] != headers {
                bail!("the permission table's columns must be: statement | {}", headers.join(" | "));
            }
            continue;
        }
        if cells.len() != 1 + Target::ALL.len() {
            bail!("permission table row has {} cells: {line}", cells.len());
        }
        rows.push(Row { statement: cells[0].clone(), cells: cells[1..].to_vec() });
    }
    if rows.is_empty() {
        bail!("the permission table is empty");
    }
    Ok(rows)
}

fn outcome(cell: &str, role: &str) -> Result<Outcome> {
    let (rule, own_rows) = match cell.strip_suffix("(own rows)") {
        Some(rule) => (rule.trim(), true),
        None => (cell, false),
    };
    let rank = |name: &str| ROLES.iter().position(|r| *r == name);
    let role_rank = rank(role).expect("a known role");
    Ok(match rule {
        "none" => Outcome::Denied,
        "append-only" => Outcome::AppendOnly,
        "n/a" if role_rank >= 2 => Outcome::NotApplicable,
        "n/a" => Outcome::Denied,
        _ => {
            let weakest = rule.strip_suffix('+').unwrap_or(rule);
            let needed = rank(weakest).with_context(|| format!("unknown permission cell '{cell}'"))?;
            if role_rank >= needed { Outcome::Allowed { own_rows } } else { Outcome::Denied }
        }
    })
}

/// The user each role's connection logs in as.
fn user_of(role: &str) -> String {
    format!("u_{role}")
}

struct Writer {
    out: String,
}

impl Writer {
    fn record(&mut self, connection: &str, expectation: &str, sql: &str) {
        if connection != "default" {
            let _ = writeln!(self.out, "connection {connection}");
        }
        let _ = writeln!(self.out, "{expectation}\n{sql}\n");
    }

    fn query(&mut self, connection: &str, types: &str, sql: &str, rows: &[String]) {
        let _ = writeln!(self.out, "connection {connection}\nquery {types}\n{sql}\n----");
        for row in rows {
            let _ = writeln!(self.out, "{row}");
        }
        self.out.push('\n');
    }
}

/// The scenario the table describes.
fn generate(rows: &[Row]) -> Result<String> {
    let mut w = Writer { out: String::new() };
    w.out.push_str(
        "# permissions/matrix: GENERATED by `cargo xtask permissions` from the permission table in\n\
         # README.md; do not edit. Every role x every table kind and access level x every\n\
         # statement kind; `(own rows)` cells check that only the effective user's rows are\n\
         # seen or changed, with every user holding rows of the same keys.\n\n",
    );
    for role in ROLES {
        w.record("default", "statement ok", &format!("CREATE USER {} WITH PASSWORD 'pw' ROLE {role}", user_of(role)));
    }
    for target in Target::ALL {
        let extra = if target.per_user() { ", owner TEXT DEFAULT CURRENT_USER()" } else { "" };
        // STREAM rows are keyed by arrival: no primary key.
        let key = if target == Target::Stream { "" } else { " PRIMARY KEY" };
        w.record(
            "default",
            "statement ok",
            &format!("CREATE TABLE {} (id INT{key}, note TEXT{extra}) {}", target.table(), target.create_clause()),
        );
        if !target.per_user() {
            w.record("default", "statement ok", &format!("INSERT INTO {} VALUES (1, 'root'), (2, 'root')", target.table()));
        }
        for role in ROLES {
            w.record(
                "default",
                "statement ok",
                &format!("CREATE TABLE drop_{}_{role} (id INT) {}", target.table(), target.create_clause()),
            );
        }
    }
    for role in ROLES {
        let _ = writeln!(w.out, "connect {role} user {} password pw\n", user_of(role));
        // Every user (root too) owns rows 1 and 2 of the USER and STREAM tables.
        for table in ["user_rows", "stream_rows"] {
            w.record(
                "default",
                "statement ok",
                &format!("EXECUTE AS USER {} (INSERT INTO {table} (id, note) VALUES (1, 'x'), (2, 'x'))", user_of(role)),
            );
        }
    }
    for table in ["user_rows", "stream_rows"] {
        w.record("default", "statement ok", &format!("INSERT INTO {table} (id, note) VALUES (1, 'root'), (2, 'root')"));
    }
    for row in rows {
        for (target, cell) in Target::ALL.iter().zip(&row.cells) {
            for role in ROLES {
                let expected = outcome(cell, role)?;
                let _ = writeln!(w.out, "# {role} / {} / {}: {cell}", row.statement, target.header());
                statement_records(&mut w, &row.statement, *target, role, expected)?;
            }
        }
    }
    // Nobody's statements reached root's rows.
    w.query("default", "T", "SELECT note FROM user_rows WHERE id = 1", &["root".into()]);
    w.query("default", "T", "SELECT note FROM stream_rows WHERE id = 1", &["root".into()]);
    Ok(w.out)
}

fn denied_or(expected: Outcome, ok: &str) -> String {
    match expected {
        Outcome::Denied => "statement error (42501)".into(),
        Outcome::NotApplicable => "statement error (22023)".into(),
        Outcome::AppendOnly => "statement error (0A000)".into(),
        Outcome::Allowed { .. } => ok.into(),
    }
}

fn statement_records(w: &mut Writer, statement: &str, target: Target, role: &str, expected: Outcome) -> Result<()> {
    let table = target.table();
    let me = user_of(role);
    let own = matches!(expected, Outcome::Allowed { own_rows: true });
    match statement {
        "SELECT" if own => {
            w.query(role, "T", &format!("SELECT owner FROM {table} WHERE id = 1"), &[me]);
        }
        "SELECT" => w.record(role, &denied_or(expected, "statement ok"), &format!("SELECT * FROM {table}")),
        "SUBSCRIBE" if own => {
            // Opened as this user: none of another user's rows, initial or later.
            w.record(role, "statement ok", &format!("SUBSCRIBE TO {table} WHERE owner <> '{me}'"));
            w.query(role, "TIITT", "FETCH EVENTS", &[]);
        }
        "SUBSCRIBE" => w.record(role, &denied_or(expected, "statement ok"), &format!("SUBSCRIBE TO {table}")),
        "INSERT" => {
            // Each role's own id, so the writes of one role never collide with another's.
            let id = 100 + ROLES.iter().position(|r| *r == role).unwrap_or(0);
            let ok = if own { "statement count 1" } else { "statement ok" };
            w.record(role, &denied_or(expected, ok), &format!("INSERT INTO {table} (id, note) VALUES ({id}, '{role}')"));
        }
        "UPDATE" => {
            // Every user has a row 1: exactly one changes.
            let ok = if own { "statement count 1" } else { "statement ok" };
            w.record(role, &denied_or(expected, ok), &format!("UPDATE {table} SET note = '{role}' WHERE id = 1"));
        }
        "DELETE" => {
            let ok = if own { "statement count 1" } else { "statement ok" };
            w.record(role, &denied_or(expected, ok), &format!("DELETE FROM {table} WHERE id = 2"));
            if own {
                // Back as it was, for the statements that follow.
                w.record(role, "statement count 1", &format!("INSERT INTO {table} (id, note) VALUES (2, 'x')"));
            }
        }
        "TRUNCATE" => {
            if own {
                // Row 1, and row 100+ when INSERT ran before: whatever it is, it is only
                // this user's, which the SELECT after it proves.
                w.record(role, "statement ok", &format!("TRUNCATE TABLE {table}"));
                w.query(role, "I", &format!("SELECT COUNT(*) FROM {table}"), &["0".into()]);
                w.record(role, "statement count 2", &format!("INSERT INTO {table} (id, note) VALUES (1, 'x'), (2, 'x')"));
            } else {
                w.record(role, &denied_or(expected, "statement ok"), &format!("TRUNCATE TABLE {table}"));
            }
        }
        "EXPLAIN ANALYZE INSERT" => {
            // EXPLAIN ANALYZE runs the statement: the same rights as running it.
            let id = 200 + ROLES.iter().position(|r| *r == role).unwrap_or(0);
            w.record(
                role,
                &denied_or(expected, "statement ok"),
                &format!("EXPLAIN ANALYZE INSERT INTO {table} (id, note) VALUES ({id}, '{role}')"),
            );
        }
        "EXPLAIN ANALYZE TRUNCATE" => {
            w.record(role, &denied_or(expected, "statement ok"), &format!("EXPLAIN ANALYZE TRUNCATE TABLE {table}"));
            if own {
                w.query(role, "I", &format!("SELECT COUNT(*) FROM {table}"), &["0".into()]);
                w.record(role, "statement count 2", &format!("INSERT INTO {table} (id, note) VALUES (1, 'x'), (2, 'x')"));
            }
        }
        "CREATE" => w.record(
            role,
            &denied_or(expected, "statement ok"),
            &format!("CREATE TABLE created_{table}_{role} (id INT) {}", target.create_clause()),
        ),
        "DROP" => w.record(role, &denied_or(expected, "statement ok"), &format!("DROP TABLE drop_{table}_{role}")),
        "ALTER" => w.record(
            role,
            &denied_or(expected, "statement ok"),
            &format!("ALTER TABLE {table} SET ACCESS_LEVEL '{}'", target.access_level()),
        ),
        other => {
            let Some(as_role) = other.strip_prefix("EXECUTE AS ").and_then(|r| r.strip_suffix(" (SELECT)")) else {
                bail!("unknown statement kind '{other}' in the permission table");
            };
            if !ROLES.contains(&as_role) {
                bail!("unknown role in '{other}'");
            }
            let target_user = user_of(as_role);
            if own {
                w.query(
                    role,
                    "T",
                    &format!("EXECUTE AS USER {target_user} (SELECT owner FROM {table} WHERE id = 1)"),
                    std::slice::from_ref(&target_user),
                );
            } else {
                w.record(role, &denied_or(expected, "statement ok"), &format!("EXECUTE AS USER {target_user} (SELECT * FROM {table})"));
            }
        }
    }
    Ok(())
}

/// Writes the generated scenario (`check`: only compares, and fails when it differs).
pub fn run(root: &Path, check: bool) -> Result<()> {
    let text = generate(&read_table(root)?)?;
    let path = matrix_path(root);
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    if check {
        if current != text {
            bail!("{} is not what README.md's permission table generates: run `cargo xtask permissions`", path.display());
        }
        return Ok(());
    }
    std::fs::create_dir_all(path.parent().expect("has a parent"))?;
    std::fs::write(&path, text)?;
    println!("wrote {}", path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_expand_to_roles() {
        assert_eq!(outcome("service+", "user").unwrap(), Outcome::Denied);
        assert_eq!(outcome("service+", "dba").unwrap(), Outcome::Allowed { own_rows: false });
        assert_eq!(outcome("user+ (own rows)", "user").unwrap(), Outcome::Allowed { own_rows: true });
        assert_eq!(outcome("system", "dba").unwrap(), Outcome::Denied);
        assert_eq!(outcome("none", "system").unwrap(), Outcome::Denied);
        assert_eq!(outcome("n/a", "service").unwrap(), Outcome::Denied);
        assert_eq!(outcome("n/a", "dba").unwrap(), Outcome::NotApplicable);
        assert!(outcome("everyone", "dba").is_err());
    }
}
