#!/usr/bin/env bash
# The Redis store across processes and languages (`make test-redis`): a real
# redis-server on a free loopback port, started here; the CLI, a C program
# and PHP as 4 simulated hosts x 16 processes; a lock holder killed with
# SIGKILL mid-fetch; the keys read back with redis-cli. The core's own tests
# (crates/wxtoken/tests/redis_store.rs) cover Redis going away, stalling and
# coming back, ACL users and database numbers.

. "$(dirname "$0")/../lib.sh"
cd "$WX_TMP" || exit 1

CC=${CC:-gcc}
SECRET=test_secret_0123456789
REDIS_PASS=redis-pass-4417
bin=$WX_TMP/bin
mkdir -p "$bin"
cp "$WX_TARGET/wxtoken" "$WX_TARGET/libwxtoken_php.so" "$bin/"
"$CC" -std=c99 -Wall -Wextra -Werror -I"$WX_ROOT/include" "$WX_ROOT/tests/c/api_test.c" \
    -L"$WX_TARGET" -Wl,-rpath,"$WX_TARGET" -lwxtoken -lpthread -o "$bin/api_dynamic" ||
    { fail "api_test.c builds"; summary; exit 1; }
export WXT_BIN=$bin

# ------------------------------------------------------------- redis-server
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$WX_TMP/redis.conf" <<CONF
port $port
bind 127.0.0.1
save ""
appendonly no
dir $WX_TMP
requirepass $REDIS_PASS
CONF
# Stopped by tests/lib.sh's cleanup, which waits until it is gone.
spawn REDIS_PID TERM redis-server "$WX_TMP/redis.conf" >"$WX_TMP/redis.log" 2>&1
rcli() { redis-cli -p "$port" -a "$REDIS_PASS" --no-auth-warning "$@"; }
wait_for bash -c '[ "$(redis-cli -p '"$port"' -a '"$REDIS_PASS"' --no-auth-warning ping 2>/dev/null)" = PONG ]' ||
    { fail "redis-server starts (make deps installs it)"; summary; exit 1; }

start_mock
unset WX_TOKEN_FILE WX_EXPIRY_FILE WX_REFRESH_MARGIN WX_TOKEN_MODE WX_PASSIVE WX_CA_FILE \
    WX_APPSECRET_FILE WX_ALLOW_HTTP WX_REDIS_PREFIX
export WX_APPID=wx_test_appid WX_APPSECRET=$SECRET WX_API_BASE=$MOCK_URL WX_HTTP_TIMEOUT=60
export WX_REDIS_URL="redis://:$REDIS_PASS@127.0.0.1:$port/0"
export PHP_INI_SCAN_DIR=
K='wxtoken:{wx_test_appid}:access_token'

# ------------------------------------------------------------- 4 hosts x 16
# An expired pair, as another writer might leave it; a slow answer keeps the
# one fetch in flight while the others arrive.
rcli set "$K" EXPIRED_TOKEN >/dev/null
rcli set "$K:expires_at" 1 >/dev/null
mock "/mock/fault?kind=slow&ms=400" >/dev/null
dir=$WX_TMP/race
mkdir -p "$dir"
# Each "host" has its own working directory and (unused) file settings:
# nothing in common but Redis. Kinds rotate: CLI, C, PHP.
racer() {
    local n=$1
    shift
    local h=$((n % 4)) kinds=(cli c php)
    mkdir -p "$dir/host$h"
    cd "$dir/host$h" && T_TOKEN_FILE=$dir/host$h/token.txt T_EXPIRY_FILE=$dir/host$h/expiry.txt \
        exec bash "$WX_ROOT/tests/racer.sh" "${kinds[$((n % 3))]}" "$@"
}
rm -rf "$dir/out" "$dir/ready" "$dir/go"
mkdir -p "$dir/out" "$dir/ready"
pids=()
for i in $(seq 1 64); do
    racer "$i" "$dir/go" "$dir/ready/" >"$dir/out/$i" 2>&1 &
    pids+=($!)
