//! Keeps system columns out of `*` in statements that expose them.
//!
//! A statement that names a system column sees it in the schema of every engine table it
//! reads (see [`crate::provider::Exposure`]). So that `SELECT *` still means "the user
//! columns", every wildcard over such a table gets an `EXCLUDE` of the exposed columns:
//! `*` over a single relation becomes `* EXCLUDE (...)`; `*` over several relations is
//! spelled out as one qualified wildcard per relation, in FROM order; `t.*` gets the
//! `EXCLUDE` directly. (Spelling `*` out per relation shows both sides of a
//! `JOIN ... USING` column, unlike plain `*`; see the README's compatibility notes.)

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    ExcludeSelectItem, Ident, ObjectName, ObjectNamePart, Query, Select, SelectItem, SelectItemQualifiedWildcardKind, SetExpr, Statement,
    TableFactor, VisitMut, VisitorMut, WildcardAdditionalOptions,
};

use crate::catalog::SystemColumn;
use crate::sql::parser::{ObjectRef, ident_name, object_ref};

/// Rewrites the wildcards of `statement`. `exposed` answers, for a table reference, which
/// system columns its provider will expose in this statement (empty for non-engine tables).
pub fn exclude_system_columns_from_wildcards(statement: &mut Statement, exposed: &dyn Fn(&ObjectRef) -> Vec<SystemColumn>) {
    let mut visitor = WildcardRewriter { exposed };
    let _ = statement.visit(&mut visitor);
}

struct WildcardRewriter<'a> {
    exposed: &'a dyn Fn(&ObjectRef) -> Vec<SystemColumn>,
}

impl VisitorMut for WildcardRewriter<'_> {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        self.rewrite_set_expr(&mut query.body);
        ControlFlow::Continue(())
    }
}

/// One relation of a FROM clause.
struct Relation {
    /// How `*` of this relation is qualified (`alias` or the table name), if it can be.
    qualifier: Option<ObjectName>,
    excluded: Vec<SystemColumn>,
}

impl WildcardRewriter<'_> {
    fn rewrite_set_expr(&self, body: &mut SetExpr) {
        match body {
            SetExpr::Select(select) => self.rewrite_select(select),
            SetExpr::SetOperation { left, right, .. } => {
                self.rewrite_set_expr(left);
                self.rewrite_set_expr(right);
            }
            _ => {}
        }
    }

    fn relation(&self, factor: &TableFactor) -> Relation {
        match factor {
            TableFactor::Table { name, alias, .. } => {
                let excluded = object_ref(name).map(|r| (self.exposed)(&r)).unwrap_or_default();
                let qualifier = match alias {
                    Some(alias) => Some(ObjectName(vec![ObjectNamePart::Identifier(alias.name.clone())])),
                    None => Some(name.clone()),
                };
                Relation { qualifier, excluded }
            }
            TableFactor::Derived { alias, .. }
            | TableFactor::TableFunction { alias, .. }
            | TableFactor::UNNEST { alias, .. }
            | TableFactor::NestedJoin { alias, .. }
            | TableFactor::Function { alias, .. } => Relation {
                qualifier: alias.as_ref().map(|a| ObjectName(vec![ObjectNamePart::Identifier(a.name.clone())])),
                excluded: Vec::new(),
            },
            _ => Relation { qualifier: None, excluded: Vec::new() },
        }
    }

    fn rewrite_select(&self, select: &mut Select) {
        let mut relations = Vec::new();
        for table in &select.from {
            relations.push(self.relation(&table.relation));
            for join in &table.joins {
                relations.push(self.relation(&join.relation));
            }
        }
        if relations.iter().all(|r| r.excluded.is_empty()) {
            return;
        }
        let mut items = Vec::with_capacity(select.projection.len());
        for item in std::mem::take(&mut select.projection) {
            match item {
                SelectItem::Wildcard(options) if relations.len() == 1 => {
                    items.push(SelectItem::Wildcard(with_exclusions(options, &relations[0].excluded)));
                }
                SelectItem::Wildcard(options) if is_plain(&options) && relations.iter().all(|r| r.qualifier.is_some()) => {
                    for relation in &relations {
                        items.push(SelectItem::QualifiedWildcard(
                            SelectItemQualifiedWildcardKind::ObjectName(relation.qualifier.clone().expect("checked above")),
                            with_exclusions(options.clone(), &relation.excluded),
                        ));
                    }
                }
                SelectItem::Wildcard(options) => {
                    let all: Vec<SystemColumn> = relations.iter().flat_map(|r| r.excluded.clone()).collect();
                    items.push(SelectItem::Wildcard(with_exclusions(options, &all)));
                }
                SelectItem::QualifiedWildcard(SelectItemQualifiedWildcardKind::ObjectName(name), options) => {
                    let excluded = relations
                        .iter()
                        .find(|r| r.qualifier.as_ref().is_some_and(|q| same_qualifier(q, &name)))
                        .map(|r| r.excluded.clone())
                        .unwrap_or_default();
                    items.push(SelectItem::QualifiedWildcard(
                        SelectItemQualifiedWildcardKind::ObjectName(name),
                        with_exclusions(options, &excluded),
                    ));
                }
                other => items.push(other),
            }
        }
        select.projection = items;
    }
}

