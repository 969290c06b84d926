//! CREATE [SHARED | USER | STREAM] TABLE.
//!
//! Column types, NOT NULL, PRIMARY KEY and DEFAULT expressions are planned by DataFusion
//! (its own SQL-to-Arrow mapping); the engine validates what it stores, reads the WITH
//! options, and persists the definition.

use std::collections::BTreeMap;

use datafusion::logical_expr::{DdlStatement, LogicalPlan};
use datafusion::common::Constraint;
use datafusion::sql::sqlparser::ast::{
    ColumnOption, CreateTableOptions, Expr as SqlExpr, SqlOption, Statement, TableConstraint, Value,
};

use crate::catalog::options::{OptionValue, parse_table_options};
use crate::catalog::{
    ColumnDefinition, ROW_KEY_COLUMN, SYSTEM_NAMESPACE, SystemColumn, TableDefinition, TableKind,
};
use crate::engine::build_table_entry;
use crate::error::{EngineError, Result, SqlState};
use crate::permissions::check_ddl;
use crate::result::QueryResult;
use crate::session::Session;
use crate::session::scope::StatementScope;
use crate::sql::parser::{ident_name, object_ref};
use crate::storage::key_codec::is_key_type;
use crate::storage::row_codec::is_storable_type;

pub async fn execute(session: &Session, prefix_kind: Option<TableKind>, statement: Statement) -> Result<QueryResult> {
    check_ddl(session.user.role, "CREATE TABLE")?;
    let Statement::CreateTable(mut create) = statement else {
        return Err(EngineError::internal("CREATE TABLE expected"));
    };
    let option_entries = match std::mem::take(&mut create.table_options) {
        CreateTableOptions::None => Vec::new(),
        CreateTableOptions::With(options) => read_options(&options)?,
        other => return Err(EngineError::not_supported(format!("table options {other} are not supported; use WITH (...)"))),
    };
    let (kind, options) = parse_table_options(prefix_kind, &option_entries)?;
    if kind != TableKind::Shared {
        return Err(EngineError::not_supported(format!(
            "{} tables are not supported yet; this release has SHARED tables",
            kind.as_str().to_uppercase()
        )));
    }
    if create.query.is_some() {
        return Err(EngineError::not_supported("CREATE TABLE ... AS SELECT is not supported; create the table, then INSERT ... SELECT"));
    }
    if create.or_replace {
        return Err(EngineError::not_supported("CREATE OR REPLACE TABLE is not supported; drop the table first"));
    }
    let reference = object_ref(&create.name)?;
    let (namespace, name) = session.resolve(&reference);
    if namespace == SYSTEM_NAMESPACE {
        return Err(EngineError::new(SqlState::INSUFFICIENT_PRIVILEGE, "the system namespace is read-only"));
    }
    if name.is_empty() || name.contains('\0') {
        return Err(EngineError::invalid_parameter("a table name may not be empty or contain a zero byte"));
    }
    check_constraints(&create)?;
    let defaults: BTreeMap<String, String> = create
        .columns
        .iter()
        .filter_map(|c| {
            c.options.iter().find_map(|o| match &o.option {
                ColumnOption::Default(expr) => Some((ident_name(&c.name), expr.to_string())),
                _ => None,
            })
        })
        .collect();
    let if_not_exists = create.if_not_exists;

    let plan = session.plan(Statement::CreateTable(create), StatementScope::default()).await?;
    let LogicalPlan::Ddl(DdlStatement::CreateMemoryTable(planned)) = plan else {
        return Err(EngineError::internal("CREATE TABLE planned into something else"));
    };
    let schema = planned.input.schema().inner().clone();
    let mut key_indices = Vec::new();
    for constraint in planned.constraints.iter() {
        match constraint {
            Constraint::PrimaryKey(indices) if key_indices.is_empty() => key_indices = indices.clone(),
            Constraint::PrimaryKey(_) => {
                return Err(EngineError::new(SqlState::SYNTAX_ERROR, format!("table {namespace}.{name} has more than one primary key")));
            }
            Constraint::Unique(_) => {
                return Err(EngineError::not_supported("UNIQUE constraints are not supported; use a PRIMARY KEY"));
            }
        }
    }

    let mut columns = Vec::new();
    for (index, field) in schema.fields().iter().enumerate() {
        let column_name = field.name();
        if SystemColumn::from_name(column_name).is_some() || column_name == ROW_KEY_COLUMN {
            return Err(EngineError::new(
                SqlState::RESERVED_NAME,
                format!("column name {column_name} is reserved for a system column"),
            ));
        }
        if columns.iter().any(|c: &ColumnDefinition| &c.name == column_name) {
            return Err(EngineError::new(SqlState::DUPLICATE_COLUMN, format!("column {column_name} is specified more than once")));
        }
        if !is_storable_type(field.data_type()) {
            return Err(EngineError::not_supported(format!(
                "column {column_name} has type {}, which tables cannot store yet",
                field.data_type()
            )));
        }
        let is_key = key_indices.contains(&index);
        if is_key && !is_key_type(field.data_type()) {
            return Err(EngineError::not_supported(format!(
                "column {column_name} of type {} cannot be part of a primary key",
                field.data_type()
            )));
        }
        columns.push(ColumnDefinition {
            id: index as u32 + 1,
            name: column_name.clone(),
            data_type: field.data_type().clone(),
            nullable: field.is_nullable() && !is_key,
            default_sql: defaults.get(column_name).cloned(),
        });
    }
    if columns.is_empty() {
        return Err(EngineError::syntax(format!("table {namespace}.{name} needs at least one column")));
    }

    let shared = &session.shared;
    let guard = shared.store.lock_writes().await;
    if !shared.catalog.namespace_exists(&namespace) {
        return Err(EngineError::undefined_namespace(&namespace));
    }
    if shared.catalog.table(&namespace, &name).is_some() {
        if if_not_exists {
            return Ok(QueryResult::Message("CREATE TABLE".into()));
        }
        return Err(EngineError::new(SqlState::DUPLICATE_TABLE, format!("table {namespace}.{name} already exists")));
    }
    let definition = TableDefinition {
        id: shared.catalog.allocate_table_id(&guard),
        namespace,
        name,
        kind,
        schema_version: 1,
        primary_key: key_indices.iter().map(|&i| columns[i].id).collect(),
        columns,
        options,
        created_at_millis: shared.now_millis(),
    };
    let entry = build_table_entry(&session.context.state(), BTreeMap::from([(1, definition)]))?;
    shared.catalog.create_table(&guard, entry)?;
    Ok(QueryResult::Message("CREATE TABLE".into()))
}

