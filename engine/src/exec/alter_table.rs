//! ALTER TABLE: `SET ACCESS_LEVEL` (SHARED tables) and column changes (`ADD COLUMN`,
//! `DROP COLUMN`, `RENAME COLUMN`, every table kind). Each change is a new schema version
//! of the table, stored under the table's exclusive write lock, so no statement writes
//! the table half under the old rules and half under the new; a writer planned before the
//! change gets 40001 and runs again under the new rules.
//!
//! Rows are never rewritten: each row, hot or in a Parquet segment, keeps the version it
//! was written under, and reads map its columns by id to the current definition (a
//! dropped column is skipped, a renamed one keeps its id, an added one reads its
//! backfill: the DEFAULT evaluated once when the column was added, or NULL). Open
//! subscriptions on the table end with a final event; they subscribe again to get rows of
//! the new shape.

use std::sync::Arc;

use datafusion::arrow::array::Array;

use datafusion::sql::sqlparser::ast::{ColumnDef, ColumnOption, CreateTable, Statement};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;

use crate::catalog::{AccessLevel, CatalogObject, ColumnDefinition, ROW_KEY_COLUMN, SystemColumn, TableDefinition, TableEntry};
use crate::error::{EngineError, Result, SqlState};
use crate::exec::catalog_work;
use crate::exec::context::ExecContext;
use crate::exec::create_table::{column_definitions, plan_columns};
use crate::resolver::resolve_for_ddl;
use crate::result::QueryResult;
use crate::sql::ObjectRef;
use crate::sql::alter::ColumnChange;
use crate::storage::keys;
use crate::storage::row_codec::encode_value_hex;

pub async fn set_access_level(ctx: &ExecContext, reference: &ObjectRef, access_level: AccessLevel) -> Result<QueryResult> {
    let entry = resolve_table(ctx, reference)?;
    if !entry.kind().rules().access_level {
        return Err(EngineError::invalid_parameter(format!(
            "option ACCESS_LEVEL applies to SHARED tables only; {} is a {} table",
            entry.definition.qualified_name(),
            entry.kind().as_str().to_uppercase()
        )));
    }
    store_version(ctx, &entry, move |_, definition| {
        definition.options.access_level = Some(access_level);
        Ok(true)
    })
    .await
}

/// ADD, DROP or RENAME one column.
pub async fn alter_columns(ctx: &ExecContext, reference: &ObjectRef, change: &ColumnChange) -> Result<QueryResult> {
    let entry = resolve_table(ctx, reference)?;
    let qualified = entry.definition.qualified_name();
    // An added column is planned (DataFusion's type mapping) and its backfill computed
    // before any lock: both depend only on the statement.
    let added = match change {
        ColumnChange::Add { column, if_not_exists } => {
            if entry.definition.column_index(&crate::sql::parser::ident_name(&column.name)).is_some() && *if_not_exists {
                return Ok(QueryResult::Message("ALTER TABLE".into()));
            }
            Some(plan_added_column(ctx, &entry, column).await?)
        }
        _ => None,
    };
    let change = change.clone();
    let (shared, table_id) = (ctx.shared.clone(), entry.id());
    // Whether the table has rows is asked under its exclusive lock: no INSERT slips in.
    let has_rows = move || -> Result<bool> {
        Ok(!shared.store.prefix_is_empty(&keys::table_row_prefix(table_id))? || !shared.cold.table_scopes(table_id).is_empty())
    };
    let result = store_version(ctx, &entry, move |current, definition| apply_change(current, definition, &change, added, has_rows)).await?;
    // Subscriptions were planned against the old shape.
    let shared = &ctx.shared;
    if shared.live.watches_table(entry.id()) {
        shared.live.settle_where(|feed| feed.table_id == entry.id()).await;
        shared.live.end_where(|_, feed| feed.table_id == entry.id(), &format!("table {qualified} changed (ALTER TABLE); subscribe again"));
    }
    Ok(result)
}

