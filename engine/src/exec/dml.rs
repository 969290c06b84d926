//! UPDATE and DELETE, executed from the plan DataFusion built for them.
//!
//! DataFusion plans the statement (any WHERE it can plan: subqueries, joins with
//! `UPDATE ... FROM`, functions); the engine runs the plan's input, which yields the
//! target's rows with their internal row key and, for UPDATE, the new values, and then
//! writes them in one statement. The write lock of the target's row scope is taken before
//! the rows are read, so no other writer of those rows commits between reading and
//! writing; writers of other tables go on meanwhile.

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::compute::cast;

use datafusion::arrow::datatypes::{DataType, UInt64Type};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::datasource::source_as_provider;
use datafusion::logical_expr::{DmlStatement, Expr, LogicalPlan, LogicalPlanBuilder, WriteOp, col};

use crate::catalog::{ROW_KEY_COLUMN, SystemColumn};
use crate::error::{EngineError, Result};
use crate::exec::context::ExecContext;
use crate::provider::EngineTableProvider;
use crate::provider::statement::DmlKind;
use crate::provider::writer::TableWriter;

/// Sums the `count` column of DataFusion's DML results.
pub fn count_of(batches: &[RecordBatch]) -> u64 {
    batches
        .iter()
        .filter_map(|b| b.column_by_name("count"))
        .filter_map(|c| c.as_primitive_opt::<UInt64Type>())
        .flat_map(|c| c.iter().flatten())
        .sum()
}

pub async fn execute(ctx: &ExecContext, dml: DmlStatement) -> Result<u64> {
    let provider = source_as_provider(&dml.target)?;
    // The resolver lets only engine tables be written; anything else here is a bug.
    let Some(table) = provider.downcast_ref::<EngineTableProvider>() else {
        return Err(EngineError::internal(format!("{} is not an engine table", dml.table_name)));
    };
    table.check_write(DmlKind::UpdateOrDelete)?;
    let entry = table.entry().clone();
    let writer = TableWriter::new(ctx.shared.clone(), entry.clone(), table.scope().clone())
        .within(ctx.transaction.clone())
        .reading(ctx.read_point())
        .reads_own_scope_under_lock()
        .lock()
        .await?;
    match dml.op {
        WriteOp::Delete => {
            let plan = LogicalPlanBuilder::from(dml.input.as_ref().clone()).project(vec![col(ROW_KEY_COLUMN)])?.build()?;
            let batches = run(ctx, plan).await?;
            let keys: Vec<ArrayRef> = batches.iter().map(|b| b.column(0).clone()).collect();
            writer.delete(keys).await
        }
        WriteOp::Update => {
            check_assignments(&dml.input)?;
            let batches = run(ctx, dml.input.as_ref().clone()).await?;
            let mut rows = Vec::with_capacity(batches.len());
            for batch in &batches {
                let mut values = Vec::with_capacity(entry.definition.columns.len());
                for column in &entry.definition.columns {
                    let array = batch
                        .column_by_name(&column.name)
                        .ok_or_else(|| EngineError::internal(format!("UPDATE lost column {}", column.name)))?;
                    values.push(cast_to(array, &column.data_type)?);
                }
                let row_key = batch.column_by_name(ROW_KEY_COLUMN).ok_or_else(|| EngineError::internal("UPDATE lost the row key"))?.clone();
                // NOT NULL is the writer's check (with its SQLSTATE), not Arrow's.
                let values = RecordBatch::try_new(entry.nullable_schema.clone(), values)
                    .map_err(|e| EngineError::internal(format!("UPDATE values: {e}")))?;
                rows.push((values, row_key));
            }
            writer.update(rows).await
        }
        other => Err(EngineError::internal(format!("{other} is not executed here"))),
    }
}

async fn run(ctx: &ExecContext, plan: LogicalPlan) -> Result<Vec<RecordBatch>> {
    Ok(ctx.datafusion.execute_logical_plan(plan).await?.collect().await?)
}

fn cast_to(array: &ArrayRef, data_type: &DataType) -> Result<ArrayRef> {
    if array.data_type() == data_type {
        return Ok(array.clone());
    }
    cast(array.as_ref(), data_type).map_err(|e| EngineError::from(datafusion::error::DataFusionError::from(e)))
}

/// System columns and the row key are maintained by the engine; SET may not touch them.
fn check_assignments(input: &LogicalPlan) -> Result<()> {
    let LogicalPlan::Projection(projection) = input else { return Ok(()) };
    for expr in &projection.expr {
        let (name, value) = match expr {
            Expr::Alias(alias) => (alias.name.as_str(), alias.expr.as_ref()),
            Expr::Column(column) => (column.name.as_str(), expr),
            _ => continue,
        };
        let protected = SystemColumn::from_name(name).is_some() || name == ROW_KEY_COLUMN;
        let unchanged = matches!(value, Expr::Column(column) if column.name == name);
        if protected && !unchanged {
            return Err(EngineError::not_supported(format!("system column {name} cannot be updated")));
        }
    }
    Ok(())
}
