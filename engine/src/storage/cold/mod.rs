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
//!   reader over one object.
//!
//! [`ColdStore`] keeps every manifest in memory (loaded when the engine opens, written
//! through on each change), so "does this scope have cold rows" never touches the store.
//! It also counts **manifest generations**: a reader that reads a scope's segment list and
//! then takes its hot snapshot checks the generation did not move in between, which is
//! what makes a flush's last step (publish the manifest, then delete the hot copies) safe
//! for readers that hold no lock.

pub mod io;
mod location;
pub mod manifest;
mod reader;
pub mod segment;
mod reading;

pub use reading::SegmentBatches;
use reading::{BoundedCache, row_selection};

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use datafusion::arrow::array::{AsArray, BinaryArray, BooleanArray};
use datafusion::arrow::compute::concat;
use datafusion::arrow::record_batch::RecordBatch;
use futures::{SinkExt, StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions, RowSelection};
use parquet::arrow::async_reader::ParquetRecordBatchStreamBuilder;
use parquet::arrow::ProjectionMask;

use crate::error::{EngineError, Result, SqlState};
use crate::storage::keys::{RowScope, TableId};
pub use manifest::{ColumnStats, MANIFEST_FILE, Manifest, ScopeDir, SegmentMeta};
use segment::parquet_error;

/// One scope's cold state: where it lives and its manifest.
#[derive(Debug)]
pub struct ColdScope {
    pub dir: ScopeDir,
    pub manifest: Manifest,
}

