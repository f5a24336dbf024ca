//! One [`TokenCache`] per distinct settings, shared by every thread.
//!
//! C callers pass their settings on every call; building a cache each time
//! would re-read the environment and throw away the HTTP client and the
//! core's memo of the files. So caches live in a process-wide map keyed by
//! the arguments (appid, secret, token file, expiry file). The environment
//! (`WX_API_BASE`, `WX_REFRESH_MARGIN`, ...) is read when a key is first
//! used; `wx_reset()` empties the map so the next call reads it again.
//!
//! The map lock covers only the lookup (and the first-use construction, which
//! does no I/O): the cache is called after it is released, so a slow refresh
//! for one app never blocks a hit for another.

use std::sync::Arc;

use wxtoken::{CacheRegistry, ConfigBuilder, Result, TokenCache};

use crate::log::Reporter;

/// A cache and what it last told the log callback.
#[derive(Debug)]
pub(crate) struct Entry {
    /// The cache of these settings.
    pub(crate) cache: TokenCache,
    /// Its log state, shared by every caller with these settings.
    pub(crate) log: Reporter,
}

/// The settings a C caller passes on each call, borrowed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Settings<'a> {
    pub(crate) appid: &'a str,
    pub(crate) secret: &'a str,
    pub(crate) token_file: Option<&'a str>,
    pub(crate) expiry_file: Option<&'a str>,
}

/// The same settings, kept as the key of a registry entry.
struct OwnedKey {
    appid: String,
    secret: String,
    token_file: Option<String>,
    expiry_file: Option<String>,
}

impl OwnedKey {
    fn view(&self) -> Settings<'_> {
        Settings {
            appid: &self.appid,
            secret: &self.secret,
            token_file: self.token_file.as_deref(),
            expiry_file: self.expiry_file.as_deref(),
        }
    }
}

/// Distinct settings kept at once. Each cache holds a few file descriptors;
/// a program cycling through more settings than this rebuilds the least
/// recently used (re-reading the environment), instead of running out of
/// descriptors.
pub(crate) const MAX_CACHES: usize = 32;

static CACHES: CacheRegistry<OwnedKey, Arc<Entry>> = CacheRegistry::new(MAX_CACHES);

thread_local! {
    /// The registry's lock, held from `fork_prepare` to `fork_release`.
    static HELD: std::cell::RefCell<Option<wxtoken::RegistryHold<'static, OwnedKey, Arc<Entry>>>> =
        const { std::cell::RefCell::new(None) };
}

extern "C" fn fork_prepare() {
    HELD.with(|h| *h.borrow_mut() = Some(CACHES.hold()));
}

extern "C" fn fork_release() {
    HELD.with(|h| drop(h.borrow_mut().take()));
}

/// Makes `fork(2)` safe while other threads are inside the library: the
/// registry's lock (and the core's, see `wxtoken::install_fork_handlers`) is
/// taken before a fork and released after it in parent and child, so the
/// child never inherits a lock held by a thread it does not have.
pub(crate) fn install_fork_handlers() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        wxtoken::install_fork_handlers();
        // SAFETY: plain functions that lock and unlock a static mutex.
        unsafe {
            libc::pthread_atfork(Some(fork_prepare), Some(fork_release), Some(fork_release));
        }
    });
}

/// The cache for these settings, built (reading the environment) on first
/// use. A configuration error is not kept: the next call tries again.
pub(crate) fn cache_for(s: Settings<'_>) -> Result<Arc<Entry>> {
    install_fork_handlers();
    CACHES.try_get_or_insert_with(
        |k| k.view() == s,
        || {
            let cache = Arc::new(Entry {
                cache: TokenCache::new(build_config(s)?),
                log: Reporter::new(),
            });
            let key = OwnedKey {
                appid: s.appid.to_owned(),
                secret: s.secret.to_owned(),
                token_file: s.token_file.map(str::to_owned),
                expiry_file: s.expiry_file.map(str::to_owned),
            };
            Ok((key, cache))
        },
    )
}

/// Environment first, then the explicit arguments over it.
fn build_config(s: Settings<'_>) -> Result<wxtoken::Config> {
    let mut b = ConfigBuilder::from_env()?;
    b.set("WX_APPID", s.appid)?;
    if !s.secret.is_empty() {
        b.set("WX_APPSECRET", s.secret)?;
    }
    if let Some(t) = s.token_file {
        b.set("WX_TOKEN_FILE", t)?;
    }
    if let Some(e) = s.expiry_file {
        b.set("WX_EXPIRY_FILE", e)?;
    }
    b.build()
}

/// Forgets every cache. Callers still holding one finish with it; it is
/// dropped by whoever lets go last, outside the registry's lock.
pub(crate) fn reset() {
    CACHES.clear();
}

/// How many distinct settings have a cache now.
#[cfg(test)]
pub(crate) fn len() -> usize {
    CACHES.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 400 distinct settings in one process (issue: the 254th call ran out of
    /// file descriptors): the registry keeps at most MAX_CACHES of them.
    #[test]
    fn distinct_settings_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let names: Vec<String> = (0..400)
            .map(|i| dir.path().join(format!("t{i}")).display().to_string())
            .collect();
        for name in &names {
            let s = Settings {
                appid: "wx_bound",
                secret: "secret_bound",
                token_file: Some(name),
                expiry_file: None,
            };
            cache_for(s).unwrap();
            assert!(len() <= MAX_CACHES);
        }
    }
}
