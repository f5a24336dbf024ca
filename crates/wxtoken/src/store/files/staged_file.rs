//! Replacing a file by rename: the new content goes to a temporary file
//! beside the destination, is synced, and only then renamed over it, so a
//! reader opens either the old file or the new one, never a torn one.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// New content written and synced beside `dest`, not yet in place. Dropped
/// without [`commit`](Staged::commit), the temporary file is removed.
pub(crate) struct Staged {
    tmp: PathBuf,
    dest: PathBuf,
    committed: bool,
}

impl Staged {
    /// Writes `bytes` to a new mode-0600 temporary file beside `dest` and
    /// syncs it.
    ///
    /// The file is always new (`O_EXCL`, never through a link): a name another
    /// user planted first is passed over for the next one.
    pub(crate) fn write(dest: &Path, bytes: &[u8]) -> io::Result<Staged> {
        let mut attempt = 0;
        let (tmp, mut file) = loop {
            let tmp = temp_name(dest);
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(&tmp)
            {
                Ok(f) => break (tmp, f),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 8 => attempt += 1,
                Err(e) => return Err(e),
            }
        };
        let staged = Staged {
            tmp,
            dest: dest.to_path_buf(),
            committed: false,
        };
        keep_owner(&file, dest);
        file.write_all(bytes)?;
        file.sync_all()?;
        Ok(staged)
    }

    /// Renames the temporary file over the destination.
    pub(crate) fn commit(mut self) -> io::Result<()> {
        fs::rename(&self.tmp, &self.dest)?;
        self.committed = true;
        Ok(())
    }

    /// The temporary file's name in its directory.
    pub(crate) fn file_name(&self) -> String {
        self.tmp
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// Keeps the temporary file whatever happens next: once a commit record
    /// names it, only recovery may rename or remove it.
    pub(crate) fn keep(mut self) -> PathBuf {
        self.committed = true;
        std::mem::take(&mut self.tmp)
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// `.token.txt.<pid>.<n>.<nanos>.tmp` beside the destination: the pid and
/// counter keep writers apart, the time keeps a leftover from a crashed
/// process with a reused pid from colliding.
fn temp_name(dest: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "wxtoken".into());
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    parent_dir(dest).join(format!(
        ".{name}.{}.{}.{nanos}.tmp",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ))
}

/// The directory holding `path` (`.` for a bare file name).
pub(crate) fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// Gives `file` the owner of `like` (or of its directory, if `like` does not
/// exist yet). Only root can, and only root needs to: a `sudo wxtoken
/// refresh` must not leave the site's PHP workers with files they cannot
/// read, which the legacy script's in-place writes never did. Anyone else
/// keeps their own files, silently.
pub(crate) fn keep_owner(file: &File, like: &Path) {
    let Ok(old) = fs::symlink_metadata(like)
        .ok()
        .filter(|m| m.is_file())
        .ok_or(())
        .or_else(|()| fs::metadata(parent_dir(like)))
    else {
        return;
    };
    let Ok(new) = file.metadata() else { return };
    if (old.uid(), old.gid()) != (new.uid(), new.gid()) {
        let _ = std::os::unix::fs::fchown(file, Some(old.uid()), Some(old.gid()));
    }
}

/// Makes renames in `path`'s directory durable; failure loses nothing a
/// reader could see.
pub(crate) fn sync_dir(path: &Path) {
    if let Ok(d) = File::open(parent_dir(path)) {
        let _ = d.sync_all();
    }
}
