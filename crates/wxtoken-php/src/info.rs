//! The `phpinfo()` section: version and effective settings, secret masked.
//!
//! PHP prints a module's ini entries itself only when it has no info
//! function; having one keeps `wxtoken.appsecret` out of `phpinfo()`, and the
//! settings are shown as the core's `Config::describe()` masks them.

use std::ffi::{c_int, CString};

use ext_php_rs::ffi::{
    php_info_print_table_end, php_info_print_table_header, php_info_print_table_row,
    php_info_print_table_start,
};
use ext_php_rs::zend::ModuleEntry;

use crate::registry;
use crate::settings::{self, SETTINGS};

/// The module's info function, called by `phpinfo()` and `php -i`.
pub extern "C" fn module_info(_module: *mut ModuleEntry) {
    // A panic must not unwind into PHP; a half-printed table is the worst case.
    let _ = std::panic::catch_unwind(print);
}

fn print() {
    start();
    row(&["wxtoken support", "enabled"]);
    row(&["version", wxtoken::VERSION]);
    row(&[
        "settings precedence",
        "php_admin_value > constants > wxtoken.* ini > WX_* environment > defaults",
    ]);
    row(&["caches in this process", &registry::len().to_string()]);
    end();

    start();
    header(&["setting", "effective value", "from"]);
    let outcome = settings::with_found(|found| {
        let sources: Vec<String> = SETTINGS
            .iter()
            .zip(found.iter())
            .map(|(s, f)| match f {
                Some((source, _)) => source.label(s),
                None => "default".to_string(),
            })
            .collect();
        let config = registry::builder_for(found).and_then(|b| {
            b.build()
                .map_err(|e| registry::explain(&e.to_string(), found, None))
        });
        (sources, config)
    });
    match outcome {
        (sources, Ok(config)) => {
            for ((name, value), from) in config.describe().into_iter().zip(sources.iter()) {
                row(&[name, &value, from]);
            }
        }
        (_, Err(message)) => row(&["configuration", &message, ""]),
    }
    end();
}

fn start() {
    // SAFETY: called from PHP's info hook, on the request's thread.
    unsafe { php_info_print_table_start() };
}

fn end() {
    // SAFETY: as for `start`.
    unsafe { php_info_print_table_end() };
}

/// Cells as C strings; an interior NUL (only possible in a bad setting)
/// becomes U+FFFD rather than a panic.
fn cells(cells: &[&str]) -> Vec<CString> {
    cells
        .iter()
        .map(|c| CString::new(c.replace('\0', "\u{fffd}")).unwrap_or_default())
        .collect()
}

fn row(items: &[&str]) {
    let c = cells(items);
    // SAFETY: the row functions are variadic over `char *`; each call below
    // passes exactly as many pointers as it says, all alive until it returns.
    unsafe {
        match c.as_slice() {
            [a, b] => php_info_print_table_row(2 as c_int, a.as_ptr(), b.as_ptr()),
            [a, b, d] => php_info_print_table_row(3 as c_int, a.as_ptr(), b.as_ptr(), d.as_ptr()),
            _ => {}
        }
    }
}

fn header(items: &[&str]) {
    let c = cells(items);
    // SAFETY: as for `row`.
    unsafe {
        if let [a, b, d] = c.as_slice() {
            php_info_print_table_header(3 as c_int, a.as_ptr(), b.as_ptr(), d.as_ptr());
        }
    }
}
