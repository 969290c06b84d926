//! The store's reads: point reads, range scans on one snapshot (a fresh one, or a
//! transaction's, with its pending rows merged in: [`ReadPoint`]), parallel scans and the
//! split points they use.

use rocksdb::ReadOptions;

use crate::error::Result;
use crate::storage::keys;
use crate::storage::read_point::ReadPoint;
use crate::storage::snapshot::DbSnapshot;
use crate::storage::store::Store;

/// A visitor of stored rows (whole key, value); `false` stops the walk.
type Visit<'v> = dyn FnMut(&[u8], &[u8]) -> Result<bool> + 'v;

impl Store {
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.db.get(key)?)
    }

    /// Reads many keys in one call, as `at` sees them.
    pub fn multi_get<K: AsRef<[u8]>>(&self, at: &ReadPoint, keys: &[K]) -> Result<Vec<Option<Vec<u8>>>> {
        // One key (every statement by primary key): a plain get, which skips MultiGet's
        // batching work.
        let stored: Vec<Option<Vec<u8>>> = match (at.snapshot(), keys) {
            (Some(held), [key]) => vec![held.snapshot().get(key)?],
            (None, [key]) => vec![self.db.get(key)?],
            (Some(held), _) => {
                debug_assert!(held.is_of(self));
                held.snapshot().multi_get(keys).into_iter().map(|r| r.map_err(Into::into)).collect::<Result<_>>()?
            }
            (None, _) => self.db.multi_get(keys).into_iter().map(|r| r.map_err(Into::into)).collect::<Result<_>>()?,
        };
        let Some(pending) = at.pending() else { return Ok(stored) };
        Ok(keys
            .iter()
            .zip(stored)
            .map(|(key, stored)| match pending.get(key.as_ref()) {
                Some(written) => written.map(<[u8]>::to_vec),
                None => stored,
            })
            .collect())
    }

    /// Whether no key at all (live or deleted row) lies in `[first, last]` as `at` sees
    /// it: one seek, where looking up each key of a large batch would search the memtable
    /// once per key.
    pub fn range_is_empty(&self, at: &ReadPoint, first: &[u8], last: &[u8]) -> Result<bool> {
        // The smallest key after `last` is `last` followed by a zero byte.
        let upper = [last, &[0]].concat();
        if at.is_now() {
            // One seek of the live database: no snapshot to take (this runs on every
            // INSERT's uniqueness check).
            let mut iter = self.db.raw_iterator_opt(bounded(first, Some(&upper)));
            iter.seek(first);
            let empty = !iter.valid();
            iter.status()?;
            return Ok(empty);
        }
        let mut empty = true;
        self.scan_ranges_then(
            at,
            &[(first.to_vec(), Some(upper))],
            || true,
            |_, _| {
                empty = false;
                Ok(false)
            },
        )?;
        Ok(empty)
    }

    /// Calls `visit` for each key in `[lower, upper)` in key order, on a consistent
    /// snapshot, until it returns `false`.
    pub fn scan_range(&self, lower: &[u8], upper: Option<&[u8]>, mut visit: impl FnMut(&[u8], &[u8]) -> Result<bool>) -> Result<()> {
        let mut iter = self.db.raw_iterator_opt(bounded(lower, upper));
        iter.seek(lower);
        visit_merged(&mut iter, std::iter::empty(), &mut visit)?;
        Ok(())
    }

    /// Calls `visit` for several ranges on one consistent snapshot (`at`'s, or a fresh
    /// one), calling `taken` once the snapshot exists and before the first key is read (a
    /// subscription releases its scope lock there); when `taken` returns `false` nothing
    /// is read and this returns `false`.
    pub fn scan_ranges_then(
        &self,
        at: &ReadPoint,
        ranges: &[(Vec<u8>, Option<Vec<u8>>)],
        taken: impl FnOnce() -> bool,
        mut visit: impl FnMut(&[u8], &[u8]) -> Result<bool>,
    ) -> Result<bool> {
        let read = |snapshot: &DbSnapshot<'_>, visit: &mut Visit<'_>| -> Result<bool> {
            if !taken() {
                return Ok(false);
            }
            for (lower, upper) in ranges {
                let mut iter = snapshot.raw_iterator_opt(bounded(lower, upper.as_deref()));
                iter.seek(lower);
                if !visit_merged(&mut iter, pending_in(at, lower, upper.as_deref()), visit)? {
                    return Ok(true);
                }
            }
            Ok(true)
        };
        match at.snapshot() {
            Some(held) => read(held.snapshot(), &mut visit),
            None => read(&self.db.snapshot(), &mut visit),
        }
    }

    /// Splits `[lower, upper)` into up to `parts` ranges for a parallel scan, when the
    /// range holds at least `min_bytes` of flushed data (smaller ranges, and data still
    /// only in memtables, are not worth the threads). Split keys
    /// interpolate between the first and last key of the range, so parts are even when
    /// keys are spread evenly (such as increasing integer keys).
    pub fn split_range(&self, lower: &[u8], upper: &[u8], parts: usize, min_bytes: u64) -> Result<Option<Vec<Vec<u8>>>> {
        if parts < 2 {
            return Ok(None);
        }
        let size = self.db.get_approximate_sizes(&[rocksdb::Range::new(lower, upper)]);
        if size.first().copied().unwrap_or(0) < min_bytes {
            return Ok(None);
        }
        let mut iter = self.db.raw_iterator_opt(bounded(lower, Some(upper)));
        iter.seek(lower);
        let Some(first) = iter.key().map(<[u8]>::to_vec) else { return Ok(None) };
        iter.seek_for_prev(upper);
        let Some(last) = iter.key().map(<[u8]>::to_vec) else { return Ok(None) };
        iter.status()?;
        let splits = interpolate_keys(&first, &last, parts);
        Ok((!splits.is_empty()).then_some(splits))
    }

    /// Runs one visitor per range `[lower, upper)`, each on its own thread, all on one
    /// snapshot, and returns when every range is done (or has been stopped). `taken` as
    /// in [`Store::scan_ranges_then`].
    pub fn scan_parallel<V>(&self, at: &ReadPoint, parts: Vec<(Vec<u8>, Vec<u8>, V)>, taken: impl FnOnce() -> bool) -> Result<bool>
    where
        V: FnMut(&[u8], &[u8]) -> Result<bool> + Send,
    {
        let fresh;
        let snapshot = match at.snapshot() {
            Some(held) => held.snapshot(),
            None => {
                fresh = self.db.snapshot();
                &fresh
            }
        };
        if !taken() {
            return Ok(false);
        }
        let outcomes: Vec<Result<bool>> = std::thread::scope(|scope| {
            let handles: Vec<_> = parts
                .into_iter()
                .map(|(lower, upper, mut visit)| {
                    scope.spawn(move || {
                        let mut iter = snapshot.raw_iterator_opt(bounded(&lower, Some(&upper)));
                        iter.seek(&lower);
                        visit_merged(&mut iter, pending_in(at, &lower, Some(&upper)), &mut visit)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("a scan thread panicked")).collect()
        });
        for outcome in outcomes {
            outcome?;
        }
        Ok(true)
    }

    /// Whether no key starts with `prefix`.
    pub fn prefix_is_empty(&self, prefix: &[u8]) -> Result<bool> {
        let upper = keys::prefix_upper_bound(prefix);
        let mut empty = true;
        self.scan_range(prefix, upper.as_deref(), |_, _| {
            empty = false;
            Ok(false)
        })?;
        Ok(empty)
    }

    /// Every key and value that starts with `prefix`.
    pub fn scan_prefix(&self, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut out = Vec::new();
        let upper = keys::prefix_upper_bound(prefix);
        self.scan_range(prefix, upper.as_deref(), |k, v| {
            out.push((k.to_vec(), v.to_vec()));
            Ok(true)
        })?;
        Ok(out)
    }
}

/// Read options confining an iterator to `[lower, upper)` (`None`: no upper bound).
pub(in crate::storage) fn bounded(lower: &[u8], upper: Option<&[u8]>) -> ReadOptions {
    let mut read = ReadOptions::default();
    read.set_iterate_lower_bound(lower.to_vec());
    if let Some(upper) = upper {
        read.set_iterate_upper_bound(upper.to_vec());
    }
    read
}

/// The pending rows of `at` in `[lower, upper)`, in key order.
pub(in crate::storage) fn pending_in<'a>(
    at: &'a ReadPoint,
    lower: &[u8],
    upper: Option<&[u8]>,
) -> impl Iterator<Item = (&'a [u8], Option<&'a [u8]>)> + use<'a> {
    let rows = at.pending().map(|pending| pending.range(lower, upper));
    rows.into_iter().flatten()
}

