//! The catalog: namespaces and tables, persisted in RocksDB and cached in memory.
//!
//! Every change is written to RocksDB first (one atomic batch) and then applied to the
//! in-memory maps, so the cache never shows what storage does not hold. Sessions read the
//! cache; DataFusion sees it through [`crate::session::catalog_provider`].
//!
//! Architecture invariant: DROP TABLE removes the table's catalog keys and every row key
//! in the same batch, then compacts the range, so no byte of the table remains.

pub mod definition;
pub mod kinds;
pub mod options;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use crate::error::{EngineError, Result, SqlState};
use crate::storage::{ChangeSet, Store, TableId, WriteGuard, keys};

pub use definition::{ColumnDefinition, ColumnFill, NamespaceRecord, TableDefinition, TableEntry};
pub use kinds::{AccessLevel, ROW_KEY_COLUMN, SystemColumn, TableKind};
pub use options::{FlushPolicy, TableOptions};

/// The namespace every engine starts with.
pub const DEFAULT_NAMESPACE: &str = "default";
/// The reserved namespace of the read-only system tables.
pub const SYSTEM_NAMESPACE: &str = "system";
/// DataFusion's own metadata schema.
pub const INFORMATION_SCHEMA: &str = "information_schema";

const NEXT_TABLE_ID_META: &str = "next_table_id";

/// Builds the runtime entry of a table from its stored versions (plans DEFAULT expressions).
pub type EntryBuilder = dyn Fn(BTreeMap<u32, TableDefinition>) -> Result<TableEntry> + Send + Sync;

#[derive(Default)]
struct CatalogState {
    namespaces: BTreeMap<String, NamespaceRecord>,
    tables: BTreeMap<(String, String), Arc<TableEntry>>,
    next_table_id: TableId,
}

pub struct Catalog {
    store: Arc<Store>,
    state: RwLock<CatalogState>,
}

impl Catalog {
    /// Loads the catalog; creates the `default` namespace on a new data directory.
    pub fn load(store: Arc<Store>, build_entry: &EntryBuilder, now_millis: i64) -> Result<Catalog> {
        let mut state = CatalogState { next_table_id: 1, ..Default::default() };
        for (key, value) in store.scan_prefix(&keys::namespace_prefix())? {
            let record: NamespaceRecord = decode_json(&value)?;
            debug_assert_eq!(keys::namespace_from_key(&key), Some(record.name.as_str()));
            state.namespaces.insert(record.name.clone(), record);
        }
        let mut versions: BTreeMap<TableId, BTreeMap<u32, TableDefinition>> = BTreeMap::new();
        for (_, value) in store.scan_prefix(&keys::all_table_definitions_prefix())? {
            let definition: TableDefinition = decode_json(&value)?;
            versions.entry(definition.id).or_default().insert(definition.schema_version, definition);
        }
        for (_, table_versions) in versions {
            let entry = build_entry(table_versions)?;
            let key = (entry.definition.namespace.clone(), entry.definition.name.clone());
            state.tables.insert(key, Arc::new(entry));
        }
        if let Some(bytes) = store.get(&keys::meta_key(NEXT_TABLE_ID_META))? {
            state.next_table_id = u64::from_be_bytes(bytes.as_slice().try_into().unwrap_or([0; 8])).max(1);
        }
        let catalog = Catalog { store, state: RwLock::new(state) };
        if !catalog.namespace_exists(DEFAULT_NAMESPACE) {
            let record = NamespaceRecord { name: DEFAULT_NAMESPACE.into(), created_at_millis: now_millis };
            let mut changes = ChangeSet::default();
            changes.put(&keys::namespace_key(DEFAULT_NAMESPACE), &encode_json(&record));
            catalog.store.commit_unlocked_bootstrap(changes)?;
            catalog.write().namespaces.insert(record.name.clone(), record);
        }
        Ok(catalog)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, CatalogState> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, CatalogState> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }

    pub fn namespace_exists(&self, name: &str) -> bool {
        self.read().namespaces.contains_key(name)
    }

    pub fn namespaces(&self) -> Vec<NamespaceRecord> {
        self.read().namespaces.values().cloned().collect()
    }

