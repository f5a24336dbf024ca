#!/usr/bin/env bash
# `make test-daemon`: the daemon's suites in turn (run.sh, repair.sh, fpm.sh,
# scale.sh), each to the end whatever the others did, then one
# "N passed, N failed" line over all three (scripts/test.sh reads the last
# such line of a step). Non-zero when any suite failed or ended abnormally.
set -u
dir=$(dirname "$0")
passed=0
failed=0
for suite in run.sh repair.sh fpm.sh scale.sh; do
    log=$(mktemp)
    bash "$dir/$suite" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    counts=$(sed -n 's/^\([0-9][0-9]*\) passed, \([0-9][0-9]*\) failed$/\1 \2/p' "$log" | tail -n 1)
    rm -f "$log"
    if [ -z "$counts" ]; then
        echo "FAIL - $suite ended without its counts (exit $rc)"
        failed=$((failed + 1))
        continue
    fi
    read -r p f <<<"$counts"
    passed=$((passed + p))
    failed=$((failed + f))
    # A suite that exits non-zero with no failure counted still fails.
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "FAIL - $suite exited $rc"
        failed=$((failed + 1))
    fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
