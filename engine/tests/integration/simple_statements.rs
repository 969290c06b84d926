//! The engine's own path for simple statements must give exactly what DataFusion's
//! planned path gives: the same rows and schema, the same counts, the same errors
//! (SQLSTATE and message), and the same stored rows and `_seq` values afterwards. Every
//! statement below runs on two engines, one with the simple path and one without, and
//! the results are compared. Which statements took the simple path is itself recorded in
//! a snapshot (`snapshots/simple_statement_paths.snap`), so a statement that silently
//! falls back to the planner, or starts skipping it, shows up in review.

use crate::common;

use common::{TestEngine, render};
use engine::{QueryResult, Session};

/// The outcome of a statement, comparable across engines.
fn outcome(result: &engine::Result<QueryResult>) -> String {
    match result {
        Ok(QueryResult::Rows { schema, batches }) => {
            let fields: Vec<String> =
                schema.fields().iter().map(|f| format!("{}:{}:{}", f.name(), f.data_type(), f.is_nullable())).collect();
            format!("{}\n{}", fields.join(", "), render(&QueryResult::Rows { schema: schema.clone(), batches: batches.clone() }))
        }
        // A count says what it counts, the same on both paths.
        Ok(QueryResult::Count { command, rows }) => command.command_tag(*rows),
        Ok(other) => render(other),
        Err(error) => format!("error {}: {}", error.sql_state(), error.message()),
    }
}

struct Pair {
    simple: Session,
    planned: Session,
    engines: (TestEngine, TestEngine),
    /// One line per statement run: `simple` or `planned` (the path the simple engine took),
    /// then the statement.
    paths: Vec<String>,
}

impl Pair {
    fn new() -> Pair {
        let simple_engine = TestEngine::new();
        let planned_engine = TestEngine::with_config(|config| config.simple_statements = false);
        Pair {
            simple: simple_engine.session(),
            planned: planned_engine.session(),
            engines: (simple_engine, planned_engine),
            paths: Vec::new(),
        }
    }

    /// Runs `sql` on both engines, asserts the outcomes are equal, returns it.
    async fn run(&mut self, sql: &str) -> String {
        let before = self.simple.simple_statement_count();
        let simple = outcome(&self.simple.execute(sql).await);
        let path = if self.simple.simple_statement_count() > before { "simple " } else { "planned" };
        self.paths.push(format!("{path} {sql}"));
        let planned = outcome(&self.planned.execute(sql).await);
        assert_eq!(simple, planned, "{sql}");
        simple
    }

    /// Runs each `(path, sql)` step and asserts the simple engine took that path.
    async fn run_expecting(&mut self, steps: &[(&str, &str)]) {
        for (expected, sql) in steps {
            self.run(sql).await;
            let took = self.paths.last().unwrap().split_whitespace().next().unwrap().to_string();
            assert_eq!(&took, expected, "{sql}");
        }
    }

    /// Closes both engines and opens them again on their data directories (new sessions).
    fn restart(self) -> Pair {
        let Pair { simple, planned, engines: (simple_engine, planned_engine), paths } = self;
        drop((simple, planned));
        let simple_engine = simple_engine.restart();
        let planned_engine = planned_engine.restart_with(|config| config.simple_statements = false);
        Pair { simple: simple_engine.session(), planned: planned_engine.session(), engines: (simple_engine, planned_engine), paths }
    }
}

