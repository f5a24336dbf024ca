//! Replacing the token/expiry pair so that a crash at any point leaves, after
//! the next locked access, either the old pair or the new one, and no litter;
//! and so that a reader never pairs one file of the old pair with one of the
//! new.
//!
//! Two files cannot be renamed at once, so a writer killed between the two
//! renames used to leave the old token with the new expiry (served as valid
//! long after WeChat retired it). A replacement now goes in three steps:
//!
//! 1. the new files are written to new temporary files beside the old ones
//!    (unique names, `O_EXCL`, never through a link) and synced;
//! 2. a commit record naming them is appended to the lock file and synced
//!    (see `lock_file`): from here on the new pair is the one that counts;
//! 3. the temporary files are renamed into place and the record removed.
//!
//! Whoever next holds the lock calls [`StagedPair::recover`]: with a record,
//! it finishes step 3 (roll forward); without one, the old pair stands. Either
//! way it removes temporary files a crashed writer left. Every writer holds
//! the store's lock, so anything temporary found under it is litter.
//!
//! Readers, who take no lock, look for the record after reading both files:
//! while it is there the renames may be half done, so what they read is not
//! served as a pair (see `FileStore::read_both`). The record lives in the
//! lock file rather than in a file of its own: a fixed name beside the pair
//! in a shared directory could be planted by another user first.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::file_safety;
use crate::lock_file;
use crate::staged_file::{parent_dir, sync_dir, Staged};

/// The pair's files and its lock file, which carries the commit record.
#[derive(Debug)]
pub(crate) struct StagedPair {
    token: PathBuf,
    expiry: PathBuf,
    lock: PathBuf,
}

