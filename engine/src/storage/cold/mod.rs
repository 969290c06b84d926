//! Cold storage: Parquet segments and their manifests in an object store (a folder under
//! the data directory by default; any `object_store` URL by configuration; the same code
//! path for every store).
//!
//! - [`manifest`]: a scope's folder and `manifest.json`;
//! - [`segment`]: the Parquet layout of a segment, encoding and statistics;
//! - `reading`: a segment read handed over batch by batch, and the decoded row groups
//!   kept for point reads;
//! - `location`: the object store and folder the configuration names;
//! - `io`: the runtime every object-store request runs on; `reader`: Parquet's async
//!   reader over one object;
//! - [`names`]: file and folder names, and the root's marker; `ownership`: claiming the
//!   root and the garbage collection at open; `removal`: dropped tables' objects and
//!   retired files; `retired`: files a manifest dropped, deleted when no reader holds
//!   them; `local`: syncing and staging files on the local file system.
//!
//! [`ColdStore`] keeps every manifest in memory (loaded when the engine opens, written
//! through on each change), so "does this scope have cold rows" never touches the store.
//! It also counts **manifest generations**: a reader that reads a scope's segment list and
//! then takes its hot snapshot checks the generation did not move in between, which is
//! what makes a flush's last step (publish the manifest, then delete the hot copies) safe
//! for readers that hold no lock.

pub mod io;
mod local;
mod location;
pub mod manifest;
pub mod names;
mod ownership;
mod reader;
mod reading;
mod removal;
mod retired;
pub mod segment;
pub mod upload;

pub use local::LocalRoot;
use reading::{BoundedCache, row_selection};
pub use reading::{SegmentBatches, compact_views};
pub use retired::FilePin;
use retired::RetiredFiles;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use datafusion::arrow::array::{AsArray, BinaryArray, BooleanArray};
use datafusion::arrow::compute::concat;
use datafusion::arrow::record_batch::RecordBatch;
use futures::{SinkExt, StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions, RowSelection};
use parquet::arrow::async_reader::ParquetRecordBatchStreamBuilder;

use crate::error::{EngineError, Result, SqlState};
use crate::storage::keys::{RowScope, TableId};
pub use manifest::{ColumnStats, MANIFEST_FILE, Manifest, ScopeDir, SegmentMeta};
use segment::parquet_error;

/// One scope's cold state: where it lives and one published generation of its manifest.
/// Holding it pins the files it lists (see `retired`).
#[derive(Debug)]
pub struct ColdScope {
    pub dir: ScopeDir,
    pub manifest: Manifest,
    /// One pin per segment, in the manifest's order.
    pins: Vec<Arc<FilePin>>,
}

impl ColdScope {
    /// A generation of a scope, sharing the pins of the files `previous` lists too.
    fn new(dir: ScopeDir, manifest: Manifest, previous: Option<&ColdScope>) -> ColdScope {
        let pins = manifest.segments.iter().map(|segment| previous.and_then(|p| p.pin(&segment.file)).unwrap_or_default()).collect();
        ColdScope { dir, manifest, pins }
    }

    pub fn segment_path(&self, segment: &SegmentMeta) -> Path {
        self.dir.file_path(&segment.file)
    }

    /// The pins of every file this generation lists.
    fn pins(&self) -> impl Iterator<Item = &Arc<FilePin>> {
        self.pins.iter()
    }

    /// The pin of a file this generation lists.
    pub fn pin(&self, file: &str) -> Option<Arc<FilePin>> {
        self.manifest.segments.iter().position(|s| s.file == file).map(|at| self.pins[at].clone())
    }
}

/// The keys of one segment, in file (key) order, with their tombstone flags: what point
/// reads, uniqueness checks and merges ask a segment without reading its rows.
#[derive(Debug)]
pub struct SegmentKeys {
    pub keys: BinaryArray,
    pub deleted: BooleanArray,
}

impl SegmentKeys {
    /// The row number holding `key`.
    pub fn find(&self, key: &[u8]) -> Option<usize> {
        let (mut low, mut high) = (0, datafusion::arrow::array::Array::len(&self.keys));
        while low < high {
            let mid = (low + high) / 2;
            match self.keys.value(mid).cmp(key) {
                std::cmp::Ordering::Less => low = mid + 1,
                std::cmp::Ordering::Greater => high = mid,
                std::cmp::Ordering::Equal => return Some(mid),
            }
        }
        None
    }
}