const TABLES: &[&str] = &[
    "CREATE NAMESPACE app",
    "CREATE TABLE app.items (id BIGINT PRIMARY KEY, name TEXT NOT NULL, qty INT, price DOUBLE, \
     weight REAL, cost DECIMAL(10, 2), small SMALLINT, flag BOOLEAN, at TIMESTAMP, day DATE)",
    "CREATE TABLE app.defaults (id INT PRIMARY KEY, note TEXT DEFAULT 'none', made TIMESTAMP DEFAULT NOW(), \
     serial BIGINT DEFAULT SNOWFLAKE_ID(), token TEXT DEFAULT UUID(), n INT DEFAULT 7)",
    "CREATE TABLE app.pairs (a TEXT, b INT, v TEXT, PRIMARY KEY (a, b))",
    "CREATE TABLE app.log (msg TEXT, n BIGINT)",
    "CREATE TABLE app.flags (id TINYINT UNSIGNED PRIMARY KEY, on_off BOOLEAN)",
    // DEFAULTs that DataFusion's planning rejects when an INSERT uses them.
    "CREATE TABLE app.bad_defaults (k INT PRIMARY KEY, id BIGINT DEFAULT SNOWFLAKE_ID(), s SMALLINT DEFAULT 100000)",
    "CREATE TABLE app.case_default (k INT PRIMARY KEY, n INT DEFAULT CASE WHEN true THEN 1 ELSE CAST('x' AS INT) END)",
    "CREATE TABLE \"local\" (a INT)",
];

