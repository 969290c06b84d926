//! A transaction's writes before its commit ([`PendingWrites`]): stored-form rows by whole
//! key, read on top of the transaction's snapshot by every hot read of the transaction
//! ([`super::read_point`]), and handed to the commit section at COMMIT in the order they
//! were written. A row's `_seq` is 0 until then (the commit assigns it).
//!
//! **Cheap to copy.** Every statement of a block reads the pending rows as they were when
//! it began while it adds its own, so the rows are held in layers shared between copies
//! (`Arc`): a copy shares every layer, and a write goes into the newest layer only while no
//! copy shares it, else into a new one. Layers shrink from the oldest to the newest; when
//! the newest grows as large as the one below, the two merge (a binary counter), so a
//! block of n rows has at most log2(n) + 1 layers and each row is copied O(log n) times,
//! where one map copied on every statement cost O(n) per statement.

use std::collections::BTreeMap;
use std::collections::btree_map;
use std::iter::Peekable;
use std::ops::Bound;
use std::sync::Arc;

/// One written key: its value in the stored encoding, or `None` for a row removed
/// outright (a STREAM row; SHARED and USER deletes are tombstone rows, so values).
#[derive(Debug, Clone)]
struct Pending {
    order: u64,
    value: Option<Vec<u8>>,
}

type Layer = BTreeMap<Vec<u8>, Pending>;

/// The pending rows of one transaction.
#[derive(Debug, Clone, Default)]
pub struct PendingWrites {
    /// Oldest first; a key in a newer layer hides the same key in older ones.
    layers: Vec<Arc<Layer>>,
    written: u64,
}

impl PendingWrites {
    pub fn is_empty(&self) -> bool {
        self.layers.iter().all(|layer| layer.is_empty())
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
        let pending = Pending { order: self.written, value };
        match self.layers.last_mut().and_then(Arc::get_mut) {
            Some(newest) => {
                newest.insert(key, pending);
            }
            None => self.layers.push(Arc::new(BTreeMap::from([(key, pending)]))),
        }
        self.merge_equal_layers();
    }

    /// Merges the newest layer into the one below while it is as large.
    fn merge_equal_layers(&mut self) {
        while let [.., below, newest] = self.layers.as_slice()
            && newest.len() >= below.len()
        {
            let newest = self.layers.pop().expect("two layers");
            let below = Arc::make_mut(self.layers.last_mut().expect("two layers"));
            match Arc::try_unwrap(newest) {
                Ok(newest) => below.extend(newest),
                Err(shared) => below.extend(shared.iter().map(|(key, pending)| (key.clone(), pending.clone()))),
            }
        }
    }

    /// What the transaction wrote under `key`: `None` if nothing, `Some(None)` if it
    /// removed the row, `Some(Some(value))` if it wrote one.
    pub fn get(&self, key: &[u8]) -> Option<Option<&[u8]>> {
        self.layers.iter().rev().find_map(|layer| layer.get(key)).map(|pending| pending.value.as_deref())
    }

    /// The written keys in `[lower, upper)` in key order, with their values (`None`:
    /// removed).
    pub fn range<'a>(&'a self, lower: &[u8], upper: Option<&[u8]>) -> Range<'a> {
        let upper = upper.map_or(Bound::Unbounded, |u| Bound::Excluded(u.to_vec()));
        let bounds = (Bound::Included(lower.to_vec()), upper);
        Range { heads: self.layers.iter().map(|layer| layer.range::<Vec<u8>, _>(bounds.clone()).peekable()).collect() }
    }

    /// Whether any key under `prefix` was written.
    pub fn touches(&self, prefix: &[u8]) -> bool {
        self.range(prefix, super::keys::prefix_upper_bound(prefix).as_deref()).next().is_some()
    }

    /// Every written key with its value, in the order of each key's last write.
    pub fn into_write_order(self) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
        let mut latest: BTreeMap<Vec<u8>, Pending> = BTreeMap::new();
        for layer in self.layers {
            match Arc::try_unwrap(layer) {
                Ok(layer) => latest.extend(layer),
                Err(shared) => latest.extend(shared.iter().map(|(key, pending)| (key.clone(), pending.clone()))),
            }
        }
        let mut rows: Vec<(u64, Vec<u8>, Option<Vec<u8>>)> = latest.into_iter().map(|(key, p)| (p.order, key, p.value)).collect();
        rows.sort_unstable_by_key(|(order, _, _)| *order);
        rows.into_iter().map(|(_, key, value)| (key, value)).collect()
    }
}

