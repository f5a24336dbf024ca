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
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::file_safety;
use crate::store::files::lock_file;
use crate::store::files::staged_file::{parent_dir, sync_dir, Staged};

/// The pair's files and its lock file, which carries the commit record.
///
/// The record is `commit TOKEN_ID EXPIRY_STAGE TOKEN_STAGE`: the identity of
/// `token.txt` when the record was written (`-` if there was none), and the
/// unique parts of the two staged names (`.expiry.txt.STAGE.tmp`), digits and
/// dots only, so any file name fits.
#[derive(Debug)]
pub(crate) struct StagedPair {
    token: PathBuf,
    expiry: PathBuf,
    lock: PathBuf,
}

/// `path`'s identity as the record keeps it: inode, size and mtime, so an
/// in-place rewrite (the legacy script's) shows as a change.
fn identity(path: &Path) -> String {
    fs::symlink_metadata(path).map_or_else(
        |_| "-".to_string(),
        |m| format!("{}-{}-{}-{}", m.ino(), m.size(), m.mtime(), m.mtime_nsec()),
    )
}

/// The file name of `path`.
fn name_of(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The unique part of a staged name `.NAME.STAGE.tmp` made for `dest`.
fn stage_of(staged_name: &str, dest: &Path) -> Option<String> {
    let stage = staged_name
        .strip_prefix(&format!(".{}.", name_of(dest)))?
        .strip_suffix(".tmp")?;
    is_stage(stage).then(|| stage.to_string())
}

/// Digits in dot-separated groups: what `staged_file` puts between the name
/// and `.tmp`, and nothing else.
fn is_stage(stage: &str) -> bool {
    !stage.is_empty()
        && stage
            .split('.')
            .all(|g| !g.is_empty() && g.bytes().all(|b| b.is_ascii_digit()))
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

    /// The staged file of `dest` with the unique part `stage`.
    fn staged(&self, dest: &Path, stage: &str) -> PathBuf {
        parent_dir(dest).join(format!(".{}.{stage}.tmp", name_of(dest)))
    }

    /// A whole record's fields: token identity, expiry's and token's stages.
    fn parse<'a>(&self, record: &'a str) -> Option<(&'a str, &'a str, &'a str)> {
        match lock_file::record_fields(record)?.as_slice() {
            [id, e, t] if is_stage(e) && is_stage(t) => Some((id, e, t)),
            _ => None,
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
        let stages = [
            stage_of(&staged_expiry.file_name(), &self.expiry),
            stage_of(&staged_token.file_name(), &self.token),
        ];
        let recorded = match &stages {
            [Some(e), Some(t)] => {
                lock_file::write_commit(&self.lock, &[&identity(&self.token), e, t])?
            }
            _ => false,
        };
        if !recorded {
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
        // Recorded: from here the staged files belong to the record.
        let staged = [
            (staged_expiry.keep(), &self.expiry),
            (staged_token.keep(), &self.token),
        ];
        let order = if expiry_first { [0, 1] } else { [1, 0] };
        for (n, i) in order.into_iter().enumerate() {
            let (from, to) = &staged[i];
            if let Err(e) = fs::rename(from, to) {
                if n == 0 {
                    // Nothing moved yet: undo, so no reader waits on a record
                    // that no one can finish.
                    for (f, _) in &staged {
                        let _ = fs::remove_file(f);
                    }
                    let _ = lock_file::clear_commit(&self.lock);
                }
                return Err(e);
            }
        }
        sync_dir(&self.token);
        lock_file::clear_commit(&self.lock)
    }

    /// For a reader who found `record`: whether both renames are done (both
    /// staged files gone), so the pair it read may be taken (its identity
    /// checks still apply). A record cut short counts as not done.
    pub(crate) fn renames_done(&self, record: &str) -> bool {
        self.parse(record).is_some_and(|(_, e, t)| {
            fs::symlink_metadata(self.staged(&self.expiry, e)).is_err()
                && fs::symlink_metadata(self.staged(&self.token, t)).is_err()
        })
    }

    /// Under the lock: finishes a replacement that reached its commit record,
    /// and removes the temporary files of crashed writers (a replacement
    /// killed before its record leaves the old pair standing). A staged file
    /// that is not the cache's own (a link, another user's file, a second
    /// name) is never renamed into place, and neither is a staged token once
    /// `token.txt` changed since the record (the legacy script wrote a newer
    /// one meanwhile: rolling forward would put the older token back).
    pub(crate) fn recover(&self) -> io::Result<()> {
        if let Some(record) = lock_file::commit_pending(&self.lock) {
            if let Some((id, e, t)) = self.parse(&record) {
                let staged_token = self.staged(&self.token, t);
                let token_waiting = fs::symlink_metadata(&staged_token).is_ok();
                if !token_waiting || identity(&self.token) == id {
                    // Token first: the old token may be dead by now, and a
                    // reader in between sees a stale pair.
                    for (staged, dest) in [
                        (staged_token, &self.token),
                        (self.staged(&self.expiry, e), &self.expiry),
                    ] {
                        let Ok(meta) = fs::symlink_metadata(&staged) else {
                            continue; // renamed already
                        };
                        if file_safety::check(&staged, &meta).is_ok()
                            && file_safety::check_single_link(&meta).is_ok()
                        {
                            fs::rename(&staged, dest)?;
                        }
                    }
                    sync_dir(&self.token);
                }
            }
            lock_file::clear_commit(&self.lock)?;
        }
        self.remove_litter();
        Ok(())
    }

    /// Temporary files (`.NAME.STAGE.tmp`) of this pair's writers, and the
    /// fixed staging names and marker that earlier versions used. Only those
    /// exact shapes: another store's files beside these (`token.txt.app2`)
    /// are not ours. Best effort: a file that cannot be removed (another
    /// user's, in a sticky directory) is left, and stops nothing.
    fn remove_litter(&self) {
        let names: Vec<String> = [&self.token, &self.expiry]
            .iter()
            .map(|p| format!(".{}.", name_of(p)))
            .collect();
        let Ok(dir) = fs::read_dir(parent_dir(&self.token)) else {
            return;
        };
        for entry in dir.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let ours = names.iter().any(|n| {
                name.strip_prefix(n.as_str()).is_some_and(|rest| {
                    rest.strip_suffix(".tmp").is_some_and(is_stage)
                        || rest == "wxtoken-new"
                        || rest == "wxtoken-commit"
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
        let id = identity(&p.token);
        fs::write(d.path().join(".token.txt.1.0.1.tmp"), "NEW").unwrap();
        fs::write(&p.expiry, "200").unwrap();
        lock_file::write_commit(&p.lock, &[&id, "1.1.1", "1.0.1"]).unwrap();
        let record = lock_file::commit_pending(&p.lock).unwrap();
        assert!(!p.renames_done(&record));
        p.recover().unwrap();
        assert_eq!(
            (read(&p.token), read(&p.expiry)),
            ("NEW".into(), "200".into())
        );
        assert!(lock_file::commit_pending(&p.lock).is_none());
        assert!(!d.path().join(".token.txt.1.0.1.tmp").exists());
    }

    #[test]
    fn a_token_rewritten_in_place_since_the_record_is_not_rolled_back_over() {
        let (d, p) = setup();
        let id = identity(&p.token);
        fs::write(d.path().join(".token.txt.1.0.1.tmp"), "OURS_OLDER").unwrap();
        fs::write(d.path().join(".expiry.txt.1.1.1.tmp"), "200").unwrap();
        lock_file::write_commit(&p.lock, &[&id, "1.1.1", "1.0.1"]).unwrap();
        // The legacy script, which takes no lock, writes a newer token.
        std::thread::sleep(std::time::Duration::from_millis(10));
        fs::write(&p.token, "LEGACY_NEWER").unwrap();
        p.recover().unwrap();
        assert_eq!(read(&p.token), "LEGACY_NEWER");
        assert!(lock_file::commit_pending(&p.lock).is_none());
        assert!(!d.path().join(".token.txt.1.0.1.tmp").exists());
    }

    #[test]
    fn a_record_cut_short_rolls_back_and_other_stores_files_stay() {
        let (d, p) = setup();
        fs::write(d.path().join(".token.txt.1.0.1.tmp"), "NEW").unwrap();
        fs::write(&p.lock, "commit - 1.1.1 1.0").unwrap();
        let other = d.path().join(".token.txt.app2.1.0.1.tmp");
        fs::write(&other, "THEIRS").unwrap();
        p.recover().unwrap();
        assert_eq!(read(&p.token), "OLD");
        assert!(!d.path().join(".token.txt.1.0.1.tmp").exists());
        assert!(other.exists(), "token.txt.app2's staged file is not ours");
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
        lock_file::write_commit(&p.lock, &[&identity(&p.token), "../x", "9.9.9"]).unwrap();
        p.recover().unwrap();
        lock_file::write_commit(&p.lock, &[&identity(&p.token), "8.8.8", "9.9.9"]).unwrap();
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
        assert!(lock_file::commit_pending(&p.lock).is_none());
        p.recover().unwrap();
        let names: Vec<_> = fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 3, "{names:?}");
    }
}