const STATEMENTS: &[&str] = &[
    // INSERT: whole rows, lists, literal kinds and casts.
    "INSERT INTO app.items VALUES (1, 'one', 10, 1.5, 2.5, 3.25, 4, TRUE, '2024-01-02 03:04:05', '2024-01-02')",
    "INSERT INTO app.items (id, name) VALUES (2, 'two'), (3, 'three')",
    "insert into APP.Items (NAME, ID, QTY) values ('four', 4, -4);",
    "INSERT INTO app.items (id, name, price, qty) VALUES (5, 'five', 5, 5.9), (6, 'six', 6.5, -6.9)",
    "INSERT INTO app.items (id, name, price) VALUES (7, 'seven', 1), (8, 'eight', 2.5), (9, 'nine', NULL)",
    "INSERT INTO app.items (id, name, cost, weight, small) VALUES (10, 'ten', 12, 1.25, -32768)",
    "INSERT INTO app.items (id, name, qty) VALUES (11, 'it''s', '12')",
    "INSERT INTO app.items (id, name, flag) VALUES (12, 'twelve', 'true')",
    "INSERT INTO app.items (id, name, qty) VALUES (13, 'big', 2147483648)",
    "INSERT INTO app.items (id, name, small) VALUES (14, 'small', 40000)",
    "INSERT INTO app.items (id, name, qty) VALUES (15, 'text', 'abc')",
    "INSERT INTO app.items (id, name, at) VALUES (16, 'bad time', 'not a time')",
    "INSERT INTO app.items (id, name) VALUES (17, NULL)",
    "INSERT INTO app.items (id) VALUES (18)",
    "INSERT INTO app.items (id, name) VALUES (1, 'again')",
    "INSERT INTO app.items (id, name) VALUES (19, 'a'), (19, 'b')",
    "INSERT INTO app.items (id, name, nope) VALUES (20, 'x', 1)",
    "INSERT INTO app.items (id, name, name) VALUES (21, 'x', 'y')",
    "INSERT INTO app.items (id, name) VALUES (22)",
    "INSERT INTO app.items VALUES (23, 'short')",
    "INSERT INTO app.missing VALUES (1)",
    "INSERT INTO nowhere.items VALUES (1)",
    "INSERT INTO system.tables VALUES (1)",
    "INSERT INTO app.items (id, name, qty, price) VALUES (24, 'mixed', 1, 2), (25, 'mixed', 2.5, 3)",
    "INSERT INTO app.items (id, name, day) VALUES (26, 'date', 20000)",
    "INSERT INTO app.items (id, name, at) VALUES (27, 'ts', 1700000000000000000)",
    "INSERT INTO app.items (id, name) VALUES (-9223372036854775808, 'min')",
    // DEFAULTs, drawn per statement.
    "INSERT INTO app.defaults (id) VALUES (1), (2), (3)",
    "INSERT INTO app.defaults (id, note) VALUES (4, NULL)",
    "INSERT INTO app.defaults VALUES (5, 'all', '2020-01-01T00:00:00', 1, 'u', 2)",
    // Composite and text keys, tables without a key, unsigned keys.
    "INSERT INTO app.pairs VALUES ('x', 1, 'x1'), ('x', 2, 'x2'), ('y', 1, 'y1')",
    "INSERT INTO app.pairs (a, b) VALUES (NULL, 3)",
    "INSERT INTO app.log VALUES ('a', 1), ('a', 1), (NULL, NULL)",
    "INSERT INTO app.flags VALUES (255, true), (0, false)",
    "INSERT INTO app.flags VALUES (256, true)",
    "INSERT INTO app.flags VALUES (-1, true)",
    "INSERT INTO app.bad_defaults (k) VALUES (1)",
    "INSERT INTO app.bad_defaults (k, s) VALUES (2, 5)",
    "INSERT INTO app.case_default (k) VALUES (1)",
    "INSERT INTO app.case_default VALUES (2, 2)",
    "INSERT INTO local VALUES (1)",
    "INSERT INTO \"local\" VALUES (1)",
    // Point SELECTs.
    "SELECT * FROM app.items WHERE id = 1",
    "SELECT name, id FROM app.items WHERE id = 4",
    "SELECT * FROM app.items WHERE id = 404",
    "SELECT * FROM app.items WHERE id = -9223372036854775808",
    "SELECT * FROM app.items WHERE id = 1.0",
    "SELECT * FROM app.items WHERE id = '1'",
    "SELECT id, id FROM app.items WHERE id = 1",
    "SELECT nope FROM app.items WHERE id = 1",
    "SELECT * FROM app.items WHERE name = 'one'",
    "SELECT * FROM app.items WHERE id = 1 AND name = 'one'",
    "SELECT * FROM app.pairs WHERE a = 'x' AND b = 2",
    "SELECT v FROM app.pairs WHERE b = 1 AND a = 'y'",
    "SELECT * FROM app.pairs WHERE a = 'x'",
    "SELECT * FROM app.log WHERE n = 1",
    "SELECT * FROM app.flags WHERE id = 255",
    "SELECT * FROM app.flags WHERE id = 256",
    "SELECT * FROM app.flags WHERE id = -1",
    "SELECT * FROM app.defaults WHERE id = 2",
    "SELECT * FROM system.tables WHERE table_name = 'items'",
    // DELETE by key, then reads and re-inserts around the tombstone.
    "DELETE FROM app.items WHERE id = 2",
    "DELETE FROM app.items WHERE id = 2",
    "DELETE FROM app.items WHERE id = 404",
    "SELECT * FROM app.items WHERE id = 2",
    "INSERT INTO app.items (id, name) VALUES (2, 'two again')",
    "SELECT id, name FROM app.items WHERE id = 2",
    "DELETE FROM app.pairs WHERE a = 'x' AND b = 1",
    "DELETE FROM app.log WHERE n = 1",
    "DELETE FROM app.items WHERE name = 'three'",
    "DELETE FROM app.flags WHERE id = 300",
    // UPDATE by key: expressions, casts, key changes and every failure.
    "UPDATE app.items SET qty = qty + 1 WHERE id = 1",
    "UPDATE app.items SET price = price * 2, name = name || '!' WHERE id = 1",
    "UPDATE app.items SET qty = 2147483647 WHERE id = 4",
    "UPDATE app.items SET qty = qty + 1 WHERE id = 4",
    "UPDATE app.items SET id = 100 WHERE id = 3",
    "UPDATE app.items SET id = 1 WHERE id = 100",
    "UPDATE app.items SET name = NULL WHERE id = 5",
    "UPDATE app.items SET qty = 'abc' WHERE id = 5",
    "UPDATE app.items SET qty = '77' WHERE id = 5",
    "UPDATE app.items SET QTY = 1 WHERE id = 5",
    "UPDATE app.items SET nope = 1 WHERE id = 5",
    "UPDATE app.items SET qty = 1 WHERE id = 404",
    "UPDATE app.items SET at = NOW(), day = CURRENT_DATE WHERE id = 6",
    "UPDATE app.items SET qty = items.qty + 1 WHERE id = 6",
    "UPDATE app.items SET qty = (SELECT 1) WHERE id = 6",
    "UPDATE app.items SET qty = sum(qty) WHERE id = 6",
    "UPDATE app.items SET _seq = 1 WHERE id = 6",
    "UPDATE app.items SET qty = 1 WHERE id = 6 AND _deleted = false",
    "UPDATE app.items SET qty = 5 WHERE id = 2 AND name = 'two'",
    "UPDATE app.items x SET qty = 5 WHERE id = 2",
    "UPDATE app.pairs SET v = upper(v) WHERE a = 'x' AND b = 2",
    "UPDATE app.pairs SET b = 9 WHERE a = 'x' AND b = 2",
    "UPDATE app.log SET n = 2 WHERE n = 1",
    "UPDATE app.defaults SET serial = SNOWFLAKE_ID(), token = UUID() WHERE id = 1",
    "UPDATE system.tables SET table_name = 'x' WHERE table_name = 'items'",
    "UPDATE app.items SET small = 100000 WHERE id = 404",
    "UPDATE app.items SET qty = 'abc' WHERE id = 404",
    "UPDATE app.items SET qty = CASE WHEN id > 0 THEN 1 ELSE CAST('x' AS INT) END WHERE id = 1",
    "UPDATE app.items SET qty = CASE WHEN id > 0 THEN 8 ELSE 9 END WHERE id = 1",
    // The lexer's cut of each SET expression: commas and WHERE inside strings and
    // parentheses, comments, casts, operators, quoted targets.
    "UPDATE app.items SET name = concat(name, ',', 'WHERE'), qty = (qty % 7) WHERE id = 2",
    "UPDATE app.items SET qty = (SELECT 3 WHERE true) WHERE id = 2",
    "UPDATE app.items SET qty = qty::INT + 1 WHERE id = 2",
    "UPDATE app.items SET \"qty\" = 11 WHERE id = 2",
    "UPDATE app.items SET qty = 12 /* , */ WHERE id = 2",
    "UPDATE app.items SET qty = 13 -- note\n WHERE id = 2",
    "UPDATE app.items SET qty = 14 FROM app.pairs WHERE id = 2",
    "UPDATE app.items SET qty = 15, qty = 16 WHERE id = 2",
    // Batches of eight or more rows check their key span with one seek first.
    "INSERT INTO app.items (id, name) VALUES (40, 'a'), (41, 'b'), (42, 'c'), (43, 'd'), (44, 'e'), (45, 'f'), (46, 'g'), (47, 'h')",
    "INSERT INTO app.items (id, name) VALUES (30, 'a'), (31, 'b'), (32, 'c'), (33, 'd'), (34, 'e'), (35, 'f'), (36, 'g'), (41, 'dup')",
    "INSERT INTO app.items (id, name) VALUES (50, 'a'), (52, 'b'), (51, 'c'), (53, 'd'), (54, 'e'), (55, 'f'), (56, 'g'), (52, 'dup')",
    "INSERT INTO app.items (id, name) VALUES (3, 'three again'), (60, 'a'), (61, 'b'), (62, 'c'), (63, 'd'), (64, 'e'), (65, 'f'), (66, 'g')",
    "INSERT INTO app.items (id, name) VALUES (70, 'a'), (71, 'b'), (72, 'c'), (73, 'd'), (74, 'e'), (75, 'f'), (76, 'g'), (77, 'h'), (78, 'i')",
    // Everything, with system columns, as stored.
    "SELECT *, _seq, _updated, _deleted FROM app.items ORDER BY id",
    "SELECT *, _seq, _deleted FROM app.defaults ORDER BY id",
    "SELECT *, _seq, _deleted FROM app.pairs ORDER BY a, b",
    "SELECT *, _seq, _deleted FROM app.log ORDER BY _seq",
    "SELECT *, _seq, _deleted FROM app.flags ORDER BY id",
    "SELECT *, _seq, _deleted FROM app.bad_defaults ORDER BY k",
    "SELECT *, _seq, _deleted FROM app.case_default ORDER BY k",
    "SELECT *, _seq FROM \"local\"",
];

