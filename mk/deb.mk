# The PHP extension as a Debian package, for servers without Rust, libclang
# or php-dev: `make deb` on a build machine with the same Debian release and
# PHP as the servers, then `apt install ./php8.2-wxtoken_VERSION_ARCH.deb`
# on each server. Included by the root Makefile (TARGET, RELEASE, CARGO,
# deps); mk/php.mk defines PHP, PHP_CONFIG, PHP_EXT_DIR, PHP_VERSION_MM and
# PHP_EXT_RELEASE. The packaging files are in packaging/deb/.
#
# The package follows Debian's own PHP extension packages (php8.2-redis, built
# with dh-php): named after the PHP it was built for, Depends on that PHP's
# phpapi-YYYYMMDD, Provides php-wxtoken, ships the module ini as a conffile in
# /etc/php/X.Y/mods-available and enables it with phpenmod for every SAPI.

DEB_CARGO_TOML  = $(CURDIR)/Cargo.toml
# [workspace.package] version and repository of Cargo.toml.
DEB_VERSION     = $(shell sed -n '/^\[workspace\.package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' $(DEB_CARGO_TOML))
DEB_HOMEPAGE    = $(shell sed -n '/^\[workspace\.package\]/,/^\[/s/^repository *= *"\(.*\)"/\1/p' $(DEB_CARGO_TOML))
DEB_ARCH        = $(shell dpkg --print-architecture)
DEB_PHPAPI      = $(shell $(PHP_CONFIG) --phpapi)
DEB_PHP_BINARY  = $(shell $(PHP_CONFIG) --php-binary)
DEB_PACKAGE     = php$(PHP_VERSION_MM)-wxtoken
DEB_FILE        = $(TARGET)/$(DEB_PACKAGE)_$(DEB_VERSION)_$(DEB_ARCH).deb
DEB_STAGE       = $(TARGET)/deb/$(DEB_PACKAGE)
DEB_MAINTAINER ?= wxtoken developers <wxtoken@example.invalid>

# ext-php-rs builds for the php and php-config on PATH. When PHP_CONFIG names
# another one (make deb PHP_CONFIG=php-config8.3), cargo gets both, as
# absolute paths; otherwise nothing is set, so that this release build is the
# same one install-php and bench-php use (cargo rebuilds ext-php-rs whenever
# PHP or PHP_CONFIG change).
DEB_CARGO_ENV = $(if $(filter file,$(origin PHP_CONFIG)),,PHP_CONFIG="$$(command -v $(PHP_CONFIG))" PHP="$(DEB_PHP_BINARY)")

DEB_SED = -e 's|@PACKAGE@|$(DEB_PACKAGE)|g' -e 's|@VERSION@|$(DEB_VERSION)|g' \
	-e 's|@ARCH@|$(DEB_ARCH)|g' -e 's|@PHP_VERSION@|$(PHP_VERSION_MM)|g' \
	-e 's|@PHPAPI@|$(DEB_PHPAPI)|g' -e 's|@MAINTAINER@|$(DEB_MAINTAINER)|g' \
	-e 's|@HOMEPAGE@|$(DEB_HOMEPAGE)|g'

.PHONY: deb test-deb

