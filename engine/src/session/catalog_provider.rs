//! DataFusion's view of the engine catalog for one session: namespaces as schemas, the
//! `system` schema, and one [`EngineTableProvider`] per table reference, built for the
//! statement being planned.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{CatalogProvider, SchemaProvider};
use datafusion::common::Result as DfResult;
use datafusion::datasource::TableProvider;

use crate::catalog::{SYSTEM_NAMESPACE, TableEntry};
use crate::engine::EngineShared;
use crate::error::EngineError;
use crate::provider::{EngineTableProvider, Exposure};
use crate::session::scope::{self, ScopeCell};
use crate::storage::RowScope;
use crate::system::SystemSchemaProvider;

#[derive(Debug)]
pub struct SessionCatalog {
    shared: Arc<EngineShared>,
    scope: ScopeCell,
}

impl SessionCatalog {
    pub fn new(shared: Arc<EngineShared>, scope: ScopeCell) -> Self {
        SessionCatalog { shared, scope }
    }
}

impl CatalogProvider for SessionCatalog {
    fn schema_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.shared.catalog.namespaces().into_iter().map(|n| n.name).collect();
        names.push(SYSTEM_NAMESPACE.to_string());
        names
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        if name == SYSTEM_NAMESPACE {
            return Some(Arc::new(SystemSchemaProvider::new(self.shared.clone())));
        }
        self.shared.catalog.namespace_exists(name).then(|| {
            Arc::new(NamespaceSchema { shared: self.shared.clone(), scope: self.scope.clone(), namespace: name.to_string() })
                as Arc<dyn SchemaProvider>
        })
    }

    fn register_schema(&self, name: &str, _schema: Arc<dyn SchemaProvider>) -> DfResult<Option<Arc<dyn SchemaProvider>>> {
        Err(EngineError::not_supported(format!("use CREATE NAMESPACE {name} to create a namespace")).into())
    }
}

#[derive(Debug)]
struct NamespaceSchema {
    shared: Arc<EngineShared>,
    scope: ScopeCell,
    namespace: String,
}

/// Builds the provider a statement sees for `entry`.
pub fn provider_for(shared: &Arc<EngineShared>, scope: &ScopeCell, entry: Arc<TableEntry>) -> EngineTableProvider {
    let statement = scope::current(scope);
    let definition = &entry.definition;
    let is_target = statement
        .target
        .as_ref()
        .filter(|t| t.namespace == definition.namespace && t.table == definition.name);
    let exposure = match is_target {
        // INSERT targets see exactly the user columns, so the insert planner fills those.
        Some(target) if !target.needs_row_key => Exposure { relax_not_null: true, ..Exposure::default() },
        _ => Exposure {
            system_columns: entry
                .kind()
                .system_columns()
                .iter()
                .copied()
                .filter(|c| statement.mentions.contains(c))
                .collect(),
            mentions_deleted: statement.mentions.contains(&crate::catalog::SystemColumn::Deleted),
            row_key: is_target.is_some(),
            relax_not_null: false,
        },
    };
    EngineTableProvider::new(shared.clone(), entry, RowScope::Shared, exposure)
}

#[async_trait]
impl SchemaProvider for NamespaceSchema {
    fn table_names(&self) -> Vec<String> {
        self.shared.catalog.tables_in(&self.namespace).iter().map(|t| t.definition.name.clone()).collect()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        Ok(self
            .shared
            .catalog
            .table(&self.namespace, name)
            .map(|entry| Arc::new(provider_for(&self.shared, &self.scope, entry)) as Arc<dyn TableProvider>))
    }

    fn register_table(&self, name: String, _table: Arc<dyn TableProvider>) -> DfResult<Option<Arc<dyn TableProvider>>> {
        Err(EngineError::not_supported(format!("cannot register {name}: views and external tables are not supported")).into())
    }

    fn deregister_table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        Err(EngineError::not_supported(format!("use DROP TABLE to drop {name}")).into())
    }

    fn table_exist(&self, name: &str) -> bool {
        self.shared.catalog.table(&self.namespace, name).is_some()
    }
}
