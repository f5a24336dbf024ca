#!/usr/bin/env bash
# wxtoken daemon at scale (`make test-daemon`, issue #25): thousands of apps
# under `ulimit -n 1024`, on one Redis and on the token files, against one
# wechat-mock that accepts any appid.
#
# What is asserted is counted, not timed: every app's token readable,
# upstream calls within 1 % of one per app, descriptors, Redis clients, a
# SIGHUP that refetches nothing, idle metrics connections that change
# nothing. The times (start-up, CPU at rest) are printed, with caps wide
# enough for a loaded machine; `make bench` measures them properly.
#
# SCALE_REDIS_APPS and SCALE_FILE_APPS change the counts (5,000 and 1,000).

. "$(dirname "$0")/../lib.sh"
cd "$WX_TMP" || exit 1

WX=$WX_TARGET/wxtoken
REDIS_APPS=${SCALE_REDIS_APPS:-5000}
FILE_APPS=${SCALE_FILE_APPS:-1000}
# Every app fresh "within two minutes": allowed five on a loaded machine.
FRESH_CAP=${FRESH_CAP:-300}
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
fds() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

start_mock --appid '*' --secret secret_for_all --expires-in 7200
printf 'secret_for_all\n' >"$WX_TMP/secret"
chmod 600 "$WX_TMP/secret"
RPORT=$(free_port)
spawn REDIS TERM redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no \
    --maxclients 10000 >"$WX_TMP/redis.log" 2>&1
redis_up() { [ "$(redis-cli -p "$RPORT" ping 2>/dev/null)" = PONG ]; }
wait_for redis_up

# config N KIND FILE: N [[app]] tables, on Redis or on files.
config() {
    python3 - "$@" "$WX_TMP" "$MOCK_URL" "$RPORT" <<'PY'
import os, sys
n, kind, out, tmp, url, port = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
with open(out, "w") as f:
    for i in range(n):
        f.write(f'[[app]]\nappid = "wx{kind}{i:05d}"\nappsecret_file = "{tmp}/secret"\napi_base = "{url}"\n')
        if kind == "r":
            f.write(f'redis_url = "redis://127.0.0.1:{port}/0"\n')
        else:
            d = f"{tmp}/files/{i:05d}"
            os.makedirs(d, exist_ok=True)
            f.write(f'token_file = "{d}/token.txt"\nexpiry_file = "{d}/expiry.txt"\n')
        f.write("\n")
os.chmod(out, 0o600)
PY
}

# run_daemon VAR CONFIG LOG METRICS_PORT: the daemon under ulimit -n 1024.
run_daemon() {
    spawn "$1" TERM bash -c 'ulimit -n 1024 && exec "$0" daemon --config "$1" --metrics "127.0.0.1:$2" 2>"$3"' \
        "$WX" "$2" "$4" "$3"
}
health() { curl -s -m 30 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/healthz"; }

# ================================================================ Redis
config "$REDIS_APPS" r "$WX_TMP/redis.toml"
redis_tokens() { redis-cli -p "$RPORT" --scan --pattern 'wxtoken:{*}:access_token' | wc -l; }
all_redis() { [ "$(redis_tokens)" -ge "$REDIS_APPS" ]; }
MPORT=$(free_port)
LOG=$WX_TMP/redis-daemon.log
t0=$(ms)
run_daemon D "$WX_TMP/redis.toml" "$LOG" "$MPORT"
WAIT_SECS=$FRESH_CAP wait_for all_redis
took=$(secs_since "$t0")
check "$REDIS_APPS apps on one Redis under ulimit -n 1024: all have a token ($(redis_tokens), after $took s, cap $FRESH_CAP s)" \
    all_redis
calls=$(mock_stat token_calls)
check "... from $calls upstream calls (at most 1 % over one per app)" \
    test "$calls" -le $((REDIS_APPS + REDIS_APPS / 100))
healthy() { [ "$(health "$MPORT")" = 200 ]; }
check "... /healthz 200" wait_for healthy
n=$(fds "$D")
check "... $n descriptors (at most 200)" test "$n" -le 200
clients=$(($(redis-cli -p "$RPORT" client list | wc -l) - 1))
check "... $clients Redis clients (at most 100)" test "$clients" -le 100
check "... no 'Too many open files'" bash -c '! grep -q "Too many open files" "$1"' _ "$LOG"
a=$(cpu_ticks "$D")
sleep 10
b=$(cpu_ticks "$D")
hz=$(getconf CLK_TCK)
cpu=$(awk -v t=$((b - a)) -v hz="$hz" 'BEGIN { printf "%.1f", t * 100 / hz / 10 }')
check "... at rest: $cpu % of one core over 10 s (near zero; 25 % allowed)" \
    awk -v c="$cpu" 'BEGIN { exit !(c < 25) }'

# SIGHUP with the same config: every app kept, nothing refetched.
kill -HUP "$D"
wait_for grep -q "event=reloaded" "$LOG"
check "a SIGHUP keeps every app ($(grep -o 'event=reloaded.*' "$LOG" | tail -1))" \
    grep -q "event=reloaded apps=$REDIS_APPS kept=$REDIS_APPS started=0" "$LOG"
check "... refetches nothing ($(mock_stat token_calls) calls)" test "$(mock_stat token_calls)" = "$calls"
check "... and they stay fresh (/healthz 200)" healthy

# 1,100 idle connections to the metrics port, held open.
python3 - "$MPORT" 1100 "$WX_TMP/idle.ready" "$WX_TMP/idle.stop" <<'PY' &
import os, resource, socket, sys, time
port, n, ready, stop = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))
socks = []
for _ in range(n):
    s = socket.socket()
    s.settimeout(10)
    try:
        s.connect(("127.0.0.1", port))
    except OSError:
        pass
    socks.append(s)
