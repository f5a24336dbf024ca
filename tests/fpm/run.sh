#!/usr/bin/env bash
# The extension in production (`make test-fpm`): Debian's php-fpm (8 static
# workers, the extension loaded from a conf.d ini) behind nginx, driven by
# wrk for a few seconds per scenario. Asserts counts, never speed: upstream
# calls per expiry, answers that are not a token, back-off under a failing
# API, a worker killed while it holds the lock, what reaches the error log,
# where the secret does not appear, how pool-level settings behave, and
# what a pool confines a site to (open_basedir, php_admin_value; see
# confinement.sh).
#
# Needs root (php-fpm -R), php-fpm, nginx, wrk (make deps), and
# target/debug/{libwxtoken_php.so,wechat-mock}.

. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/stack.sh"
cd "$WX_TMP" || exit 1

EXT=${WXT_EXT:-$WX_TARGET/libwxtoken_php.so}
SECRET=test_secret_0123456789
for tool in "$PHP_FPM" nginx wrk; do
    command -v "$tool" >/dev/null || { fail "$tool is installed (make deps installs it)"; summary; exit 1; }
done
chmod 755 "$WX_TMP"

start_mock
CACHE=$WX_TMP/cache
mkdir -p "$CACHE"
printf '%s\n' "$SECRET" >"$WX_TMP/secret"
chmod 600 "$WX_TMP/secret"

# wrk_run URL SECONDS: wrk with 2 threads and 16 connections; sets REQUESTS,
# EMPTY (answers that are not a token), BAD (non-200), TOKENS (distinct
# tokens), MAX_MS (slowest answer) and LOCKWAITS (answers that gave up
# waiting for the cache lock).
COUNT_LUA=$WX_ROOT/tests/fpm/count.lua
wrk_run() {
    local out
    out=$(wrk -t2 -c16 -d"${2}s" --timeout 60s -s "$COUNT_LUA" "$1" 2>&1)
    read -r _ REQUESTS _ EMPTY BAD TOKENS MAX_MS _ LOCKWAITS < <(grep '^WRK' <<<"$out")
    [ -n "${REQUESTS:-}" ] || { echo "$out" >&2; REQUESTS=0 EMPTY=0 BAD=1 TOKENS=0 MAX_MS=0 LOCKWAITS=0; }
}
calls() { mock_stat token_calls; }
page() { curl -sS --max-time 120 "$(stack_url "$1" "$2")"; }
expire() { echo 1 >"$CACHE/expiry.txt"; }

pool_settings() {
    cat <<POOL
php_admin_value[wxtoken.appid] = wx_test_appid
php_admin_value[wxtoken.appsecret_file] = $WX_TMP/secret
php_admin_value[wxtoken.api_base] = $MOCK_URL
php_admin_value[wxtoken.token_file] = $1/token.txt
php_admin_value[wxtoken.expiry_file] = $1/expiry.txt
php_admin_value[wxtoken.http_timeout] = 5
POOL
}

# ================================================================ the main pool
fpm_start main "extension=$EXT" "$(pool_settings "$CACHE")" && nginx_start main
first=$(page main token.php)
check "php-fpm behind nginx: token.php serves the token (${first:0:12}...)" \
    test "$first" = "$(mock_stat last_token)" -a -n "$first"
status_files() { page main status.php | grep -q '"store":"files"'; }
check "wxtoken_status() over HTTP names the file store" status_files
page main info.php >"$WX_TMP/info.html"
check "appsecret_file: the secret is in no phpinfo(), \$_SERVER or getenv() ($(wc -c <"$WX_TMP/info.html") bytes)" \
    bash -c '[ -s "$1" ] && ! grep -q "$2" "$1"' _ "$WX_TMP/info.html" "$SECRET"

# ---------------------------------------------------------------- expiry under load
for round in 1 2; do
    expire
    before=$(calls)
    wrk_run "$(stack_url main token.php)" 2
    c=$(($(calls) - before))
    check "expiry $round under wrk -c16 ($REQUESTS requests): one upstream call (got $c), one token ($TOKENS), no empty or failed answer ($EMPTY, $BAD)" \
        test "$c" = 1 -a "$TOKENS" = 1 -a "$EMPTY" = 0 -a "$BAD" = 0 -a "$REQUESTS" -gt 0
done

# ---------------------------------------------------------------- a failing API under load
mock "/mock/fault?kind=http500" >/dev/null
expire
before=$(calls)
wrk -t1 -c4 -d4s --timeout 60s -s "$COUNT_LUA" "$(stack_url main other.php)" >"$WX_TMP/other.out" 2>&1 &
other=$!
wrk_run "$(stack_url main token.php)" 4
wait "$other"
c=$(($(calls) - before))
check "HTTP 500 under load ($REQUESTS requests, all answered \"\" with a reason: $EMPTY): upstream calls stay within the back-off (got $c)" \
    test "$c" -ge 1 -a "$c" -le 8 -a "$EMPTY" = "$REQUESTS" -a "$BAD" = 0