pub struct ColdStore {
    objects: Arc<dyn ObjectStore>,
    root: Path,
    io: io::IoRuntime,
    /// The local file system behind the store, when it is one (syncs, staging files).
    local: Option<LocalRoot>,
    /// Every scope with a manifest: with segments, or only a retention horizon.
    scopes: RwLock<HashMap<(TableId, RowScope), Arc<ColdScope>>>,
    generation: AtomicU64,
    /// Segment key indexes, by file (one part each), within the cache budget. Caches are
    /// keyed by path: a file name is never written twice ([`names`]).
    keys: Mutex<BoundedCache<SegmentKeys>>,
    /// Parquet footers, within an eighth of the cache budget.
    footers: Mutex<BoundedCache<ArrowReaderMetadata>>,
    /// Decoded row groups (every column) for point reads, by file and group.
    groups: Mutex<BoundedCache<RecordBatch>>,
    /// Files no manifest lists any more, deleted once no reader holds them.
    retired: Mutex<RetiredFiles>,
    /// Folders of dropped tables and users whose objects could not all be deleted yet: a
    /// reader still held one of their files, or the store refused (tried again by each
    /// job run; the next open collects them too).
    leftovers: Mutex<Vec<removal::DroppedFolders>>,
    /// Every object found when the store opened (for the garbage collection at open).
    found_at_open: Mutex<Vec<Path>>,
}

impl std::fmt::Debug for ColdStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ColdStore").field("root", &self.root).finish()
    }
}