#[tokio::test]
async fn simple_statements_match_the_planned_path() {
    let mut pair = Pair::new();
    for sql in TABLES {
        pair.run(sql).await;
    }
    for sql in STATEMENTS {
        pair.run(sql).await;
    }
    // The comparison above only means something if the simple path ran.
    assert!(pair.simple.simple_statement_count() >= 40, "{}", pair.simple.simple_statement_count());
    assert_eq!(pair.planned.simple_statement_count(), 0);
    snapshot!("simple_statement_paths", pair.paths.join("\n"));
}

/// Namespaces chosen with USE, a restart between writes and reads, non-ASCII names, and
/// float and timestamp keys: each statement's path is asserted, and both paths agree.
/// Counts carry their statement, as PostgreSQL's command tags spell it, on both paths.
#[tokio::test]
async fn counts_say_what_they_count() {
    let mut pair = Pair::new();
    pair.run("CREATE TABLE tags (id BIGINT PRIMARY KEY, v INT)").await;
    for (sql, tag) in [
        ("INSERT INTO tags VALUES (1, 1), (2, 2), (3, 3)", "INSERT 0 3"),
        ("INSERT INTO tags SELECT id + 10, v FROM tags", "INSERT 0 3"),
        ("UPDATE tags SET v = 5 WHERE id = 1", "UPDATE 1"),
        ("UPDATE tags SET v = 6 WHERE id > 10", "UPDATE 3"),
        ("UPDATE tags SET v = 7 WHERE id = 99", "UPDATE 0"),
        ("DELETE FROM tags WHERE id = 2", "DELETE 1"),
        ("DELETE FROM tags WHERE v = 6", "DELETE 3"),
        // FLUSH counts the stored rows it moved: 2 live rows and 4 soft-deleted ones.
        ("FLUSH TABLE tags", "FLUSH 6"),
        ("TRUNCATE TABLE tags", "TRUNCATE TABLE"),
    ] {
        assert_eq!(pair.run(sql).await, tag, "{sql}");
    }
}

