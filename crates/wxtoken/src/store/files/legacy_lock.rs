//! The legacy script's own lock. It writes each file in place with
//! `file_put_contents(..., LOCK_EX)`: open, `flock(LOCK_EX)`, truncate, write,
//! unlock. A reader that opens the file in between sees it empty for an
//! instant, and used to take that for a miss and fetch a new token. A writer
//! that renamed over the file at that moment replaced the legacy script's
//! newer token with its own older one. Both now respect that lock, briefly:
//! the legacy script holds it only while it writes a few bytes.

use std::fs::File;
use std::time::{Duration, Instant};

/// The longest a reader or writer waits for a legacy writer to finish.
pub(crate) const LEGACY_WRITE_WAIT: Duration = Duration::from_millis(500);

/// If someone holds an exclusive `flock` on `file` (a legacy write in
/// progress), waits until it is released, at most [`LEGACY_WRITE_WAIT`].
/// Returns whether there was a writer to wait for.
pub(crate) fn wait_for_writer(file: &File) -> bool {
    let deadline = Instant::now() + LEGACY_WRITE_WAIT;
    let mut waited = false;
    loop {
        if fs2::FileExt::try_lock_shared(file).is_ok() {
            let _ = fs2::FileExt::unlock(file);
            return waited;
        }
        if Instant::now() >= deadline {
            return waited;
        }
        waited = true;
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Holds the legacy writers' exclusive lock on `file` (waiting at most
/// [`LEGACY_WRITE_WAIT`]) until dropped; `None` when it cannot be had in time
/// (the caller goes on: the legacy script never holds it for long).
pub(crate) struct Exclusive<'a>(&'a File);

impl<'a> Exclusive<'a> {
    pub(crate) fn take(file: &'a File) -> Option<Exclusive<'a>> {
        let deadline = Instant::now() + LEGACY_WRITE_WAIT;
        loop {
            if fs2::FileExt::try_lock_exclusive(file).is_ok() {
                return Some(Exclusive(file));
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

impl Drop for Exclusive<'_> {
    fn drop(&mut self) {
        let _ = fs2::FileExt::unlock(self.0);
    }
}
