//! What cold storage on the local file system needs beyond the `object_store` API:
//! syncing written files and their folders to disk (the local store only renames a
//! written file into place), and removing the staging files of writes a crash cut short
//! (the store's listings never show them).
//!
//! Durability: on the local store, a segment and its manifest are synced (file, then
//! folder) before the manifest that names them is published and before any hot row is
//! deleted, so a power loss never loses a flush. Other stores promise what their own
//! `put` promises (a completed `put` of S3, GCS and Azure is durable).

use std::path::PathBuf;
use std::sync::Arc;

use object_store::local::LocalFileSystem;
use object_store::path::Path;

use crate::error::{EngineError, Result, SqlState};
use crate::storage::cold::names;

/// A local file system store and the file system folder of the cold root.
#[derive(Debug, Clone)]
pub struct LocalRoot {
    pub store: Arc<LocalFileSystem>,
}

impl LocalRoot {
    fn file(&self, path: &Path) -> Result<PathBuf> {
        self.store.path_to_filesystem(path).map_err(|e| EngineError::new(SqlState::IO_ERROR, format!("cold storage path {path}: {e}")))
    }

    /// Syncs the file at `path` and the folder holding it.
    pub fn sync_file(&self, path: &Path) -> Result<()> {
        let file = self.file(path)?;
        std::fs::File::open(&file).and_then(|f| f.sync_all()).map_err(|e| io_error(&file, e))?;
        self.sync_folder_of(path)
    }

    /// Syncs the folder holding `path` (after a file in it was created, renamed or removed).
    pub fn sync_folder_of(&self, path: &Path) -> Result<()> {
        let file = self.file(path)?;
        let Some(folder) = file.parent() else { return Ok(()) };
        match std::fs::File::open(folder).and_then(|f| f.sync_all()) {
            Ok(()) => Ok(()),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(error) => Err(io_error(folder, error)),
        }
    }

    /// Removes the staging files of interrupted writes inside `folders` (object paths).
    /// Returns how many went.
    pub fn remove_staging_files(&self, folders: &[Path]) -> Result<usize> {
        let mut removed = 0;
        for folder in folders {
            let directory = self.file(folder)?;
            let Ok(entries) = std::fs::read_dir(&directory) else { continue };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().to_string();
                if names::is_staging_name(&name) && entry.file_type().is_ok_and(|t| t.is_file()) {
                    std::fs::remove_file(entry.path()).map_err(|e| io_error(&entry.path(), e))?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }
}

fn io_error(path: &std::path::Path, error: std::io::Error) -> EngineError {
    EngineError::new(SqlState::IO_ERROR, format!("cold storage {}: {error}", path.display()))
}
