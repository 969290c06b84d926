//! The oracles: checks that need no expected result.
//!
//! - **TLP** (ternary logic partitioning): a query without a predicate `p` returns what
//!   the three queries with `WHERE p`, `WHERE NOT p` and `WHERE (p) IS NULL` return
//!   together: as a multiset for plain queries, as a set for DISTINCT, combined per
//!   aggregate (COUNT and SUM summed, MIN of MINs, MAX of MAXes), and per group for GROUP BY.
//! - **NoREC**: `SELECT COUNT(*) ... WHERE p` equals the number of rows for which `p`,
//!   projected (so not pushed into the scan), is true; likewise the rows themselves.
//! - **Differential**: the engine's answer equals plain DataFusion's over MemTables of the
//!   same rows, and the engine without the simple-statement path answers alike.
//! - **Hot/cold**: queries answer the same before and after `FLUSH TABLE`.
//!
//! The model, atomicity, SQLSTATE and panic checks run with every statement
//! ([`crate::world::World::apply`]); their failures share [`Failure`].

use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;

use crate::model::Model;
use crate::query::{Cols, Gen};
use crate::render::{self, SEP};
use crate::schema::{Kind, Table};
use crate::world::{Answer, DATAFUSION_ERROR, World};

/// Why checks were skipped: the errors, without their numbers, and how often.
/// (count, first query) per reason.
static SKIPS: std::sync::Mutex<std::collections::BTreeMap<String, (u64, String)>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

/// Notes the errors among `answers` (to `sql`) as reasons for a skipped check.
pub fn note_skip(sql: &str, answers: &[&Answer]) {
    let mut skips = SKIPS.lock().unwrap_or_else(|p| p.into_inner());
    for answer in answers {
        if let Answer::Error { code, message } = answer {
            let first = message.lines().map(str::trim).rfind(|l| !l.is_empty() && !l.starts_with("caused by")).unwrap_or_default();
            let text: String = first.chars().filter(|c| !c.is_ascii_digit()).take(110).collect();
            skips.entry(format!("{code} {text}")).or_insert_with(|| (0, sql.to_string())).0 += 1;
        }
    }
}

/// The most frequent reasons for skipped checks, with a query of each.
pub fn skip_reasons(top: usize) -> Vec<(String, u64, String)> {
    let skips = SKIPS.lock().unwrap_or_else(|p| p.into_inner());
    let mut reasons: Vec<(String, u64, String)> = skips.iter().map(|(k, (n, sql))| (k.clone(), *n, sql.clone())).collect();
    reasons.sort_by_key(|r| std::cmp::Reverse(r.1));
    reasons.truncate(top);
    reasons
}

/// Which oracle found a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Oracle {
    Tlp,
    NoRec,
    Differential,
    HotCold,
    /// A write that did not do what the model predicts, or rows that differ from it.
    State,
    /// A failed statement that changed storage.
    Atomicity,
    /// An error without a proper SQLSTATE, or XX000, or another SQLSTATE than expected.
    Sqlstate,
    /// A panic or a hang.
    Panic,
}

