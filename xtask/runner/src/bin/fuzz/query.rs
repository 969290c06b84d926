//! Random predicates and queries over the current schemas: comparisons with literals of
//! the column's type and of other numeric types, NULL tests, BETWEEN, IN lists with NULLs,
//! LIKE, string functions, NaN tests, column against column, CASE, COALESCE, IS [NOT]
//! DISTINCT FROM, `_seq` bounds, subqueries; combined with NOT, AND, OR and the IS
//! TRUE/FALSE/UNKNOWN tests. Generation is string building only (no parsing), so it is far
//! cheaper than running what it builds.

use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;

use crate::data::{Ty, Value};
use crate::schema::{Column, Table};

/// The columns a predicate may name: one table, maybe under an alias.
#[derive(Clone, Copy)]
pub struct Cols<'a> {
    pub table: &'a Table,
    pub alias: Option<&'a str>,
    /// `_seq` may be named (not in the model's own evaluation).
    pub seq: bool,
    /// Only expressions that cannot fail at run time (no arithmetic, no casts of text).
    pub safe: bool,
}

impl Cols<'_> {
    pub fn col(&self, c: &Column) -> String {
        match self.alias {
            Some(a) => format!("{a}.{}", c.ident()),
            None => c.ident(),
        }
    }
}

const OPS: [&str; 6] = ["=", "<>", "<", "<=", ">", ">="];
const LIKE_PATTERNS: [&str; 10] = ["a%", "%a", "_", "%", "A_", "%ä%", "a\\_%", "%b%", "", "a"];

pub struct Gen<'r> {
    pub rng: &'r mut StdRng,
    /// Other tables, for subqueries.
    pub others: Vec<Table>,
    /// Values the table holds now, per column name: literals taken from them sit on the
    /// edges that pruning decides (a segment's minimum, its maximum, a value itself).
    pub pool: std::collections::HashMap<String, Vec<Value>>,
}

impl<'r> Gen<'r> {
    pub fn new(rng: &'r mut StdRng, others: Vec<Table>) -> Gen<'r> {
        Gen { rng, others, pool: Default::default() }
    }

    /// With the values of one scope of a table of the model, for [`Gen::literal_for`].
    pub fn with_pool(mut self, model: &crate::model::Model, table: &str) -> Gen<'r> {
        if let Some(t) = model.table(table) {
            let all = t.scope_rows(crate::model::Scope::Root);
            // A sample of a big table is enough (and cheap).
            let rows: Vec<&Vec<Value>> =
                if all.len() <= 64 { all.iter().collect() } else { (0..64).map(|_| &all[self.rng.random_range(0..all.len())]).collect() };
            for (index, column) in t.schema.columns.iter().enumerate() {
                let values: Vec<Value> = rows.iter().map(|r| r[index].clone()).filter(|v| !v.is_null()).collect();
                if !values.is_empty() {
                    self.pool.insert(column.name.clone(), values);
                }
            }
        }
        self
    }
}

