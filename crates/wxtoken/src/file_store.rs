//! The `token.txt` / `expiry.txt` pair, byte-compatible with the legacy PHP
//! script in both directions, plus the `token.txt.lock` that serialises
//! refreshes across processes.
//!
//! Reads are cheap on purpose: the files last read are kept open, and when an
//! `fstat` on each shows neither was replaced nor rewritten since (same inode,
//! still linked, same size, mtime and ctime) the remembered token is returned
//! without a path lookup, an open or a read. Writes replace each
//! file by rename, so a reader sees the old file or the new one, never a torn
//! one.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::file_safety::{self, check_destination, no_follow, open_error, open_trusted};
use crate::staged_file::{keep_owner, sync_dir, Staged};

/// WeChat reserves up to 512 characters for a token.
pub const MAX_TOKEN_LEN: usize = 512;
/// No WeChat token lives longer than a day; an expiry further out is corrupt.
pub const MAX_LIFETIME: u64 = 86_400;
/// Files larger than this are not a token or an expiry; reading stops there.
const MAX_FILE_LEN: u64 = 4096;

/// A token and the Unix time it expires at, as stored in the two files.
#[derive(Clone, PartialEq, Eq)]
pub struct Cached {
    /// The access token.
    pub token: String,
    /// Unix time (seconds) of expiry; 0 when `expiry.txt` is missing or unreadable.
    pub expires_at: u64,
    /// Unix time the token was written or fetched, when known (the token
    /// file's mtime); it bounds the refresh margin, see [`Cached::is_fresh`].
    pub written_at: Option<u64>,
}

impl std::fmt::Debug for Cached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cached")
            .field("token", &preview(&self.token))
            .field("expires_at", &self.expires_at)
            .field("written_at", &self.written_at)
            .finish()
    }
}

impl Cached {
    /// Still usable at WeChat at `now`, and not an absurd far-future expiry.
    pub fn is_valid(&self, now: u64) -> bool {
        now < self.expires_at && self.expires_at <= now.saturating_add(MAX_LIFETIME)
    }

    /// A cache hit: valid for more than `margin` seconds yet.
    ///
    /// The margin is capped at half the token's lifetime (expiry minus write
    /// time): were WeChat to hand out a token that lives no longer than the
    /// margin, every call would otherwise fetch a new one.
    pub fn is_fresh(&self, now: u64, margin: u64) -> bool {
        let margin = match self.written_at {
            Some(w) if self.expires_at > w => margin.min((self.expires_at - w) / 2),
            _ => margin,
        };
        self.is_valid(now.saturating_add(margin)) && self.is_valid(now)
    }
}

/// A short, safe-to-print form of a token: its first characters only.
pub fn preview(token: &str) -> String {
    let head: String = token.chars().take(8).collect();
    format!("{head}… ({} chars)", token.len())
}

/// What identifies one version of a file without reading it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct FileIdent {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

/// What one `fstat` says about an open file.
struct FileStat {
    ident: FileIdent,
    nlink: u64,
}

