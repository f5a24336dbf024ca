//! The default store: the `token.txt` / `expiry.txt` pair, byte-compatible
//! with the legacy PHP script in both directions, plus the `token.txt.lock`
//! that serialises refreshes across processes.
//!
//! Reads are cheap on purpose: the files last read are kept open, and when an
//! `fstat` on each shows neither was replaced nor rewritten since (see
//! `watched_file`) the remembered token is returned without a path lookup, an
//! open or a read, so a hit is never stale. Writes replace each file by
//! rename, so a reader sees the old file or the new one, never a torn one.
//! Every file is checked before it is trusted (see `file_safety`).

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use arc_swap::ArcSwapOption;
use std::time::{Duration, Instant};

use crate::cached::Cached;
use crate::error::{Error, Result};
use crate::file_safety::{check_destination, open_trusted};
use crate::store::files::legacy_format::{parse_expiry, parse_token};
use crate::store::files::staged_pair::StagedPair;
use crate::store::files::watched_file::{FileStat, Watched};
use crate::store::{LockOutcome, StoreInfo, TokenStore};

pub(crate) mod legacy_format;
pub(crate) mod legacy_lock;
pub(crate) mod lock_file;
pub(crate) mod staged_file;
pub(crate) mod staged_pair;
pub(crate) mod watched_file;

/// Files larger than this are not a token or an expiry; reading stops there.
const MAX_FILE_LEN: u64 = 4096;
/// How often a hit also looks at the paths, not only at the open files: a
/// deploy that moves the cache directory aside and creates a new one leaves
/// the open files unchanged, so only the paths tell.
const PATH_CHECK_MS: u64 = 1000;

/// Milliseconds on a monotonic clock (vDSO: no system call).
fn mono_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_millis() as u64
}

/// How often `read_both` reads again when a file was replaced under it.
const READ_ATTEMPTS: usize = 4;
/// How long a reader waits for a writer's commit record to go.
const PENDING_WAIT: Duration = Duration::from_millis(100);
/// How long a missing cache directory counts as being replaced (`mv dir
/// dir.old; mkdir dir` in a deploy) before the cache goes on without a lock.
const DIR_MISSING_GRACE_MS: u64 = 2000;

/// One attempt at reading the pair.
enum Pair {
    /// Both files as they were together (or no usable token).
    Read(Option<Cached>),
    /// A file was replaced while the pair was read: read again.
    Moved,
    /// A writer's commit record is there: the renames may be half done.
    Pending,
}

/// The last read: which file versions it saw and what they held.
struct Memo {
    token: Watched,
    expiry: Watched,
    cached: Cached,
    /// When the paths were last seen to lead to these files (`mono_ms`).
    paths_checked: AtomicU64,
}

impl Memo {
    /// The paths still lead to the files this memo holds open; checked at
    /// most once every `PATH_CHECK_MS` (two `stat`s), else assumed.
    fn paths_current(&self, token: &Path, expiry: &Path) -> bool {
        let now = mono_ms();
        if now.saturating_sub(self.paths_checked.load(Ordering::Relaxed)) < PATH_CHECK_MS {
            return true;
        }
        let same = |p: &Path, w: &Watched| fs::metadata(p).is_ok_and(|m| w.ident.same_file(&m));
        let current = same(token, &self.token) && same(expiry, &self.expiry);
        if current {
            self.paths_checked.store(now, Ordering::Relaxed);
        }
        current
    }
}