/// The change applied to the next version's definition (`current`: the table as read
/// under its lock); `false` when there is nothing to change (IF EXISTS / IF NOT EXISTS).
/// An added column gets [`next_column_id`] of `current`.
fn apply_change(
    current: &TableEntry,
    definition: &mut TableDefinition,
    change: &ColumnChange,
    added: Option<ColumnDefinition>,
    has_rows: impl FnOnce() -> Result<bool>,
) -> Result<bool> {
    let table = definition.qualified_name();
    let missing = |name: &str| EngineError::new(SqlState::UNDEFINED_COLUMN, format!("column {name} of table {table} does not exist"));
    match change {
        ColumnChange::Add { if_not_exists, .. } => {
            let Some(mut column) = added else {
                return Err(EngineError::internal(format!("ALTER TABLE {table} ADD COLUMN has no planned column")));
            };
            if definition.column_index(&column.name).is_some() {
                if *if_not_exists {
                    return Ok(false);
                }
                return Err(duplicate_column(&column.name, &table));
            }
            if !column.nullable && column.backfill.is_none() && has_rows()? {
                return Err(EngineError::new(
                    SqlState::NOT_NULL_VIOLATION,
                    format!("column {} of table {table} is NOT NULL without a DEFAULT, and the table has rows", column.name),
                ));
            }
            column.id = next_column_id(current)?;
            definition.columns.push(column);
        }
        ColumnChange::Drop { name, if_exists } => {
            let Some(index) = definition.column_index(name) else {
                return if *if_exists { Ok(false) } else { Err(missing(name)) };
            };
            if definition.primary_key.contains(&definition.columns[index].id) {
                return Err(EngineError::new(
                    SqlState::DEPENDENT_OBJECTS_STILL_EXIST,
                    format!("column {name} is part of the primary key of table {table} and cannot be dropped"),
                ));
            }
            if definition.columns.len() == 1 {
                return Err(EngineError::not_supported(format!(
                    "column {name} is the last column of table {table}; drop the table instead"
                )));
            }
            definition.columns.remove(index);
        }
        ColumnChange::Rename { from, to } => {
            let Some(index) = definition.column_index(from) else { return Err(missing(from)) };
            check_column_name(to)?;
            if definition.column_index(to).is_some() {
                return Err(duplicate_column(to, &table));
            }
            definition.columns[index].name = to.clone();
        }
    }
    Ok(true)
}

/// The id of a column added to `current`: one past every id any of its schema versions
/// ever used. It must be read under the table's lock (another ALTER may have added and
/// dropped a column since the statement was planned): ids are never reused, not even a
/// dropped column's, whose values old rows, hot and flushed, still hold under that id.
fn next_column_id(current: &TableEntry) -> Result<u32> {
    let used = current.versions.values().flatten().chain(&current.definition.columns).map(|c| c.id).max().unwrap_or(0);
    used.checked_add(1).ok_or_else(|| {
        EngineError::not_supported(format!("table {} has used every column id; recreate it", current.definition.qualified_name()))
    })
}

fn duplicate_column(name: &str, table: &str) -> EngineError {
    EngineError::new(SqlState::DUPLICATE_COLUMN, format!("column {name} of table {table} already exists"))
}

fn check_column_name(name: &str) -> Result<()> {
    if SystemColumn::from_name(name).is_some() || name == ROW_KEY_COLUMN {
        return Err(EngineError::new(SqlState::RESERVED_NAME, format!("column name {name} is reserved for a system column")));
    }
    Ok(())
}

