# Fuzzing the parsers of untrusted input (fuzz/): the token answer, the
# legacy files, the failure note. Not part of `make test` (it runs for a
# fixed time, not to a verdict). Needs the nightly toolchain (rustup) and
# cargo-fuzz, which this target installs from crates.io when missing.
FUZZ_SECS ?= 60
FUZZ_TARGETS := answer files note

.PHONY: fuzz
fuzz: ## run each cargo-fuzz target for FUZZ_SECS (nightly; not in make test)
	@command -v cargo-fuzz >/dev/null || $(CARGO) install --locked cargo-fuzz
	@for t in $(FUZZ_TARGETS); do \
	    echo "== fuzz $$t for $(FUZZ_SECS) s"; \
	    mkdir -p target/fuzz-corpus/$$t; \
	    (cd fuzz && $(CARGO) +nightly fuzz run $$t ../target/fuzz-corpus/$$t corpus/$$t -- \
	        -max_total_time=$(FUZZ_SECS) -max_len=4096) || exit 1; \
	done
