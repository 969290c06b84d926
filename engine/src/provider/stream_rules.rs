//! The rules of STREAM tables that reads and writes share: which rows a read at an
//! instant still shows (TTL), and the append-only refusal.

use crate::catalog::TableEntry;
use crate::error::EngineError;
use crate::storage::keys::{self, RowScope};

/// The error for UPDATE and DELETE on a STREAM table.
pub fn append_only(entry: &TableEntry) -> EngineError {
    EngineError::not_supported(format!(
        "STREAM table {} is append-only: UPDATE and DELETE are not supported (TRUNCATE removes your rows)",
        entry.definition.qualified_name()
    ))
}

/// The first key of `scope` a read at `now` may show: `None` (no bound) unless the table
/// is a STREAM table with a TTL. The scan and a subscription's initial read both use it.
pub fn read_lower_bound(entry: &TableEntry, scope: &RowScope, now: i64) -> Option<Vec<u8>> {
    let expires = entry.kind().rules().append_only && entry.definition.options.ttl_seconds.is_some();
    expires.then(|| stream_visible_from(entry, &keys::scope_row_prefix(entry.id(), scope), now))
}

/// The first key of a STREAM scope that a read at `now` shows: rows that arrived
/// TTL_SECONDS or more before `now` are invisible (the whole scope without a TTL).
pub fn stream_visible_from(entry: &TableEntry, scope_prefix: &[u8], now: i64) -> Vec<u8> {
    match entry.definition.options.ttl_seconds {
        Some(ttl) => keys::stream_rows_before(scope_prefix, now.saturating_sub((ttl as i64).saturating_mul(1000)) + 1),
        None => scope_prefix.to_vec(),
    }
}