/// The stored form of an added column: its type as CREATE TABLE would map it, checked the
/// same way, and its backfill (the DEFAULT evaluated now).
async fn plan_added_column(ctx: &ExecContext, entry: &TableEntry, column: &ColumnDef) -> Result<ColumnDefinition> {
    let definition = &entry.definition;
    if column.options.iter().any(|o| matches!(o.option, ColumnOption::PrimaryKey(_) | ColumnOption::Unique(_))) {
        return Err(EngineError::not_supported("ALTER TABLE ... ADD COLUMN cannot add a key; keys are set by CREATE TABLE"));
    }
    let sql = format!("CREATE TABLE added_column ({column})");
    let mut parsed = Parser::parse_sql(&GenericDialect {}, &sql).map_err(|e| EngineError::syntax(e.to_string()))?;
    let Some(Statement::CreateTable(create)) = parsed.pop() else {
        return Err(EngineError::internal("a column definition did not parse back"));
    };
    let default_sql = default_of(&create);
    let (schema, _) = plan_columns(ctx, Statement::CreateTable(create), &definition.namespace, &definition.name).await?;
    let name = schema.field(0).name().clone();
    let defaults = default_sql.iter().map(|d| (name.clone(), d.clone())).collect();
    let mut columns = column_definitions(&schema, &[], &defaults, &definition.namespace, &definition.name)?;
    let mut added = columns.remove(0);
    if let Some(default) = &default_sql {
        let cast = format!("SELECT arrow_cast(({default}), '{}')", added.data_type);
        let batches = ctx.datafusion.sql(&cast).await?.collect().await?;
        let value = batches.iter().find(|b| b.num_rows() > 0).ok_or_else(|| EngineError::internal("a DEFAULT gave no value"))?;
        // A NULL default backfills nothing (old rows read NULL, as without a DEFAULT).
        if !value.column(0).is_null(0) {
            added.backfill = Some(encode_value_hex(value.column(0), 0)?);
        }
    }
    Ok(added)
}

fn default_of(create: &CreateTable) -> Option<String> {
    create.columns.first()?.options.iter().find_map(|o| match &o.option {
        ColumnOption::Default(expr) => Some(expr.to_string()),
        _ => None,
    })
}

/// The table a statement alters, after the DDL checks.
fn resolve_table(ctx: &ExecContext, reference: &ObjectRef) -> Result<Arc<TableEntry>> {
    let (namespace, name) = ctx.qualify(reference);
    match resolve_for_ddl(&ctx.shared, &ctx.user, &namespace, &name, "ALTER TABLE")? {
        Some(CatalogObject::Table(entry)) => Ok(entry),
        Some(CatalogObject::View(view)) => {
            Err(EngineError::new(SqlState::WRONG_OBJECT_TYPE, format!("{} is a view; ALTER TABLE changes tables", view.qualified_name())))
        }
        None if !ctx.shared.catalog.namespace_exists(&namespace) => Err(EngineError::undefined_namespace(&namespace)),
        None => Err(EngineError::undefined_table(format!("{namespace}.{name}"))),
    }
}

/// Stores the next schema version, as `change` makes it from the current one, under the
/// table's exclusive lock and the DDL lock. `change` gets the table as read under both
/// locks (every schema version included) and the definition to change.
async fn store_version(
    ctx: &ExecContext,
    entry: &TableEntry,
    change: impl FnOnce(&TableEntry, &mut TableDefinition) -> Result<bool> + Send + 'static,
) -> Result<QueryResult> {
    let definition = &entry.definition;
    let (namespace, name) = (definition.namespace.clone(), definition.name.clone());
    let shared = ctx.shared.clone();
    let table_lock = shared.locks.lock_table(entry.id()).await;
    let ddl = shared.catalog.lock_ddl().await;
    let Some(current) = shared.catalog.current(entry) else {
        return Err(EngineError::undefined_table(format!("{namespace}.{name}")));
    };
    let mut next: TableDefinition = current.definition.clone();
    if !change(&current, &mut next)? {
        return Ok(QueryResult::Message("ALTER TABLE".into()));
    }
    next.schema_version += 1;
    catalog_work(ddl, move |ddl| shared.catalog.add_table_version(ddl, &table_lock, next)).await?;
    Ok(QueryResult::Message("ALTER TABLE".into()))
}
