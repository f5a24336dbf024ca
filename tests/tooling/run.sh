#!/usr/bin/env bash
# Checks of the project's own tooling (`make test-tooling`): `make help`
# lists every target of the Makefile and mk/*.mk, with a line each.

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

summary
