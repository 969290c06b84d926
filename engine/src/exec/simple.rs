//! Runs the simple statements of [`crate::sql::simple`] without DataFusion's planner, and
//! UPDATE by whole primary key with only its SET expressions planned.
//!
//! Planning a statement costs DataFusion hundreds of microseconds, far more than the
//! storage work of a one-row INSERT or a primary-key lookup. For the shapes the recognizer
//! accepts, this module does what the planner would (resolve the table, match columns,
//! give literals their SQL types, cast them to the column types with the cast DataFusion
//! uses, fill left-out columns from their DEFAULT) and then runs the same code as the
//! planned path: [`TableWriter`] for INSERT and DELETE (validation, `_seq`, atomic commit)
//! and the scan's row reader for SELECT.
//!
//! The rule that keeps both paths equal: whenever anything is not exactly what the planned
//! path would do without error (an unknown table or column, a value that does not cast, a
//! filter that is not the whole primary key, anything but an engine table the user may
//! use, session settings other than the defaults), this module returns `None` before
//! touching storage, and the statement is planned instead, which also produces every error
//! message. Tables are bound through the resolver, the same as on the planned path, which
//! also gives the row scope the statement works on.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use datafusion::arrow::array::{
    ArrayRef, BinaryArray, BooleanArray, Float64Array, Int64Array, StringArray, StringViewArray, new_null_array,
};
use datafusion::arrow::compute::{CastOptions, cast_with_options};
use datafusion::arrow::datatypes::{DataType, Schema, SchemaRef};
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion::common::{DFSchema, ScalarValue, TableReference};
use datafusion::logical_expr::ExprSchemable;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::sql::sqlparser::ast::ExprWithAlias as SQLExprWithAlias;
use datafusion::sql::sqlparser::parser::Parser;
use datafusion::sql::sqlparser::tokenizer::Token as SqlToken;

use crate::catalog::{ColumnFill, TableEntry};
use crate::error::Result;
use crate::exec::context::ExecContext;
use crate::permissions::TableAction;
use crate::planning::simplifies;
use crate::provider::request::{ColumnSource, ScanRequest};
use crate::provider::scan::read_keys;
use crate::provider::writer::TableWriter;
use crate::resolver::{Resolved, ResolvedTable, resolve};
use crate::result::{CountedCommand, QueryResult};
use crate::sql::parser::ObjectRef;
use crate::sql::simple::{Equality, Literal, SimpleStatement};
use crate::storage::key_codec::encode_scalar;
use crate::storage::keys;

/// Casts as DataFusion's INSERT planning does: a value that does not fit is an error, not NULL.
const CAST: CastOptions<'static> = datafusion::common::format::DEFAULT_CAST_OPTIONS;

/// Runs a statement [`recognize`] accepted as simple; `None` means it must be planned.
pub async fn try_execute(ctx: &ExecContext, statement: SimpleStatement<'_>) -> Result<Option<QueryResult>> {
    if !ctx.has_default_sql_settings() {
        return Ok(None);
    }
    match statement {
        SimpleStatement::Insert { table, columns, width, values } => insert(ctx, &table, columns.as_deref(), width, &values).await,
        SimpleStatement::Select { table, columns, filter } => select(ctx, &table, columns.as_deref(), &filter),
        SimpleStatement::Delete { table, filter } => delete(ctx, &table, &filter).await,
        SimpleStatement::Update { table, assignments, filter } => update(ctx, &table, &assignments, &filter).await,
    }
}

/// The engine table `reference` names, and the rows the statement works on, when the
/// resolver lets the user do `action` with it; `None` for anything else (a missing
/// table, a view, a system table, a refusal), which the planned path then reports.
fn bind_table(ctx: &ExecContext, reference: &ObjectRef, action: TableAction) -> Option<ResolvedTable> {
    let (namespace, name) = ctx.qualify(reference);
    match resolve(&ctx.shared, &ctx.user, &namespace, &name, action) {
        Ok(Some(Resolved::Table(table))) => Some(table),
        _ => None,
    }
}

