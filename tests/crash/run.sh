#!/usr/bin/env bash
# Herds and crashes on the file pair (`make test-crash`): herds of CLI, C
# and PHP processes on an expired cache, round after round, must never be
# handed the expired token; `wxtoken refresh` killed with SIGKILL by strace
# at each write, fsync and rename it makes, then at each rename of both
# write orders followed by a plain `get` from each front end; then a storm of
# random SIGKILLs while legacy-style readers loop. After the next locked
# access the files must hold the old pair or the new pair, never a mix, and
# no temporary file may survive.
#
# Needs strace (make deps) and target/debug/{wxtoken,libwxtoken.so,
# libwxtoken_php.so,wechat-mock}.

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
bin=$WX_TMP/bin
mkdir -p "$bin"
"${CC:-gcc}" -std=c99 -Wall -Wextra -Werror -I"$WX_ROOT/include" "$WX_ROOT/tests/c/api_test.c" \
    -L"$WX_TARGET" -Wl,-rpath,"$WX_TARGET" -lwxtoken -lpthread -o "$bin/api_dynamic" ||
    { fail "api_test.c builds"; summary; exit 1; }
cp "$WX" "$WX_TARGET/libwxtoken_php.so" "$bin/"
export WXT_BIN=$bin
# get_with KIND: one plain `get` (no locked access first) from the CLI, C or PHP.
get_with() {
    case "$1" in
        cli) "$WX" get ;;
        c) "$bin/api_dynamic" get ;;
        php) php -n -d "extension=$bin/libwxtoken_php.so" -r '$t = getToken(); echo $t === "" ? "EMPTY " . wxtoken_last_error() : $t, "\n";' ;;
    esac
}

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

