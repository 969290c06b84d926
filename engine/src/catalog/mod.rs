//! The catalog: namespaces, tables, views and users, persisted in RocksDB and cached in memory.
//!
//! Every change is written to RocksDB first (one atomic batch) and then applied to the
//! in-memory maps, so the cache never shows what storage does not hold. Sessions read the
//! cache; DataFusion sees it through the session's catalog provider. Changes are made
//! under the catalog's DDL lock ([`Catalog::lock_ddl`]), one at a time; DROP TABLE also
//! holds the table's exclusive write lock, so no writer of the table is mid-statement.
//!
//! Architecture invariant: DROP TABLE removes the table's catalog keys and every row key
//! in the same batch, and the caller then compacts the range, so no byte of the table
//! remains.

pub mod definition;
pub mod entry;
pub mod kinds;
pub mod options;
pub mod system_tables;
pub mod users;
pub mod view;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use crate::error::{EngineError, Result, SqlState};
use crate::storage::{ChangeSet, Counter, ROOT_USER_ID, RowScope, ScopeWriteGuard, Store, TableId, TableWriteGuard, UserId, keys};

pub use definition::{ColumnDefinition, ColumnFill, NamespaceRecord, TableDefinition, TableEntry};
pub use entry::EntryPlanner;
pub use kinds::{AccessLevel, KindRules, ROW_KEY_COLUMN, RowOwner, SystemColumn, TableKind};
pub use options::{FlushPolicy, TableOptions};
pub use system_tables::SystemTable;
pub use users::{ROOT_USER, Role, UserRecord, check_user_name};
pub use view::{ViewColumn, ViewDefinition};

/// The name of the DataFusion catalog that holds the namespaces.
pub const CATALOG_NAME: &str = "engine";
/// The catalog an INSERT target is planned in when its statement names system columns
/// (the same namespaces and tables, showing only user columns; see `exec::query`).
pub const INSERT_TARGET_CATALOG: &str = "engine_insert_target";
/// The namespace every engine starts with.
pub const DEFAULT_NAMESPACE: &str = "default";
/// The reserved namespace of the read-only system tables.
pub const SYSTEM_NAMESPACE: &str = "system";
/// DataFusion's own metadata schema.
pub const INFORMATION_SCHEMA: &str = "information_schema";

#[derive(Default)]
struct CatalogState {
    namespaces: BTreeMap<String, NamespaceRecord>,
    tables: BTreeMap<(String, String), Arc<TableEntry>>,
    views: BTreeMap<(String, String), Arc<ViewDefinition>>,
    users: BTreeMap<String, Arc<UserRecord>>,
    user_ids: std::collections::HashSet<UserId>,
    next_table_id: TableId,
    next_user_id: UserId,
}

/// What a name in a namespace stands for.
#[derive(Debug, Clone)]
pub enum CatalogObject {
    Table(Arc<TableEntry>),
    View(Arc<ViewDefinition>),
}

impl CatalogObject {
    /// `table` or `view`, for messages.
    pub fn noun(&self) -> &'static str {
        match self {
            CatalogObject::Table(_) => "table",
            CatalogObject::View(_) => "view",
        }
    }
}

/// Proof that the holder is the only one changing the catalog.
pub struct DdlGuard {
    _held: tokio::sync::OwnedMutexGuard<()>,
}

pub struct Catalog {
    store: Arc<Store>,
    planner: EntryPlanner,
    state: RwLock<CatalogState>,
    ddl: Arc<tokio::sync::Mutex<()>>,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Catalog")
    }
}

