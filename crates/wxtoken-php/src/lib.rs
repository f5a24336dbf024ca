//! # wxtoken PHP extension
//!
//! A drop-in replacement for the legacy `getToken()` PHP function: same name,
//! same signature, same contract (the token, or `""` on any failure, never an
//! exception or warning), backed by the wxtoken core, so it shares the
//! legacy `token.txt` / `expiry.txt` files with the old script, C programs and
//! Rust apps, refreshes once per expiry across all processes, and never
//! overwrites a good token with an error answer.
//!
//! PHP functions:
//!
//! - `getToken(mixed ...$ignored): string`: extra arguments are ignored, as
//!   the legacy user function ignored them
//! - `wxtoken_last_error(): string`: why the last call failed, `""` after a success
//! - `wxtoken_invalidate(string $failedToken): bool`
//!
//! Settings come from the legacy constants, then `wxtoken.*` ini entries,
//! then `WX_*` environment variables; see [`settings`]. Caches are built on
//! the first call in each process and kept per settings; see [`registry`].

#![cfg_attr(windows, feature(abi_vectorcall))]

pub mod basedir;
pub mod cwd;
pub mod functions;
pub mod info;
pub mod registry;
pub mod report;
pub mod settings;

use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use ext_php_rs::flags::IniEntryPermission;
use ext_php_rs::prelude::*;
use ext_php_rs::zend::{IniEntryDef, IniEntryDefs};
use wxtoken::AppCache;

use crate::settings::{EXPIRY_FILE, TICKET_DIR, TOKEN_FILE};

thread_local! {
    /// Why the last call on this thread failed; empty after a success. One
    /// thread runs one request at a time, in NTS and ZTS builds alike.
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
}

fn set_last_error(message: &str) {
    LAST_ERROR.with(|e| {
        let mut e = e.borrow_mut();
        e.clear();
        e.push_str(message);
    });
}

fn clear_last_error() {
    // Checked first so the hit path does no write at all in the usual case.
    LAST_ERROR.with(|e| {
        if !e.borrow().is_empty() {
            e.borrow_mut().clear();
        }
    });
}

/// Runs `f`, turning a panic into an error message: nothing may unwind into
/// PHP, and `getToken()` must return `""` rather than throw.
fn guarded<T>(f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| {
        // The payload is not shown: it could quote anything, and the secret
        // must never reach PHP.
        Err("internal error in the wxtoken extension (a Rust panic); please report it".into())
    })
}

/// The cache for the settings in force now, built on the first call with
/// these settings in this process.
fn current_cache() -> Result<Arc<AppCache>, String> {
    let cache = settings::with_found(|found| {
        // Relative names resolve against the current directory at call time,
        // as PHP's own `file_get_contents('token.txt')` does (php-fpm changes
        // it per script), so the directory is part of what selects a cache.
        if [TOKEN_FILE, EXPIRY_FILE, TICKET_DIR]
            .into_iter()
            .any(|i| settings::is_relative(found, i))
        {
            cwd::with_cwd(|cwd| registry::cache_for(found, Some(cwd.unwrap_or_default())))
        } else {
            registry::cache_for(found, None)
        }
    })
    .map_err(|e| e.to_string())?;
    basedir::check(&cache)?;
    Ok(cache)
}

/// Records the outcome of a call for `wxtoken_last_error()`.
fn record<T>(outcome: Result<T, String>) -> Result<T, ()> {
    match outcome {
        Ok(v) => {
            clear_last_error();
            Ok(v)
        }
        Err(message) => {
            match report::pool_load_hint().filter(|_| message.starts_with("configuration error")) {
                Some(hint) => set_last_error(&format!("{message} ({hint})")),
                None => set_last_error(&message),
            }
            Err(())
        }
    }
}

/// The `wxtoken.*` ini entries, one per setting of the core's table. All
/// are empty by default, so that an unset entry falls through to the
/// environment and then to the core's defaults. Settable anywhere (php.ini,
/// pool config, .user.ini, ini_set), as the constants they stand beside
/// could be defined anywhere.
static INI_ENTRIES: IniEntryDefs<{ settings::COUNT + 1 }> = IniEntryDefs::new(ini_entries());

const fn ini_entries() -> [IniEntryDef; settings::COUNT + 1] {
    let mut out = [const { IniEntryDef::end() }; settings::COUNT + 1];
    let mut i = 0;
    while i < settings::COUNT {
        out[i] = IniEntryDef::new(settings::SETTINGS[i].ini, c"", IniEntryPermission::All);
        i += 1;
    }
    out
}

/// MINIT: registers the ini entries and wraps `chdir()` (see [`cwd`]). No
/// cache, thread, socket or file is created here, so php-fpm's master forks
/// clean workers.
extern "C" fn startup(_ty: i32, module_number: i32) -> i32 {
    let registered = catch_unwind(|| {
        IniEntryDef::register(INI_ENTRIES.as_slice(), module_number);
        settings::ini_registered();
        report::note_load();
        cwd::wrap_chdir();
    });
    match registered {
        Ok(()) => 0,
        Err(_) => 1,
    }
}

/// MSHUTDOWN: gives `chdir()` back its own handler before this library can
/// be unloaded. PHP removes the ini entries itself.
extern "C" fn shutdown(_ty: i32, _module_number: i32) -> i32 {
    let _ = catch_unwind(cwd::unwrap_chdir);
    0
}

/// RINIT: a request starts without the previous request's error, and
/// perhaps in another directory.
extern "C" fn request_startup(_ty: i32, _module_number: i32) -> i32 {
    let _ = catch_unwind(|| {
        clear_last_error();
        cwd::request_started();
    });
    0
}

/// The module entry PHP loads.
#[php_module]
pub fn get_module(module: ModuleBuilder) -> ModuleBuilder {
    let module = module
        .name("wxtoken")
        .version(wxtoken::VERSION)
        .startup_function(startup)
        .shutdown_function(shutdown)
        .request_startup_function(request_startup)
        .info_function(info::module_info);
    functions::register(module)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::SETTINGS;

    #[test]
    fn every_setting_has_its_ini_entry() {
        let names: Vec<String> = INI_ENTRIES
            .as_slice()
            .iter()
            .take_while(|e| !e.name.is_null())
            // SAFETY: the names are the C string literals above.
            .map(|e| {
                unsafe { std::ffi::CStr::from_ptr(e.name) }
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        let expected: Vec<&str> = SETTINGS.iter().map(|s| s.ini_name()).collect();
        assert_eq!(names, expected);
    }
}
