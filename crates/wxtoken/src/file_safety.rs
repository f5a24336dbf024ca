//! What a file must be before the cache reads, trusts or writes it.
//!
//! The cache may run as root (`sudo wxtoken refresh`, cron, a package's
//! post-install script) in a directory that a less trusted user, such as the
//! site's PHP user, can write. So every file the cache touches is opened
//! without following a final symbolic link, must be a regular file, and must
//! belong to someone the caller already trusts:
//!
//! - its owner is the effective user, or root; or, when the caller is root,
//!   the owner of the directory holding it (root keeps the site's files in
//!   the site user's name, see `staged_file::keep_owner`);
//! - nobody but its owner can write it (no group or world write bit).
//!
//! Reads never block: files are opened with `O_NONBLOCK`, so a FIFO planted
//! where a token should be is refused instead of hanging the caller, and at
//! most a small, fixed number of bytes is read.

use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use crate::error::{Error, Result};
use crate::store::files::staged_file::parent_dir;

/// What is wrong with a file that exists but may not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// A symbolic link: links are never followed.
    Symlink,
    /// A directory, device, FIFO or socket.
    NotRegular(&'static str),
    /// More than one name for the same file: a hard link planted beside ours.
    HardLinked(u64),
    /// Owned by a user the caller has no reason to trust.
    ForeignOwner { owner: u32, me: u32 },
    /// Writable by users other than its owner.
    WritableByOthers(u32),
    /// Readable by every user (secret files only).
    ReadableByAll(u32),
}

impl Refusal {
    /// The error for `path`, naming the file, the problem and the fix.
    pub(crate) fn into_error(self, path: &Path) -> Error {
        let reason = match self {
            Refusal::Symlink => "it is a symbolic link, and wxtoken never follows links \
                 (point the setting at the real file)"
                .to_string(),
            Refusal::NotRegular(what) => format!("it is {what}, not a regular file"),
            Refusal::HardLinked(n) => format!(
                "it has {n} hard links; a cache file has exactly one (remove the extra names)"
            ),
            Refusal::ForeignOwner { owner, me } => format!(
                "it is owned by uid {owner}, not by this user (uid {me}) or root; \
                 remove it, or run as its owner"
            ),
            Refusal::WritableByOthers(mode) => format!(
                "it is writable by group or others (mode {:04o}); run chmod go-w on it",
                mode & 0o7777
            ),
            Refusal::ReadableByAll(mode) => format!(
                "it is readable by every user (mode {:04o}); run chmod o-rwx on it",
                mode & 0o7777
            ),
        };
        Error::Unsafe {
            path: path.to_path_buf(),
            reason,
        }
    }
}

/// The effective user id.
pub(crate) fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

fn kind_of(meta: &Metadata) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_file() {
        None
    } else if t.is_dir() {
        Some("a directory")
    } else if t.is_symlink() {
        Some("a symbolic link")
    } else if t.is_fifo() {
        Some("a FIFO")
    } else if t.is_socket() {
        Some("a socket")
    } else if t.is_char_device() {
        Some("a character device")
    } else if t.is_block_device() {
        Some("a block device")
    } else {
        Some("not a regular file")
    }
}

/// Whether `meta` (of the file at `path`) is a file the cache may trust.
pub(crate) fn check(path: &Path, meta: &Metadata) -> std::result::Result<(), Refusal> {
    if meta.file_type().is_symlink() {
        return Err(Refusal::Symlink);
    }
    if let Some(what) = kind_of(meta) {
        return Err(Refusal::NotRegular(what));
    }
    let me = euid();
    let owner = meta.uid();
    if owner != me && owner != 0 {
        let dir_owner = || {
            std::fs::symlink_metadata(parent_dir(path))
                .map(|d| d.uid())
                .ok()
        };
        if me != 0 || dir_owner() != Some(owner) {
            return Err(Refusal::ForeignOwner { owner, me });
        }
    }
    if meta.mode() & 0o022 != 0 {
        return Err(Refusal::WritableByOthers(meta.mode()));
    }
    Ok(())
}

/// A cache file the cache writes into in place (the lock file): trusted, and
/// with no second name through which a write could land elsewhere.
pub(crate) fn check_single_link(meta: &Metadata) -> std::result::Result<(), Refusal> {
    match meta.nlink() {
        1 => Ok(()),
        n => Err(Refusal::HardLinked(n)),
    }
}

/// Options for opening an existing cache file: no final symlink, no blocking
/// on a FIFO, not inherited by child processes.
pub(crate) fn no_follow(opts: &mut OpenOptions) -> &mut OpenOptions {
    opts.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
}

/// Maps the error of an `O_NOFOLLOW` open: `ELOOP` means a symbolic link.
pub(crate) fn open_error(path: &Path, op: &'static str, e: io::Error) -> Error {
    if e.raw_os_error() == Some(libc::ELOOP) {
        Refusal::Symlink.into_error(path)
    } else {
        Error::io(op, path, e)
    }
}

/// Opens an existing file for reading if it is a trusted regular file;
/// `Ok(None)` when there is none.
pub(crate) fn open_trusted(path: &Path) -> Result<Option<(File, Metadata)>> {
    let file = match no_follow(OpenOptions::new().read(true)).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(open_error(path, "read", e)),
    };
    let meta = file.metadata().map_err(|e| Error::io("read", path, e))?;
    check(path, &meta).map_err(|r| r.into_error(path))?;
    Ok(Some((file, meta)))
}

