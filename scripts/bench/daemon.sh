#!/usr/bin/env bash
# The central refresher at scale: `wxtoken daemon` keeping BENCH_DAEMON_APPS
# (10,000) apps on one Redis, against one wechat-mock that accepts any appid.
# Start-up until every app has a token, memory per app, a SIGHUP reload of
# the same config, CPU per refresh (a FLUSHDB makes every app refetch) and
# CPU at rest. RESULT lines for BENCHMARKS.md; nothing here passes or fails.
. "$(dirname "$0")/../../tests/lib.sh"
cd "$WX_TMP" || exit 1
APPS=${BENCH_DAEMON_APPS:-10000}
WX=$WX_TARGET/wxtoken
unset WX_APPID WX_APPSECRET WX_TOKEN_FILE WX_EXPIRY_FILE WX_API_BASE WX_REDIS_URL WX_PASSIVE \
    WX_APPSECRET_FILE WX_REFRESH_MARGIN WX_HTTP_TIMEOUT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
ms() { date +%s%3N; }
rss() { awk '/VmRSS/ { print $2 }' "/proc/$1/status"; }
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)

start_mock --appid '*' --secret secret_for_all --expires-in 7200
printf 'secret_for_all\n' >secret
chmod 600 secret
RPORT=$(free_port)
spawn REDIS TERM redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no \
    --maxclients 10000 >redis.log 2>&1
wait_for bash -c '[ "$(redis-cli -p "$1" ping 2>/dev/null)" = PONG ]' _ "$RPORT"

# config N FILE: N apps on the Redis.
config() {
    python3 - "$1" "$2" "$WX_TMP" "$MOCK_URL" "$RPORT" <<'PY'
import os, sys
n, out, tmp, url, port = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
with open(out, "w") as f:
    for i in range(n):
        f.write(f'[[app]]\nappid = "wxb{i:05d}"\nappsecret_file = "{tmp}/secret"\n'
                f'api_base = "{url}"\nredis_url = "redis://127.0.0.1:{port}/0"\n\n')
os.chmod(out, 0o600)
PY
}
tokens() { redis-cli -p "$RPORT" --scan --pattern 'wxtoken:{*}:access_token' | wc -l; }

# One app: the baseline memory.
config 1 one.toml
spawn ONE TERM "$WX" daemon --config one.toml 2>one.log
wait_for bash -c '[ "$(redis-cli -p "$1" --scan --pattern "wxtoken:{*}:access_token" | wc -l)" -ge 1 ]' _ "$RPORT"
sleep 2
base=$(rss "$ONE")
stop_group "$ONE"
redis-cli -p "$RPORT" flushall >/dev/null
mock /mock/reset >/dev/null

config "$APPS" many.toml
t0=$(ms)
spawn D TERM bash -c 'ulimit -n 1024 && exec "$0" daemon --config "$1" 2>"$2"' "$WX" many.toml "$WX_TMP/many.log"
WAIT_SECS=600 wait_for bash -c '[ "$(redis-cli -p "$1" --scan --pattern "wxtoken:{*}:access_token" | wc -l)" -ge "$2" ]' _ "$RPORT" "$APPS"
start_ms=$(($(ms) - t0))
calls=$(mock_stat token_calls)
sleep 5
mem=$(rss "$D")
fds=$(ls "/proc/$D/fd" | wc -l)
a=$(ticks "$D")
sleep 20
b=$(ticks "$D")
idle=$(awk -v t=$((b - a)) -v hz="$HZ" 'BEGIN { printf "%.2f", t * 100 / hz / 20 }')
n=$(grep -c "event=reloaded" many.log)
t0=$(ms)
kill -HUP "$D"
WAIT_SECS=600 wait_for bash -c '[ "$(grep -c "event=reloaded" "$1")" -gt "$2" ]' _ many.log "$n"
reload_ms=$(($(ms) - t0))
# Every app refetches: the CPU it takes, per refresh.
sleep 2
before_calls=$(mock_stat token_calls)
a=$(ticks "$D")
t0=$(ms)
redis-cli -p "$RPORT" flushdb >/dev/null
WAIT_SECS=600 wait_for bash -c '[ "$(redis-cli -p "$1" --scan --pattern "wxtoken:{*}:access_token" | wc -l)" -ge "$2" ]' _ "$RPORT" "$APPS"
refill_ms=$(($(ms) - t0))
b=$(ticks "$D")
refreshes=$(($(mock_stat token_calls) - before_calls))
cpu_ms=$(awk -v t=$((b - a)) -v hz="$HZ" -v n="$refreshes" 'BEGIN { printf "%.3f", n ? t * 1000 / hz / n : 0 }')
t0=$(ms)
stop_group "$D"
stop_ms=$(($(ms) - t0))
per_app=$(awk -v m="$mem" -v b="$base" -v n="$APPS" 'BEGIN { printf "%.2f", (m - b) / n }')
echo "daemon, $APPS apps on one Redis (ulimit -n 1024): all fresh in ${start_ms} ms from $calls upstream calls;"
echo "  RSS $mem KiB (one app: $base KiB, $per_app KiB per app), $fds descriptors, idle CPU $idle % of a core;"
echo "  SIGHUP reload of the same config ${reload_ms} ms; a FLUSHDB refilled in ${refill_ms} ms by $refreshes refreshes,"
echo "  ${cpu_ms} ms CPU per refresh; SIGTERM ${stop_ms} ms"
cat <<R
RESULT daemon_apps $APPS
RESULT daemon_start_ms $start_ms
RESULT daemon_start_calls $calls
RESULT daemon_rss_kib $mem
RESULT daemon_rss_one_kib $base
RESULT daemon_kib_per_app $per_app
RESULT daemon_fds $fds
RESULT daemon_idle_cpu_pct $idle
RESULT daemon_reload_ms $reload_ms
RESULT daemon_refill_ms $refill_ms
RESULT daemon_cpu_ms_per_refresh $cpu_ms
RESULT daemon_stop_ms $stop_ms
R
