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
//! Checked when a cache is selected, and remembered per thread for that
//! cache and `open_basedir` value, so a hit costs one string and one pointer
//! comparison when `open_basedir` is set and nothing when it is not.
//!
//! The cache is recognised by its address, which is only sound while no
//! other cache can be given that address: the registry drops caches it
//! evicts, and the allocator would hand the memory of a cache whose files
//! were allowed to the next one built, whose files may not be. So the memo
//! keeps a [`Weak`] reference to the cache it checked: that keeps the
//! allocation (not the cache: its files still close when it is dropped) and
//! with it the address, until the memo moves on to another cache.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};

use wxtoken::{AppCache, Config, Credential};

/// One check remembered.
struct Checked {
    /// `open_basedir` as it was.
    basedir: String,
    /// The address of the cache checked.
    cache: *const AppCache,
    /// Holds that address for this memo alone (see the module docs).
    _hold: Weak<AppCache>,
    /// The current directory, when an entry of `basedir` is relative: PHP
    /// resolves `.` (the script's directory) against it.
    cwd: Option<Vec<u8>>,
    answer: Result<(), String>,
}

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

/// Refuses `cache` (an error message for `wxtoken_last_error()`) when any
/// file its configuration names lies outside `open_basedir`.
pub fn check(cache: &Arc<AppCache>) -> Result<(), String> {
    match open_basedir() {
        Some(basedir) => check_in(basedir, cache),
        None => Ok(()),
    }
}

/// [`check`] for this `open_basedir` value, remembered for this cache.
fn check_in(basedir: String, cache: &Arc<AppCache>) -> Result<(), String> {
    LAST.with(|last| {
        if let Some(c) = last.borrow().as_ref() {
            if std::ptr::eq(c.cache, Arc::as_ptr(cache))
                && c.basedir == basedir
                && c.cwd.as_ref().is_none_or(|d| current_dir_is(d))
            {
                return c.answer.clone();
            }
        }
        let answer = check_paths(cache.config(), &basedir);
        let relative = basedir
            .split(':')
            .any(|e| !e.is_empty() && !e.starts_with('/'));
        *last.borrow_mut() = Some(Checked {
            cwd: relative.then(current_dir),
            basedir,
            cache: Arc::as_ptr(cache),
            _hold: Arc::downgrade(cache),
            answer: answer.clone(),
        });
        answer
    })
}

/// The current directory as relative `open_basedir` entries resolve against
/// it (empty if it cannot be read).
fn current_dir() -> Vec<u8> {
    use std::os::unix::ffi::OsStringExt;
    std::env::current_dir()
        .map(|p| p.into_os_string().into_vec())
        .unwrap_or_default()
}

/// Whether the current directory is still `dir`, known without a `getcwd`
/// while the main script runs (see [`crate::cwd`]).
#[cfg(not(test))]
fn current_dir_is(dir: &[u8]) -> bool {
    crate::cwd::with_cwd(|now| now.unwrap_or_default() == dir)
}

/// Unit tests run without PHP, whose globals `crate::cwd` reads.
#[cfg(test)]
fn current_dir_is(dir: &[u8]) -> bool {
    current_dir() == dir
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
        // Read when the cache was built (and checked then), but a cache
        // built under a wider `open_basedir` must not serve a narrower one.
        ("app secret file", config.secret_file()),
    ];
    for (what, path) in files {
        if let Some(path) = path {
            if !allowed(path, basedir) {
                return Err(outside(what, path, basedir));
            }
        }
    }
    // The tickets' files, wherever they are (the token file's directory, or
    // WX_TICKET_DIR): a ticket is read through the same cache.
    for credential in Credential::ALL {
        if let Some((ticket, expiry)) = config.store().paths(credential) {
            for path in [ticket, expiry] {
                if !allowed(&path, basedir) {
                    return Err(outside(&format!("{credential} file"), &path, basedir));
                }
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

    fn cache_in(dir: &Path) -> Arc<AppCache> {
        let config = Config::builder()
            .appid("wx_basedir_test")
            .secret("s")
            .token_file(dir.join("token.txt"))
            .expiry_file(dir.join("expiry.txt"))
            .build()
            .unwrap();
        Arc::new(AppCache::new(config))
    }

    #[test]
    fn an_answer_is_never_reused_for_another_cache_at_a_freed_address() {
        let d = tempfile::tempdir().unwrap();
        let (site, other) = (d.path().join("site"), d.path().join("other"));
        std::fs::create_dir_all(&site).unwrap();
        std::fs::create_dir_all(&other).unwrap();
        let basedir = format!("{}/", site.display());
        let allowed = cache_in(&site);
        assert_eq!(check_in(basedir.clone(), &allowed), Ok(()));
        assert_eq!(check_in(basedir.clone(), &allowed), Ok(()), "remembered");
        // Evicted and freed: the next cache of the same size would be given
        // its memory, were the memo not holding it.
        let address = Arc::as_ptr(&allowed);
        drop(allowed);
        let outside = cache_in(&other);
        assert!(!std::ptr::eq(Arc::as_ptr(&outside), address));
        let refused = check_in(basedir.clone(), &outside).unwrap_err();
        assert!(refused.contains("token file"), "{refused}");
        // Another open_basedir is another question for the same cache.
        assert_eq!(
            check_in(format!("{}/", d.path().display()), &outside),
            Ok(())
        );
    }

    #[test]
    fn the_secret_file_is_checked_with_the_cache_files() {
        let d = tempfile::tempdir().unwrap();
        let secret = d.path().join("secret");
        std::fs::write(&secret, "s\n").unwrap();
        std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        let site = d.path().join("site");
        std::fs::create_dir_all(&site).unwrap();
        let config = Config::builder()
            .appid("wx_basedir_test")
            .secret_file(&secret)
            .token_file(site.join("token.txt"))
            .expiry_file(site.join("expiry.txt"))
            .build()
            .unwrap();
        let e = check_paths(&config, &format!("{}/", site.display())).unwrap_err();
        assert!(e.contains("app secret file"), "{e}");
    }
}
