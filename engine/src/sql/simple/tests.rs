//! The recognizer's shapes, and what it leaves to the general path.

use super::*;

fn table(name: &str) -> ObjectRef {
    ObjectRef { namespace: None, name: name.into() }
}

#[test]
fn inserts_with_and_without_column_lists() {
    assert_eq!(
        recognize("insert into App.T (ID, \"Name\") values (1, 'it''s'), (-2, NULL);"),
        Some(SimpleStatement::Insert {
            table: ObjectRef { namespace: Some("app".into()), name: "t".into() },
            columns: Some(vec!["id".into(), "Name".into()]),
            width: 2,
            values: vec![Literal::Int(1), Literal::Text("it's".into()), Literal::Int(-2), Literal::Null],
        })
    );
    assert_eq!(
        recognize("INSERT INTO t VALUES (1.5, - 2.25, TRUE, false, '')"),
        Some(SimpleStatement::Insert {
            table: table("t"),
            columns: None,
            width: 5,
            values: vec![
                Literal::Float(1.5),
                Literal::Float(-2.25),
                Literal::Boolean(true),
                Literal::Boolean(false),
                Literal::Text("".into())
            ],
        })
    );
    assert_eq!(
        recognize("INSERT INTO t VALUES (-9223372036854775808)"),
        Some(SimpleStatement::Insert { table: table("t"), columns: None, width: 1, values: vec![Literal::Int(i64::MIN)] })
    );
}

#[test]
fn point_selects_and_deletes() {
    assert_eq!(
        recognize("SELECT * FROM t WHERE id = 5"),
        Some(SimpleStatement::Select { table: table("t"), columns: None, filter: vec![("id".into(), Literal::Int(5))] })
    );
    assert_eq!(
        recognize("select a, \"B\" from t where k1 = 'x' and K2 = -1 ;"),
        Some(SimpleStatement::Select {
            table: table("t"),
            columns: Some(vec!["a".into(), "B".into()]),
            filter: vec![("k1".into(), Literal::Text("x".into())), ("k2".into(), Literal::Int(-1))],
        })
    );
    // Names in any script, folded by ASCII rules only (as DataFusion folds them).
    assert_eq!(
        recognize("SELECT Wört FROM Ünï.naïve WHERE ÍD = 1"),
        Some(SimpleStatement::Select {
            table: ObjectRef { namespace: Some("Ünï".into()), name: "naïve".into() },
            columns: Some(vec!["wört".into()]),
            filter: vec![("Íd".into(), Literal::Int(1))],
        })
    );
    assert_eq!(
        recognize("DELETE FROM ns.t WHERE id = 7"),
        Some(SimpleStatement::Delete {
            table: ObjectRef { namespace: Some("ns".into()), name: "t".into() },
            filter: vec![("id".into(), Literal::Int(7))],
        })
    );
}

#[test]
fn updates_by_key_keep_each_expression_as_text() {
    assert_eq!(
        recognize("update ns.T set V = v + 1, \"w\" = coalesce(w, 'a,b') || 'c', x = (1, 2) where ID = 3 and k = 'z';"),
        Some(SimpleStatement::Update {
            table: ObjectRef { namespace: Some("ns".into()), name: "t".into() },
            assignments: vec![("V".into(), "v + 1"), ("w".into(), "coalesce(w, 'a,b') || 'c'"), ("x".into(), "(1, 2)")],
            filter: vec![("id".into(), Literal::Int(3)), ("k".into(), Literal::Text("z".into()))],
        })
    );
    // A WHERE inside parentheses belongs to the expression (a subquery, which the planned
    // path then gets: the simple path cannot plan it).
    assert_eq!(
        recognize("UPDATE t SET a = (SELECT 1 WHERE true) WHERE id = 1"),
        Some(SimpleStatement::Update {
            table: ObjectRef { namespace: None, name: "t".into() },
            assignments: vec![("a".into(), "(SELECT 1 WHERE true)")],
            filter: vec![("id".into(), Literal::Int(1))],
        })
    );
}

#[test]
fn everything_else_takes_the_general_path() {
    for sql in [
        "INSERT INTO t VALUES (1 + 1)",
        "INSERT INTO t VALUES (1), (1, 2)",
        "INSERT INTO t VALUES (1e5)",
        "INSERT INTO t VALUES (1.)",
        "INSERT INTO t VALUES (1_000)",
        "INSERT INTO t VALUES ('a\\b')",
        "INSERT INTO t VALUES (E'a')",
        "INSERT INTO t VALUES ('a' 'b')",
        "INSERT INTO t VALUES (DATE '2020-01-01')",
        "INSERT INTO t VALUES (now())",
        "INSERT INTO t VALUES (1) -- comment",
        "INSERT INTO t VALUES (1) /* c */",
        "INSERT INTO t VALUES (99999999999999999999)",
        "INSERT INTO t VALUES (1); INSERT INTO t VALUES (2)",
        "INSERT INTO t (a VALUES (1)",
        "INSERT INTO TABLE t VALUES (1)",
        "INSERT INTO local VALUES (1)",
        "INSERT INTO Directory.t VALUES (1)",
        "INSERT INTO function t VALUES (1)",
        "INSERT INTO a.b.c VALUES (1)",
        "INSERT INTO t SELECT 1",
        "INSERT INTO t VALUES (1) RETURNING *",
        "INSERT INTO t VALUES ('unterminated)",
        "INSERT INTO \"\" VALUES (1)",
        "INSERT INTO t VALUES (--1)",
        "SELECT * FROM t",
        "SELECT * FROM t WHERE id > 5",
        "SELECT * FROM t WHERE id = 5 OR id = 6",
        "SELECT * FROM t x WHERE id = 5",
        "SELECT user FROM t WHERE id = 5",
        "SELECT current_date FROM t WHERE id = 5",
        "SELECT DISTINCT a FROM t WHERE id = 5",
        "SELECT a b FROM t WHERE id = 5",
        "SELECT t.a FROM t WHERE id = 5",
        "SELECT * FROM t WHERE id = 5 LIMIT 1",
        "SELECT * FROM t WHERE id = (5)",
        "DELETE FROM t",
        "DELETE FROM t WHERE id IN (1, 2)",
        "UPDATE t SET a = 1",
        "UPDATE t SET a = 1, a = 2 WHERE id = 1",
        "UPDATE t SET a = (1 WHERE id = 1",
        "UPDATE t SET a = 1) WHERE id = 1",
        "UPDATE t SET a = 1 -- c\n WHERE id = 1",
        "UPDATE t SET a = 1 /* , */ WHERE id = 1",
        "UPDATE t SET a = WHERE id = 1",
        "UPDATE t AS x SET a = 1 WHERE id = 1",
        "UPDATE t SET a = 1 FROM u WHERE id = 1",
        "UPDATE t SET a = 1 WHERE id > 1",
        "UPDATE t SET a = 1 WHERE id = 1 RETURNING *",
        "UPDATE t SET t.a = 1 WHERE id = 1",
        "EXPLAIN SELECT * FROM t WHERE id = 1",
        "INSERT INTO t VALUES (1)\u{c}",
        "INSERT INTO t€ VALUES (1)",
        "INSERT INTO t VALUES (1)\u{a0}",
        "SELECT * FROM t WHERE id = 1²",
        "",
    ] {
        assert_eq!(recognize(sql), None, "{sql}");
    }
}