check "... no request waited past the HTTP timeout plus a wide margin (slowest $MAX_MS ms)" \
    test "$MAX_MS" -lt 30000
read -r _ oreq _ _ obad _ _ _ _ < <(grep '^WRK' "$WX_TMP/other.out")
check "... and an unrelated page of the same pool answered throughout (${oreq:-0} requests, ${obad:-?} failed)" \
    test "${oreq:-0}" -gt 0 -a "${obad:-1}" = 0
mock "/mock/fault?kind=none" >/dev/null
recovered() { [ "$(page main token.php | cut -c1-5)" != EMPTY ]; }
check "... and it recovers once the API does (after the back-off window)" wait_for recovered

# ---------------------------------------------------------------- a black-holed API under load
# lock_holder: the pid holding the cache lock, if any.
lock_holder() {
    local ino
    ino=$(stat -c %i "$CACHE/token.txt.lock" 2>/dev/null) || return 1
    awk -v ino=":$ino" '$2 == "FLOCK" && $6 ~ ino"$" {print $5}' /proc/locks | head -n 1
}
has_holder() { [ -n "$(lock_holder)" ]; }
# The API accepts and never answers: each fetch runs out its budget (the
# HTTP timeout, 5 s, less a tenth) while the other workers wait. They get the
# holder's failure as it is noted, not a lock timeout of their own, and the
# next fetch waits for the back-off: in 8 s, at most two fetches can start.
mock "/mock/fault?kind=slow&ms=3600000" >/dev/null
expire
before=$(calls)
wrk_run "$(stack_url main token.php)" 8
c=$(($(calls) - before))
check "a black-holed API under load ($REQUESTS requests, all answered \"\" with a reason: $EMPTY): upstream calls within the back-off (got $c)" \
    test "$c" -ge 1 -a "$c" -le 2 -a "$EMPTY" = "$REQUESTS" -a "$BAD" = 0 -a "$REQUESTS" -gt 0
check "... every waiter got the holder's failure, none a lock timeout (got ${LOCKWAITS:-?})" \
    test "${LOCKWAITS:-1}" = 0
check "... no request waited past the HTTP timeout plus a wide margin (slowest $MAX_MS ms)" \
    test "$MAX_MS" -lt 30000
# Requests wrk left in flight run on in the workers: let the last fetch end
# (its budget) before the API answers again.
no_holder() { ! has_holder; }
wait_for no_holder
mock /mock/reset >/dev/null
mock "/mock/fault?kind=none" >/dev/null
check "... and it recovers once the API answers (after the back-off window)" wait_for recovered

# ---------------------------------------------------------------- kill -9 of the lock holder
mock "/mock/fault?kind=slow&ms=3600000" >/dev/null
expire
before=$(calls)
curl -sS --max-time 120 -o /dev/null "$(stack_url main token.php)" &
waiter=$!
wait_for has_holder
holder=$(lock_holder)
check "a worker holds the lock mid-fetch (pid ${holder:-none})" test -n "$holder"
kill -9 "$holder" 2>/dev/null
wait "$waiter" 2>/dev/null
mock /mock/reset >/dev/null
after=$(page main token.php)
check "killing it with SIGKILL: the next request gets a token (${after:0:100})" \
    test -n "$after" -a "${after:0:5}" != EMPTY
check "... and leaves no temporary file behind" bash -c '! ls -a "$1" | grep -q "\.tmp$"' _ "$CACHE"
check "no log holds the secret" \
    bash -c '! cat "$1"/stack/*/php-errors.log "$1"/stack/*/fpm.log | grep -q "$2"' _ "$WX_TMP" "$SECRET"
stack_stop main

# ================================================================ a condition, once per worker
fpm_start warn "extension=$EXT" "$(pool_settings /proc/wxtoken-no-such-dir)" && nginx_start warn
wrk_run "$(stack_url warn token.php)" 2
n=$(grep -c "wxtoken: token fetched but not cached" "$STACK_ROOT/warn/php-errors.log")
check "an uncacheable token: $REQUESTS requests, the condition logged once per worker ($n lines for 8 workers)" \
    test "$n" -ge 1 -a "$n" -le 8 -a "$EMPTY" = 0
status_warns() { page warn status.php | grep -q '"last_warning":"token fetched but not cached'; }
check "... and wxtoken_status() reports it" status_warns
stack_stop warn

