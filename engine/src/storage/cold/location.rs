//! The object store and root folder an engine's configuration names for cold storage.

use std::sync::Arc;

use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use object_store::path::Path;

use crate::config::{ColdStorage, EngineConfig};
use crate::error::{EngineError, Result, SqlState};
use crate::storage::cold::{ColdStore, LocalRoot, store_error};

impl ColdStore {
    /// Opens the cold storage `config` names (by default `<data_dir>/storage`). Local
    /// folders (the default, and `file://` URLs) are opened as local stores, which sync
    /// what they write ([`super::LocalRoot`]).
    pub fn open_configured(config: &EngineConfig) -> Result<ColdStore> {
        let local_folder = |folder: &std::path::Path| -> Result<(Arc<dyn ObjectStore>, Path, Option<LocalRoot>)> {
            std::fs::create_dir_all(folder)
                .map_err(|e| EngineError::new(SqlState::IO_ERROR, format!("creating {}: {e}", folder.display())))?;
            let store = Arc::new(LocalFileSystem::new_with_prefix(folder).map_err(store_error)?);
            Ok((store.clone(), Path::default(), Some(LocalRoot { store })))
        };
        let (objects, root, local) = match &config.cold_storage {
            ColdStorage::DataDir => local_folder(&config.data_dir.join("storage"))?,
            ColdStorage::Url(text) => {
                let url = url::Url::parse(text)
                    .map_err(|e| EngineError::invalid_parameter(format!("cold storage URL {text:?} is not a URL: {e}")))?;
                if url.scheme() == "file" {
                    let folder = url
                        .to_file_path()
                        .map_err(|()| EngineError::invalid_parameter(format!("cold storage URL {text:?} does not name a local folder")))?;
                    local_folder(&folder)?
                } else {
                    let (store, path) = object_store::parse_url(&url)
                        .map_err(|e| EngineError::invalid_parameter(format!("cold storage URL {text:?} cannot be opened: {e}")))?;
                    (Arc::from(store), path, None)
                }
            }
            ColdStorage::Store(store, folder) => (store.clone(), Path::from(folder.as_str()), None),
        };
        ColdStore::open(objects, root, config.cold_cache_bytes, local)
    }
}