impl ColdScope {
    pub fn segment_path(&self, segment: &SegmentMeta) -> Path {
        self.dir.file_path(&segment.file)
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
    scopes: RwLock<HashMap<(TableId, RowScope), Arc<ColdScope>>>,
    generation: AtomicU64,
    /// Segment key indexes, by file (one part each), within the cache budget.
    keys: Mutex<BoundedCache<SegmentKeys>>,
    footers: Mutex<HashMap<Path, ArrowReaderMetadata>>,
    /// Decoded row groups (every column) for point reads, by file and group.
    groups: Mutex<BoundedCache<RecordBatch>>,
    /// Files no manifest lists any more, with when they were retired (engine clock): a
    /// reader that took the old list may still read them for a while.
    retired: Mutex<Vec<(Path, i64)>>,
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
    /// Decoded row groups for point reads may take up to `cache_bytes`, and segment key
    /// indexes as much again.
    pub fn open(objects: Arc<dyn ObjectStore>, root: Path, cache_bytes: usize) -> Result<ColdStore> {
        let io = io::IoRuntime::start()?;
        let (listing, manifests) = {
            let (objects, root) = (objects.clone(), root.clone());
            io.block_on(async move {
                let listing: Vec<Path> =
                    objects.list(Some(&root)).map_ok(|meta| meta.location).try_collect().await.map_err(store_error)?;
                let mut manifests = Vec::new();
                for path in listing.iter().filter(|p| p.filename() == Some(MANIFEST_FILE)) {
                    let bytes = objects.get(path).await.map_err(store_error)?.bytes().await.map_err(store_error)?;
                    manifests.push((path.clone(), Manifest::from_json(&bytes, path)?));
                }
                Ok((listing, manifests))
            })?
        };
        let mut scopes = HashMap::new();
        for (path, manifest) in manifests {
            let folder = Path::from_iter(path.parts().collect::<Vec<_>>().split_last().map(|(_, rest)| rest.to_vec()).unwrap_or_default());
            let dir = ScopeDir { table_id: manifest.table_id, scope: manifest.scope(), path: folder };
            scopes.insert((manifest.table_id, manifest.scope()), Arc::new(ColdScope { dir, manifest }));
        }
        Ok(ColdStore {
            objects,
            root,
            io,
            scopes: RwLock::new(scopes),
            generation: AtomicU64::new(0),
            keys: Mutex::new(BoundedCache::with_budget(cache_bytes)),
            footers: Mutex::default(),
            retired: Mutex::default(),
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

    /// Deletes what a crash or a drop left behind: manifests of scopes `is_live` does not
    /// know (dropped tables and users), and files no manifest references. Runs once,
    /// when the engine opens.
    pub fn collect_garbage(&self, is_live: impl Fn(TableId, &RowScope) -> bool) -> Result<usize> {
        let found = std::mem::take(&mut *self.found_at_open.lock().unwrap_or_else(|p| p.into_inner()));
        let mut referenced = HashSet::new();
        {
            let mut scopes = self.scopes.write().unwrap_or_else(|p| p.into_inner());
            scopes.retain(|(table, scope), _| is_live(*table, scope));
            for scope in scopes.values() {
                referenced.insert(scope.dir.manifest_path());
                referenced.extend(scope.manifest.segments.iter().map(|s| scope.segment_path(s)));
            }
        }
        let garbage: Vec<Path> = found.into_iter().filter(|p| !referenced.contains(p)).collect();
        let count = garbage.len();
        let objects = self.objects.clone();
        self.io.block_on(async move { delete_all(&objects, garbage).await })?;
        Ok(count)
    }

    /// The current manifest generation (see the module documentation).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// A scope's cold state, if it has any segment.
    pub fn scope(&self, table_id: TableId, scope: &RowScope) -> Option<Arc<ColdScope>> {
        self.scopes.read().unwrap_or_else(|p| p.into_inner()).get(&(table_id, scope.clone())).cloned()
    }

    /// Every scope of a table that has cold rows.
    pub fn table_scopes(&self, table_id: TableId) -> Vec<Arc<ColdScope>> {
        let scopes = self.scopes.read().unwrap_or_else(|p| p.into_inner());
        let mut found: Vec<Arc<ColdScope>> = scopes.iter().filter(|((t, _), _)| *t == table_id).map(|(_, s)| s.clone()).collect();
        found.sort_by(|a, b| a.dir.path.cmp(&b.dir.path));
        found
    }

    /// Writes a segment file (not yet visible: only a manifest makes it so).
    pub async fn put_segment(&self, path: Path, bytes: Vec<u8>) -> Result<()> {
        let objects = self.objects.clone();
        self.io.run(async move { objects.put(&path, PutPayload::from(bytes)).await.map(|_| ()).map_err(store_error) }).await
    }

    /// Writes a scope's manifest, then makes it the one readers see (a new generation).
    /// A manifest without segments removes the scope's manifest file.
    pub async fn publish(&self, dir: ScopeDir, manifest: Manifest) -> Result<()> {
        let objects = self.objects.clone();
        let path = dir.manifest_path();
        let bytes = manifest.to_json();
        let empty = manifest.segments.is_empty();
        self.io
            .run(async move {
                if empty {
                    delete_all(&objects, vec![path]).await
                } else {
                    objects.put(&path, PutPayload::from(bytes)).await.map(|_| ()).map_err(store_error)
                }
            })
            .await?;
        let key = (dir.table_id, dir.scope.clone());
        let mut scopes = self.scopes.write().unwrap_or_else(|p| p.into_inner());
        if empty {
            scopes.remove(&key);
        } else {
            scopes.insert(key, Arc::new(ColdScope { dir, manifest }));
        }
        self.generation.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    /// Removes the objects of `table_id` under `folder` (a dropped table's or user's
    /// folder) and forgets its scopes there. Only the table's own objects go: segment files
    /// named after its id and manifests that name it, so a table created again under the
    /// same name meanwhile keeps its files.
    pub async fn remove_folder(&self, table_id: TableId, folder: Path) -> Result<()> {
        {
            let mut scopes = self.scopes.write().unwrap_or_else(|p| p.into_inner());
            scopes.retain(|(t, _), scope| *t != table_id || !scope.dir.path.prefix_matches(&folder));
            self.generation.fetch_add(1, Ordering::SeqCst);
        }
        self.forget_cached(&folder);
        let objects = self.objects.clone();
        let own_prefix = format!("{table_id}-");
        self.io
            .run(async move {
                let listing: Vec<Path> =
                    objects.list(Some(&folder)).map_ok(|meta| meta.location).try_collect().await.map_err(store_error)?;
                let mut own = Vec::new();
                for path in listing {
                    let name = path.filename().unwrap_or_default();
                    if name.starts_with(&own_prefix) {
                        own.push(path);
                    } else if name == MANIFEST_FILE {
                        let bytes = objects.get(&path).await.map_err(store_error)?.bytes().await.map_err(store_error)?;
                        if Manifest::from_json(&bytes, &path).is_ok_and(|m| m.table_id == table_id) {
                            own.push(path);
                        }
                    }
                }
                delete_all(&objects, own).await
            })
            .await
    }

    /// Marks files a new manifest no longer lists, at `now`.
    pub fn retire(&self, paths: Vec<Path>, now: i64) {
        self.retired.lock().unwrap_or_else(|p| p.into_inner()).extend(paths.into_iter().map(|p| (p, now)));
    }

    /// Deletes the files retired before `before`. Returns how many.
    pub async fn delete_retired(&self, before: i64) -> Result<usize> {
        let due: Vec<(Path, i64)> = {
            let mut retired = self.retired.lock().unwrap_or_else(|p| p.into_inner());
            let (due, keep): (Vec<_>, Vec<_>) = retired.drain(..).partition(|(_, at)| *at < before);
            *retired = keep;
            due
        };
        let count = due.len();
        if let Err(error) = self.remove_files(due.iter().map(|(path, _)| path.clone()).collect()).await {
            // The next run tries them all again (a file already gone is no error).
            self.retired.lock().unwrap_or_else(|p| p.into_inner()).extend(due);
            return Err(error);
        }
        Ok(count)
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
        let columns = joined
            .columns()
            .iter()
            .map(|column| match column.data_type() {
                datafusion::arrow::datatypes::DataType::Utf8View => Arc::new(column.as_string_view().gc()) as _,
                datafusion::arrow::datatypes::DataType::BinaryView => Arc::new(column.as_binary_view().gc()) as _,
                _ => column.clone(),
            })
            .collect();
        let joined = Arc::new(
            RecordBatch::try_new(schema, columns).map_err(|e| EngineError::internal(format!("compacting a row group: {e}")))?,
        );
        let size = joined.get_array_memory_size();
        self.groups.lock().unwrap_or_else(|p| p.into_inner()).insert(path, group, joined.clone(), size);
        Ok(joined)
    }

    fn forget_cached(&self, prefix: &Path) {
        self.groups.lock().unwrap_or_else(|p| p.into_inner()).forget(prefix);
        self.keys.lock().unwrap_or_else(|p| p.into_inner()).forget(prefix);
        self.footers.lock().unwrap_or_else(|p| p.into_inner()).retain(|path, _| !path.prefix_matches(prefix));
    }

    /// Every object path under the store's root (tests and storage listings).
    pub fn list_all(&self) -> Result<Vec<Path>> {
        let (objects, root) = (self.objects.clone(), self.root.clone());
        let mut paths: Vec<Path> = self.io.block_on(async move {
            objects.list(Some(&root)).map_ok(|meta| meta.location).try_collect().await.map_err(store_error)
        })?;
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
        self.io.spawn(async move {
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
            // The end, said explicitly: a read that stops without it (its task died) is
            // an error, never a shorter segment.
            let _ = tx.send(Ok(None)).await;
        });
        Ok(SegmentBatches { rx, ended: false })
    }

    /// A segment's footer (schema, row groups, page index), read once, then cached.
    fn footer(&self, path: &Path, size: u64) -> Result<ArrowReaderMetadata> {
        if let Some(metadata) = self.footers.lock().unwrap_or_else(|p| p.into_inner()).get(path) {
            return Ok(metadata.clone());
        }
        let objects = self.objects.clone();
        let location = path.clone();
        let metadata = self.io.block_on(async move {
            let mut reader = reader::SegmentFile::new(objects, location, size);
            let options = ArrowReaderOptions::new().with_page_index_policy(parquet::file::metadata::PageIndexPolicy::Optional);
            ArrowReaderMetadata::load_async(&mut reader, options)
                .await
                .map_err(parquet_error)
        })?;
        self.footers.lock().unwrap_or_else(|p| p.into_inner()).insert(path.clone(), metadata.clone());
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
