//! A write that fails at the RocksDB boundary leaves the database as it was before the
//! statement: for each statement kind, the test walks the failing write over every write
//! the statement makes (commit, DDL commit, counters), and checks after each fault that
//! hot storage is unchanged byte for byte, that what the engine shows (tables, users,
//! rows) is unchanged, that the same statement then succeeds, and that a restart shows
//! the same state as the engine before it.

use crate::common;

use common::{TestEngine, render, run_all};

const SETUP: &[&str] = &[
    "CREATE USER alice WITH PASSWORD 'a' ROLE user",
    "CREATE TABLE t (id INT PRIMARY KEY, v TEXT)",
    "CREATE USER TABLE notes (id INT PRIMARY KEY, body TEXT)",
    "INSERT INTO t VALUES (1, 'one'), (2, 'two'), (3, 'three')",
    "EXECUTE AS USER 'alice' (INSERT INTO notes VALUES (1, 'a1'), (2, 'a2'))",
];

/// What the engine shows, for comparing before and after a fault.
const VIEWS: &[&str] = &[
    "SELECT namespace_id, table_name, table_type, schema_version FROM system.tables WHERE namespace_id <> 'system' ORDER BY 1, 2",
    "SELECT username, role FROM system.users ORDER BY 1",
    "SELECT id, v, _seq, _deleted FROM t WHERE _deleted OR NOT _deleted ORDER BY id",
    "EXECUTE AS USER 'alice' (SELECT id, body, _seq, _deleted FROM notes WHERE _deleted OR NOT _deleted ORDER BY id)",
];

const STATEMENTS: &[&str] = &[
    "INSERT INTO t VALUES (4, 'four'), (5, 'five')",
    "UPDATE t SET v = v || '!' WHERE id >= 2",
    "DELETE FROM t WHERE id = 1",
    "TRUNCATE TABLE t",
    "CREATE TABLE u (id INT PRIMARY KEY)",
    "CREATE TABLE copy AS SELECT * FROM t",
    "ALTER TABLE t ADD COLUMN w INT DEFAULT 7",
    "ALTER TABLE t DROP COLUMN v",
    "DROP TABLE t",
    "CREATE USER bob WITH PASSWORD 'b' ROLE user",
    "DROP USER alice CASCADE",
    "CREATE VIEW tv AS SELECT id FROM t",
    "CREATE NAMESPACE other",
    "EXECUTE AS USER 'alice' (UPDATE notes SET body = 'x' WHERE id = 2)",
    "FLUSH TABLE t",
];

async fn shown(test: &TestEngine) -> String {
    let mut session = test.session();
    let mut out = String::new();
    for sql in VIEWS {
        match session.execute(sql).await {
            Ok(result) => out.push_str(&render(&result)),
            Err(error) => out.push_str(&format!("{sql}: {}", error.sql_state())),
        }
        out.push('\n');
    }
    out
}

async fn prepared() -> TestEngine {
    let test = TestEngine::new();
    let mut session = test.session();
    run_all(&mut session, SETUP).await;
    test
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_write_leaves_the_database_as_before_the_statement() {
    let mut faulted = 0;
    for statement in STATEMENTS {
        let writes = {
            let test = prepared().await;
            let before = test.engine.shared().store.writes();
            test.session().execute(statement).await.unwrap_or_else(|e| panic!("{statement}: {e}"));
            test.engine.shared().store.writes() - before
        };
        assert!(writes > 0, "{statement} writes");
        for n in 1..=writes {
            let test = prepared().await;
            let storage_before = test.engine.describe_storage().unwrap();
            let shown_before = shown(&test).await;
            test.engine.shared().store.fail_write(n);
            let outcome = test.session().execute(statement).await;
            test.engine.shared().store.fail_write(0);
            let error = match outcome {
                Err(error) => error,
                Ok(_) => panic!("{statement}: write {n} of {writes} failed, yet the statement succeeded"),
            };
            assert_eq!(error.sql_state().code(), "58030", "{statement}: {error}");
            faulted += 1;
            let is_flush = statement.starts_with("FLUSH");
            if !is_flush {
                // A flush's earlier steps (its file, its counter) may stay; its rows may not move.
                assert_eq!(test.engine.describe_storage().unwrap(), storage_before, "{statement}: write {n} failed, storage changed");
            }
            assert_eq!(shown(&test).await, shown_before, "{statement}: write {n} failed, what the engine shows changed");
            // The engine keeps working: the statement now succeeds, and survives a restart.
            test.session().execute(statement).await.unwrap_or_else(|e| panic!("{statement} after a fault at write {n}: {e}"));
            let after = shown(&test).await;
            let test = test.restart();
            assert_eq!(shown(&test).await, after, "{statement}: a restart after the retry");
        }
        eprintln!("{statement}: {writes} writes, each failed once");
    }
    eprintln!("{faulted} faults injected");
}
