//! Cache handles for programs that configure in code: `wx_config_builder`
//! collects settings by their environment names (nothing is read from the
//! environment unless the program asks), `wx_cache_new()` validates them and
//! returns a `wx_cache`, which holds every credential of one app (access
//! token, JS-SDK tickets).
//!
//! Handles whose settings build equal configurations share one in-process
//! cache (and so one single flight, one memo of the store, one log state):
//! a process-wide table maps each [`Config`] to the [`Shared`] cache its
//! live handles hold. The table keeps only weak references, so the last
//! `wx_cache_free()` of a configuration frees its cache (files, HTTP
//! client) at once.

use std::os::raw::{c_char, c_int};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use wxtoken::{AppCache, Config, ConfigBuilder, TicketKind, TokenCache};

use crate::args;
use crate::error::Failure;
use crate::log::{Reporter, Subject};
use crate::status::wx_status;

/// Settings for `wx_cache_new()`, by their environment names
/// (`wx_config_builder_set()`). Made by `wx_config_builder_new()`, freed by
/// `wx_config_builder_free()`; used by one thread at a time (a handle is
/// shared).
#[allow(non_camel_case_types)]
pub struct wx_config_builder {
    /// What `wx_config_builder_from_env()` read, under the explicit settings.
    env: Option<ConfigBuilder>,
    /// The explicit settings, oldest first; at most one per name.
    given: Vec<(&'static str, String)>,
}

// The values may hold the secret: only the names are shown.
impl std::fmt::Debug for wx_config_builder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("wx_config_builder")
            .field("from_env", &self.env.is_some())
            .field(
                "given",
                &self.given.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl wx_config_builder {
    fn new() -> wx_config_builder {
        wx_config_builder {
            env: None,
            given: Vec::new(),
        }
    }

    /// Records one setting; NULL or `""` forgets it.
    fn set(&mut self, name: &str, value: Option<&str>) -> Result<(), Failure> {
        let Some(setting) = wxtoken::setting_named(name) else {
            return Err(Failure::new(
                wx_status::WX_ERR_CONFIG,
                unknown_setting(name),
            ));
        };
        self.given.retain(|(n, _)| *n != setting.env);
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            self.given.push((setting.env, v.to_string()));
        }
        Ok(())
    }

    /// The configuration: the environment's settings if asked for, the
    /// explicit ones over them, validated.
    fn build(&self) -> wxtoken::Result<Config> {
        let mut b = self.env.clone().unwrap_or_default();
        for (name, value) in &self.given {
            b.set(name, value)?;
        }
        b.build()
    }

    /// What to mask in messages: every secret this builder knows of.
    fn secret(&self) -> String {
        self.given
            .iter()
            .find(|(n, _)| *n == "WX_APPSECRET")
            .map(|(_, v)| v.clone())
            .or_else(|| {
                self.env
                    .as_ref()
                    .and_then(|_| std::env::var("WX_APPSECRET").ok())
            })
            .unwrap_or_default()
    }
}

/// "unknown setting NAME", naming it only when it looks like a setting name:
/// a program that swapped name and value must not see its secret echoed.
fn unknown_setting(name: &str) -> String {
    let plausible = name.len() <= 64
        && name.starts_with("WX_")
        && name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    if plausible {
        format!(
            "unknown setting {name} (settings are named as in the environment, e.g. WX_REDIS_URL)"
        )
    } else {
        "unknown setting name (not shown: it does not look like a WX_* name; is it a value?)"
            .to_string()
    }
}

/// One app's cache as every handle with its settings shares it.
pub(crate) struct Shared {
    app: AppCache,
    /// The access token's log state.
    token_log: Reporter,
    /// Each ticket's, in `TicketKind::ALL`'s order.
    ticket_log: [Reporter; TicketKind::ALL.len()],
}

impl Shared {
    fn new(config: Config) -> Shared {
        Shared {
            app: AppCache::new(config),
            token_log: Reporter::new(),
            ticket_log: [const { Reporter::new() }; TicketKind::ALL.len()],
        }
    }

    fn secret(&self) -> &str {
        self.app.config().secret().expose()
    }

