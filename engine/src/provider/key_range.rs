//! Turns filters on the first primary-key column into RocksDB key ranges.
//!
//! Supported shapes: `k = v`, `k < v`, `k <= v`, `k > v`, `k >= v` (either side),
//! `k BETWEEN a AND b`, `k IN (v, ...)`, and conjunctions of these across filters. The
//! filters stay in the plan (pushdown is `Inexact`), so a range only has to be a superset
//! of the matching keys; anything not understood simply does not narrow the scan.

use std::ops::Bound;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{Between, BinaryExpr, Expr, Operator, expr::InList};

use crate::storage::key_codec::encode_scalar;
use crate::storage::keys::prefix_upper_bound;

/// An interval of encoded first-key-column values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInterval {
    pub lower: Bound<Vec<u8>>,
    pub upper: Bound<Vec<u8>>,
}

impl KeyInterval {
    pub fn all() -> Self {
        KeyInterval { lower: Bound::Unbounded, upper: Bound::Unbounded }
    }

    fn point(value: Vec<u8>) -> Self {
        KeyInterval { lower: Bound::Included(value.clone()), upper: Bound::Included(value) }
    }

    /// The single encoded value this interval holds, if it is a point.
    pub fn as_point(&self) -> Option<&[u8]> {
        match (&self.lower, &self.upper) {
            (Bound::Included(lower), Bound::Included(upper)) if lower == upper => Some(lower),
            _ => None,
        }
    }

    /// The RocksDB byte range `[start, end)` of this interval under `scope_prefix`.
    /// Included/excluded bounds on a value cover every composite key that starts with it.
    pub fn to_byte_range(&self, scope_prefix: &[u8]) -> (Vec<u8>, Option<Vec<u8>>) {
        let join = |suffix: &[u8]| [scope_prefix, suffix].concat();
        let start = match &self.lower {
            Bound::Unbounded => scope_prefix.to_vec(),
            Bound::Included(v) => join(v),
            Bound::Excluded(v) => match prefix_upper_bound(v) {
                Some(after) => join(&after),
                None => prefix_upper_bound(scope_prefix).unwrap_or_default(),
            },
        };
        let end = match &self.upper {
            Bound::Unbounded => prefix_upper_bound(scope_prefix),
            Bound::Excluded(v) => Some(join(v)),
            Bound::Included(v) => match prefix_upper_bound(v) {
                Some(after) => Some(join(&after)),
                None => prefix_upper_bound(scope_prefix),
            },
        };
        (start, end)
    }

    fn is_empty(&self) -> bool {
        match (&self.lower, &self.upper) {
            (Bound::Included(l), Bound::Included(u)) => l > u,
            (Bound::Included(l), Bound::Excluded(u))
            | (Bound::Excluded(l), Bound::Included(u))
            | (Bound::Excluded(l), Bound::Excluded(u)) => l >= u,
            _ => false,
        }
    }

    fn intersect(&self, other: &KeyInterval) -> KeyInterval {
        KeyInterval { lower: tighter(&self.lower, &other.lower, true), upper: tighter(&self.upper, &other.upper, false) }
    }
}

fn tighter(a: &Bound<Vec<u8>>, b: &Bound<Vec<u8>>, lower: bool) -> Bound<Vec<u8>> {
    let value = |bound: &Bound<Vec<u8>>| match bound {
        Bound::Included(v) | Bound::Excluded(v) => Some(v.clone()),
        Bound::Unbounded => None,
    };
    match (value(a), value(b)) {
        (None, _) => b.clone(),
        (_, None) => a.clone(),
        (Some(x), Some(y)) => {
            if x == y {
                // Excluded is tighter than included at the same value.
                if matches!(a, Bound::Excluded(_)) { a.clone() } else { b.clone() }
            } else if (x > y) == lower {
                a.clone()
            } else {
                b.clone()
            }
        }
    }
}

/// Whether a filter narrows the key range of a table whose first key column is
/// `column` of type `data_type`.
pub fn understands(filter: &Expr, column: &str, data_type: &DataType) -> bool {
    intervals_of(filter, column, data_type).is_some()
}

/// The union of intervals the conjunction of `filters` allows (sorted, may overlap).
pub fn key_intervals(filters: &[Expr], column: &str, data_type: &DataType) -> Vec<KeyInterval> {
    let mut result = vec![KeyInterval::all()];
    for filter in filters {
        let Some(intervals) = intervals_of(filter, column, data_type) else { continue };
        let mut next = Vec::new();
        for a in &result {
            for b in &intervals {
                let both = a.intersect(b);
                if !both.is_empty() {
                    next.push(both);
                }
            }
        }
        result = next;
    }
    result.sort_by(|a, b| bound_order(&a.lower, &b.lower));
    result.dedup();
    result
}