/// The written keys of a key range, in key order, each with its newest value
/// ([`PendingWrites::range`]).
pub struct Range<'a> {
    /// One per layer, oldest first.
    heads: Vec<Peekable<btree_map::Range<'a, Vec<u8>, Pending>>>,
}

impl<'a> Iterator for Range<'a> {
    type Item = (&'a [u8], Option<&'a [u8]>);

    fn next(&mut self) -> Option<Self::Item> {
        // The smallest key any layer holds next; of equal keys, the newest layer's wins.
        let mut best: Option<(usize, &'a Vec<u8>)> = None;
        for (at, head) in self.heads.iter_mut().enumerate() {
            if let Some((key, _)) = head.peek()
                && best.is_none_or(|(_, smallest)| *key <= smallest)
            {
                best = Some((at, *key));
            }
        }
        let (newest, key) = best?;
        let mut found = None;
        for (at, head) in self.heads.iter_mut().enumerate() {
            if head.peek().is_some_and(|(k, _)| *k == key) {
                let (_, pending) = head.next().expect("peeked");
                if at == newest {
                    found = Some(pending);
                }
            }
        }
        found.map(|pending| (key.as_slice(), pending.value.as_deref()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(pending: &PendingWrites) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
        pending.range(b"", None).map(|(k, v)| (k.to_vec(), v.map(<[u8]>::to_vec))).collect()
    }

    #[test]
    fn a_copy_keeps_what_it_saw_while_the_original_writes_on() {
        let mut pending = PendingWrites::default();
        for i in 0..10u8 {
            pending.put(vec![i], vec![i]);
        }
        let copy = pending.clone();
        pending.put(vec![3], vec![30]);
        pending.remove(vec![4]);
        pending.put(vec![20], vec![20]);
        assert_eq!(copy.get(&[3]), Some(Some(&[3u8][..])));
        assert_eq!(copy.get(&[20]), None);
        assert_eq!(all(&copy).len(), 10);
        assert_eq!(pending.get(&[3]), Some(Some(&[30u8][..])));
        assert_eq!(pending.get(&[4]), Some(None));
        assert_eq!(all(&pending).len(), 11);
    }

    #[test]
    fn a_range_merges_layers_in_key_order_with_the_newest_value() {
        let mut pending = PendingWrites::default();
        let mut copies = Vec::new();
        for i in 0..40u8 {
            pending.put(vec![i % 13], vec![i]);
            copies.push(pending.clone());
        }
        let listed = all(&pending);
        let keys: Vec<u8> = listed.iter().map(|(k, _)| k[0]).collect();
        assert_eq!(keys, (0..13).collect::<Vec<u8>>());
        for (key, value) in &listed {
            // The last i with i % 13 == key.
            let last = (0..40u8).rev().find(|i| i % 13 == key[0]).unwrap();
            assert_eq!(value.as_deref(), Some(&[last][..]));
        }
        let bounded: Vec<u8> = pending.range(&[4], Some(&[7])).map(|(k, _)| k[0]).collect();
        assert_eq!(bounded, vec![4, 5, 6]);
        assert!(pending.layers.len() <= 7, "{} layers", pending.layers.len());
    }

    #[test]
    fn layers_stay_logarithmic_and_write_order_is_kept() {
        let mut pending = PendingWrites::default();
        for i in 0..1000u32 {
            let _statement_view = pending.clone();
            pending.put(i.to_be_bytes().to_vec(), vec![1]);
        }
        pending.put(5u32.to_be_bytes().to_vec(), vec![2]);
        assert!(pending.layers.len() <= 11, "{} layers", pending.layers.len());
        let order = pending.into_write_order();
        assert_eq!(order.len(), 1000);
        assert_eq!(order.last().map(|(k, v)| (k.clone(), v.clone())), Some((5u32.to_be_bytes().to_vec(), Some(vec![2]))));
        assert_eq!(order[0].0, 0u32.to_be_bytes().to_vec());
    }
}