# ---------------------------------------------------------------- herds
# 32 processes (CLI, C and PHP) at once on a cache whose token expired long
# ago, 50 rounds. The writer renames both files while the others read them:
# a reader that paired the old token with the new expiry served a dead token.
ROUNDS=${HERD_ROUNDS:-50}
expired=0 empty=0 extra_calls=0 split=0
for r in $(seq 1 "$ROUNDS"); do
    printf 'EXPIRED_TOKEN_%s' "$r" >"$D/token.txt"
    echo 1 >"$D/expiry.txt"
    before=$(mock_stat token_calls)
    race 32 "$WX_TMP/herd" bash -c 'kinds=(cli c php); exec bash "$1" "${kinds[$(($$ % 3))]}" "$3" "$4"' \
        _ "$WX_ROOT/tests/racer.sh" "$r" >/dev/null ||
        { fail "herd round $r: all 32 racers started"; break; }
    calls=$(($(mock_stat token_calls) - before))
    [ "$calls" = 1 ] || extra_calls=$((extra_calls + 1))
    n=$(grep -lx "EXPIRED_TOKEN_$r" "$WX_TMP"/herd/out/* | wc -l)
    expired=$((expired + n))
    [ "$n" = 0 ] || echo "  # round $r: $n racers got the expired token" >&2
    e=$(grep -L '^[A-Za-z0-9_-]\{20,\}$' "$WX_TMP"/herd/out/* | wc -l)
    empty=$((empty + e))
    [ "$e" = 0 ] || { echo "  # round $r: $e racers got no token:" >&2; grep -hv '^[A-Za-z0-9_-]\{20,\}$' "$WX_TMP"/herd/out/* | sort | uniq -c | head -3 >&2; }
    [ "$(sort -u "$WX_TMP"/herd/out/* | wc -l)" = 1 ] || split=$((split + 1))
done
check "$ROUNDS herds of 32 (CLI, C, PHP) on an expired cache: no expired token handed out ($expired of $((ROUNDS * 32)))" \
    test "$expired" = 0
check "... every racer got a token ($empty without), one token per round ($split rounds split)" \
    test "$empty" = 0 -a "$split" = 0
check "... one upstream call per round ($extra_calls rounds with more)" test "$extra_calls" = 0

# ---------------------------------------------------------------- each rename, then a plain get
# The writer killed at each rename of both write orders: ahead of expiry
# (`refresh` while the old token works: expiry first) and after it (`get` on
# an expired cache: token first). The next plain `get`, from the CLI, C or
# PHP, without a locked access first, must return the new token if the
# commit record was written (rolled forward), never the old token with the
# new expiry; without a record, the old pair as it was.
read -r renames rename_call < <(awk '$NF ~ /^rename/ && $4 >= 2 {print $4, $NF; exit}' "$WX_TMP/counts")
bad=0 rounds=0 forward=0
for order in ahead expired; do
    for k in $(seq 1 "${renames:-0}"); do
        for kind in cli c php; do
            "$WX" refresh >/dev/null 2>&1
            if [ "$order" = ahead ]; then
                echo $(($(date +%s) + 5000)) >"$D/expiry.txt"
                what=refresh
            else
                echo 1 >"$D/expiry.txt"
                what=get
            fi
            old_t=$(cat "$D/token.txt") old_e=$(cat "$D/expiry.txt")
            { (strace -f -qq -o /dev/null -e "trace=$rename_call" -e "inject=$rename_call:signal=KILL:when=$k" \
                "$WX" "$what" >/dev/null 2>&1); } 2>/dev/null
            # The record is in the lock file (a marker file of its own
            # before), written before the first rename into place.
            recorded=no
            { grep -q '^c' "$D/token.txt.lock" || [ -e "$D/.token.txt.wxtoken-commit" ]; } 2>/dev/null && recorded=yes
            t=$(get_with "$kind" 2>&1)
            rounds=$((rounds + 1))
            if [ "$recorded" = yes ]; then
                forward=$((forward + 1))
                if [ "$t" = "$old_t" ] || ! valid_at_mock "$t"; then
                    bad=$((bad + 1))
                    echo "  # $order, rename #$k, $kind: got …${t: -12} (old …${old_t: -12}) after a recorded commit" >&2
                fi
            elif [ "$t" = "$old_t" ] && [ "$(cat "$D/expiry.txt")" != "$old_e" ]; then
                bad=$((bad + 1))
                echo "  # $order, rename #$k, $kind: the old token with a new expiry" >&2
            fi
        done
    done
done
check "a writer killed at each rename of both orders ($rounds kills, $forward after the commit record): the next plain get never serves the old token ($bad)" \
    test "$rounds" -ge 12 -a "$forward" -ge 6 -a "$bad" = 0
check "... and the commit record is gone after it" bash -c '! grep -q "^c" "$1" 2>/dev/null' _ "$D/token.txt.lock"

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
    # A refresh that cannot make new files: its fetch retired the old token
    # (WeChat drops it five minutes later), so the old pair must not stay
    # behind as valid. The pair is written in place instead.
    before=$(mock_stat token_calls)
    fresh=$("$WX" refresh 2>/dev/null)
    after=$(get_with php 2>&1)
    check "disk full: a refresh's new token is written in place and read by the next process (not the retired one)" \
        bash -c '[ -n "$1" ] && [ "$1" != "$2" ] && [ "$3" = "$1" ] && [ "$(cat "$4")" = "$1" ]' _ "$fresh" "$good" "$after" "$FULL/token.txt"
    check "... with the one upstream call of the refresh ($(($(mock_stat token_calls) - before)))" \
        test "$(($(mock_stat token_calls) - before))" = 1
    good=$fresh
    check "disk full: invalidate still drops the token (no new file needed)" \
        bash -c '[ "$("$1" invalidate "$2" 2>&1)" = dropped ] && [ ! -s "$3" ]' _ "$WX" "$good" "$FULL/token.txt"
    # Not even the emptied token file's block left: one PHP process asking
    # repeatedly makes one fetch, kept in the process, the condition logged
    # once, not a fetch per call.
    dd if=/dev/zero of="$FULL/filler2" bs=1k 2>/dev/null
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
