//! The object store and root folder an engine's configuration names for cold storage.

use std::sync::Arc;

use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use object_store::path::Path;

use crate::config::{ColdStorage, EngineConfig};
use crate::error::{EngineError, Result, SqlState};
use crate::storage::cold::{ColdStore, store_error};

impl ColdStore {
    /// Opens the cold storage `config` names (by default `<data_dir>/storage`).
    pub fn open_configured(config: &EngineConfig) -> Result<ColdStore> {
        let (objects, root): (Arc<dyn ObjectStore>, Path) = match &config.cold_storage {
            ColdStorage::DataDir => {
                let folder = config.data_dir.join("storage");
                std::fs::create_dir_all(&folder).map_err(|e| {
                    EngineError::new(SqlState::IO_ERROR, format!("creating {}: {e}", folder.display()))
                })?;
                (Arc::new(LocalFileSystem::new_with_prefix(&folder).map_err(store_error)?), Path::default())
            }
            ColdStorage::Url(text) => {
                let url = url::Url::parse(text).map_err(|e| {
                    EngineError::invalid_parameter(format!("cold storage URL {text:?} is not a URL: {e}"))
                })?;
                let (store, path) = object_store::parse_url(&url).map_err(|e| {
                    EngineError::invalid_parameter(format!("cold storage URL {text:?} cannot be opened: {e}"))
                })?;
                (Arc::from(store), path)
            }
            ColdStorage::Store(store, folder) => (store.clone(), Path::from(folder.as_str())),
        };
        ColdStore::open(objects, root, config.cold_cache_bytes)
    }
}
