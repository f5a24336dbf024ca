#!/usr/bin/env bash
# `make bench-race`: 64 PHP processes find the cached token expired at the
# same moment, first with the legacy getToken(), then with the extension.
# Counts upstream calls, distinct tokens and empty answers. A measurement,
# not a test: the legacy figures vary from run to run.
. "$(dirname "$0")/../../tests/lib.sh"

PHP=${PHP:-php}
EXT=${WXT_EXT:-$WX_TARGET/libwxtoken_php.so}
worker=$WX_ROOT/php/tests/race_worker.php
N=${RACE_N:-64}

# run NAME CMD...: one race on a fresh expired cache against a fresh mock.
run() {
    local name=$1 dir=$WX_TMP/$1
    shift
    mkdir -p "$dir"
    printf 'stale_token' >"$dir/token.txt"
    printf '1' >"$dir/expiry.txt"
    start_mock
    WXT_DIR=$dir WXT_MOCK_URL=$MOCK_URL race "$N" "$dir" "$@" || echo "(not all $N racers were ready in time)"
    local calls distinct empty
    calls=$(mock_stat token_calls)
    distinct=$(grep -hv '^EMPTY' "$dir"/out/* | sort -u | wc -l)
    empty=$(grep -l '^EMPTY' "$dir"/out/* 2>/dev/null | wc -l)
    printf '%-22s %3d upstream calls, %3d distinct tokens, %3d empty answers\n' \
        "$name:" "$calls" "$distinct" "$empty"
    printf -v "${name}_calls" %s "$calls"
}

echo "$N PHP processes on an expired cache, released at once:"
run legacy "$PHP" -n "$worker" legacy
run extension bash -c '"$0" -n -d "extension=$1" -d wxtoken.appid=wx_test_appid \
    -d wxtoken.appsecret=test_secret_0123456789 -d "wxtoken.api_base=$WXT_MOCK_URL" \
    -d "wxtoken.token_file=$WXT_DIR/token.txt" -d "wxtoken.expiry_file=$WXT_DIR/expiry.txt" \
    "$2" extension "$3" "$4"' "$PHP" "$EXT" "$worker"
if [ "${extension_calls:-0}" -gt 0 ]; then
    echo "ratio: the legacy script made $((legacy_calls / extension_calls))x the upstream calls"
fi
