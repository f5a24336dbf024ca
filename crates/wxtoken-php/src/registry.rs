//! The per-process cache of [`AppCache`]s (an app's access token and
//! tickets), one per distinct set of settings.
//!
//! A PHP worker serves many requests with the same settings, so the
//! `TokenCache` (with its open file handles and, after the first miss, its
//! HTTP client) is built once and reused: the next call costs a comparison of
//! the settings with the ones it was built from, done on the borrowed bytes
//! without copying them, plus the core's hit path (two `fstat`s).
//!
//! Nothing here exists before the first `getToken()`: no cache is built at
//! module start-up, so php-fpm's master never holds one to fork. A cache built
//! before a fork is still right in the child: the core rebuilds its HTTP
//! client when the process id changes, and its open files are only `fstat`ed.

use std::os::unix::ffi::OsStrExt;
use std::sync::Arc;

use wxtoken::{AppCache, CacheRegistry, ConfigBuilder};

use crate::settings::{self, Found, Source, Value, COUNT, SECRET_FILE, SETTINGS};

/// Distinct settings kept per process: enough for a worker serving a few
/// sites or directories (relative file names differ per directory), small
/// enough that a linear search stays cheaper than hashing.
const MAX_ENTRIES: usize = 8;

/// A setting's value as remembered from the call that built an entry.
#[derive(Debug, PartialEq, Eq)]
enum Stored {
    Text(Box<[u8]>),
    NotScalar,
}

/// One set of settings, the key of what was built from it.
struct Entry {
    values: [Option<(Source, Stored)>; COUNT],
    /// The current directory, when a file name is relative and so depends on it.
    cwd: Option<Box<[u8]>>,
}

/// The cache, or the configuration error, which stays the same until the
/// settings change, so failing calls are cheap too.
type Built = Result<Arc<AppCache>, Arc<str>>;

impl Entry {
    fn matches(&self, found: &Found<'_>, cwd: Option<&[u8]>) -> bool {
        self.cwd.as_deref() == cwd
            && self
                .values
                .iter()
                .zip(found.iter())
                .all(|(kept, now)| match (kept, now) {
                    (None, None) => true,
                    (Some((ks, kv)), Some((ns, nv))) => {
                        ks == ns
                            && match (kv, nv) {
                                (Stored::Text(a), Value::Text(b)) => **a == **b,
                                (Stored::NotScalar, Value::NotScalar) => true,
                                _ => false,
                            }
                    }
                    _ => false,
                })
    }
}

/// The core's bounded registry, most recently used first.
static REGISTRY: CacheRegistry<Entry, Built> = CacheRegistry::new(MAX_ENTRIES);

/// The cache for these settings (and, for relative file names, this current
/// directory), or why the settings are unusable: one line, never the secret.
pub fn cache_for(found: &Found<'_>, cwd: Option<&[u8]>) -> Result<Arc<AppCache>, Arc<str>> {
    REGISTRY.get_or_insert_with(
        |e| e.matches(found, cwd),
        || {
            // Building opens nothing and connects nowhere: the core defers both.
            let built = build(found).map(Arc::new).map_err(Arc::from);
            let entry = Entry {
                values: std::array::from_fn(|i| {
                    found[i].as_ref().map(|(source, value)| {
                        let stored = match value {
                            Value::Text(t) => Stored::Text(t.as_ref().into()),
                            Value::NotScalar => Stored::NotScalar,
                        };
                        (*source, stored)
                    })
                }),
                cwd: cwd.map(Into::into),
            };
            (entry, built)
        },
    )
}

/// The effective configuration for `found`, for `phpinfo()`.
pub fn builder_for(found: &Found<'_>) -> Result<ConfigBuilder, String> {
    let mut b = ConfigBuilder::default();
    for (i, (setting, value)) in SETTINGS.iter().zip(found.iter()).enumerate() {
        let Some((source, value)) = value else {
            continue;
        };
        let text = match value {
            Value::Text(t) => std::str::from_utf8(t).map_err(|_| {
                format!(
                    "configuration error: {} is not valid UTF-8",
                    source.label(setting)
                )
            })?,
            Value::NotScalar => {
                return Err(format!(
                    "configuration error: {} must be a string",
                    source.label(setting)
                ))
            }
        };
        b.set(setting.env, text)
            .map_err(|e| explain(&e.to_string(), found, Some(i)))?;
    }
    Ok(b)
}

