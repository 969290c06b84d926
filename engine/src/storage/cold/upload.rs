//! Writing one object in parts as it is produced, so a segment of any size is written in
//! bounded memory: bytes are buffered up to [`PART_BYTES`] and each full buffer goes out as
//! one part of a multipart upload, from the blocking thread that produces them. The object
//! appears only when the upload completes (the local store writes a staging file and
//! renames it, and the engine syncs it); an upload dropped unfinished is aborted.

use std::io::Write;

use object_store::path::Path;
use object_store::{MultipartUpload, ObjectStoreExt, PutPayload};

use crate::error::Result;
use crate::storage::cold::{ColdStore, store_error};

/// Bytes per uploaded part: object stores take parts of at least 5 MiB (but the last).
pub const PART_BYTES: usize = 8 * 1024 * 1024;

/// An object being written in parts ([`ColdStore::start_upload`]).
pub struct ObjectUpload<'a> {
    cold: &'a ColdStore,
    path: Path,
    upload: Option<Box<dyn MultipartUpload>>,
    buffer: Vec<u8>,
}

impl ColdStore {
    /// Starts writing the object at `path` in parts. Call from a blocking thread.
    pub fn start_upload(&self, path: Path) -> Result<ObjectUpload<'_>> {
        let objects = self.objects.clone();
        let target = path.clone();
        let upload = self.io.block_on(async move { objects.put_multipart(&target).await.map_err(store_error) })?;
        Ok(ObjectUpload { cold: self, path, upload: Some(upload), buffer: Vec::new() })
    }
}

impl ObjectUpload<'_> {
    fn send_part(&mut self) -> Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let bytes = std::mem::take(&mut self.buffer);
        let part = self.upload.as_mut().expect("open until finished").put_part(PutPayload::from(bytes));
        self.cold.io.block_on(async move { part.await.map_err(store_error) })
    }

    /// Sends what is buffered and completes the object (synced on the local store).
    pub fn finish(mut self) -> Result<()> {
        self.send_part()?;
        let mut upload = self.upload.take().expect("open until finished");
        self.cold.io.block_on(async move { upload.complete().await.map(|_| ()).map_err(store_error) })?;
        self.cold.sync(&self.path)
    }
}

impl Write for ObjectUpload<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= PART_BYTES {
            self.send_part().map_err(std::io::Error::other)?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for ObjectUpload<'_> {
    fn drop(&mut self) {
        if let Some(mut upload) = self.upload.take() {
            // Unfinished (an error on the way): nothing waits for the abort.
            self.cold.io.spawn(async move {
                let _ = upload.abort().await;
            });
        }
    }
}
