//! Segment files a manifest no longer lists, deleted once no reader can see them.
//!
//! Every published manifest of a scope (a [`super::ColdScope`]) holds one [`FilePin`] per
//! file it lists, shared with the next manifest for the files both list; a reader holds
//! the `ColdScope` it started from for as long as it reads, and each segment read holds
//! its file's pin. A file dropped from a manifest is retired with a weak reference to its
//! pin: it is deleted only once no manifest and no reader holds the pin, however long a
//! reader runs and whatever the clocks do. A restart deletes what was still retired
//! (nothing reads then).

use std::sync::{Arc, Weak};

use object_store::path::Path;

/// Held by every manifest generation listing a file and by every read of it.
#[derive(Debug, Default)]
pub struct FilePin;

/// The retired files of a cold store.
#[derive(Debug, Default)]
pub(super) struct RetiredFiles {
    files: Vec<RetiredFile>,
}

#[derive(Debug)]
struct RetiredFile {
    path: Path,
    pin: Weak<FilePin>,
    /// Deletions of it that failed so far.
    failures: u32,
}

impl RetiredFiles {
    pub(super) fn add(&mut self, path: Path, pin: &Arc<FilePin>) {
        self.files.push(RetiredFile { path, pin: Arc::downgrade(pin), failures: 0 });
    }

    /// Takes out the files nothing pins any more, with how often deleting each failed.
    pub(super) fn take_unpinned(&mut self) -> Vec<(Path, u32)> {
        let (due, pinned): (Vec<_>, Vec<_>) = self.files.drain(..).partition(|f| f.pin.strong_count() == 0);
        self.files = pinned;
        due.into_iter().map(|f| (f.path, f.failures)).collect()
    }

    /// Puts back a file whose deletion failed (tried again at the next run).
    pub(super) fn failed(&mut self, path: Path, failures: u32) {
        self.files.push(RetiredFile { path, pin: Weak::new(), failures });
    }

    /// The pins of the waiting files under any of `folders` (a dropped table's or user's:
    /// a reader of an older generation may still hold one).
    pub(super) fn pins_under(&self, folders: &[Path]) -> Vec<Weak<FilePin>> {
        self.files.iter().filter(|f| folders.iter().any(|folder| f.path.prefix_matches(folder))).map(|f| f.pin.clone()).collect()
    }

    /// How many files wait (pinned or not).
    pub(super) fn len(&self) -> usize {
        self.files.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_goes_only_when_nothing_pins_it() {
        let mut retired = RetiredFiles::default();
        let pin = Arc::new(FilePin);
        let reader = pin.clone();
        retired.add(Path::from("t1/a.parquet"), &pin);
        drop(pin);
        assert!(retired.take_unpinned().is_empty(), "a reader still holds it");
        drop(reader);
        assert_eq!(retired.take_unpinned(), vec![(Path::from("t1/a.parquet"), 0)]);
        retired.failed(Path::from("t1/a.parquet"), 1);
        assert_eq!(retired.take_unpinned(), vec![(Path::from("t1/a.parquet"), 1)]);
        assert_eq!(retired.len(), 0);
    }

    #[test]
    fn pins_under_a_folder_are_those_of_its_files() {
        let mut retired = RetiredFiles::default();
        let (a, b) = (Arc::new(FilePin), Arc::new(FilePin));
        retired.add(Path::from("t1/a.parquet"), &a);
        retired.add(Path::from("t12/b.parquet"), &b);
        let under = retired.pins_under(&[Path::from("t1")]);
        assert_eq!(under.len(), 1, "t12 is another folder");
        assert!(Arc::ptr_eq(&under[0].upgrade().expect("held"), &a));
    }
}
