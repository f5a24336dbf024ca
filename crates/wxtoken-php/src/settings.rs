//! Where `getToken()`'s settings come from, read fresh on every call.
//!
//! Precedence, strongest first: the legacy PHP constants (`APPID`,
//! `APPSECRET`, `TOKENFILE`, `EXPIRY`) when defined, then the `wxtoken.*` ini
//! entries when non-empty, then the process environment (`WX_*`) when
//! non-empty, then the core's defaults. Constants can appear at any point of
//! a request and ini entries change with `ini_set()` or per-directory config,
//! so nothing is cached here: the values are borrowed from PHP's own tables
//! and from `environ` for the length of one call, and the registry compares
//! them with the previous call's without copying them.
//!
//! Except for what the administrator locked: an entry set with php-fpm's
//! `php_admin_value` (or Apache's) is one a script cannot change with
//! `ini_set()`, and a script's constant must not change it either. PHP marks
//! such an entry by narrowing its `modifiable` from what the module
//! registered (`PHP_INI_ALL`) to `PHP_INI_SYSTEM` (php-fpm's
//! `fpm_php_zend_ini_alter_master()` for admin values only, and
//! `zend_alter_ini_entry_ex()` for a system change at activation). For such
//! a setting the constant is ignored (and said so once per process in the
//! error log); an empty admin value falls through to the environment and the
//! default as any empty entry does. The secret and its file replace each
//! other, so when the administrator gives either, the script gives neither.

use std::borrow::Cow;
use std::ffi::{c_char, CStr};

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use ext_php_rs::ffi::{zend_ini_entry, HashTable};
use ext_php_rs::types::{ZendHashTable, Zval};

/// Number of settings: the core's table ([`wxtoken::SETTINGS`]) is the one
/// list; the ini entries, `phpinfo()` rows and error hints all derive from it.
pub const COUNT: usize = wxtoken::SETTING_COUNT;

/// Index of the token file setting in [`SETTINGS`].
pub const TOKEN_FILE: usize = wxtoken::setting_index("WX_TOKEN_FILE");
/// Index of the expiry file setting in [`SETTINGS`].
pub const EXPIRY_FILE: usize = wxtoken::setting_index("WX_EXPIRY_FILE");
/// Index of `WX_TICKET_DIR`, which a relative name ties to the current
/// directory too.
pub const TICKET_DIR: usize = wxtoken::setting_index("WX_TICKET_DIR");
/// Index of the secret setting in [`SETTINGS`].
pub const SECRET: usize = wxtoken::setting_index("WX_APPSECRET");
/// Index of the secret file setting in [`SETTINGS`].
pub const SECRET_FILE: usize = wxtoken::setting_index("WX_APPSECRET_FILE");

pub use wxtoken::Setting;

/// Every setting, in the core's order.
pub const SETTINGS: [Setting; COUNT] = wxtoken::SETTINGS;

/// Which source a value came from; shown in `phpinfo()` and in configuration
/// errors so a site knows which of its three places to fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A PHP constant (`define('APPID', ...)`).
    Constant,
    /// A `wxtoken.*` ini entry.
    Ini,
    /// A `wxtoken.*` ini entry the administrator locked (`php_admin_value`).
    Admin,
    /// The process environment.
    Env,
}

impl Source {
    /// How to name this source for `setting`, e.g. `constant APPID`.
    pub fn label(self, setting: &Setting) -> String {
        match self {
            Source::Constant => format!("constant {}", setting.constant.unwrap_or("?")),
            Source::Ini => format!("ini {}", setting.ini_name()),
            Source::Admin => format!("php_admin_value[{}]", setting.ini_name()),
            Source::Env => format!("environment {}", setting.env),
        }
    }
}

/// A setting's value as found, before any parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value<'a> {
    /// Text: borrowed from PHP or `environ`, or formatted from a number.
    Text(Cow<'a, [u8]>),
    /// A constant holding an array or object: not usable as a setting.
    NotScalar,
}

/// What one call found for every setting: the winning source and its value,
/// or `None` for the core's default.
pub type Found<'a> = [Option<(Source, Value<'a>)>; COUNT];