deb: deps ## build php8.2-wxtoken_VERSION_ARCH.deb under target/ (for the PHP of php-config)
	@if [ ! -d "/etc/php/$(PHP_VERSION_MM)/mods-available" ] || ! command -v phpenmod >/dev/null; then \
	    echo "make deb needs Debian's PHP $(PHP_VERSION_MM) (php$(PHP_VERSION_MM)-dev, /etc/php/$(PHP_VERSION_MM)/mods-available, phpenmod)" >&2; exit 1; \
	fi
	@if [ -z "$(DEB_VERSION)" ] || [ -z "$(DEB_PHPAPI)" ] || [ -z "$(DEB_ARCH)" ]; then \
	    echo "make deb: no version in Cargo.toml, no PHP API from $(PHP_CONFIG) or no dpkg architecture" >&2; exit 1; \
	fi
	$(DEB_CARGO_ENV) $(CARGO) build --release -p wxtoken-php
	rm -rf "$(DEB_STAGE)" "$(DEB_FILE)"
	install -d -m 0755 "$(DEB_STAGE)/DEBIAN" "$(DEB_STAGE)$(PHP_EXT_DIR)" \
	    "$(DEB_STAGE)/etc/php/$(PHP_VERSION_MM)/mods-available" "$(DEB_STAGE)/usr/share/doc/$(DEB_PACKAGE)"
	install -m 0644 "$(PHP_EXT_RELEASE)" "$(DEB_STAGE)$(PHP_EXT_DIR)/wxtoken.so"
	strip --strip-unneeded --remove-section=.comment --remove-section=.note "$(DEB_STAGE)$(PHP_EXT_DIR)/wxtoken.so"
	install -m 0644 packaging/deb/wxtoken.ini "$(DEB_STAGE)/etc/php/$(PHP_VERSION_MM)/mods-available/wxtoken.ini"
	install -m 0644 packaging/deb/copyright "$(DEB_STAGE)/usr/share/doc/$(DEB_PACKAGE)/copyright"
	@for s in preinst postinst prerm postrm; do \
	    sed $(DEB_SED) "packaging/deb/$$s.in" >"$(DEB_STAGE)/DEBIAN/$$s" && chmod 0755 "$(DEB_STAGE)/DEBIAN/$$s" || exit 1; \
	done
	@sed $(DEB_SED) packaging/deb/conffiles.in >"$(DEB_STAGE)/DEBIAN/conffiles"
	@# Shared-library dependencies (libc6, libgcc-s1) as dpkg-shlibdeps finds
	@# them, when dpkg-dev is there; it wants a debian/control to read.
	@shlibs=""; \
	if command -v dpkg-shlibdeps >/dev/null; then \
	    mkdir -p "$(TARGET)/deb/shlibs/debian" && \
	    printf 'Source: wxtoken\n\nPackage: $(DEB_PACKAGE)\nArchitecture: any\n' >"$(TARGET)/deb/shlibs/debian/control" && \
	    shlibs=$$(cd "$(TARGET)/deb/shlibs" && dpkg-shlibdeps -O "$(DEB_STAGE)$(PHP_EXT_DIR)/wxtoken.so" 2>/dev/null | \
	        sed -n 's/^shlibs:Depends=//p'); \
	fi; \
	size=$$(du -sk --exclude=DEBIAN "$(DEB_STAGE)" | cut -f1); \
	sed $(DEB_SED) -e "s|@INSTALLED_SIZE@|$$size|" -e "s|@SHLIBS_DEPENDS@|$${shlibs:+, $$shlibs}|" \
	    packaging/deb/control.in >"$(DEB_STAGE)/DEBIAN/control"
	@cd "$(DEB_STAGE)" && find . -type f ! -path './DEBIAN/*' ! -path './etc/*' -printf '%P\n' | sort | \
	    xargs md5sum >DEBIAN/md5sums
	dpkg-deb --root-owner-group --build "$(DEB_STAGE)" "$(DEB_FILE)"
	@echo "built $(DEB_FILE)"
	@echo "install it with: apt install $(DEB_FILE)"

# Installs the package for real (apt-get), checks CLI and FPM, removes and
# purges it; then builds through phpize/configure/make as PIE would. As root.
test-deb: deb ## install, check and purge the .deb (CLI, FPM, dpkg -L), then the PIE build (root)
	@$(MAKE) --no-print-directory deps APT_PACKAGES="php$(PHP_VERSION_MM)-fpm"
	DEB_FILE="$(DEB_FILE)" DEB_PACKAGE="$(DEB_PACKAGE)" PHP_VERSION_MM="$(PHP_VERSION_MM)" \
	    PHP_EXT_DIR="$(PHP_EXT_DIR)" PHP_BIN="$(DEB_PHP_BINARY)" \
	    PHP_CONFIG_BIN="$$(command -v $(PHP_CONFIG))" bash tests/deb/run.sh
