#!/usr/bin/env bash
# Checks of the project's own tooling (`make test-tooling`): `make help`
# lists every target of the Makefile and mk/*.mk, with a line each; the
# benchmarks still build; and the suites and benchmarks that start servers
# stop everything they started and write nothing into the checkout (#26).
# Needs the debug builds of wxtoken-php and wechat-mock (mk/tooling.mk), and
# root, php-fpm and nginx for the stacks, as `make test-fpm` does.

. "$(dirname "$0")/../lib.sh"
cd "$WX_ROOT" || exit 1

help=$(make --no-print-directory help)
targets=$(grep -hoE '^[a-zA-Z][a-zA-Z0-9_.-]*:([^=]|$)' Makefile mk/*.mk | sed 's/:.*//' | sort -u)
missing=
for t in $targets; do
    grep -qE "^  $t +[^ ]" <<<"$help" || missing="$missing $t"
done
check "make help lists every target with a description ($(wc -w <<<"$targets") targets${missing:+; missing:$missing})" \
    test -z "$missing"

# The benchmarks are not run here (they measure, they do not test), but they
# must still build and parse, so they cannot rot.
check "the C benchmark compiles against the header" \
    gcc -std=c99 -Wall -Wextra -Werror -I"$WX_ROOT/include" -fsyntax-only "$WX_ROOT/tests/c/bench_hit.c"
check "the PHP benchmark parses" php -l "$WX_ROOT/php/bench/bench.php"
check "the benchmark scripts parse" bash -n "$WX_ROOT/scripts/bench.sh" "$WX_ROOT"/scripts/bench/*.sh
printf 'RESULT c_hit 100\nRESULT c_floor 80\nRESULT c_legacy 1000\nRESULT php_hit 300\nRESULT php_empty_call 150\nRESULT php_legacy 3000\nRESULT herd_cli_8_calls 1\nRESULT herd_cli_8_tokens 1\nRESULT herd_cli_8_ms 40\n' >"$WX_TMP/results.txt"
check "the BENCHMARKS.md writer renders ratios from RESULT lines" \
    bash -c 'python3 "$1/scripts/bench/report.py" "$2/results.txt" "$2/B.md" && grep -q "| C \`wx_get_token()\` | 100 ns | 10.0x | 1.2x |" "$2/B.md"' \
    _ "$WX_ROOT" "$WX_TMP"

# ---------------------------------------------------------------- leaks (#26)
# Each command runs under reaper.py, a child subreaper: whatever it starts is
# re-parented there, not to init, so what is still alive once the command
# has ended is exactly what it left behind, whatever its name, session or
# process group. The command runs from the checkout, as under make; the
# checkout must be as it was after it, build outputs under target/ aside.
REAPER=$WX_ROOT/tests/tooling/reaper.py
checkout_state() {
    git -C "$WX_ROOT" status --porcelain --ignored 2>/dev/null | grep -v -e '^.. target/' -e '^.. "target/'
}

# no_leaks WHAT NAME REAPER-OPTIONS... -- CMD...: passes when CMD ends as
# expected, leaves no process behind and nothing new in the checkout.
no_leaks() {
    local what=$1 log=$WX_TMP/leak-$2.log before after report rc
    shift 2
    before=$(checkout_state)
    report=$(python3 "$REAPER" --log "$log" "$@")
    rc=$?
    after=$(checkout_state)
    sed 's/^/# /' <<<"$report"
    if [ "$before" != "$after" ]; then
        echo "# the checkout changed (git status --porcelain --ignored, target/ aside):"
        diff <(echo "$before") <(echo "$after") | sed -n 's/^[<>] /#     /p'
        rc=1
    fi
    if [ "$rc" -ne 0 ]; then
        echo "# its last lines ($log):"
        tail -n 12 "$log" | sed 's/^/#     /'
    fi
    check "$what" test "$rc" = 0
}

# The check itself: a command that leaves a process behind fails it.
check "the leak check sees a process left behind (and stops it)" \
    bash -c '! python3 "$1" -- bash -c "sleep 300 & exit 0" >/dev/null' _ "$REAPER"

export WX_TARGET
no_leaks "the PHP suite's 64 processes and php -S workers (php/tests/run.sh --no-phpt): none outlives it" php \
    -- bash php/tests/run.sh --no-phpt
no_leaks "php-fpm and nginx stopped by stack_stop (tests/fpm/stack.sh): no worker outlives them" stop \
    --ready READY --status 0 -- bash tests/tooling/leak_stack.sh stop
no_leaks "a suite exiting with php-fpm and nginx up: its exit trap stops every process" exit \
    --ready READY --status 1 -- bash tests/tooling/leak_stack.sh exit
no_leaks "Ctrl-C (SIGINT to the suite's process group) with php-fpm and nginx up: every process stopped" int \
    --ready READY --signal INT --status 130 -- bash tests/tooling/leak_stack.sh wait
no_leaks "SIGTERM to the suite alone with php-fpm and nginx up: every process stopped" term \
    --ready READY --signal TERM --status 143 -- bash tests/tooling/leak_stack.sh wait
no_leaks "the benchmark's nginx + php-fpm (scripts/bench/stack.sh, 1 s runs): nothing outlives it" bench \
    --ready RESULT\ fpm_ext_expiring_rps -- env BENCH_WRK_SECS=1 bash scripts/bench/stack.sh

summary