impl FileStat {
    /// `fstat(2)` on `file`. Not `File::metadata`: std asks through `statx`
    /// with an empty path, about 50 ns more per call here, and these calls
    /// are most of a cache hit.
    // The field types of `struct stat` differ between platforms.
    #[allow(clippy::unnecessary_cast)]
    fn of(file: &File) -> io::Result<Self> {
        let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
        // SAFETY: the descriptor stays open while `file` is borrowed, and
        // `st` is a valid place for the kernel to fill.
        if unsafe { libc::fstat(file.as_raw_fd(), st.as_mut_ptr()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fstat succeeded, so it filled `st`.
        let st = unsafe { st.assume_init() };
        Ok(FileStat {
            ident: FileIdent {
                dev: st.st_dev as u64,
                ino: st.st_ino as u64,
                size: st.st_size as u64,
                mtime: (st.st_mtime as i64, st.st_mtime_nsec as i64),
                ctime: (st.st_ctime as i64, st.st_ctime_nsec as i64),
            },
            nlink: st.st_nlink as u64,
        })
    }
}

/// One file as last read: kept open so that "has it changed?" is one
/// `fstat` on the descriptor instead of a path lookup.
struct Watched {
    file: File,
    ident: FileIdent,
}

impl Watched {
    /// Still the version that was read. A rename over the path unlinks the
    /// inode we hold (`nlink` drops to 0); an in-place rewrite, as PHP's
    /// `file_put_contents` does, changes size, mtime and ctime.
    fn unchanged(&self) -> bool {
        match FileStat::of(&self.file) {
            Ok(st) => st.nlink > 0 && st.ident == self.ident,
            Err(_) => false,
        }
    }

    /// Changed too recently for its identity to be trusted. On kernels
    /// without fine-grained timestamps (before 6.13) mtime and ctime move in
    /// clock ticks, so a same-size rewrite within one tick of this read would
    /// look unchanged; until a second has passed, read the file again instead
    /// (git's "racily clean" rule).
    fn is_racy(&self) -> bool {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        self.ident.ctime.0 >= now - 1 || self.ident.mtime.0 >= now - 1
    }
}

/// The last read: which file versions it saw and what they held.
struct Memo {
    token: Watched,
    expiry: Watched,
    cached: Cached,
}

/// The token and expiry files and their lock file.
pub struct FileStore {
    token_path: PathBuf,
    expiry_path: PathBuf,
    lock_path: PathBuf,
    /// Only a complete read (both files, a usable token) is remembered;
    /// anything else is read again from the paths on the next call.
    memo: RwLock<Option<Memo>>,
}

/// Held while refreshing; dropping it releases the `flock`.
///
/// The lock file's content is a note from the last refresh that failed (see
/// `crate::backoff`), so that processes waiting for the lock learn what the
/// holder ran into. The legacy script never looks at this file.
#[derive(Debug)]
pub struct FileLock {
    file: File,
}

impl FileLock {
    /// The note left in the lock file, if any.
    pub(crate) fn read_note(&self) -> Option<String> {
        let mut text = String::new();
        let mut f = &self.file;
        f.rewind().ok()?;
        f.take(4096).read_to_string(&mut text).ok()?;
        (!text.is_empty()).then_some(text)
    }

    /// Replaces the note; best effort (a read-only lock file keeps none).
    pub(crate) fn write_note(&self, note: &str) {
        let mut f = &self.file;
        let _ = f
            .set_len(0)
            .and_then(|()| f.rewind())
            .and_then(|()| f.write_all(note.as_bytes()));
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = fs2::FileExt::unlock(&self.file);
    }
}

/// The result of trying to take the cross-process lock.
#[derive(Debug)]
pub enum LockOutcome {
    /// The exclusive lock is held until this is dropped.
    Held(FileLock),
    /// Someone else holds it (only from [`FileStore::try_lock`]).
    Busy,
    /// The lock file cannot be created or opened (read-only or missing
    /// directory, another user's file): the caller goes on with in-process
    /// exclusion only.
    Unavailable(io::Error),
}

impl FileStore {
    /// A store on these two files; the lock file is `<token file>.lock`.
    ///
    /// Relative paths are resolved against the current directory now, once:
    /// the store keeps the files it read open, so resolving them again on
    /// each call would mix one directory's open files with another's paths
    /// after a `chdir`.
    pub fn new(token_path: impl Into<PathBuf>, expiry_path: impl Into<PathBuf>) -> Self {
        let token_path = absolute(token_path.into());
        let expiry_path = absolute(expiry_path.into());
        let mut lock = token_path.clone().into_os_string();
        lock.push(".lock");
        FileStore {
            token_path,
            expiry_path,
            lock_path: lock.into(),
            memo: RwLock::new(None),
        }
    }

    /// Path of the token file.
    pub fn token_path(&self) -> &Path {
        &self.token_path
    }

    /// Path of the expiry file.
    pub fn expiry_path(&self) -> &Path {
        &self.expiry_path
    }

    /// Path of the lock file.
    pub fn lock_path(&self) -> &Path {
        &self.lock_path
    }

    /// What the files hold now. `None` when there is no usable token (missing,
    /// empty, or not a token); `expires_at` is 0 when the expiry is missing or
    /// not a non-negative decimal number, which makes the entry stale.
    ///
    /// When both files are the versions last read, this costs two `fstat`s
    /// and a copy of the token: no path lookup, no open, no read.
    pub fn load(&self) -> Result<Option<Cached>> {
        {
            let memo = self.memo.read().unwrap_or_else(|p| p.into_inner());
            if let Some(m) = memo.as_ref() {
                if m.token.unchanged() && m.expiry.unchanged() {
                    return Ok(Some(m.cached.clone()));
                }
            }
        }
        self.read_both()
    }

    /// Reads both files from their paths and remembers what was seen.
    fn read_both(&self) -> Result<Option<Cached>> {
        let mut memo = self.memo.write().unwrap_or_else(|p| p.into_inner());
        *memo = None;
        let Some((token_file, token_bytes)) = read_small(&self.token_path)? else {
            return Ok(None);
        };
        let Some(token) = parse_token(&token_bytes) else {
            return Ok(None);
        };
        let written_at = u64::try_from(token_file.ident.mtime.0).ok();
        let Some((expiry_file, expiry_bytes)) = read_small(&self.expiry_path)? else {
            return Ok(Some(Cached {
                token,
                expires_at: 0,
                written_at,
            }));
        };
        let cached = Cached {
            token,
            expires_at: parse_expiry(&expiry_bytes),
            written_at,
        };
        if !token_file.is_racy() && !expiry_file.is_racy() {
            *memo = Some(Memo {
                token: token_file,
                expiry: expiry_file,
                cached: cached.clone(),
            });
        }
        Ok(Some(cached))
    }

    /// Takes the exclusive cross-process lock, waiting at most `wait`.
    pub fn lock(&self, wait: Duration) -> Result<LockOutcome> {
        let file = match self.open_lock_file() {
            Ok(f) => f,
            Err(outcome) => return outcome,
        };
        let start = Instant::now();
        let mut pause = Duration::from_millis(1);
        loop {
            match try_flock(&file) {
                Ok(true) => return Ok(LockOutcome::Held(FileLock { file })),
                Ok(false) => {
                    let waited = start.elapsed();
                    if waited >= wait {
                        return Err(Error::LockTimeout {
                            path: self.lock_path.clone(),
                            waited,
                        });
                    }
                    // Polling rather than a blocking flock keeps the wait
                    // bounded without a helper thread or a signal.
                    std::thread::sleep(pause.min(wait - waited));
                    pause = (pause * 2).min(Duration::from_millis(20));
                }
                Err(e) => return Err(Error::io("lock", &self.lock_path, e)),
            }
        }
    }

    /// Takes the cross-process lock only if nobody holds it.
    pub fn try_lock(&self) -> Result<LockOutcome> {
        let file = match self.open_lock_file() {
            Ok(f) => f,
            Err(outcome) => return outcome,
        };
        match try_flock(&file) {
            Ok(true) => Ok(LockOutcome::Held(FileLock { file })),
            Ok(false) => Ok(LockOutcome::Busy),
            Err(e) => Err(Error::io("lock", &self.lock_path, e)),
        }
    }

    /// Opens (creating, mode 0600) the lock file; `Err` holds what the
    /// caller returns instead.
    ///
    /// The lock file is written in place (the failure note), so it gets the
    /// strictest checks: never through a link (symbolic or hard), only a
    /// regular file of a trusted owner. Anything else is an error naming the
    /// file: writing through it would write a file the cache did not create.
    fn open_lock_file(&self) -> Result<File, Result<LockOutcome>> {
        // No lock file beside a device, a link or a foreign file either.
        self.check_destinations().map_err(Err)?;
        let path = &self.lock_path;
        match OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(path)
        {
            Ok(f) => {
                // Whoever creates it, the site's own user must be able to open it.
                keep_owner(&f, &self.token_path);
                return Ok(f);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) if cannot_create_here(&e) => return Err(Ok(LockOutcome::Unavailable(e))),
            Err(e) => return Err(Err(Error::io("open lock file", path, e))),
        }
        // flock needs no write access: a root-owned lock file still
        // serialises us, though it cannot carry our notes.
        let file = match no_follow(OpenOptions::new().read(true).write(true))
            .open(path)
            .or_else(|_| no_follow(OpenOptions::new().read(true)).open(path))
        {
            Ok(f) => f,
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                return Err(Err(open_error(path, "open lock file", e)))
            }
            Err(e) if cannot_create_here(&e) => return Err(Ok(LockOutcome::Unavailable(e))),
            Err(e) => return Err(Err(Error::io("open lock file", path, e))),
        };
        let meta = file
            .metadata()
            .map_err(|e| Err(Error::io("open lock file", path, e)))?;
        file_safety::check(path, &meta)
            .and_then(|()| file_safety::check_single_link(&meta))
            .map_err(|r| Err(r.into_error(path)))?;
        Ok(file)
    }

    /// Replaces both files with `cached`.
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
    pub fn save(&self, cached: &Cached, old_still_valid: bool) -> Result<()> {
        self.check_destinations()?;
        let expiry = self.stage(&self.expiry_path, cached.expires_at.to_string().as_bytes())?;
        let token = self.stage(&self.token_path, cached.token.as_bytes())?;
        if old_still_valid {
            self.commit(expiry)?;
            if let Err(e) = self.commit(token) {
                // The old token now carries the new expiry: make it read as
                // stale, or every reader would serve it until then.
                let _ = self
                    .stage(&self.expiry_path, b"0")
                    .and_then(|s| self.commit(s));
                return Err(e);
            }
        } else {
            self.commit(token)?;
            self.commit(expiry)?;
        }
        sync_dir(&self.token_path);
        Ok(())
    }

    /// Marks the cache empty the way both sides understand: an empty token
    /// and expiry 0 (the legacy script refetches on either).
    pub fn clear(&self) -> Result<()> {
        self.check_destinations()?;
        let token = self.stage(&self.token_path, b"")?;
        let expiry = self.stage(&self.expiry_path, b"0")?;
        self.commit(token)?;
        self.commit(expiry)?;
        sync_dir(&self.token_path);
        Ok(())
    }

    /// A rename never replaces a device, directory, link or foreign file.
    fn check_destinations(&self) -> Result<()> {
        check_destination(&self.token_path)?;
        check_destination(&self.expiry_path)
    }

    fn stage(&self, path: &Path, bytes: &[u8]) -> Result<Staged> {
        Staged::write(path, bytes).map_err(|e| Error::io("write", path, e))
    }

    fn commit(&self, staged: Staged) -> Result<()> {
        let path = staged.dest().to_path_buf();
        staged.commit().map_err(|e| Error::io("write", path, e))
    }

    /// When the token file was last written, if it exists.
    pub fn token_written_at(&self) -> Option<std::time::SystemTime> {
        fs::symlink_metadata(&self.token_path)
            .and_then(|m| m.modified())
            .ok()
    }
}

/// `path` made absolute without touching the file system beyond `getcwd`; as
/// given if even that fails (a deleted current directory).
fn absolute(path: PathBuf) -> PathBuf {
    std::path::absolute(&path).unwrap_or(path)
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

/// PHP's `trim()` set: the legacy script trims both files.
fn php_trim(b: &[u8]) -> &[u8] {
    let ws = |c: &u8| matches!(c, b' ' | b'\t' | b'\n' | b'\r' | b'\0' | b'\x0B');
    let start = b.iter().position(|c| !ws(c)).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !ws(c)).map_or(start, |i| i + 1);
    &b[start..end]
}

/// A token is 1..=512 printable ASCII characters; anything else is corrupt.
pub(crate) fn parse_token(raw: &[u8]) -> Option<String> {
    let t = php_trim(raw);
    let ok = !t.is_empty() && t.len() <= MAX_TOKEN_LEN && t.iter().all(u8::is_ascii_graphic);
    ok.then(|| String::from_utf8_lossy(t).into_owned())
}

/// The expiry as written by either side; anything but a plain non-negative
/// decimal is 0 (expired).
pub(crate) fn parse_expiry(raw: &[u8]) -> u64 {
    let t = php_trim(raw);
    if t.is_empty() || !t.iter().all(u8::is_ascii_digit) {
        return 0;
    }
    std::str::from_utf8(t)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// `Ok(false)` when another open file holds the lock.
fn try_flock(file: &File) -> io::Result<bool> {
    match fs2::FileExt::try_lock_exclusive(file) {
        Ok(()) => Ok(true),
        Err(e) if e.raw_os_error() == fs2::lock_contended_error().raw_os_error() => Ok(false),
        Err(e) => Err(e),
    }
}

/// Read-only file systems, missing directories and permission errors mean
/// "no cache here", not "broken cache".
fn cannot_create_here(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::PermissionDenied
            | io::ErrorKind::NotFound
            | io::ErrorKind::ReadOnlyFilesystem
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trim_matches_php() {
        assert_eq!(php_trim(b" \t\r\n\0\x0Babc \n"), b"abc");
        assert_eq!(php_trim(b"   "), b"");
        assert_eq!(php_trim(b""), b"");
    }

    #[test]
    fn token_parsing_rejects_junk() {
        assert_eq!(
            parse_token(b"ACCESS_tok-1\n").as_deref(),
            Some("ACCESS_tok-1")
        );
        assert_eq!(parse_token(b"  "), None);
        assert_eq!(parse_token(b"two words"), None);
        assert_eq!(parse_token(&[0xff, 0xfe, 0x00, 0x41]), None);
        assert_eq!(parse_token(&vec![b'a'; 513]), None);
        assert!(parse_token(&vec![b'a'; 512]).is_some());
    }

    #[test]
    fn expiry_parsing_is_strict_decimal() {
        assert_eq!(parse_expiry(b"1700000000"), 1_700_000_000);
        assert_eq!(parse_expiry(b" 1700000000\n"), 1_700_000_000);
        assert_eq!(parse_expiry(b"-5"), 0);
        assert_eq!(parse_expiry(b"12abc"), 0);
        assert_eq!(parse_expiry(b"99999999999999999999999"), 0);
        assert_eq!(parse_expiry(b""), 0);
    }

    #[test]
    fn freshness_respects_margin_and_absurd_expiry() {
        let c = |e| Cached {
            token: "t".into(),
            expires_at: e,
            written_at: None,
        };
        assert!(c(1000).is_fresh(600, 300));
        assert!(!c(1000).is_fresh(700, 300));
        assert!(c(1000).is_valid(700));
        assert!(!c(1000).is_valid(1000));
        assert!(!c(1000 + MAX_LIFETIME + 1).is_valid(1000));
        // A 60 s token with a 300 s margin: fresh for its first half only.
        let short = Cached {
            written_at: Some(1000),
            ..c(1060)
        };
        assert!(short.is_fresh(1029, 300));
        assert!(!short.is_fresh(1030, 300));
        // A normal lifetime keeps the full margin.
        let long = Cached {
            written_at: Some(1000),
            ..c(8200)
        };
        assert!(long.is_fresh(7899, 300) && !long.is_fresh(7900, 300));
    }
}

/// Properties of the file parsers over arbitrary input (proptest).
#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_bytes_parse_without_panic_to_a_valid_token_or_none(raw in proptest::collection::vec(any::<u8>(), 0..700)) {
            if let Some(t) = parse_token(&raw) {
                prop_assert!(!t.is_empty() && t.len() <= MAX_TOKEN_LEN);
                prop_assert!(t.bytes().all(|b| b.is_ascii_graphic()));
            }
            let _ = parse_expiry(&raw);
        }

