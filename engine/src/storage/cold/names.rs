//! Names in cold storage: the engine's own file names, the folders of its scopes (by table
//! and user id, never by name: two names that differ only in case stay apart on every
//! file system), and the marker that says which engine a root belongs to.
//!
//! Layout under the root: `engine.json` (the marker), then `t<table id>/` for a SHARED
//! table's scope and `t<table id>/u<user id>/` for a USER table's, each holding
//! `manifest.json` and the segments it lists. A segment is `<table id>-n<number>.parquet`,
//! its number from a persistent counter, so no name is ever written twice. Data
//! directories of earlier formats keep their folders (`<namespace>/<table>[/<user>]`) and
//! names (`<table id>-<seq>[-<tag>-<n>].parquet`), found through their manifests.

use object_store::path::Path;

use crate::storage::keys::{RowScope, TableId};

/// The file at the root naming the engine that owns it.
pub const MARKER_FILE: &str = "engine.json";

/// The file name of a scope's manifest.
pub const MANIFEST_FILE: &str = "manifest.json";

/// The name of the segment numbered `number` of table `table_id`.
pub fn segment_file_name(table_id: TableId, number: u64) -> String {
    format!("{table_id}-n{number:020}.parquet")
}

/// The number of a segment named by [`segment_file_name`].
pub fn segment_file_number(name: &str) -> Option<u64> {
    let (_, rest) = name.split_once("-n")?;
    let digits = rest.strip_suffix(".parquet")?;
    (digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit())).then(|| digits.parse().ok())?
}

/// Whether `name` is a segment name this engine writes (or wrote in an earlier format)
/// for table `table_id`, or any table when `None`.
pub fn is_segment_name(name: &str, table_id: Option<TableId>) -> bool {
    let Some(stem) = name.strip_suffix(".parquet") else { return false };
    let Some((table, rest)) = stem.split_once('-') else { return false };
    let table_matches = table.bytes().all(|b| b.is_ascii_digit())
        && !table.is_empty()
        && table_id.is_none_or(|id| table.parse::<TableId>().ok() == Some(id));
    table_matches && !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Whether `name` is an object of an interrupted local write of one of the engine's files
/// (the local store writes `<name>#<n>` and renames it into place).
pub fn is_staging_name(name: &str) -> bool {
    match name.rsplit_once('#') {
        Some((base, suffix)) => {
            !suffix.is_empty() && suffix.bytes().all(|b| b.is_ascii_digit()) && (base == MANIFEST_FILE || is_segment_name(base, None))
        }
        None => false,
    }
}

/// The folder of a table's objects.
pub fn table_folder(root: &Path, table_id: TableId) -> Path {
    child(root, &format!("t{table_id}"))
}

/// The folder of one scope of a table.
pub fn scope_folder(root: &Path, table_id: TableId, scope: &RowScope) -> Path {
    let table = table_folder(root, table_id);
    match scope {
        RowScope::Shared => table,
        RowScope::User(user) => child(&table, &format!("u{user}")),
    }
}

/// Whether `folder` is a table or scope folder of this layout under `root`.
pub fn is_id_folder(root: &Path, folder: &Path) -> bool {
    let root_parts = root.parts().count();
    let parts: Vec<String> = folder.parts().map(|p| p.as_ref().to_string()).collect();
    if parts.len() <= root_parts || !folder.prefix_matches(root) {
        return false;
    }
    let numbered =
        |part: &str, letter: char| part.strip_prefix(letter).is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()));
    match &parts[root_parts..] {
        [table] => numbered(table, 't'),
        [table, user] => numbered(table, 't') && numbered(user, 'u'),
        _ => false,
    }
}

/// `folder/name`.
pub fn child(folder: &Path, name: &str) -> Path {
    let mut parts: Vec<String> = folder.parts().map(|p| p.as_ref().to_string()).collect();
    parts.push(name.to_string());
    Path::from_iter(parts)
}

/// The folder holding `path`.
pub fn parent(path: &Path) -> Path {
    let parts: Vec<String> = path.parts().map(|p| p.as_ref().to_string()).collect();
    Path::from_iter(parts[..parts.len().saturating_sub(1)].iter().cloned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_names_are_numbered_and_recognised() {
        let name = segment_file_name(12, 7);
        assert_eq!(name, "12-n00000000000000000007.parquet");
        assert_eq!(segment_file_number(&name), Some(7));
        assert!(is_segment_name(&name, Some(12)) && !is_segment_name(&name, Some(1)));
        assert!(is_segment_name("3-00000000000000000042.parquet", Some(3)), "an earlier format's name");
        assert!(is_segment_name("3-00000000000000000042-purged-1.parquet", None));
        assert_eq!(segment_file_number("3-00000000000000000042.parquet"), None);
        assert!(!is_segment_name("notes.parquet", None) && !is_segment_name("3-.parquet", None) && !is_segment_name("x-1.parquet", None));
        assert!(is_staging_name("12-n00000000000000000007.parquet#3") && is_staging_name("manifest.json#12"));
        assert!(!is_staging_name("photo.jpg#1") && !is_staging_name("manifest.json#") && !is_staging_name("manifest.json"));
    }

    #[test]
    fn folders_are_named_by_ids() {
        let root = Path::from("cold");
        assert_eq!(scope_folder(&root, 4, &RowScope::Shared).as_ref(), "cold/t4");
        assert_eq!(scope_folder(&root, 4, &RowScope::User(9)).as_ref(), "cold/t4/u9");
        assert_eq!(scope_folder(&Path::default(), 4, &RowScope::Shared).as_ref(), "t4");
        assert!(is_id_folder(&root, &Path::from("cold/t4")) && is_id_folder(&root, &Path::from("cold/t4/u9")));
        assert!(!is_id_folder(&root, &Path::from("cold")) && !is_id_folder(&root, &Path::from("cold/app/t4")));
        assert!(!is_id_folder(&root, &Path::from("cold/tx")) && !is_id_folder(&root, &Path::from("other/t4")));
        assert!(is_id_folder(&Path::default(), &Path::from("t4/u1")));
        assert_eq!(parent(&Path::from("cold/t4/manifest.json")).as_ref(), "cold/t4");
    }
}