impl ColdStore {
    /// Opens cold storage at `root` inside `objects` and loads every manifest.
    /// Decoded row groups for point reads may take up to `cache_bytes`, segment key
    /// indexes as much again, and footers an eighth of it.
    pub fn open(objects: Arc<dyn ObjectStore>, root: Path, cache_bytes: usize, local: Option<LocalRoot>) -> Result<ColdStore> {
        let io = io::IoRuntime::start()?;
        let (listing, manifests) = {
            let (objects, root) = (objects.clone(), root.clone());
            io.block_on(async move {
                let listing: Vec<Path> = objects.list(Some(&root)).map_ok(|meta| meta.location).try_collect().await.map_err(store_error)?;
                let mut manifests = Vec::new();
                for path in listing.iter().filter(|p| p.filename() == Some(MANIFEST_FILE)) {
                    let bytes = objects.get(path).await.map_err(store_error)?.bytes().await.map_err(store_error)?;
                    match Manifest::from_json(&bytes, path) {
                        Ok(manifest) => manifests.push((path.clone(), manifest)),
                        // A `manifest.json` of someone else's, outside the engine's folders.
                        Err(_) if !names::is_id_folder(&root, &names::parent(path)) => {}
                        Err(error) => return Err(error),
                    }
                }
                Ok((listing, manifests))
            })?
        };
        let mut scopes = HashMap::new();
        for (path, manifest) in manifests {
            let folder = Path::from_iter(path.parts().collect::<Vec<_>>().split_last().map(|(_, rest)| rest.to_vec()).unwrap_or_default());
            let dir = ScopeDir { table_id: manifest.table_id, scope: manifest.scope(), path: folder };
            scopes.insert((manifest.table_id, manifest.scope()), Arc::new(ColdScope::new(dir, manifest, None)));
        }
        Ok(ColdStore {
            objects,
            root,
            io,
            local,
            scopes: RwLock::new(scopes),
            generation: AtomicU64::new(0),
            keys: Mutex::new(BoundedCache::with_budget(cache_bytes)),
            footers: Mutex::new(BoundedCache::with_budget(cache_bytes / 8)),
            retired: Mutex::default(),
            leftovers: Mutex::default(),
            groups: Mutex::new(BoundedCache::with_budget(cache_bytes)),
            found_at_open: Mutex::new(listing),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn io(&self) -> &io::IoRuntime {
        &self.io
    }

    /// The current manifest generation (see the module documentation).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Every scope that has segments, with its cold state (what a transaction's view
    /// holds for its whole life).
    pub fn scopes_with_segments(&self) -> HashMap<(TableId, RowScope), Arc<ColdScope>> {
        let scopes = self.scopes.read().unwrap_or_else(|p| p.into_inner());
        scopes.iter().filter(|(_, s)| !s.manifest.segments.is_empty()).map(|(k, s)| (k.clone(), s.clone())).collect()
    }

    /// A scope's cold state, if it has any segment (what readers ask).
    pub fn scope(&self, table_id: TableId, scope: &RowScope) -> Option<Arc<ColdScope>> {
        self.manifest_state(table_id, scope).filter(|s| !s.manifest.segments.is_empty())
    }

    /// A scope's current manifest, with or without segments (what writers of manifests
    /// start from: it carries the retention horizon).
    pub fn manifest_state(&self, table_id: TableId, scope: &RowScope) -> Option<Arc<ColdScope>> {
        self.scopes.read().unwrap_or_else(|p| p.into_inner()).get(&(table_id, scope.clone())).cloned()
    }

    /// A new manifest for `scope` to publish: the current one's folder and retention
    /// horizon, and no segment.
    pub fn next_manifest(&self, table_id: TableId, scope: &RowScope) -> (ScopeDir, Manifest) {
        let mut manifest = Manifest::new(table_id, scope);
        match self.manifest_state(table_id, scope) {
            Some(current) => {
                manifest.purged_through_seq = current.manifest.purged_through_seq;
                (current.dir.clone(), manifest)
            }
            None => (ScopeDir::new(&self.root, table_id, scope.clone()), manifest),
        }
    }

    /// The retention horizon of a scope (see [`Manifest::purged_through_seq`]).
    pub fn scope_horizon(&self, table_id: TableId, scope: &RowScope) -> u64 {
        self.manifest_state(table_id, scope).map_or(0, |s| s.manifest.purged_through_seq)
    }

    /// The newest retention horizon of any scope of a table (0: nothing purged).
    pub fn table_horizon(&self, table_id: TableId) -> u64 {
        let scopes = self.scopes.read().unwrap_or_else(|p| p.into_inner());
        scopes.iter().filter(|((t, _), _)| *t == table_id).map(|(_, s)| s.manifest.purged_through_seq).max().unwrap_or(0)
    }

    /// Every scope of a table that has cold rows.
    pub fn table_scopes(&self, table_id: TableId) -> Vec<Arc<ColdScope>> {
        let scopes = self.scopes.read().unwrap_or_else(|p| p.into_inner());
        let mut found: Vec<Arc<ColdScope>> =
            scopes.iter().filter(|((t, _), s)| *t == table_id && !s.manifest.segments.is_empty()).map(|(_, s)| s.clone()).collect();
        found.sort_by(|a, b| a.dir.path.cmp(&b.dir.path));
        found
    }

    /// Writes a scope's manifest, then makes it the one readers see (a new generation).
    /// The files the previous generation listed and this one does not are retired. A
    /// manifest without segments and without a retention horizon removes the scope's
    /// manifest file.
    pub async fn publish(&self, dir: ScopeDir, manifest: Manifest) -> Result<()> {
        let objects = self.objects.clone();
        let path = dir.manifest_path();
        let bytes = manifest.to_json();
        let remove = manifest.segments.is_empty() && manifest.purged_through_seq == 0;
        let written = path.clone();
        self.io
            .run(async move {
                if remove {
                    delete_all(&objects, vec![written]).await
                } else {
                    objects.put(&written, PutPayload::from(bytes)).await.map(|_| ()).map_err(store_error)
                }
            })
            .await?;
        match (&self.local, remove) {
            (Some(local), true) => local.sync_folder_of(&path)?,
            (Some(_), false) => self.sync(&path)?,
            (None, _) => {}
        }
        let key = (dir.table_id, dir.scope.clone());
        let mut scopes = self.scopes.write().unwrap_or_else(|p| p.into_inner());
        let previous = scopes.remove(&key);
        let next = ColdScope::new(dir, manifest, previous.as_deref());
        if let Some(previous) = &previous {
            let mut retired = self.retired.lock().unwrap_or_else(|p| p.into_inner());
            for (segment, pin) in previous.manifest.segments.iter().zip(&previous.pins) {
                if next.pin(&segment.file).is_none() {
                    retired.add(previous.segment_path(segment), pin);
                }
            }
        }
        if !remove {
            scopes.insert(key, Arc::new(next));
        }
        self.generation.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    /// Syncs a written object to disk on the local store (other stores: nothing to do).
    fn sync(&self, path: &Path) -> Result<()> {
        match &self.local {
            Some(local) => local.sync_file(path),
            None => Ok(()),
        }
    }

    /// Deletes files no manifest references any more (after a manifest dropped them).
    pub async fn remove_files(&self, paths: Vec<Path>) -> Result<()> {
        for path in &paths {
            self.forget_cached(path);
        }
        let objects = self.objects.clone();
        self.io.run(async move { delete_all(&objects, paths).await }).await
    }

    /// The row group holding row `row` of a segment, and the row's offset in it.
    pub fn group_of(&self, scope: &ColdScope, segment: &SegmentMeta, row: usize) -> Result<(usize, usize)> {
        let metadata = self.footer(&scope.segment_path(segment), segment.bytes)?;
        let mut first = 0;
        for (group, meta) in metadata.metadata().row_groups().iter().enumerate() {
            let rows = meta.num_rows() as usize;
            if row < first + rows {
                return Ok((group, row - first));
            }
            first += rows;
        }
        Err(EngineError::new(SqlState::DATA_CORRUPTED, format!("segment {} has no row {row}", segment.file)))
    }

    /// Every column of one row group of a segment, decoded once and then kept (within
    /// the cache's budget, oldest first out): point reads of flushed rows.
    pub fn row_group(&self, scope: &ColdScope, segment: &SegmentMeta, group: usize) -> Result<Arc<RecordBatch>> {
        let path = scope.segment_path(segment);
        if let Some(batch) = self.groups.lock().unwrap_or_else(|p| p.into_inner()).get(&path, group) {
            return Ok(batch);
        }
        let footer = self.footer(&path, segment.bytes)?;
        let columns: Vec<usize> = (0..footer.parquet_schema().num_columns()).collect();
        // One batch of exactly the group's rows: a larger batch size would reserve memory
        // the cache then holds for nothing.
        let group_rows = footer.metadata().row_groups().get(group).map_or(1, |g| g.num_rows().max(1) as usize);
        let batches = self.stream_row_groups(scope, segment, &columns, vec![group], group_rows)?.collect_blocking()?;
        let schema = match batches.first() {
            Some(batch) => batch.schema(),
            None => return Err(EngineError::new(SqlState::DATA_CORRUPTED, format!("row group {group} of {} is empty", segment.file))),
        };
        let joined = datafusion::arrow::compute::concat_batches(&schema, &batches)
            .map_err(|e| EngineError::internal(format!("joining a row group: {e}")))?;
        // View arrays point into whole decoded pages: keep only the bytes the rows use, so
        // the cache holds (and counts) the group, not the pages.
        let joined = Arc::new(compact_views(&joined)?);
        let size = joined.get_array_memory_size();
        self.groups.lock().unwrap_or_else(|p| p.into_inner()).insert(path, group, joined.clone(), size);
        Ok(joined)
    }

    fn forget_cached(&self, prefix: &Path) {
        self.groups.lock().unwrap_or_else(|p| p.into_inner()).forget(prefix);
        self.keys.lock().unwrap_or_else(|p| p.into_inner()).forget(prefix);
        self.footers.lock().unwrap_or_else(|p| p.into_inner()).forget(prefix);
    }

    /// Every object path under the store's root (tests and storage listings).
    pub fn list_all(&self) -> Result<Vec<Path>> {
        let (objects, root) = (self.objects.clone(), self.root.clone());
        let mut paths: Vec<Path> = self
            .io
            .block_on(async move { objects.list(Some(&root)).map_ok(|meta| meta.location).try_collect().await.map_err(store_error) })?;
        paths.sort();
        Ok(paths)
    }

    /// The keys and tombstone flags of a segment (read once, then cached).
    pub fn segment_keys(&self, scope: &ColdScope, segment: &SegmentMeta) -> Result<Arc<SegmentKeys>> {
        let path = scope.segment_path(segment);
        if let Some(keys) = self.keys.lock().unwrap_or_else(|p| p.into_inner()).get(&path, 0) {
            return Ok(keys.clone());
        }
        // The last two columns of every segment: `_deleted`, `_key`.
        let columns = self.footer(&path, segment.bytes)?.parquet_schema().num_columns();
        let corrupt = || EngineError::new(SqlState::DATA_CORRUPTED, format!("segment {} does not have the segment layout", segment.file));
        let first = columns.checked_sub(2).ok_or_else(corrupt)?;
        let batches = self.read_segment(scope, segment, &[first, first + 1], None, 64 * 1024)?;
        let (mut keys, mut deleted) = (Vec::new(), Vec::new());
        for batch in batches {
            deleted.push(batch.column(0).clone());
            keys.push(batch.column(1).clone());
        }
        let join = |arrays: Vec<datafusion::arrow::array::ArrayRef>| -> Result<datafusion::arrow::array::ArrayRef> {
            let refs: Vec<&dyn datafusion::arrow::array::Array> = arrays.iter().map(|a| a.as_ref()).collect();
            concat(&refs).map_err(|e| EngineError::internal(format!("joining segment keys: {e}")))
        };
        let (keys, deleted) = (join(keys)?, join(deleted)?);
        let loaded = Arc::new(SegmentKeys {
            keys: keys.as_binary_opt::<i32>().ok_or_else(corrupt)?.clone(),
            deleted: deleted.as_boolean_opt().ok_or_else(corrupt)?.clone(),
        });
        let size = datafusion::arrow::array::Array::get_array_memory_size(&loaded.keys)
            + datafusion::arrow::array::Array::get_array_memory_size(&loaded.deleted);
        self.keys.lock().unwrap_or_else(|p| p.into_inner()).insert(path, 0, loaded.clone(), size);
        Ok(loaded)
    }

    /// The key index a read of `groups_read` of a segment's `groups_total` row groups
    /// takes row keys and tombstone flags from instead of decoding them from the file: the
    /// cached one, or one loaded now when the read covers most of the segment and the
    /// index would take at most a quarter of the cache's budget (a one-time decode the
    /// next reads skip). `None`: the read decodes them from the file.
    pub fn key_index_for_read(
        &self,
        scope: &ColdScope,
        segment: &SegmentMeta,
        groups_read: usize,
        groups_total: usize,
    ) -> Result<Option<Arc<SegmentKeys>>> {
        let path = scope.segment_path(segment);
        let (cached, budget) = {
            let keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
            (keys.get(&path, 0), keys.budget())
        };
        let keys = match cached {
            Some(keys) => keys,
            None => {
                // Keys are stored as hex in the manifest; each also costs an offset and a flag.
                let key_bytes = segment.min_key.len().max(segment.max_key.len()) / 2;
                let estimate = (segment.rows as usize).saturating_mul(key_bytes + 5);
                if groups_read * 2 <= groups_total || estimate > budget / 4 {
                    return Ok(None);
                }
                self.segment_keys(scope, segment)?
            }
        };
        Ok((datafusion::arrow::array::Array::len(&keys.keys) as u64 == segment.rows).then_some(keys))
    }

    /// Reads columns `columns` (file positions, ascending) of a segment, all rows or the
    /// row numbers in `rows` (ascending), blocking the calling thread.
    pub fn read_segment(
        &self,
        scope: &ColdScope,
        segment: &SegmentMeta,
        columns: &[usize],
        rows: Option<&[usize]>,
        batch_rows: usize,
    ) -> Result<Vec<RecordBatch>> {
        self.stream_segment(scope, segment, columns, rows, batch_rows)?.collect_blocking()
    }

    /// Like [`ColdStore::read_segment`], handing batches over as they are decoded (on the
    /// I/O runtime, a couple ahead of the reader); dropping the stream stops the read.
    pub fn stream_segment(
        &self,
        scope: &ColdScope,
        segment: &SegmentMeta,
        columns: &[usize],
        rows: Option<&[usize]>,
        batch_rows: usize,
    ) -> Result<SegmentBatches> {
        let selection = rows.map(|rows| row_selection(rows, segment.rows as usize));
        self.start_read(scope, segment, columns, selection, None, batch_rows)
    }

    /// The number of row groups of a segment (the units a scan may read in parallel).
    pub fn row_groups(&self, scope: &ColdScope, segment: &SegmentMeta) -> Result<usize> {
        Ok(self.footer_of(scope, segment)?.metadata().num_row_groups())
    }

    /// A segment's footer: its schema and its row groups with their statistics.
    pub fn footer_of(&self, scope: &ColdScope, segment: &SegmentMeta) -> Result<ArrowReaderMetadata> {
        self.footer(&scope.segment_path(segment), segment.bytes)
    }

    /// Like [`ColdStore::stream_segment`], all rows of the row groups `groups`.
    pub fn stream_row_groups(
        &self,
        scope: &ColdScope,
        segment: &SegmentMeta,
        columns: &[usize],
        groups: Vec<usize>,
        batch_rows: usize,
    ) -> Result<SegmentBatches> {
        self.start_read(scope, segment, columns, None, Some(groups), batch_rows)
    }

    fn start_read(
        &self,
        scope: &ColdScope,
        segment: &SegmentMeta,
        columns: &[usize],
        selection: Option<RowSelection>,
        groups: Option<Vec<usize>>,
        batch_rows: usize,
    ) -> Result<SegmentBatches> {
        let path = scope.segment_path(segment);
        let metadata = self.footer(&path, segment.bytes)?;
        let objects = self.objects.clone();
        let columns = columns.to_vec();
        // An async channel: a producer whose reader is busy elsewhere (a merge reads
        // several segments in turns) waits without holding an I/O thread.
        let (mut tx, rx) = futures::channel::mpsc::channel::<Result<Option<RecordBatch>>>(1);
        let file_columns = metadata.parquet_schema().num_columns();
        if let Some(bad) = columns.iter().find(|&&c| c >= file_columns) {
            return Err(EngineError::new(
                SqlState::DATA_CORRUPTED,
                format!("segment {} has {file_columns} columns; column {bad} was asked for", segment.file),
            ));
        }
        let size = segment.bytes;
        // The read holds the file's pin: a job that retires the file meanwhile leaves it
        // until the read is over.
        let pin = scope.pin(&segment.file);
        self.io.spawn(async move {
            let pin = pin;
            let reader = reader::SegmentFile::new(objects, path, size);
            let mask = ProjectionMask::roots(metadata.parquet_schema(), columns);
            let mut builder =
                ParquetRecordBatchStreamBuilder::new_with_metadata(reader, metadata).with_projection(mask).with_batch_size(batch_rows);
            if let Some(selection) = selection {
                builder = builder.with_row_selection(selection);
            }
            if let Some(groups) = groups {
                builder = builder.with_row_groups(groups);
            }
            let mut stream = match builder.build() {
                Ok(stream) => stream,
                Err(error) => {
                    let _ = tx.send(Err(parquet_error(error))).await;
                    return;
                }
            };
            while let Some(batch) = stream.next().await {
                let stop = batch.is_err();
                if tx.send(batch.map(Some).map_err(parquet_error)).await.is_err() || stop {
                    return;
                }
            }
            // Let go of the file before saying the read is over: once the reader has the
            // end, nothing of this read holds the file any more.
            drop(pin);
            // The end, said explicitly: a read that stops without it (its task died) is
            // an error, never a shorter segment.
            let _ = tx.send(Ok(None)).await;
        });
        Ok(SegmentBatches { rx, ended: false })
    }

    /// A segment's footer (schema, row groups, page index), read once, then cached.
    fn footer(&self, path: &Path, size: u64) -> Result<ArrowReaderMetadata> {
        if let Some(metadata) = self.footers.lock().unwrap_or_else(|p| p.into_inner()).get(path, 0) {
            return Ok(metadata.as_ref().clone());
        }
        let objects = self.objects.clone();
        let location = path.clone();
        let metadata = self.io.block_on(async move {
            let mut reader = reader::SegmentFile::new(objects, location, size);
            let options = ArrowReaderOptions::new().with_page_index_policy(parquet::file::metadata::PageIndexPolicy::Optional);
            ArrowReaderMetadata::load_async(&mut reader, options).await.map_err(parquet_error)
        })?;
        let bytes = metadata.metadata().memory_size();
        self.footers.lock().unwrap_or_else(|p| p.into_inner()).insert(path.clone(), 0, Arc::new(metadata.clone()), bytes);
        Ok(metadata)
    }
}

async fn delete_all(objects: &Arc<dyn ObjectStore>, paths: Vec<Path>) -> Result<()> {
    for path in paths {
        match objects.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(error) => return Err(store_error(error)),
        }
    }
    Ok(())
}

pub fn store_error(error: object_store::Error) -> EngineError {
    EngineError::new(SqlState::IO_ERROR, format!("cold storage: {error}"))
}
