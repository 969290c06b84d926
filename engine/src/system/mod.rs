//! The read-only `system` namespace: tables derived from live engine state each time a
//! statement resolves them (README.md#the-table-model-in-brief). Each is built for the user reading it:
//! below dba, the listings hold only what that user may read ([`resolver::may_list`]).

mod columns;
mod jobs;
mod live_queries;
mod namespaces;
mod tables;
mod users;

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::MemTable;
use datafusion::common::Result as DfResult;
use datafusion::datasource::TableProvider;

use crate::permissions::SessionUser;
use crate::resolver;
use crate::shared::EngineShared;

/// Builds the current contents of one system table, as `user` sees it (the resolver has
/// checked that `user` may read the table at all).
pub fn system_table_batch(shared: &EngineShared, user: &SessionUser, name: &str) -> Option<RecordBatch> {
    let listed = |namespace: &str, object: &str| resolver::may_list(shared, user, namespace, object);
    match name {
        "namespaces" => Some(namespaces::batch(shared, &listed)),
        "tables" => Some(tables::batch(shared, user, &listed)),
        "columns" => Some(columns::batch(shared, &listed)),
        "users" => Some(users::batch(shared)),
        "jobs" => Some(jobs::batch(shared)),
        "live_queries" => Some(live_queries::batch(shared, user)),
        _ => None,
    }
}

/// A provider over a snapshot of one system table, taken now. Writes never reach it: the
/// resolver refuses them for the whole `system` namespace.
pub fn table_provider(shared: &EngineShared, user: &SessionUser, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
    let Some(batch) = system_table_batch(shared, user, name) else { return Ok(None) };
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