/// Renames `from` over `to`; a missing `from` (already renamed) is fine.
fn rename_if_there(from: &Path, to: &Path) -> io::Result<()> {
    match fs::rename(from, to) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

impl StagedPair {
    /// The pair at `token` and `expiry`, serialised by the lock file `lock`.
    pub(crate) fn new(token: &Path, expiry: &Path, lock: &Path) -> StagedPair {
        StagedPair {
            token: token.to_path_buf(),
            expiry: expiry.to_path_buf(),
            lock: lock.to_path_buf(),
        }
    }

    /// Replaces the pair, with the lock held. `expiry_first` decides which
    /// file a reader without a record to look at (the legacy script) sees
    /// change first (see `FileStore::save`).
    pub(crate) fn replace(
        &self,
        token: &[u8],
        expiry: &[u8],
        expiry_first: bool,
    ) -> io::Result<()> {
        let staged_expiry = Staged::write(&self.expiry, expiry)?;
        let staged_token = Staged::write(&self.token, token)?;
        let names = [staged_expiry.file_name(), staged_token.file_name()];
        if !lock_file::write_commit(&self.lock, &[&names[0], &names[1]])? {
            // No record can be kept (a lock file we may not write): the two
            // renames, back to back, as before there was one.
            let order = if expiry_first {
                [staged_expiry, staged_token]
            } else {
                [staged_token, staged_expiry]
            };
            for staged in order {
                staged.commit()?;
            }
            sync_dir(&self.token);
            return Ok(());
        }
        // Committed: from here the staged files belong to the record, and a
        // failure below is finished by `recover`, never undone.
        let staged = [
            (staged_expiry.keep(), &self.expiry),
            (staged_token.keep(), &self.token),
        ];
        let order = if expiry_first { [0, 1] } else { [1, 0] };
        for i in order {
            let (from, to) = &staged[i];
            rename_if_there(from, to)?;
        }
        sync_dir(&self.token);
        lock_file::clear_commit(&self.lock)
    }

    /// Under the lock: finishes a replacement that reached its commit record,
    /// and removes the temporary files of crashed writers (a replacement
    /// killed before its record leaves the old pair standing). A staged file
    /// that is not the cache's own (a link, another user's file, a second
    /// name) is never renamed into place.
    pub(crate) fn recover(&self) -> io::Result<()> {
        if let Some(names) = lock_file::read_commit(&self.lock) {
            let dir = parent_dir(&self.token);
            // The record names the expiry's file, then the token's. Token
            // first: the old token may be dead by now, and a reader in
            // between sees a stale pair.
            for (name, dest) in names.iter().zip([&self.expiry, &self.token]).rev() {
                if name.is_empty() || name.contains('/') || !name.ends_with(".tmp") {
                    continue;
                }
                let staged = dir.join(name);
                let Ok(meta) = fs::symlink_metadata(&staged) else {
                    continue; // renamed already
                };
                if file_safety::check(&staged, &meta).is_ok()
                    && file_safety::check_single_link(&meta).is_ok()
                {
                    rename_if_there(&staged, dest)?;
                }
            }
            sync_dir(&self.token);
            lock_file::clear_commit(&self.lock)?;
        }
        self.remove_litter();
        Ok(())
    }

    /// Temporary files (`.NAME.….tmp`) of this pair's writers, and the fixed
    /// staging names and marker that earlier versions used. Best effort: a
    /// file that cannot be removed (another user's, in a sticky directory)
    /// is left, and stops nothing.
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
            let ours = names.iter().any(|n| {
                name.strip_prefix(n.as_str()).is_some_and(|rest| {
                    rest.ends_with(".tmp") || rest == "wxtoken-new" || rest == "wxtoken-commit"
                })
            });
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
        let (t, e, l) = (
            d.path().join("token.txt"),
            d.path().join("expiry.txt"),
            d.path().join("token.txt.lock"),
        );
        fs::write(&t, "OLD").unwrap();
        fs::write(&e, "100").unwrap();
        fs::write(&l, "").unwrap();
        let pair = StagedPair::new(&t, &e, &l);
        (d, pair)
    }

    #[test]
    fn a_replacement_killed_after_its_commit_rolls_forward() {
        let (d, p) = setup();
        // Staged and recorded; only the expiry made it into place.
        fs::write(d.path().join(".token.txt.1.0.1.tmp"), "NEW").unwrap();
        fs::write(&p.expiry, "200").unwrap();
        lock_file::write_commit(&p.lock, &[".expiry.txt.1.1.1.tmp", ".token.txt.1.0.1.tmp"])
            .unwrap();
        assert!(lock_file::commit_pending(&p.lock));
        p.recover().unwrap();
        assert_eq!(
            (read(&p.token), read(&p.expiry)),
            ("NEW".into(), "200".into())
        );
        assert!(!lock_file::commit_pending(&p.lock));
        assert!(!d.path().join(".token.txt.1.0.1.tmp").exists());
    }

    #[test]
    fn a_replacement_killed_before_its_commit_leaves_the_old_pair_and_no_litter() {
        let (d, p) = setup();
        let staged = d.path().join(".token.txt.4242.0.123.tmp");
        fs::write(&staged, "NEW").unwrap();
        let old_marker = d.path().join(".token.txt.wxtoken-commit");
        fs::write(&old_marker, "").unwrap();
        let unrelated = d.path().join(".other.txt.1.tmp");
        fs::write(&unrelated, "x").unwrap();
        p.recover().unwrap();
        assert_eq!(
            (read(&p.token), read(&p.expiry)),
            ("OLD".into(), "100".into())
        );
        assert!(!staged.exists() && !old_marker.exists());
        assert!(unrelated.exists(), "another store's file is not ours");
    }

    #[test]
    fn a_record_naming_a_link_or_a_path_renames_nothing() {
        let (d, p) = setup();
        let target = d.path().join("elsewhere");
        fs::write(&target, "PLANTED").unwrap();
        std::os::unix::fs::symlink(&target, d.path().join(".token.txt.9.9.9.tmp")).unwrap();
        lock_file::write_commit(&p.lock, &["../x.tmp", ".token.txt.9.9.9.tmp"]).unwrap();
        p.recover().unwrap();
        assert_eq!(read(&p.token), "OLD");
        assert_eq!(read(&target), "PLANTED");
    }

    #[test]
    fn a_whole_replacement_leaves_nothing_behind_and_files_planted_at_old_names_stop_nothing() {
        let (d, p) = setup();
        // What another user could plant at the names earlier versions used.
        fs::write(d.path().join(".token.txt.wxtoken-new"), "PLANTED").unwrap();
        fs::write(d.path().join(".token.txt.wxtoken-commit"), "").unwrap();
        p.replace(b"NEW", b"200", true).unwrap();
        assert_eq!(
            (read(&p.token), read(&p.expiry)),
            ("NEW".into(), "200".into())
        );
        assert!(!lock_file::commit_pending(&p.lock));
        p.recover().unwrap();
        let names: Vec<_> = fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 3, "{names:?}");
    }
}