/// Walks `iter` from its position, without copying keys or values, merged with `pending`
/// (a transaction's rows of the same range, in key order: a pending value replaces the
/// stored row of its key, a removed key hides it), until both end or `visit` returns
/// `false` (then returns `false`).
fn visit_merged<'p, D: rocksdb::DBAccess>(
    iter: &mut rocksdb::DBRawIteratorWithThreadMode<'_, D>,
    pending: impl Iterator<Item = (&'p [u8], Option<&'p [u8]>)>,
    visit: &mut (impl FnMut(&[u8], &[u8]) -> Result<bool> + ?Sized),
) -> Result<bool> {
    let mut pending = pending.peekable();
    loop {
        let pending_first = match (iter.key(), pending.peek()) {
            (None, None) => break,
            (Some(key), Some((pending_key, _))) => (*pending_key <= key).then_some(*pending_key == key),
            (None, Some(_)) => Some(false),
            (Some(_), None) => None,
        };
        match pending_first {
            Some(replaces_stored) => {
                let (key, value) = pending.next().expect("peeked");
                if replaces_stored {
                    iter.next();
                }
                if let Some(value) = value
                    && !visit(key, value)?
                {
                    return Ok(false);
                }
            }
            None => {
                let (Some(key), Some(value)) = (iter.key(), iter.value()) else { break };
                if !visit(key, value)? {
                    return Ok(false);
                }
                iter.next();
            }
        }
    }
    iter.status()?;
    Ok(true)
}

