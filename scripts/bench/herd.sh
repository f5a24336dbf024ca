#!/usr/bin/env bash
# Herd: N processes find the token expired at the same moment (N = 8, 32,
# 128), for the legacy PHP function, the CLI, the PHP extension and a C
# program. Prints upstream calls, distinct tokens and the wall time from the
# go to the last process's exit, and RESULT lines for BENCHMARKS.md.
# Needs release builds in $WX_TARGET (scripts/bench.sh makes them).
. "$(dirname "$0")/../../tests/lib.sh"
cd "$WX_TMP" || exit 1

PHP=${PHP:-php}
bin=$WX_TMP/bin
mkdir -p "$bin"
cp "$WX_TARGET/wxtoken" "$WX_TARGET/libwxtoken_php.so" "$bin/"
cc -std=c99 -O2 -I"$WX_ROOT/include" "$WX_ROOT/tests/c/api_test.c" -L"$WX_TARGET" \
    -Wl,-rpath,"$WX_TARGET" -lwxtoken -lpthread -o "$bin/api_dynamic" || exit 1
export WXT_BIN=$bin WX_APPID=wx_test_appid WX_APPSECRET=test_secret_0123456789 WX_HTTP_TIMEOUT=60
unset WX_REDIS_URL WX_PASSIVE WX_CA_FILE WX_APPSECRET_FILE WX_REFRESH_MARGIN WX_TOKEN_MODE

herd() {
    local kind=$1 n=$2 dir=$WX_TMP/$1-$2
    mkdir -p "$dir"
    printf 'stale_token' >"$dir/token.txt"
    printf '1' >"$dir/expiry.txt"
    start_mock
    export WX_API_BASE=$MOCK_URL WX_TOKEN_FILE=$dir/token.txt WX_EXPIRY_FILE=$dir/expiry.txt
    export T_TOKEN_FILE=$dir/token.txt T_EXPIRY_FILE=$dir/expiry.txt WXT_DIR=$dir WXT_MOCK_URL=$MOCK_URL
    case "$kind" in
        legacy) race "$n" "$dir" "$PHP" -n "$WX_ROOT/php/tests/race_worker.php" legacy ;;
        *) race "$n" "$dir" bash "$WX_ROOT/tests/racer.sh" "$kind" ;;
    esac
    local calls distinct empty
    calls=$(mock_stat token_calls)
    # A token is one word on its own line; anything else (an error) counts
    # as a failed answer.
    distinct=$(cat "$dir"/out/* | grep -E '^[!-~]+$' | sort -u | wc -l)
    empty=$(cat "$dir"/out/* | grep -cvE '^[!-~]+$')
    printf '%-7s N=%-4d %4d upstream calls %4d distinct tokens %4d failed %6d ms\n' \
        "$kind" "$n" "$calls" "$distinct" "$empty" "$RACE_MS"
    echo "RESULT herd_${kind}_${n}_calls $calls"
    echo "RESULT herd_${kind}_${n}_tokens $distinct"
    echo "RESULT herd_${kind}_${n}_ms $RACE_MS"
}

for n in 8 32 128; do
    for kind in legacy cli php c; do
        herd "$kind" "$n"
    done
done
