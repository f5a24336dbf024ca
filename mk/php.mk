# The PHP extension (crates/wxtoken-php): tests, demo, benchmark, install.
# Included by the root Makefile, which defines CARGO, DEBUG, RELEASE and deps.

PHP        ?= php
PHP_CONFIG ?= php-config
PHP_EXT_DEBUG   := $(DEBUG)/libwxtoken_php.so
PHP_EXT_RELEASE := $(RELEASE)/libwxtoken_php.so
# Calls per function in `make bench-php`.
PHP_BENCH_N ?= 200000

.PHONY: test-php demo-php bench-php bench-race install-php

# .phpt files through PHP's run-tests.php, then the multi-process tests.
test-php: deps ## the PHP suite: .phpt through run-tests.php, 64 processes, php -S
	$(CARGO) build -p wxtoken-php -p wechat-mock
	WX_TARGET=$(DEBUG) WXT_EXT=$(PHP_EXT_DEBUG) PHP=$(PHP) bash php/tests/run.sh

# For scripts/demo.sh, which exports WX_API_BASE, WX_APPID, WX_APPSECRET,
# WX_TOKEN_FILE and WX_EXPIRY_FILE: getToken() reads the same files.
PHP_DEMO_CODE := $$f = getenv("WX_TOKEN_FILE");
PHP_DEMO_CODE += $$before = is_file($$f) ? trim(file_get_contents($$f)) : "";
PHP_DEMO_CODE += $$t = getToken();
PHP_DEMO_CODE += if ($$t === "") { echo "getToken() failed: ", wxtoken_last_error(), "\n"; exit(1); }
PHP_DEMO_CODE += printf("%s... (%d chars): %s\n", substr($$t, 0, 24), strlen($$t),
PHP_DEMO_CODE +=     $$t === $$before ? "the token already in token.txt, no new call" : "fetched, token.txt had none");
demo-php: ## getToken() in PHP against the demo's files (used by make demo)
	@$(CARGO) build -q -p wxtoken-php
	@echo "\$$ php -d extension=wxtoken.so -r 'echo getToken();'   # same WX_* settings"
	@$(PHP) -n -d extension=$(PHP_EXT_DEBUG) -r '$(PHP_DEMO_CODE)'

# Legacy PHP function vs the extension on a warm cache (release build).
bench-php: deps ## legacy getToken() vs the extension on a warm cache
	$(CARGO) build --release -p wxtoken-php
	$(CARGO) build -p wechat-mock
	@WX_TARGET=$(DEBUG) bash -c '. tests/lib.sh; start_mock; cd "$$WX_TMP" && \
	    $(PHP) -n -d extension=$(PHP_EXT_RELEASE) $(CURDIR)/php/bench/bench.php "$$MOCK_URL" $(PHP_BENCH_N)'

# Installs the release build as wxtoken.so into PHP's extension directory and
# enables it: Debian's mods-available + phpenmod, else an ini file in PHP's
# scan directory. DESTDIR-aware (packaging: enabling is left to the package).
PHP_EXT_DIR = $(shell $(PHP_CONFIG) --extension-dir)
PHP_VERSION_MM = $(shell $(PHP_CONFIG) --version | cut -d. -f1,2)
PHP_SCAN_DIR = $(shell $(PHP) --ini | sed -n 's/^Scan for additional .ini files in: *//p')
install-php: deps ## install the extension into PHP's extension dir and enable it
	$(CARGO) build --release -p wxtoken-php
	install -d "$(DESTDIR)$(PHP_EXT_DIR)"
	install -m 0644 "$(PHP_EXT_RELEASE)" "$(DESTDIR)$(PHP_EXT_DIR)/wxtoken.so"
	@if [ -d "/etc/php/$(PHP_VERSION_MM)/mods-available" ]; then \
	    ini="$(DESTDIR)/etc/php/$(PHP_VERSION_MM)/mods-available/wxtoken.ini"; \
	    install -d "$$(dirname "$$ini")"; \
	    printf '; wxtoken: drop-in getToken() for the WeChat access_token\n; priority=20\nextension=wxtoken.so\n' >"$$ini"; \
	    echo "wrote $$ini"; \
	    if [ -z "$(DESTDIR)" ]; then phpenmod -v $(PHP_VERSION_MM) wxtoken && echo "enabled with phpenmod -v $(PHP_VERSION_MM) wxtoken"; \
	    else echo "DESTDIR set: run 'phpenmod -v $(PHP_VERSION_MM) wxtoken' on the target"; fi; \
	elif [ -n "$(PHP_SCAN_DIR)" ] && [ "$(PHP_SCAN_DIR)" != "(none)" ]; then \
	    ini="$(DESTDIR)$(PHP_SCAN_DIR)/20-wxtoken.ini"; \
	    install -d "$$(dirname "$$ini")"; \
	    printf 'extension=wxtoken.so\n' >"$$ini"; echo "wrote $$ini"; \
	else \
	    echo "no ini scan directory: add 'extension=wxtoken.so' to $$($(PHP) --ini | sed -n 's/^Loaded Configuration File: *//p')"; \
	fi
	@echo "installed $(DESTDIR)$(PHP_EXT_DIR)/wxtoken.so; restart PHP-FPM / the web server"

# 64 PHP processes on an expired cache: legacy getToken() vs the extension.
bench-race: deps ## 64 PHP processes on an expired cache: legacy vs extension
	$(CARGO) build -p wxtoken-php -p wechat-mock
	@WX_TARGET=$(DEBUG) WXT_EXT=$(PHP_EXT_DEBUG) PHP=$(PHP) bash php/bench/race.sh

# The extension in production: php-fpm behind nginx under wrk (tests/fpm).
.PHONY: test-fpm
test-fpm: deps ## the extension under real php-fpm behind nginx, driven by wrk
	$(CARGO) build -p wxtoken-php -p wechat-mock
	WX_TARGET=$(DEBUG) WXT_EXT=$(PHP_EXT_DEBUG) bash tests/fpm/run.sh
