# wxtoken: `make demo` shows it working, `make test` proves it.
# Both install what they need on a fresh Debian machine (apt-get, when root).

CARGO    ?= cargo
PREFIX   ?= /usr/local
TARGET   := $(CURDIR)/target
DEBUG    := $(TARGET)/debug
RELEASE  := $(TARGET)/release

export WX_ROOT := $(CURDIR)

.PHONY: all help deps build build-php demo test fmt-check clippy test-rust bench bench-publish install clean
all: build ## build the workspace (default)

help: ## this list: every target, one line each
	@grep -hE '^[a-zA-Z][a-zA-Z0-9_.-]*:[^=].*## ' $(MAKEFILE_LIST) | sort | \
	    awk -F':.*## ' '{ printf "  %-16s %s\n", $$1, $$2 }'

# Debian packages the whole project needs: PHP headers and CLI for the
# extension, libclang for its bindgen step, valgrind and pkg-config for the C
# tests, curl for the shell tests, redis-server (and redis-tools) for the
# Redis store's tests, util-linux's setpriv for the two-user security tests,
# python3-venv for the daemon tests' Python packages (mk/daemon.mk), php-fpm,
# nginx and wrk for the production-stack tests (tests/fpm), strace to kill a
# refresh at each of its steps (tests/crash), mariadb-server and postgresql
# (with their clients) for the database store's tests (tests/db), openssl for
# the throwaway CAs of the database and Redis TLS tests (tests/db,
# tests/redis/ha.sh).
APT_PACKAGES := php-dev php-cli libclang-dev valgrind pkg-config curl gcc g++ make python3 \
	python3-venv redis-server redis-tools util-linux php-fpm nginx wrk strace \
	mariadb-server mariadb-client postgresql postgresql-client openssl

deps: ## install the Debian packages the project needs (as root), or list them
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

build: ## cargo build of every crate but the PHP extension
	$(CARGO) build --workspace --bins --lib

build-php: deps ## build the PHP extension (needs php-dev, libclang)
	$(CARGO) build -p wxtoken-php

fmt-check: ## cargo fmt --check
	$(CARGO) fmt --all -- --check

clippy: deps ## cargo clippy on every target, warnings as errors
	$(CARGO) clippy --workspace --all-targets -- -D warnings

test-rust: deps ## cargo test --workspace (core, CLI, mock, FFI, PHP crate units)
	$(CARGO) test --workspace

# Every suite; ends with one "total: N passed, N failed" line (scripts/test.sh).
test: deps ## every suite, ending with one "total: N passed, N failed" line
	@MAKE="$(MAKE)" bash scripts/test.sh

demo: deps ## fetch a token once against a local mock, reuse it from CLI, C and PHP
	@bash scripts/demo.sh

bench: deps ## measure every front end vs the legacy script and the floor; writes target/bench/BENCHMARKS.md
	@bash scripts/bench.sh

bench-publish: ## copy the last make bench's report over the committed BENCHMARKS.md
	@test -f $(TARGET)/bench/BENCHMARKS.md || { echo "run make bench first"; exit 1; }
	cp $(TARGET)/bench/BENCHMARKS.md BENCHMARKS.md

install: install-c ## install the C library, header and wxtoken.pc under PREFIX

clean: ## cargo clean
	$(CARGO) clean

# Per-part targets (test-c, test-php, install-c, install-php, ...).
include $(wildcard mk/*.mk)