done
wait_for all_ready "$dir/ready" 64
check "64 processes (CLI, C, PHP on 4 hosts) all started before the go" all_ready "$dir/ready" 64
touch "$dir/go"
for p in "${pids[@]}"; do wait "$p"; done
mock "/mock/fault?kind=none" >/dev/null
last=$(mock_stat last_token)
distinct=$(cat "$dir"/out/* | sort -u)
check "64 processes: one token for all ($(printf '%s\n' "$distinct" | wc -l) distinct)" \
    test "$distinct" = "$last" -a -n "$last"
check "64 processes: exactly one upstream call (got $(mock_stat token_calls))" \
    test "$(mock_stat token_calls)" = 1
check "64 processes: each printed the token ($(cat "$dir"/out/* | grep -c -x -e "$last") of 64)" \
    test "$(cat "$dir"/out/* | grep -c -x -e "$last")" = 64
check "no cache file was written on any host (the store is Redis)" \
    bash -c '! ls "$1"/host*/token.txt 2>/dev/null | grep -q .' _ "$dir"

# ------------------------------------------------------------- the keys
check "redis-cli reads the token as a plain string" test "$(rcli get "$K")" = "$last"
exp=$(rcli get "$K:expires_at")
check "redis-cli reads expires_at as decimal Unix seconds ($exp)" \
    bash -c '[[ "$1" =~ ^[0-9]+$ ]] && [ "$1" -gt "$(date +%s)" ]' _ "$exp"
ttl=$(rcli ttl "$K")
check "the token key has a TTL until expiry ($ttl s)" bash -c '[ "$1" -gt 7000 ] && [ "$1" -le 7200 ]' _ "$ttl"
rcli --scan >"$WX_TMP/keys"
check "every key is in the {appid} hash slot ($(wc -l <"$WX_TMP/keys") keys)" \
    bash -c '! grep -v -F "{wx_test_appid}" "$1"' _ "$WX_TMP/keys"
leak=no
while read -r key; do
    case "$key" in *"$SECRET"*) leak=yes ;; esac
    case "$(rcli get "$key" 2>/dev/null)" in *"$SECRET"*) leak=yes ;; esac
done <"$WX_TMP/keys"
check "no key and no value holds the secret" test $leak = no
"$bin/wxtoken" status >"$WX_TMP/status" 2>&1
check "wxtoken status names the store, server and key, password masked" \
    bash -c 'grep -q "store: *redis redis://:\*\*\*@127.0.0.1" "$1" && grep -qF "$2" "$1" && ! grep -q "$3" "$1"' \
    _ "$WX_TMP/status" "$K" "$REDIS_PASS"

# ------------------------------------------------------------- SIGKILL mid-fetch
rcli del "$K" "$K:expires_at" >/dev/null
mock /mock/reset >/dev/null
mock "/mock/fault?kind=slow&ms=3600000" >/dev/null
# A holder with a 3 s timeout: its lock lives 3 + 2 s.
WX_HTTP_TIMEOUT=3 "$bin/wxtoken" get >/dev/null 2>&1 &
holder=$!
wait_for bash -c '[ "$(redis-cli -p '"$port"' -a '"$REDIS_PASS"' --no-auth-warning exists "$1")" = 1 ]' _ "$K:lock"
kill -9 "$holder"
wait "$holder" 2>/dev/null
check "a refresh killed with SIGKILL mid-fetch leaves its lock behind (pttl $(rcli pttl "$K:lock") ms)" \
    test "$(rcli exists "$K:lock")" = 1
mock /mock/reset >/dev/null
token=$(timeout 120 "$bin/wxtoken" get 2>"$WX_TMP/err")
check "the next refresh proceeds once that lock expires, not forever" \
    test -n "$token" -a "$token" = "$(mock_stat last_token)"
check "... with one upstream call, and no lock left" \
    test "$(mock_stat token_calls)" = 1 -a "$(rcli exists "$K:lock")" = 0

# ------------------------------------------------------------- fork
# A C program on Redis forking while its threads are inside wx_get_token():
# the connection (held across a round trip) and the memo are per process,
# so no child inherits one locked by a thread it does not have.
forks() { timeout 600 "$bin/api_dynamic" fork >"$WX_TMP/fork.out" 2>&1 || { cat "$WX_TMP/fork.out" >&2; return 1; }; }
check "200 forks while 4 threads are inside wx_get_token() on Redis: every child gets the token (none hangs)" forks

summary
