#!/usr/bin/env bash
# wxtoken daemon end to end (`make test-daemon`): real mocks (one per app, so
# each app's upstream calls are counted apart), passive PHP readers looping
# on the files, a real redis-server for two daemons sharing one store and for
# the keys other SDKs read (read back by the real wechatpy package), and the
# metrics parsed by prometheus_client. Time is shortened through the mock's
# expires_in (16 s) and a margin of half that (8 s: the slack a loaded machine
# gets to refresh before readers would see an expired token), never long
# sleeps.
#
# Needs target/debug/{wxtoken,wechat-mock,libwxtoken_php.so}, redis-server,
# and a Python with wechatpy, redis and prometheus-client ($WXT_PYTHON; `make
# test-daemon` makes a venv with them).

. "$(dirname "$0")/../lib.sh"
cd "$WX_TMP" || exit 1

PHP=${PHP:-php}
PY=${WXT_PYTHON:-python3}
WX=$WX_TARGET/wxtoken
EXT=$WX_TARGET/libwxtoken_php.so
unset WX_APPID WX_APPSECRET WX_TOKEN_FILE WX_EXPIRY_FILE WX_API_BASE WX_REFRESH_MARGIN \
    WX_TOKEN_MODE WX_HTTP_TIMEOUT WX_REDIS_URL WX_PASSIVE WX_CA_FILE WX_APPSECRET_FILE \
    WX_ALLOW_HTTP WX_REDIS_PREFIX

PIDS=()
on_exit() {
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
    # Reaped before the script ends: none outlives it, even by a moment.
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
    cleanup
}
trap on_exit EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# app_mock N: a mock accepting appid wxappN, 16 s tokens; sets URL_N.
app_mock() {
    local n=$1 out=$WX_TMP/mock$1.out
    "$WX_TARGET/wechat-mock" --port 0 --appid "wxapp$n" --secret "secret_of_app_$n" \
        --expires-in 16 >"$out" 2>"$WX_TMP/mock$n.err" &
    PIDS+=($!)
    wait_for grep -q '^http://' "$out" || { echo "mock $n did not start" >&2; exit 1; }
    printf -v "URL_$n" '%s' "$(head -n 1 "$out")"
}
# at N PATH: GET a control endpoint of mock N.
at() { local v="URL_$1"; curl -fsS "${!v}$2"; }
calls() { at "$1" /mock/stats | python3 -c 'import sys,json;print(json.load(sys.stdin)["token_calls"])'; }
calls_above() { [ "$(calls "$1")" -gt "$2" ]; }

# secret N: a private file holding app N's secret.
secret() {
    printf 'secret_of_app_%s\n' "$1" >"$WX_TMP/secret$1"
    chmod 600 "$WX_TMP/secret$1"
}

# app_toml N: one [[app]] table on files.
app_toml() {
    local n=$1 v="URL_$1"
    mkdir -p "$WX_TMP/app$n"
    cat <<TOML
[[app]]
appid = "wxapp$n"
appsecret_file = "$WX_TMP/secret$n"
token_file = "$WX_TMP/app$n/token.txt"
expiry_file = "$WX_TMP/app$n/expiry.txt"
api_base = "${!v}"
refresh_margin = 8
http_timeout = 60
TOML
}

refreshed() { grep -c "app=wxapp$1 event=refreshed" "$2" 2>/dev/null || true; }
at_least() { [ "$(refreshed "$1" "$3")" -ge "$2" ]; }
all_files() { [ -s "$WX_TMP/app1/token.txt" ] && [ -s "$WX_TMP/app2/token.txt" ] && [ -s "$WX_TMP/app3/token.txt" ]; }

# ============================================================ 3 apps, 48 readers
for n in 1 2 3 4; do app_mock "$n"; secret "$n"; done
# App 1 also keeps its JS-SDK ticket fresh.
{ app_toml 1; echo 'tickets = ["jsapi"]'; app_toml 2; app_toml 3; } >"$WX_TMP/daemon.toml"
metrics_port=$(free_port)
LOG=$WX_TMP/daemon.log
"$WX" daemon --config "$WX_TMP/daemon.toml" --metrics "127.0.0.1:$metrics_port" 2>"$LOG" &
DAEMON=$!
PIDS+=($DAEMON)
check "the daemon fetches each app's first token" wait_for all_files

