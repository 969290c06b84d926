//! A fault-injecting object store for tests: [`FaultyStore`] wraps another store, counts
//! every call of the [`ObjectStore`] trait in one atomic counter, and can be armed to fail
//! the `n`th call from now with `object_store::Error::Generic` (store `"faulty"`); the
//! calls after it succeed again. Armed to stop instead, it fails that call and every one
//! after it until disarmed: the store as a process that stopped there saw it (nothing it
//! would have done next reaches the store).
//!
//! Each call counts once. The convenience methods of `ObjectStoreExt` (`put`, `get`,
//! `get_range`, `head`, `delete`, `copy`, `rename`, ...) reach a store through exactly one
//! method of the trait each (`put_opts`, `get_opts`, `delete_stream`, `copy_opts`,
//! `rename_opts`), and every method here passes straight to the inner store, so the inner
//! store's own helpers (its `get_ranges`, a rename's copy and delete) do not come back
//! through the wrapper. A stream method (`list`, `list_with_offset`, `delete_stream`)
//! counts when it is called; when that call fails, its stream yields the error (for
//! `delete_stream`, one error per location). The parts of a multipart upload are not
//! counted (the engine writes with `put`). Arm the store while no request is in flight.
//!
//! [`watch_panics`] and [`background_panics`] count panics on threads other than the
//! tests' own: the engine's I/O runtime turns a task's panic into an error, which a test
//! would otherwise take for an ordinary failure.
#![allow(dead_code)]

use std::cell::Cell;
use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore, PutMultipartOptions, PutOptions, PutPayload,
    PutResult, RenameOptions, Result,
};

/// An object store that fails the one call it is armed for (see the module documentation).
#[derive(Debug)]
pub struct FaultyStore {
    inner: Arc<dyn ObjectStore>,
    /// Calls so far, failed ones included.
    calls: AtomicU64,
    /// The number of the call to fail (0: none).
    fail_at: AtomicU64,
    /// Faults injected so far.
    injected: AtomicU64,
    /// Whether the armed call stops the store (every later call fails too).
    stop: std::sync::atomic::AtomicBool,
    /// Whether the store has stopped.
    stopped: std::sync::atomic::AtomicBool,
    /// Deletes of paths containing this text always fail (an undeletable file).
    undeletable: std::sync::Mutex<Option<String>>,
}

impl FaultyStore {
    pub fn new(inner: Arc<dyn ObjectStore>) -> FaultyStore {
        FaultyStore {
            inner,
            calls: AtomicU64::new(0),
            fail_at: AtomicU64::new(0),
            injected: AtomicU64::new(0),
            stop: Default::default(),
            stopped: Default::default(),
            undeletable: std::sync::Mutex::new(None),
        }
    }

    /// Makes every delete of a path containing `text` fail (`None`: deletes work again).
    pub fn refuse_deletes_of(&self, text: Option<&str>) {
        *self.undeletable.lock().unwrap() = text.map(str::to_string);
    }

    /// Calls so far, failed ones included.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    /// Arms the store: call `n` from now (1: the next call) fails; the calls after it
    /// succeed again.
    pub fn fail_call(&self, n: u64) {
        assert!(n >= 1, "calls are numbered from 1");
        self.stop.store(false, Ordering::SeqCst);
        self.fail_at.store(self.calls() + n, Ordering::SeqCst);
    }

    /// Arms the store to stop: call `n` from now and every call after it fail, until
    /// [`FaultyStore::disarm`].
    pub fn stop_at_call(&self, n: u64) {
        assert!(n >= 1, "calls are numbered from 1");
        self.stop.store(true, Ordering::SeqCst);
        self.fail_at.store(self.calls() + n, Ordering::SeqCst);
    }

    /// Disarms the store: a fault not injected yet never will be.
    pub fn disarm(&self) {
        self.fail_at.store(0, Ordering::SeqCst);
        self.stopped.store(false, Ordering::SeqCst);
    }

    /// Faults injected so far.
    pub fn injected(&self) -> u64 {
        self.injected.load(Ordering::SeqCst)
    }

