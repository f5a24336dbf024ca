//! `open_basedir` for the files the extension touches.
//!
//! A site that sets `open_basedir` expects no PHP code to reach files outside
//! it; `getToken()` reads and replaces files named by constants and ini
//! entries, so it must refuse the same paths `file_get_contents()` and
//! `file_put_contents()` would. PHP's own check (`php_check_open_basedir`) is
//! not in ext-php-rs's bindings, so its rule is restated here:
//!
//! - the path is resolved as PHP resolves it (symbolic links and `..`
//!   followed, relative to the current directory; for a file that does not
//!   exist yet, its directory is resolved);
//! - each `:`-separated entry is resolved the same way, keeping a trailing
//!   `/` if it had one;
//! - the path is allowed when it starts with a resolved entry. As in PHP, an
//!   entry without a trailing slash is a prefix (`/srv/app` admits
//!   `/srv/app2`); write `/srv/app/` to mean the directory only.
//!
//! Checked when a cache is selected, and remembered per thread for the
//! settings and `open_basedir` value it was checked with, so a hit costs one
//! string comparison when `open_basedir` is set and nothing when it is not.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use wxtoken::Config;

/// One check remembered: `open_basedir`'s value, the cache's address, the answer.
type Checked = (String, usize, Result<(), String>);

thread_local! {
    /// The last check on this thread.
    static LAST: RefCell<Option<Checked>> = const { RefCell::new(None) };
}

/// The `open_basedir` in force for this request, if any. (None in this
/// crate's unit tests, which run without PHP: its globals do not exist there.)
#[cfg(test)]
fn open_basedir() -> Option<String> {
    None
}

/// The `open_basedir` in force for this request, if any.
#[cfg(not(test))]
fn open_basedir() -> Option<String> {
    let globals = ext_php_rs::zend::ProcessGlobals::get();
    let ptr = globals.open_basedir;
    if ptr.is_null() {
        return None;
    }
    // SAFETY: PHP keeps the ini value's string alive while it is in force,
    // and it is NUL-terminated.
    let value = unsafe { std::ffi::CStr::from_ptr(ptr) }.to_string_lossy();
    (!value.is_empty()).then(|| value.into_owned())
}

/// Refuses `config` (an error message for `wxtoken_last_error()`) when any
/// file it names lies outside `open_basedir`. `key` identifies the cache the
/// config belongs to, for the per-thread memo.
pub fn check(config: &Config, key: usize) -> Result<(), String> {
    let Some(basedir) = open_basedir() else {
        return Ok(());
    };
    LAST.with(|last| {
        if let Some((b, k, answer)) = last.borrow().as_ref() {
            if *k == key && *b == basedir {
                return answer.clone();
            }
        }
        let answer = check_paths(config, &basedir);
        *last.borrow_mut() = Some((basedir, key, answer.clone()));
        answer
    })
}

/// Refuses one file outside `open_basedir`, checked now (not remembered).
pub fn check_path(what: &str, path: &Path) -> Result<(), String> {
    match open_basedir() {
        Some(basedir) if !allowed(path, &basedir) => Err(outside(what, path, &basedir)),
        _ => Ok(()),
    }
}

fn outside(what: &str, path: &Path, basedir: &str) -> String {
    format!(
        "open_basedir restriction in effect: {what} {} is not within the allowed path(s): ({basedir})",
        path.display()
    )
}

fn check_paths(config: &Config, basedir: &str) -> Result<(), String> {
    let files = [
        ("token file", Some(config.token_file())),
        ("expiry file", Some(config.expiry_file())),
        ("CA file", config.ca_file()),
    ];
    for (what, path) in files {
        if let Some(path) = path {
            if !allowed(path, basedir) {
                return Err(outside(what, path, basedir));
            }
        }
    }
    Ok(())
}

/// `path` with links and `..` resolved; for a file that does not exist yet,
/// its resolved directory joined with its name.
fn resolve(path: &Path) -> PathBuf {
    if let Ok(p) = std::fs::canonicalize(path) {
        return p;
    }
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    match (absolute.parent(), absolute.file_name()) {
        (Some(dir), Some(name)) => std::fs::canonicalize(dir)
            .map(|d| d.join(name))
            .unwrap_or(absolute.clone()),
        _ => absolute.clone(),
    }
}

/// PHP's rule, see the module docs.
pub fn allowed(path: &Path, basedir: &str) -> bool {
    let name = resolve(path).into_os_string().into_encoded_bytes();
    basedir.split(':').filter(|e| !e.is_empty()).any(|entry| {
        let mut base = resolve(Path::new(entry))
            .into_os_string()
            .into_encoded_bytes();
        if entry.ends_with('/') && !base.ends_with(b"/") {
            base.push(b'/');
        }
        name.starts_with(&base) || (base.ends_with(b"/") && name == base[..base.len() - 1])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_phps_prefix_rule() {
        let d = tempfile::tempdir().unwrap();
        let app = d.path().join("app");
        std::fs::create_dir_all(&app).unwrap();
        let base = app.to_str().unwrap();
        assert!(allowed(&app.join("token.txt"), base));
        assert!(allowed(
            &app.join("token.txt"),
            &format!("/nowhere:{base}/")
        ));
        assert!(!allowed(Path::new("/etc/shadow"), base));
        assert!(!allowed(&app.join("../outside.txt"), &format!("{base}/")));
        // A link inside pointing outside is judged by where it leads.
        std::os::unix::fs::symlink("/etc", app.join("etc")).unwrap();
        assert!(!allowed(&app.join("etc/passwd"), base));
    }
}