async fn insert(
    ctx: &ExecContext,
    table: &ObjectRef,
    columns: Option<&[String]>,
    width: usize,
    values: &[Literal<'_>],
) -> Result<Option<QueryResult>> {
    let Some(ResolvedTable { entry, scope }) = bind_table(ctx, table, TableAction::Write) else { return Ok(None) };
    let definition = &entry.definition;
    // For each table column, the position of its value in a row, if the INSERT gives one.
    let mut positions: Vec<Option<usize>> = vec![None; definition.columns.len()];
    match columns {
        None if width == definition.columns.len() => positions.iter_mut().enumerate().for_each(|(i, p)| *p = Some(i)),
        None => return Ok(None),
        Some(names) => {
            if names.len() != width {
                return Ok(None);
            }
            for (position, name) in names.iter().enumerate() {
                let Some(index) = definition.column_index(name) else { return Ok(None) };
                if positions[index].replace(position).is_some() {
                    return Ok(None);
                }
            }
        }
    }
    let rows = values.len() / width;
    let mut arrays: Vec<Option<ArrayRef>> = Vec::with_capacity(positions.len());
    for (column, position) in definition.columns.iter().zip(&positions) {
        match position {
            Some(position) => {
                let column_values = values.iter().skip(*position).step_by(width);
                let Some(array) = literal_column(column_values, rows, &column.data_type) else { return Ok(None) };
                arrays.push(Some(array));
            }
            None => match &entry.fills[arrays.len()] {
                ColumnFill::Null => arrays.push(Some(new_null_array(&column.data_type, rows))),
                ColumnFill::Default(_) => arrays.push(None),
                ColumnFill::Unprepared => return Ok(None),
            },
        }
    }
    // Defaults last: they may draw ids, which a statement that is then planned would waste.
    let mut columns_out = Vec::with_capacity(arrays.len());
    for (index, array) in arrays.into_iter().enumerate() {
        let array = match (array, &entry.fills[index]) {
            (Some(array), _) => array,
            (None, ColumnFill::Default(expr)) => {
                let Some(array) = evaluate_default(expr.as_ref(), rows, &definition.columns[index].data_type) else {
                    return Ok(None);
                };
                array
            }
            (None, _) => return Ok(None),
        };
        columns_out.push(array);
    }
    let options = RecordBatchOptions::new().with_row_count(Some(rows));
    let Ok(batch) = RecordBatch::try_new_with_options(entry.nullable_schema.clone(), columns_out, &options) else {
        return Ok(None);
    };
    let writer = TableWriter::new(ctx.shared.clone(), entry.clone(), scope).within(ctx.transaction.clone());
    writer.insert(vec![batch]).await.map(|rows| Some(QueryResult::Count { command: CountedCommand::Insert, rows }))
}

/// The literals of one column as an array of the column's type, typed and cast the way
/// DataFusion plans `VALUES` for an INSERT: each literal gets its SQL type (BIGINT, DOUBLE,
/// TEXT, BOOLEAN) and is cast to the column type. `None` when a literal does not cast, or
/// when one column mixes kinds of literal in a way this path does not reproduce exactly.
fn literal_column<'a, 'text: 'a>(
    values: impl Iterator<Item = &'a Literal<'text>> + Clone,
    rows: usize,
    data_type: &DataType,
) -> Option<ArrayRef> {
    let (mut ints, mut floats, mut texts, mut booleans) = (false, false, false, false);
    for value in values.clone() {
        match value {
            Literal::Null => {}
            Literal::Int(_) => ints = true,
            Literal::Float(_) => floats = true,
            Literal::Text(_) => texts = true,
            Literal::Boolean(_) => booleans = true,
        }
    }
    let array: ArrayRef = match (ints, floats, texts, booleans) {
        (false, false, false, false) => return Some(new_null_array(data_type, rows)),
        (true, false, false, false) => {
            Arc::new(values.map(|v| if let Literal::Int(i) = v { Some(*i) } else { None }).collect::<Int64Array>())
        }
        // Each BIGINT literal cast to DOUBLE on its own is `i as f64`, as here.
        (_, true, false, false) if !ints || *data_type == DataType::Float64 => Arc::new(
            values
                .map(|v| match v {
                    Literal::Float(f) => Some(*f),
                    Literal::Int(i) => Some(*i as f64),
                    _ => None,
                })
                .collect::<Float64Array>(),
        ),
        // TEXT columns are Utf8View: build that directly rather than cast (same values).
        (false, false, true, false) if *data_type == DataType::Utf8View => {
            Arc::new(values.map(|v| if let Literal::Text(t) = v { Some(t.as_ref()) } else { None }).collect::<StringViewArray>())
        }
        (false, false, true, false) => {
            Arc::new(values.map(|v| if let Literal::Text(t) = v { Some(t.as_ref()) } else { None }).collect::<StringArray>())
        }
        (false, false, false, true) => {
            Arc::new(values.map(|v| if let Literal::Boolean(b) = v { Some(*b) } else { None }).collect::<BooleanArray>())
        }
        _ => return None,
    };
    if array.data_type() == data_type {
        return Some(array);
    }
    cast_with_options(&array, data_type, &CAST).ok()
}

