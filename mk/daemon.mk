# wxtoken daemon end to end (tests/daemon/run.sh): mocks, passive PHP readers,
# redis-server, and the real wechatpy and prometheus_client packages from
# PyPI, installed once into a venv under target/ (nothing system-wide).

PYENV := $(TARGET)/pyenv
# wechatpy imports a crypto backend at start-up; cryptography is one it takes.
PY_PACKAGES := wechatpy redis prometheus-client cryptography

.PHONY: test-daemon pyenv
test-daemon: deps pyenv ## wxtoken daemon end to end (mocks, PHP readers, Redis, wechatpy)
	$(CARGO) build -p wxtoken-cli -p wxtoken-php -p wechat-mock
	WXT_PYTHON=$(PYENV)/bin/python bash tests/daemon/run.sh

pyenv: $(PYENV)/.installed ## the venv with wechatpy, redis, prometheus-client under target/
$(PYENV)/.installed:
	python3 -m venv "$(PYENV)"
	"$(PYENV)/bin/pip" install --quiet --disable-pip-version-check $(PY_PACKAGES)
	touch "$@"
