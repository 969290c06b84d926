//! The read-only `system` namespace: tables derived from live engine state each time a
//! statement resolves them (SPEC.md section 11).

mod columns;
mod namespaces;
mod tables;

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::MemTable;
use datafusion::common::Result as DfResult;
use datafusion::datasource::TableProvider;

use crate::shared::EngineShared;

/// Builds the current contents of one system table.
pub fn system_table_batch(shared: &EngineShared, name: &str) -> Option<RecordBatch> {
    match name {
        "namespaces" => Some(namespaces::batch(shared)),
        "tables" => Some(tables::batch(shared)),
        "columns" => Some(columns::batch(shared)),
        _ => None,
    }
}

/// A provider over a snapshot of one system table, taken now. Writes never reach it: the
/// resolver refuses them for the whole `system` namespace.
pub fn table_provider(shared: &EngineShared, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
    let Some(batch) = system_table_batch(shared, name) else { return Ok(None) };
    let table = MemTable::try_new(batch.schema(), vec![vec![batch]])?;
    Ok(Some(Arc::new(Snapshot(table))))
}

/// A system table: a read-only snapshot (DataFusion's default answer to a write is an
/// error).
#[derive(Debug)]
struct Snapshot(MemTable);

#[async_trait]
impl TableProvider for Snapshot {
    fn schema(&self) -> datafusion::arrow::datatypes::SchemaRef {
        self.0.schema()
    }

    fn table_type(&self) -> datafusion::datasource::TableType {
        datafusion::datasource::TableType::View
    }

    async fn scan(
        &self,
        state: &dyn datafusion::catalog::Session,
        projection: Option<&Vec<usize>>,
        filters: &[datafusion::logical_expr::Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn datafusion::physical_plan::ExecutionPlan>> {
        self.0.scan(state, projection, filters, limit).await
    }
}