/// Evaluates a prepared DEFAULT for `rows` rows.
fn evaluate_default(expr: &dyn PhysicalExpr, rows: usize, data_type: &DataType) -> Option<ArrayRef> {
    let options = RecordBatchOptions::new().with_row_count(Some(rows));
    let input = RecordBatch::try_new_with_options(Arc::new(Schema::empty()), vec![], &options).ok()?;
    let array = expr.evaluate(&input).ok()?.into_array(rows).ok()?;
    (array.data_type() == data_type).then_some(array)
}

/// The encoded primary key (without scope prefix) the filter pins down, when it is exactly
/// one equality per key column with a literal of the column's kind that the column can hold.
fn bind_key(entry: &TableEntry, filter: &[Equality<'_>]) -> Option<Vec<u8>> {
    if !entry.has_primary_key() || filter.len() != entry.key_columns.len() {
        return None;
    }
    let mut key = Vec::new();
    for &index in &entry.key_columns {
        let column = &entry.definition.columns[index];
        let mut matching = filter.iter().filter(|(name, _)| *name == column.name);
        let (_, literal) = matching.next()?;
        if matching.next().is_some() {
            return None;
        }
        encode_scalar(&key_value(literal, &column.data_type)?, &mut key).ok()?;
    }
    Some(key)
}

/// A literal as a value of an integer or text key column, when the column holds it exactly.
fn key_value(literal: &Literal<'_>, data_type: &DataType) -> Option<ScalarValue> {
    Some(match (literal, data_type) {
        (Literal::Int(i), DataType::Int8) => ScalarValue::Int8(Some(i8::try_from(*i).ok()?)),
        (Literal::Int(i), DataType::Int16) => ScalarValue::Int16(Some(i16::try_from(*i).ok()?)),
        (Literal::Int(i), DataType::Int32) => ScalarValue::Int32(Some(i32::try_from(*i).ok()?)),
        (Literal::Int(i), DataType::Int64) => ScalarValue::Int64(Some(*i)),
        (Literal::Int(i), DataType::UInt8) => ScalarValue::UInt8(Some(u8::try_from(*i).ok()?)),
        (Literal::Int(i), DataType::UInt16) => ScalarValue::UInt16(Some(u16::try_from(*i).ok()?)),
        (Literal::Int(i), DataType::UInt32) => ScalarValue::UInt32(Some(u32::try_from(*i).ok()?)),
        (Literal::Int(i), DataType::UInt64) => ScalarValue::UInt64(Some(u64::try_from(*i).ok()?)),
        (Literal::Text(t), DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View) => ScalarValue::Utf8(Some(t.to_string())),
        _ => return None,
    })
}

fn select(ctx: &ExecContext, table: &ObjectRef, columns: Option<&[String]>, filter: &[Equality<'_>]) -> Result<Option<QueryResult>> {
    let Some(ResolvedTable { entry, scope }) = bind_table(ctx, table, TableAction::Read) else { return Ok(None) };
    let indices: Vec<usize> = match columns {
        None => (0..entry.definition.columns.len()).collect(),
        Some(names) => {
            let mut indices = Vec::with_capacity(names.len());
            for name in names {
                let Some(index) = entry.definition.column_index(name) else { return Ok(None) };
                if indices.contains(&index) {
                    return Ok(None);
                }
                indices.push(index);
            }
            indices
        }
    };
    let Some(key) = bind_key(&entry, filter) else { return Ok(None) };
    let Ok(schema) = entry.schema.project(&indices) else { return Ok(None) };
    let schema = Arc::new(schema);
    let batches = read_row(ctx, &ResolvedTable { entry, scope }, indices, &schema, &key)?;
    Ok(Some(QueryResult::Rows { schema, batches }))
}

/// The live row with primary key `key` (encoded), with the user columns `indices`
/// (`schema` is their schema): the scan's own row reader, for one key. A point read from
/// RocksDB's memtable or block cache takes microseconds, less than a hop to a blocking
/// thread, so it runs where it is called.
fn read_row(ctx: &ExecContext, table: &ResolvedTable, indices: Vec<usize>, schema: &SchemaRef, key: &[u8]) -> Result<Vec<RecordBatch>> {
    let entry = &table.entry;
    let request = ScanRequest {
        entry: entry.clone(),
        scope: table.scope.clone(),
        sources: indices.into_iter().map(ColumnSource::User).collect(),
        intervals: Vec::new(),
        include_deleted: false,
        limit: None,
        batch_rows: 1,
        parallelism: 1,
        parallel_min_bytes: u64::MAX,
        visible_from: None,
        pruning: None,
        pruned: Default::default(),
        checked_against: None,
        at: ctx.read_point(),
    };
    let row_key = keys::row_key(&keys::scope_row_prefix(entry.id(), &table.scope), key);
    let batches = read_keys(&ctx.shared.store, &ctx.shared.cold, schema, &request, &[row_key]);
    // Read, then checked: a table dropped or altered meanwhile fails the read (as a scan
    // does), with that error rather than one of decoding a row of a newer version.
    ctx.shared.catalog.check_current(entry)?;
    batches
}

async fn delete(ctx: &ExecContext, table: &ObjectRef, filter: &[Equality<'_>]) -> Result<Option<QueryResult>> {
    let Some(ResolvedTable { entry, scope }) = bind_table(ctx, table, TableAction::Write) else { return Ok(None) };
    let Some(key) = bind_key(&entry, filter) else { return Ok(None) };
    let row_keys: ArrayRef = Arc::new(BinaryArray::from(vec![key.as_slice()]));
    let writer = TableWriter::new(ctx.shared.clone(), entry, scope).within(ctx.transaction.clone());
    writer.delete(vec![row_keys]).await.map(|rows| Some(QueryResult::Count { command: CountedCommand::Delete, rows }))
}

/// SET expressions of simple UPDATEs planned by one session, so a statement repeated with
/// other key values is planned once. Entries are per table schema version; the session
/// clears the cache when a statement changes its settings.
#[derive(Debug, Default)]
pub struct AssignmentCache {
    planned: Mutex<HashMap<AssignmentKey, Arc<dyn PhysicalExpr>>>,
}

/// The most planned SET expressions a session keeps (it starts over when full).
const ASSIGNMENT_CACHE_ENTRIES: usize = 256;

#[derive(Debug, PartialEq, Eq, Hash)]
struct AssignmentKey {
    table: u64,
    schema_version: u32,
    /// The table as written, which qualified column references resolve against.
    qualifier: String,
    column: usize,
    expression: String,
}

impl AssignmentCache {
    pub fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<AssignmentKey, Arc<dyn PhysicalExpr>>> {
        self.planned.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Plans the new value of column `index` (the expression's text) as DataFusion's UPDATE
/// planning does: parsed in the session's dialect, against the table's columns qualified
/// by the table as written, cast to the column type. A repeated expression is planned once.
fn plan_assignment(ctx: &ExecContext, entry: &TableEntry, table: &ObjectRef, index: usize, text: &str) -> Option<Arc<dyn PhysicalExpr>> {
    let key = AssignmentKey {
        table: entry.id(),
        schema_version: entry.definition.schema_version,
        qualifier: format!("{:?}", (&table.namespace, &table.name)),
        column: index,
        expression: text.to_string(),
    };
    if let Some(planned) = ctx.assignments.lock().get(&key) {
        return Some(planned.clone());
    }
    let value = {
        let dialect = ctx.dialect().ok()?;
        let mut parser = Parser::new(dialect.as_ref()).try_with_sql(text).ok()?;
        let value = parser.parse_expr().ok()?;
        // The whole text, or the planned path (which reports what is wrong).
        if parser.peek_token().token != SqlToken::EOF {
            return None;
        }
        value
    };
    let qualifier = match &table.namespace {
        Some(namespace) => TableReference::partial(namespace.as_str(), table.name.as_str()),
        None => TableReference::bare(table.name.as_str()),
    };
    let df_schema = DFSchema::try_from_qualified_schema(qualifier, &entry.schema).ok()?;
    let planned = {
        let state = ctx.datafusion.state_ref();
        let state = state.read();
        let sql = SQLExprWithAlias { expr: value, alias: None };
        let expr = state
            .create_logical_expr_from_sql_expr(sql, &df_schema)
            .and_then(|expr| expr.cast_to(&entry.definition.columns[index].data_type, &df_schema))
            .ok()?;
        if !simplifies(&state, &expr, &df_schema) {
            return None;
        }
        state.create_physical_expr(expr, &df_schema).ok()?
    };
    let mut cache = ctx.assignments.lock();
    if cache.len() >= ASSIGNMENT_CACHE_ENTRIES {
        cache.clear();
    }
    cache.insert(key, planned.clone());
    Some(planned)
}

/// Runs `UPDATE t SET c = <expression>, ... WHERE <whole primary key> = <literals>` the way
/// DataFusion's UPDATE planning would: each new value planned against the table's columns
/// (qualified by the table as written) and cast to its column type, evaluated on the
/// current row, written through the same writer as the planned path. The row is read under
/// the write lock, as on the planned path.
async fn update(
    ctx: &ExecContext,
    table: &ObjectRef,
    assignments: &[(Cow<'_, str>, &str)],
    filter: &[Equality<'_>],
) -> Result<Option<QueryResult>> {
    let Some(resolved) = bind_table(ctx, table, TableAction::Write) else { return Ok(None) };
    let entry = resolved.entry.clone();
    let Some(key) = bind_key(&entry, filter) else { return Ok(None) };
    let mut new_values: Vec<Option<Arc<dyn PhysicalExpr>>> = vec![None; entry.definition.columns.len()];
    for (column, value) in assignments {
        let Some(index) = entry.definition.column_index(column) else { return Ok(None) };
        let Some(planned) = plan_assignment(ctx, &entry, table, index, value) else { return Ok(None) };
        new_values[index] = Some(planned);
    }
    let writer = TableWriter::new(ctx.shared.clone(), entry.clone(), resolved.scope.clone()).within(ctx.transaction.clone()).lock().await?;
    let all_columns = (0..entry.definition.columns.len()).collect();
    let current = read_row(ctx, &resolved, all_columns, &entry.schema, &key)?;
    let Some(current) = current.first() else { return Ok(Some(QueryResult::Count { command: CountedCommand::Update, rows: 0 })) };
    let mut columns = Vec::with_capacity(new_values.len());
    for (index, new_value) in new_values.iter().enumerate() {
        match new_value {
            None => columns.push(current.column(index).clone()),
            Some(expr) => {
                let evaluated = expr.evaluate(current).and_then(|value| value.into_array(current.num_rows()));
                match evaluated {
                    Ok(array) if array.data_type() == &entry.definition.columns[index].data_type => columns.push(array),
                    // An error (overflow, a failing cast) is the planned path's to report.
                    _ => return Ok(None),
                }
            }
        }
    }
    let Ok(values) = RecordBatch::try_new(entry.nullable_schema.clone(), columns) else { return Ok(None) };
    let row_keys: ArrayRef = Arc::new(BinaryArray::from(vec![key.as_slice()]));
    writer.update(vec![(values, row_keys)]).await.map(|rows| Some(QueryResult::Count { command: CountedCommand::Update, rows }))
}