    pub fn table(&self, namespace: &str, name: &str) -> Option<Arc<TableEntry>> {
        self.read().tables.get(&(namespace.to_string(), name.to_string())).cloned()
    }

    /// Every table, ordered by namespace and name.
    pub fn tables(&self) -> Vec<Arc<TableEntry>> {
        self.read().tables.values().cloned().collect()
    }

    pub fn tables_in(&self, namespace: &str) -> Vec<Arc<TableEntry>> {
        self.read()
            .tables
            .iter()
            .filter(|((ns, _), _)| ns == namespace)
            .map(|(_, entry)| entry.clone())
            .collect()
    }

    /// Creates a namespace. Returns `false` when it exists and `if_not_exists` is set.
    pub fn create_namespace(&self, guard: &WriteGuard<'_>, name: &str, if_not_exists: bool, now_millis: i64) -> Result<bool> {
        check_namespace_name(name)?;
        if self.namespace_exists(name) {
            if if_not_exists {
                return Ok(false);
            }
            return Err(EngineError::new(SqlState::DUPLICATE_NAMESPACE, format!("namespace {name} already exists")));
        }
        let record = NamespaceRecord { name: name.to_string(), created_at_millis: now_millis };
        let mut changes = ChangeSet::default();
        changes.put(&keys::namespace_key(name), &encode_json(&record));
        self.store.commit(guard, changes)?;
        self.write().namespaces.insert(name.to_string(), record);
        Ok(true)
    }

    /// Removes a namespace record; its tables must already be dropped.
    pub fn drop_namespace_record(&self, guard: &WriteGuard<'_>, name: &str) -> Result<()> {
        let mut changes = ChangeSet::default();
        changes.delete(&keys::namespace_key(name));
        self.store.commit(guard, changes)?;
        self.write().namespaces.remove(name);
        Ok(())
    }

    /// Allocates a table id (persisted with the table's first version).
    pub fn allocate_table_id(&self, _guard: &WriteGuard<'_>) -> TableId {
        let mut state = self.write();
        let id = state.next_table_id;
        state.next_table_id += 1;
        id
    }

    /// Persists a new table and makes it visible.
    pub fn create_table(&self, guard: &WriteGuard<'_>, entry: TableEntry) -> Result<Arc<TableEntry>> {
        let definition = &entry.definition;
        let mut changes = ChangeSet::default();
        changes.put(&keys::table_definition_key(definition.id, definition.schema_version), &encode_json(definition));
        changes.put(&keys::table_name_key(&definition.namespace, &definition.name), &definition.id.to_be_bytes());
        changes.put(&keys::meta_key(NEXT_TABLE_ID_META), &(definition.id + 1).to_be_bytes());
        self.store.commit(guard, changes)?;
        let entry = Arc::new(entry);
        let key = (entry.definition.namespace.clone(), entry.definition.name.clone());
        self.write().tables.insert(key, entry.clone());
        Ok(entry)
    }

    /// Removes a table: every schema version, its name, and every row of every scope.
    pub fn drop_table(&self, guard: &WriteGuard<'_>, entry: &TableEntry) -> Result<()> {
        let definition = &entry.definition;
        let mut changes = ChangeSet::default();
        changes.delete_prefix(&keys::table_definition_prefix(definition.id));
        changes.delete(&keys::table_name_key(&definition.namespace, &definition.name));
        changes.delete_prefix(&keys::table_row_prefix(definition.id));
        self.store.commit(guard, changes)?;
        self.store.compact_prefix(&keys::table_row_prefix(definition.id));
        self.store.compact_prefix(&keys::table_definition_prefix(definition.id));
        self.write().tables.remove(&(definition.namespace.clone(), definition.name.clone()));
        Ok(())
    }
}

fn check_namespace_name(name: &str) -> Result<()> {
    if name == SYSTEM_NAMESPACE || name == INFORMATION_SCHEMA {
        return Err(EngineError::new(SqlState::RESERVED_NAME, format!("namespace name {name} is reserved")));
    }
    if name.is_empty() || name.contains('\0') {
        return Err(EngineError::invalid_parameter("a namespace name may not be empty or contain a zero byte"));
    }
    Ok(())
}

pub(crate) fn encode_json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("catalog records always serialize")
}

fn decode_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| EngineError::internal(format!("corrupt catalog record: {e}")))
}
