#!/usr/bin/env bash
# `make test`: every suite in turn, each one's output shown as it runs, then
# one closing line counting every test of every suite:
#
#     total: N passed, N failed
#
# A suite that fails does not stop the others (a newcomer sees everything that
# is wrong at once); the exit status is non-zero when anything failed.
#
# Counting: `cargo test` prints "test result: ... N passed; N failed" per test
# binary; the shell suites (tests/lib.sh) end with "N passed, N failed"; a
# step with no counts of its own (fmt, clippy) counts as one test. A step
# that exits non-zero without reporting a failure counts one failure more, so
# a crash or a build error can never pass unseen.

set -u
cd "$(dirname "$0")/.."
MAKE=${MAKE:-make}
LOGS=$(mktemp -d "${TMPDIR:-/tmp}/wxtoken-make-test.XXXXXX")
trap 'rm -rf "$LOGS"' EXIT

total_passed=0
total_failed=0
results=()

# step NAME CMD...: runs CMD, shows and keeps its output, adds its counts.
step() {
    local name=$1 log="$LOGS/$1.log" rc passed=0 failed=0 p f
    shift
    echo "=== $name: $*"
    "$@" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    # cargo test: "test result: ok. 12 passed; 0 failed; 0 ignored; ..."
    while read -r p f; do
        passed=$((passed + p))
        failed=$((failed + f))
    done < <(sed -n 's/^test result: [A-Za-z]*\. \([0-9]*\) passed; \([0-9]*\) failed.*/\1 \2/p' "$log")
    # shell suites: a last "N passed, N failed" line of their own.
    read -r p f < <(sed -n 's/^\([0-9][0-9]*\) passed, \([0-9][0-9]*\) failed$/\1 \2/p' "$log" | tail -n 1)
    if [ -n "${p:-}" ]; then
        passed=$((passed + p))
        failed=$((failed + f))
    fi
    if [ $((passed + failed)) -eq 0 ]; then
        # A step without counts of its own: one check.
        if [ "$rc" -eq 0 ]; then passed=1; else failed=1; fi
    elif [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
        failed=1
    fi
    total_passed=$((total_passed + passed))
    total_failed=$((total_failed + failed))
    results+=("$(printf '%-12s %5d passed, %d failed' "$name:" "$passed" "$failed")")
}

step fmt "$MAKE" --no-print-directory fmt-check
step tooling "$MAKE" --no-print-directory test-tooling
step clippy "$MAKE" --no-print-directory clippy
step rust "$MAKE" --no-print-directory test-rust
step c "$MAKE" --no-print-directory test-c
step php "$MAKE" --no-print-directory test-php
step crash "$MAKE" --no-print-directory test-crash
step tickets "$MAKE" --no-print-directory test-tickets
step wecom "$MAKE" --no-print-directory test-wecom
step fpm "$MAKE" --no-print-directory test-fpm
step deb "$MAKE" --no-print-directory test-deb
step security "$MAKE" --no-print-directory test-security
step redis "$MAKE" --no-print-directory test-redis
step redis-ha "$MAKE" --no-print-directory test-redis-ha
step db "$MAKE" --no-print-directory test-db
step daemon "$MAKE" --no-print-directory test-daemon

echo
echo "=== summary"
printf '%s\n' "${results[@]}"
echo "total: $total_passed passed, $total_failed failed"
[ "$total_failed" -eq 0 ]
