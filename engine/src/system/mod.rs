//! The read-only `system` namespace: tables derived from live engine state each time a
//! statement resolves them (SPEC.md section 11).

mod columns;
mod namespaces;
mod tables;

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{MemTable, SchemaProvider};
use datafusion::common::Result as DfResult;
use datafusion::datasource::TableProvider;

use crate::engine::EngineShared;
use crate::error::{EngineError, SqlState};

/// The names of the system tables, in display order.
pub const SYSTEM_TABLES: [&str; 3] = ["namespaces", "tables", "columns"];

/// Builds the current contents of one system table.
pub fn system_table_batch(shared: &EngineShared, name: &str) -> Option<RecordBatch> {
    match name {
        "namespaces" => Some(namespaces::batch(shared)),
        "tables" => Some(tables::batch(shared)),
        "columns" => Some(columns::batch(shared)),
        _ => None,
    }
}

#[derive(Debug)]
pub struct SystemSchemaProvider {
    shared: Arc<EngineShared>,
}

impl SystemSchemaProvider {
    pub fn new(shared: Arc<EngineShared>) -> Self {
        SystemSchemaProvider { shared }
    }
}

#[async_trait]
impl SchemaProvider for SystemSchemaProvider {
    fn table_names(&self) -> Vec<String> {
        SYSTEM_TABLES.iter().map(|s| s.to_string()).collect()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        let Some(batch) = system_table_batch(&self.shared, name) else { return Ok(None) };
        let table = MemTable::try_new(batch.schema(), vec![vec![batch]])?;
        Ok(Some(Arc::new(ReadOnly(table))))
    }

    fn table_exist(&self, name: &str) -> bool {
        SYSTEM_TABLES.contains(&name)
    }
}

/// A system table: a snapshot that refuses every write.
#[derive(Debug)]
struct ReadOnly(MemTable);

#[async_trait]
impl TableProvider for ReadOnly {
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

    async fn insert_into(
        &self,
        _state: &dyn datafusion::catalog::Session,
        _input: Arc<dyn datafusion::physical_plan::ExecutionPlan>,
        _insert_op: datafusion::logical_expr::dml::InsertOp,
    ) -> DfResult<Arc<dyn datafusion::physical_plan::ExecutionPlan>> {
        Err(read_only().into())
    }

    async fn truncate(&self, _state: &dyn datafusion::catalog::Session) -> DfResult<Arc<dyn datafusion::physical_plan::ExecutionPlan>> {
        Err(read_only().into())
    }
}

pub fn read_only() -> EngineError {
    EngineError::new(SqlState::INSUFFICIENT_PRIVILEGE, "system tables are read-only")
}
