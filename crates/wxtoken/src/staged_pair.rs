//! Replacing the token/expiry pair so that a crash at any point leaves, after
//! the next locked access, either the old pair or the new one, and no litter.
//!
//! Two files cannot be renamed at once, so a writer killed between the two
//! renames used to leave the old token with the new expiry (served as valid
//! long after WeChat retired it), and every killed writer left its temporary
//! files behind. Now a replacement goes in three durable steps:
//!
//! 1. the new files are written, synced and renamed to fixed staging names
//!    beside the old ones (`.token.txt.wxtoken-new`, `.expiry.txt.wxtoken-new`),
//!    so each staged file exists only once it is complete;
//! 2. a commit marker (`.token.txt.wxtoken-commit`) is created: from here on
//!    the new pair is the one that counts;
//! 3. the staged files are renamed into place and the marker removed.
//!
//! Whoever next holds the lock calls [`StagedPair::recover`]: with a marker,
//! it finishes step 3 (roll forward); without one, it deletes the staged
//! files (roll back: the old pair stands). Either way it removes temporary
//! files a crashed writer left. Every writer holds the store's lock, so
//! anything temporary found under it is litter.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::file_safety;
use crate::staged_file::{parent_dir, sync_dir, Staged};

/// The pair's files and the names used while replacing them.
#[derive(Debug)]
pub(crate) struct StagedPair {
    token: PathBuf,
    expiry: PathBuf,
    staged_token: PathBuf,
    staged_expiry: PathBuf,
    marker: PathBuf,
}

/// `.NAME.SUFFIX` beside `path`.
fn beside(path: &Path, suffix: &str) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    parent_dir(path).join(format!(".{name}.{suffix}"))
}

