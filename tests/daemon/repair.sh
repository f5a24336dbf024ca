#!/usr/bin/env bash
# wxtoken daemon, the day something goes wrong (`make test-daemon`, issue
# #25): passive readers with no secret in every front end; self-repair after
# an invalidate from a passive PHP page, emptied files and a FLUSHDB; the
# publish Redis restarted empty; each config refusal with exit 2; a stop
# within a second while Redis does not answer. Real processes throughout:
# wechat-mock over HTTP, redis-server on free ports, PHP with the extension,
# a C program against libwxtoken.
#
# The "within seconds" claims are polled with a generous cap (WAIT_SECS) and
# the measured figure is printed: a loaded machine must not fail them.
#
# Needs target/debug/{wxtoken,wechat-mock,libwxtoken_php.so,libwxtoken.so},
# redis-server, php, gcc.

. "$(dirname "$0")/../lib.sh"
cd "$WX_TMP" || exit 1

PHP=${PHP:-php}
WX=$WX_TARGET/wxtoken
EXT=$WX_TARGET/libwxtoken_php.so
unset WX_APPID WX_APPSECRET WX_TOKEN_FILE WX_EXPIRY_FILE WX_API_BASE WX_REFRESH_MARGIN \
    WX_TOKEN_MODE WX_HTTP_TIMEOUT WX_REDIS_URL WX_PASSIVE WX_CA_FILE WX_APPSECRET_FILE \
    WX_ALLOW_HTTP WX_REDIS_PREFIX

if ! command -v redis-server >/dev/null; then
    fail "redis-server is not installed (make deps installs it)"
    summary
    exit 1
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
ms() { date +%s%3N; }
secs_since() { awk -v a="$1" -v b="$(ms)" 'BEGIN { printf "%.1f", (b - a) / 1000 }'; }

# One mock for every app ('*': any appid, one secret).
start_mock --appid '*' --secret secret_for_all --expires-in 7200
printf 'secret_for_all\n' >"$WX_TMP/secret"
chmod 600 "$WX_TMP/secret"

# start_redis VAR PORT: a redis-server on PORT, its group's pid in VAR.
start_redis() {
    spawn "$1" TERM redis-server --port "$2" --bind 127.0.0.1 --save '' --appendonly no \
        >>"$WX_TMP/redis-$2.log" 2>&1
    wait_for redis_up "$2"
}
redis_up() { [ "$(redis-cli -p "$1" ping 2>/dev/null)" = PONG ]; }
SPORT=$(free_port)
PPORT=$(free_port)
start_redis STORE_REDIS "$SPORT"
start_redis PUB_REDIS "$PPORT"

mkdir -p "$WX_TMP/files"
cat >"$WX_TMP/daemon.toml" <<TOML
[[app]]
appid = "wxfiles"
appsecret_file = "$WX_TMP/secret"
token_file = "$WX_TMP/files/token.txt"
expiry_file = "$WX_TMP/files/expiry.txt"
api_base = "$MOCK_URL"

[[app]]
appid = "wxredis"
appsecret_file = "$WX_TMP/secret"
redis_url = "redis://127.0.0.1:$SPORT/0"
api_base = "$MOCK_URL"
publish = ["wxjava", "silenceper", "wechatpy"]
publish_redis_url = "redis://127.0.0.1:$PPORT/0"
TOML
chmod 600 "$WX_TMP/daemon.toml"
MPORT=$(free_port)
LOG=$WX_TMP/daemon.log
spawn DAEMON TERM "$WX" daemon --config "$WX_TMP/daemon.toml" --metrics "127.0.0.1:$MPORT" 2>"$LOG"
healthy() { [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$MPORT/healthz")" = 200 ]; }
check "the daemon serves both apps (/healthz 200)" wait_for healthy