/// Reads every setting by precedence and hands the result to `f`.
///
/// The values borrow PHP's constant and ini tables and the environment, which
/// nothing changes while this call runs (a PHP request runs on one thread).
pub fn with_found<R>(f: impl FnOnce(&Found<'_>) -> R) -> R {
    // SAFETY: the engine's executor globals are a static (per thread in ZTS)
    // that lives as long as the process. They are read directly rather than
    // through `ExecutorGlobals::get()`, whose lock costs more than this whole
    // lookup and guards nothing here: only this thread touches them.
    let globals = unsafe { ext_php_rs::ffi::ext_php_rs_executor_globals().as_ref() };
    let constants = globals.and_then(|g| unsafe { g.zend_constants.as_ref() });
    let mut found: Found<'_> = Default::default();
    // Settings the administrator locked, one bit each.
    let mut locked = 0u32;
    with_ini_entries(globals, |entries| {
        for (i, (slot, setting)) in found.iter_mut().zip(SETTINGS.iter()).enumerate() {
            let entry = entries.map_or(std::ptr::null(), |e| e[i]);
            if is_locked(entry) {
                locked |= 1 << i;
                *slot = ini_value(entry).map(|v| (Source::Admin, Value::Text(Cow::Borrowed(v))));
                // Looked up only until it has been said once.
                if let Some(name) = setting.constant.filter(|_| !ignored_logged(i)) {
                    if constants.is_some_and(|c| c.get(name).is_some()) {
                        note_ignored(i, &format!("constant {name}"), i);
                    }
                }
            } else {
                *slot = setting
                    .constant
                    .and_then(|name| constant(constants?, name))
                    .map(|v| (Source::Constant, v))
                    .or_else(|| {
                        ini_value(entry).map(|v| (Source::Ini, Value::Text(Cow::Borrowed(v))))
                    });
            }
        }
    });
    let blocked = lock_secret_pair(&mut found, locked);
    if found.iter().any(Option::is_none) {
        fill_from_environ(&mut found, blocked);
    }
    f(&found)
}

/// The secret and its file replace each other (the one set later in the
/// table's order wins), so a script giving the other form would replace the
/// administrator's. When either is locked and given, the other is taken only
/// if locked too: its constant or ini value is dropped, and the environment
/// is not consulted for it (a script can `putenv()`). Returns the settings
/// to leave unset, one bit each.
fn lock_secret_pair(found: &mut Found<'_>, locked: u32) -> u32 {
    let pair = [SECRET, SECRET_FILE];
    let Some(&admin) = pair
        .iter()
        .find(|&&i| locked & (1 << i) != 0 && found[i].is_some())
    else {
        return 0;
    };
    let mut blocked = 0;
    for i in pair.into_iter().filter(|&i| locked & (1 << i) == 0) {
        blocked |= 1 << i;
        if let Some((source, _)) = found[i].take() {
            note_ignored(i, &source.label(&SETTINGS[i]), admin);
        }
    }
    blocked
}

// Sets of settings are kept as bits of a `u32`.
const _: () = assert!(COUNT <= 32);

/// The settings whose ignored script value was already logged, one bit each.
static IGNORED_LOGGED: AtomicU32 = AtomicU32::new(0);

fn ignored_logged(index: usize) -> bool {
    IGNORED_LOGGED.load(Ordering::Relaxed) & (1 << index) != 0
}

/// Says once per process in PHP's error log that `what` (a script's value
/// for setting `index`) was ignored because of the locked setting `admin`.
/// Not in `wxtoken_last_error()`: the call itself succeeds with the
/// administrator's value.
fn note_ignored(index: usize, what: &str, admin: usize) {
    if IGNORED_LOGGED.fetch_or(1 << index, Ordering::Relaxed) & (1 << index) == 0 {
        crate::report::log(&format!(
            "{what} ignored: {} is set by the administrator (php_admin_value)",
            SETTINGS[admin].ini_name()
        ));
    }
}

/// Whether the administrator locked this entry: registered as `PHP_INI_ALL`,
/// it was narrowed to `PHP_INI_SYSTEM` (see the module docs).
fn is_locked(entry: *const zend_ini_entry) -> bool {
    // SAFETY: as for `ini_value`.
    unsafe { entry.as_ref() }
        .is_some_and(|e| u32::from(e.modifiable) == ext_php_rs::ffi::PHP_INI_SYSTEM)
}

/// Bumped at every module start-up, so entry pointers found before a module
/// restart (possible in embedding SAPIs) are never used after it.
static INI_GENERATION: AtomicU64 = AtomicU64::new(0);

/// Forgets the ini entries found so far; called from MINIT after they are
/// registered.
pub fn ini_registered() {
    INI_GENERATION.fetch_add(1, Ordering::Relaxed);
}

/// Where this thread found the `zend_ini_entry` of each setting.
struct IniEntries {
    table: *const HashTable,
    generation: u64,
    entries: [*const zend_ini_entry; COUNT],
}

thread_local! {
    /// The entries are allocated once when the module registers them and
    /// stay put (the table holds pointers to them), so they are looked up by
    /// name once per thread instead of eleven hash lookups per call. ZTS
    /// builds copy the table per thread, hence a thread-local.
    static INI_ENTRIES: Cell<Option<IniEntries>> = const { Cell::new(None) };
}

fn with_ini_entries(
    globals: Option<&ext_php_rs::ffi::zend_executor_globals>,
    f: impl FnOnce(Option<&[*const zend_ini_entry; COUNT]>),
) {
    let Some(table) = globals.map(|g| g.ini_directives.cast_const()) else {
        return f(None);
    };
    if table.is_null() {
        return f(None);
    }
    let generation = INI_GENERATION.load(Ordering::Relaxed);
    INI_ENTRIES.with(|cell| {
        let cached = cell
            .take()
            .filter(|c| c.table == table && c.generation == generation);
        let cached = cached.unwrap_or_else(|| {
            // SAFETY: checked non-null above; the table lives for the process.
            let t: &ZendHashTable = unsafe { &*table };
            IniEntries {
                table,
                generation,
                entries: std::array::from_fn(|i| {
                    t.get(SETTINGS[i].ini_name())
                        // SAFETY: EG(ini_directives) stores `zend_ini_entry` pointers.
                        .and_then(|z| unsafe { z.ptr::<zend_ini_entry>() })
                        .map_or(std::ptr::null(), |p| p.cast_const())
                }),
            }
        });
        f(Some(&cached.entries));
        cell.set(Some(cached));
    });
}

/// A defined constant's value. A missing constant is `None`; a defined one
/// counts even when empty, as it did for the legacy script.
fn constant<'a>(table: &'a ZendHashTable, name: &str) -> Option<Value<'a>> {
    let entry = table.get(name)?;
    // SAFETY: EG(zend_constants) stores each constant as a pointer to a
    // `zend_constant` that lives as long as the table; its first field is the
    // value's zval (stable since PHP 7, and the only field read here).
    let value: &'a Zval = unsafe { &*entry.ptr::<Zval>()? };
    Some(scalar_text(value))
}

