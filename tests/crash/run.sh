#!/usr/bin/env bash
# Crashes at every step of a refresh (`make test-crash`): `wxtoken refresh`
# killed with SIGKILL by strace at each write, fsync and rename it makes,
# then a storm of random SIGKILLs while legacy-style readers loop. After the
# next locked access the files must hold the old pair or the new pair, never
# a mix, and no temporary file may survive.
#
# Needs strace (make deps) and target/debug/{wxtoken,wechat-mock}.

. "$(dirname "$0")/../lib.sh"
cd "$WX_TMP" || exit 1
command -v strace >/dev/null || { fail "strace is installed (make deps installs it)"; summary; exit 1; }

start_mock
D=$WX_TMP/cache
mkdir -p "$D"
unset WX_REDIS_URL WX_PASSIVE WX_CA_FILE WX_APPSECRET_FILE WX_REFRESH_MARGIN WX_TOKEN_MODE
export WX_APPID=wx_test_appid WX_APPSECRET=test_secret_0123456789 WX_API_BASE=$MOCK_URL \
    WX_HTTP_TIMEOUT=60 WX_TOKEN_FILE=$D/token.txt WX_EXPIRY_FILE=$D/expiry.txt
WX=$WX_TARGET/wxtoken

# valid_at_mock TOKEN: the mock's business API accepts it.
valid_at_mock() { mock "/cgi-bin/getcallbackip?access_token=$1" | grep -q ip_list; }
litter() { ls -a "${1:-$D}" | grep -E '\.tmp$|wxtoken-new$|wxtoken-commit$'; }
# A locked access that changes nothing: invalidating a token nobody has.
locked_access() { "$WX" invalidate NOT_THE_CACHED_TOKEN >/dev/null 2>&1; }

# ---------------------------------------------------------------- each step
# How many of each syscall one refresh makes (threads included).
"$WX" get >/dev/null
strace -f -qq -c -o "$WX_TMP/counts" -e trace=write,fsync,rename,renameat,renameat2 "$WX" refresh >/dev/null 2>&1
count() { awk -v s="$1" '$NF == s {print $4}' "$WX_TMP/counts"; }
steps=0 mixed=0 leftovers=0 bad_new=0
for call in write fsync rename renameat renameat2; do
    n=$(count "$call")
    [ -n "$n" ] || continue
    for k in $(seq 1 "$n"); do
        # A known, valid old pair, with an expiry no new pair can have
        # (a new one is its fetch's start + 7200).
        "$WX" refresh >/dev/null 2>&1
        echo $(($(date +%s) + 5000)) >"$D/expiry.txt"
        old_t=$(cat "$D/token.txt") old_e=$(cat "$D/expiry.txt")
        (strace -f -qq -o /dev/null -e "trace=$call" -e "inject=$call:signal=KILL:when=$k" \
            "$WX" refresh >/dev/null 2>&1) 2>/dev/null
        locked_access
        t=$(cat "$D/token.txt") e=$(cat "$D/expiry.txt")
        steps=$((steps + 1))
        if [ "$t" = "$old_t" ]; then
            [ "$e" = "$old_e" ] || { mixed=$((mixed + 1)); echo "  # $call #$k: old token, new expiry" >&2; }
        else
            [ "$e" != "$old_e" ] || { mixed=$((mixed + 1)); echo "  # $call #$k: new token, old expiry" >&2; }
            [ "$e" -gt "$(date +%s)" ] && valid_at_mock "$t" || bad_new=$((bad_new + 1))
        fi
        [ -z "$(litter)" ] || { leftovers=$((leftovers + 1)); echo "  # $call #$k: left $(litter | tr '\n' ' ')" >&2; }
    done
done
check "a refresh killed at each of its $steps writes, fsyncs and renames: never a mixed pair ($mixed)" \
    test "$steps" -gt 5 -a "$mixed" = 0
check "... a new pair only when whole and accepted by the mock ($bad_new bad)" test "$bad_new" = 0
check "... and no temporary or staged file after the next locked access ($leftovers times)" test "$leftovers" = 0

