#!/usr/bin/env bash
# wxtoken daemon with passive pages under real php-fpm behind real nginx,
# and a WeCom app with its tickets
# (`make test-daemon`, issue #25): the pool holds only the app id and the
# store, no secret; a page that calls wxtoken_invalidate() (as the README
# advises after a 40001) and a FLUSHDB each leave readers without a token
# until the daemon repairs the store, which it must do within seconds. The
# figures are printed; the bound asserted is generous (WAIT_SECS), so a
# loaded machine does not fail it.
#
# Needs target/debug/{wxtoken,wechat-mock,libwxtoken_php.so}, redis-server,
# php-fpm, nginx.

. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../fpm/stack.sh"
cd "$WX_TMP" || exit 1
chmod 755 "$WX_TMP"

WX=$WX_TARGET/wxtoken
EXT=$WX_TARGET/libwxtoken_php.so
unset WX_APPID WX_APPSECRET WX_TOKEN_FILE WX_EXPIRY_FILE WX_API_BASE WX_REFRESH_MARGIN \
    WX_TOKEN_MODE WX_HTTP_TIMEOUT WX_REDIS_URL WX_PASSIVE WX_CA_FILE WX_APPSECRET_FILE \
    WX_ALLOW_HTTP WX_REDIS_PREFIX WX_TICKET_DIR WX_PLATFORM WX_AGENTID
for tool in redis-server nginx "$PHP_FPM"; do
    command -v "$tool" >/dev/null || { fail "$tool is installed (make deps installs it)"; summary; exit 1; }
done
ms() { date +%s%3N; }
secs_since() { awk -v a="$1" -v b="$(ms)" 'BEGIN { printf "%.1f", (b - a) / 1000 }'; }

start_mock --appid '*' --secret secret_of_the_daemon --expires-in 7200
printf 'secret_of_the_daemon\n' >"$WX_TMP/secret"
chmod 600 "$WX_TMP/secret"
RPORT=$(stack_free_port)
spawn REDIS TERM redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no \
    >"$WX_TMP/redis.log" 2>&1
redis_up() { [ "$(redis-cli -p "$RPORT" ping 2>/dev/null)" = PONG ]; }
wait_for redis_up || { fail "redis-server starts"; summary; exit 1; }
REDIS_URL=redis://127.0.0.1:$RPORT/0

# Also a WeCom app (the mock's default corp and its app 1000002), on files,
# with its corp and agent tickets.
printf 'wecom_secret_app_a_0123\n' >"$WX_TMP/wecom-secret"
chmod 600 "$WX_TMP/wecom-secret"
mkdir -p "$WX_TMP/wecom"
cat >"$WX_TMP/daemon.toml" <<TOML
[[app]]
appid = "wxfpmpage"
appsecret_file = "$WX_TMP/secret"
redis_url = "$REDIS_URL"
api_base = "$MOCK_URL"

[[app]]
appid = "ww_test_corpid"
platform = "wecom"
agentid = "1000002"
appsecret_file = "$WX_TMP/wecom-secret"
token_file = "$WX_TMP/wecom/token.txt"
expiry_file = "$WX_TMP/wecom/expiry.txt"
api_base = "$MOCK_URL"
tickets = ["corp", "agent"]
TOML
chmod 600 "$WX_TMP/daemon.toml"
MPORT=$(stack_free_port)
spawn DAEMON TERM "$WX" daemon --config "$WX_TMP/daemon.toml" --metrics "127.0.0.1:$MPORT" \
    2>"$WX_TMP/daemon.log"
healthy() { [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$MPORT/healthz")" = 200 ]; }
check "the daemon has the app's token in Redis (/healthz 200)" wait_for healthy

# The pool: the app id, passive, the store. No secret anywhere.
fpm_start passive "extension=$EXT" "php_admin_value[wxtoken.appid] = wxfpmpage
php_admin_value[wxtoken.passive] = 1
php_admin_value[wxtoken.redis_url] = $REDIS_URL" && nginx_start passive ||
    { fail "php-fpm and nginx start"; summary; exit 1; }