fn is_plain(options: &WildcardAdditionalOptions) -> bool {
    options.opt_ilike.is_none()
        && options.opt_exclude.is_none()
        && options.opt_except.is_none()
        && options.opt_replace.is_none()
        && options.opt_rename.is_none()
        && options.opt_alias.is_none()
}

fn same_qualifier(a: &ObjectName, b: &ObjectName) -> bool {
    match (object_ref(a), object_ref(b)) {
        (Ok(a), Ok(b)) => a.name == b.name && (a.namespace.is_none() || b.namespace.is_none() || a.namespace == b.namespace),
        _ => false,
    }
}

fn with_exclusions(mut options: WildcardAdditionalOptions, columns: &[SystemColumn]) -> WildcardAdditionalOptions {
    if columns.is_empty() {
        return options;
    }
    let mut names: Vec<ObjectName> = match options.opt_exclude.take() {
        Some(ExcludeSelectItem::Single(name)) => vec![name],
        Some(ExcludeSelectItem::Multiple(names)) => names,
        None => Vec::new(),
    };
    for column in columns {
        let already = names.iter().any(|n| n.0.len() == 1 && n.0[0].as_ident().is_some_and(|i| ident_name(i) == column.name()));
        if !already {
            names.push(ObjectName(vec![ObjectNamePart::Identifier(Ident::new(column.name()))]));
        }
    }
    options.opt_exclude = Some(ExcludeSelectItem::Multiple(names));
    options
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::parser::{EngineStatement, parse_statements};
    use datafusion::sql::sqlparser::dialect::GenericDialect;

    fn rewrite(sql: &str) -> String {
        let EngineStatement::Sql { mut statement, .. } = parse_statements(sql, &GenericDialect {}).unwrap().remove(0) else {
            panic!("not a DataFusion statement")
        };
        exclude_system_columns_from_wildcards(&mut statement, &|r: &ObjectRef| {
            if r.name.starts_with('t') { vec![SystemColumn::Seq, SystemColumn::Deleted] } else { vec![] }
        });
        statement.to_string()
    }

    #[test]
    fn single_relation_wildcards_get_an_exclude() {
        assert_eq!(rewrite("SELECT * FROM t WHERE _seq > 1"), "SELECT * EXCLUDE (_seq, _deleted) FROM t WHERE _seq > 1");
    }

    #[test]
    fn joins_are_spelled_out_per_relation() {
        assert_eq!(
            rewrite("SELECT * FROM t AS a JOIN u ON a.id = u.id"),
            "SELECT a.* EXCLUDE (_seq, _deleted), u.* FROM t AS a JOIN u ON a.id = u.id"
        );
    }

    #[test]
    fn qualified_wildcards_and_subqueries_are_rewritten() {
        assert_eq!(
            rewrite("SELECT x.* FROM (SELECT * FROM t2) AS x, t AS y WHERE y._seq = 1"),
            "SELECT x.* FROM (SELECT * EXCLUDE (_seq, _deleted) FROM t2) AS x, t AS y WHERE y._seq = 1"
        );
    }

    #[test]
    fn other_tables_are_left_alone() {
        assert_eq!(rewrite("SELECT * FROM u"), "SELECT * FROM u");
    }
}
