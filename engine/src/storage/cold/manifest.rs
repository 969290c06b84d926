//! The manifest of one table scope in cold storage: which Parquet segments hold its rows.
//!
//! A scope's folder ([`super::names`]) holds `manifest.json` plus the segment files it
//! lists. A segment becomes part of the table only when the manifest that
//! names it is written, after the file itself, so a crash never exposes half a segment.
//! Segments are listed oldest first; for a key held by several, the newest wins (a later
//! flush only ever holds later writes of a key).

use object_store::path::Path;
use serde::{Deserialize, Serialize};

use crate::error::{EngineError, Result, SqlState};
use crate::storage::hex;
pub use crate::storage::hex::to_hex;
use crate::storage::keys::{RowScope, TableId};

pub use super::names::MANIFEST_FILE;

/// The manifest format this engine writes and reads.
const FORMAT: u32 = 1;

/// Where one scope of a table lives in the object store, relative to the store's root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeDir {
    pub table_id: TableId,
    pub scope: RowScope,
    pub path: Path,
}

impl ScopeDir {
    /// The folder a scope without a manifest gets (folders of earlier formats are kept).
    pub fn new(root: &Path, table_id: TableId, scope: RowScope) -> Self {
        let path = super::names::scope_folder(root, table_id, &scope);
        ScopeDir { table_id, scope, path }
    }

    pub fn manifest_path(&self) -> Path {
        self.path.clone().join(MANIFEST_FILE)
    }

    pub fn file_path(&self, file: &str) -> Path {
        self.path.clone().join(file)
    }
}

/// A scope's manifest as stored (`manifest.json`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    /// The table this manifest belongs to: a folder left by a dropped table of the same
    /// name is recognised by its id and never read as the new table's.
    pub table_id: TableId,
    /// `None` for a SHARED table's scope; the owner's user id for a USER table's.
    pub user_id: Option<u64>,
    /// Segments, oldest first.
    pub segments: Vec<SegmentMeta>,
    /// The retention horizon: the largest `_seq` of a tombstone the retention purge has
    /// removed from this scope (0: none). A subscription resuming from an older `_seq`
    /// could miss those deletes, so it is refused. A scope with a horizon keeps its
    /// manifest even without segments.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub purged_through_seq: u64,
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}

/// One Parquet file of a scope and what the manifest knows about it without opening it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentMeta {
    /// File name inside the scope's folder.
    pub file: String,
    /// Size in bytes (readers need it to find the footer without asking the store).
    pub bytes: u64,
    pub rows: u64,
    /// Rows that are tombstones (`_deleted = true`), kept until the retention purge.
    pub deleted_rows: u64,
    pub min_seq: u64,
    pub max_seq: u64,
    /// The smallest and largest row key (hex of the engine's key encoding, scope part
    /// excluded); the file is sorted by it.
    pub min_key: String,
    pub max_key: String,
    /// The table schema version the file's columns follow.
    pub schema_version: u32,
    /// The newest `_updated` (milliseconds) of the file's rows.
    pub max_updated_millis: i64,
    /// The oldest `_updated` of the file's tombstones: the retention purge's test.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oldest_tombstone_millis: Option<i64>,
    /// Per user column (by column id): null count and bounds, for pruning.
    pub columns: Vec<ColumnStats>,
}

/// Statistics of one user column of a segment. Bounds are JSON numbers, strings or
/// booleans for the types that have an obvious JSON form, absent otherwise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnStats {
    pub id: u32,
    pub nulls: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<serde_json::Value>,
}

impl Manifest {
    pub fn new(table_id: TableId, scope: &RowScope) -> Self {
        let user_id = match scope {
            RowScope::Shared => None,
            RowScope::User(user) => Some(*user),
        };
        Manifest { format: FORMAT, table_id, user_id, segments: Vec::new(), purged_through_seq: 0 }
    }

    pub fn scope(&self) -> RowScope {
        match self.user_id {
            None => RowScope::Shared,
            Some(user) => RowScope::User(user),
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("a manifest always serializes")
    }

    pub fn from_json(bytes: &[u8], path: &Path) -> Result<Manifest> {
        let manifest: Manifest = serde_json::from_slice(bytes)
            .map_err(|e| EngineError::new(SqlState::DATA_CORRUPTED, format!("cold storage manifest {path} is not readable: {e}")))?;
        if manifest.format != FORMAT {
            return Err(EngineError::new(
                SqlState::DATA_CORRUPTED,
                format!("cold storage manifest {path} has format {}, this engine reads {FORMAT}", manifest.format),
            ));
        }
        Ok(manifest)
    }

    /// Every file the manifest references.
    pub fn files(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().map(|s| s.file.as_str())
    }

    pub fn rows(&self) -> u64 {
        self.segments.iter().map(|s| s.rows).sum()
    }
}

impl SegmentMeta {
    /// Whether some key in `[lower, upper)` (scope part excluded; `None`: unbounded)
    /// could be in this segment. A manifest whose key range does not decode prunes
    /// nothing.
    pub fn may_hold_keys(&self, lower: &[u8], upper: Option<&[u8]>) -> bool {
        let (Some(min), Some(max)) = (hex::from_hex(&self.min_key), hex::from_hex(&self.max_key)) else { return true };
        span_reaches(&min, &max, lower, upper)
    }
}

/// Whether keys between `min` and `max` (inclusive) may fall in `[lower, upper)`.
pub fn span_reaches(min: &[u8], max: &[u8], lower: &[u8], upper: Option<&[u8]>) -> bool {
    max >= lower && upper.is_none_or(|upper| min < upper)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_folders_follow_table_and_user_ids() {
        let root = Path::from("storage");
        assert_eq!(ScopeDir::new(&root, 3, RowScope::Shared).manifest_path().as_ref(), "storage/t3/manifest.json");
        assert_eq!(ScopeDir::new(&root, 3, RowScope::User(9)).file_path("a.parquet").as_ref(), "storage/t3/u9/a.parquet");
        assert_eq!(ScopeDir::new(&Path::default(), 3, RowScope::Shared).path.as_ref(), "t3");
    }

    #[test]
    fn key_ranges_prune() {
        let segment = SegmentMeta {
            file: "f".into(),
            bytes: 1,
            rows: 1,
            deleted_rows: 0,
            min_seq: 1,
            max_seq: 1,
            min_key: to_hex(b"b"),
            max_key: to_hex(b"d"),
            schema_version: 1,
            max_updated_millis: 0,
            oldest_tombstone_millis: None,
            columns: Vec::new(),
        };
        assert!(segment.may_hold_keys(b"a", None));
        assert!(segment.may_hold_keys(b"d", Some(b"e")));
        assert!(!segment.may_hold_keys(b"e", None));
        assert!(!segment.may_hold_keys(b"a", Some(b"b")));
        assert!(segment.may_hold_keys(b"a", Some(b"c")));
    }

    #[test]
    fn manifests_round_trip_and_refuse_other_formats() {
        let manifest = Manifest::new(4, &RowScope::User(2));
        let path = Path::from("m");
        assert_eq!(Manifest::from_json(&manifest.to_json(), &path).unwrap(), manifest);
        assert_eq!(manifest.scope(), RowScope::User(2));
        let other = Manifest { format: 99, ..manifest };
        assert!(Manifest::from_json(&other.to_json(), &path).is_err());
    }
}
