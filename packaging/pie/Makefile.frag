# Appended to the Makefile that phpize and ./configure write (config.m4).
#
# make:         cargo build --release -p wxtoken-php, then the library is
#               copied to modules/wxtoken.so (what PIE looks for).
# make install: copies modules/wxtoken.so into PHP's extension directory,
#               and nothing else: PIE runs it with sudo when that directory
#               is not writable, and root may not have cargo.
#
# Cargo's target directory is the tree's own target/ (CARGO_TARGET_DIR if
# set), so a second build is incremental.

WXTOKEN_TARGET_DIR = $(if $(CARGO_TARGET_DIR),$(CARGO_TARGET_DIR),$(WXTOKEN_ROOT)/target)
WXTOKEN_LIB = $(WXTOKEN_TARGET_DIR)/release/libwxtoken_php.so

all: wxtoken-cargo-build

wxtoken-cargo-build:
	cd "$(WXTOKEN_ROOT)" && $(WXTOKEN_CARGO_ENV) "$(CARGO)" build --release --locked -p wxtoken-php --target-dir "$(WXTOKEN_TARGET_DIR)"
	@test -d "$(phplibdir)" || mkdir -p "$(phplibdir)"
	rm -f "$(phplibdir)/wxtoken.so"
	cp "$(WXTOKEN_LIB)" "$(phplibdir)/wxtoken.so"

install-modules: wxtoken-check-built

wxtoken-check-built:
	@test -f "$(phplibdir)/wxtoken.so" || { \
	    echo "$(phplibdir)/wxtoken.so is missing: run make (as the user who has cargo) before make install" >&2; exit 1; }

.PHONY: wxtoken-cargo-build wxtoken-check-built
