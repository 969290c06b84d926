//! One open store per data directory in this process. RocksDB locks its directory for as
//! long as the database is open, and an engine's database closes only when the last
//! holder of its store lets go: a dropped engine's session, or a statement still
//! finishing a scan on a blocking thread. So a directory is claimed when a store opens
//! and released once its database has closed, and an open of a claimed directory waits
//! for the release (up to [`crate::EngineConfig::release_wait`], then 55006) instead of
//! failing on RocksDB's lock at once. Engines of other processes still meet RocksDB's
//! lock (58030).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, LazyLock, Mutex};
use std::time::Duration;

use crate::error::{EngineError, Result, SqlState};

/// The claimed directories, and the signal that one was released.
static CLAIMS: LazyLock<(Mutex<HashSet<PathBuf>>, Condvar)> = LazyLock::new(Default::default);

/// A claimed directory; dropping it releases the directory (drop it after the database).
#[derive(Debug)]
pub(crate) struct DirClaim {
    path: PathBuf,
}

impl DirClaim {
    /// Claims `path` (an existing directory), waiting up to `wait` for a store of this
    /// process that has it to close.
    pub(crate) fn acquire(path: &Path, wait: Duration) -> Result<DirClaim> {
        let path = std::fs::canonicalize(path)?;
        let (claimed, released) = &*CLAIMS;
        let claimed = claimed.lock().unwrap_or_else(|p| p.into_inner());
        let (mut claimed, waited) =
            released.wait_timeout_while(claimed, wait, |claimed| claimed.contains(&path)).unwrap_or_else(|p| p.into_inner());
        if waited.timed_out() && claimed.contains(&path) {
            return Err(EngineError::new(
                SqlState::OBJECT_IN_USE,
                format!(
                    "data directory {} is still open in this process: an engine on it, or a session or running statement \
                     of a dropped one, holds it (waited {wait:?})",
                    path.display()
                ),
            ));
        }
        claimed.insert(path.clone());
        Ok(DirClaim { path })
    }
}

impl Drop for DirClaim {
    fn drop(&mut self) {
        let (claimed, released) = &*CLAIMS;
        claimed.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.path);
        released.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claimed_directory_waits_then_refuses_and_is_free_once_released() {
        let dir = tempfile::tempdir().unwrap();
        let first = DirClaim::acquire(dir.path(), Duration::ZERO).expect("free");
        let refused = DirClaim::acquire(dir.path(), Duration::from_millis(1)).expect_err("claimed");
        assert_eq!(refused.sql_state(), SqlState::OBJECT_IN_USE);
        // Released on another thread, before or while this one waits.
        let release = std::thread::spawn(move || drop(first));
        let second = DirClaim::acquire(dir.path(), Duration::from_secs(60)).expect("released");
        release.join().unwrap();
        drop(second);
        DirClaim::acquire(dir.path(), Duration::ZERO).expect("free again");
    }
}