# ---------------------------------------------------------------- a storm
# Legacy-style readers loop on the files meanwhile: never an empty token or
# expiry (a torn read).
cat >"$WX_TMP/reader.sh" <<'SH'
torn=0 reads=0
while [ ! -e "$1/stop" ]; do
    t=$(cat "$1/token.txt" 2>/dev/null) e=$(cat "$1/expiry.txt" 2>/dev/null)
    reads=$((reads + 1))
    if [ -z "$t" ] || [ -z "$e" ]; then torn=$((torn + 1)); fi
done
echo "$reads $torn"
SH
readers=()
for i in 1 2 3 4; do
    bash "$WX_TMP/reader.sh" "$D" >"$WX_TMP/reader$i.out" &
    readers+=($!)
done
kills=0
for i in $(seq 1 160); do
    "$WX" refresh >/dev/null 2>&1 &
    p=$!
    # Anywhere from before the request to after the renames.
    sleep "0.00$((RANDOM % 10))$((RANDOM % 10))"
    kill -9 "$p" 2>/dev/null && kills=$((kills + 1))
    wait "$p" 2>/dev/null || true
    [ $((i % 8)) = 0 ] && locked_access
done
touch "$D/stop"
for p in "${readers[@]}"; do wait "$p"; done
locked_access
rm -f "$D/stop"
torn=$(cat "$WX_TMP"/reader*.out | awk '{t += $2} END {print t + 0}')
reads=$(cat "$WX_TMP"/reader*.out | awk '{r += $1} END {print r + 0}')
t=$(cat "$D/token.txt") e=$(cat "$D/expiry.txt")
check "a storm of $kills SIGKILLs among 160 refreshes: no torn read in $reads reads by 4 readers ($torn)" \
    test "$kills" -ge 100 -a "$torn" = 0
check "... no temporary or staged file left ($(litter | wc -l))" test -z "$(litter)"
check "... and the final token is valid at the mock, with an expiry ahead" \
    bash -c '[ "$2" -gt "$(date +%s)" ]' _ "$t" "$e"
valid_at_mock "$t"
check "... (the business API accepts it)" valid_at_mock "$t"

# ---------------------------------------------------------------- a full disk
# A tmpfs of 64 KiB, filled to the last byte once the cache is in place.
FULL=$WX_TMP/full
mkdir -p "$FULL"
if mount -t tmpfs -o size=64k tmpfs "$FULL" 2>/dev/null; then
    trap 'umount "$FULL" 2>/dev/null; cleanup' EXIT
    export WX_TOKEN_FILE=$FULL/token.txt WX_EXPIRY_FILE=$FULL/expiry.txt
    good=$("$WX" get 2>/dev/null)
    locked_access
    dd if=/dev/zero of="$FULL/filler" bs=1k 2>/dev/null
    check "disk full: invalidate still drops the token (no new file needed)" \
        bash -c '[ "$("$1" invalidate "$2" 2>&1)" = dropped ] && [ ! -s "$3" ]' _ "$WX" "$good" "$FULL/token.txt"
    # One PHP process asking repeatedly: one fetch, kept in the process, the
    # condition logged once, not a fetch per call.
    before=$(mock_stat token_calls)
    out=$(php -n -d "extension=$WX_TARGET/libwxtoken_php.so" -d "error_log=$WX_TMP/full-errors.log" -r '
        $t = [];
        for ($i = 0; $i < 20; $i++) { $t[] = getToken(); }
        echo count(array_unique($t)), " ", $t[0] === "" ? "EMPTY" : "TOKEN", "\n";' 2>&1)
    calls=$(($(mock_stat token_calls) - before))
    logged=$(grep -c "token fetched but not cached" "$WX_TMP/full-errors.log" 2>/dev/null || echo 0)
    check "disk full: 20 calls in one process make one fetch ($calls), serve one token ($out), say so once ($logged)" \
        test "$calls" = 1 -a "$out" = "1 TOKEN" -a "$logged" = 1
    check "... and leave nothing half-written behind" test -z "$(litter "$FULL")"
    umount "$FULL"
else
    fail "a 64 KiB tmpfs can be mounted for the disk-full case (needs root)"
fi

summary