/// A scalar as PHP's string conversion would give it (what the legacy script
/// got when it concatenated `APPID` into its URL).
fn scalar_text(value: &Zval) -> Value<'_> {
    if let Some(s) = value.zend_str() {
        return Value::Text(Cow::Borrowed(s.as_bytes()));
    }
    if let Some(n) = value.long() {
        return Value::Text(Cow::Owned(n.to_string().into_bytes()));
    }
    if let Some(b) = value.bool() {
        return Value::Text(Cow::Borrowed(if b { b"1" } else { b"" }));
    }
    if value.is_null() {
        return Value::Text(Cow::Borrowed(b""));
    }
    if let Some(d) = value.double() {
        return Value::Text(Cow::Owned(d.to_string().into_bytes()));
    }
    Value::NotScalar
}

/// A registered ini entry's current value, when non-empty. `ini_set()` and
/// the end-of-request restore replace `value`, so it is read on every call.
fn ini_value<'a>(entry: *const zend_ini_entry) -> Option<&'a [u8]> {
    // SAFETY: a non-null pointer from `with_ini_entries` points to a live
    // entry; `value` is null or a valid `zend_string` owned by the entry.
    let entry = unsafe { entry.as_ref()? };
    let value = unsafe { entry.value.as_ref()? }.as_bytes();
    (!value.is_empty()).then_some(value)
}

unsafe extern "C" {
    /// The C library's environment, which `putenv()` in PHP and php-fpm's
    /// `env[...]` both change.
    static environ: *const *const c_char;
}

/// Fills the settings still unset from the environment, in one pass over
/// `environ` instead of one `getenv` scan per name, except those in
/// `blocked` (one bit each). Like `getenv`, the first entry of a name wins;
/// empty values do not count.
fn fill_from_environ(found: &mut Found<'_>, blocked: u32) {
    // SAFETY: `environ` is a null-terminated array of NUL-terminated strings;
    // PHP changes it only from the thread running this request.
    let mut p = unsafe { environ };
    if p.is_null() {
        return;
    }
    let mut seen = [false; COUNT];
    loop {
        let entry = unsafe { *p };
        if entry.is_null() {
            break;
        }
        p = unsafe { p.add(1) };
        // Most entries are not ours: look at the first bytes before paying
        // for a `strlen` (each read stops at the NUL if the entry is shorter).
        let prefix = unsafe { [*entry, *entry.add(usize::from(*entry != 0))] };
        if prefix != [b'W' as c_char, b'X' as c_char] {
            continue;
        }
        let bytes = unsafe { CStr::from_ptr(entry) }.to_bytes();
        if !bytes.starts_with(b"WX_") {
            continue;
        }
        let Some(eq) = bytes.iter().position(|&b| b == b'=') else {
            continue;
        };
        let (name, value) = (&bytes[..eq], &bytes[eq + 1..]);
        let Some(i) = SETTINGS.iter().position(|s| s.env.as_bytes() == name) else {
            continue;
        };
        if seen[i] {
            continue;
        }
        seen[i] = true;
        if found[i].is_none() && !value.is_empty() && blocked & (1 << i) == 0 {
            // SAFETY of the lifetime: see `with_found`; the entry is not
            // freed while this call runs.
            let value: &'static [u8] =
                unsafe { std::slice::from_raw_parts(value.as_ptr(), value.len()) };
            found[i] = Some((Source::Env, Value::Text(Cow::Borrowed(value))));
        }
    }
}