fn build(found: &Found<'_>) -> Result<AppCache, String> {
    // The secret file is read while the configuration is built: check it
    // against open_basedir before that, as PHP would before opening it.
    if let Some((_, Value::Text(path))) = &found[SECRET_FILE] {
        let path = std::path::Path::new(std::ffi::OsStr::from_bytes(path));
        crate::basedir::check_path("app secret file", path)?;
    }
    let config = builder_for(found)?
        .build()
        .map_err(|e| explain(&e.to_string(), found, None))?;
    Ok(AppCache::new(config))
}

/// Adds to a core configuration error, which names settings by their
/// environment names, where each named setting came from, or where it can be
/// set. Only names of sources are added, never values.
pub fn explain(message: &str, found: &Found<'_>, only: Option<usize>) -> String {
    let mut out = message.to_string();
    for (i, setting) in SETTINGS.iter().enumerate() {
        if only.is_some_and(|o| o != i) || !message.contains(setting.env) {
            continue;
        }
        match &found[i] {
            Some((source, _)) => out.push_str(&format!(" [from {}]", source.label(setting))),
            None => out.push_str(&format!(" [{}]", settings::where_to_set(i))),
        }
    }
    out
}

/// How many distinct settings this process has built caches for.
pub fn len() -> usize {
    REGISTRY.len()
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;
    use std::sync::{Mutex, MutexGuard};

    use super::*;
    use crate::settings::{Found, Source, Value};

    /// The registry is one per process: tests that fill it take turns.
    static SERIAL: Mutex<()> = Mutex::new(());

    fn serial() -> MutexGuard<'static, ()> {
        SERIAL.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn text(s: &str) -> Option<(Source, Value<'_>)> {
        Some((Source::Ini, Value::Text(Cow::Borrowed(s.as_bytes()))))
    }

    fn found<'a>(appid: &'a str, secret: &'a str) -> Found<'a> {
        let mut f: Found<'a> = Default::default();
        f[0] = text(appid);
        f[1] = text(secret);
        f[2] = text("/nonexistent/wxtoken-php-test/t.txt");
        f[3] = text("/nonexistent/wxtoken-php-test/e.txt");
        f
    }

    #[test]
    fn same_settings_share_one_cache_and_any_change_selects_another() {
        let _serial = serial();
        let a = cache_for(&found("reg_a", "s1"), None).unwrap();
        let again = cache_for(&found("reg_a", "s1"), None).unwrap();
        assert!(Arc::ptr_eq(&a, &again));
        let other_secret = cache_for(&found("reg_a", "s2"), None).unwrap();
        assert!(!Arc::ptr_eq(&a, &other_secret));
        let other_dir = cache_for(&found("reg_a", "s1"), Some(b"/tmp")).unwrap();
        assert!(!Arc::ptr_eq(&a, &other_dir));
        // The same value from another source is another key (errors name it).
        let mut from_env = found("reg_a", "s1");
        from_env[0] = Some((Source::Env, Value::Text(Cow::Borrowed(b"reg_a"))));
        assert!(!Arc::ptr_eq(&a, &cache_for(&from_env, None).unwrap()));
        assert!(Arc::ptr_eq(
            &a,
            &cache_for(&found("reg_a", "s1"), None).unwrap()
        ));
    }

    #[test]
    fn configuration_errors_say_where_to_look_never_the_value() {
        let _serial = serial();
        let mut f = found("reg_b", "secret with spaces");
        let e = cache_for(&f, None).unwrap_err();
        assert!(
            e.contains("WX_APPSECRET") && e.contains("[from ini wxtoken.appsecret]"),
            "{e}"
        );
        assert!(!e.contains("secret with spaces"), "{e}");
        f[0] = None;
        let e = cache_for(&f, None).unwrap_err();
        assert!(
            e.contains("define APPID, or set wxtoken.appid or WX_APPID"),
            "{e}"
        );
        f[0] = Some((Source::Constant, Value::NotScalar));
        let e = cache_for(&f, None).unwrap_err();
        assert_eq!(&*e, "configuration error: constant APPID must be a string");
    }

    #[test]
    fn at_most_a_few_entries_are_kept() {
        let _serial = serial();
        let ids: Vec<String> = (0..MAX_ENTRIES + 3).map(|i| format!("reg_c{i}")).collect();
        for id in &ids {
            cache_for(&found(id, "s"), None).unwrap();
        }
        assert!(len() <= MAX_ENTRIES);
    }
}