# ---------------------------------------------------------------- passive, no secret
# Readers given only the app id and where to read: no secret anywhere in
# their environment or settings.
TF=$WX_TMP/files/token.txt
EF=$WX_TMP/files/expiry.txt
cli_files() { env -i PATH="$PATH" WX_PASSIVE=1 WX_APPID=wxfiles WX_TOKEN_FILE="$TF" WX_EXPIRY_FILE="$EF" "$WX" get; }
cli_redis() { env -i PATH="$PATH" WX_PASSIVE=1 WX_APPID=wxredis WX_REDIS_URL="redis://127.0.0.1:$SPORT/0" "$WX" get; }
php_files() {
    env -i PATH="$PATH" "$PHP" -n -d "extension=$EXT" -d wxtoken.appid=wxfiles -d wxtoken.passive=1 \
        -d "wxtoken.token_file=$TF" -d "wxtoken.expiry_file=$EF" "$@"
}
stored=$(cat "$TF")
check "a passive CLI with no secret reads the daemon's token" test "$(cli_files)" = "$stored"
check "a passive CLI with no secret reads the daemon's Redis token" \
    test "$(cli_redis)" = "$(redis-cli -p "$SPORT" get 'wxtoken:{wxredis}:access_token')"
check "a passive PHP page with no secret reads it" test "$(php_files -r 'echo getToken();')" = "$stored"
cat >"$WX_TMP/reader.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <wxtoken.h>
int main(int argc, char **argv)
{
    char out[WX_TOKEN_BUF_LEN];
    /* No secret: NULL. */
    int rc = wx_get_token(argv[1], NULL, argv[2], argv[3], out, sizeof out);
    if (rc != WX_OK) {
        char err[512];
        wx_last_error(err, sizeof err);
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    puts(out);
    return 0;
}
C
if gcc -I"$WX_ROOT/include" -o "$WX_TMP/reader" "$WX_TMP/reader.c" -L"$WX_TARGET" -lwxtoken \
    -Wl,-rpath,"$WX_TARGET" 2>"$WX_TMP/gcc.err"; then
    check "a passive C program with a NULL secret reads it" \
        test "$(env -i WX_PASSIVE=1 "$WX_TMP/reader" wxfiles "$TF" "$EF")" = "$stored"
    env -i "$WX_TMP/reader" wxfiles "$TF" "$EF" >/dev/null 2>"$WX_TMP/c.err"
    check "... while without passive a NULL secret is a configuration error" \
        grep -q "secret is required" "$WX_TMP/c.err"
else
    fail "the C reader does not build: $(head -3 "$WX_TMP/gcc.err")"
fi
calls_before=$(mock_stat token_calls)
env -i PATH="$PATH" WX_APPID=wxfiles WX_TOKEN_FILE="$WX_TMP/none/t" WX_EXPIRY_FILE="$WX_TMP/none/e" \
    WX_PASSIVE=1 WX_API_BASE="$MOCK_URL" "$WX" refresh >/dev/null 2>"$WX_TMP/err"
rc=$?
check "a passive refresh with no secret makes no request (exit $rc)" \
    test "$rc" -ne 0 -a "$(mock_stat token_calls)" = "$calls_before"

# ---------------------------------------------------------------- self-repair
readable_by_php() { [ -n "$(php_files -r 'echo getToken();' 2>/dev/null)" ]; }
# The page invalidates the token it was given, as the README advises after
# a 40001; it reports whether the token was dropped.
dropped=$(php_files -r '$t = getToken(); echo wxtoken_invalidate($t) ? "dropped" : "kept";')
t0=$(ms)
check "a passive PHP page invalidates the token ($dropped)" test "$dropped" = dropped
check "passive PHP readers have a token again (after $(wait_for readable_by_php; secs_since "$t0") s)" \
    readable_by_php
check "... a new one" test "$(cat "$TF")" != "$stored"

: >"$TF"
t0=$(ms)
check "emptied token files are refilled (after $(wait_for readable_by_php; secs_since "$t0") s)" \
    readable_by_php

redis_before=$(cli_redis)
redis-cli -p "$SPORT" flushdb >/dev/null
t0=$(ms)
readable_redis() { [ -n "$(cli_redis 2>/dev/null)" ]; }
check "a FLUSHDB of the store: passive readers have a token again (after $(wait_for readable_redis; secs_since "$t0") s)" \
    readable_redis
check "... and the daemon logs the repair" grep -q "app=wxredis event=repaired" "$LOG"
metric() {
    curl -s "http://127.0.0.1:$MPORT/metrics" | awk -v want="$1" '$1 == want { print $2 }'
}
check "... and counts it (wxtoken_store_repairs_total $(metric 'wxtoken_store_repairs_total{appid="wxredis",credential="access_token"}'))" \
    test "$(metric 'wxtoken_store_repairs_total{appid="wxredis",credential="access_token"}')" -ge 1

# Another process refreshes (a legacy peer, an active worker): the daemon
# takes the new token over and republishes it.
foreign=$(env -i PATH="$PATH" WX_APPID=wxredis WX_APPSECRET=secret_for_all WX_API_BASE="$MOCK_URL" \
    WX_REDIS_URL="redis://127.0.0.1:$SPORT/0" "$WX" refresh)
wxjava_has() { [ "$(redis-cli -p "$PPORT" get wx:access_token:wxredis)" = "$1" ]; }
t0=$(ms)
check "another process's refresh reaches the WxJava key (after $(wait_for wxjava_has "$foreign"; secs_since "$t0") s)" \
    wxjava_has "$foreign"

# ---------------------------------------------------------------- publish heals
token=$(cli_redis)
stop_group "$PUB_REDIS"
down_health() { [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$MPORT/healthz")" = 503 ]; }
check "the publish Redis down: /healthz says 503" wait_for down_health
curl -s "http://127.0.0.1:$MPORT/healthz" >"$WX_TMP/health.txt"
check "... naming the app whose keys are missing" grep -q "published keys.*wxredis" "$WX_TMP/health.txt"
start_redis PUB_REDIS "$PPORT"
t0=$(ms)
sdk_keys_back() {
    wxjava_has "$token" &&
        [ "$(redis-cli -p "$PPORT" get gowechat_officialaccount__access_token_wxredis)" = "$token" ] &&
        [ "$(redis-cli -p "$PPORT" get wechatpy:wxredis_access_token)" = "\"$token\"" ]
}
check "the publish Redis restarted empty: the SDK keys are back (after $(wait_for sdk_keys_back; secs_since "$t0") s)" \
    sdk_keys_back
failures=$(curl -s "http://127.0.0.1:$MPORT/metrics" |
    awk '/^wxtoken_publish_failures_total\{appid="wxredis"/ { n += $2 } END { print n + 0 }')
check "... and wxtoken_publish_failures_total counted the failures ($failures)" test "$failures" -ge 1
check "... as store errors, not configuration errors" \
    bash -c '! grep "event=publish_failed" "$1" | grep -q "kind=config"' _ "$LOG"
check "/healthz is 200 again" wait_for healthy

# ---------------------------------------------------------------- counters survive SIGHUP
repairs=$(metric 'wxtoken_store_repairs_total{appid="wxredis",credential="access_token"}')
refreshes=$(metric 'wxtoken_refreshes_total{appid="wxfiles",credential="access_token"}')
# wxredis changes (restarted with its counters), wxfiles does not (kept).
sed -i 's|^publish_redis_url = .*|&\nhttp_timeout = 9|' "$WX_TMP/daemon.toml"
kill -HUP "$DAEMON"
check "SIGHUP with one app changed: $(wait_for grep -q 'event=reloaded' "$LOG"; grep -o 'event=reloaded.*' "$LOG" | tail -1)" \
    grep -q "event=reloaded apps=2 kept=1 started=1" "$LOG"
check "... the counters survive it (repairs $repairs -> $(metric 'wxtoken_store_repairs_total{appid="wxredis",credential="access_token"}'), refreshes $refreshes -> $(metric 'wxtoken_refreshes_total{appid="wxfiles",credential="access_token"}'))" \
    test "$(metric 'wxtoken_store_repairs_total{appid="wxredis",credential="access_token"}')" = "$repairs" -a \
    "$(metric 'wxtoken_refreshes_total{appid="wxfiles",credential="access_token"}')" = "$refreshes"
check "... and /healthz stays 200" healthy

# ---------------------------------------------------------------- stop while Redis hangs
kill -STOP "$STORE_REDIS"
redis-cli -p "$SPORT" flushdb >/dev/null 2>&1 &
t0=$(ms)
code=$(curl -s -m 30 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$MPORT/metrics")
took=$(secs_since "$t0")
check "a scrape with the store Redis paused is served from memory ($code in $took s)" test "$code" = 200
sleep 2 # let rounds block on the paused server
t0=$(ms)
kill -TERM "$DAEMON"
wait_for group_gone "$DAEMON"
took=$(secs_since "$t0")
check "SIGTERM with the store Redis paused: stopped in $took s (a second promised, 10 s allowed)" \
    awk -v t="$took" 'BEGIN { exit !(t < 10) }'
kill -CONT "$STORE_REDIS"
stop_group "$DAEMON"
check "the log holds no secret" bash -c '! grep -q secret_for_all "$1"' _ "$LOG"
check "every log line starts with a UTC timestamp" \
    bash -c '! grep -vE "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z wxtoken daemon: " "$1"' _ "$LOG"

# ---------------------------------------------------------------- a store readers cannot read
# The token directory does not exist: the daemon can fetch but not store,
# so readers find nothing. Health says so, the gauge is 0, and the daemon
# does not fetch again every second.
cat >"$WX_TMP/nodir.toml" <<TOML
[[app]]
appid = "wxnodir"
appsecret_file = "$WX_TMP/secret"
token_file = "$WX_TMP/no/such/dir/token.txt"
expiry_file = "$WX_TMP/no/such/dir/expiry.txt"
api_base = "$MOCK_URL"
TOML
chmod 600 "$WX_TMP/nodir.toml"
MPORT=$(free_port)
LOG3=$WX_TMP/daemon3.log
calls0=$(mock_stat token_calls)
spawn D3 TERM "$WX" daemon --config "$WX_TMP/nodir.toml" --metrics "127.0.0.1:$MPORT" 2>"$LOG3"
check "an unwritable store: the daemon logs store_failed" wait_for grep -q "app=wxnodir event=store_failed" "$LOG3"
check "... /healthz says 503, naming the app" \
    bash -c '[ "$(curl -s -o "$2" -w "%{http_code}" "http://127.0.0.1:$1/healthz")" = 503 ] && grep -q wxnodir "$2"' \
    _ "$MPORT" "$WX_TMP/h3"
check "... wxtoken_token_seconds_left is 0, not missing" \
    test "$(metric 'wxtoken_token_seconds_left{appid="wxnodir",credential="access_token"}')" = 0
check "... wxtoken_store_write_failing is 1" test "$(metric 'wxtoken_store_write_failing{appid="wxnodir",credential="access_token"}')" = 1
sleep 8
c=$(($(mock_stat token_calls) - calls0))
check "... and it does not fetch every second ($c calls in about 10 s)" test "$c" -le 3
stop_group "$D3"

# ---------------------------------------------------------------- not dumpable
# Run as nobody (as root, the /proc files of any process are root's): a
# non-dumpable process's /proc entries belong to root, not to its user.
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
    mkdir -p "$WX_TMP/nobody/files"
    printf 'secret_for_all\n' >"$WX_TMP/nobody/secret"
    cat >"$WX_TMP/nobody/daemon.toml" <<TOML
[[app]]
appid = "wxnobody"
appsecret_file = "$WX_TMP/nobody/secret"
token_file = "$WX_TMP/nobody/files/token.txt"
expiry_file = "$WX_TMP/nobody/files/expiry.txt"
api_base = "$MOCK_URL"
TOML
    chmod 600 "$WX_TMP/nobody/secret" "$WX_TMP/nobody/daemon.toml"
    chmod 755 "$WX_TMP"
    chown -R nobody "$WX_TMP/nobody"
    spawn D4 TERM setpriv --reuid=nobody --regid=nogroup --clear-groups \
        "$WX" daemon --config "$WX_TMP/nobody/daemon.toml" 2>"$WX_TMP/daemon4.log"
    check "a daemon run as nobody gets its token" wait_for test -s "$WX_TMP/nobody/files/token.txt"
    check "... and is not dumpable (its /proc/PID/status and mem are $(stat -c %U "/proc/$D4/status")'s)" \
        test "$(stat -c %U "/proc/$D4/status")" = root -a "$(stat -c %U "/proc/$D4/mem")" = root
    stop_group "$D4"
else
    echo "# skipped: the non-dumpable check needs root and setpriv"
fi

# ---------------------------------------------------------------- refusals
# refused WHAT PATTERN CMD...: CMD exits 2 within WAIT_SECS with PATTERN on stderr.
refused() {
    local what=$1 pattern=$2 rc
    shift 2
    timeout "$WAIT_SECS" "$@" >/dev/null 2>"$WX_TMP/err"
    rc=$?
    check "$what: exit $rc, \"$(head -c 160 "$WX_TMP/err")\"" \
        bash -c '[ "$1" = 2 ] && grep -q -- "$2" "$3"' _ "$rc" "$pattern" "$WX_TMP/err"
}
cp "$WX_TMP/daemon.toml" "$WX_TMP/loose.toml"
chmod 664 "$WX_TMP/loose.toml"
refused "a config file others may write is refused" "writable by group or others" \
    "$WX" daemon --config "$WX_TMP/loose.toml"
cp "$WX_TMP/daemon.toml" "$WX_TMP/foreign.toml"
chown nobody "$WX_TMP/foreign.toml" 2>/dev/null
if [ "$(stat -c %U "$WX_TMP/foreign.toml")" = nobody ]; then
    refused "a config file owned by another user is refused" "owned by uid" \
        "$WX" daemon --config "$WX_TMP/foreign.toml"
else
    echo "# skipped: cannot chown (not root)"
fi
{ cat "$WX_TMP/daemon.toml"; printf '\n[[app]]\nappid = "wxfiles"\nappsecret_file = "%s"\ntoken_file = "%s/other/t"\nexpiry_file = "%s/other/e"\n' \
    "$WX_TMP/secret" "$WX_TMP" "$WX_TMP"; } >"$WX_TMP/dup.toml"
chmod 600 "$WX_TMP/dup.toml"
refused "the same appid in two [[app]] tables is refused" "same appid as app #1" \
    "$WX" daemon --config "$WX_TMP/dup.toml"
printf '[[app]]\nappid = "ww_corp"\nplatform = "wecom"\nagentid = "1000002"\nappsecret_file = "%s"\npublish = ["wxjava"]\nredis_url = "redis://127.0.0.1:1"\n' \
    "$WX_TMP/secret" >"$WX_TMP/wecom-publish.toml"
chmod 600 "$WX_TMP/wecom-publish.toml"
refused "publishing a WeCom app's token to other SDKs' keys is refused" "official accounts" \
    "$WX" daemon --config "$WX_TMP/wecom-publish.toml"
printf '[[app]]\nappid = "wxfiles"\nappsecret_file = "%s"\ntickets = ["agent"]\n' \
    "$WX_TMP/secret" >"$WX_TMP/bad-ticket.toml"
chmod 600 "$WX_TMP/bad-ticket.toml"
refused "a ticket the platform has not is refused" 'unknown ticket type "agent"' \
    "$WX" daemon --config "$WX_TMP/bad-ticket.toml"
refused "a daemon started with WX_PASSIVE=1 is refused" "WX_PASSIVE" \
    env WX_PASSIVE=1 "$WX" daemon --config "$WX_TMP/daemon.toml"
mkfifo "$WX_TMP/fifo.toml"
refused "a FIFO as the config is refused, not waited on" "a FIFO, not a regular file" \
    "$WX" daemon --config "$WX_TMP/fifo.toml"
refused "/dev/zero as the config is refused, not read" "not a regular file" \
    "$WX" daemon --config /dev/zero

# A reload from a config turned FIFO keeps the old config, and SIGTERM works.
cp "$WX_TMP/daemon.toml" "$WX_TMP/swap.toml"
LOG2=$WX_TMP/daemon2.log
spawn D2 TERM "$WX" daemon --config "$WX_TMP/swap.toml" 2>"$LOG2"
wait_for grep -q "event=started" "$LOG2"
rm "$WX_TMP/swap.toml"
mkfifo "$WX_TMP/swap.toml"
kill -HUP "$D2"
check "a SIGHUP onto a FIFO config: reload refused, old config kept" \
    wait_for grep -q "event=reload_failed.*FIFO" "$LOG2"
t0=$(ms)
kill -TERM "$D2"
wait_for group_gone "$D2"
took=$(secs_since "$t0")
check "... and SIGTERM still stops it ($took s)" awk -v t="$took" 'BEGIN { exit !(t < 10) }'
stop_group "$D2"

# ---------------------------------------------------------------- install
make -s -C "$WX_ROOT" install-daemon-files DAEMON_BIN="$WX" DESTDIR="$WX_TMP/dest" >/dev/null 2>"$WX_TMP/err"
check "make install-daemon-files puts wxtoken where the unit's ExecStart runs it" \
    bash -c 'x=$(sed -n "s/^ExecStart=\([^ ]*\).*/\1/p" "$1/dest/etc/systemd/system/wxtoken.service") &&
             [ -n "$x" ] && [ -x "$1/dest$x" ] && "$1/dest$x" --version >/dev/null' _ "$WX_TMP"

summary