#[tokio::test]
async fn use_restart_unicode_float_and_timestamp_keys() {
    let mut pair = Pair::new();
    let setup = [
        "CREATE NAMESPACE Ünï",
        "USE Ünï",
        "CREATE TABLE naïve (id BIGINT PRIMARY KEY, wört TEXT)",
        "CREATE TABLE floats (k DOUBLE PRIMARY KEY, v INT)",
        "CREATE TABLE times (at TIMESTAMP PRIMARY KEY, v INT)",
    ];
    for sql in setup {
        pair.run(sql).await;
    }
    let steps: &[(&str, &str)] = &[
        ("simple", "INSERT INTO naïve VALUES (1, 'ä'), (2, 'ß')"),
        ("simple", "INSERT INTO Ünï.naïve (wört, id) VALUES ('é', 3)"),
        ("simple", "SELECT wört FROM naïve WHERE id = 2"),
        ("simple", "UPDATE naïve SET wört = wört || '!' WHERE id = 1"),
        ("simple", "DELETE FROM Ünï.naïve WHERE id = 3"),
        // Quoted and folded spellings of the same names.
        ("simple", "SELECT \"wört\" FROM \"Ünï\".\"naïve\" WHERE ID = 1"),
        ("planned", "SELECT * FROM ÜNÏ.naïve WHERE id = 1"),
        // Float keys: INSERTs are simple, lookups by a float key are planned; -0.0 and
        // NaN are one key each.
        ("simple", "INSERT INTO floats VALUES (0.0, 1), (1.5, 2)"),
        ("simple", "INSERT INTO floats VALUES (-0.0, 3)"),
        ("planned", "INSERT INTO floats VALUES (CAST('NaN' AS DOUBLE), 4)"),
        ("planned", "INSERT INTO floats VALUES (CAST('NaN' AS DOUBLE), 5)"),
        ("planned", "SELECT v FROM floats WHERE k = -0.0"),
        ("planned", "SELECT v FROM floats WHERE k = 1.5"),
        ("planned", "UPDATE floats SET v = v + 1 WHERE k = 1.5"),
        ("planned", "DELETE FROM floats WHERE k = 0.0"),
        // Timestamp keys: text literals cast on INSERT; lookups are planned.
        ("simple", "INSERT INTO times VALUES ('2024-01-01T00:00:00', 1), ('2024-01-02T00:00:00', 2)"),
        ("simple", "INSERT INTO times VALUES ('2024-01-01T00:00:00', 3)"),
        ("planned", "INSERT INTO times VALUES ('not a time', 3)"),
        ("planned", "SELECT v FROM times WHERE at = '2024-01-02T00:00:00'"),
        ("planned", "DELETE FROM times WHERE at = '2024-01-01T00:00:00'"),
    ];
    pair.run_expecting(steps).await;
    let mut pair = pair.restart();
    // A new session starts in `default`: USE again, then read what was written.
    let after: &[(&str, &str)] = &[
        ("planned", "SELECT * FROM naïve WHERE id = 1"),
        ("planned", "USE Ünï"),
        ("simple", "SELECT * FROM naïve WHERE id = 1"),
        ("simple", "INSERT INTO naïve VALUES (4, 'ö')"),
        ("planned", "SELECT *, _seq, _deleted FROM naïve ORDER BY id"),
        ("planned", "SELECT *, _seq, _deleted FROM floats ORDER BY k"),
        ("planned", "SELECT *, _seq, _deleted FROM times ORDER BY at"),
    ];
    pair.run_expecting(after).await;
}

