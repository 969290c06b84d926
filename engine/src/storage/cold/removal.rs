//! Removing cold objects: a dropped table's or user's (at once after the DROP commits,
//! or by later job runs when the store refuses), and the files purges and compactions
//! retired, once no reader holds them (see `retired`).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use object_store::path::Path;

use crate::error::{EngineError, Result};
use crate::storage::cold::retired::FilePin;
use crate::storage::cold::{ColdStore, MANIFEST_FILE, Manifest, delete_all, names, store_error};
use crate::storage::keys::{RowScope, TableId};

/// The folders of a dropped table or user whose objects wait to be deleted.
#[derive(Debug)]
pub(super) struct DroppedFolders {
    table_id: TableId,
    folders: Vec<Path>,
    /// The files its last manifests listed: deleted once no reader holds any.
    pins: Vec<Weak<FilePin>>,
    /// Deletions that failed so far.
    failures: u32,
}

impl DroppedFolders {
    fn still_read(&self) -> bool {
        self.pins.iter().any(|pin| pin.strong_count() > 0)
    }
}

impl ColdStore {
    /// Removes every object of a dropped table (DROP TABLE, after its commit) and forgets
    /// its scopes. Objects that cannot be deleted now are left to the job runs (and the
    /// next open): the drop itself has happened.
    pub async fn remove_table(&self, table_id: TableId) {
        let (folders, pins) = self.forget_scopes(|t, _| t == table_id, vec![names::table_folder(&self.root, table_id)]);
        self.remove_or_leave(DroppedFolders { table_id, folders, pins, failures: 0 }).await
    }

    /// Removes the objects of one scope of a table (DROP USER CASCADE, after its commit)
    /// and forgets it; like [`ColdStore::remove_table`].
    pub async fn remove_scope(&self, table_id: TableId, scope: &RowScope) {
        let (folders, pins) =
            self.forget_scopes(|t, s| t == table_id && s == scope, vec![names::scope_folder(&self.root, table_id, scope)]);
        self.remove_or_leave(DroppedFolders { table_id, folders, pins, failures: 0 }).await
    }

    /// Deletes the objects now, unless a reader that started before the DROP still holds
    /// one of the files (it reads on, and a job run deletes them after it) or the store
    /// refuses (a job run tries again).
    async fn remove_or_leave(&self, dropped: DroppedFolders) {
        if dropped.still_read() || self.remove_own_objects(dropped.table_id, dropped.folders.clone()).await.is_err() {
            self.leftovers.lock().unwrap_or_else(|p| p.into_inner()).push(dropped);
        }
    }

    /// Forgets the scopes `matches` names; returns their folders and `also`, and the pins
    /// of the files they listed.
    fn forget_scopes(&self, matches: impl Fn(TableId, &RowScope) -> bool, also: Vec<Path>) -> (Vec<Path>, Vec<Weak<FilePin>>) {
        let mut folders = also;
        let mut pins = Vec::new();
        {
            let mut scopes = self.scopes.write().unwrap_or_else(|p| p.into_inner());
            scopes.retain(|(t, scope), state| {
                let gone = matches(*t, scope);
                if gone {
                    if !folders.contains(&state.dir.path) {
                        folders.push(state.dir.path.clone());
                    }
                    pins.extend(state.pins().map(Arc::downgrade));
                }
                !gone
            });
            self.generation.fetch_add(1, Ordering::SeqCst);
        }
        for folder in &folders {
            self.forget_cached(folder);
        }
        // Files an earlier generation listed, retired but still read by someone.
        pins.extend(self.retired.lock().unwrap_or_else(|p| p.into_inner()).pins_under(&folders));
        (folders, pins)
    }

    /// Deletes the objects of `table_id` under `folders`: its segment files and the
    /// manifests that name it, never another table's (an earlier format's folder named by
    /// table name may hold a newer table's files too).
    async fn remove_own_objects(&self, table_id: TableId, folders: Vec<Path>) -> Result<()> {
        let objects = self.objects.clone();
        self.io
            .run(async move {
                let mut own = Vec::new();
                for folder in folders {
                    let listing: Vec<Path> =
                        objects.list(Some(&folder)).map_ok(|meta| meta.location).try_collect().await.map_err(store_error)?;
                    for path in listing {
                        let name = path.filename().unwrap_or_default();
                        if names::is_segment_name(name, Some(table_id)) {
                            own.push(path);
                        } else if name == MANIFEST_FILE {
                            let bytes = objects.get(&path).await.map_err(store_error)?.bytes().await.map_err(store_error)?;
                            if Manifest::from_json(&bytes, &path).is_ok_and(|m| m.table_id == table_id) {
                                own.push(path);
                            }
                        }
                    }
                }
                delete_all(&objects, own).await
            })
            .await
    }

    /// Deletes the retired files no reader holds any more, and what dropped tables and
    /// users left. A deletion that fails stays queued (tried again at the next call) and
    /// never stops the others; returns the files (or folders) whose deletion failed for
    /// the first time, with the error, so the caller records each once.
    pub async fn delete_retired(&self) -> Vec<(Path, EngineError)> {
        let due = self.retired.lock().unwrap_or_else(|p| p.into_inner()).take_unpinned();
        let mut first_failures = Vec::new();
        let leftovers = std::mem::take(&mut *self.leftovers.lock().unwrap_or_else(|p| p.into_inner()));
        for mut dropped in leftovers {
            if dropped.still_read() {
                self.leftovers.lock().unwrap_or_else(|p| p.into_inner()).push(dropped);
                continue;
            }
            if let Err(error) = self.remove_own_objects(dropped.table_id, dropped.folders.clone()).await {
                if dropped.failures == 0
                    && let Some(folder) = dropped.folders.first()
                {
                    first_failures.push((folder.clone(), error));
                }
                dropped.failures = dropped.failures.saturating_add(1);
                self.leftovers.lock().unwrap_or_else(|p| p.into_inner()).push(dropped);
            }
        }
        for (path, failures) in due {
            self.forget_cached(&path);
            let (objects, target) = (self.objects.clone(), path.clone());
            let outcome = self.io.run(async move { delete_all(&objects, vec![target]).await }).await;
            if let Err(error) = outcome {
                if failures == 0 {
                    first_failures.push((path.clone(), error));
                }
                self.retired.lock().unwrap_or_else(|p| p.into_inner()).failed(path, failures.saturating_add(1));
            }
        }
        first_failures
    }

    /// How many retired files wait for their readers (or for a deletion that failed), and
    /// dropped folders wait for a deletion that failed.
    pub fn retired_files(&self) -> usize {
        self.retired.lock().unwrap_or_else(|p| p.into_inner()).len() + self.leftovers.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}
