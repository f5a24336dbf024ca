#!/usr/bin/env bash
# Redis as production runs it (`make test-redis-ha`), all on loopback and
# started here: a TLS-only redis-server with a throwaway CA; a master, two
# replicas and three sentinels, the master then killed; a three-master
# Redis Cluster, the token's slot then migrated back and forth while
# processes ask. The CLI, C and PHP use the same URL forms; the daemon
# refreshes and publishes through a cluster URL.

. "$(dirname "$0")/../lib.sh"
cd "$WX_TMP" || exit 1

CC=${CC:-gcc}
SECRET=test_secret_0123456789
PASS=redis-ha-pass-5531
racer_bin
"$CC" -std=c99 -Wall -Wextra -Werror -I"$WX_ROOT/include" "$WX_ROOT/tests/c/api_test.c" \
    -L"$WX_TARGET" -Wl,-rpath,"$WX_TARGET" -lwxtoken -lpthread -o "$bin/api_dynamic" ||
    { fail "api_test.c builds"; summary; exit 1; }

# free_ports N: N distinct free loopback ports, all chosen while held open
# (so none is handed out twice), and each at most 55535 (a cluster node
# refuses a higher one unless told its bus port).
free_ports() {
    python3 -c '
import socket, sys
held, ports = [], []
while len(ports) < int(sys.argv[1]):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); held.append(s)
    if s.getsockname()[1] <= 55535:
        ports.append(s.getsockname()[1])
print(" ".join(map(str, ports)))' "$1"
}
# Every port the suite needs: TLS 1, Sentinel 3 + 3, Cluster 3 + 3 buses,
# the daemon's metrics 1.
read -r tport m r1 r2 s1 s2 s3 c1 c2 c3 b1 b2 b3 dport <<<"$(free_ports 14)"
# Client calls in loops are bounded, so that a hang in the feature fails a
# check instead of hanging the suite.
T=timeout\ 120
# ping PORT [redis-cli options]: the server there answers PONG.
ping() { local p=$1; shift; [ "$(redis-cli -p "$p" "$@" ping 2>/dev/null)" = PONG ]; }
# rc PORT ARGS...: redis-cli to a data node (with the password).
rc() { local p=$1; shift; redis-cli -p "$p" -a "$PASS" --no-auth-warning "$@"; }

start_mock --appid '*'
unset WX_TOKEN_FILE WX_EXPIRY_FILE WX_REFRESH_MARGIN WX_TOKEN_MODE WX_PASSIVE WX_CA_FILE \
    WX_APPSECRET_FILE WX_ALLOW_HTTP WX_REDIS_PREFIX WX_REDIS_URL
export WX_APPID=wx_test_appid WX_APPSECRET=$SECRET WX_API_BASE=$MOCK_URL WX_HTTP_TIMEOUT=10
export PHP_INI_SCAN_DIR=
K='wxtoken:{wx_test_appid}:access_token'