    /// Runs `op` on the cache of `credential`, reports the outcome to the
    /// log callback, and turns an error into a failure (secret masked).
    fn run<T>(
        &self,
        credential: Option<TicketKind>,
        op: impl FnOnce(&TokenCache) -> wxtoken::Result<T>,
    ) -> Result<T, Failure> {
        let (cache, reporter, name) = match credential {
            None => (self.app.token(), &self.token_log, "access_token"),
            Some(kind) => {
                let i = TicketKind::ALL.iter().position(|k| *k == kind).unwrap_or(0);
                let name = wxtoken::Credential::Ticket(kind).key();
                (self.app.ticket(kind), &self.ticket_log[i], name)
            }
        };
        let outcome = op(cache);
        // The app key: for WeCom `corpid:agentid`, so two apps of one corp
        // are told apart in the log.
        let app = self.app.config().app_key();
        let who = Subject {
            credential: name,
            appid: &app,
            secret: self.secret(),
        };
        reporter.after(&who, cache, &outcome);
        outcome.map_err(|e| Failure::from_core(&e, self.secret()))
    }
}

/// A cache handle: every credential of one app (access token, JS-SDK
/// tickets). Made by `wx_cache_new()`, freed by `wx_cache_free()`; any number
/// of threads may use one at once. Handles with equal settings share one
/// in-memory cache.
#[allow(non_camel_case_types)]
pub struct wx_cache {
    shared: Arc<Shared>,
}

#[cfg(test)]
impl wx_cache {
    /// The shared cache behind this handle.
    pub(crate) fn shared_for_test(&self) -> Arc<Shared> {
        self.shared.clone()
    }
}

impl std::fmt::Debug for wx_cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("wx_cache")
            .field("app", &self.shared.app)
            .finish()
    }
}

/// The caches of live handles, by configuration. Few entries (one per
/// distinct configuration a program uses at once): a list is enough.
static HANDLES: Mutex<Table> = Mutex::new(Vec::new());

/// Each configuration with the cache its live handles share.
type Table = Vec<(Config, Weak<Shared>)>;

fn handles() -> MutexGuard<'static, Table> {
    // Entries are pushed and removed whole: a panic cannot leave one half made.
    HANDLES.lock().unwrap_or_else(|p| p.into_inner())
}

thread_local! {
    /// The table's lock, held from `fork_prepare` to `fork_release`.
    static HELD: std::cell::RefCell<Option<MutexGuard<'static, Table>>> =
        const { std::cell::RefCell::new(None) };
}

extern "C" fn fork_prepare() {
    HELD.with(|h| *h.borrow_mut() = Some(handles()));
}

extern "C" fn fork_release() {
    HELD.with(|h| drop(h.borrow_mut().take()));
}

/// `fork(2)` while another thread is in `wx_cache_new()` or
/// `wx_cache_free()`: the table's lock is taken before the fork and released
/// after it in both processes (after the core's and the per-arguments
/// registry's handlers are in place: `prepare` handlers run in reverse order
/// of registration, so this lock is taken first, as `wx_cache_new()` does).
fn install_fork_handlers() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        crate::registry::install_fork_handlers();
        // SAFETY: plain functions that lock and unlock a static mutex.
        unsafe {
            libc::pthread_atfork(Some(fork_prepare), Some(fork_release), Some(fork_release));
        }
    });
}

/// The shared cache for `config`: the one live handles already use, or a
/// new one. Building it opens and connects nothing, so the lock is short.
fn shared_for(config: Config) -> Arc<Shared> {
    install_fork_handlers();
    let mut table = handles();
    if let Some(live) = table
        .iter()
        .filter(|(c, _)| *c == config)
        .find_map(|(_, w)| w.upgrade())
    {
        return live;
    }
    table.retain(|(_, w)| w.strong_count() > 0);
    let shared = Arc::new(Shared::new(config.clone()));
    table.push((config, Arc::downgrade(&shared)));
    shared
}

/// Forgets the entries of caches no handle holds any more.
fn prune() {
    handles().retain(|(_, w)| w.strong_count() > 0);
}

/// # Safety
/// `c` is NULL or a handle from `wx_cache_new()` not yet freed.
///
/// The caller gets its own reference for the length of the call: a log
/// callback that frees this handle (the last one on these settings) meanwhile
/// cannot free what the call still uses.
unsafe fn handle(c: *const wx_cache) -> Result<Arc<Shared>, Failure> {
    // SAFETY: forwarded from the caller.
    unsafe { c.as_ref() }
        .map(|c| c.shared.clone())
        .ok_or_else(|| Failure::new(wx_status::WX_ERR_NULL_ARG, "cache is NULL"))
}

/// The common body of `wx_cache_get_token()`, `wx_cache_refresh()` and
/// `wx_cache_get_ticket()`: empties `out`, runs `op`, copies the result in.
///
/// # Safety
/// `c` as for [`handle`]; `out` is NULL or writable for `out_len` bytes.
unsafe fn string_into(
    c: *const wx_cache,
    (out, out_len): (*mut c_char, usize),
    credential: impl FnOnce() -> Result<Option<TicketKind>, Failure>,
    op: fn(&TokenCache) -> wxtoken::Result<String>,
) -> Result<c_int, Failure> {
    // SAFETY: forwarded from the caller.
    let out = unsafe { args::out_buffer(out, out_len) }?;
    let shared = unsafe { handle(c) }?;
    let value = shared.run(credential()?, op)?;
    out.write(&value)?;
    Ok(wx_status::WX_OK.code())
}

