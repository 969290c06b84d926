//! What an engine owns in cold storage: the root's marker (an engine opens only a root
//! whose `engine.json` names its hot store, or none), the highest file number found at
//! open, and the garbage collection at open, which deletes only the engine's own file
//! names inside the engine's own folders.

use std::collections::HashSet;

use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};

use crate::error::{EngineError, Result, SqlState};
use crate::storage::cold::{ColdStore, MANIFEST_FILE, delete_all, names, store_error};
use crate::storage::keys::{RowScope, TableId};

impl ColdStore {
    /// Makes sure the root belongs to the engine whose hot storage has `identity`: a root
    /// without a marker gets one; a root whose marker names another engine is refused
    /// (two engines on one root would delete each other's files).
    pub fn claim_root(&self, identity: &str) -> Result<()> {
        let marker = names::child(&self.root, names::MARKER_FILE);
        let objects = self.objects.clone();
        let found = {
            let (objects, marker) = (objects.clone(), marker.clone());
            self.io.block_on(async move {
                match objects.get(&marker).await {
                    Ok(result) => Ok(Some(result.bytes().await.map_err(store_error)?)),
                    Err(object_store::Error::NotFound { .. }) => Ok(None),
                    Err(error) => Err(store_error(error)),
                }
            })?
        };
        match found {
            Some(bytes) => {
                let owner = serde_json::from_slice::<RootMarker>(&bytes).map_err(|e| {
                    EngineError::new(SqlState::DATA_CORRUPTED, format!("cold storage marker {marker} is not readable: {e}"))
                })?;
                if owner.engine != identity {
                    return Err(EngineError::new(
                        SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE,
                        format!(
                            "cold storage root {marker} belongs to another engine ({}); this engine is {identity}: give each engine a root of its own",
                            owner.engine
                        ),
                    ));
                }
                Ok(())
            }
            None => {
                let bytes = serde_json::to_vec_pretty(&RootMarker { engine: identity.to_string() }).expect("a marker serializes");
                let written = marker.clone();
                self.io.block_on(async move { objects.put(&written, PutPayload::from(bytes)).await.map(|_| ()).map_err(store_error) })?;
                self.sync(&marker)
            }
        }
    }

    /// The highest segment number of a file found when the store opened (0: none).
    pub fn highest_file_number(&self) -> u64 {
        let found = self.found_at_open.lock().unwrap_or_else(|p| p.into_inner());
        found.iter().filter_map(|p| p.filename().and_then(names::segment_file_number)).max().unwrap_or(0)
    }

    /// Deletes what a crash or a drop left behind: manifests of scopes `is_live` does not
    /// know (dropped tables and users), and files no manifest references. Only the
    /// engine's own names inside folders the engine owns go (an id folder, or a folder
    /// holding one of its manifests): other objects under the root are never touched.
    /// Runs once, when the engine opens.
    pub fn collect_garbage(&self, is_live: impl Fn(TableId, &RowScope) -> bool) -> Result<usize> {
        let found = std::mem::take(&mut *self.found_at_open.lock().unwrap_or_else(|p| p.into_inner()));
        let mut referenced = HashSet::new();
        let mut owned_folders: HashSet<Path> = HashSet::new();
        {
            let mut scopes = self.scopes.write().unwrap_or_else(|p| p.into_inner());
            owned_folders.extend(scopes.values().map(|s| s.dir.path.clone()));
            scopes.retain(|(table, scope), _| is_live(*table, scope));
            for scope in scopes.values() {
                referenced.insert(scope.dir.manifest_path());
                referenced.extend(scope.manifest.segments.iter().map(|s| scope.segment_path(s)));
            }
        }
        let root = self.root.clone();
        let owned = |path: &Path| {
            let folder = names::parent(path);
            let own_name = path.filename().is_some_and(|name| name == MANIFEST_FILE || names::is_segment_name(name, None));
            own_name && (owned_folders.contains(&folder) || names::is_id_folder(&root, &folder))
        };
        let garbage: Vec<Path> = found.iter().filter(|p| !referenced.contains(*p) && owned(p)).cloned().collect();
        let count = garbage.len();
        if let Some(local) = &self.local {
            let mut folders: HashSet<Path> = owned_folders.clone();
            folders.extend(found.iter().map(names::parent).filter(|f| names::is_id_folder(&self.root, f)));
            local.remove_staging_files(&folders.into_iter().collect::<Vec<_>>())?;
        }
        let objects = self.objects.clone();
        self.io.block_on(async move { delete_all(&objects, garbage).await })?;
        Ok(count)
    }
}

/// The marker at a cold root (`engine.json`).
#[derive(serde::Serialize, serde::Deserialize)]
struct RootMarker {
    /// The identity of the engine's hot storage.
    engine: String,
}
