//! CREATE [SHARED | USER | STREAM] TABLE, and CREATE TABLE ... AS SELECT | AS VALUES.
//!
//! Column types, NOT NULL, PRIMARY KEY and DEFAULT expressions are planned by DataFusion
//! (its own SQL-to-Arrow mapping); the engine validates what it stores, reads the WITH
//! options, and persists the definition. A table from a query takes the query's column
//! names and types (or the column list written before AS, the query's values cast to
//! it); the query runs before the catalog is touched, and the table and its rows are
//! committed in one batch, so a failing CREATE TABLE AS leaves no table behind.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::Constraint;
use datafusion::logical_expr::{DdlStatement, Expr, LogicalPlan, LogicalPlanBuilder, cast, col};
use datafusion::sql::sqlparser::ast::{ColumnOption, CreateTableOptions, Expr as SqlExpr, SqlOption, Statement, TableConstraint, Value};

use crate::catalog::options::{OptionValue, parse_table_options};
use crate::catalog::{ColumnDefinition, ROW_KEY_COLUMN, SystemColumn, TableDefinition, TableKind, TableOptions};
use crate::error::{EngineError, Result, SqlState};
use crate::exec::context::ExecContext;
use crate::exec::{catalog_work, query};
use crate::provider::statement::StatementNotes;
use crate::provider::writer::TableWriter;
use crate::resolver::{check_ddl_in, row_scope};
use crate::result::QueryResult;
use crate::sql::parser::{ident_name, object_ref};
use crate::storage::ChangeSet;
use crate::storage::key_codec::is_key_type;
use crate::storage::row_codec::is_storable_type;

/// A table about to be created: its columns, key and options, and the rows of its query.
struct NewTable {
    namespace: String,
    name: String,
    kind: TableKind,
    options: TableOptions,
    columns: Vec<ColumnDefinition>,
    key_indices: Vec<usize>,
    rows: Vec<RecordBatch>,
}

pub async fn execute(
    ctx: &ExecContext,
    prefix_kind: Option<TableKind>,
    statement: Statement,
    mentions: Vec<SystemColumn>,
) -> Result<QueryResult> {
    let Statement::CreateTable(mut create) = statement else {
        return Err(EngineError::internal("CREATE TABLE expected"));
    };
    let (namespace, name) = ctx.qualify(&object_ref(&create.name)?);
    check_ddl_in(&ctx.user, &namespace, "CREATE TABLE")?;
    let option_entries = match std::mem::take(&mut create.table_options) {
        CreateTableOptions::None => Vec::new(),
        CreateTableOptions::With(options) => read_options(&options)?,
        other => return Err(EngineError::not_supported(format!("table options {other} are not supported; use WITH (...)"))),
    };
    let (kind, options) = parse_table_options(prefix_kind, &option_entries)?;
    if create.or_replace {
        return Err(EngineError::not_supported("CREATE OR REPLACE TABLE is not supported; drop the table first"));
    }
    if name.is_empty() || name.contains('\0') {
        return Err(EngineError::invalid_parameter("a table name may not be empty or contain a zero byte"));
    }
    check_constraints(&create)?;
    let if_not_exists = create.if_not_exists;
    if !ctx.shared.catalog.namespace_exists(&namespace) {
        return Err(EngineError::undefined_namespace(&namespace));
    }
    // An existing name with IF NOT EXISTS changes nothing: the query does not run either.
    if if_not_exists && ctx.shared.catalog.object(&namespace, &name).is_some() {
        return Ok(QueryResult::Message("CREATE TABLE".into()));
    }
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
    let source = create.query.take();
    if source.is_some() && create.columns.is_empty() && !create.constraints.is_empty() {
        return Err(EngineError::not_supported(
            "a PRIMARY KEY on CREATE TABLE ... AS needs the column list: CREATE TABLE t (id INT PRIMARY KEY, ...) AS ...",
        ));
    }
    let (schema, key_indices, rows) = match source {
        None => {
            let (schema, key_indices) = plan_columns(ctx, Statement::CreateTable(create), &namespace, &name).await?;
            (schema, key_indices, Vec::new())
        }
        Some(query) => {
            let plan = query::plan(ctx, Statement::Query(query), mentions).await?;
            let (plan, schema, key_indices) = if create.columns.is_empty() {
                // The query's names and types; every column nullable, as in PostgreSQL.
                let schema = plan.schema().inner();
                let fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone().with_nullable(true)).collect();
                (plan.clone(), Arc::new(Schema::new(fields)), Vec::new())
            } else {
                let (schema, keys) = plan_columns(ctx, Statement::CreateTable(create), &namespace, &name).await?;
                (cast_to_columns(plan, &schema, &namespace, &name)?, schema, keys)
            };
            let frame = ctx.datafusion.execute_logical_plan(plan).await?;
            let rows = frame.collect().await?;
            (schema, key_indices, rows)
        }
    };
    if kind.rules().append_only && !key_indices.is_empty() {
        return Err(EngineError::not_supported(format!(
            "STREAM table {namespace}.{name} cannot have a PRIMARY KEY: its rows are keyed by arrival; \
             give the column a default such as SNOWFLAKE_ID() instead"
        )));
    }
    let columns = column_definitions(&schema, &key_indices, &defaults, &namespace, &name)?;
    let table = NewTable { namespace, name, kind, options, columns, key_indices, rows };
    create_table(ctx, table, if_not_exists).await
}