DOCROOT=$STACK_ROOT/passive/docroot
cat >"$DOCROOT/invalidate.php" <<'PHP'
<?php
// What the README tells a page to do after a business API said 40001.
$t = getToken();
echo $t !== '' && wxtoken_invalidate($t) ? 'dropped' : 'not dropped: ' . wxtoken_last_error();
PHP
chmod a+r "$DOCROOT/invalidate.php"
page() { curl -sS --max-time 120 "$(stack_url passive "$1")"; }
stored() { redis-cli -p "$RPORT" get 'wxtoken:{wxfpmpage}:access_token'; }
# repaired OLD: the store holds a token other than OLD, and a page serves it
# (a worker may serve what it read for up to a second: the Redis memo).
repaired() { local s; s=$(stored); [ -n "$s" ] && [ "$s" != "$1" ] && [ "$(page token.php)" = "$s" ]; }

first=$(page token.php)
check "a passive page under php-fpm, with no secret configured, serves the daemon's token" \
    test -n "$first" -a "$first" = "$(stored)"
check "... and the mock saw the daemon's one call only ($(mock_stat token_calls))" \
    test "$(mock_stat token_calls)" = 1

# An invalidate from a passive page: readers find nothing until the daemon repairs.
check "a passive page invalidates the token (after a 40001, as the README advises)" \
    sh -c 'test "$(curl -sS --max-time 120 "$1")" = dropped' _ "$(stack_url passive invalidate.php)"
t0=$(ms)
check "... passive pages have a new token (repaired in $(wait_for repaired "$first"; secs_since "$t0") s)" \
    repaired "$first"
again=$(stored)
check "... from one more upstream call ($(mock_stat token_calls))" test "$(mock_stat token_calls)" = 2

# A FLUSHDB: the same.
redis-cli -p "$RPORT" flushdb >/dev/null
t0=$(ms)
check "after a FLUSHDB, passive pages have a new token (repaired in $(wait_for repaired "$again"; secs_since "$t0") s)" \
    repaired "$again"
check "... and the daemon logged the repairs" \
    test "$(grep -c 'event=repaired' "$WX_TMP/daemon.log")" -ge 2

# ---------------------------------------------------------------- WeCom
wecom_ready() { [ -s "$WX_TMP/wecom/agent_ticket_1000002.txt" ]; }
check "the WeCom app's token and its corp and agent tickets are kept fresh (gettoken $(wait_for wecom_ready; mock_stat gettoken_calls))" \
    test "$(mock_stat gettoken_calls)" = 1 -a -s "$WX_TMP/wecom/token.txt" -a -s "$WX_TMP/wecom/corp_ticket_1000002.txt"
agent=$(env WX_PLATFORM=wecom WX_APPID=ww_test_corpid WX_AGENTID=1000002 WX_PASSIVE=1 \
    WX_TOKEN_FILE="$WX_TMP/wecom/token.txt" WX_EXPIRY_FILE="$WX_TMP/wecom/expiry.txt" "$WX" ticket agent)
check "... a passive CLI reader without the secret reads its agent ticket" \
    test -n "$agent" -a "$agent" = "$(cat "$WX_TMP/wecom/agent_ticket_1000002.txt")"
rm -f "$WX_TMP/wecom/agent_ticket_1000002.txt" "$WX_TMP/wecom/agent_ticket_1000002_expiry.txt"
t0=$(ms)
ticket_back() { [ -s "$WX_TMP/wecom/agent_ticket_1000002.txt" ]; }
check "... a ticket readers lost (its files removed) is back within seconds ($(wait_for ticket_back; secs_since "$t0") s)" \
    ticket_back
check "... metrics label it appid=\"ww_test_corpid:1000002\", credential=\"agent_ticket\"" \
    sh -c 'curl -s "$1" | grep -q "^wxtoken_token_seconds_left{appid=\"ww_test_corpid:1000002\",credential=\"agent_ticket\"} [1-9]"' \
    _ "http://127.0.0.1:$MPORT/metrics"

summary