# 16 passive PHP readers per app, each looping on getToken() until told to
# stop; each prints "<reads> <failures>".
cat >"$WX_TMP/reader.php" <<'PHP'
<?php
[$_, $stop] = $argv;
$reads = $fails = 0;
while (!file_exists($stop)) {
    $t = getToken();
    $reads++;
    if ($t === '') { $fails++; fwrite(STDERR, wxtoken_last_error() . "\n"); }
    usleep(50000);
}
echo "$reads $fails\n";
PHP
readers=()
for n in 1 2 3; do
    for i in $(seq 1 16); do
        "$PHP" -n -d "extension=$EXT" -d "wxtoken.appid=wxapp$n" -d "wxtoken.passive=1" \
            -d "wxtoken.appsecret=unused_by_a_passive_reader" \
            -d "wxtoken.token_file=$WX_TMP/app$n/token.txt" -d "wxtoken.expiry_file=$WX_TMP/app$n/expiry.txt" \
            "$WX_TMP/reader.php" "$WX_TMP/stop-readers" >"$WX_TMP/reader$n-$i.out" 2>"$WX_TMP/reader$n-$i.err" &
        readers+=($!)
        PIDS+=($!)
    done
done
# Two expiries after the first token, for every app.
for n in 1 2 3; do
    wait_for at_least "$n" 3 "$LOG"
    check "app $n: refreshed ahead of expiry at least twice more ($(refreshed $n "$LOG") refreshes)" \
        at_least "$n" 3 "$LOG"
done
touch "$WX_TMP/stop-readers"
for p in "${readers[@]}"; do wait "$p"; done
fails=$(cat "$WX_TMP"/reader*.out | awk '{f += $2} END {print f + 0}')
reads=$(cat "$WX_TMP"/reader*.out | awk '{r += $1} END {print r + 0}')
check "48 passive readers: $reads reads, 0 failures (got $fails)" \
    test "$fails" = 0 -a "$(cat "$WX_TMP"/reader*.out | wc -l)" = 48 -a "$reads" -gt 48
for n in 1 2 3; do
    c=$(calls "$n")
    r=$(refreshed "$n" "$LOG")
    check "app $n: one upstream call per refresh, none from readers ($c calls, $r refreshes)" test "$c" = "$r"
done
ticket_calls() { at "$1" /mock/stats | python3 -c 'import sys,json;print(json.load(sys.stdin)["ticket_calls"])'; }
tk=$(ticket_calls 1)
check "app 1's jsapi ticket kept fresh too: fetched at least twice ($tk), none for the other apps ($(ticket_calls 2))" \
    test "$tk" -ge 2 -a "$(ticket_calls 2)" = 0
passive_ticket=$("$PHP" -n -d "extension=$EXT" -d "wxtoken.appid=wxapp1" -d "wxtoken.passive=1" \
    -d "wxtoken.token_file=$WX_TMP/app1/token.txt" -d "wxtoken.expiry_file=$WX_TMP/app1/expiry.txt" \
    -r 'echo wxtoken_ticket();')
check "a passive PHP reader without a secret reads the daemon's ticket" \
    test -n "$passive_ticket" -a "$passive_ticket" = "$(cat "$WX_TMP/app1/jsapi_ticket.txt")"

# ============================================================ one app failing
before1=$(refreshed 1 "$LOG")
before2=$(refreshed 2 "$LOG")
at 3 "/mock/fault?kind=http500" >/dev/null
c3=$(calls 3)
others_go_on() {
    [ "$(refreshed 1 "$LOG")" -gt "$before1" ] && [ "$(refreshed 2 "$LOG")" -gt "$before2" ] &&
        grep -q "app=wxapp3 event=refresh_failed" "$LOG"
}
check "app 3 failing: apps 1 and 2 go on refreshing" wait_for others_go_on
check "app 3's failures are logged with their kind" \
    grep -q "app=wxapp3 event=refresh_failed kind=network errcode=-" "$LOG"
curl -fsS "http://127.0.0.1:$metrics_port/metrics" >"$WX_TMP/metrics.txt"
check "metrics parse as Prometheus text (prometheus_client) and show app 3 backing off" \
    "$PY" - "$WX_TMP/metrics.txt" <<'PY'
