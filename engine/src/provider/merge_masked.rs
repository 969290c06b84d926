//! The merge of a scan that needs no key order (an unlimited scan a query may split, like
//! a split hot scan): runs are walked in key order as in [`super::merge`], but each run's
//! batches then pass on whole, filtered by a mask of the rows no newer run shadows,
//! instead of being cut into slices and joined again. Hot rows over a few of a segment's
//! keys (an update of every tenth row) cost a bit per row, not a slice per row.

use datafusion::arrow::array::{AsArray, BinaryArray, BooleanArray, BooleanBufferBuilder};
use datafusion::arrow::record_batch::RecordBatch;

use crate::error::Result;
use crate::provider::merge::{Output, Positioned, next_step};
use crate::provider::runs::Run;

/// A run's current batch, position in it, and which of its rows so far are kept.
struct Masked<'r> {
    run: Box<dyn Run + 'r>,
    batch: RecordBatch,
    keys: BinaryArray,
    row: usize,
    keep: BooleanBufferBuilder,
}

impl Positioned for Masked<'_> {
    fn keys(&self) -> &BinaryArray {
        &self.keys
    }

    fn row(&self) -> usize {
        self.row
    }
}

impl<'r> Masked<'r> {
    fn first(mut run: Box<dyn Run + 'r>, key_at: usize) -> Result<Option<Self>> {
        Ok(match run.next_batch()? {
            Some(batch) => {
                let keys = batch.column(key_at).as_binary::<i32>().clone();
                let keep = BooleanBufferBuilder::new(batch.num_rows());
                Some(Masked { run, batch, keys, row: 0, keep })
            }
            None => None,
        })
    }

    /// Marks the next `rows` rows kept or shadowed; at the end of the batch hands its kept
    /// rows to `output` and loads the next one. Returns `false` when the run is done.
    fn mark(
        &mut self,
        rows: usize,
        kept: bool,
        key_at: usize,
        output: &mut Output<'_>,
        emit: &mut dyn FnMut(RecordBatch) -> bool,
    ) -> Result<bool> {
        self.keep.append_n(rows, kept);
        self.row += rows;
        if self.row < self.batch.num_rows() {
            return Ok(true);
        }
        let mask = BooleanArray::new(self.keep.finish(), None);
        let keep = (mask.true_count() < mask.len()).then_some(mask);
        output.push(self.batch.clone(), keep, emit)?;
        output.flush(emit)?;
        match self.run.next_batch()? {
            Some(batch) => {
                self.keys = batch.column(key_at).as_binary::<i32>().clone();
                self.keep = BooleanBufferBuilder::new(batch.num_rows());
                self.batch = batch;
                self.row = 0;
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

/// Merges `runs` (priority order: the first wins a key) into `output`, in no particular
/// row order.
pub(super) fn merge_masked<'r>(
    runs: Vec<Box<dyn Run + 'r>>,
    key_at: usize,
    output: &mut Output<'_>,
    emit: &mut dyn FnMut(RecordBatch) -> bool,
) -> Result<()> {
    let mut heads: Vec<Masked<'r>> = Vec::with_capacity(runs.len());
    for run in runs {
        heads.extend(Masked::first(run, key_at)?);
    }
    // (head, rows, kept) of one step, applied from the last head so removals keep the
    // other indices valid.
    let mut steps: Vec<(usize, usize, bool)> = Vec::with_capacity(heads.len());
    while !heads.is_empty() && !output.stopped {
        let (winner, take) = next_step(&heads);
        steps.clear();
        steps.push((winner, take, true));
        // Another run holding the winner's key holds an older version of it: shadowed.
        if take == 1 {
            let key = heads[winner].key();
            steps.extend((0..heads.len()).filter(|&i| i != winner && heads[i].key() == key).map(|i| (i, 1, false)));
            steps.sort_unstable_by_key(|step| step.0);
        }
        for &(index, rows, kept) in steps.iter().rev() {
            if !heads[index].mark(rows, kept, key_at, output, emit)? {
                heads.remove(index);
            }
        }
    }
    Ok(())
}
