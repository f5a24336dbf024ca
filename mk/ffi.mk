# The C library, libwxtoken (crates/wxtoken-ffi): test-c, header, install-c,
# demo-c. Included by the root Makefile, which sets CARGO, PREFIX, DEBUG and
# RELEASE; the defaults here only matter when this file is used alone.

CARGO      ?= cargo
PREFIX     ?= /usr/local
DEBUG      ?= $(CURDIR)/target/debug
RELEASE    ?= $(CURDIR)/target/release
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
# Where install-c-files takes the libraries from (the tests stage a debug build).
FFI_LIB_DIR ?= $(RELEASE)
FFI_VERSION := $(shell sed -n 's/^version *= *"\(.*\)"/\1/p' $(CURDIR)/Cargo.toml | head -n 1)
FFI_MAJOR   := $(firstword $(subst ., ,$(FFI_VERSION)))
# The SONAME (crates/wxtoken-ffi/build.rs) and the installed file names.
FFI_SONAME  := libwxtoken.so.$(FFI_MAJOR)
FFI_REAL    := libwxtoken.so.$(FFI_VERSION)
FFI_CFLAGS := -std=c99 -Wall -Wextra -Werror -I$(CURDIR)/include

.PHONY: test-c header install-c install-c-files demo-c bench-c ffi-links

# Programs linked against libwxtoken.so look for its SONAME at run time: put
# that link beside each build output.
ffi-links: ## put the libwxtoken.so.0 SONAME link beside the build outputs
	@for d in $(DEBUG) $(RELEASE); do \
	    if [ -f "$$d/libwxtoken.so" ]; then ln -sf libwxtoken.so "$$d/$(FFI_SONAME)"; fi; \
	done

# C programs against include/wxtoken.h and wechat-mock, linked both ways,
# plus valgrind; see tests/c/run.sh.
test-c: deps ## the C suite: gcc/g++ against the header, both linkings, valgrind, pkg-config
	$(CARGO) build -p wxtoken-ffi -p wechat-mock
	@$(MAKE) --no-print-directory ffi-links
	FFI_VERSION=$(FFI_VERSION) FFI_SONAME=$(FFI_SONAME) bash tests/c/run.sh

# Regenerates include/wxtoken.h (crates/wxtoken-ffi/tests/header.rs fails
# while the committed one is stale).
header: ## regenerate include/wxtoken.h with cbindgen
	WXTOKEN_WRITE_HEADER=1 $(CARGO) test -q -p wxtoken-ffi --test header

# Header, libwxtoken.so, libwxtoken.a (release) and wxtoken.pc under
# $(DESTDIR)$(PREFIX).
install-c: ## build and install libwxtoken (.so.VERSION, .so.0, .so, .a), header, wxtoken.pc
	$(CARGO) build --release -p wxtoken-ffi
	@$(MAKE) --no-print-directory ffi-links install-c-files

install-c-files: ## install already-built C files from FFI_LIB_DIR (DESTDIR-aware)
	install -d "$(DESTDIR)$(INCLUDEDIR)" "$(DESTDIR)$(LIBDIR)/pkgconfig"
	install -m 644 include/wxtoken.h "$(DESTDIR)$(INCLUDEDIR)/wxtoken.h"
	install -m 755 "$(FFI_LIB_DIR)/libwxtoken.so" "$(DESTDIR)$(LIBDIR)/$(FFI_REAL)"
	ln -sf "$(FFI_REAL)" "$(DESTDIR)$(LIBDIR)/$(FFI_SONAME)"
	ln -sf "$(FFI_SONAME)" "$(DESTDIR)$(LIBDIR)/libwxtoken.so"
	install -m 644 "$(FFI_LIB_DIR)/libwxtoken.a" "$(DESTDIR)$(LIBDIR)/libwxtoken.a"
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' -e 's|@VERSION@|$(FFI_VERSION)|g' \
	    crates/wxtoken-ffi/wxtoken.pc.in >"$(DESTDIR)$(LIBDIR)/pkgconfig/wxtoken.pc"
	chmod 644 "$(DESTDIR)$(LIBDIR)/pkgconfig/wxtoken.pc"
	@# The loader's cache, for programs linked without pkg-config's rpath.
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && command -v ldconfig >/dev/null; then ldconfig; fi

# For `make demo`: the C example on the files and mock the caller's
# environment names (WX_API_BASE, WX_APPID, WX_APPSECRET, WX_TOKEN_FILE,
# WX_EXPIRY_FILE).
demo-c: ## the C example against the demo's files (used by make demo)
	@$(CARGO) build -q -p wxtoken-ffi
	@$(MAKE) --no-print-directory ffi-links
	@mkdir -p $(DEBUG)/c
	@$(CC) $(FFI_CFLAGS) examples/get_token.c -L$(DEBUG) -Wl,-rpath,$(DEBUG) -lwxtoken -o $(DEBUG)/c/get_token
	@echo '$$ get_token       # examples/get_token.c: wx_get_token() from libwxtoken'
	@token=$$($(DEBUG)/c/get_token) || exit 1; echo "$$token"; \
	if [ -n "$${WX_TOKEN_FILE:-}" ]; then \
	    if [ "$$token" = "$$(cat "$$WX_TOKEN_FILE")" ]; then \
	        echo "(the token in $$(basename "$$WX_TOKEN_FILE"): read from the shared files)"; \
	    else echo "differs from $$WX_TOKEN_FILE"; exit 1; fi; \
	fi

# For `make bench`: a cache hit through the C API (release build) next to
# the legacy read-both-files approach in C. Figures only.
bench-c: ## C hit-path benchmark (release)
	@$(CARGO) build -q --release -p wxtoken-ffi
	@$(MAKE) --no-print-directory ffi-links
	@mkdir -p $(RELEASE)/c
	@$(CC) $(FFI_CFLAGS) -O2 tests/c/bench_hit.c -L$(RELEASE) -Wl,-rpath,$(RELEASE) -lwxtoken -lpthread -o $(RELEASE)/c/bench_hit
	@$(RELEASE)/c/bench_hit