    /// Counts a call; `Some(its number)` when it is the one to fail.
    fn next_call(&self) -> Option<u64> {
        let number = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        if self.stopped.load(Ordering::SeqCst) {
            return Some(number);
        }
        if self.fail_at.compare_exchange(number, 0, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
            self.injected.fetch_add(1, Ordering::SeqCst);
            if self.stop.load(Ordering::SeqCst) {
                self.stopped.store(true, Ordering::SeqCst);
            }
            Some(number)
        } else {
            None
        }
    }
}

/// The error of an injected fault.
fn fault(number: u64, operation: &str, location: Option<&Path>) -> object_store::Error {
    let at = location.map_or(String::new(), |path| format!(" of {path}"));
    object_store::Error::Generic { store: "faulty", source: format!("injected fault: call {number} ({operation}{at}) failed").into() }
}

/// A stream that yields `error` and ends.
fn failed_stream<T: Send + 'static>(error: object_store::Error) -> BoxStream<'static, Result<T>> {
    futures::stream::once(futures::future::ready(Err(error))).boxed()
}

impl fmt::Display for FaultyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FaultyStore({})", self.inner)
    }
}

#[async_trait]
impl ObjectStore for FaultyStore {
    async fn put_opts(&self, location: &Path, payload: PutPayload, opts: PutOptions) -> Result<PutResult> {
        if let Some(number) = self.next_call() {
            return Err(fault(number, "put", Some(location)));
        }
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(&self, location: &Path, opts: PutMultipartOptions) -> Result<Box<dyn MultipartUpload>> {
        if let Some(number) = self.next_call() {
            return Err(fault(number, "put_multipart", Some(location)));
        }
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        if let Some(number) = self.next_call() {
            return Err(fault(number, "get", Some(location)));
        }
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        if let Some(number) = self.next_call() {
            return Err(fault(number, "get_ranges", Some(location)));
        }
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(&self, locations: BoxStream<'static, Result<Path>>) -> BoxStream<'static, Result<Path>> {
        let refused = self.undeletable.lock().unwrap().clone();
        let locations = match refused {
            Some(text) => locations
                .map(move |location| match location {
                    Ok(path) if path.as_ref().contains(&text) => {
                        Err(object_store::Error::Generic { store: "faulty", source: format!("{path} cannot be deleted").into() })
                    }
                    other => other,
                })
                .boxed(),
            None => locations,
        };
        match self.next_call() {
            None => self.inner.delete_stream(locations),
            Some(number) => {
                locations.map(move |location| Err::<Path, object_store::Error>(fault(number, "delete", location.as_ref().ok()))).boxed()
            }
        }
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        match self.next_call() {
            None => self.inner.list(prefix),
            Some(number) => failed_stream(fault(number, "list", prefix)),
        }
    }

    fn list_with_offset(&self, prefix: Option<&Path>, offset: &Path) -> BoxStream<'static, Result<ObjectMeta>> {
        match self.next_call() {
            None => self.inner.list_with_offset(prefix, offset),
            Some(number) => failed_stream(fault(number, "list_with_offset", prefix)),
        }
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        if let Some(number) = self.next_call() {
            return Err(fault(number, "list_with_delimiter", prefix));
        }
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        if let Some(number) = self.next_call() {
            return Err(fault(number, "copy", Some(from)));
        }
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        if let Some(number) = self.next_call() {
            return Err(fault(number, "rename", Some(from)));
        }
        self.inner.rename_opts(from, to, options).await
    }
}

static BACKGROUND_PANICS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static TEST_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// Installs (once per process) a panic hook that counts the panics of every thread that
/// has not called this function, then marks the calling thread as a test thread (its
/// panics fail its test anyway). The previous hook still prints each panic.
pub fn watch_panics() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !TEST_THREAD.try_with(|flag| flag.get()).unwrap_or(false) {
                BACKGROUND_PANICS.fetch_add(1, Ordering::SeqCst);
            }
            previous(info);
        }));
    });
    TEST_THREAD.with(|flag| flag.set(true));
}

/// Panics so far on threads other than the tests' own (see [`watch_panics`]).
pub fn background_panics() -> usize {
    BACKGROUND_PANICS.load(Ordering::SeqCst)
}