impl Catalog {
    /// Loads the catalog; creates the `default` namespace on a new data directory.
    pub fn load(store: Arc<Store>, planner: EntryPlanner, now_millis: i64) -> Result<Catalog> {
        let mut state = CatalogState {
            next_table_id: store.counter(Counter::NextTableId)?,
            next_user_id: store.counter(Counter::NextUserId)?,
            ..Default::default()
        };
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
        for (table_id, table_versions) in versions {
            if table_id >= state.next_table_id {
                return Err(EngineError::new(
                    SqlState::DATA_CORRUPTED,
                    format!(
                        "the catalog is damaged: table #{table_id} exists but the next table id is {}; restore it from a backup",
                        state.next_table_id
                    ),
                ));
            }
            let entry = planner.build(table_versions)?;
            let key = (entry.definition.namespace.clone(), entry.definition.name.clone());
            state.tables.insert(key, Arc::new(entry));
        }
        for (_, value) in store.scan_prefix(&keys::all_views_prefix())? {
            let view: ViewDefinition = decode_json(&value)?;
            state.views.insert((view.namespace.clone(), view.name.clone()), Arc::new(view));
        }
        for (_, value) in store.scan_prefix(&keys::all_users_prefix())? {
            let user: UserRecord = decode_json(&value)?;
            state.user_ids.insert(user.id);
            state.users.insert(user.name.clone(), Arc::new(user));
        }
        let catalog = Catalog { store, planner, state: RwLock::new(state), ddl: Arc::default() };
        if catalog.user(ROOT_USER).is_none() {
            let root = UserRecord {
                id: ROOT_USER_ID,
                name: ROOT_USER.into(),
                role: Role::System,
                password_hash: None,
                scram: None,
                created_at_millis: now_millis,
            };
            let mut changes = ChangeSet::default();
            changes.put(&keys::user_key(ROOT_USER), &encode_json(&root));
            catalog.store.commit(changes)?;
            let mut state = catalog.write();
            state.user_ids.insert(root.id);
            state.users.insert(root.name.clone(), Arc::new(root));
        }
        if !catalog.namespace_exists(DEFAULT_NAMESPACE) {
            let record = NamespaceRecord { name: DEFAULT_NAMESPACE.into(), created_at_millis: now_millis };
            let mut changes = ChangeSet::default();
            changes.put(&keys::namespace_key(DEFAULT_NAMESPACE), &encode_json(&record));
            catalog.store.commit(changes)?;
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

    /// Waits until the caller is the only one changing the catalog.
    pub async fn lock_ddl(&self) -> DdlGuard {
        DdlGuard { _held: self.ddl.clone().lock_owned().await }
    }

    /// Builds table entries (plans DEFAULTs with a definition's settings).
    pub fn planner(&self) -> &EntryPlanner {
        &self.planner
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

    /// The table `entry` names as the catalog holds it now (its newest schema version), or
    /// `None` once it was dropped (a table of the same name created since is another).
    pub fn current(&self, entry: &TableEntry) -> Option<Arc<TableEntry>> {
        let definition = &entry.definition;
        self.table(&definition.namespace, &definition.name).filter(|t| t.id() == entry.id())
    }

    /// Whether `entry` is still the table the catalog holds under its name at its schema
    /// version: 42P01 once it was dropped, 40001 once an ALTER TABLE gave it a newer
    /// version (run the statement again). A statement planned against `entry` asks this
    /// under its scope's write lock (a write) or once its snapshot exists (a read): the
    /// catalog changes its cache in the same critical section as its commit, so a
    /// statement that passes never sees rows of a table half dropped or of a newer shape.
    pub fn check_current(&self, entry: &TableEntry) -> Result<()> {
        let definition = &entry.definition;
        match self.current(entry) {
            Some(current) => {
                if current.definition.schema_version != definition.schema_version {
                    return Err(EngineError::new(
                        SqlState::SERIALIZATION_FAILURE,
                        format!("table {} changed while the statement ran; run it again", definition.qualified_name()),
                    ));
                }
                Ok(())
            }
            _ => Err(EngineError::new(
                SqlState::UNDEFINED_TABLE,
                format!("table {} was dropped while the statement ran", definition.qualified_name()),
            )),
        }
    }

    /// The table or view `namespace.name`.
    pub fn object(&self, namespace: &str, name: &str) -> Option<CatalogObject> {
        let state = self.read();
        let key = (namespace.to_string(), name.to_string());
        match state.tables.get(&key) {
            Some(table) => Some(CatalogObject::Table(table.clone())),
            None => state.views.get(&key).map(|view| CatalogObject::View(view.clone())),
        }
    }

    /// Every table, ordered by namespace and name.
    pub fn tables(&self) -> Vec<Arc<TableEntry>> {
        self.read().tables.values().cloned().collect()
    }

    /// Every view, ordered by namespace and name.
    pub fn views(&self) -> Vec<Arc<ViewDefinition>> {
        self.read().views.values().cloned().collect()
    }

    pub fn tables_in(&self, namespace: &str) -> Vec<Arc<TableEntry>> {
        self.read().tables.iter().filter(|((ns, _), _)| ns == namespace).map(|(_, entry)| entry.clone()).collect()
    }

    pub fn views_in(&self, namespace: &str) -> Vec<Arc<ViewDefinition>> {
        self.read().views.iter().filter(|((ns, _), _)| ns == namespace).map(|(_, view)| view.clone()).collect()
    }

    /// The names of the tables and views of a namespace, in order.
    pub fn object_names_in(&self, namespace: &str) -> Vec<String> {
        let state = self.read();
        let mut names: Vec<String> =
            state.tables.keys().chain(state.views.keys()).filter(|(ns, _)| ns == namespace).map(|(_, name)| name.clone()).collect();
        names.sort();
        names
    }

    /// Creates a namespace. Returns `false` when it exists and `if_not_exists` is set.
    pub fn create_namespace(&self, _ddl: &DdlGuard, name: &str, if_not_exists: bool, now_millis: i64) -> Result<bool> {
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
        self.store.commit(changes)?;
        self.write().namespaces.insert(name.to_string(), record);
        Ok(true)
    }

    /// Allocates a table id (persisted with the table's first version).
    pub fn allocate_table_id(&self, _ddl: &DdlGuard) -> TableId {
        let mut state = self.write();
        let id = state.next_table_id;
        state.next_table_id += 1;
        id
    }

    /// Persists a new table, with `rows` (CREATE TABLE AS) in the same atomic commit, and
    /// makes it visible.
    pub fn create_table(&self, _ddl: &DdlGuard, entry: Arc<TableEntry>, rows: ChangeSet) -> Result<Arc<TableEntry>> {
        let definition = &entry.definition;
        let mut changes = ChangeSet::default();
        changes.put(&keys::table_definition_key(definition.id, definition.schema_version), &encode_json(definition));
        changes.put(&keys::table_name_key(&definition.namespace, &definition.name), &definition.id.to_be_bytes());
        changes.set_counter(Counter::NextTableId, definition.id + 1);
        changes.append(rows);
        self.store.commit(changes)?;
        let key = (entry.definition.namespace.clone(), entry.definition.name.clone());
        self.write().tables.insert(key, entry.clone());
        Ok(entry)
    }

    /// Stores the next schema version of a table (ALTER TABLE) and makes it current. The
    /// caller holds the table's exclusive write lock; writers planned against the old
    /// version fail with 40001 when they get the lock.
    pub fn add_table_version(&self, _ddl: &DdlGuard, table_lock: &TableWriteGuard, definition: TableDefinition) -> Result<Arc<TableEntry>> {
        let current = self
            .table(&definition.namespace, &definition.name)
            .filter(|entry| entry.id() == definition.id && table_lock.table_id() == definition.id)
            .ok_or_else(|| EngineError::internal("ALTER TABLE lost its table"))?;
        if definition.schema_version != current.definition.schema_version + 1 {
            return Err(EngineError::internal("ALTER TABLE skipped a schema version"));
        }
        let mut versions: BTreeMap<u32, TableDefinition> = current
            .versions
            .iter()
            .map(|(version, columns)| {
                (*version, TableDefinition { schema_version: *version, columns: columns.clone(), ..definition.clone() })
            })
            .collect();
        versions.insert(definition.schema_version, definition.clone());
        let entry = Arc::new(self.planner.build(versions)?);
        let mut changes = ChangeSet::default();
        changes.put(&keys::table_definition_key(definition.id, definition.schema_version), &encode_json(&definition));
        // The cache changes in the commit's critical section (see `check_current`).
        let mut state = self.write();
        self.store.commit(changes)?;
        state.tables.insert((definition.namespace.clone(), definition.name.clone()), entry.clone());
        Ok(entry)
    }

    /// Drops tables (every schema version, the name, every row of every scope), views and
    /// a namespace record in one atomic commit, then removes them from the cache. The
    /// caller holds each table's exclusive write lock and compacts the tables' ranges
    /// afterwards ([`Store::compact_prefix`]).
    pub fn drop_objects(
        &self,
        _ddl: &DdlGuard,
        tables: &[(Arc<TableEntry>, TableWriteGuard)],
        views: &[Arc<ViewDefinition>],
        namespace: Option<&str>,
    ) -> Result<()> {
        let mut changes = ChangeSet::default();
        for (entry, table_lock) in tables {
            let definition = &entry.definition;
            if table_lock.table_id() != definition.id {
                return Err(EngineError::internal("DROP holds the lock of another table"));
            }
            changes.delete_prefix(&keys::table_definition_prefix(definition.id));
            changes.delete(&keys::table_name_key(&definition.namespace, &definition.name));
            changes.delete_prefix(&keys::table_row_prefix(definition.id));
        }
        for view in views {
            changes.delete(&keys::view_key(&view.namespace, &view.name));
        }
        if let Some(name) = namespace {
            changes.delete(&keys::namespace_key(name));
        }
        // The cache changes in the commit's critical section (see `check_current`).
        let mut state = self.write();
        self.store.commit(changes)?;
        for (entry, _) in tables {
            state.tables.remove(&(entry.definition.namespace.clone(), entry.definition.name.clone()));
        }
        for view in views {
            state.views.remove(&(view.namespace.clone(), view.name.clone()));
        }
        if let Some(name) = namespace {
            state.namespaces.remove(name);
        }
        Ok(())
    }

    pub fn user(&self, name: &str) -> Option<Arc<UserRecord>> {
        self.read().users.get(name).cloned()
    }

    pub fn user_id_exists(&self, id: UserId) -> bool {
        self.read().user_ids.contains(&id)
    }

    /// Every user, ordered by name.
    pub fn users(&self) -> Vec<Arc<UserRecord>> {
        self.read().users.values().cloned().collect()
    }

    /// Allocates a user id (persisted with the user).
    pub fn allocate_user_id(&self, _ddl: &DdlGuard) -> UserId {
        let mut state = self.write();
        let id = state.next_user_id;
        state.next_user_id += 1;
        id
    }

    /// Stores a new or changed user.
    pub fn put_user(&self, _ddl: &DdlGuard, user: UserRecord) -> Result<()> {
        let mut changes = ChangeSet::default();
        changes.put(&keys::user_key(&user.name), &encode_json(&user));
        changes.set_counter(Counter::NextUserId, self.read().next_user_id);
        self.store.commit(changes)?;
        let mut state = self.write();
        state.user_ids.insert(user.id);
        state.users.insert(user.name.clone(), Arc::new(user));
        Ok(())
    }

    /// Drops a user and, in the same atomic commit, every row it owns in the tables whose
    /// scope locks the caller holds (the tables' ranges are compacted afterwards).
    pub fn drop_user(&self, _ddl: &DdlGuard, user: &UserRecord, rows: &[(Arc<TableEntry>, ScopeWriteGuard)]) -> Result<()> {
        let mut changes = ChangeSet::default();
        changes.delete(&keys::user_key(&user.name));
        for (entry, _) in rows {
            changes.delete_prefix(&keys::scope_row_prefix(entry.definition.id, &RowScope::User(user.id)));
        }
        self.store.commit(changes)?;
        let mut state = self.write();
        state.user_ids.remove(&user.id);
        state.users.remove(&user.name);
        Ok(())
    }

    /// Stores a view, replacing the one of the same name when there is one.
    pub fn put_view(&self, _ddl: &DdlGuard, view: ViewDefinition) -> Result<()> {
        let mut changes = ChangeSet::default();
        changes.put(&keys::view_key(&view.namespace, &view.name), &encode_json(&view));
        self.store.commit(changes)?;
        self.write().views.insert((view.namespace.clone(), view.name.clone()), Arc::new(view));
        Ok(())
    }
}

fn check_namespace_name(name: &str) -> Result<()> {
    // `pg_catalog` is PostgreSQL's catalog schema, which `system/pg_catalog.rs` serves.
    if name == SYSTEM_NAMESPACE || name == INFORMATION_SCHEMA || name == "pg_catalog" {
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
