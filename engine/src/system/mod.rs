//! The read-only `system` namespace: tables derived from live engine state each time a
//! statement resolves them (README.md#the-table-model-in-brief). Each is built for the user reading it:
//! below dba, the listings hold only what that user may read ([`resolver::may_list`]).

mod columns;
mod jobs;
mod live_queries;
mod namespaces;
pub mod pg_catalog;
mod tables;
mod users;

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::MemTable;
use datafusion::common::Result as DfResult;
use datafusion::datasource::TableProvider;

use crate::catalog::SystemTable;
use crate::permissions::SessionUser;
use crate::resolver;
use crate::shared::EngineShared;

/// Builds the current contents of one system table, as `user` sees it (the resolver has
/// checked that `user` may read the table at all).
pub fn system_table_batch(shared: &EngineShared, user: &SessionUser, table: SystemTable) -> RecordBatch {
    let listed = |namespace: &str, object: &str| resolver::may_list(shared, user, namespace, object);
    match table {
        SystemTable::Namespaces => namespaces::batch(shared, &listed),
        SystemTable::Tables => tables::batch(shared, user, &listed),
        SystemTable::Columns => columns::batch(shared, &listed),
        SystemTable::Users => users::batch(shared),
        SystemTable::Jobs => jobs::batch(shared),
        SystemTable::LiveQueries => live_queries::batch(shared, user),
    }
}

/// A provider over a snapshot of one system table, taken now. Writes never reach it: the
/// resolver refuses them for the whole `system` namespace.
pub fn table_provider(shared: &EngineShared, user: &SessionUser, table: SystemTable) -> DfResult<Arc<dyn TableProvider>> {
    snapshot(system_table_batch(shared, user, table))
}

/// A provider over a snapshot of `pg_catalog.name` as `user` sees it (`None`: no such
/// table). Read only, as a system table.
pub fn pg_catalog_provider(shared: &EngineShared, user: &SessionUser, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
    let listed = |namespace: &str, object: &str| resolver::may_list(shared, user, namespace, object);
    pg_catalog::batch(shared, &listed, name).map(snapshot).transpose()
}

fn snapshot(batch: RecordBatch) -> DfResult<Arc<dyn TableProvider>> {
    let table = MemTable::try_new(batch.schema(), vec![vec![batch]])?;
    Ok(Arc::new(Snapshot(table)))
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