import sys
from prometheus_client.parser import text_string_to_metric_families
fams = {}
for f in text_string_to_metric_families(open(sys.argv[1]).read()):
    fams[f.name] = fams[f.name.removesuffix("_total")] = f
def value(fam, **labels):
    for s in fams[fam].samples:
        if all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    raise SystemExit(f"no {fam} {labels}")
for app in ("wxapp1", "wxapp2", "wxapp3"):
    assert value("wxtoken_token_seconds_left", appid=app) <= 16, app
    assert value("wxtoken_refreshes", appid=app) >= 3, app
assert value("wxtoken_refresh_failures", appid="wxapp3", errcode="network") >= 1
assert value("wxtoken_consecutive_failures", appid="wxapp3") >= 1
assert value("wxtoken_consecutive_failures", appid="wxapp1") == 0
assert value("wxtoken_last_success_timestamp_seconds", appid="wxapp1") > 1.7e9
assert value("wxtoken_refreshes", appid="wxapp1", credential="jsapi_ticket") >= 2
assert value("wxtoken_token_seconds_left", appid="wxapp1", credential="jsapi_ticket") > 0
assert value("wxtoken_refreshes", appid="wxapp1", credential="access_token") >= 3
PY
check "app 3's upstream calls stay within the back-off ($(($(calls 3) - c3)) while failing)" \
    test "$(($(calls 3) - c3))" -le 12
check "/healthz answers" curl -sS -o /dev/null "http://127.0.0.1:$metrics_port/healthz"
at 3 "/mock/fault?kind=none" >/dev/null

# ============================================================ SIGHUP adds an app
{ app_toml 1; app_toml 2; app_toml 3; app_toml 4; } >"$WX_TMP/daemon.toml"
kill -HUP "$DAEMON"
reloaded() { [ -s "$WX_TMP/app4/token.txt" ] && grep -q "event=reloaded apps=4" "$LOG"; }
check "SIGHUP reloads the config and the new app gets its token" wait_for reloaded

# ============================================================ SIGTERM mid-fetch
cp "$WX_TMP/app1/token.txt" "$WX_TMP/app1-before"
at 1 "/mock/fault?kind=slow&ms=3600000" >/dev/null
c1=$(calls 1)
check "a fetch of app 1 is in flight (it never answers)" wait_for calls_above 1 "$c1"
started=$SECONDS
kill -TERM "$DAEMON"
wait "$DAEMON"
rc=$?
took=$((SECONDS - started))
check "SIGTERM mid-fetch: the daemon exits cleanly ($rc) in ${took}s, not after the 60 s fetch" \
    test "$rc" = 0 -a "$took" -lt 30
check "... leaving app 1's files whole, with no temp files" \
    bash -c 'cmp -s "$1/app1-before" "$1/app1/token.txt" && ! ls -a "$1/app1" | grep -q "\.tmp$"' _ "$WX_TMP"
check "the log holds no token and no secret" \
    bash -c '! grep -q -e secret_of_app -e "$(cat "$1/app2/token.txt")" "$2"' _ "$WX_TMP" "$LOG"
at 1 /mock/reset >/dev/null

# ============================================================ config checks
printf '[[app]]\nappid = "wxapp1"\nappsecret = "inline"\n' >"$WX_TMP/inline.toml"
"$WX" daemon --config "$WX_TMP/inline.toml" >/dev/null 2>"$WX_TMP/err"
check "an inline secret in the config is refused (exit $?)" grep -q appsecret_file "$WX_TMP/err"
chmod 644 "$WX_TMP/secret1"
app_toml 1 >"$WX_TMP/loose.toml"
"$WX" daemon --config "$WX_TMP/loose.toml" >/dev/null 2>"$WX_TMP/err"
check "a world-readable secret file is refused" grep -q "readable by every user" "$WX_TMP/err"
chmod 600 "$WX_TMP/secret1"
"$WX" daemon --config "$WX_TMP/daemon.toml" --metrics 0.0.0.0:9 >/dev/null 2>"$WX_TMP/err"
check "a non-loopback metrics address is refused" grep -q "loopback" "$WX_TMP/err"

# ============================================================ two daemons, one Redis
if ! command -v redis-server >/dev/null; then
    fail "redis-server is not installed (make deps installs it)"
    summary
    exit 1