impl Oracle {
    pub fn name(self) -> &'static str {
        match self {
            Oracle::Tlp => "TLP",
            Oracle::NoRec => "NoREC",
            Oracle::Differential => "differential",
            Oracle::HotCold => "hot/cold",
            Oracle::State => "model",
            Oracle::Atomicity => "atomicity",
            Oracle::Sqlstate => "SQLSTATE",
            Oracle::Panic => "panic",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Failure {
    pub oracle: Oracle,
    pub message: String,
    /// The query whose own answer is the failure (a bad SQLSTATE, a panic).
    pub sql: Option<String>,
}

impl Failure {
    pub fn new(oracle: Oracle, message: impl Into<String>) -> Failure {
        Failure { oracle, message: message.into(), sql: None }
    }

    pub fn of_statement(oracle: Oracle, message: impl Into<String>, sql: &str) -> Failure {
        Failure { oracle, message: message.into(), sql: Some(sql.to_string()) }
    }

    /// The failure without its numbers and literals, to tell one bug from another.
    pub fn signature(&self) -> String {
        let first = self.message.lines().next().unwrap_or_default();
        let mut text: String = first.chars().filter(|c| !c.is_ascii_digit()).collect();
        if let Some(at) = text.find("SQL:") {
            text.truncate(at);
        }
        let text: String = text.chars().take(120).collect();
        format!("{}: {text}", self.oracle.name())
    }
}

pub enum Verdict {
    Pass,
    /// An error on either side (a legitimate one: e.g. an overflow the predicate causes).
    Skip,
    Fail(Failure),
    /// A TLP or NoREC failure that plain DataFusion shows the same way over the same rows
    /// (each query answers alike on the engine and on MemTables): DataFusion's bug, not
    /// the engine's. Reported once per kind, never minimized, not a failure of the run.
    Upstream(Failure),
}

#[derive(Debug, Clone)]
pub enum Check {
    Tlp {
        label: &'static str,
        whole: String,
        parts: String,
        set: bool,
    },
    NoRecCount {
        filtered: String,
        projected: String,
    },
    NoRecRows {
        filtered: String,
        projected: String,
    },
    Differential {
        sql: String,
        planned: bool,
    },
    HotCold {
        table: String,
        queries: Vec<String>,
    },
    /// `SELECT *` of every table, as every user, against the model.
    Rows,
}

impl Check {
    pub fn oracle(&self) -> Oracle {
        match self {
            Check::Tlp { .. } => Oracle::Tlp,
            Check::NoRecCount { .. } | Check::NoRecRows { .. } => Oracle::NoRec,
            Check::Differential { .. } => Oracle::Differential,
            Check::HotCold { .. } => Oracle::HotCold,
            Check::Rows => Oracle::State,
        }
    }

    /// The statements to show for it.
    pub fn describe(&self) -> Vec<String> {
        match self {
            Check::Tlp { label, whole, parts, .. } => vec![format!("-- TLP ({label})"), whole.clone(), parts.clone()],
            Check::NoRecCount { filtered, projected } | Check::NoRecRows { filtered, projected } => {
                vec!["-- NoREC".into(), filtered.clone(), projected.clone()]
            }
            Check::Differential { sql, planned } => {
                vec![format!("-- differential{}", if *planned { " (and without the simple path)" } else { "" }), sql.clone()]
            }
            Check::HotCold { table, queries } => {
                let mut lines = vec!["-- hot/cold: each query before and after the flush".to_string()];
                lines.extend(queries.iter().cloned());
                lines.push(format!("FLUSH TABLE {}", crate::schema::ident(table)));
                lines.extend(queries.iter().cloned());
                lines
            }
            Check::Rows => vec!["-- SELECT * of every table, as root and as fz, against the model".into()],
        }
    }

    /// The same check with every query run as `scope`'s user.
    fn run_as(self, scope: crate::model::Scope) -> Check {
        let w = |sql: String| scope.wrap(&sql);
        match self {
            Check::Tlp { label, whole, parts, set } => Check::Tlp { label, whole: w(whole), parts: w(parts), set },
            Check::NoRecCount { filtered, projected } => Check::NoRecCount { filtered: w(filtered), projected: w(projected) },
            Check::NoRecRows { filtered, projected } => Check::NoRecRows { filtered: w(filtered), projected: w(projected) },
            Check::Differential { sql, planned } => Check::Differential { sql: w(sql), planned },
            Check::HotCold { table, queries } => Check::HotCold { table, queries: queries.into_iter().map(w).collect() },
            Check::Rows => Check::Rows,
        }
    }

    /// A random check over the world's tables (`None` before any table exists).
    pub fn random(rng: &mut StdRng, model: &Model) -> Option<Check> {
        let tables: Vec<Table> = model.tables.iter().map(|t| t.schema.clone()).collect();
        let table = tables.choose(rng)?.clone();
        let mut g = Gen::new(rng, tables.clone()).with_pool(model, &table.name);
        let cols = Cols { table: &table, alias: None, seq: true, safe: false };
        let t = table.ident();
        let roll = g.rng.random_range(0..100);
        let p = g.predicate(cols, 2);
        let check = if roll < 40 {
            let q = if g.rng.random_bool(0.3) { Some(g.predicate(cols, 1)) } else { None };
            let filter = |part: &str| match &q {
                Some(q) => format!("WHERE ({q}) AND {part}"),
                None => format!("WHERE {part}"),
            };
            let whole_filter = q.as_ref().map(|q| format!(" WHERE {q}")).unwrap_or_default();
            let partitions = [format!("({p})"), format!("(NOT ({p}))"), format!("(({p}) IS NULL)")];
            match g.rng.random_range(0..4) {
                0 => {
                    let list = g.select_list(cols).join(", ");
                    let parts: Vec<String> = partitions.iter().map(|part| format!("SELECT {list} FROM {t} {}", filter(part))).collect();
                    Check::Tlp {
                        label: "plain",
                        whole: format!("SELECT {list} FROM {t}{whole_filter}"),
                        parts: parts.join(" UNION ALL "),
                        set: false,
                    }
                }
                1 => {
                    let list = g.select_list(cols).join(", ");
                    let parts: Vec<String> =
                        partitions.iter().map(|part| format!("SELECT DISTINCT {list} FROM {t} {}", filter(part))).collect();
                    Check::Tlp {
                        label: "distinct",
                        whole: format!("SELECT DISTINCT {list} FROM {t}{whole_filter}"),
                        parts: parts.join(" UNION "),
                        set: true,
                    }
                }
                2 => {
                    let n = g.rng.random_range(1..=3);
                    let aggregates: Vec<(String, String)> = (0..n).map(|i| g.aggregate(cols, &format!("a{i}"), false)).collect();
                    let inner: Vec<String> = aggregates.iter().enumerate().map(|(i, (a, _))| format!("{a} AS a{i}")).collect();
                    let outer: Vec<String> = aggregates.iter().map(|(_, o)| o.clone()).collect();
                    let parts: Vec<String> =
                        partitions.iter().map(|part| format!("SELECT {} FROM {t} {}", inner.join(", "), filter(part))).collect();
                    Check::Tlp {
                        label: "aggregate",
                        whole: format!("SELECT {} FROM {t}{whole_filter}", inner.join(", ")),
                        parts: format!("SELECT {} FROM ({}) AS u", outer.join(", "), parts.join(" UNION ALL ")),
                        set: false,
                    }
                }
                _ => {
                    let key = g.group_key(cols);
                    let n = g.rng.random_range(1..=2);
                    let aggregates: Vec<(String, String)> = (0..n).map(|i| g.aggregate(cols, &format!("a{i}"), true)).collect();
                    let inner: Vec<String> = aggregates.iter().enumerate().map(|(i, (a, _))| format!("{a} AS a{i}")).collect();
                    let outer: Vec<String> = aggregates.iter().map(|(_, o)| o.clone()).collect();
                    let parts: Vec<String> = partitions
                        .iter()
                        .map(|part| format!("SELECT {key} AS g, {} FROM {t} {} GROUP BY {key}", inner.join(", "), filter(part)))
                        .collect();
                    Check::Tlp {
                        label: "group by",
                        whole: format!("SELECT {key}, {} FROM {t}{whole_filter} GROUP BY {key}", inner.join(", ")),
                        parts: format!("SELECT g, {} FROM ({}) AS u GROUP BY g", outer.join(", "), parts.join(" UNION ALL ")),
                        set: false,
                    }
                }
            }
        } else if roll < 70 {
            // NoREC projects the predicate, and DataFusion cannot plan a subquery in a
            // projection (0A000): the predicate here has none.
            g.others.clear();
            let p = g.predicate(cols, 2);
            if roll < 55 {
                Check::NoRecCount {
                    filtered: format!("SELECT COUNT(*) FROM {t} WHERE {p}"),
                    projected: format!("SELECT COALESCE(SUM(CASE WHEN {p} THEN 1 ELSE 0 END), 0) FROM {t}"),
                }
            } else {
                let list = g.select_list(cols).join(", ");
                Check::NoRecRows {
                    filtered: format!("SELECT {list} FROM {t} WHERE {p}"),
                    projected: format!("SELECT {list}, ({p}) IS TRUE FROM {t}"),
                }
            }
        } else {
            let sql = differential_query(&mut g, model, &table);
            let planned = g.rng.random_bool(0.3);
            Check::Differential { sql, planned }
        };
        // Now and then as the second user, on its own rows of USER and STREAM tables.
        if table.kind.per_user() && g.rng.random_bool(0.15) {
            return Some(check.run_as(crate::model::Scope::Fz));
        }
        Some(check)
    }

    pub async fn evaluate(&self, world: &mut World) -> Verdict {
        let verdict = self.evaluate_engine(world).await;
        // An internal error (XX000) that plain DataFusion raises for the same query over
        // the same rows is DataFusion's.
        if let Verdict::Fail(failure) = &verdict
            && let (Oracle::Sqlstate, Some(sql)) = (failure.oracle, &failure.sql)
            && let Some(Answer::Error { message, .. }) = world.query_oracle(sql).await
            && message.contains("Internal error")
        {
            let Verdict::Fail(failure) = verdict else { unreachable!() };
            return Verdict::Upstream(failure);
        }
        let queries: Vec<&String> = match self {
            Check::Tlp { whole, parts, .. } => vec![whole, parts],
            Check::NoRecCount { filtered, projected } | Check::NoRecRows { filtered, projected } => vec![filtered, projected],
            _ => return verdict,
        };
        match verdict {
            Verdict::Fail(failure) if matches!(failure.oracle, Oracle::Tlp | Oracle::NoRec) => {
                for sql in queries {
                    let engine = world.query(sql).await.rows();
                    let plain = world.query_oracle(sql).await.and_then(|a| a.rows());
                    if engine.is_none() || engine != plain {
                        return Verdict::Fail(failure);
                    }
                }
                Verdict::Upstream(failure)
            }
            other => other,
        }
    }

    async fn evaluate_engine(&self, world: &mut World) -> Verdict {
        match self {
            Check::Tlp { label, whole, parts, set } => {
                let a = world.query(whole).await;
                let b = world.query(parts).await;
                compare(Oracle::Tlp, label, (whole, &a), (parts, &b), *set)
            }
            Check::NoRecCount { filtered, projected } => {
                let a = world.query(filtered).await;
                let b = world.query(projected).await;
                compare(Oracle::NoRec, "count", (filtered, &a), (projected, &b), false)
            }
            Check::NoRecRows { filtered, projected } => {
                let a = world.query(filtered).await;
                let b = world.query(projected).await;
                let b = match b {
                    Answer::Rows { .. } => {
                        let mut kept: Vec<String> = b
                            .rows()
                            .unwrap_or_default()
                            .into_iter()
                            .filter_map(|row| match row.rsplit_once(SEP) {
                                Some((rest, "true")) => Some(rest.to_string()),
                                _ => None,
                            })
                            .collect();
                        kept.sort();
                        return compare_rendered(Oracle::NoRec, "rows", (filtered, &a), (projected, Ok(kept)), false);
                    }
                    other => other,
                };
                compare(Oracle::NoRec, "rows", (filtered, &a), (projected, &b), false)
            }
            Check::Differential { sql, planned } => {
                let a = world.query(sql).await;
                if let Some(failure) = a.failure(sql) {
                    return Verdict::Fail(failure);
                }
                let Some(b) = world.query_oracle(sql).await else { return Verdict::Skip };
                if matches!(a, Answer::Error { .. }) || matches!(b, Answer::Error { .. }) {
                    note_skip(sql, &[&a, &b]);
                }
                let verdict = match (&a, &b) {
                    (Answer::Error { .. }, Answer::Error { .. }) => Verdict::Skip,
                    // A data exception (class 22: a cast or an overflow that fails on some
                    // row) depends on which rows the plan evaluates the expression on at
                    // all, which SQL leaves open: a join with an empty side, pruning and a
                    // different join order legitimately evaluate it on other rows.
                    (Answer::Error { code, .. }, Answer::Rows { .. }) | (Answer::Rows { .. }, Answer::Error { code, .. })
                        if code.starts_with("22") =>
                    {
                        Verdict::Skip
                    }
                    // Plain DataFusion refusing (internal or not-implemented error) what the
                    // engine, the same planner over other providers, answered: DataFusion's bug.
                    (Answer::Rows { .. }, Answer::Error { code, .. }) if code == "0A000" || code == DATAFUSION_ERROR => {
                        Verdict::Upstream(Failure::new(
                            Oracle::Differential,
                            format!(
                                "plain DataFusion refused a query the engine answered\n  SQL: {sql}\n  engine:     {}\n  DataFusion: {}",
                                a.describe(),
                                b.describe()
                            ),
                        ))
                    }
                    (Answer::Error { .. }, _) | (_, Answer::Error { .. }) => Verdict::Fail(Failure::new(
                        Oracle::Differential,
                        format!("one side refused the query\n  SQL: {sql}\n  engine:     {}\n  DataFusion: {}", a.describe(), b.describe()),
                    )),
                    _ => compare(Oracle::Differential, "engine vs DataFusion", (sql, &b), (sql, &a), false),
                };
                if !matches!(verdict, Verdict::Pass) || !planned {
                    return verdict;
                }
                let c = world.query_planned(sql).await;
                compare(Oracle::Differential, "simple path vs planner", (sql, &c), (sql, &a), false)
            }
            Check::Rows => match world.check_all_rows().await {
                Ok(()) => Verdict::Pass,
                Err(failure) => Verdict::Fail(failure),
            },
            Check::HotCold { table, queries } => {
                let mut hot = Vec::new();
                for sql in queries {
                    hot.push(world.query(sql).await);
                }
                if let Err(failure) = world.flush(table).await {
                    return Verdict::Fail(failure);
                }
                let mut compared = false;
                for (sql, before) in queries.iter().zip(&hot) {
                    let after = world.query(sql).await;
                    if matches!(before, Answer::Error { .. }) || matches!(after, Answer::Error { .. }) {
                        note_skip(sql, &[before, &after]);
                    }
                    let v = match (before, &after) {
                        (Answer::Error { .. }, Answer::Error { .. }) => Verdict::Skip,
                        // A data exception (an overflow in the predicate, say) may depend on
                        // which rows a scan reads at all; pruning changes that.
                        (Answer::Error { code, .. }, _) | (_, Answer::Error { code, .. }) if code.starts_with("22") => Verdict::Skip,
                        (Answer::Error { .. }, _) | (_, Answer::Error { .. }) => Verdict::Fail(Failure::new(
                            Oracle::HotCold,
                            format!("hot: {}\n  flushed: {}\n  SQL: {sql}", before.describe(), after.describe()),
                        )),
                        _ => compare(Oracle::HotCold, "hot, then flushed", (sql, before), (sql, &after), false),
                    };
                    match v {
                        Verdict::Fail(f) | Verdict::Upstream(f) => return Verdict::Fail(f),
                        Verdict::Skip => {}
                        Verdict::Pass => compared = true,
                    }
                }
                if compared { Verdict::Pass } else { Verdict::Skip }
            }
        }
    }
}

/// Queries for the differential and hot/cold oracles: filters, ORDER BY with LIMIT,
/// aggregates, GROUP BY, joins, subqueries, window functions, set operations, and point
/// lookups by key written as the simple-statement path reads them.
pub fn differential_query(g: &mut Gen, model: &Model, table: &Table) -> String {
    let cols = Cols { table, alias: None, seq: true, safe: false };
    let t = table.ident();
    match g.rng.random_range(0..12) {
        0 | 1 => {
            let list = g.select_list(cols).join(", ");
            format!("SELECT {list} FROM {t} WHERE {}", g.predicate(cols, 2))
        }
        2 => {
            let list = g.select_list(cols);
            let n = g.rng.random_range(0..6);
            format!("SELECT {} FROM {t} WHERE {} ORDER BY {} LIMIT {n}", list.join(", "), g.predicate(cols, 1), list.join(", "))
        }
        3 => {
            let (a, _) = g.aggregate(cols, "x", false);
            let (b, _) = g.aggregate(cols, "y", false);
            format!("SELECT {a} AS x, {b} AS y FROM {t} WHERE {}", g.predicate(cols, 2))
        }
        4 => {
            let key = g.group_key(cols);
            let (a, _) = g.aggregate(cols, "x", true);
            format!("SELECT {key}, {a} AS x, COUNT(*) AS n FROM {t} WHERE {} GROUP BY {key}", g.predicate(cols, 1))
        }
        5 => {
            let others: Vec<Table> = g.others.clone();
            let other = others.choose(g.rng).expect("at least this table").clone();
            let left = Cols { table, alias: Some("l"), seq: true, safe: false };
            let right = Cols { table: &other, alias: Some("r"), seq: true, safe: false };
            let pairs: Vec<(String, String)> = table
                .columns
                .iter()
                .flat_map(|a| other.columns.iter().filter(move |b| b.ty.family() == a.ty.family()).map(move |b| (a.ident(), b.ident())))
                .collect();
            let on = match pairs.choose(g.rng) {
                Some((a, b)) => format!("l.{a} = r.{b}"),
                None => "TRUE".into(),
            };
            let join = *["JOIN", "LEFT JOIN", "RIGHT JOIN", "FULL JOIN"].choose(g.rng).expect("joins");
            let mut list = g.select_list(left);
            list.extend(g.select_list(right));
            format!(
                "SELECT {} FROM {t} l {join} {} r ON {on} WHERE {} OR {}",
                list.join(", "),
                other.ident(),
                g.predicate(left, 1),
                g.predicate(right, 1)
            )
        }
        6 => {
            let c = table.columns.choose(g.rng).expect("columns");
            let key = g.group_key(cols);
            format!("SELECT {}, COUNT(*) OVER (PARTITION BY {key}) FROM {t} WHERE {}", c.ident(), g.predicate(cols, 1))
        }
        7 => {
            let list = g.select_list(cols).join(", ");
            let op = *["UNION", "UNION ALL", "INTERSECT", "EXCEPT"].choose(g.rng).expect("ops");
            format!("SELECT {list} FROM {t} WHERE {} {op} SELECT {list} FROM {t} WHERE {}", g.predicate(cols, 1), g.predicate(cols, 1))
        }
        8 => format!("SELECT COUNT(*), MIN(_seq) < MAX(_seq) FROM {t} WHERE _seq > {}", g.rng.random_range(0..100)),
        // A LIMIT the scan sees (no filter above it): deterministic as a count.
        9 => {
            let list = g.select_list(cols).join(", ");
            format!("SELECT COUNT(*) FROM (SELECT {list} FROM {t} LIMIT {}) AS s", g.rng.random_range(0..8))
        }
        _ => point_lookup(g, model, table),
    }
}

/// `SELECT cols FROM t WHERE k = v [AND ...]` with plain literals, mostly of a key that
/// exists, sometimes of another type than the key's.
fn point_lookup(g: &mut Gen, model: &Model, table: &Table) -> String {
    let keys = table.keys();
    let list: Vec<String> = table.columns.iter().map(|c| c.ident()).collect();
    if keys.is_empty() || table.kind == Kind::Stream {
        let c = table.columns.choose(g.rng).expect("columns");
        return format!("SELECT {} FROM {} WHERE {} = {}", list.join(", "), table.ident(), c.ident(), g.literal(c.ty));
    }
    let rows = model.table(&table.name).map(|m| m.scope_rows(crate::model::Scope::Root).to_vec()).unwrap_or_default();
    let existing = rows.choose(g.rng).filter(|_| g.rng.random_bool(0.7)).cloned();
    let conditions: Vec<String> = keys
        .iter()
        .map(|&k| {
            let c = &table.columns[k];
            let value = match &existing {
                Some(row) => row[k].clone(),
                None => crate::data::Value::random(c.ty, g.rng),
            };
            let literal = match (&value, g.rng.random_range(0..6)) {
                (crate::data::Value::Int(i), 0) => format!("{i}.0"),
                (crate::data::Value::Int(i), 1) => format!("'{i}'"),
                _ => value.literal(c.ty, true),
            };
            format!("{} = {literal}", c.ident())
        })
        .collect();
    format!("SELECT {} FROM {} WHERE {}", list.join(", "), table.ident(), conditions.join(" AND "))
}

fn compare(oracle: Oracle, label: &str, expected: (&str, &Answer), actual: (&str, &Answer), set: bool) -> Verdict {
    for (sql, answer) in [expected, actual] {
        if let Some(failure) = answer.failure(sql) {
            return Verdict::Fail(failure);
        }
    }
    if matches!(actual.1, Answer::Error { .. }) {
        note_skip(actual.0, &[actual.1]);
    }
    let rows = match actual.1 {
        Answer::Rows { .. } => Ok(actual.1.rows().unwrap_or_default()),
        _ => Err(()),
    };
    compare_rendered(oracle, label, expected, (actual.0, rows), set)
}

fn compare_rendered(oracle: Oracle, label: &str, expected: (&str, &Answer), actual: (&str, Result<Vec<String>, ()>), set: bool) -> Verdict {
    if let Some(failure) = expected.1.failure(expected.0) {
        return Verdict::Fail(failure);
    }
    if matches!(expected.1, Answer::Error { .. }) {
        note_skip(expected.0, &[expected.1]);
    }
    let (Some(mut want), Ok(mut got)) = (expected.1.rows(), actual.1) else { return Verdict::Skip };
    if set {
        want.dedup();
        got.dedup();
    }
    if want == got {
        return Verdict::Pass;
    }
    let (missing, extra) = render::difference(&want, &got);
    Verdict::Fail(Failure::new(
        oracle,
        format!(
            "{label}: results differ\n  expected by: {}\n  actual from: {}\n  expected: {}\n  actual:   {}\n  missing: {}\n  extra:   {}",
            expected.0,
            actual.0,
            render::show_rows(&want),
            render::show_rows(&got),
            render::show_rows(&missing),
            render::show_rows(&extra)
        ),
    ))
}
