//! Bringing a data directory of an earlier format to the current one (the format marker
//! and the counters each format added), in one atomic batch.

use rocksdb::WriteBatch;

use crate::error::{EngineError, Result, SqlState};
use crate::storage::keys;
use crate::storage::store::{Counter, FORMAT_META, FORMAT_VERSION, Store};

impl Store {
    /// Brings a data directory of an earlier format to the current one, in one batch.
    pub(super) fn upgrade(&self) -> Result<()> {
        let format = match self.db.get(keys::meta_key(FORMAT_META))? {
            Some(bytes) => bytes.as_slice().try_into().map(u64::from_be_bytes).map_err(|_| {
                EngineError::new(
                    SqlState::DATA_CORRUPTED,
                    format!("the data directory {} has a corrupt format marker", self.path.display()),
                )
            })?,
            None => 1,
        };
        match format {
            FORMAT_VERSION => Ok(()),
            3 => {
                // Format 3 named cold files after `_seq` values; numbered names never meet them.
                let mut batch = WriteBatch::default();
                batch.put(keys::meta_key(Counter::NextFile.name()), Counter::NextFile.initial().to_be_bytes());
                batch.put(keys::meta_key(FORMAT_META), FORMAT_VERSION.to_be_bytes());
                self.db.write(batch)?;
                Ok(())
            }
            2 => {
                // Format 2 had no users beyond root and no USER-table rows.
                let mut batch = WriteBatch::default();
                batch.put(keys::meta_key(Counter::NextUserId.name()), Counter::NextUserId.initial().to_be_bytes());
                batch.put(keys::meta_key(Counter::NextFile.name()), Counter::NextFile.initial().to_be_bytes());
                batch.put(keys::meta_key(FORMAT_META), FORMAT_VERSION.to_be_bytes());
                self.db.write(batch)?;
                Ok(())
            }
            1 => {
                // Format 1 wrote a counter only once it was first used, and gave rows of
                // tables without a key their `_seq` as row id.
                let stored = |counter: Counter| -> Result<Option<u64>> {
                    self.db
                        .get(keys::meta_key(counter.name()))?
                        .map(|bytes| {
                            bytes.as_slice().try_into().map(u64::from_be_bytes).map_err(|_| {
                                EngineError::new(SqlState::DATA_CORRUPTED, format!("the {} counter is corrupt", counter.name()))
                            })
                        })
                        .transpose()
                };
                let seq = stored(Counter::Seq)?.unwrap_or(0);
                let next_table_id = stored(Counter::NextTableId)?.unwrap_or(1);
                let mut batch = WriteBatch::default();
                batch.put(keys::meta_key(Counter::Seq.name()), seq.to_be_bytes());
                batch.put(keys::meta_key(Counter::RowId.name()), seq.to_be_bytes());
                batch.put(keys::meta_key(Counter::NextTableId.name()), next_table_id.to_be_bytes());
                batch.put(keys::meta_key(Counter::NextUserId.name()), Counter::NextUserId.initial().to_be_bytes());
                batch.put(keys::meta_key(Counter::NextFile.name()), Counter::NextFile.initial().to_be_bytes());
                batch.put(keys::meta_key(FORMAT_META), FORMAT_VERSION.to_be_bytes());
                self.db.write(batch)?;
                Ok(())
            }
            newer => Err(EngineError::not_supported(format!(
                "the data directory {} has format {newer}, newer than this engine's {FORMAT_VERSION}",
                self.path.display()
            ))),
        }
    }
}