/// Removes `path`; a missing file is fine.
fn remove(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Renames `from` over `to`; a missing `from` (already renamed) is fine.
fn rename_if_there(from: &Path, to: &Path) -> io::Result<()> {
    match fs::rename(from, to) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

impl StagedPair {
    /// The names for the pair at `token` and `expiry`.
    pub(crate) fn new(token: &Path, expiry: &Path) -> StagedPair {
        StagedPair {
            staged_token: beside(token, "wxtoken-new"),
            staged_expiry: beside(expiry, "wxtoken-new"),
            marker: beside(token, "wxtoken-commit"),
            token: token.to_path_buf(),
            expiry: expiry.to_path_buf(),
        }
    }

    /// Replaces the pair. `expiry_first` decides which file a reader sees
    /// change first (see `FileStore::save`).
    pub(crate) fn replace(
        &self,
        token: &[u8],
        expiry: &[u8],
        expiry_first: bool,
    ) -> io::Result<()> {
        Staged::write(&self.staged_expiry, expiry)?.commit()?;
        Staged::write(&self.staged_token, token)?.commit()?;
        // The marker holds nothing, so it needs no fsync of its own: the one
        // directory sync below makes it and both staged renames durable.
        {
            use std::os::unix::fs::OpenOptionsExt;
            fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(&self.marker)?;
        }
        sync_dir(&self.marker);
        self.roll_forward(expiry_first)
    }

    /// Step 3: the staged files into place, then the marker away.
    fn roll_forward(&self, expiry_first: bool) -> io::Result<()> {
        let token = (&self.staged_token, &self.token);
        let expiry = (&self.staged_expiry, &self.expiry);
        let order = if expiry_first {
            [expiry, token]
        } else {
            [token, expiry]
        };
        for (from, to) in order {
            rename_if_there(from, to)?;
        }
        sync_dir(&self.token);
        remove(&self.marker)
    }

    /// Under the lock: finishes a replacement that reached its commit, undoes
    /// one that did not, and removes the temporary files of crashed writers.
    /// Staged files that are not the cache's own (a link, another user's
    /// file) are refused, never renamed into place.
    pub(crate) fn recover(&self) -> io::Result<()> {
        let committed = fs::symlink_metadata(&self.marker).is_ok();
        let leftovers = [&self.staged_token, &self.staged_expiry]
            .into_iter()
            .filter(|p| fs::symlink_metadata(p).is_ok())
            .count();
        if committed && leftovers > 0 {
            for staged in [&self.staged_token, &self.staged_expiry] {
                if let Ok(meta) = fs::symlink_metadata(staged) {
                    file_safety::check(staged, &meta).map_err(|r| {
                        io::Error::new(
                            io::ErrorKind::PermissionDenied,
                            r.into_error(staged).to_string(),
                        )
                    })?;
                }
            }
            // The old token may be dead by now: token first, so a reader in
            // between sees a stale pair and waits for the lock.
            self.roll_forward(false)?;
        } else {
            remove(&self.staged_token)?;
            remove(&self.staged_expiry)?;
            remove(&self.marker)?;
        }
        self.remove_litter();
        Ok(())
    }

    /// Temporary files (`.NAME.….tmp`) of this pair's writers. Best effort:
    /// a file that cannot be removed is left for the next time.
    fn remove_litter(&self) {
        let names: Vec<String> = [&self.token, &self.expiry]
            .iter()
            .filter_map(|p| p.file_name())
            .map(|n| format!(".{}.", n.to_string_lossy()))
            .collect();
        let Ok(dir) = fs::read_dir(parent_dir(&self.token)) else {
            return;
        };
        for entry in dir.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let ours = name.starts_with('.')
                && name.ends_with(".tmp")
                && names.iter().any(|n| name.contains(n.as_str()));
            if ours && entry.file_type().is_ok_and(|t| t.is_file()) {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(p: &Path) -> String {
        fs::read_to_string(p).unwrap_or_default()
    }

    fn setup() -> (tempfile::TempDir, StagedPair) {
        let d = tempfile::tempdir().unwrap();
        let (t, e) = (d.path().join("token.txt"), d.path().join("expiry.txt"));
        fs::write(&t, "OLD").unwrap();
        fs::write(&e, "100").unwrap();
        let pair = StagedPair::new(&t, &e);
        (d, pair)
    }

    #[test]
    fn a_replacement_killed_after_its_commit_rolls_forward() {
        let (_d, p) = setup();
        // Staged and committed; only the expiry made it into place.
        fs::write(&p.staged_token, "NEW").unwrap();
        fs::write(&p.marker, "").unwrap();
        fs::write(&p.expiry, "200").unwrap();
        p.recover().unwrap();
        assert_eq!(
            (read(&p.token), read(&p.expiry)),
            ("NEW".into(), "200".into())
        );
        assert!(!p.marker.exists() && !p.staged_token.exists());
    }

    #[test]
    fn a_replacement_killed_before_its_commit_rolls_back_and_litter_goes() {
        let (d, p) = setup();
        fs::write(&p.staged_token, "NEW").unwrap();
        fs::write(&p.staged_expiry, "200").unwrap();
        let litter = d.path().join(".token.txt.4242.0.123.tmp");
        fs::write(&litter, "half").unwrap();
        let unrelated = d.path().join(".other.txt.1.tmp");
        fs::write(&unrelated, "x").unwrap();
        p.recover().unwrap();
        assert_eq!(
            (read(&p.token), read(&p.expiry)),
            ("OLD".into(), "100".into())
        );
        assert!(!p.staged_token.exists() && !p.staged_expiry.exists() && !litter.exists());
        assert!(unrelated.exists(), "another store's file is not ours");
    }

    #[test]
    fn a_whole_replacement_leaves_nothing_behind() {
        let (d, p) = setup();
        p.replace(b"NEW", b"200", true).unwrap();
        assert_eq!(
            (read(&p.token), read(&p.expiry)),
            ("NEW".into(), "200".into())
        );
        let names: Vec<_> = fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }
}