# herd NAME: 16 processes (CLI, C, PHP in turn) on an empty store with a slow
# upstream, so that all of them arrive while the one fetch is in flight:
# one upstream call, one token, printed by all 16.
herd() {
    local name=$1 dir=$WX_TMP/herd-$1 calls0 last distinct i kinds=(cli c php)
    rm -rf "$dir"
    mkdir -p "$dir/out" "$dir/ready"
    calls0=$(mock_stat token_calls)
    mock "/mock/fault?kind=slow&ms=400" >/dev/null
    RACE_GO=$dir/go
    RACE_PIDS=()
    for i in $(seq 1 16); do
        bash "$WX_ROOT/tests/racer.sh" "${kinds[$((i % 3))]}" "$dir/go" "$dir/ready/" >"$dir/out/$i" 2>&1 &
        RACE_PIDS+=($!)
    done
    wait_for all_ready "$dir/ready" 16
    check "$name: 16 processes (CLI, C, PHP) all started before the go" all_ready "$dir/ready" 16
    touch "$dir/go"
    for i in "${RACE_PIDS[@]}"; do wait "$i"; done
    RACE_GO=
    RACE_PIDS=()
    mock "/mock/fault?kind=none" >/dev/null
    last=$(mock_stat last_token)
    distinct=$(cat "$dir"/out/* | sort -u)
    check "$name: 16 processes on an empty store make one upstream call (got $(($(mock_stat token_calls) - calls0)))" \
        test "$(mock_stat token_calls)" = $((calls0 + 1))
    check "$name: one token, printed by all 16 ($(printf '%s\n' "$distinct" | wc -l) distinct)" \
        test "$distinct" = "$last" -a -n "$last" -a "$(cat "$dir"/out/* | grep -c -x -e "$last")" = 16
}

# ------------------------------------------------------------------ TLS
# A throwaway CA, a server certificate for 127.0.0.1 signed by it, and a
# second CA that signed nothing.
tls=$WX_TMP/tls
mkdir -p "$tls"
ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
{
    openssl req -x509 "${ec[@]}" -keyout "$tls/ca.key" -out "$tls/ca.pem" -days 2 -subj /CN=wxtoken-test-ca &&
        openssl req "${ec[@]}" -keyout "$tls/server.key" -out "$tls/server.csr" -subj /CN=127.0.0.1 &&
        printf 'subjectAltName=IP:127.0.0.1\n' >"$tls/ext" &&
        openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" -CAcreateserial \
            -out "$tls/server.pem" -days 2 -extfile "$tls/ext" &&
        openssl req -x509 "${ec[@]}" -keyout "$tls/other.key" -out "$tls/other.pem" -days 2 -subj /CN=other-ca
} >"$tls/openssl.log" 2>&1 || { fail "openssl makes a test CA: $(cat "$tls/openssl.log")"; summary; exit 1; }
chmod 600 "$tls"/*.key

spawn TLS_PID TERM redis-server --port 0 --tls-port "$tport" --bind 127.0.0.1 --save "" --appendonly no \
    --dir "$tls" --tls-cert-file "$tls/server.pem" --tls-key-file "$tls/server.key" \
    --tls-ca-cert-file "$tls/ca.pem" --tls-auth-clients no --requirepass "$PASS" >"$tls/redis.log" 2>&1
tcli() { redis-cli -p "$tport" --tls --cacert "$tls/ca.pem" -a "$PASS" --no-auth-warning "$@"; }
wait_for bash -c '[ "$(redis-cli -p '"$tport"' --tls --cacert "$1" ping 2>&1)" = "NOAUTH Authentication required." ]' _ "$tls/ca.pem" ||
    { fail "a TLS-only redis-server starts: $(tail -3 "$tls/redis.log")"; summary; exit 1; }
check "the TLS server has no plain-text port (redis-cli without TLS fails)" \
    bash -c '! redis-cli -p "$1" -a "$2" --no-auth-warning ping 2>/dev/null | grep -q PONG' _ "$tport" "$PASS"

turl="rediss://:$PASS@127.0.0.1:$tport/0"
calls0=$(mock_stat token_calls)
tok=$(WX_REDIS_URL=$turl WX_CA_FILE=$tls/ca.pem "$bin/wxtoken" get 2>"$WX_TMP/tls.err")
check "rediss:// with the private CA in WX_CA_FILE: the CLI caches a token" \
    test -n "$tok" -a "$(tcli get "$K")" = "$tok"
ptok=$(WX_REDIS_URL=$turl WX_CA_FILE=$tls/ca.pem php_ext -r 'echo getToken();')
check "rediss://: PHP reads the same token through TLS, no second call" \
    test "$ptok" = "$tok" -a "$(mock_stat token_calls)" = $((calls0 + 1))
check "rediss://: C reads the same token" \
    test "$(WX_REDIS_URL=$turl WX_CA_FILE=$tls/ca.pem "$bin/api_dynamic" get)" = "$tok"
tcli del "$K" "$K:expires_at" "$K:fetched_at" >/dev/null
calls0=$(mock_stat token_calls)
WX_REDIS_URL=$turl WX_CA_FILE=$tls/other.pem "$bin/wxtoken" get >"$WX_TMP/wrongca.out" 2>&1
rc_wrong=$?
check "a CA that did not sign the server's certificate: refused (exit $rc_wrong), saying why" \
    bash -c '[ "$1" -ne 0 ] && grep -qi "certificate\|tls\|issuer" "$2"' _ "$rc_wrong" "$WX_TMP/wrongca.out"
check "… with no upstream call and no password in the message" \
    bash -c 'test "$1" = "$2" && ! grep -qF "$3" "$4"' _ "$(mock_stat token_calls)" "$calls0" "$PASS" "$WX_TMP/wrongca.out"
WX_REDIS_URL=$turl "$bin/wxtoken" get >"$WX_TMP/noca.out" 2>&1
rc_noca=$?
check "no WX_CA_FILE: the system roots do not trust the test CA either (exit $rc_noca), no call" \
    test "$rc_noca" -ne 0 -a "$(mock_stat token_calls)" = "$calls0"
stop_group "$TLS_PID"

# ------------------------------------------------------------------ Sentinel
sen=$WX_TMP/sentinel
mkdir -p "$sen"
node_conf() { # PORT [replicaof PORT]
    mkdir -p "$sen/$1"
    printf 'port %s\nbind 127.0.0.1\nsave ""\nappendonly no\ndir %s\nrequirepass %s\nmasterauth %s\n' \
        "$1" "$sen/$1" "$PASS" "$PASS" >"$sen/$1.conf"
    [ -n "${2:-}" ] && printf 'replicaof 127.0.0.1 %s\n' "$2" >>"$sen/$1.conf"
    return 0
}
node_conf "$m" && node_conf "$r1" "$m" && node_conf "$r2" "$m"
spawn M_PID TERM redis-server "$sen/$m.conf" >"$sen/$m.log" 2>&1
spawn R1_PID TERM redis-server "$sen/$r1.conf" >"$sen/$r1.log" 2>&1
spawn R2_PID TERM redis-server "$sen/$r2.conf" >"$sen/$r2.log" 2>&1
sentinels=("$s1" "$s2" "$s3")
spids=()
for s in "${sentinels[@]}"; do
    mkdir -p "$sen/s$s"
    cat >"$sen/s$s.conf" <<CONF
port $s
bind 127.0.0.1
dir $sen/s$s
sentinel monitor wxmaster 127.0.0.1 $m 2
sentinel auth-pass wxmaster $PASS
sentinel down-after-milliseconds wxmaster 3000
sentinel failover-timeout wxmaster 10000
CONF
    spawn S_PID TERM redis-server "$sen/s$s.conf" --sentinel >"$sen/s$s.log" 2>&1
    spids+=("$S_PID")
done
# Ready when every sentinel sees the master, both replicas and the other two
# sentinels (they find each other through the master, every 2 s or so).
sentinels_ready() {
    local s info
    for s in "${sentinels[@]}"; do
        info=$(redis-cli -p "$s" sentinel master wxmaster 2>/dev/null | paste - - | tr '\t' ' ')
        grep -q "^num-slaves 2$" <<<"$info" && grep -q "^num-other-sentinels 2$" <<<"$info" || return 1
    done
}
wait_for sentinels_ready ||
    { fail "a master, two replicas and three sentinels start: $(tail -3 "$sen"/*.log)"; summary; exit 1; }
pass "a master, two replicas and three sentinels (quorum 2) are up"

S_URL="redis+sentinel://:$PASS@127.0.0.1:${sentinels[0]},127.0.0.1:${sentinels[1]},127.0.0.1:${sentinels[2]}/wxmaster/0"
export WX_REDIS_URL=$S_URL
herd sentinel
tok=$(mock_stat last_token)
check "sentinel: the token was written to the master" test "$(rc "$m" get "$K")" = "$tok"
check "sentinel: … and reaches both replicas" \
    wait_for bash -c 'for p in "$@"; do [ "$(redis-cli -p "$p" -a '"$PASS"' --no-auth-warning get "'"$K"'")" = "'"$tok"'" ] || exit 1; done' _ "$r1" "$r2"
"$bin/wxtoken" status >"$sen/status" 2>&1
check "sentinel: wxtoken status names the URL, password masked" \
    bash -c 'grep -qF "redis+sentinel://:***@127.0.0.1:" "$1" && ! grep -qF "$2" "$1"' _ "$sen/status" "$PASS"

# A long-lived PHP process (a php-fpm worker's life in small) holds a pooled
# connection to the master across two failovers: the master killed, then a
# manual failover that demotes the master it moved to. Each round waits for
# its go file (bounded, and over if the suite's directory is gone), then
# gets past the one-second memo, invalidates, gets twice.
php_long=$sen/long.php
cat >"$php_long" <<'PHP'
<?php
$dir = getenv("LONG_DIR");
$first = getToken();
touch("$dir/ready");
foreach ([1, 2] as $round) {
    $deadline = time() + 600;
    while (!file_exists("$dir/go$round")) {
        if (!is_dir($dir) || time() > $deadline) exit(1);
        usleep(20000);
    }
    sleep(2); // past the one-second memo: the next get asks the store
    $after = getToken();
    $gone = wxtoken_invalidate($after);
    $fresh = getToken();
    $again = getToken();
    file_put_contents("$dir/round$round", json_encode(["first" => $first, "after" => $after,
        "fresh" => $fresh, "again" => $again, "error" => wxtoken_last_error()]) . "\n");
}
PHP
LONG_DIR=$sen php_ext "$php_long" >"$sen/long.out" 2>&1 &
long_pid=$!
RACE_PIDS=("$long_pid")
wait_for test -e "$sen/ready"

calls0=$(mock_stat token_calls)
kill -9 "$M_PID"
# master_is NOT: the sentinels name a master other than NOT (printed).
master_not() {
    local a
    a=$(redis-cli -p "${sentinels[0]}" sentinel get-master-addr-by-name wxmaster 2>/dev/null | tail -1)
    [ -n "$a" ] && [ "$a" != "$1" ] && echo "$a"
}
check "sentinel: the master SIGKILLed, the sentinels promote a replica" wait_for master_not "$m" >/dev/null
promoted=$(master_not "$m")
check "sentinel: the promoted node ($promoted) is a replica that was ($r1 or $r2)" \
    bash -c '[ "$1" = "$2" ] || [ "$1" = "$3" ]' _ "$promoted" "$r1" "$r2"
t0=$SECONDS
g1=$($T "$bin/wxtoken" get 2>"$sen/g1.err")
check "after the failover: get works ($(cat "$sen/g1.err"))" test -n "$g1"
g2=$($T "$bin/wxtoken" refresh 2>"$sen/g2.err")
check "after the failover: refresh works ($(cat "$sen/g2.err"))" test -n "$g2" -a "$g2" != "$g1"
g3=$($T "$bin/wxtoken" get 2>"$sen/g3.err")
check "after the failover: get agrees with the refresh" test "$g3" = "$g2"
check "after the failover: the new token is on the promoted master" test "$(rc "$promoted" get "$K")" = "$g2"
check "get, refresh, get within the timeout ($((SECONDS - t0)) s; wide bound: 3 x (${WX_HTTP_TIMEOUT} s + 30 s))" \
    test $((SECONDS - t0)) -le $((3 * (WX_HTTP_TIMEOUT + 30)))
calls=$(($(mock_stat token_calls) - calls0))
check "the failover cost at most one upstream call besides the refresh ($calls calls)" \
    bash -c '[ "$1" -ge 1 ] && [ "$1" -le 2 ]' _ "$calls"
touch "$sen/go1"
wait_for test -e "$sen/round1"
# Its first read after the failover goes to the new master on its pooled
# connection's first failure, so it sees the refreshed token, not the one it
# read before (which it would serve, still valid, had the read failed).
check "a long-lived PHP process follows the failover: its next read finds the new master's token; invalidate, get, get agree ($(cat "$sen/round1"))" \
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["after"] == sys.argv[2] != d["first"] and d["fresh"] == d["again"] and d["fresh"] not in ("", d["after"]) and not d["error"], d' "$sen/round1" "$g3"

# A manual failover: the master the PHP process now talks to stays up,
# demoted to a replica (its clients are cut, or get READONLY for writes).
demoted=$promoted
failover_done() {
    redis-cli -p "${sentinels[0]}" sentinel failover wxmaster >/dev/null 2>&1
    master_not "$demoted" >/dev/null
}
check "sentinel: a manual failover moves the master off $demoted" wait_for failover_done
newest=$(master_not "$demoted")
check "… to the other replica ($newest), and $demoted becomes a replica" \
    wait_for bash -c '[ "$(redis-cli -p "$1" -a "$2" --no-auth-warning role | head -1)" = slave ]' _ "$demoted" "$PASS"
touch "$sen/go2"
wait_for test -e "$sen/round2"
wait "$long_pid"
RACE_PIDS=()
check "the PHP process follows the manual failover too: invalidate and get write the new token on $newest, never on the replica ($(cat "$sen/round2"))" \
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["after"] and d["fresh"] == d["again"] == sys.argv[2] and d["fresh"] != d["after"] and not d["error"], d' \
    "$sen/round2" "$(rc "$newest" get "$K")"

# A sentinel that accepts connections but never answers (SIGSTOP) is the
# first asked: it gets its share of the time, and the next one answers.
kill -STOP "${spids[0]}"
calls0=$(mock_stat token_calls)
t0=$SECONDS
g4=$($T "$bin/wxtoken" get 2>"$sen/g4.err")
check "the first sentinel stopped (SIGSTOP): a new process finds the master through the others ($(cat "$sen/g4.err"))" \
    test "$g4" = "$(rc "$newest" get "$K")" -a "$(mock_stat token_calls)" = "$calls0"
check "… within the timeout ($((SECONDS - t0)) s; wide bound ${WX_HTTP_TIMEOUT} s + 30 s)" \
    test $((SECONDS - t0)) -le $((WX_HTTP_TIMEOUT + 30))
kill -CONT "${spids[0]}"

# Every sentinel gone: no master can be found. A process with no token read
# before gets a store error naming what it tried, and nobody fetches.
for p in "${spids[@]}"; do stop_group "$p"; done
calls0=$(mock_stat token_calls)
t0=$SECONDS
$T "$bin/wxtoken" get >"$sen/nosentinel.out" 2>&1
rc_ns=$?
check "sentinels all stopped: get fails (exit $rc_ns) saying no sentinel answered, password masked" \
    bash -c '[ "$1" -ne 0 ] && grep -q "find the master through" "$2" && grep -q "sentinel 127.0.0.1" "$2" && ! grep -qF "$3" "$2"' \
    _ "$rc_ns" "$sen/nosentinel.out" "$PASS"
check "… within the timeout ($((SECONDS - t0)) s; wide bound ${WX_HTTP_TIMEOUT} s + 30 s), with no upstream call" \
    test $((SECONDS - t0)) -le $((WX_HTTP_TIMEOUT + 30)) -a "$(mock_stat token_calls)" = "$calls0"
unset WX_REDIS_URL
stop_groups

# ------------------------------------------------------------------ Cluster
cl=$WX_TMP/cluster
mkdir -p "$cl"
cports=("$c1" "$c2" "$c3")
buses=("$b1" "$b2" "$b3")
for n in 0 1 2; do
    p=${cports[$n]}
    mkdir -p "$cl/$p"
    spawn C_PID TERM redis-server --port "$p" --bind 127.0.0.1 --save "" --appendonly no --dir "$cl/$p" \
        --cluster-enabled yes --cluster-config-file "$cl/$p/nodes.conf" --cluster-node-timeout 5000 \
        --cluster-port "${buses[$n]}" \
        --requirepass "$PASS" --masterauth "$PASS" >"$cl/$p.log" 2>&1
done
for p in "${cports[@]}"; do
    wait_for ping "$p" -a "$PASS" --no-auth-warning ||
        { fail "cluster node $p starts: $(tail -2 "$cl/$p.log")"; summary; exit 1; }
done
redis-cli -a "$PASS" --no-auth-warning --cluster create "${cports[@]/#/127.0.0.1:}" --cluster-yes >"$cl/create.log" 2>&1
cluster_ok() { for p in "${cports[@]}"; do rc "$p" cluster info | grep -q "cluster_state:ok" || return 1; done; }
wait_for cluster_ok || { fail "redis-cli --cluster create makes a cluster: $(tail -5 "$cl/create.log")"; summary; exit 1; }
pass "three masters made into a cluster with redis-cli --cluster create"

C_URL="redis+cluster://:$PASS@127.0.0.1:${cports[0]},127.0.0.1:${cports[1]}"
export WX_REDIS_URL=$C_URL
herd cluster
tok=$(mock_stat last_token)
slot=$(rc "${cports[0]}" cluster keyslot "$K")
# Every key on every node, with the slot it hashes to.
all_keys() { for p in "${cports[@]}"; do rc "$p" --scan; done; }
all_keys >"$cl/keys"
check "cluster: the token's keys are where the cache wrote them ($(wc -l <"$cl/keys") keys)" \
    grep -qxF "$K:expires_at" "$cl/keys"
slots_ok=yes
while read -r key; do
    [ "$(rc "${cports[0]}" cluster keyslot "$key")" = "$slot" ] || slots_ok="no: $key"
done <"$cl/keys"
check "cluster: every key the cache wrote is in one slot ($slot): $slots_ok" test "$slots_ok" = yes
check "cluster: redis-cli -c reads the token" test "$(rc "${cports[2]}" -c get "$K")" = "$tok"

# The node that owns the slot, by port.
owner() {
    rc "${cports[0]}" cluster nodes | awk -v s="$slot" '$3 ~ /master/ {
        for (i = 9; i <= NF; i++) { split($i, r, "-"); if ((r[2] == "" && r[1] == s) || (s >= r[1] && s <= r[2])) { split($2, a, "[:@]"); print a[2] } } }'
}
node_id() { rc "$1" cluster myid; }
# migrate_slot FROM TO: moves the slot the way redis-cli --cluster reshard
# does (IMPORTING, MIGRATING, MIGRATE of each key, then the new owner
# announced to every node), slowly enough that callers meet ASK and TRYAGAIN.
migrate_slot() {
    local from=$1 to=$2 from_id to_id keys p rounds=0 out
    [ -n "$from" ] && [ -n "$to" ] || { echo "# migrate_slot: no node ($from -> $to)"; return 1; }
    from_id=$(node_id "$from") to_id=$(node_id "$to")
    rc "$to" cluster setslot "$slot" importing "$from_id" >/dev/null
    rc "$from" cluster setslot "$slot" migrating "$to_id" >/dev/null
    # Pauses while the slot is half-moved, longest after the first key has
    # gone: callers then meet ASK (a key already moved) and TRYAGAIN (the
    # token's keys split between the two nodes).
    sleep 0.5
    local pause=1
    while [ "$rounds" -lt 100 ]; do
        rounds=$((rounds + 1))
        # (An empty answer is an empty line: not a key.)
        mapfile -t keys < <(rc "$from" cluster getkeysinslot "$slot" 100 | grep .)
        [ "${#keys[@]}" -eq 0 ] && break
        for key in "${keys[@]}"; do
            out=$(rc "$from" migrate 127.0.0.1 "$to" "" 0 5000 auth "$PASS" keys "$key" 2>&1)
            case "$out" in OK | NOKEY) ;; *) echo "# migrate $key: $out" ;; esac
            sleep "$pause"
            pause=0.15
        done
    done
    for p in "$to" "$from" "${cports[@]}"; do rc "$p" cluster setslot "$slot" node "$to_id" >/dev/null; done
    [ "$rounds" -lt 100 ]
}
# Askers: CLI, C and PHP processes asking again and again while the slot
# moves; every answer must be a token. Asker 0 also refreshes every third
# round (into ask-0.refresh), so the slot sees the lock and the write too.
# Each stops at the stop file, or if the suite's directory is gone.
ask_loop() {
    local n=0 out=$cl/ask-$1 kinds=(cli c php) t
    : >"$out"
    while [ -d "$cl" ] && { [ ! -e "$cl/stop" ] || [ "$n" -lt 3 ]; }; do
        n=$((n + 1))
        case "${kinds[$(($1 % 3))]}" in
            cli) t=$($T "$bin/wxtoken" get 2>&1) ;;
            c) t=$($T "$bin/api_dynamic" get 2>&1) ;;
            php) t=$($T "${PHP:-php}" -n -d "extension=$bin/libwxtoken_php.so" -r '$t = getToken(); echo $t === "" ? "EMPTY " . wxtoken_last_error() : $t;' 2>&1) ;;
        esac
        printf '%s\n' "$t" >>"$out"
        if [ "$1" = 0 ] && [ $((n % 3)) = 0 ]; then
            $T "$bin/wxtoken" refresh >>"$out.refresh" 2>&1
        fi
    done
}
rm -f "$cl/stop"
for p in "${cports[@]}"; do rc "$p" config resetstat >/dev/null; done
calls0=$(mock_stat token_calls)
RACE_PIDS=()
for i in 0 1 2 3 4 5; do ask_loop "$i" & RACE_PIDS+=($!); done
first=$(owner)
others=()
for p in "${cports[@]}"; do [ "$p" != "$first" ] && others+=("$p"); done
migrated=yes
migrate_slot "$first" "${others[0]}" || migrated=no
moved1=$(owner)
migrate_slot "${others[0]}" "${others[1]}" || migrated=no
moved2=$(owner)
migrate_slot "${others[1]}" "$first" || migrated=no
moved3=$(owner)
touch "$cl/stop"
for p in "${RACE_PIDS[@]}"; do wait "$p"; done
RACE_PIDS=()
check "cluster: the slot moved $first -> $moved1 -> $moved2 -> $moved3 while processes asked" \
    test "$migrated" = yes -a "$moved1" = "${others[0]}" -a "$moved2" = "${others[1]}" -a "$moved3" = "$first"
# Redirections the nodes handed out during the moves: the askers did meet
# the half-moved slot.
redirects=0
for p in "${cports[@]}"; do
    n=$(rc "$p" info errorstats | tr -d '\r' | sed -n 's/^errorstat_\(ASK\|TRYAGAIN\):count=//p' | awk '{ s += $1 } END { print s + 0 }')
    redirects=$((redirects + ${n:-0}))
done
check "cluster: callers met the slot half-moved ($redirects ASK and TRYAGAIN answers from the nodes)" \
    test "$redirects" -gt 0
answers=$(cat "$cl"/ask-? | wc -l)
bad=$(cat "$cl"/ask-? | grep -v -c -x '[A-Za-z0-9_-]\{20,\}')
check "cluster: every get during the resharding answered a token ($answers answers, $bad not a token)" \
    test "$bad" = 0 -a "$answers" -ge 18
[ "$bad" = 0 ] || grep -v -x '[A-Za-z0-9_-]\{20,\}' "$cl"/ask-? | head -5
refreshes=$(wc -l <"$cl/ask-0.refresh")
rbad=$(grep -v -c -x '[A-Za-z0-9_-]\{20,\}' "$cl/ask-0.refresh")
check "cluster: every refresh during the resharding answered a new token ($refreshes refreshes, $rbad not a token)" \
    test "$rbad" = 0 -a "$refreshes" -ge 1
check "cluster: one upstream call per refresh and none for the gets: nothing was lost in the moves ($(($(mock_stat token_calls) - calls0)) calls)" \
    test "$(mock_stat token_calls)" = $((calls0 + refreshes))

# The daemon keeps the tokens of three apps on the cluster (their keys in
# three slots, read in one batch) and publishes them there for two SDKs
# (whose keys fall in yet other slots).
rc "$(owner)" del "$K" "$K:expires_at" "$K:fetched_at" >/dev/null
for a in wx_test_appid wx_test_appid2 wx_test_appid3; do
    cat <<TOML
[[app]]
appid = "$a"
appsecret_file = "$cl/secret"
api_base = "$MOCK_URL"
redis_url = "$C_URL"
publish = ["silenceper", "wechatpy"]
publish_redis_url = "$C_URL"
TOML
done >"$cl/daemon.toml"
slots=$(for a in wx_test_appid wx_test_appid2 wx_test_appid3; do rc "${cports[0]}" cluster keyslot "wxtoken:{$a}:access_token"; done | sort -u | wc -l)
check "cluster: the daemon's three apps hash to three slots" test "$slots" = 3
printf '%s' "$SECRET" >"$cl/secret"
chmod 600 "$cl/daemon.toml" "$cl/secret"
unset WX_REDIS_URL
spawn D_PID TERM "$bin/wxtoken" daemon --config "$cl/daemon.toml" --metrics "127.0.0.1:$dport" >"$cl/daemon.log" 2>&1
# dget KEY: the key's value, wherever in the cluster it lives.
dget() { rc "${cports[0]}" -c get "$1"; }
all_kept() {
    local a
    for a in wx_test_appid wx_test_appid2 wx_test_appid3; do
        [ -n "$(dget "wxtoken:{$a}:access_token")" ] || return 1
    done
}
check "daemon on a cluster URL: keeps the three apps' tokens in the cluster" wait_for all_kept
all_published() {
    local a t
    for a in wx_test_appid wx_test_appid2 wx_test_appid3; do
        t=$(dget "wxtoken:{$a}:access_token")
        [ -n "$t" ] && [ "$(dget "gowechat_officialaccount__access_token_$a")" = "$t" ] &&
            [ "$(dget "wechatpy:${a}_access_token")" = "\"$t\"" ] || return 1
    done
}
check "daemon: publishes each for silenceper/wechat and wechatpy on the cluster" wait_for all_published
# The watcher's batch read spans the three slots: every app is seen with
# its token's time left, none as missing.
all_seen() {
    curl -fsS "http://127.0.0.1:$dport/metrics" >"$cl/metrics" 2>/dev/null || return 1
    [ "$(grep '^wxtoken_token_seconds_left{.*credential="access_token"' "$cl/metrics" | awk '$2 > 60' | wc -l)" = 3 ]
}
check "daemon: its metrics show all three tokens with time left (the batched read across slots works)" wait_for all_seen
check "daemon: no password in its log" bash -c '! grep -qF "$1" "$2"' _ "$PASS" "$cl/daemon.log"
check "daemon: healthy" bash -c 'curl -fsS "http://127.0.0.1:$1/healthz" >/dev/null' _ "$dport"

summary
