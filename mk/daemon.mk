# wxtoken daemon end to end: tests/daemon/run.sh (mocks, passive PHP readers,
# redis-server, and the real wechatpy and prometheus_client packages from
# PyPI, installed once into a venv under target/, nothing system-wide),
# tests/daemon/repair.sh (passive readers without a secret in CLI, C and PHP;
# self-repair; publishing that heals; refusals) and tests/daemon/scale.sh
# (5,000 apps on one Redis and 1,000 on files under ulimit -n 1024).

PYENV := $(TARGET)/pyenv
# wechatpy imports a crypto backend at start-up; cryptography is one it takes.
PY_PACKAGES := wechatpy redis prometheus-client cryptography

.PHONY: test-daemon pyenv
test-daemon: deps pyenv ## wxtoken daemon end to end (mocks, PHP/C readers, Redis, wechatpy, scale)
	$(CARGO) build -p wxtoken-cli -p wxtoken-php -p wxtoken-ffi -p wechat-mock
	@$(MAKE) --no-print-directory ffi-links
	WXT_PYTHON=$(PYENV)/bin/python bash tests/daemon/all.sh

pyenv: $(PYENV)/.installed ## the venv with wechatpy, redis, prometheus-client under target/
$(PYENV)/.installed:
	python3 -m venv "$(PYENV)"
	"$(PYENV)/bin/pip" install --quiet --disable-pip-version-check $(PY_PACKAGES)
	touch "$@"

# Deploying the daemon: the binary where contrib/systemd/wxtoken.service runs
# it ($(PREFIX)/bin/wxtoken, /usr/local/bin by default) and the unit itself.
# DESTDIR-aware; install-daemon-files takes an already-built binary (the
# daemon suite installs its debug build into a scratch DESTDIR).
DAEMON_BIN ?= $(RELEASE)/wxtoken
SYSTEMD_UNIT_DIR ?= /etc/systemd/system

.PHONY: install-daemon install-daemon-files
install-daemon: ## build (release) and install wxtoken to PREFIX/bin and its systemd unit
	$(CARGO) build --release -p wxtoken-cli
	@$(MAKE) --no-print-directory install-daemon-files

install-daemon-files: ## install an already-built wxtoken (DAEMON_BIN) and the unit (DESTDIR-aware)
	install -D -m 0755 "$(DAEMON_BIN)" "$(DESTDIR)$(PREFIX)/bin/wxtoken"
	install -D -m 0644 contrib/systemd/wxtoken.service "$(DESTDIR)$(SYSTEMD_UNIT_DIR)/wxtoken.service"
	@echo "installed $(DESTDIR)$(PREFIX)/bin/wxtoken and $(DESTDIR)$(SYSTEMD_UNIT_DIR)/wxtoken.service"