/// `parts - 1` keys strictly between `first` and `last`, evenly spaced in the eight bytes
/// after their common prefix (read as a big-endian number); none if they are too close.
fn interpolate_keys(first: &[u8], last: &[u8], parts: usize) -> Vec<Vec<u8>> {
    let common = first.iter().zip(last).take_while(|(a, b)| a == b).count();
    let window = |key: &[u8]| {
        let mut bytes = [0u8; 8];
        for (slot, byte) in bytes.iter_mut().zip(&key[common..]) {
            *slot = *byte;
        }
        u64::from_be_bytes(bytes)
    };
    let (low, high) = (window(first), window(last));
    let step = (high - low) / parts as u64;
    if step == 0 {
        return Vec::new();
    }
    (1..parts as u64)
        .map(|i| [&first[..common], &(low + step * i).to_be_bytes()].concat())
        .filter(|split| split.as_slice() > first && split.as_slice() <= last)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::interpolate_keys;

    #[test]
    fn split_keys_fall_strictly_inside_the_range_in_order() {
        let first = [1u8, 2, 0, 0, 0, 0, 0, 0, 0, 10];
        let last = [1u8, 2, 0, 0, 0, 0, 0, 0, 0, 200];
        let splits = interpolate_keys(&first, &last, 4);
        assert_eq!(splits.len(), 3);
        let mut previous = first.to_vec();
        for split in &splits {
            assert!(*split > previous && split.as_slice() < last.as_slice(), "{split:?}");
            previous = split.clone();
        }
        // A key that is a prefix of the other, and keys too close to split.
        assert_eq!(interpolate_keys(b"ab", b"abc", 2).len(), 1);
        assert!(interpolate_keys(&[5, 1], &[5, 1, 0], 2).iter().all(|s| s.as_slice() > [5u8, 1].as_slice()));
        assert!(interpolate_keys(&[7, 1], &[7, 1, 0, 0, 0, 0, 0, 0, 0, 1], 2).is_empty());
        assert_eq!(interpolate_keys(&[7, 0, 0, 0, 0, 0, 0, 0, 1], &[7, 0, 0, 0, 0, 0, 0, 0, 2], 2).len(), 1);
    }
}