impl Gen<'_> {
    fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        items.choose(self.rng).expect("not empty")
    }

    /// A literal of `ty`, NULL now and then.
    pub fn literal(&mut self, ty: Ty) -> String {
        let value = if self.chance(0.05) { Value::Null } else { Value::random(ty, self.rng) };
        let plain = self.chance(0.6);
        value.literal(ty, plain)
    }

    /// A literal for comparing with column `c`: often one of the values it holds.
    pub fn literal_for(&mut self, c: &Column) -> String {
        if self.chance(0.4)
            && let Some(values) = self.pool.get(&c.name)
        {
            let value = values.choose(self.rng).expect("not empty").clone();
            let plain = self.chance(0.6);
            return value.literal(c.ty, plain);
        }
        self.literal(c.ty)
    }

    /// A literal of a different numeric type than `ty` (coercion in comparisons and
    /// pushed-down filters).
    fn foreign_numeric(&mut self, ty: Ty) -> String {
        let other = *self.pick(&[Ty::TinyInt, Ty::BigInt, Ty::UBigInt, Ty::Double, Ty::Real, Ty::Decimal]);
        if other == ty {
            return self.literal(ty);
        }
        let value = Value::random(other, self.rng);
        value.literal(other, self.chance(0.5))
    }

    /// A boolean expression over `scope`.
    pub fn predicate(&mut self, scope: Cols, depth: u32) -> String {
        if depth == 0 || self.chance(0.45) {
            // Parenthesized: the SQL parser binds `IS DISTINCT FROM x AND y` as
            // `IS DISTINCT FROM (x AND y)`.
            return format!("({})", self.leaf(scope, depth));
        }
        match self.rng.random_range(0..10) {
            0..=2 => format!("({} AND {})", self.predicate(scope, depth - 1), self.predicate(scope, depth - 1)),
            3..=5 => format!("({} OR {})", self.predicate(scope, depth - 1), self.predicate(scope, depth - 1)),
            6 | 7 => format!("(NOT {})", self.predicate(scope, depth - 1)),
            8 => {
                let test = *self.pick(&["IS TRUE", "IS FALSE", "IS NOT TRUE", "IS NOT FALSE", "IS UNKNOWN", "IS NOT UNKNOWN"]);
                format!("(({}) {test})", self.predicate(scope, depth - 1))
            }
            _ => format!(
                "(CASE WHEN {} THEN {} ELSE {} END)",
                self.predicate(scope, depth - 1),
                self.predicate(scope, depth - 1),
                self.predicate(scope, depth - 1)
            ),
        }
    }

    fn leaf(&mut self, scope: Cols, depth: u32) -> String {
        let columns = &scope.table.columns;
        let c = columns.choose(self.rng).expect("a table has columns").clone();
        let col = scope.col(&c);
        let ty = c.ty;
        match self.rng.random_range(0..24) {
            0..=5 => {
                let op = *self.pick(&OPS);
                format!("{col} {op} {}", self.literal_for(&c))
            }
            6 => format!("{col} IS {}NULL", if self.chance(0.5) { "NOT " } else { "" }),
            7 => {
                let not = if self.chance(0.3) { "NOT " } else { "" };
                format!("{col} {not}BETWEEN {} AND {}", self.literal_for(&c), self.literal_for(&c))
            }
            8 => {
                let n = self.rng.random_range(1..=4);
                let items: Vec<String> = (0..n).map(|_| self.literal_for(&c)).collect();
                let not = if self.chance(0.3) { "NOT " } else { "" };
                format!("{col} {not}IN ({})", items.join(", "))
            }
            9 | 10 => {
                // Column against column of the same family.
                let same: Vec<&Column> = columns.iter().filter(|d| d.ty.family() == ty.family()).collect();
                let d = (*self.pick(&same)).clone();
                let op = *self.pick(&OPS);
                format!("{col} {op} {}", scope.col(&d))
            }
            11 if ty.is_numeric() => {
                let op = *self.pick(&OPS);
                format!("{col} {op} {}", self.foreign_numeric(ty))
            }
            12 => format!("{col} IS {}DISTINCT FROM {}", if self.chance(0.5) { "NOT " } else { "" }, self.literal_for(&c)),
            13 => {
                let op = *self.pick(&OPS);
                // Typed: COALESCE does not coerce a string to a date or timestamp.
                let first = Value::random(ty, self.rng).literal(ty, false);
                format!("COALESCE({col}, {first}) {op} {}", self.literal(ty))
            }
            14 => (*self.pick(&["TRUE", "FALSE", "CAST(NULL AS BOOLEAN)"])).to_string(),
            15 if scope.seq => {
                let op = *self.pick(&OPS);
                let seq = match scope.alias {
                    Some(a) => format!("{a}._seq"),
                    None => "_seq".into(),
                };
                format!("{seq} {op} {}", self.rng.random_range(0..120))
            }
            16 if depth > 0 && !scope.safe && !self.others.is_empty() => self.subquery(scope, &c),
            _ => self.typed_leaf(scope, &c),
        }
    }

    /// A test that only makes sense for the column's type.
    fn typed_leaf(&mut self, scope: Cols, c: &Column) -> String {
        let col = scope.col(c);
        let op = *self.pick(&OPS);
        match c.ty {
            Ty::Text => match self.rng.random_range(0..8) {
                0 => format!("{col} {}LIKE '{}'", if self.chance(0.3) { "NOT " } else { "" }, self.pick(&LIKE_PATTERNS)),
                1 => format!("{col} ILIKE '{}'", self.pick(&LIKE_PATTERNS)),
                2 => format!("lower({col}) {op} {}", self.literal(Ty::Text)),
                3 => format!("upper({col}) {op} {}", self.literal(Ty::Text)),
                4 => format!("character_length({col}) {op} {}", self.rng.random_range(0..4)),
                5 => format!("{col} || 'x' {op} {}", self.literal(Ty::Text)),
                6 => format!("starts_with({col}, {})", self.literal(Ty::Text)),
                _ => format!("trim({col}) = {}", self.literal(Ty::Text)),
            },
            Ty::Real | Ty::Double => match self.rng.random_range(0..4) {
                0 => format!("isnan({col})"),
                1 => format!("{col} {op} CAST('NaN' AS DOUBLE)"),
                2 if !scope.safe => format!("{col} * 2 {op} {}", self.literal(c.ty)),
                _ => format!("abs({col}) {op} {}", self.literal(c.ty)),
            },
            t if t.is_int() => match self.rng.random_range(0..3) {
                0 => format!("{col} % 3 {op} {}", self.rng.random_range(-2..=2)),
                1 if !scope.safe => format!("{col} + 1 {op} {}", self.literal(t)),
                _ => format!("CAST({col} AS DOUBLE) {op} {}", self.literal(Ty::Double)),
            },
            Ty::Decimal => format!("CAST({col} AS DOUBLE) {op} {}", self.literal(Ty::Double)),
            Ty::Bool => (*self.pick(&[col.clone(), format!("NOT {col}"), format!("{col} = TRUE"), format!("{col} IS NOT FALSE")])).clone(),
            Ty::Date => match self.rng.random_range(0..2) {
                0 => format!("{col} {op} '2024-01-01'"),
                _ => format!("{col} {op} {}", self.literal(Ty::Date)),
            },
            Ty::Timestamp => match self.rng.random_range(0..2) {
                0 => format!("{col} {op} '2024-01-01 00:00:00'"),
                _ => format!("{col} {op} {}", self.literal(Ty::Timestamp)),
            },
            _ => format!("{col} IS NULL"),
        }
    }

    /// `c IN (SELECT d FROM other WHERE ...)` or a correlated EXISTS.
    fn subquery(&mut self, scope: Cols, c: &Column) -> String {
        let others = self.others.clone();
        let other = self.pick(&others).clone();
        let same: Vec<&Column> = other.columns.iter().filter(|d| d.ty.family() == c.ty.family()).collect();
        let Some(d) = same.choose(self.rng).map(|d| (*d).clone()) else {
            return format!("{} IS NULL", scope.col(c));
        };
        let inner = Cols { table: &other, alias: Some("sq"), seq: false, safe: false };
        let filter = self.predicate(inner, 0);
        let col = scope.col(c);
        if self.chance(0.5) {
            let not = if self.chance(0.3) { "NOT " } else { "" };
            format!("{col} {not}IN (SELECT sq.{} FROM {} sq WHERE {filter})", d.ident(), other.ident())
        } else {
            format!("EXISTS (SELECT 1 FROM {} sq WHERE sq.{} = {col} AND {filter})", other.ident(), d.ident())
        }
    }

    /// A non-empty list of distinct columns or expressions over them.
    pub fn select_list(&mut self, scope: Cols) -> Vec<String> {
        let columns = &scope.table.columns;
        let n = self.rng.random_range(1..=columns.len().min(4));
        let chosen: Vec<Column> = columns.choose_multiple(self.rng, n).cloned().collect();
        let mut list = Vec::new();
        for c in chosen {
            let col = scope.col(&c);
            let item = if self.chance(0.15) {
                match c.ty {
                    Ty::Text => format!("lower({col})"),
                    t if t.is_int() && !scope.safe => format!("{col} % 4"),
                    Ty::Real | Ty::Double => format!("{col} = 0"),
                    _ => format!("{col} IS NULL"),
                }
            } else {
                col
            };
            list.push(item);
        }
        list
    }

    /// An aggregate over the table's columns and how its partial results combine:
    /// (aggregate, combination of partials named `alias`).
    ///
    /// `grouped`: the aggregate is computed per group. DataFusion 55's grouped MIN and MAX
    /// of floats compare with `partial_cmp` (`PrimitiveGroupsAccumulator`): a NaN replaces
    /// the value so far and the next value replaces the NaN, so the answer depends on row
    /// order, which no oracle may hold against the engine (its scans order rows by key, by
    /// segment, by thread). There, NaN is taken out of the argument (the ungrouped MIN and
    /// MAX compare totally, NaN largest, and keep it).
    pub fn aggregate(&mut self, scope: Cols, alias: &str, grouped: bool) -> (String, String) {
        let columns = &scope.table.columns;
        let c = columns.choose(self.rng).expect("columns").clone();
        let col =
            if grouped && c.ty.is_float() { format!("CASE WHEN isnan({0}) THEN NULL ELSE {0} END", scope.col(&c)) } else { scope.col(&c) };
        match self.rng.random_range(0..6) {
            0 => ("COUNT(*)".into(), format!("SUM({alias})")),
            1 => (format!("COUNT({col})"), format!("SUM({alias})")),
            2 => (format!("MIN({col})"), format!("MIN({alias})")),
            3 => (format!("MAX({col})"), format!("MAX({alias})")),
            _ => {
                let summable: Vec<&Column> = columns.iter().filter(|c| c.ty.exact_sum()).collect();
                match summable.choose(self.rng) {
                    Some(s) => (format!("SUM({})", scope.col(s)), format!("SUM({alias})")),
                    None => (format!("MAX({col})"), format!("MAX({alias})")),
                }
            }
        }
    }

    /// A grouping expression.
    pub fn group_key(&mut self, scope: Cols) -> String {
        let c = scope.table.columns.choose(self.rng).expect("columns").clone();
        let col = scope.col(&c);
        match c.ty {
            t if t.is_int() && self.chance(0.3) => format!("{col} % 3"),
            Ty::Text if self.chance(0.3) => format!("lower({col})"),
            Ty::Real | Ty::Double if self.chance(0.3) => format!("isnan({col})"),
            _ => col,
        }
    }
}