        #[test]
        fn tokens_round_trip_through_the_legacy_layout(t in "[!-~]{1,512}", ws in "[ \t\r\n]{0,3}") {
            prop_assert_eq!(parse_token(format!("{ws}{t}{ws}").as_bytes()), Some(t));
        }

        #[test]
        fn expiries_round_trip_and_junk_is_expired(n in any::<u64>(), junk in "[^0-9 \t\r\n\u{0}\u{b}]{1,5}") {
            prop_assert_eq!(parse_expiry(format!(" {n}\n").as_bytes()), n);
            prop_assert_eq!(parse_expiry(format!("{n}{junk}").as_bytes()), 0);
        }

        #[test]
        fn freshness_implies_validity_and_shrinks_with_the_margin(
            now in any::<u64>(), expires_at in any::<u64>(), written in proptest::option::of(any::<u64>()),
            margin in 0u64..100_000, smaller in 0u64..100_000,
        ) {
            let c = Cached { token: "t".into(), expires_at, written_at: written };
            if c.is_fresh(now, margin) {
                prop_assert!(c.is_valid(now));
                prop_assert!(c.is_fresh(now, margin.min(smaller)));
            }
            if c.is_valid(now) {
                prop_assert!(expires_at > now && expires_at - now <= MAX_LIFETIME);
            }
        }
    }
}
