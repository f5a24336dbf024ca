# wxtoken: `make demo` shows it working, `make test` proves it.
# Both install what they need on a fresh Debian machine (apt-get, when root).

CARGO    ?= cargo
PREFIX   ?= /usr/local
TARGET   := $(CURDIR)/target
DEBUG    := $(TARGET)/debug
RELEASE  := $(TARGET)/release

export WX_ROOT := $(CURDIR)

.PHONY: all deps build build-php demo test fmt-check clippy test-rust bench install clean
all: build

# Debian packages the whole project needs: PHP headers and CLI for the
# extension, libclang for its bindgen step, valgrind and pkg-config for the C
# tests, curl for the shell tests, redis-server (and redis-tools) for the
# Redis store's tests, util-linux's setpriv for the two-user security tests,
# python3-venv for the daemon tests' Python packages (mk/daemon.mk).
APT_PACKAGES := php-dev php-cli libclang-dev valgrind pkg-config curl gcc g++ make python3 \
	python3-venv redis-server redis-tools util-linux

deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	    if [ "$$(id -u)" = 0 ]; then \
	        echo "installing:$$missing"; \
	        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	    else \
	        echo "missing Debian packages:$$missing (run as root, or: sudo apt-get install$$missing)"; exit 1; \
	    fi; \
	fi

build:
	$(CARGO) build --workspace --bins --lib

build-php: deps
	$(CARGO) build -p wxtoken-php

fmt-check:
	$(CARGO) fmt --all -- --check

clippy: deps
	$(CARGO) clippy --workspace --all-targets -- -D warnings

test-rust: deps
	$(CARGO) test --workspace

# Every suite; ends with one "total: N passed, N failed" line (scripts/test.sh).
test: deps
	@MAKE="$(MAKE)" bash scripts/test.sh

demo: deps
	@bash scripts/demo.sh

bench: deps
	@bash scripts/bench.sh

install: install-c

clean:
	$(CARGO) clean

# Per-part targets (test-c, test-php, install-c, install-php, ...).
include $(wildcard mk/*.mk)