# ================================================================ pool-level settings, both orders
mkdir -p "$WX_TMP/late1" "$WX_TMP/late2"
# The settings after the extension line: php-fpm applies them first, before
# the extension exists, and drops them.
fpm_start late1 "" "php_admin_value[extension] = $EXT
$(pool_settings "$WX_TMP/late1")" && nginx_start late1
out=$(page late1 token.php)
check "pool settings after php_admin_value[extension]: \"\" with the documented reason" \
    bash -c '[[ "$1" == EMPTY*"loaded by this php-fpm pool"* ]]' _ "$out"
check "... and the same reason in the error log" grep -q "loaded by this php-fpm pool" "$STACK_ROOT/late1/php-errors.log"
stack_stop late1
# The settings before it: applied after the extension is loaded, so they work.
fpm_start late2 "" "$(pool_settings "$WX_TMP/late2")
php_admin_value[extension] = $EXT" && nginx_start late2
out=$(page late2 token.php)
check "pool settings before php_admin_value[extension]: they work (${out:0:12}...)" \
    test -n "$out" -a "${out:0:5}" != EMPTY
stack_stop late2

# ================================================================ the sample pool, as written
# php/fpm-pool.conf.example as the README gives it, only its paths moved into
# the test's directory and the mock named as the API: workers run as
# www-data, the secret comes from a www-data:root 0640 file, and a wxtoken
# warning must reach php-fpm's own log (the sample once logged to a
# directory Debian does not have, and every warning vanished).
if id www-data >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    sample=$STACK_ROOT/sample
    mkdir -p "$sample/run" "$sample/cache" "$sample/etc" "$sample/conf.d"
    chmod 755 "$STACK_ROOT" "$sample" "$sample/run" "$sample/etc"
    printf '%s\n' "$SECRET" >"$sample/etc/site.secret"
    chown www-data:root "$sample/etc/site.secret" && chmod 640 "$sample/etc/site.secret"
    chown www-data "$sample/cache"
    stack_pages "$sample/docroot"
    chmod -R a+rX "$sample/docroot"
    sed -e "s#/run/php/site.sock#$sample/run/site.sock#" -e "s#/var/lib/wxtoken/site#$sample/cache#g" \
        -e "s#/etc/wxtoken/site.secret#$sample/etc/site.secret#" -e "s#wx0123456789abcdef#wx_test_appid#" \
        "$WX_ROOT/php/fpm-pool.conf.example" >"$sample/pool.conf"
    echo "php_admin_value[wxtoken.api_base] = $MOCK_URL" >>"$sample/pool.conf"
    printf '[global]\npid = %s\nerror_log = %s\ndaemonize = no\ninclude = %s\n' \
        "$sample/run/fpm.pid" "$sample/fpm.log" "$sample/pool.conf" >"$sample/php-fpm.conf"
    printf 'extension=%s\n' "$EXT" >"$sample/conf.d/20-wxtoken.ini"
    : >"$sample/php.ini"
    spawn FPM_PID_sample QUIT env PHP_INI_SCAN_DIR="$sample/conf.d" \
        "$PHP_FPM" -F -y "$sample/php-fpm.conf" -c "$sample/php.ini" >"$sample/fpm.out" 2>&1
    if wait_for test -S "$sample/run/site.sock"; then
        get() { python3 "$WX_ROOT/tests/fpm/fcgi_get.py" "$sample/run/site.sock" "$sample/docroot/token.php"; }
        out=$(get)
        check "the sample pool as written serves a token from its secret file (${out:0:12}...)" \
            bash -c '[ -n "$1" ] && [ "${1:0:5}" != EMPTY ] && [ "$(cat "$2/token.txt")" = "$1" ]' _ "$out" "$sample/cache"
        # A cache www-data can no longer write: a warning, in php-fpm's log.
        rm -f "$sample/cache/"*.txt "$sample/cache/"*.lock
        chown root "$sample/cache" && chmod 755 "$sample/cache"
        out=$(get)
        check "... and a wxtoken warning reaches php-fpm's own log" \
            bash -c 'wait_log() { grep -q "wxtoken: token fetched but not cached" "$1"; }
                     for i in $(seq 1 600); do wait_log "$1" && exit 0; sleep 0.1; done; exit 1' _ "$sample/fpm.log"
    else
        fail "the sample pool as written starts: $(cat "$sample/fpm.log" "$sample/fpm.out" 2>/dev/null | tail -3)"
    fi
    stop_group "$FPM_PID_sample"
else
    echo "# not run: the sample pool needs root and a www-data user"
fi

# ================================================================ open_basedir and admin values
. "$WX_ROOT/tests/fpm/confinement.sh"

summary
