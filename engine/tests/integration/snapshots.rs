//! insta snapshots of what `.slt` shows badly: the decoded physical storage after each
//! kind of statement, whole system-table dumps, EXPLAIN plans and rendered error messages.
//! Snapshots live in the top-level `snapshots/` folder; review them with `cargo xtask review`.

use crate::common;

use common::{TestEngine, render, run_all};

/// Runs `steps` in order and snapshots the decoded storage after each one.
async fn check_storage(name: &str, steps: &[&str]) {
    let test = TestEngine::new();
    let mut session = test.session();
    let mut out = String::new();
    for sql in steps {
        let outcome = match session.execute(sql).await {
            Ok(result) => render(&result),
            Err(error) => format!("ERROR {}: {error}", error.sql_state()),
        };
        out.push_str(&format!("== {sql}\n-> {outcome}\n"));
        for line in test.engine.describe_storage().expect("storage listing") {
            out.push_str(&line);
            out.push('\n');
        }
        out.push('\n');
    }
    snapshot!(name, out);
}

/// Runs `setup`, then snapshots the result (or error) of each query.
async fn check_queries(name: &str, setup: &[&str], queries: &[&str]) {
    let test = TestEngine::new();
    let mut session = test.session();
    run_all(&mut session, setup).await;
    let mut out = String::new();
    for sql in queries {
        let outcome = match session.execute(sql).await {
            Ok(result) => render(&result),
            Err(error) => format!("ERROR {} ({:?}): {error}", error.sql_state(), error.origin()),
        };
        out.push_str(&format!("== {sql}\n{outcome}\n\n"));
    }
    snapshot!(name, out);
}

#[tokio::test]
async fn storage_layout_through_a_table_lifecycle() {
    check_storage(
        "storage_lifecycle",
        &[
            "CREATE TABLE t (id INT PRIMARY KEY, name TEXT, score DOUBLE)",
            "CREATE TABLE IF NOT EXISTS t (other INT)",
            "INSERT INTO t VALUES (1, 'a', 1.5), (2, NULL, NULL)",
            "UPDATE t SET name = 'b' WHERE id = 2",
            "DELETE FROM t WHERE id = 1",
            "DROP TABLE t",
        ],
    )
    .await;
}

#[tokio::test]
async fn storage_layout_of_keyless_and_composite_tables() {
    check_storage(
        "storage_keys",
        &[
            "CREATE NAMESPACE app",
            "CREATE TABLE app.log (msg TEXT)",
            "INSERT INTO app.log VALUES ('x'), ('x')",
            "CREATE TABLE app.pairs (a BIGINT, b TEXT, PRIMARY KEY (a, b)) WITH (FLUSH_POLICY = 'rows:5')",
            "INSERT INTO app.pairs VALUES (-1, 'z'), (1, 'a')",
            "DROP NAMESPACE app CASCADE",
        ],
    )
    .await;
}

#[tokio::test]
async fn system_table_dumps() {
    check_queries(
        "system_tables",
        &[
            "CREATE NAMESPACE app",
            "CREATE TABLE app.items (id BIGINT PRIMARY KEY, label TEXT NOT NULL DEFAULT 'x', at TIMESTAMP DEFAULT NOW()) WITH (ACCESS_LEVEL = 'PUBLIC', FLUSH_POLICY = 'rows:100,interval:60', DELETED_RETENTION_HOURS = 24)",
            "CREATE TABLE plain (v INT)",
        ],
        &[
            "SELECT * FROM system.namespaces ORDER BY name",
            "SELECT * FROM system.tables ORDER BY namespace_id, table_name",
            "SELECT * FROM system.columns ORDER BY namespace_id, table_name, ordinal_position",
            "DESCRIBE app.items",
            "SHOW TABLES IN app",
        ],
    )
    .await;
}

#[tokio::test]
async fn explain_plans_show_pushdown() {
    check_queries(
        "explain_plans",
        &["CREATE TABLE t (id INT PRIMARY KEY, name TEXT)", "INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c')"],
        &[
            "EXPLAIN SELECT name FROM t WHERE id = 2",
            "EXPLAIN SELECT * FROM t WHERE id > 1 AND id <= 3",
            "EXPLAIN SELECT id FROM t LIMIT 2",
            "EXPLAIN SELECT id, _seq FROM t WHERE _deleted",
            "EXPLAIN SELECT COUNT(*) FROM t WHERE name = 'a'",
        ],
    )
    .await;
}

#[tokio::test]
async fn rendered_error_messages() {
    check_queries(
        "error_messages",
        &["CREATE TABLE t (id INT PRIMARY KEY, name TEXT NOT NULL)", "INSERT INTO t VALUES (1, 'a')"],
        &[
            "INSERT INTO t VALUES (1, 'again')",
            "INSERT INTO t (id) VALUES (2)",
            "UPDATE t SET name = NULL",
            "SELECT * FROM missing",
            "SELECT * FROM nowhere.t",
            "SELECT nope FROM t",
            "CREATE TABLE t (id INT)",
            "CREATE TABLE x (id INT) WITH (COLOR = 'red')",
            "CREATE TABLE x (id INT) WITH (TTL_SECONDS = 5)",
            "CREATE TABLE x (id INT) WITH (FLUSH_POLICY = 'rows:zero')",
            "CREATE TABLE x (_seq INT)",
            "CREATE NAMESPACE default",
            "DROP NAMESPACE nowhere",
            "UPDATE t SET _seq = 5",
            "SELEC 1",
            "SELECT 1/0",
        ],
    )
    .await;
}