/// A new, empty settings builder, or NULL if memory ran out.
///
/// Nothing comes from the environment unless
/// `wx_config_builder_from_env()` asks for it: the program decides every
/// setting with `wx_config_builder_set()`. Free it with
/// `wx_config_builder_free()`; handles made from it do not need it any
/// more. A builder is for one thread at a time.
#[no_mangle]
pub extern "C" fn wx_config_builder_new() -> *mut wx_config_builder {
    std::panic::catch_unwind(|| Box::into_raw(Box::new(wx_config_builder::new())))
        .unwrap_or(std::ptr::null_mut())
}

/// Sets one setting by its environment name, e.g. `"WX_APPID"`,
/// `"WX_APPSECRET"`, `"WX_TOKEN_FILE"`, `"WX_REDIS_URL"`, `"WX_PASSIVE"`,
/// `"WX_HTTP_TIMEOUT"`: every setting of the README's table is accepted, with
/// the value the environment variable would have. A later call for the
/// same name replaces the value; `value` NULL or `""` unsets it again (its
/// default, or the environment's value after
/// `wx_config_builder_from_env()`).
///
/// Returns `WX_OK`, or `WX_ERR_CONFIG` for a name that is no setting (the
/// message names it), `WX_ERR_NULL_ARG` / `WX_ERR_INVALID_UTF8` for `b`,
/// `name` or `value`. Values are checked by `wx_cache_new()`.
///
/// # Safety
/// `b` is NULL or a live builder not used by another thread meanwhile;
/// `name` and `value` are NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn wx_config_builder_set(
    b: *mut wx_config_builder,
    name: *const c_char,
    value: *const c_char,
) -> c_int {
    crate::guard("wx_config_builder_set", || {
        // SAFETY: forwarded from the caller.
        let b = unsafe { b.as_mut() }
            .ok_or_else(|| Failure::new(wx_status::WX_ERR_NULL_ARG, "builder is NULL"))?;
        let name = unsafe { args::required(name, "name") }?;
        let value = unsafe { args::optional(value, "value") }?;
        b.set(name, value)?;
        Ok(wx_status::WX_OK.code())
    })
}

/// Reads every `WX_*` setting from the process environment now, as the
/// builder's base: settings given with `wx_config_builder_set()`, before or
/// after this call, win over it. Unset or empty variables are skipped.
///
/// Returns `WX_OK`, `WX_ERR_NULL_ARG`, or `WX_ERR_CONFIG` when a variable
/// is not valid UTF-8 (the message names it).
///
/// # Safety
/// `b` is NULL or a live builder not used by another thread meanwhile.
#[no_mangle]
pub unsafe extern "C" fn wx_config_builder_from_env(b: *mut wx_config_builder) -> c_int {
    crate::guard("wx_config_builder_from_env", || {
        // SAFETY: forwarded from the caller.
        let b = unsafe { b.as_mut() }
            .ok_or_else(|| Failure::new(wx_status::WX_ERR_NULL_ARG, "builder is NULL"))?;
        let env = ConfigBuilder::from_env().map_err(|e| Failure::from_core(&e, ""))?;
        b.env = Some(env);
        Ok(wx_status::WX_OK.code())
    })
}

/// Frees a builder. NULL is ignored. Handles made from it live on.
///
/// # Safety
/// `b` is NULL or a builder from `wx_config_builder_new()`, not freed
/// before and not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn wx_config_builder_free(b: *mut wx_config_builder) {
    if !b.is_null() {
        // SAFETY: the caller hands back what `wx_config_builder_new` made.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            drop(unsafe { Box::from_raw(b) })
        }));
    }
}

/// Validates the builder's settings and makes a cache handle in `*out`.
///
/// Handles whose settings are equal share one in-process cache: one single
/// flight, one upstream call per expiry between them. Nothing is opened or
/// fetched here; the first call does that.
///
/// Returns `WX_OK` with the handle in `*out`, or a negative status with
/// `*out` set to NULL: `WX_ERR_CONFIG` when a setting is missing or
/// malformed (the message names it, e.g. `WX_HTTP_TIMEOUT`),
/// `WX_ERR_NULL_ARG` for a NULL `b` or `out`. The builder is not changed and
/// may be reused or freed.
///
/// # Safety
/// `b` is NULL or a live builder not being changed by another thread; `out`
/// is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn wx_cache_new(
    b: *const wx_config_builder,
    out: *mut *mut wx_cache,
) -> c_int {
    crate::guard("wx_cache_new", || {
        // SAFETY: forwarded from the caller.
        let out = unsafe { out.as_mut() }
            .ok_or_else(|| Failure::new(wx_status::WX_ERR_NULL_ARG, "out is NULL"))?;
        *out = std::ptr::null_mut();
        let b = unsafe { b.as_ref() }
            .ok_or_else(|| Failure::new(wx_status::WX_ERR_NULL_ARG, "builder is NULL"))?;
        let config = b.build().map_err(|e| Failure::from_core(&e, &b.secret()))?;
        let shared = shared_for(config);
        *out = Box::into_raw(Box::new(wx_cache { shared }));
        Ok(wx_status::WX_OK.code())
    })
}

