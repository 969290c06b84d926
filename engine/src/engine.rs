//! The engine: opens a data directory and hands out sessions.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::Schema;
use datafusion::common::DFSchema;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::registry::FunctionRegistry;
use datafusion::execution::context::SessionState;
use datafusion::prelude::SessionConfig;

use crate::catalog::{Catalog, ColumnFill, DEFAULT_NAMESPACE, TableDefinition, TableEntry};
use crate::config::EngineConfig;
use crate::error::{EngineError, Result};
use crate::exec;
use crate::functions::{FunctionContext, engine_functions};
use crate::ids::SnowflakeGenerator;
use crate::session::{Session, SessionUser};
use crate::storage::Store;

/// The name of the DataFusion catalog that holds the namespaces.
pub const CATALOG_NAME: &str = "engine";

/// State shared by every session of one engine.
#[derive(Debug)]
pub struct EngineShared {
    pub config: EngineConfig,
    pub store: Arc<Store>,
    pub catalog: Catalog,
    pub functions: Arc<FunctionContext>,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Catalog")
    }
}

impl EngineShared {
    pub fn now_millis(&self) -> i64 {
        self.config.clock.now_millis()
    }

    /// The DataFusion configuration every session starts from.
    pub fn session_config(&self) -> SessionConfig {
        let config = match self.config.target_partitions {
            Some(partitions) => SessionConfig::new().with_target_partitions(partitions),
            None => SessionConfig::new(),
        };
        config
            .with_information_schema(true)
            .with_default_catalog_and_schema(CATALOG_NAME, DEFAULT_NAMESPACE)
            .with_create_default_catalog_and_schema(false)
    }

    /// A DataFusion session state with the engine's functions, without any tables.
    pub fn base_state(config: SessionConfig, functions: &Arc<FunctionContext>) -> SessionState {
        let mut state = SessionStateBuilder::new().with_config(config).with_default_features().build();
        for udf in engine_functions(functions) {
            state.register_udf(Arc::new(udf)).expect("registering a scalar function cannot fail");
        }
        state
    }
}

/// An open engine. Cheap to clone; sessions may be used from many threads at once.
#[derive(Clone, Debug)]
pub struct Engine {
    shared: Arc<EngineShared>,
}

impl Engine {
    /// Opens (or creates) the engine on `config.data_dir`.
    pub fn open(config: EngineConfig) -> Result<Engine> {
        let store = Arc::new(Store::open(&config.data_dir.join("hot"), config.block_cache_bytes)?);
        let functions = Arc::new(FunctionContext {
            clock: config.clock.clone(),
            ids: config.ids.clone(),
            snowflakes: SnowflakeGenerator::resume(0, config.clock.as_ref()),
        });
        let planning_state = EngineShared::base_state(SessionConfig::new(), &functions);
        let build = move |versions: BTreeMap<u32, TableDefinition>| build_table_entry(&planning_state, versions);
        let catalog = Catalog::load(store.clone(), &build, config.clock.now_millis())?;
        Ok(Engine { shared: Arc::new(EngineShared { config, store, catalog, functions }) })
    }

    /// A session for a user authenticated by the embedding application (trusted, in-process).
    /// Only `root` exists until users arrive.
    pub fn session(&self, user: &str) -> Result<Session> {
        let user = SessionUser::lookup(user)?;
        Session::new(self.shared.clone(), user)
    }

    /// A session as `root` (role system).
    pub fn root_session(&self) -> Session {
        Session::new(self.shared.clone(), SessionUser::root()).expect("root session")
    }

    /// Every key and value in hot storage, in key order (for storage snapshots).
    pub fn dump_storage(&self) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.shared.store.dump()
    }

    /// The engine's catalog (for storage snapshots and embedding tools).
    pub fn shared(&self) -> &Arc<EngineShared> {
        &self.shared
    }
}

/// Builds the runtime view of a table from its stored schema versions.
pub fn build_table_entry(state: &SessionState, versions: BTreeMap<u32, TableDefinition>) -> Result<TableEntry> {
    let (_, definition) = versions
        .iter()
        .next_back()
        .ok_or_else(|| EngineError::internal("a table without a definition"))?;
    let definition = definition.clone();
    let schema = definition.arrow_schema();
    let df_schema = DFSchema::try_from(schema.as_ref().clone())?;
    let mut defaults = std::collections::HashMap::new();
    let mut fills = Vec::with_capacity(definition.columns.len());
    for column in &definition.columns {
        match &column.default_sql {
            Some(sql) => {
                let expr = state.create_logical_expr(sql, &df_schema)?;
                fills.push(exec::simple::prepare_fill(state, &expr, &column.data_type));
                defaults.insert(column.name.clone(), expr);
            }
            None => fills.push(ColumnFill::Null),
        }
    }
    let nullable_schema = Arc::new(Schema::new(
        schema.fields().iter().map(|f| f.as_ref().clone().with_nullable(true)).collect::<Vec<_>>(),
    ));
    let key_columns = definition
        .primary_key
        .iter()
        .map(|id| {
            definition
                .columns
                .iter()
                .position(|c| c.id == *id)
                .ok_or_else(|| EngineError::internal("primary key names a missing column"))
        })
        .collect::<Result<Vec<_>>>()?;
    let layouts = versions.into_iter().map(|(v, d)| (v, d.columns)).collect();
    Ok(TableEntry { definition, schema, nullable_schema, key_columns, defaults, fills, versions: layouts })
}

impl Engine {
    /// Every stored key and value, decoded, one line each (storage snapshots, cleanup tests).
    pub fn describe_storage(&self) -> Result<Vec<String>> {
        crate::inspect::describe_storage(&self.shared)
    }

    /// The data directory this engine runs on.
    pub fn data_dir(&self) -> &std::path::Path {
        &self.shared.config.data_dir
    }

    /// Flushes RocksDB's memtables so every acknowledged write is in its files.
    pub fn flush_hot_storage(&self) -> Result<()> {
        self.shared.store.flush()
    }
}
