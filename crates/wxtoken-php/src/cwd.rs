//! The current directory, which relative cache file names depend on, known
//! without a `getcwd` on every call.
//!
//! The legacy `getToken()` opened `'token.txt'` relative to the directory the
//! request runs in, and so does the core. The per-settings cache must follow
//! the directory too (php-fpm changes it to each script's directory), but a
//! `getcwd` costs as much as the rest of a cache hit.
//!
//! On an NTS PHP, while the main script runs, the directory only changes when
//! PHP code calls `chdir()`: the SAPI changes into the script's directory
//! after RINIT and before the script starts, and back only after it ends (so
//! shutdown functions and late destructors run in the old directory). Hence:
//! while the main script runs, the directory is read at the first call of the
//! request and again after any `chdir()`, which this module wraps; at any
//! other time (shutdown functions, destructors, fibers), or if `chdir()`
//! cannot be wrapped, it is read on every call.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use ext_php_rs::ffi::{zend_execute_data, zend_function, zval, HashTable};
use ext_php_rs::types::ZendHashTable;

/// Bumped when the directory may have changed: each request start and each
/// `chdir()`.
static GENERATION: AtomicU64 = AtomicU64::new(1);
/// Whether `chdir()` is wrapped, so that [`GENERATION`] can be trusted.
static WRAPPED: AtomicBool = AtomicBool::new(false);
/// PHP's own `chdir()` handler, as a `usize` (0: none).
static ORIGINAL: AtomicUsize = AtomicUsize::new(0);

type Handler = unsafe extern "C" fn(*mut zend_execute_data, *mut zval);

thread_local! {
    /// The directory last read and the generation it was read in.
    static CACHED: RefCell<(u64, Option<Vec<u8>>)> = const { RefCell::new((0, None)) };
}

/// Runs `f` with the current directory (`None` if it cannot be read, e.g.
/// removed).
pub fn with_cwd<R>(f: impl FnOnce(Option<&[u8]>) -> R) -> R {
    if !WRAPPED.load(Ordering::Acquire) || !in_main_script() {
        return f(read_cwd().as_deref());
    }
    let generation = GENERATION.load(Ordering::Acquire);
    CACHED.with(|c| {
        let mut c = c.borrow_mut();
        if c.0 != generation {
            *c = (generation, read_cwd());
        }
        f(c.1.as_deref())
    })
}

/// Whether the call comes from the main script (or code it calls), whose
/// frames all sit on top of the script's top-level code. A shutdown function,
/// a destructor run at shutdown or a fiber has its own bottom frame instead.
fn in_main_script() -> bool {
    // SAFETY: the executor globals live for the process; the frames form a
    // NULL-terminated list that PHP keeps valid while this call runs.
    unsafe {
        let Some(globals) = ext_php_rs::ffi::ext_php_rs_executor_globals().as_ref() else {
            return false;
        };
        let mut frame = globals.current_execute_data;
        if frame.is_null() {
            return false;
        }
        while !(*frame).prev_execute_data.is_null() {
            frame = (*frame).prev_execute_data;
        }
        let func = (*frame).func;
        !func.is_null()
            && (*func).type_ == ext_php_rs::ffi::ZEND_USER_FUNCTION as u8
            && (*func).op_array.function_name.is_null()
    }
}

fn read_cwd() -> Option<Vec<u8>> {
    use std::os::unix::ffi::OsStringExt;
    std::env::current_dir()
        .ok()
        .map(|p| p.into_os_string().into_vec())
}

/// RINIT: the SAPI may change directory before the script runs.
pub fn request_started() {
    GENERATION.fetch_add(1, Ordering::AcqRel);
}

/// Replaces `chdir()`'s handler with one that notes the change. Called once
/// at MINIT, when ext/standard's functions are registered and nothing runs.
pub fn wrap_chdir() {
    let Some(handler) = chdir_handler() else {
        return;
    };
    // SAFETY: MINIT runs before any request, on the only thread.
    unsafe {
        if let Some(original) = *handler {
            if original as usize != ours() {
                ORIGINAL.store(original as usize, Ordering::Release);
                *handler = Some(noting_chdir);
            }
            WRAPPED.store(true, Ordering::Release);
        }
    }
}

/// MSHUTDOWN: puts PHP's handler back before this library may be unloaded.
pub fn unwrap_chdir() {
    let original = ORIGINAL.swap(0, Ordering::AcqRel);
    WRAPPED.store(false, Ordering::Release);
    if original == 0 {
        return;
    }
    if let Some(handler) = chdir_handler() {
        // SAFETY: `original` was read from this slot by `wrap_chdir`.
        unsafe {
            if (*handler).is_some_and(|h| h as usize == ours()) {
                *handler = Some(std::mem::transmute::<usize, Handler>(original));
            }
        }
    }
}

/// The handler slot of the internal function `chdir`, if it is registered
/// (it is not when listed in `disable_functions`).
fn chdir_handler() -> Option<*mut Option<Handler>> {
    // SAFETY: the compiler globals and the function table live for the
    // process (the executor's pointer to the table is only set per request);
    // the table stores `zend_function` pointers.
    unsafe {
        let globals = ext_php_rs::ffi::ext_php_rs_compiler_globals().as_ref()?;
        let table: &ZendHashTable = globals
            .function_table
            .cast_const()
            .cast::<HashTable>()
            .as_ref()?;
        let func = table.get("chdir")?.ptr::<zend_function>()?;
        if func.is_null() || (*func).type_ != ext_php_rs::ffi::ZEND_INTERNAL_FUNCTION as u8 {
            return None;
        }
        Some(&raw mut (*func).internal_function.handler)
    }
}

/// The address of [`noting_chdir`], to recognise it in the slot.
fn ours() -> usize {
    noting_chdir as Handler as usize
}

/// `chdir()` as PHP defines it, then a note that the directory changed.
unsafe extern "C" fn noting_chdir(execute_data: *mut zend_execute_data, return_value: *mut zval) {
    // Noted before as well: should the call bail out (a fatal error unwinds
    // with longjmp), the change is still seen.
    GENERATION.fetch_add(1, Ordering::AcqRel);
    let original = ORIGINAL.load(Ordering::Acquire);
    if original != 0 {
        // SAFETY: the value was PHP's own handler for this function.
        let original: Handler = unsafe { std::mem::transmute::<usize, Handler>(original) };
        unsafe { original(execute_data, return_value) };
    }
    GENERATION.fetch_add(1, Ordering::AcqRel);
}
