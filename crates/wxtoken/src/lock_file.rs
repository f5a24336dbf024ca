//! `token.txt.lock`: the `flock(2)` that serialises refreshes of the legacy
//! files across processes, and the note of the last failed refresh written
//! inside it (see `failure_note`), so that processes waiting for the lock
//! learn what the holder ran into. The legacy script never looks at it.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::error::{Error, Result};
use crate::file_safety::{self, no_follow, open_error};
use crate::staged_file::keep_owner;
use crate::store::{LockOutcome, StoreLock};

/// Held while refreshing; dropping it releases the `flock`.
#[derive(Debug)]
pub(crate) struct FileLock {
    file: File,
}

/// The longest note read; a note is one line well below this.
const MAX_NOTE: u64 = 4096;

impl StoreLock for FileLock {
    fn read_note(&self) -> Option<String> {
        let mut f = &self.file;
        f.rewind().ok()?;
        read_note(f)
    }

    fn write_note(&self, note: &str) {
        // Best effort: a root-owned lock file opened read-only keeps none.
        let mut f = &self.file;
        let _ = f
            .set_len(0)
            .and_then(|()| f.rewind())
            .and_then(|()| f.write_all(note.as_bytes()));
    }
}

fn read_note(f: impl Read) -> Option<String> {
    let mut text = String::new();
    f.take(MAX_NOTE).read_to_string(&mut text).ok()?;
    (!text.is_empty()).then_some(text)
}

/// The note in the lock file at `path`, read without the lock, by callers
/// waiting for it (see `TokenStore::peek_note`). Never creates the file, and
/// reads only a trusted regular one, like the pair. The holder rewrites the
/// note in place (truncate, then write), so a read may catch it empty or
/// cut short. Every note ends with a newline: text without one is a note
/// being written, and reads as none (a cut errcode, 450 for 45009, would
/// otherwise read as another failure).
pub(crate) fn peek_note(path: &Path) -> Option<String> {
    let (file, _) = file_safety::open_trusted(path).ok()??;
    read_note(&file).filter(|text| text.ends_with('\n'))
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = fs2::FileExt::unlock(&self.file);
    }
}

/// Takes the lock at `path` if nobody holds it. `owner_like` is the token
/// file, whose owner a lock file created by root takes.
pub(crate) fn try_lock(path: &Path, owner_like: &Path) -> Result<LockOutcome> {
    let file = match open(path, owner_like) {
        Ok(f) => f,
        Err(outcome) => return outcome,
    };
    match fs2::FileExt::try_lock_exclusive(&file) {
        Ok(()) => Ok(LockOutcome::Held(Box::new(FileLock { file }))),
        Err(e) if e.raw_os_error() == fs2::lock_contended_error().raw_os_error() => {
            Ok(LockOutcome::Busy)
        }
        Err(e) => Err(Error::io("lock", path, e)),
    }
}

/// Opens (creating, mode 0600) the lock file; `Err` holds what the caller
/// returns instead.
///
/// The lock file is written in place (the failure note), so it gets the
/// strictest checks: never through a link (symbolic or hard), only a regular
/// file of a trusted owner. Anything else is an error naming the file:
/// writing through it would write a file the cache did not create.
fn open(path: &Path, owner_like: &Path) -> Result<File, Result<LockOutcome>> {
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
            keep_owner(&f, owner_like);
            return Ok(f);
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) if cannot_create_here(&e) => return Err(Ok(unavailable(path, &e))),
        Err(e) => return Err(Err(Error::io("open lock file", path, e))),
    }
    // flock needs no write access: a root-owned lock file still serialises
    // us, though it cannot carry our notes.
    let file = match no_follow(OpenOptions::new().read(true).write(true))
        .open(path)
        .or_else(|_| no_follow(OpenOptions::new().read(true)).open(path))
    {
        Ok(f) => f,
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(Err(open_error(path, "open lock file", e)))
        }
        Err(e) if cannot_create_here(&e) => return Err(Ok(unavailable(path, &e))),
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

fn unavailable(path: &Path, e: &io::Error) -> LockOutcome {
    LockOutcome::Unavailable(format!(
        "cache lock {} unavailable ({e}); only this process is serialised",
        path.display()
    ))
}

/// Read-only file systems, missing directories and permission errors mean
/// "no lock here", not "broken cache".
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
    fn a_peek_reads_only_whole_notes_of_a_trusted_file_and_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let lock = dir.path().join("token.txt.lock");
        assert_eq!(peek_note(&lock), None);
        assert!(!lock.exists(), "a peek creates no lock file");
        let note = "v2 1700000000000000 1 wx_app wechat 45009 quota\n";
        std::fs::write(&lock, note).unwrap();
        assert_eq!(peek_note(&lock).as_deref(), Some(note));
        // Caught mid-write: the errcode cut to 450. Not a note yet.
        std::fs::write(&lock, "v2 1700000000000000 1 wx_app wechat 450").unwrap();
        assert_eq!(peek_note(&lock), None);
        // A planted link is not followed.
        let elsewhere = dir.path().join("elsewhere");
        std::fs::write(&elsewhere, note).unwrap();
        std::fs::remove_file(&lock).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &lock).unwrap();
        assert_eq!(peek_note(&lock), None);
    }
}
