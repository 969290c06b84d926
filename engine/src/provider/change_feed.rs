//! What a commit hands the live hub: the feed of a scope, and the committed rows decoded
//! into a change batch (on the dispatcher thread, never the writer's).

use std::sync::Arc;

use crate::catalog::TableEntry;
use crate::error::Result;
use crate::live::{ChangeBatch, FeedKey};
use crate::provider::assemble::decode_user_rows;
use crate::storage::row_codec::decode_header;
use crate::storage::{CommittedRow, RowScope};

/// The feed of one scope of a table.
pub fn feed_key(table_id: u64, scope: &RowScope) -> FeedKey {
    FeedKey {
        table_id,
        user: match scope {
            RowScope::Shared => None,
            RowScope::User(user) => Some(*user),
        },
    }
}

/// The change batch of committed rows (on the dispatcher thread).
pub fn change_batch(feed: FeedKey, entry: &Arc<TableEntry>, rows: Vec<CommittedRow>) -> Result<ChangeBatch> {
    let mut seqs = Vec::with_capacity(rows.len());
    let mut has_new = Vec::with_capacity(rows.len());
    let mut has_old = Vec::with_capacity(rows.len());
    for row in &rows {
        let header = decode_header(&row.value)?;
        seqs.push(header.seq);
        has_new.push(!header.deleted);
        has_old.push(match &row.previous {
            Some(previous) => !decode_header(previous)?.deleted,
            None => false,
        });
    }
    let new_rows = decode_user_rows(entry, rows.iter().map(|row| (row.key.as_slice(), row.value.as_slice())))?;
    // Inserts replace nothing: their "old" rows are never read, so they need no decoding.
    let old_rows = if rows.iter().all(|row| row.previous.is_none()) {
        new_rows.clone()
    } else {
        decode_user_rows(entry, rows.iter().map(|row| (row.key.as_slice(), row.previous.as_deref().unwrap_or(&row.value))))?
    };
    Ok(ChangeBatch { feed, seqs, new_rows, old_rows, has_new, has_old })
}
