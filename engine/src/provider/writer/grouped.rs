//! Group commit of INSERTs: statements queued on one scope's write lock commit together.
//!
//! An INSERT outside a transaction block (into a table that is not a STREAM table, reading
//! nothing) validates and encodes its rows before it asks for the lock: that work needs no
//! other writer to wait. It then queues the encoded rows on its scope and waits for the
//! lock or for its result ([`crate::storage::WriteLocks::queue_for_scope`]). Whoever gets
//! the lock takes every INSERT queued by then, checks each against the stored rows and
//! against the INSERTs before it in the group (a key taken twice fails the later statement
//! only), and commits the rest in one batch, `_seq` in queue order. Each statement gets its
//! own result; a failed write fails every statement of the group, none of which is then
//! committed. On an idle scope the group is the statement alone, and the path costs what
//! the unqueued one did.

use std::collections::HashSet;

use tokio::sync::oneshot;

use crate::error::{EngineError, Result, SqlState};
use crate::provider::writer::TableWriter;
use crate::provider::writer::insert::EncodedInsert;
use crate::storage::row_codec::set_updated_millis;
use crate::storage::{QueueWait, ScopeWriteGuard, off_async};
use datafusion::arrow::record_batch::RecordBatch;

/// Rows a statement encodes on its async worker; a larger one encodes through
/// `off_async`, so the worker's other tasks go on meanwhile.
const ENCODE_IN_PLACE_ROWS: usize = 4096;

/// One INSERT waiting in its scope's queue.
struct QueuedInsert {
    writer: TableWriter,
    encoded: EncodedInsert,
    done: oneshot::Sender<Result<u64>>,
}

impl TableWriter {
    /// Whether this INSERT may join a group: outside a block, into a table that is not
    /// a STREAM table, reading nothing whose change would have to be checked at commit.
    pub(super) fn inserts_grouped(&self) -> bool {
        self.transaction.is_none() && !self.appends_only() && self.at.log().is_none()
    }

    /// Encodes the rows, queues them on the scope and returns once they are committed (by
    /// this statement or by the holder of the lock that took them).
    pub(super) async fn insert_grouped(self, batches: Vec<RecordBatch>) -> Result<u64> {
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        let encoded = if rows <= ENCODE_IN_PLACE_ROWS {
            self.encode_insert(&batches)?
        } else {
            let writer = self.clone();
            off_async(move || writer.encode_insert(&batches)).await?
        };
        let (done, result) = oneshot::channel();
        let (table_id, scope) = (self.entry.id(), self.scope.clone());
        let shared = self.shared.clone();
        let queued = QueuedInsert { writer: self, encoded, done };
        match shared.locks.queue_for_scope(table_id, &scope, queued, result).await {
            QueueWait::Done(result) => result,
            QueueWait::Holder(guard, own) => off_async(move || commit_queued(guard, own)).await,
        }
    }
}

/// Takes every INSERT queued on the scope (the holder's own among them), commits the ones
/// that pass their checks in one batch, and sends each its result; returns the holder's.
/// Runs without awaiting, so nothing queued is left behind when the lock goes.
fn commit_queued(guard: ScopeWriteGuard, mut own: oneshot::Receiver<Result<u64>>) -> Result<u64> {
    let queued: Vec<QueuedInsert> = guard.take_queued();
    let mut accepted: Vec<QueuedInsert> = Vec::with_capacity(queued.len());
    let mut group = GroupKeys::default();
    for item in queued {
        if item.done.is_closed() {
            // Its statement gave up waiting (its future was dropped): not committed.
            continue;
        }
        match item.writer.check_queued(&item.encoded, &mut group, &accepted) {
            Ok(()) => accepted.push(item),
            Err(error) => {
                let _ = item.done.send(Err(error));
            }
        }
    }
    let counts: Vec<u64> = accepted.iter().map(|item| item.encoded.rows.len() as u64).collect();
    let committed = commit_accepted(&mut accepted);
    for (item, count) in accepted.into_iter().zip(counts) {
        let _ = item.done.send(committed.as_ref().map(|_| count).map_err(Clone::clone));
    }
    drop(guard);
    own.try_recv()
        .unwrap_or_else(|_| Err(EngineError::new(SqlState::INTERNAL_ERROR, "an INSERT's queued rows were not found at its commit")))
}

/// Commits the accepted INSERTs' rows in one batch, stamped with one `_updated`.
fn commit_accepted(accepted: &mut [QueuedInsert]) -> Result<()> {
    let Some(first) = accepted.first() else { return Ok(()) };
    // Every accepted INSERT writes the table as it is now: any one speaks for all.
    let writer = first.writer.clone();
    let now = writer.shared.now_millis();
    let mut changes = writer.new_changes();
    for item in accepted.iter_mut() {
        let mut encoded = std::mem::take(&mut item.encoded);
        if encoded.updated_millis != now {
            for (_, value) in &mut encoded.rows {
                set_updated_millis(value, now)?;
            }
        }
        encoded.add_to(&mut changes);
    }
    let keeps_rows = changes.keeps_rows();
    let committed = writer.shared.store.commit(changes)?;
    if keeps_rows {
        writer.publish(committed.rows);
    }
    Ok(())
}

/// The keys of the INSERTs accepted into a group so far: the span of each, and the keys
/// themselves once two spans overlap.
#[derive(Default)]
struct GroupKeys {
    spans: Vec<(Vec<u8>, Vec<u8>)>,
    keys: Option<HashSet<Vec<u8>>>,
}

impl GroupKeys {
    /// Fails with the first key of `encoded` an earlier INSERT of the group took; else
    /// counts its keys as taken.
    fn take(&mut self, writer: &TableWriter, encoded: &EncodedInsert, accepted: &[QueuedInsert]) -> Result<()> {
        let Some((first, last)) = key_span(encoded) else { return Ok(()) };
        let overlaps = self.spans.iter().any(|(low, high)| first <= high.as_slice() && low.as_slice() <= last);
        if overlaps && self.keys.is_none() {
            let earlier = accepted.iter().filter(|other| !other.encoded.uses_row_ids);
            self.keys = Some(earlier.flat_map(|other| other.encoded.rows.iter().map(|(key, _)| key.clone())).collect());
        }
        if let Some(keys) = &mut self.keys {
            if let Some((key, _)) = encoded.rows.iter().find(|(key, _)| keys.contains(key)) {
                return Err(writer.duplicate_key(key));
            }
            keys.extend(encoded.rows.iter().map(|(key, _)| key.clone()));
        }
        self.spans.push((first.to_vec(), last.to_vec()));
        Ok(())
    }
}

impl TableWriter {
    /// Checks a queued INSERT at the head of the lock: its table is still the one it was
    /// planned against, its user still exists, and none of its keys holds a live row,
    /// stored or written by an INSERT before it in the group (`group`, of `accepted`).
    fn check_queued(&self, encoded: &EncodedInsert, group: &mut GroupKeys, accepted: &[QueuedInsert]) -> Result<()> {
        self.check_still_writable()?;
        self.refuse_stored_keys(encoded)?;
        if encoded.uses_row_ids {
            return Ok(());
        }
        group.take(self, encoded, accepted)
    }
}

/// The smallest and largest key of an INSERT with primary-key rows (`None` without rows).
fn key_span(encoded: &EncodedInsert) -> Option<(&[u8], &[u8])> {
    let mut keys = encoded.rows.iter().map(|(key, _)| key.as_slice());
    let first = keys.next()?;
    Some(keys.fold((first, first), |(low, high), key| (low.min(key), high.max(key))))
}
