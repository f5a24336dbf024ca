#!/usr/bin/env bash
# nginx + php-fpm (8 workers) under wrk: the legacy getToken() page against
# the extension's, warm (requests/s, p99) and through forced expiries under
# load (upstream calls, distinct tokens, p99). RESULT lines for
# BENCHMARKS.md. Needs the release extension in $WX_TARGET.
. "$(dirname "$0")/../../tests/lib.sh"
. "$WX_ROOT/tests/fpm/stack.sh"
cd "$WX_TMP" || exit 1
chmod 755 "$WX_TMP"
SECS=${BENCH_WRK_SECS:-4}

start_mock
mkdir -p "$WX_TMP/ext" "$WX_TMP/legacy"
chmod 777 "$WX_TMP/legacy"
printf 'test_secret_0123456789\n' >"$WX_TMP/secret"
chmod 600 "$WX_TMP/secret"
fpm_start bench "extension=$WX_TARGET/libwxtoken_php.so" "
php_admin_value[wxtoken.appid] = wx_test_appid
php_admin_value[wxtoken.appsecret_file] = $WX_TMP/secret
php_admin_value[wxtoken.api_base] = $MOCK_URL
php_admin_value[wxtoken.token_file] = $WX_TMP/ext/token.txt
php_admin_value[wxtoken.expiry_file] = $WX_TMP/ext/expiry.txt
env[LEGACY_DIR] = $WX_TMP/legacy
env[LEGACY_API] = $MOCK_URL
env[LEGACY_APPID] = wx_test_appid
env[LEGACY_SECRET] = test_secret_0123456789" && nginx_start bench || exit 1

# run NAME PAGE EXPIRE_DIR EXPIRIES: wrk -t2 -c32 for SECS seconds; with
# EXPIRIES > 0, the cache is expired that many times, evenly, during the run.
run() {
    local name=$1 page=$2 dir=$3 expiries=$4 before out
    before=$(mock_stat token_calls)
    local expirer=
    if [ "$expiries" -gt 0 ]; then
        (for _ in $(seq 1 "$expiries"); do echo 1 >"$dir/expiry.txt"; sleep "$(awk -v s="$SECS" -v n="$expiries" 'BEGIN {print s / n}')"; done) &
        expirer=$!
    fi
    out=$(wrk -t2 -c32 -d"${SECS}s" --timeout 30s -s "$WX_ROOT/tests/fpm/count.lua" "$(stack_url bench "$page")" 2>&1)
    [ -n "$expirer" ] && wait "$expirer"
    read -r _ req rps empty bad tokens _ p99 _ < <(grep '^WRK' <<<"$out")
    empty=$((empty + bad))
    local calls=$(($(mock_stat token_calls) - before))
    printf '%-26s %8d req %9.0f req/s  p99 %7.2f ms  %5d upstream calls  %4d tokens  %4d empty\n' \
        "$name" "$req" "$rps" "$p99" "$calls" "$tokens" "$empty"
    echo "RESULT fpm_${name}_rps $rps"
    echo "RESULT fpm_${name}_p99_ms $p99"
    echo "RESULT fpm_${name}_calls $calls"
    echo "RESULT fpm_${name}_tokens $tokens"
    echo "RESULT fpm_${name}_empty $empty"
}
curl -fsS -o /dev/null "$(stack_url bench token.php)"
curl -fsS -o /dev/null "$(stack_url bench legacy.php)"
sleep 2 # past the second in which fresh files are re-read
echo "nginx + php-fpm (8 workers), wrk -t2 -c32, ${SECS} s per run"
run legacy_warm legacy.php "$WX_TMP/legacy" 0
run ext_warm token.php "$WX_TMP/ext" 0
run legacy_expiring legacy.php "$WX_TMP/legacy" 4
run ext_expiring token.php "$WX_TMP/ext" 4

stack_stop bench
