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

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};

use wxtoken::{ConfigBuilder, Result, TokenCache};

/// The arguments of one call, borrowed from the caller's C strings.
/// `None` file names mean "not given": `WX_TOKEN_FILE` / `WX_EXPIRY_FILE`
/// from the environment if set, else `token.txt` / `expiry.txt`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Settings<'a> {
    pub(crate) appid: &'a str,
    pub(crate) secret: &'a str,
    pub(crate) token_file: Option<&'a str>,
    pub(crate) expiry_file: Option<&'a str>,
}

/// An owned copy of [`Settings`], stored as the map key.
struct OwnedKey {
    appid: String,
    secret: String,
    token_file: Option<String>,
    expiry_file: Option<String>,
}

/// Lets the map be searched with borrowed [`Settings`], so a hit allocates
/// no key (the usual `Borrow<dyn Trait>` trick for compound keys).
trait KeyView {
    fn view(&self) -> Settings<'_>;
}

impl KeyView for Settings<'_> {
    fn view(&self) -> Settings<'_> {
        *self
    }
}

impl KeyView for OwnedKey {
    fn view(&self) -> Settings<'_> {
        Settings {
            appid: &self.appid,
            secret: &self.secret,
            token_file: self.token_file.as_deref(),
            expiry_file: self.expiry_file.as_deref(),
        }
    }
}

impl<'a> Borrow<dyn KeyView + 'a> for OwnedKey {
    fn borrow(&self) -> &(dyn KeyView + 'a) {
        self
    }
}

// Hash and Eq of the owned key and of the borrowed view must agree, so both
// go through `Settings`.
impl Hash for dyn KeyView + '_ {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.view().hash(h)
    }
}
impl PartialEq for dyn KeyView + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.view() == other.view()
    }
}
impl Eq for dyn KeyView + '_ {}
impl Hash for OwnedKey {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.view().hash(h)
    }
}
impl PartialEq for OwnedKey {
    fn eq(&self, other: &Self) -> bool {
        self.view() == other.view()
    }
}
impl Eq for OwnedKey {}

type Map = HashMap<OwnedKey, Arc<TokenCache>>;

static CACHES: LazyLock<Mutex<Map>> = LazyLock::new(|| Mutex::new(HashMap::new()));

/// The map, even if a panic elsewhere poisoned its lock: every update is a
/// single insert or take, so it is never left half-changed.
fn caches() -> MutexGuard<'static, Map> {
    CACHES.lock().unwrap_or_else(|p| p.into_inner())
}

/// The cache for `s`, created (and the environment read) on first use.
/// A configuration error creates nothing, so a corrected environment is
/// seen by the next call.
pub(crate) fn cache_for(s: Settings<'_>) -> Result<Arc<TokenCache>> {
    let mut map = caches();
    if let Some(c) = map.get(&s as &dyn KeyView) {
        return Ok(Arc::clone(c));
    }
    let cache = Arc::new(TokenCache::new(build_config(s)?));
    map.insert(
        OwnedKey {
            appid: s.appid.to_owned(),
            secret: s.secret.to_owned(),
            token_file: s.token_file.map(str::to_owned),
            expiry_file: s.expiry_file.map(str::to_owned),
        },
        Arc::clone(&cache),
    );
    Ok(cache)
}

/// Environment first, then the explicit arguments over it.
fn build_config(s: Settings<'_>) -> Result<wxtoken::Config> {
    let mut b = ConfigBuilder::from_env()?;
    b.set("WX_APPID", s.appid)?;
    b.set("WX_APPSECRET", s.secret)?;
    if let Some(t) = s.token_file {
        b.set("WX_TOKEN_FILE", t)?;
    }
    if let Some(e) = s.expiry_file {
        b.set("WX_EXPIRY_FILE", e)?;
    }
    b.build()
}

/// Forgets every cache. Callers still holding one finish with it; it is
/// dropped (with its HTTP client thread) by whoever lets go last, outside
/// the map lock.
pub(crate) fn reset() {
    let old = std::mem::take(&mut *caches());
    drop(old);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::hash_map::DefaultHasher;

    fn hash(k: &dyn KeyView) -> u64 {
        let mut h = DefaultHasher::new();
        k.hash(&mut h);
        h.finish()
    }

    #[test]
    fn borrowed_and_owned_keys_agree() {
        let s = Settings {
            appid: "wx1",
            secret: "sec",
            token_file: Some("/tmp/t"),
            expiry_file: None,
        };
        let o = OwnedKey {
            appid: "wx1".into(),
            secret: "sec".into(),
            token_file: Some("/tmp/t".into()),
            expiry_file: None,
        };
        assert_eq!(hash(&s), hash(&o));
        assert!(&s as &dyn KeyView == &o as &dyn KeyView);
        let other = Settings {
            expiry_file: Some("/tmp/t"),
            token_file: None,
            ..s
        };
        assert!(&other as &dyn KeyView != &o as &dyn KeyView);
    }
}