/// The token and expiry files and their lock file.
pub(crate) struct FileStore {
    token_path: PathBuf,
    expiry_path: PathBuf,
    lock_path: PathBuf,
    /// How the pair is replaced, and recovered after a crashed writer.
    pair: StagedPair,
    /// Only a complete read (both files, a usable token) is remembered;
    /// anything else is read again from the paths on the next call.
    ///
    /// Lock-free: a hit only loads a pointer, so no thread can hold a lock
    /// on the hit path when the process forks (a child of `fork(2)` would
    /// wait for it forever).
    memo: ArcSwapOption<Memo>,
    /// The token when the lock was taken, to tell whether a legacy writer
    /// replaced it before our fetch was saved (see `save`).
    /// An `arc-swap` cell, not a mutex, for the same reason as the memo.
    baseline: ArcSwapOption<String>,
    /// When (`mono_ms` + 1) `try_lock` first found the cache directory
    /// missing, 0 while it is there: see `try_lock`.
    dir_missing_since: AtomicU64,
    /// This store has held its lock in the directory before.
    dir_seen: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for FileStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileStore")
            .field("token_path", &self.token_path)
            .field("expiry_path", &self.expiry_path)
            .finish_non_exhaustive()
    }
}

impl FileStore {
    /// A store on these two files; the lock file is `<token file>.lock`.
    ///
    /// Relative paths are resolved against the current directory now, once:
    /// the store keeps the files it read open, so resolving them again on
    /// each call would mix one directory's open files with another's paths
    /// after a `chdir`.
    pub(crate) fn new(token_path: impl Into<PathBuf>, expiry_path: impl Into<PathBuf>) -> Self {
        let token_path = absolute(token_path.into());
        let expiry_path = absolute(expiry_path.into());
        let mut lock = token_path.clone().into_os_string();
        lock.push(".lock");
        let lock_path = PathBuf::from(lock);
        FileStore {
            pair: StagedPair::new(&token_path, &expiry_path, &lock_path),
            token_path,
            expiry_path,
            lock_path,
            dir_missing_since: AtomicU64::new(0),
            dir_seen: std::sync::atomic::AtomicBool::new(false),
            memo: ArcSwapOption::empty(),
            baseline: ArcSwapOption::empty(),
        }
    }

    /// Reads both files from their paths and remembers what was seen.
    ///
    /// Two files cannot be read at one instant, so a read is served as a pair
    /// only if nothing replaced either file while both were read: after
    /// reading, the lock file shows no commit record (no writer is between
    /// its two renames, see `staged_pair`), and both paths still lead to the
    /// files read, the token unchanged in place too. Otherwise it is read
    /// again, a few times; a writer still at it (or one killed mid-way, whose
    /// replacement the next lock holder finishes) reads as no usable token,
    /// so the caller goes to the lock instead of serving the old token with
    /// the new expiry.
    fn read_both(&self) -> Result<Option<Cached>> {
        self.memo.store(None);
        let mut moved = 0;
        let mut pause = Duration::from_millis(1);
        let mut waited = Duration::ZERO;
        loop {
            match self.read_pair()? {
                Pair::Read(cached) => return Ok(cached),
                Pair::Moved if moved < READ_ATTEMPTS => moved += 1,
                Pair::Moved => return Ok(None),
                // A live writer is two renames and a directory sync from
                // done: wait for it briefly (passive readers, who never take
                // the lock, would otherwise fail for that instant). A record
                // that stays is a killed writer's, for the lock holder.
                Pair::Pending if waited < PENDING_WAIT => {
                    std::thread::sleep(pause);
                    waited += pause;
                    pause = (pause * 2).min(Duration::from_millis(10));
                }
                Pair::Pending => return Ok(None),
            }
        }
    }