fi
rport=$(free_port)
redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no >"$WX_TMP/redis.log" 2>&1 &
PIDS+=($!)
redis_up() { [ "$(redis-cli -p "$rport" ping 2>/dev/null)" = PONG ]; }
wait_for redis_up
at 4 /mock/reset >/dev/null
cat >"$WX_TMP/redis.toml" <<TOML
[[app]]
appid = "wxapp4"
appsecret_file = "$WX_TMP/secret4"
api_base = "$URL_4"
redis_url = "redis://127.0.0.1:$rport/0"
refresh_margin = 8
http_timeout = 60
publish = ["wxjava", "silenceper", "wechatpy"]
TOML
"$WX" daemon --config "$WX_TMP/redis.toml" 2>"$WX_TMP/d1.log" &
D1=$!
PIDS+=($D1)
"$WX" daemon --config "$WX_TMP/redis.toml" 2>"$WX_TMP/d2.log" &
D2=$!
PIDS+=($D2)
# Watch the shared token for three refreshes, recording every value seen.
K='wxtoken:{wxapp4}:access_token'
seen=$WX_TMP/seen
: >"$seen"
watch_tokens() {
    local deadline=$((SECONDS + WAIT_SECS)) v
    while [ "$SECONDS" -lt "$deadline" ]; do
        v=$(redis-cli -p "$rport" get "$K")
        if [ -n "$v" ] && ! grep -qx -e "$v" "$seen"; then echo "$v" >>"$seen"; fi
        [ "$(wc -l <"$seen")" -ge 3 ] && return 0
        sleep 0.1
    done
    return 1
}
check "two daemons on one Redis store: three tokens in turn" watch_tokens
kill -TERM "$D1" "$D2"
wait "$D1" "$D2"
c4=$(calls 4)
check "... from one upstream call per expiry, not two ($c4 calls for $(wc -l <"$seen") tokens)" \
    test "$c4" -le "$(($(wc -l <"$seen") + 1))"
r=$(($(refreshed 4 "$WX_TMP/d1.log") + $(refreshed 4 "$WX_TMP/d2.log")))
check "... each call one daemon's refresh ($r refreshes logged), the other saw it" test "$r" = "$c4"

# ============================================================ other SDKs' keys
# The SDKs want tokens that live a while (wechatpy ignores one with under
# 60 s left): publish a 7200 s token from one daemon.
redis-cli -p "$rport" flushall >/dev/null
at 4 /mock/reset >/dev/null
at 4 "/mock/expires_in?secs=7200" >/dev/null
"$WX" daemon --config "$WX_TMP/redis.toml" 2>"$WX_TMP/d3.log" &
D3=$!
PIDS+=($D3)
published() { [ -n "$(redis-cli -p "$rport" get wechatpy:wxapp4_access_token)" ]; }
check "the daemon publishes for the SDKs" wait_for published
token=$(redis-cli -p "$rport" get "$K")
check "WxJava's key (wx:access_token:APPID) holds the token, plain, with a TTL >= 2 s" \
    bash -c '[ "$(redis-cli -p "$1" get wx:access_token:wxapp4)" = "$2" ] &&
             [ "$(redis-cli -p "$1" ttl wx:access_token:wxapp4)" -ge 2 ]' _ "$rport" "$token"
check "silenceper's key (gowechat_officialaccount__access_token_APPID) holds the token, plain" \
    bash -c '[ "$(redis-cli -p "$1" get gowechat_officialaccount__access_token_wxapp4)" = "$2" ] &&
             [ "$(redis-cli -p "$1" ttl gowechat_officialaccount__access_token_wxapp4)" -gt 7000 ]' _ "$rport" "$token"
check "wechatpy reads the token through its own RedisStorage, without fetching" \
    "$PY" - "$rport" "$token" <<'PY'
import sys
from redis import Redis
from wechatpy import WeChatClient
from wechatpy.session.redisstorage import RedisStorage
port, want = int(sys.argv[1]), sys.argv[2]
client = WeChatClient("wxapp4", "secret_of_app_4", session=RedisStorage(Redis(port=port), prefix="wechatpy"))
# A wrong key or format would make it fetch from api.weixin.qq.com, which
# this machine cannot reach: an exception, and the check fails.
got = client.access_token
assert got == want, (got, want)
PY
check "... after one upstream call" test "$(calls 4)" = 1
kill -TERM "$D3"
wait "$D3"

summary
