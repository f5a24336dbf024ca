//! `include/wxtoken.h` is generated, and committed so that C users need no
//! Rust tooling to read it. This test fails when it no longer matches the
//! source; `make header` (or WXTOKEN_WRITE_HEADER=1 with this test) rewrites it.

use std::path::{Path, PathBuf};

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The header cbindgen makes from `src/` with `cbindgen.toml`.
fn generate() -> String {
    let dir = crate_dir();
    let config =
        cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("read cbindgen.toml");
    // `with_src` follows `mod` declarations from lib.rs without running
    // `cargo metadata`, so this test needs no lock and no network.
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(dir.join("src/lib.rs"))
        .generate()
        .expect("cbindgen could not generate the header");
    let mut out = Vec::new();
    bindings.write(&mut out);
    String::from_utf8(out).expect("header is UTF-8")
}

fn header_path() -> PathBuf {
    crate_dir().join("../../include/wxtoken.h")
}

#[test]
fn committed_header_matches_the_source() {
    let fresh = generate();
    let path = header_path();
    if std::env::var_os("WXTOKEN_WRITE_HEADER").is_some_and(|v| v == "1") {
        std::fs::write(&path, &fresh).expect("write include/wxtoken.h");
        eprintln!("wrote {}", path.display());
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != fresh {
        let first = committed
            .lines()
            .zip(fresh.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| committed.lines().count().min(fresh.lines().count()));
        panic!(
            "include/wxtoken.h is stale (first difference at line {}).\n\
             Regenerate it with `make header` \
             (WXTOKEN_WRITE_HEADER=1 cargo test -p wxtoken-ffi --test header) and commit it.",
            first + 1
        );
    }
}

#[test]
fn header_declares_the_whole_api() {
    let h = generate();
    for needle in [
        "#define WX_TOKEN_BUF_LEN 513",
        "WX_OK = 0",
        "WX_ERR_PANIC = -9",
        "int wx_get_token(const char *appid,",
        "size_t wx_last_error(char *buf, size_t len);",
        "long wx_last_errcode(void);",
        "const char *wx_version(void);",
        "typedef struct wx_config_builder wx_config_builder;",
        "typedef struct wx_cache wx_cache;",
        "struct wx_config_builder *wx_config_builder_new(void);",
        "int wx_config_builder_set(struct wx_config_builder *b, const char *name, const char *value);",
        "int wx_config_builder_from_env(struct wx_config_builder *b);",
        "void wx_config_builder_free(struct wx_config_builder *b);",
        "int wx_cache_new(const struct wx_config_builder *b, struct wx_cache **out);",
        "int wx_cache_get_token(struct wx_cache *c, char *out, size_t out_len);",
        "int wx_cache_refresh(struct wx_cache *c, char *out, size_t out_len);",
        "int wx_cache_invalidate(struct wx_cache *c, const char *failed_token);",
        "void wx_cache_free(struct wx_cache *c);",
        "typedef void (*wx_log_fn)(void *userdata, int level, const char *message);",
        "void wx_set_log_callback(wx_log_fn f, void *userdata);",
        "WX_LOG_ERROR = 3",
        "WX_LOG_WARNING = 4",
        "#ifndef WXTOKEN_H",
        "extern \"C\"",
    ] {
        assert!(h.contains(needle), "header lacks {needle:?}:\n{h}");
    }
    assert!(Path::new(&crate_dir()).join("cbindgen.toml").exists());
}
