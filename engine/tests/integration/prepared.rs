//! Prepared statements through the embedding API: parsed once, described without
//! running (parameter types and result columns), run many times with values; values of
//! every kind survive binding; the simple path still takes a bound simple statement.

use crate::common;

use common::{TestEngine, render, run_all};
use engine::exports::arrow::datatypes::DataType;
use engine::exports::datafusion::common::ScalarValue;
use engine::{QueryResult, Session, SqlState};

async fn rows(session: &mut Session, statement: &engine::PreparedStatement, values: &[ScalarValue]) -> String {
    let result = session.run(statement, values).await.unwrap_or_else(|e| panic!("{}: {e}", statement.text()));
    render(&result.collected().await.expect("rows"))
}

#[tokio::test]
async fn statements_are_described_without_running_and_run_with_values() {
    let test = TestEngine::new();
    let mut session = test.session();
    run_all(&mut session, &["CREATE TABLE t (id BIGINT PRIMARY KEY, name TEXT, day DATE, data BYTEA)"]).await;

    let insert = session.prepare("INSERT INTO t VALUES ($1, $2, $3, $4)").unwrap().expect("a statement");
    assert_eq!(insert.parameter_count(), 4);
    let described = session.describe(&insert).await.unwrap();
    assert_eq!(described.parameters, vec![Some(DataType::Int64), Some(DataType::Utf8View), Some(DataType::Date32), Some(DataType::Binary)]);
    assert!(described.columns.is_none(), "an INSERT returns a count");
    // Describing ran nothing.
    assert_eq!(render(&session.execute("SELECT count(*) FROM t").await.unwrap()).lines().nth(3), Some("| 0        |"));

    let values = [
        [
            ScalarValue::Int64(Some(1)),
            ScalarValue::Utf8(Some("it's; -- $1".into())),
            ScalarValue::Date32(Some(19_723)),
            ScalarValue::Binary(Some(vec![0, 255])),
        ],
        [ScalarValue::Int64(Some(-2)), ScalarValue::Utf8(None), ScalarValue::Date32(None), ScalarValue::Binary(None)],
    ];
    for row in &values {
        let result = session.run(&insert, row).await.unwrap();
        assert_eq!(result.count(), Some(1));
    }

    let select = session.prepare("SELECT name, day, data FROM t WHERE id = $1").unwrap().expect("a statement");
    let described = session.describe(&select).await.unwrap();
    assert_eq!(described.parameters, vec![Some(DataType::Int64)]);
    let described_columns = described.columns.expect("rows");
    let columns: Vec<String> = described_columns.fields().iter().map(|f| format!("{} {}", f.name(), f.data_type())).collect();
    assert_eq!(columns, ["name Utf8View", "day Date32", "data Binary"]);
    let QueryResult::Rows { schema, .. } = session.run(&select, &[ScalarValue::Int64(Some(1))]).await.unwrap().collected().await.unwrap()
    else {
        panic!("no rows")
    };
    assert_eq!(schema.fields(), described_columns.fields(), "the rows have the described columns");
    let simple_before = session.simple_statement_count();

    insta::assert_snapshot!(rows(&mut session, &select, &[ScalarValue::Int64(Some(1))]).await, @r"
    +-------------+------------+------+
    | name        | day        | data |
    +-------------+------------+------+
    | it's; -- $1 | 2024-01-01 | 00ff |
    +-------------+------------+------+
    ");
    insta::assert_snapshot!(rows(&mut session, &select, &[ScalarValue::Int64(Some(-2))]).await, @r"
    +------+-----+------+
    | name | day | data |
    +------+-----+------+
    |      |     |      |
    +------+-----+------+
    ");
    assert_eq!(session.simple_statement_count(), simple_before + 2, "a bound point SELECT takes the simple path");
}

#[tokio::test]
async fn wrong_values_and_scripts_are_refused_with_their_codes() {
    let test = TestEngine::new();
    let mut session = test.session();
    let select = session.prepare("SELECT $1 + 1, $2").unwrap().expect("a statement");
    let error = session.run(&select, &[ScalarValue::Int64(Some(1))]).await.unwrap_err();
    assert_eq!(error.sql_state(), SqlState::PROTOCOL_VIOLATION);
    let error = session.prepare("SELECT 1; SELECT 2").unwrap_err();
    assert_eq!(error.sql_state(), SqlState::SYNTAX_ERROR);
    assert!(session.prepare("  -- nothing\n").unwrap().is_none());
    // A script parses whole before anything runs.
    let error = session.parse("CREATE TABLE a (id INT PRIMARY KEY); SELEC 1").unwrap_err();
    assert_eq!(error.sql_state(), SqlState::SYNTAX_ERROR);
    let statements = session.parse("CREATE TABLE a (id INT PRIMARY KEY); INSERT INTO a VALUES (1); SELECT id FROM a").unwrap();
    let texts: Vec<&str> = statements.iter().map(|s| s.text()).collect();
    assert_eq!(texts, ["CREATE TABLE a (id INT PRIMARY KEY)", "INSERT INTO a VALUES (1)", "SELECT id FROM a"]);
    for statement in &statements {
        session.run(statement, &[]).await.unwrap().collected().await.unwrap();
    }
}

#[tokio::test]
async fn engine_statements_describe_their_columns() {
    let test = TestEngine::new();
    let mut session = test.session();
    run_all(&mut session, &["CREATE TABLE t (id INT PRIMARY KEY)"]).await;
    for sql in ["SHOW TABLES", "DESCRIBE t", "SHOW NAMESPACES", "EXECUTE AS USER root (SELECT id FROM t)"] {
        let statement = session.prepare(sql).unwrap().expect("a statement");
        let described = session.describe(&statement).await.unwrap();
        let QueryResult::Rows { schema, .. } = session.run(&statement, &[]).await.unwrap().collected().await.unwrap() else {
            panic!("{sql}: no rows")
        };
        assert_eq!(described.columns.as_deref(), Some(schema.as_ref()), "{sql}");
    }
}