fn bound_order(a: &Bound<Vec<u8>>, b: &Bound<Vec<u8>>) -> std::cmp::Ordering {
    match (a, b) {
        (Bound::Unbounded, Bound::Unbounded) => std::cmp::Ordering::Equal,
        (Bound::Unbounded, _) => std::cmp::Ordering::Less,
        (_, Bound::Unbounded) => std::cmp::Ordering::Greater,
        (Bound::Included(x) | Bound::Excluded(x), Bound::Included(y) | Bound::Excluded(y)) => x.cmp(y),
    }
}

fn intervals_of(filter: &Expr, column: &str, data_type: &DataType) -> Option<Vec<KeyInterval>> {
    match filter {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            let (value, op) = if is_column(left, column) {
                (literal(right, data_type)?, *op)
            } else if is_column(right, column) {
                (literal(left, data_type)?, op.swap()?)
            } else {
                return None;
            };
            Some(vec![match op {
                Operator::Eq => KeyInterval::point(value),
                Operator::Lt => KeyInterval { lower: Bound::Unbounded, upper: Bound::Excluded(value) },
                Operator::LtEq => KeyInterval { lower: Bound::Unbounded, upper: Bound::Included(value) },
                Operator::Gt => KeyInterval { lower: Bound::Excluded(value), upper: Bound::Unbounded },
                Operator::GtEq => KeyInterval { lower: Bound::Included(value), upper: Bound::Unbounded },
                _ => return None,
            }])
        }
        Expr::Between(Between { expr, negated: false, low, high }) if is_column(expr, column) => {
            Some(vec![KeyInterval { lower: Bound::Included(literal(low, data_type)?), upper: Bound::Included(literal(high, data_type)?) }])
        }
        Expr::InList(InList { expr, list, negated: false }) if is_column(expr, column) => {
            list.iter().map(|item| literal(item, data_type).map(KeyInterval::point)).collect()
        }
        _ => None,
    }
}

fn is_column(expr: &Expr, column: &str) -> bool {
    matches!(expr, Expr::Column(c) if c.name == column)
}

/// The encoded key value of a literal, if it converts to the column type without loss.
fn literal(expr: &Expr, data_type: &DataType) -> Option<Vec<u8>> {
    let Expr::Literal(value, _) = expr else { return None };
    if value.is_null() {
        return None;
    }
    let converted = value.cast_to(data_type).ok()?;
    let back = converted.cast_to(&value.data_type()).ok()?;
    if back != *value && !matches!(value, ScalarValue::Utf8(_) | ScalarValue::Utf8View(_) | ScalarValue::LargeUtf8(_)) {
        return None;
    }
    let mut out = Vec::new();
    encode_scalar(&converted, &mut out).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::logical_expr::{col, lit};

    fn encoded(v: i32) -> Vec<u8> {
        let mut out = Vec::new();
        encode_scalar(&ScalarValue::Int32(Some(v)), &mut out).unwrap();
        out
    }

    #[test]
    fn equality_is_a_point() {
        let ranges = key_intervals(&[col("id").eq(lit(5i32))], "id", &DataType::Int32);
        assert_eq!(ranges, vec![KeyInterval::point(encoded(5))]);
    }

    #[test]
    fn conjunctions_intersect_and_contradictions_are_empty() {
        let ranges = key_intervals(&[col("id").gt(lit(3i32)), col("id").lt_eq(lit(9i32))], "id", &DataType::Int32);
        assert_eq!(ranges, vec![KeyInterval { lower: Bound::Excluded(encoded(3)), upper: Bound::Included(encoded(9)) }]);
        assert!(key_intervals(&[col("id").gt(lit(9i32)), col("id").lt(lit(3i32))], "id", &DataType::Int32).is_empty());
    }

    #[test]
    fn in_lists_are_points_and_reversed_comparisons_work() {
        let ranges = key_intervals(&[col("id").in_list(vec![lit(2i32), lit(1i32)], false)], "id", &DataType::Int32);
        assert_eq!(ranges.len(), 2);
        let reversed = key_intervals(&[lit(4i32).gt(col("id"))], "id", &DataType::Int32);
        assert_eq!(reversed, vec![KeyInterval { lower: Bound::Unbounded, upper: Bound::Excluded(encoded(4)) }]);
    }

    #[test]
    fn lossy_literals_and_other_columns_do_not_narrow() {
        assert!(!understands(&col("id").eq(lit(5.5f64)), "id", &DataType::Int32));
        assert!(!understands(&col("other").eq(lit(5i32)), "id", &DataType::Int32));
        assert_eq!(key_intervals(&[col("other").eq(lit(1i32))], "id", &DataType::Int32), vec![KeyInterval::all()]);
    }

    #[test]
    fn byte_ranges_cover_composite_keys() {
        let (start, end) = KeyInterval::point(vec![7]).to_byte_range(&[1]);
        assert_eq!(start, vec![1, 7]);
        assert_eq!(end, Some(vec![1, 8]));
    }
}