    /// One attempt of [`read_both`](Self::read_both).
    fn read_pair(&self) -> Result<Pair> {
        let Some((token_file, token_bytes)) = read_settled(&self.token_path)? else {
            return Ok(Pair::Read(None));
        };
        let Some(token) = parse_token(&token_bytes) else {
            return Ok(Pair::Read(None));
        };
        let written_at = u64::try_from(token_file.ident.mtime.0).ok();
        let expiry = read_settled(&self.expiry_path)?;
        if let Some(record) = lock_file::commit_pending(&self.lock_path) {
            // Both staged files gone: the renames are done and only the
            // directory sync is left, so what was read may stand.
            if !self.pair.renames_done(&record) {
                return Ok(Pair::Pending);
            }
        }
        let still = |p: &Path, w: &Watched| fs::metadata(p).is_ok_and(|m| w.ident.same_file(&m));
        if !token_file.unchanged()
            || !still(&self.token_path, &token_file)
            || expiry
                .as_ref()
                .is_some_and(|(e, _)| !still(&self.expiry_path, e))
        {
            return Ok(Pair::Moved);
        }
        let Some((expiry_file, expiry_bytes)) = expiry else {
            return Ok(Pair::Read(Some(Cached {
                token,
                expires_at: 0,
                written_at,
            })));
        };
        let cached = Cached {
            token,
            expires_at: parse_expiry(&expiry_bytes),
            written_at,
        };
        if !token_file.is_racy() && !expiry_file.is_racy() {
            self.memo.store(Some(Arc::new(Memo {
                token: token_file,
                expiry: expiry_file,
                cached: cached.clone(),
                paths_checked: AtomicU64::new(mono_ms()),
            })));
        }
        Ok(Pair::Read(Some(cached)))
    }

    /// Marks the cache empty the way both sides understand: an empty token
    /// and expiry 0 (the legacy script refetches on either). On a full disk,
    /// where no new file can be written, the token file is emptied in place
    /// instead: invalidating must never need free space.
    pub(crate) fn clear(&self) -> Result<()> {
        self.check_destinations()?;
        match self.pair.replace(b"", b"0", false) {
            Ok(()) => Ok(()),
            Err(e) => {
                let _ = self.pair.recover();
                self.truncate_token()
                    .map_err(|_| Error::io("write", &self.token_path, e))
            }
        }
    }

    /// Empties the token file where it is (no new file, no space needed).
    fn truncate_token(&self) -> std::io::Result<()> {
        crate::file_safety::open_in_place(&self.token_path)?.set_len(0)
    }

    /// Both files rewritten where they are, token first, each under the
    /// legacy writers' lock (truncate, then write, as `file_put_contents`
    /// with `LOCK_EX` does), so readers of either kind wait for the write
    /// instead of reading it half done. Needs no new file, only the blocks
    /// the files had.
    fn write_in_place(&self, cached: &Cached) -> std::io::Result<()> {
        for (path, bytes) in [
            (&self.token_path, cached.token.clone()),
            (&self.expiry_path, cached.expires_at.to_string()),
        ] {
            let f = crate::file_safety::open_in_place(path)?;
            let _legacy = crate::store::files::legacy_lock::Exclusive::take(&f);
            f.set_len(0)?;
            std::os::unix::fs::FileExt::write_all_at(&f, bytes.as_bytes(), 0)?;
            f.sync_data()?;
        }
        Ok(())
    }

    /// A rename never replaces a device, directory, link or foreign file.
    fn check_destinations(&self) -> Result<()> {
        check_destination(&self.token_path)?;
        check_destination(&self.expiry_path)
    }
}

impl TokenStore for FileStore {
    /// What the files hold now. `None` when there is no usable token
    /// (missing, empty, or not a token); `expires_at` is 0 when the expiry is
    /// missing or not a non-negative decimal number, which makes it stale.
    ///
    /// When both files are the versions last read, this costs two `fstat`s
    /// and a copy of the token: no path lookup, no open, no read.
    fn load(&self) -> Result<Option<Cached>> {
        {
            let memo = self.memo.load();
            if let Some(m) = memo.as_ref() {
                if m.token.unchanged()
                    && m.expiry.unchanged()
                    && m.paths_current(&self.token_path, &self.expiry_path)
                {
                    return Ok(Some(m.cached.clone()));
                }
            }
        }
        self.read_both()
    }