/// Whether a file setting, once resolved, is a relative path (the default
/// names are), which then depends on the current directory.
pub fn is_relative(found: &Found<'_>, index: usize) -> bool {
    match &found[index] {
        Some((_, Value::Text(path))) => !path.starts_with(b"/"),
        _ => true,
    }
}

/// What to tell a site whose setting `index` is not set anywhere.
pub fn where_to_set(index: usize) -> String {
    let s = &SETTINGS[index];
    let ini = s.ini_name();
    match s.constant {
        Some(c) => format!("define {c}, or set {ini} or {}", s.env),
        None => format!("set {ini} or {}", s.env),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_follows_the_core_names_and_order() {
        let env: Vec<&str> = SETTINGS.iter().map(|s| s.env).collect();
        assert_eq!(env, wxtoken::SETTING_NAMES);
        assert_eq!(SETTINGS[TOKEN_FILE].env, "WX_TOKEN_FILE");
        assert_eq!(SETTINGS[EXPIRY_FILE].env, "WX_EXPIRY_FILE");
        for s in &SETTINGS {
            assert!(s.ini_name().starts_with("wxtoken."), "{}", s.ini_name());
        }
        let constants: Vec<_> = SETTINGS.iter().filter_map(|s| s.constant).collect();
        assert_eq!(constants, ["APPID", "APPSECRET", "TOKENFILE", "EXPIRY"]);
    }

    #[test]
    fn a_locked_secret_or_secret_file_keeps_the_script_from_giving_the_other() {
        let text = |s: &'static str| Value::Text(Cow::Borrowed(s.as_bytes()));
        let mut found: Found<'_> = Default::default();
        found[SECRET] = Some((Source::Admin, text("admins_secret")));
        found[SECRET_FILE] = Some((Source::Ini, text("/script/secret")));
        // Nothing locked: both stay, as before (the core lets the file win).
        assert_eq!(lock_secret_pair(&mut found.clone(), 0), 0);
        // The secret locked: the script's file is dropped and the
        // environment is not asked for one.
        let mut f = found.clone();
        assert_eq!(lock_secret_pair(&mut f, 1 << SECRET), 1 << SECRET_FILE);
        assert_eq!(f[SECRET], found[SECRET]);
        assert_eq!(f[SECRET_FILE], None);
        // The file locked: a script's APPSECRET is dropped.
        let mut f: Found<'_> = Default::default();
        f[SECRET] = Some((Source::Constant, text("scripts_secret")));
        f[SECRET_FILE] = Some((Source::Admin, text("/etc/wxtoken/site.secret")));
        assert_eq!(lock_secret_pair(&mut f, 1 << SECRET_FILE), 1 << SECRET);
        assert_eq!(f[SECRET], None);
        // Locked but empty is not given: nothing is dropped.
        let mut f: Found<'_> = Default::default();
        f[SECRET] = Some((Source::Constant, text("scripts_secret")));
        assert_eq!(lock_secret_pair(&mut f, 1 << SECRET_FILE), 0);
        assert!(f[SECRET].is_some());
    }

    #[test]
    fn relative_unless_the_path_is_absolute() {
        let mut found: Found<'_> = Default::default();
        assert!(
            is_relative(&found, TOKEN_FILE),
            "the default token.txt is relative"
        );
        found[TOKEN_FILE] = Some((Source::Ini, Value::Text(Cow::Borrowed(b"/var/t.txt"))));
        found[EXPIRY_FILE] = Some((Source::Env, Value::Text(Cow::Borrowed(b"e.txt"))));
        assert!(!is_relative(&found, TOKEN_FILE));
        assert!(is_relative(&found, EXPIRY_FILE));
    }
}