/// Opens an existing cache file to write into it in place (the lock file's
/// record, a pair rewritten on a full disk): never through a link, only a
/// trusted regular file with a single name (a second name, a hard link
/// planted to another file, would send the write there).
pub(crate) fn open_in_place(path: &Path) -> io::Result<File> {
    let f = no_follow(OpenOptions::new().read(true).write(true)).open(path)?;
    let meta = f.metadata()?;
    check(path, &meta)
        .and_then(|()| check_single_link(&meta))
        .map_err(|r| {
            io::Error::new(
                io::ErrorKind::PermissionDenied,
                r.into_error(path).to_string(),
            )
        })?;
    Ok(f)
}

/// Refuses a destination that exists and is not a trusted regular file, so a
/// rename never replaces a device, a directory or a planted link.
pub(crate) fn check_destination(path: &Path) -> Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) => check(path, &meta).map_err(|r| r.into_error(path)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("inspect", path, e)),
    }
}

/// The first `limit` bytes of a small settings file (a secret, a CA bundle),
/// which must be a regular file: a device or FIFO there would otherwise make
/// the read endless or blocking. `private` also refuses a world-readable one.
pub(crate) fn read_setting_file(
    path: &Path,
    setting: &str,
    limit: u64,
    private: bool,
) -> Result<Vec<u8>> {
    read_bounded(path, setting, limit, private, false)
}

/// [`read_setting_file`] for a file that decides where the secret is sent
/// (`wxtoken daemon`'s config): also refused, as cache files are, when
/// another user owns it or anyone but its owner may write it, since whoever
/// can edit it can point the secret at an API base of their choosing.
pub fn read_trusted_setting_file(path: &Path, setting: &str, limit: u64) -> Result<Vec<u8>> {
    read_bounded(path, setting, limit, false, true)
}

fn read_bounded(
    path: &Path,
    setting: &str,
    limit: u64,
    private: bool,
    trusted: bool,
) -> Result<Vec<u8>> {
    let config = |reason: String| {
        Error::Config(format!(
            "{setting} file {}: {reason} ({setting})",
            path.display()
        ))
    };
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| config(format!("cannot open it: {e}")))?;
    let meta = file
        .metadata()
        .map_err(|e| config(format!("cannot inspect it: {e}")))?;
    if let Some(what) = kind_of(&meta) {
        return Err(config(format!("it is {what}, not a regular file")));
    }
    if let Some(refusal) = trusted.then(|| check(path, &meta).err()).flatten() {
        let Error::Unsafe { reason, .. } = refusal.into_error(path) else {
            unreachable!("into_error gives Unsafe")
        };
        return Err(config(reason));
    }
    if private && meta.mode() & 0o004 != 0 {
        let Error::Unsafe { reason, .. } = Refusal::ReadableByAll(meta.mode()).into_error(path)
        else {
            unreachable!("into_error gives Unsafe")
        };
        return Err(config(reason));
    }
    if meta.len() > limit {
        return Err(config(format!(
            "it is larger than {limit} bytes ({} bytes)",
            meta.len()
        )));
    }
    let mut buf = Vec::new();
    (&file)
        .take(limit + 1)
        .read_to_end(&mut buf)
        .map_err(|e| config(format!("cannot read it: {e}")))?;
    if buf.len() as u64 > limit {
        return Err(config(format!("it is larger than {limit} bytes")));
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn scratch() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }

    #[test]
    fn symlinks_fifos_and_loose_modes_are_refused() {
        let d = scratch();
        let real = d.path().join("real");
        std::fs::write(&real, "TOKEN").unwrap();
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(open_trusted(&real).unwrap().is_some());

        let link = d.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let e = open_trusted(&link).unwrap_err().to_string();
        assert!(e.contains("symbolic link") && e.contains("link"), "{e}");
        assert!(check_destination(&link).is_err());

        let fifo = d.path().join("fifo");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = open_trusted(&fifo).unwrap_err().to_string();
        assert!(e.contains("FIFO"), "{e}");
        let e = read_setting_file(&fifo, "WX_CA_FILE", 10, false).unwrap_err();
        assert!(e.to_string().contains("FIFO"), "{e}");

        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o666)).unwrap();
        let e = open_trusted(&real).unwrap_err().to_string();
        assert!(e.contains("chmod go-w"), "{e}");
        assert!(open_trusted(&d.path().join("missing")).unwrap().is_none());
    }

    #[test]
    fn setting_files_are_bounded_and_private_when_asked() {
        let d = scratch();
        let f = d.path().join("secret");
        std::fs::write(&f, "0123456789abcdef").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = read_setting_file(&f, "WX_APPSECRET_FILE", 100, true).unwrap_err();
        assert!(e.to_string().contains("o-rwx"), "{e}");
        assert_eq!(e.kind(), crate::ErrorKind::Config);
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert_eq!(
            read_setting_file(&f, "WX_APPSECRET_FILE", 100, true).unwrap(),
            b"0123456789abcdef"
        );
        let e = read_setting_file(&f, "WX_APPSECRET_FILE", 4, true).unwrap_err();
        assert!(e.to_string().contains("larger than 4 bytes"), "{e}");
        // /dev/zero never ends: refused before any read.
        let e = read_setting_file(Path::new("/dev/zero"), "WX_CA_FILE", 4, false).unwrap_err();
        assert!(e.to_string().contains("character device"), "{e}");
    }
}
