//! Gives libwxtoken.so the SONAME distributions expect, `libwxtoken.so.0`:
//! programs linked against it record that name, so a later 0.x library with
//! the same ABI major replaces it without relinking. `make` (mk/ffi.mk)
//! creates the `libwxtoken.so.0` link beside the build output and installs
//! `libwxtoken.so.<version>` with both links.

fn main() {
    let major = env!("CARGO_PKG_VERSION_MAJOR");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libwxtoken.so.{major}");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