fn read_options(options: &[SqlOption]) -> Result<Vec<(String, OptionValue)>> {
    options
        .iter()
        .map(|option| match option {
            SqlOption::KeyValue { key, value } => {
                let name = key.value.to_ascii_uppercase();
                let value = match value {
                    SqlExpr::Value(v) => match &v.value {
                        Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => OptionValue::Text(s.clone()),
                        Value::Number(n, _) => OptionValue::Number(n.to_string()),
                        Value::Boolean(b) => OptionValue::Boolean(*b),
                        other => {
                            return Err(EngineError::invalid_parameter(format!("option {name} has an invalid value {other}")));
                        }
                    },
                    SqlExpr::Identifier(ident) if ident.value.eq_ignore_ascii_case("true") => OptionValue::Boolean(true),
                    SqlExpr::Identifier(ident) if ident.value.eq_ignore_ascii_case("false") => OptionValue::Boolean(false),
                    SqlExpr::Identifier(ident) => OptionValue::Text(ident.value.clone()),
                    other => {
                        return Err(EngineError::invalid_parameter(format!("option {name} has an invalid value {other}")));
                    }
                };
                Ok((name, value))
            }
            other => Err(EngineError::invalid_parameter(format!("invalid table option {other}: expected NAME = value"))),
        })
        .collect()
}

fn check_constraints(create: &datafusion::sql::sqlparser::ast::CreateTable) -> Result<()> {
    for column in &create.columns {
        for option in &column.options {
            match &option.option {
                ColumnOption::Null | ColumnOption::NotNull | ColumnOption::Default(_) | ColumnOption::PrimaryKey(_) => {}
                ColumnOption::Unique(_) => {
                    return Err(EngineError::not_supported("UNIQUE constraints are not supported; use a PRIMARY KEY"));
                }
                other => {
                    return Err(EngineError::not_supported(format!(
                        "column option {other} on column {} is not supported",
                        column.name
                    )));
                }
            }
        }
    }
    for constraint in &create.constraints {
        if !matches!(constraint, TableConstraint::PrimaryKey(_)) {
            return Err(EngineError::not_supported(format!("table constraint {constraint} is not supported")));
        }
    }
    Ok(())
}