    fn try_lock(&self) -> Result<LockOutcome> {
        // No lock file beside a device, a link or a foreign file either.
        self.check_destinations()?;
        let outcome = lock_file::try_lock(&self.lock_path, &self.token_path)?;
        if let LockOutcome::Unavailable(_) = outcome {
            // A directory that is gone may be being replaced (`mv dir
            // dir.old; mkdir dir`): going on without the lock in that gap
            // would fetch beside whoever locks the new directory. Count it as
            // busy for a moment; only a directory missing longer than that
            // means the cache really has none.
            // Only for a directory this store has locked in before: one that
            // never existed is a setting, not a deploy.
            let seen = self.dir_seen.load(Ordering::Relaxed);
            if seen && !crate::store::files::staged_file::parent_dir(&self.lock_path).exists() {
                let now = mono_ms() + 1;
                let since = match self.dir_missing_since.compare_exchange(
                    0,
                    now,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => now,
                    Err(since) => since,
                };
                if now.saturating_sub(since) < DIR_MISSING_GRACE_MS {
                    return Ok(LockOutcome::Busy);
                }
                return Ok(outcome);
            }
        }
        self.dir_missing_since.store(0, Ordering::Relaxed);
        if let LockOutcome::Held(_) = outcome {
            self.dir_seen.store(true, Ordering::Relaxed);
            // First thing under the lock: whatever a crashed writer left
            // becomes the old pair or the new pair, and its litter goes.
            self.pair
                .recover()
                .map_err(|e| Error::io("recover", &self.token_path, e))?;
            // The token as the lock found it, for `save`'s check against a
            // legacy writer. Taken here, not in `reload`: callers waiting
            // for the lock reload too, and must not move it.
            self.baseline.store(self.load()?.map(|c| Arc::new(c.token)));
        }
        Ok(outcome)
    }

    /// Replaces both files with `cached`, through `staged_pair` (a crash at
    /// any point leaves the old pair or the new one).
    ///
    /// Both new files are written and synced first, then renamed one right
    /// after the other, so the window in which a reader sees one old and one
    /// new file is as short as two renames. The order decides what such a
    /// reader sees. While the old token still works (refresh ahead of
    /// expiry), expiry goes first: the old token with the new expiry is
    /// served once and still accepted by WeChat, where a new token with the
    /// old expiry would send a legacy reader to fetch yet another token. Once
    /// the old token has expired, token goes first: the new token with the old
    /// expiry reads as stale and sends the reader to the lock, instead of
    /// serving a dead token as valid.
    ///
    /// The legacy script does not take our lock, so it may have written a
    /// newer token while we fetched ours (its fetch retires ours at WeChat).
    /// Under its own lock (`legacy_lock`) the token file is compared with
    /// what it held when our lock was taken: if it changed, theirs is newer
    /// and stays.
    fn save(&self, cached: &Cached, old_still_valid: bool) -> Result<()> {
        self.check_destinations()?;
        let baseline = self.baseline.swap(None);
        let current = open_trusted(&self.token_path)?.map(|(f, _)| f);
        let _legacy_lock = current
            .as_ref()
            .and_then(crate::store::files::legacy_lock::Exclusive::take);
        if let Some(f) = &current {
            let mut now = Vec::new();
            let _ = f.take(MAX_FILE_LEN).read_to_end(&mut now);
            let now = parse_token(&now);
            if now.is_some() && now.as_deref() != baseline.as_deref().map(String::as_str) {
                // Someone else (the legacy script) wrote a newer token while
                // we fetched: keep it.
                return Ok(());
            }
        }
        let expiry = cached.expires_at.to_string();
        let replaced =
            self.pair
                .replace(cached.token.as_bytes(), expiry.as_bytes(), old_still_valid);
        // The in-place fallback below takes the legacy lock itself, on a
        // file description of its own: holding ours would make it wait.
        drop(_legacy_lock);
        replaced.or_else(|e| {
            // Undo what a failed replacement staged; a half-renamed pair
            // is finished the same way a crash's would be.
            let _ = self.pair.recover();
            // No new file could be made (a full disk): write the pair in
            // place, as the legacy script does. Our fetch retired the
            // old token, so it must not stay behind as valid; if even
            // that fails, the token file is emptied (a miss for all).
            self.write_in_place(cached).map_err(|_| {
                let _ = self.truncate_token();
                Error::io("write", &self.token_path, e)
            })
        })
    }