#[tokio::test]
async fn repeated_updates_reuse_their_plan_until_the_schema_or_settings_change() {
    let mut pair = Pair::new();
    pair.run("CREATE TABLE t (id INT PRIMARY KEY, v INT, at TIMESTAMP)").await;
    pair.run("INSERT INTO t VALUES (1, 1, NULL), (2, 2, NULL)").await;
    for _ in 0..3 {
        pair.run("UPDATE t SET v = v * 2, at = NOW() WHERE id = 1").await;
        pair.run("UPDATE t SET v = v * 2, at = NOW() WHERE id = 2").await;
        pair.engines.0.clock.advance_millis(1000);
        pair.engines.1.clock.advance_millis(1000);
    }
    pair.run("SET datafusion.execution.time_zone = '+02:00'").await;
    pair.run("UPDATE t SET at = '2024-01-01T00:00:00' WHERE id = 1").await;
    pair.run("DROP TABLE t").await;
    pair.run("CREATE TABLE t (id INT PRIMARY KEY, v TEXT, at TIMESTAMP)").await;
    pair.run("INSERT INTO t VALUES (1, 'a', NULL)").await;
    pair.run("UPDATE t SET v = v * 2, at = NOW() WHERE id = 1").await;
    pair.run("UPDATE t SET v = v || 'b' WHERE id = 1").await;
    pair.run("SELECT * FROM t").await;
}

#[tokio::test]
async fn session_settings_the_recognizer_does_not_model_turn_it_off() {
    let mut pair = Pair::new();
    pair.run("CREATE TABLE t (id INT PRIMARY KEY, v DOUBLE)").await;
    pair.run("SET datafusion.sql_parser.parse_float_as_decimal = true").await;
    pair.run("INSERT INTO t VALUES (1, 1.25)").await;
    pair.run("SET datafusion.sql_parser.enable_ident_normalization = false").await;
    pair.run("INSERT INTO t VALUES (2, 2.5)").await;
    pair.run("SET datafusion.sql_parser.enable_ident_normalization = true").await;
    pair.run("SET datafusion.sql_parser.parse_float_as_decimal = false").await;
    pair.run("SET datafusion.catalog.default_catalog = 'elsewhere'").await;
    pair.run("INSERT INTO t VALUES (3, 3.5)").await;
    pair.run("SELECT * FROM t WHERE id = 3").await;
    pair.run("SET datafusion.catalog.default_catalog = 'engine'").await;
    assert_eq!(pair.simple.simple_statement_count(), 0);
    pair.run("SELECT * FROM t ORDER BY id").await;
}
