//! A transaction's writes before its commit ([`PendingWrites`]): stored-form rows by whole
//! key, read on top of the transaction's snapshot by every hot read of the transaction
//! ([`super::read_point`]), and handed to the commit section at COMMIT in the order they
//! were written. A row's `_seq` is 0 until then (the commit assigns it).

use std::collections::BTreeMap;
use std::ops::Bound;

/// One written key: its value in the stored encoding, or `None` for a row removed
/// outright (a STREAM row; SHARED and USER deletes are tombstone rows, so values).
#[derive(Debug, Clone)]
struct Pending {
    order: u64,
    value: Option<Vec<u8>>,
}

/// The pending rows of one transaction.
#[derive(Debug, Clone, Default)]
pub struct PendingWrites {
    rows: BTreeMap<Vec<u8>, Pending>,
    written: u64,
}

impl PendingWrites {
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Keys written (each once, however often it was written).
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Writes `value` under `key`, replacing what the transaction wrote there before.
    pub fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.set(key, Some(value));
    }

    /// Removes the row under `key` outright.
    pub fn remove(&mut self, key: Vec<u8>) {
        self.set(key, None);
    }

    fn set(&mut self, key: Vec<u8>, value: Option<Vec<u8>>) {
        self.written += 1;
        self.rows.insert(key, Pending { order: self.written, value });
    }

    /// What the transaction wrote under `key`: `None` if nothing, `Some(None)` if it
    /// removed the row, `Some(Some(value))` if it wrote one.
    pub fn get(&self, key: &[u8]) -> Option<Option<&[u8]>> {
        self.rows.get(key).map(|pending| pending.value.as_deref())
    }

    /// The written keys in `[lower, upper)` in key order, with their values (`None`:
    /// removed).
    pub fn range<'a>(&'a self, lower: &[u8], upper: Option<&[u8]>) -> impl Iterator<Item = (&'a [u8], Option<&'a [u8]>)> + use<'a> {
        let upper = upper.map_or(Bound::Unbounded, |u| Bound::Excluded(u.to_vec()));
        self.rows
            .range::<Vec<u8>, _>((Bound::Included(lower.to_vec()), upper))
            .map(|(key, pending)| (key.as_slice(), pending.value.as_deref()))
    }

    /// Whether any key under `prefix` was written.
    pub fn touches(&self, prefix: &[u8]) -> bool {
        self.range(prefix, super::keys::prefix_upper_bound(prefix).as_deref()).next().is_some()
    }

    /// The written keys, in key order.
    pub fn keys(&self) -> impl Iterator<Item = &[u8]> {
        self.rows.keys().map(Vec::as_slice)
    }

    /// Every written key with its value, in the order of each key's last write.
    pub fn into_write_order(self) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
        let mut rows: Vec<(u64, Vec<u8>, Option<Vec<u8>>)> = self.rows.into_iter().map(|(key, p)| (p.order, key, p.value)).collect();
        rows.sort_unstable_by_key(|(order, _, _)| *order);
        rows.into_iter().map(|(_, key, value)| (key, value)).collect()
    }
}