open(ready, "w").close()
deadline = time.time() + 600
while not os.path.exists(stop) and time.time() < deadline:
    time.sleep(0.1)
PY
IDLE=$!
wait_for test -e "$WX_TMP/idle.ready"
n=$(fds "$D")
check "1,100 idle metrics connections: the daemon holds $n descriptors (at most 200)" test "$n" -le 200
check "... /healthz still answers 200" healthy
redis-cli -p "$RPORT" del 'wxtoken:{wxr00042}:access_token' >/dev/null
back() { [ -n "$(redis-cli -p "$RPORT" get 'wxtoken:{wxr00042}:access_token')" ]; }
check "... and a deleted token is still put back" wait_for back
touch "$WX_TMP/idle.stop"
wait "$IDLE"
t0=$(ms)
stop_group "$D"
check "SIGTERM with $REDIS_APPS apps: stopped in $(secs_since "$t0") s" true
check "the log holds no secret" bash -c '! grep -q secret_for_all "$1"' _ "$LOG"

# ================================================================ files
mock /mock/reset >/dev/null
config "$FILE_APPS" f "$WX_TMP/files.toml"
file_tokens() { find "$WX_TMP/files" -name token.txt -size +0 | wc -l; }
all_files() { [ "$(file_tokens)" -ge "$FILE_APPS" ]; }
MPORT=$(free_port)
LOG=$WX_TMP/files-daemon.log
t0=$(ms)
run_daemon F "$WX_TMP/files.toml" "$LOG" "$MPORT"
WAIT_SECS=$FRESH_CAP wait_for all_files
took=$(secs_since "$t0")
check "$FILE_APPS apps on files under ulimit -n 1024: all have a token ($(file_tokens), after $took s)" all_files
calls=$(mock_stat token_calls)
check "... from $calls upstream calls (at most 1 % over one per app)" \
    test "$calls" -le $((FILE_APPS + FILE_APPS / 100))
check "... /healthz 200" wait_for healthy
n=$(fds "$F")
check "... $n descriptors (at most 200)" test "$n" -le 200
: >"$WX_TMP/files/00007/token.txt"
refilled() { [ -s "$WX_TMP/files/00007/token.txt" ]; }
check "... an emptied token file is refilled" wait_for refilled
kill -HUP "$F"
check "a SIGHUP keeps every app" \
    wait_for grep -q "event=reloaded apps=$FILE_APPS kept=$FILE_APPS started=0" "$LOG"
stop_group "$F"
check "no 'Too many open files'" bash -c '! grep -q "Too many open files" "$1"' _ "$LOG"

summary