    /// Called with the lock held: compares, then clears.
    fn invalidate(&self, failed: &str) -> Result<bool> {
        if self.read_both()?.is_some_and(|c| c.token == failed) {
            self.clear()?;
            return Ok(true);
        }
        Ok(false)
    }

    fn peek_note(&self) -> Option<String> {
        lock_file::peek_note(&self.lock_path)
    }

    fn describe(&self) -> StoreInfo {
        StoreInfo {
            kind: "files".into(),
            location: format!(
                "{} + {}",
                self.token_path.display(),
                self.expiry_path.display()
            ),
            lock: self.lock_path.display().to_string(),
        }
    }

    fn paths(&self) -> Option<(PathBuf, PathBuf)> {
        Some((self.token_path.clone(), self.expiry_path.clone()))
    }

    fn written_at(&self) -> Option<u64> {
        let t = fs::symlink_metadata(&self.token_path)
            .and_then(|m| m.modified())
            .ok()?;
        Some(t.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs())
    }
}

/// `path` made absolute without touching the file system beyond `getcwd`; as
/// given if even that fails (a deleted current directory).
fn absolute(path: PathBuf) -> PathBuf {
    std::path::absolute(&path).unwrap_or(path)
}

/// [`read_small`], but a file found empty while a legacy writer holds its
/// lock (it truncates, then writes) is read again once the writer is done.
fn read_settled(path: &Path) -> Result<Option<(Watched, Vec<u8>)>> {
    let read = read_small(path)?;
    match &read {
        Some((w, bytes)) if bytes.iter().all(u8::is_ascii_whitespace) => {
            if crate::store::files::legacy_lock::wait_for_writer(&w.file) {
                return read_small(path);
            }
            Ok(read)
        }
        _ => Ok(read),
    }
}

/// Opens a trusted regular file (see `file_safety`), identifies it by
/// `fstat` on the open file (so the identity belongs to the bytes read) and
/// reads at most `MAX_FILE_LEN` bytes. The file stays open in the returned
/// [`Watched`] so later calls can `fstat` it.
fn read_small(path: &Path) -> Result<Option<(Watched, Vec<u8>)>> {
    let Some((file, _)) = open_trusted(path)? else {
        return Ok(None);
    };
    let st = FileStat::of(&file).map_err(|e| Error::io("read", path, e))?;
    let mut buf = Vec::with_capacity(st.ident.size.min(MAX_FILE_LEN) as usize);
    (&file)
        .take(MAX_FILE_LEN)
        .read_to_end(&mut buf)
        .map_err(|e| Error::io("read", path, e))?;
    let watched = Watched {
        file,
        ident: st.ident,
    };
    Ok(Some((watched, buf)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_directory_is_busy_for_a_moment_then_the_lock_is_taken() {
        let d = tempfile::tempdir().unwrap();
        let site = d.path().join("site");
        let store = FileStore::new(site.join("token.txt"), site.join("expiry.txt"));
        // Never there: a setting, no lock here.
        assert!(matches!(
            store.try_lock().unwrap(),
            LockOutcome::Unavailable(_)
        ));
        fs::create_dir(&site).unwrap();
        drop(store.try_lock().unwrap());
        fs::rename(&site, d.path().join("site.old")).unwrap();
        // Gone (moved aside by a deploy): busy, not "no lock here".
        assert!(matches!(store.try_lock().unwrap(), LockOutcome::Busy));
        assert!(matches!(store.try_lock().unwrap(), LockOutcome::Busy));
        fs::create_dir(&site).unwrap();
        assert!(matches!(store.try_lock().unwrap(), LockOutcome::Held(_)));
    }
}
