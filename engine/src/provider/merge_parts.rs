//! A large merged read cut into key parts merged at once, one thread each, on one hot
//! snapshot: what lets a query over flushed rows with hot rows on top (an update of
//! every tenth row) use every core, as a split hot scan and a read of one segment's row
//! groups in halves do. Parts are cut at row-group boundaries of the largest segment read
//! (the footer's smallest key of a group), so each part decodes its own row groups and
//! merges the hot rows of its own key span; a key belongs to exactly one part whatever
//! the cut, so the parts' rows together are the read's rows.

use datafusion::arrow::array::Array;
use datafusion::arrow::record_batch::RecordBatch;

use crate::catalog::TableEntry;
use crate::error::{EngineError, Result};
use crate::provider::merge::{MergeSetup, suffix_ranges};
use crate::provider::prune::{self, Planned, PruneCounts};
use crate::storage::cold::{ColdScope, ColdStore};
use crate::storage::cursor::{CursorSource, KeyRanges};

/// The keys (segment key space, ascending) at which a read of `planned` is cut into at
/// most `parts` parts: the first keys of evenly spaced row groups of the largest segment.
/// Empty when there is nothing to cut (one part, or a segment of one row group).
pub(super) fn split_keys(
    cold: &ColdStore,
    segments: &ColdScope,
    entry: &TableEntry,
    planned: &[Planned<'_>],
    parts: usize,
) -> Result<Vec<Vec<u8>>> {
    let Some(largest) = planned.iter().max_by_key(|p| p.segment.rows) else { return Ok(Vec::new()) };
    let footer = cold.footer_of(segments, largest.segment)?;
    let groups: Vec<usize> = match &largest.groups {
        Some(groups) => groups.clone(),
        None => (0..footer.metadata().num_row_groups()).collect(),
    };
    let parts = parts.min(groups.len());
    if parts < 2 {
        return Ok(Vec::new());
    }
    let Some(mins) = prune::group_min_keys(&footer, entry, largest.segment) else { return Ok(Vec::new()) };
    let mut splits: Vec<Vec<u8>> = (1..parts)
        .map(|part| groups[groups.len() * part / parts])
        .filter(|&group| group < mins.len() && mins.is_valid(group))
        .map(|group| mins.value(group).to_vec())
        .filter(|key| !key.is_empty())
        .collect();
    splits.sort();
    splits.dedup();
    Ok(splits)
}

/// Merges the read of `ranges` (whole keys under `prefix`) of the `planned` segments in
/// one part per span between `splits` (segment key space), each on its own thread with
/// its own cursor of the snapshot `source`, each part's batches handed to `emit` as they
/// come.
pub(super) fn merge_in_parts(
    setup: &MergeSetup<'_>,
    source: CursorSource<'_>,
    prefix: &[u8],
    ranges: &KeyRanges,
    planned: &[Planned<'_>],
    splits: &[Vec<u8>],
    emit: &(dyn Fn(RecordBatch) -> bool + Sync),
) -> Result<()> {
    load_key_indexes(setup, planned)?;
    let bounds: Vec<Vec<u8>> = splits.iter().map(|split| [prefix, split.as_slice()].concat()).collect();
    let parts: Vec<_> = (0..=bounds.len())
        .map(|part| {
            let lower = part.checked_sub(1).map(|at| bounds[at].as_slice());
            part_ranges(ranges, lower, bounds.get(part).map(Vec::as_slice))
        })
        .filter(|ranges| !ranges.is_empty())
        .collect();
    let outcomes: Vec<Result<()>> = std::thread::scope(|scope| {
        let handles: Vec<_> = parts.iter().map(|part| scope.spawn(move || merge_part(setup, source, prefix, part, emit))).collect();
        handles.into_iter().map(|handle| handle.join().unwrap_or_else(|_| Err(EngineError::internal("a merge thread panicked")))).collect()
    });
    outcomes.into_iter().collect()
}

/// Loads, once and on this thread, the key index of each segment the whole read covers
/// mostly ([`ColdStore::key_index_for_read`]): each part reads only a share of the row
/// groups, and finds the index cached instead of loading it again or not at all.
fn load_key_indexes(setup: &MergeSetup<'_>, planned: &[Planned<'_>]) -> Result<()> {
    for planned in planned {
        let total = setup.cold.row_groups(setup.segments, planned.segment)?;
        let read = planned.groups.as_ref().map_or(total, Vec::len);
        setup.cold.key_index_for_read(setup.segments, planned.segment, read, total)?;
    }
    Ok(())
}

/// One part: its segments' row groups planned for its own key span, merged with the hot
/// rows of that span.
fn merge_part(
    setup: &MergeSetup<'_>,
    source: CursorSource<'_>,
    prefix: &[u8],
    ranges: &KeyRanges,
    emit: &(dyn Fn(RecordBatch) -> bool + Sync),
) -> Result<()> {
    let suffixes = suffix_ranges(ranges, prefix);
    // The whole read counted what pruning skipped; a part's plan is not counted again.
    let request = setup.request;
    let planned =
        prune::plan_segments(setup.cold, setup.segments, &request.entry, &suffixes, request.pruning.as_deref(), &PruneCounts::default())?;
    let mut cursor = source.cursor(ranges);
    let runs = setup.runs(&mut cursor, &planned, &suffixes)?;
    setup.merge(runs, true, &mut |batch| emit(batch))
}

/// `ranges` limited to `[lower, upper)` (whole keys; `None`: unbounded on that side),
/// empty ranges left out.
fn part_ranges(ranges: &KeyRanges, lower: Option<&[u8]>, upper: Option<&[u8]>) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
    ranges
        .iter()
        .filter_map(|(from, to)| {
            let from = match lower {
                Some(lower) if lower > from.as_slice() => lower.to_vec(),
                _ => from.clone(),
            };
            let to = match (to, upper) {
                (Some(to), Some(upper)) => Some(to.as_slice().min(upper).to_vec()),
                (Some(to), None) => Some(to.clone()),
                (None, upper) => upper.map(<[u8]>::to_vec),
            };
            to.as_ref().is_none_or(|to| from < *to).then_some((from, to))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(from: &[u8], to: Option<&[u8]>) -> (Vec<u8>, Option<Vec<u8>>) {
        (from.to_vec(), to.map(<[u8]>::to_vec))
    }

    #[test]
    fn parts_split_ranges_at_their_bounds_and_drop_what_they_do_not_reach() {
        let ranges = vec![range(b"a", Some(b"c")), range(b"e", Some(b"g")), range(b"x", None)];
        assert_eq!(part_ranges(&ranges, None, Some(b"f")), vec![range(b"a", Some(b"c")), range(b"e", Some(b"f"))]);
        assert_eq!(part_ranges(&ranges, Some(b"f"), Some(b"y")), vec![range(b"f", Some(b"g")), range(b"x", Some(b"y"))]);
        assert_eq!(part_ranges(&ranges, Some(b"y"), None), vec![range(b"y", None)]);
        assert_eq!(part_ranges(&ranges, Some(b"c"), Some(b"e")), vec![]);
    }
}
