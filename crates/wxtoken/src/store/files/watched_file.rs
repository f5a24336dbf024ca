//! "Has this file changed since I read it?" in one `fstat`.
//!
//! The file store keeps the files it last read open; a rename over the path
//! unlinks the inode it holds (`nlink` drops to 0) and an in-place rewrite,
//! as PHP's `file_put_contents` does, changes size, mtime or ctime. So a hit
//! costs one `fstat` per file: no path lookup, no open, no read.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

/// What identifies one version of a file without reading it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct FileIdent {
    dev: u64,
    ino: u64,
    pub(crate) size: u64,
    pub(crate) mtime: (i64, i64),
    ctime: (i64, i64),
}

impl FileIdent {
    /// Whether `meta` (of a path, now) is the same file as this identity.
    pub(crate) fn same_file(&self, meta: &std::fs::Metadata) -> bool {
        use std::os::unix::fs::MetadataExt;
        meta.dev() == self.dev && meta.ino() == self.ino
    }
}

/// What one `fstat` says about an open file.
pub(crate) struct FileStat {
    pub(crate) ident: FileIdent,
    nlink: u64,
}

impl FileStat {
    /// `fstat(2)` on `file`. Not `File::metadata`: std asks through `statx`
    /// with an empty path, about 50 ns more per call here, and these calls
    /// are most of a cache hit.
    // The field types of `struct stat` differ between platforms.
    #[allow(clippy::unnecessary_cast)]
    pub(crate) fn of(file: &File) -> io::Result<Self> {
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

/// One file as last read, kept open.
pub(crate) struct Watched {
    pub(crate) file: File,
    pub(crate) ident: FileIdent,
}

impl Watched {
    /// Still the version that was read: still linked, same identity.
    pub(crate) fn unchanged(&self) -> bool {
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
    pub(crate) fn is_racy(&self) -> bool {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        self.ident.ctime.0 >= now - 1 || self.ident.mtime.0 >= now - 1
    }
}