/// Gets a valid access token into `out`: from the cache when fresh (no
/// network call), else fetched once for every thread and process sharing
/// the store, and stored.
///
/// Buffers and results as for `wx_get_token()`: `WX_OK` with the
/// NUL-terminated token, or a negative status with `out` holding an empty
/// string (when `out_len > 0`); `WX_TOKEN_BUF_LEN` bytes always suffice.
///
/// # Safety
/// `c` is NULL or a live handle; `out` is NULL or writable for `out_len`
/// bytes.
#[no_mangle]
pub unsafe extern "C" fn wx_cache_get_token(
    c: *mut wx_cache,
    out: *mut c_char,
    out_len: usize,
) -> c_int {
    // SAFETY: forwarded from the caller.
    crate::guard("wx_cache_get_token", || unsafe {
        string_into(c, (out, out_len), || Ok(None), TokenCache::get_token)
    })
}

/// Fetches a new access token now, whatever the cache holds, stores it and
/// copies it into `out`; as `wx_refresh()`, for a handle. Every call costs
/// an upstream request against the daily quota. `WX_ERR_PASSIVE` in
/// passive mode.
///
/// # Safety
/// As for `wx_cache_get_token()`.
#[no_mangle]
pub unsafe extern "C" fn wx_cache_refresh(
    c: *mut wx_cache,
    out: *mut c_char,
    out_len: usize,
) -> c_int {
    // SAFETY: forwarded from the caller.
    crate::guard("wx_cache_refresh", || unsafe {
        string_into(c, (out, out_len), || Ok(None), TokenCache::force_refresh)
    })
}

/// Drops `failed_token` from the cache if it is still the cached access
/// token, after a business API answered 40001, 40014 or 42001 for it; the
/// next `wx_cache_get_token()` then fetches once. A newer token is kept.
///
/// Returns 1 when the token was dropped, 0 when it was not the cached one,
/// or a negative status (`WX_ERR_NULL_ARG` for a NULL `c` or
/// `failed_token`).
///
/// # Safety
/// `c` is NULL or a live handle; `failed_token` is NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn wx_cache_invalidate(
    c: *mut wx_cache,
    failed_token: *const c_char,
) -> c_int {
    crate::guard("wx_cache_invalidate", || {
        // SAFETY: forwarded from the caller.
        let shared = unsafe { handle(c) }?;
        let failed = unsafe { args::required(failed_token, "failed_token") }?;
        let dropped = shared.run(None, |t| t.invalidate(failed))?;
        Ok(c_int::from(dropped))
    })
}

/// Gets a valid JS-SDK ticket of `ticket_type` (`"jsapi"` or `"wx_card"`; for
/// a WeCom app, `"corp"` (or `"jsapi"`) or `"agent"`) into
/// `out`: cached beside the access token (files `jsapi_ticket.txt` +
/// `jsapi_ticket_expiry.txt`, or the Redis keys), fetched once when stale
/// with the cached access token.
///
/// Buffers and results as for `wx_cache_get_token()`; an unknown `ticket_type` is
/// `WX_ERR_CONFIG`.
///
/// # Safety
/// `c` is NULL or a live handle; `ticket_type` is NULL or NUL-terminated; `out`
/// is NULL or writable for `out_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn wx_cache_get_ticket(
    c: *mut wx_cache,
    ticket_type: *const c_char,
    out: *mut c_char,
    out_len: usize,
) -> c_int {
    crate::guard("wx_cache_get_ticket", || {
        // SAFETY: forwarded from the caller.
        let kind = || {
            let name = unsafe { args::required(ticket_type, "ticket_type") }?;
            // The names the handle's platform has (WeCom: corp, agent).
            let shared = unsafe { handle(c) }?;
            TicketKind::parse_for(name, shared.app.config().platform())
                .map(Some)
                .map_err(|e| Failure::from_core(&e, ""))
        };
        unsafe { string_into(c, (out, out_len), kind, TokenCache::get_token) }
    })
}

/// Frees a handle. NULL is ignored. The cache it shares lives on while other
/// handles hold it; the last one's free closes its files and connections.
/// Nothing stored is touched.
///
/// # Safety
/// `c` is NULL or a handle from `wx_cache_new()`, not freed before, not in
/// use by another thread, and not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn wx_cache_free(c: *mut wx_cache) {
    if c.is_null() {
        return;
    }
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: the caller hands back what `wx_cache_new` made.
        drop(unsafe { Box::from_raw(c) });
        prune();
    }));
}
