//! Recognises, in a parsed UPDATE statement, the shape the engine runs itself:
//! `UPDATE t SET c = <expression>, ... WHERE k = v [AND k2 = v2 ...]` with literals on the
//! right of the equalities and no alias, FROM, RETURNING, ORDER BY or LIMIT. DataFusion
//! plans the SET expressions (`exec::simple::try_update`); only their surroundings are
//! checked here.

use std::borrow::Cow;

use datafusion::sql::sqlparser::ast;

use crate::sql::parser::{ObjectRef, ident_name};
use crate::sql::simple::{Equality, Literal, number};

/// An UPDATE the engine runs itself: `UPDATE t SET c = <expression>, ... WHERE k = v [AND ...]`
/// with no alias, FROM, RETURNING, ORDER BY or LIMIT. The expressions are DataFusion's to
/// plan; only their shape around them is checked here.
#[derive(Debug)]
pub struct SimpleUpdate<'s> {
    pub table: ObjectRef,
    /// Target column as written (DataFusion matches UPDATE targets without normalising
    /// them) and the new value.
    pub assignments: Vec<(&'s str, &'s ast::Expr)>,
    pub filter: Vec<Equality<'s>>,
}

/// Recognises a parsed UPDATE statement as a [`SimpleUpdate`].
pub fn recognize_update(update: &ast::Update) -> Option<SimpleUpdate<'_>> {
    let ast::Update {
        update_token: _,
        optimizer_hints,
        table,
        assignments,
        from: None,
        selection: Some(selection),
        returning: None,
        output: None,
        or: None,
        order_by,
        limit: None,
    } = update
    else {
        return None;
    };
    if !optimizer_hints.is_empty() || !table.joins.is_empty() || !order_by.is_empty() {
        return None;
    }
    let ast::TableFactor::Table {
        name,
        alias: None,
        args: None,
        with_hints,
        version: None,
        with_ordinality: false,
        partitions,
        json_path: None,
        sample: None,
        index_hints,
    } = &table.relation
    else {
        return None;
    };
    if !with_hints.is_empty() || !partitions.is_empty() || !index_hints.is_empty() {
        return None;
    }
    let table = match name.0.as_slice() {
        [table] => ObjectRef { namespace: None, name: ident_name(table.as_ident()?) },
        [namespace, table] => ObjectRef { namespace: Some(ident_name(namespace.as_ident()?)), name: ident_name(table.as_ident()?) },
        _ => return None,
    };
    let mut targets = Vec::with_capacity(assignments.len());
    for assignment in assignments {
        let ast::AssignmentTarget::ColumnName(column) = &assignment.target else { return None };
        let [column] = column.0.as_slice() else { return None };
        let column = column.as_ident()?.value.as_str();
        if targets.iter().any(|(c, _)| *c == column) {
            return None;
        }
        targets.push((column, &assignment.value));
    }
    let mut filter = Vec::new();
    equalities(selection, &mut filter)?;
    Some(SimpleUpdate { table, assignments: targets, filter })
}

/// `c = v [AND c = v ...]` as parsed.
fn equalities<'s>(expr: &'s ast::Expr, out: &mut Vec<Equality<'s>>) -> Option<()> {
    let ast::Expr::BinaryOp { left, op, right } = expr else { return None };
    match op {
        ast::BinaryOperator::And => {
            equalities(left, out)?;
            equalities(right, out)
        }
        ast::BinaryOperator::Eq => {
            let ast::Expr::Identifier(column) = left.as_ref() else { return None };
            let literal = match right.as_ref() {
                ast::Expr::Value(value) => match &value.value {
                    ast::Value::Number(digits, false) => number(digits, false)?,
                    ast::Value::SingleQuotedString(text) => Literal::Text(Cow::Borrowed(text)),
                    _ => return None,
                },
                ast::Expr::UnaryOp { op: ast::UnaryOperator::Minus, expr } => match expr.as_ref() {
                    ast::Expr::Value(ast::ValueWithSpan { value: ast::Value::Number(digits, false), .. }) => number(digits, true)?,
                    _ => return None,
                },
                _ => return None,
            };
            out.push((ident_name(column), literal));
            Some(())
        }
        _ => None,
    }
}
