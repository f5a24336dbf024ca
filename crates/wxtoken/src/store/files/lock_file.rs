//! `token.txt.lock`: the `flock(2)` that serialises refreshes of the legacy
//! files across processes, and what is written inside it: the note of the
//! last failed refresh (see `failure_note`), so that processes waiting for the
//! lock learn what the holder ran into, and, while a writer replaces the pair,
//! its commit record (see `staged_pair`). The legacy script never looks at it.
//!
//! The text is at most two lines: the note (it starts with `v`), then the
//! commit record (it starts with `c`). The record lives here, in the one file
//! the cache creates `O_EXCL` and checks for a single link, rather than in a
//! file of its own at a fixed name, which another user of a shared directory
//! could plant first and so stop every refresh.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::error::{Error, Result};
use crate::file_safety::{self, no_follow, open_error};
use crate::store::files::staged_file::keep_owner;
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
        // A commit record is kept after the note (there is none while a
        // holder writes notes: `FileStore::try_lock` recovers first).
        let mut f = &self.file;
        let record = f
            .rewind()
            .ok()
            .and_then(|()| read_text(f))
            .and_then(|t| commit_part(&t).map(str::to_string))
            .unwrap_or_default();
        let _ = f
            .set_len(0)
            .and_then(|()| f.rewind())
            .and_then(|()| f.write_all(format!("{note}{record}").as_bytes()));
    }
}

fn read_note(f: impl Read) -> Option<String> {
    let text = read_text(f)?;
    let note = note_part(&text);
    (!note.is_empty()).then(|| note.to_string())
}

fn read_text(f: impl Read) -> Option<String> {
    let mut text = String::new();
    f.take(MAX_NOTE).read_to_string(&mut text).ok()?;
    Some(text)
}

/// The note's part of the lock file's text: everything before the commit
/// record (a note starts with `v`, a record with `c`).
fn note_part(text: &str) -> &str {
    match text.find("\nc") {
        Some(i) => &text[..=i],
        None if text.starts_with('c') => "",
        None => text,
    }
}

/// The commit record's part of the text, if any (possibly cut short while
/// it is being written).
fn commit_part(text: &str) -> Option<&str> {
    let note = note_part(text);
    let rest = &text[note.len()..];
    (!rest.is_empty()).then_some(rest)
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

/// The commit record in the lock file at `path`, if there is one (perhaps
/// cut short: it is appended in one write before the first rename, so any
/// part of it means the renames may have begun). Read without the lock by
/// readers (see `FileStore::read_both`) and under it by recovery.
pub(crate) fn commit_pending(path: &Path) -> Option<String> {
    let Ok(Some((file, _))) = file_safety::open_trusted(path) else {
        return None;
    };
    let text = read_text(&file)?;
    commit_part(&text).map(str::to_string)
}

/// Opens the lock file to write its commit record: never created here, never
/// through a link, only a trusted regular file with a single name. `None`
/// when it cannot be written for good (missing, a root-owned lock file, a
/// read-only file system): the writer then goes on without a record, as the
/// cache did before it kept one. Any other failure is an error.
fn open_for_record(path: &Path) -> io::Result<Option<File>> {
    match file_safety::open_in_place(path) {
        Ok(f) => Ok(Some(f)),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::PermissionDenied
                    | io::ErrorKind::NotFound
                    | io::ErrorKind::ReadOnlyFilesystem
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Appends the commit record (`commit` and `fields`, which hold no spaces)
/// and makes it durable. Returns whether a record was written.
pub(crate) fn write_commit(path: &Path, fields: &[&str]) -> io::Result<bool> {
    let Some(mut file) = open_for_record(path)? else {
        return Ok(false);
    };
    let text = read_text(&file).unwrap_or_default();
    let note = note_part(&text);
    // On a line of its own even after a note cut short, so it is found.
    let sep = if note.is_empty() || note.ends_with('\n') {
        ""
    } else {
        "\n"
    };
    // One write, at the end of the note: a reader sees the whole record or
    // none of it, and the note stays readable throughout.
    file.set_len(note.len() as u64)?;
    file.seek(io::SeekFrom::Start(note.len() as u64))?;
    file.write_all(format!("{sep}commit {}\n", fields.join(" ")).as_bytes())?;
    file.sync_data()?;
    Ok(true)
}

/// The fields of a whole commit record (`None`: a record cut short, which
/// its writer never finished, so no rename began).
pub(crate) fn record_fields(record: &str) -> Option<Vec<&str>> {
    let line = record.strip_suffix('\n')?;
    let mut parts = line.split(' ');
    (parts.next()? == "commit").then(|| parts.collect())
}

/// Removes the commit record, keeping the note: one truncation, so a reader
/// sees the record whole or gone. A record that stays is an error: readers
/// would take every read for a replacement in progress.
pub(crate) fn clear_commit(path: &Path) -> io::Result<()> {
    let file = match open_for_record(path)? {
        Some(f) => f,
        None if commit_pending(path).is_some() => {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("cannot remove the commit record from {}", path.display()),
            ))
        }
        None => return Ok(()),
    };
    let text = read_text(&file).unwrap_or_default();
    if commit_part(&text).is_some() {
        file.set_len(note_part(&text).len() as u64)?;
    }
    Ok(())
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

    #[test]
    fn the_commit_record_sits_after_the_note_and_leaves_it_whole() {
        let dir = tempfile::tempdir().unwrap();
        let lock = dir.path().join("token.txt.lock");
        let note = "v2 1700000000000000 1 wx_app wechat 45009 quota\n";
        std::fs::write(&lock, note).unwrap();
        assert!(commit_pending(&lock).is_none());
        assert!(write_commit(&lock, &["1-2-3-4", "5.0.6", "5.1.7"]).unwrap());
        assert_eq!(peek_note(&lock).as_deref(), Some(note));
        let record = commit_pending(&lock).unwrap();
        assert_eq!(
            record_fields(&record),
            Some(vec!["1-2-3-4", "5.0.6", "5.1.7"])
        );
        // A note rewritten by the holder keeps the record.
        let held = FileLock {
            file: OpenOptions::new()
                .read(true)
                .write(true)
                .open(&lock)
                .unwrap(),
        };
        held.write_note("v2 1 1 wx_app network - x\n");
        assert!(commit_pending(&lock).is_some());
        assert_eq!(
            held.read_note().as_deref(),
            Some("v2 1 1 wx_app network - x\n")
        );
        clear_commit(&lock).unwrap();
        assert!(commit_pending(&lock).is_none());
        assert_eq!(
            std::fs::read_to_string(&lock).unwrap(),
            "v2 1 1 wx_app network - x\n"
        );
        // Without a note, and cut short while being appended: pending, but
        // not a record to act on.
        std::fs::write(&lock, "comm").unwrap();
        assert_eq!(record_fields(&commit_pending(&lock).unwrap()), None);
        assert_eq!(peek_note(&lock), None);
        // After a note cut short (no newline), the record is still found.
        std::fs::write(&lock, "v2 1 1 wx_app netw").unwrap();
        write_commit(&lock, &["a"]).unwrap();
        assert_eq!(
            record_fields(&commit_pending(&lock).unwrap()),
            Some(vec!["a"])
        );
        // No lock file: nothing pending, nothing created.
        std::fs::remove_file(&lock).unwrap();
        assert!(commit_pending(&lock).is_none() && !write_commit(&lock, &["x"]).unwrap());
        assert!(!lock.exists());
    }
}
