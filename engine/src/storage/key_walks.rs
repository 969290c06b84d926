//! Walks over key ranges that look at keys, not rows: counting, first and last keys,
//! the n-th oldest key, the users that hold rows of a table.

use crate::error::Result;
use crate::storage::keys;
use crate::storage::store::{Store, bounded};

impl Store {
    /// The last key in `[lower, upper)`.
    pub fn last_key(&self, lower: &[u8], upper: &[u8]) -> Result<Option<Vec<u8>>> {
        let mut iter = self.db().raw_iterator_opt(bounded(lower, Some(upper)));
        iter.seek_to_last();
        let key = iter.key().map(<[u8]>::to_vec);
        iter.status()?;
        Ok(key)
    }

    /// The key that has exactly `older` keys before it in `[lower, upper)` (`older = 0`:
    /// the first key); `None` when the range holds `older` keys or fewer. Walks `older + 1`
    /// keys.
    pub fn key_after_oldest(&self, lower: &[u8], upper: &[u8], older: u64) -> Result<Option<Vec<u8>>> {
        let mut iter = self.db().raw_iterator_opt(bounded(lower, Some(upper)));
        iter.seek(lower);
        let mut skipped = 0;
        while iter.valid() {
            if skipped == older {
                return Ok(iter.key().map(<[u8]>::to_vec));
            }
            skipped += 1;
            iter.next();
        }
        iter.status()?;
        Ok(None)
    }

    /// How many keys lie in `[lower, upper)`.
    pub fn count_keys(&self, lower: &[u8], upper: &[u8]) -> Result<u64> {
        let mut iter = self.db().raw_iterator_opt(bounded(lower, Some(upper)));
        iter.seek(lower);
        let mut count = 0;
        while iter.valid() {
            count += 1;
            iter.next();
        }
        iter.status()?;
        Ok(count)
    }

    /// Whether `[lower, upper)` holds at least `count` keys (reads at most that many).
    pub fn has_at_least(&self, lower: &[u8], upper: &[u8], count: u64) -> Result<bool> {
        let mut iter = self.db().raw_iterator_opt(bounded(lower, Some(upper)));
        iter.seek(lower);
        let mut seen = 0;
        while seen < count && iter.valid() {
            seen += 1;
            iter.next();
        }
        iter.status()?;
        Ok(seen >= count)
    }

    /// The users that have rows in a USER or STREAM table, each with its first row key
    /// (one seek per user, from the first key of a scope to the next scope).
    pub fn users_with_rows(&self, table_id: u64) -> Result<Vec<(u64, Vec<u8>)>> {
        let scopes = keys::user_scopes_prefix(table_id);
        let end = keys::prefix_upper_bound(&scopes).unwrap_or_default();
        let mut cursor = scopes;
        let mut users = Vec::new();
        while let Some(first) = self.first_key(&cursor, &end)? {
            let Some(user) = keys::user_of_row_key(table_id, &first) else { break };
            cursor = keys::prefix_upper_bound(&keys::scope_row_prefix(table_id, &keys::RowScope::User(user))).unwrap_or_default();
            users.push((user, first));
        }
        Ok(users)
    }

    /// The first key at or after `lower` and below `upper`.
    pub fn first_key(&self, lower: &[u8], upper: &[u8]) -> Result<Option<Vec<u8>>> {
        self.key_after_oldest(lower, upper, 0)
    }
}