/// Plans `CREATE TABLE` with DataFusion: the columns' Arrow types, nullability and key.
pub(crate) async fn plan_columns(ctx: &ExecContext, statement: Statement, namespace: &str, name: &str) -> Result<(SchemaRef, Vec<usize>)> {
    let plan = ctx.plan(statement, StatementNotes::default()).await?;
    let LogicalPlan::Ddl(DdlStatement::CreateMemoryTable(planned)) = plan else {
        return Err(EngineError::internal("CREATE TABLE planned into something else"));
    };
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
    Ok((planned.input.schema().inner().clone(), key_indices))
}

/// The query's rows cast to the column list written before AS (names and types).
fn cast_to_columns(plan: LogicalPlan, schema: &SchemaRef, namespace: &str, name: &str) -> Result<LogicalPlan> {
    let produced = plan.schema().columns();
    if produced.len() != schema.fields().len() {
        return Err(EngineError::syntax(format!(
            "table {namespace}.{name} has {} columns but its query returns {}",
            schema.fields().len(),
            produced.len()
        )));
    }
    let exprs: Vec<Expr> = produced
        .into_iter()
        .zip(schema.fields())
        .map(|(column, field)| cast(col(column), field.data_type().clone()).alias(field.name()))
        .collect();
    Ok(LogicalPlanBuilder::from(plan).project(exprs)?.build()?)
}

/// The stored columns of a new table, checked: no reserved or repeated name, only
/// storable types, only key types in the key.
pub(crate) fn column_definitions(
    schema: &SchemaRef,
    key_indices: &[usize],
    defaults: &BTreeMap<String, String>,
    namespace: &str,
    name: &str,
) -> Result<Vec<ColumnDefinition>> {
    let mut columns = Vec::new();
    for (index, field) in schema.fields().iter().enumerate() {
        let column_name = field.name();
        if SystemColumn::from_name(column_name).is_some() || column_name == ROW_KEY_COLUMN {
            return Err(EngineError::new(SqlState::RESERVED_NAME, format!("column name {column_name} is reserved for a system column")));
        }
        if columns.iter().any(|c: &ColumnDefinition| &c.name == column_name) {
            return Err(EngineError::new(SqlState::DUPLICATE_COLUMN, format!("column {column_name} is specified more than once")));
        }
        if !is_storable_type(field.data_type()) {
            return Err(EngineError::not_supported(format!(
                "column {column_name} has type {}, which tables cannot store yet{}",
                field.data_type(),
                if field.data_type().is_null() { "; give it a type with CAST" } else { "" }
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
            backfill: None,
        });
    }
    if columns.is_empty() {
        return Err(EngineError::syntax(format!("table {namespace}.{name} needs at least one column")));
    }
    Ok(columns)
}

/// Creates the table, with its rows, under the DDL lock.
async fn create_table(ctx: &ExecContext, table: NewTable, if_not_exists: bool) -> Result<QueryResult> {
    let shared = ctx.shared.clone();
    let ddl = shared.catalog.lock_ddl().await;
    if !shared.catalog.namespace_exists(&table.namespace) {
        return Err(EngineError::undefined_namespace(&table.namespace));
    }
    // DROP USER commits under the same lock: rows of a user dropped meanwhile must not
    // be written (a USER table's rows go to the creating user's scope).
    if !shared.catalog.user_id_exists(ctx.user.id) {
        return Err(EngineError::new(
            SqlState::INVALID_AUTHORIZATION,
            format!("user {} was dropped while the statement ran", ctx.user.name),
        ));
    }
    if let Some(existing) = shared.catalog.object(&table.namespace, &table.name) {
        if if_not_exists {
            return Ok(QueryResult::Message("CREATE TABLE".into()));
        }
        return Err(EngineError::new(
            SqlState::DUPLICATE_TABLE,
            format!("{} {}.{} already exists", existing.noun(), table.namespace, table.name),
        ));
    }
    let NewTable { namespace, name, kind, options, columns, key_indices, rows } = table;
    let definition = TableDefinition {
        id: shared.catalog.allocate_table_id(&ddl),
        namespace,
        name,
        kind,
        schema_version: 1,
        primary_key: key_indices.iter().map(|&i| columns[i].id).collect(),
        columns,
        options,
        created_at_millis: shared.now_millis(),
        planning_options: ctx.planning_options(),
    };
    let entry = Arc::new(shared.catalog.planner().build(BTreeMap::from([(1, definition)]))?);
    let scope = row_scope(kind, &ctx.user);
    let writer = TableWriter::new(shared.clone(), entry.clone(), scope).lock_new_table().await;
    catalog_work(ddl, move |ddl| {
        let changes = if rows.is_empty() { ChangeSet::default() } else { writer.prepare_insert(&rows)? };
        drop(writer);
        shared.catalog.create_table(ddl, entry, changes)
    })
    .await?;
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
                    return Err(EngineError::not_supported(format!("column option {other} on column {} is not supported", column.name)));
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
