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
	@rc=0; \
	WXT_PYTHON=$(PYENV)/bin/python bash tests/daemon/run.sh || rc=1; \
	bash tests/daemon/repair.sh || rc=1; \
	bash tests/daemon/scale.sh || rc=1; \
	exit $$rc

pyenv: $(PYENV)/.installed ## the venv with wechatpy, redis, prometheus-client under target/
$(PYENV)/.installed:
	python3 -m venv "$(PYENV)"
	"$(PYENV)/bin/pip" install --quiet --disable-pip-version-check $(PY_PACKAGES)
	touch "$@"
