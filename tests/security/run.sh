#!/usr/bin/env bash
# Hostile files and inputs against the shipped front ends (`make test-security`):
# the `wxtoken` CLI and the PHP extension, as root and as two unprivileged
# users, in a sticky world-writable directory like /tmp. The core's own tests
# (crates/wxtoken/tests/hostile_files.rs) cover each rule; this suite shows
# the binaries people run keep to them. See SECURITY.md.
#
# Needs root for the two-user cases (setpriv); without it they are reported
# as not run. Needs target/debug/{wxtoken,wechat-mock,libwxtoken_php.so}.

. "$(dirname "$0")/../lib.sh"
cd "$WX_TMP" || exit 1

PHP=${PHP:-php}
SECRET=test_secret_0123456789
# Copies other users can run, whatever the checkout's permissions.
bin=$WX_TMP/bin
mkdir -p "$bin"
cp "$WX_TARGET/wxtoken" "$WX_TARGET/libwxtoken_php.so" "$bin/"
chmod 755 "$WX_TMP" "$bin" "$bin"/*

start_mock
unset WX_TOKEN_FILE WX_EXPIRY_FILE WX_REFRESH_MARGIN WX_TOKEN_MODE WX_REDIS_URL WX_PASSIVE \
    WX_CA_FILE WX_APPSECRET_FILE WX_ALLOW_HTTP
export WX_APPID=wx_test_appid WX_APPSECRET=$SECRET WX_API_BASE=$MOCK_URL WX_HTTP_TIMEOUT=60

# wx DIR ARGS...: the CLI on DIR's files; output in $WX_TMP/out, status in $rc.
wx() {
    local dir=$1
    shift
    timeout 120 "$bin/wxtoken" --token-file "$dir/token.txt" --expiry-file "$dir/expiry.txt" "$@" \
        >"$WX_TMP/out" 2>&1
    rc=$?
}
says() { grep -q -e "$1" "$WX_TMP/out"; }
far() { echo $(($(date +%s) + 7000)); }

# -------------------------------------------------------------- links
d=$WX_TMP/lock-link
mkdir -p "$d"
printf 'precious\n' >"$WX_TMP/victim"
printf 'EXPIRED' >"$d/token.txt"
echo 1 >"$d/expiry.txt"
ln -s "$WX_TMP/victim" "$d/token.txt.lock"
wx "$d" refresh
check "lock file symlinked to another file: refresh refused (exit 2, names the link)" \
    bash -c '[ '$rc' = 2 ] && grep -q "token.txt.lock.*symbolic link" "$1"' _ "$WX_TMP/out"
check "... and the link's target untouched" test "$(cat "$WX_TMP/victim")" = precious
rm "$d/token.txt.lock"
ln "$WX_TMP/victim" "$d/token.txt.lock"
wx "$d" refresh
check "lock file hard-linked to another file: refused (exit 2)" \
    bash -c '[ '$rc' = 2 ] && grep -q "hard links" "$1"' _ "$WX_TMP/out"
check "... and that file untouched" test "$(cat "$WX_TMP/victim")" = precious

d=$WX_TMP/token-link
mkdir -p "$d"
printf 'FIRST_LINE_PRIVATE\n' >"$WX_TMP/private"
chmod 600 "$WX_TMP/private"
ln -s "$WX_TMP/private" "$d/token.txt"
far >"$d/expiry.txt"
wx "$d" get
check "token.txt symlinked to a private file: get refused, the file not printed" \
    bash -c '[ '$rc' = 2 ] && ! grep -q FIRST_LINE "$1"' _ "$WX_TMP/out"
wx "$d" status
check "... status neither (not even a preview)" bash -c '! grep -q FIRST_LI "$1"' _ "$WX_TMP/out"

# -------------------------------------------------------------- FIFOs and devices
d=$WX_TMP/fifo
mkdir -p "$d"
mkfifo "$d/token.txt"
far >"$d/expiry.txt"
for cmd in get status "invalidate X"; do
    # shellcheck disable=SC2086
    wx "$d" $cmd
    check "a FIFO at token.txt: $cmd ends with an error (exit $rc), never hangs" \
        bash -c '[ '$rc' = 2 ] && grep -q FIFO "$1"' _ "$WX_TMP/out"
done
out=$(timeout 120 "$PHP" -n -d "extension=$bin/libwxtoken_php.so" -d "wxtoken.token_file=$d/token.txt" \
    -d "wxtoken.expiry_file=$d/expiry.txt" -d max_execution_time=5 \
    -r 'var_dump(getToken()); echo wxtoken_last_error(), "\n";' 2>&1)
check "a FIFO at token.txt: PHP getToken() gives \"\" and says why" \
    bash -c '[[ "$1" == *"string(0)"*FIFO* ]]' _ "$out"

if [ "$(id -u)" = 0 ]; then
    d=$WX_TMP/dev
    mkdir -p "$d"
    mknod "$d/null" c 1 3
    chmod 666 "$d/null"
    timeout 120 "$bin/wxtoken" --token-file "$d/null" --expiry-file "$d/expiry.txt" refresh >"$WX_TMP/out" 2>&1
    rc=$?
    check "a device node as the token file: root refresh refused as configuration (exit $rc)" \
        bash -c '[ '$rc' = 2 ] && grep -q "character device" "$1"' _ "$WX_TMP/out"
    check "... the device is still a device, and no lock file beside it" \
        bash -c '[ -c "$1/null" ] && [ ! -e "$1/null.lock" ]' _ "$d"
fi

# -------------------------------------------------------------- two users in a shared directory
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
    as() { local uid=$1; shift; setpriv --reuid="$uid" --regid="$uid" --clear-groups "$@"; }
    shared=$WX_TMP/shared-tmp
    mkdir -p "$shared"
    chmod 1777 "$shared"
    # User A (65534) plants a token with a far expiry.
    as 65534 bash -c 'umask 022; printf ATTACKER_TOKEN >"$1/token.txt"; echo $(($(date +%s) + 7000)) >"$1/expiry.txt"' _ "$shared"
    # User B (65533) asks for a token from the same directory.
    as 65533 env HOME=/ timeout 120 "$bin/wxtoken" --token-file "$shared/token.txt" \
        --expiry-file "$shared/expiry.txt" get >"$WX_TMP/out" 2>&1
    rc=$?
    check "a token planted by another user in a sticky shared dir: the CLI refuses it (exit $rc)" \
        bash -c '[ '$rc' = 2 ] && grep -q "owned by uid 65534" "$1" && ! grep -q ATTACKER "$1"' _ "$WX_TMP/out"
    out=$(as 65533 env HOME=/ timeout 120 "$PHP" -n -d "extension=$bin/libwxtoken_php.so" \
        -d "wxtoken.token_file=$shared/token.txt" -d "wxtoken.expiry_file=$shared/expiry.txt" \
        -r 'var_dump(getToken()); echo wxtoken_last_error(), "\n";' 2>&1)
    check "... and PHP getToken() gives \"\" naming the file and the owner" \
        bash -c '[[ "$1" == *"string(0)"*"owned by uid 65534"* ]] && [[ "$1" != *ATTACKER* ]]' _ "$out"
    # The owner itself still uses its own files.
    as 65534 env HOME=/ timeout 120 "$bin/wxtoken" --token-file "$shared/token.txt" \
        --expiry-file "$shared/expiry.txt" get >"$WX_TMP/out" 2>&1
    check "... while its owner reads it as before" grep -qx ATTACKER_TOKEN "$WX_TMP/out"

    # User A plants what earlier versions used as fixed staging names and
    # commit marker (files, a FIFO) beside B's
    # cache, and guesses at temporary names. B's refreshes, invalidations
    # and gets go on, and nothing of A's is renamed in, truncated or waited on.
    cache=$shared/b-cache
    mkdir -p "$cache" && chmod 1777 "$cache"
    as 65533 bash -c 'printf "B_PRECIOUS\n" >"$1/b-notes"; chmod 644 "$1/b-notes"' _ "$cache"
    as 65534 bash -c 'umask 022; cd "$1" && printf PLANTED >.token.txt.wxtoken-new &&
        printf 1 >.expiry.txt.wxtoken-new && mkfifo .token.txt.wxtoken-commit &&
        for i in 0 1 2 3; do printf PLANTED >".token.txt.$$.$i.0.tmp"; done' _ "$cache"
    ok=0
    for step in get refresh "invalidate NOT_IT" refresh get; do
        # shellcheck disable=SC2086
        as 65533 env HOME=/ timeout 120 "$bin/wxtoken" --token-file "$cache/token.txt" \
            --expiry-file "$cache/expiry.txt" $step >"$WX_TMP/out" 2>&1 && ok=$((ok + 1))
    done
    check "files planted at the old staging and marker names stop no refresh, invalidate or get ($ok of 5)" \
        test "$ok" = 5
    check "... the token B gets is the mock's, never the planted one" \
        bash -c '! grep -q PLANTED "$1" && ! grep -q PLANTED "$2/token.txt"' _ "$WX_TMP/out" "$cache"
    check "... and B's other file is untouched" test "$(cat "$cache/b-notes")" = B_PRECIOUS
else
    echo "# not run: the two-user cases need root and setpriv"
fi

# -------------------------------------------------------------- inputs
d=$WX_TMP/inputs
mkdir -p "$d"
WX_API_BASE=http://api.weixin.qq.com wx "$d" get
check "an http:// API base off this machine is refused, naming WX_ALLOW_HTTP (exit $rc)" \
    bash -c '[ '$rc' = 2 ] && grep -q WX_ALLOW_HTTP "$1"' _ "$WX_TMP/out"
WX_API_BASE=https://user:hunter2pw@127.0.0.1:1 wx "$d" get
check "a user:password in the API base is refused and never echoed (exit $rc)" \
    bash -c '[ '$rc' = 2 ] && ! grep -q hunter2pw "$1"' _ "$WX_TMP/out"
wx "$d" --secret-file /dev/zero get
check "--secret-file /dev/zero: a configuration error at once, no endless read (exit $rc)" \
    bash -c '[ '$rc' = 2 ] && grep -q "character device" "$1"' _ "$WX_TMP/out"
mkfifo "$d/secret-fifo"
WX_APPSECRET_FILE=$d/secret-fifo wx "$d" get
check "WX_APPSECRET_FILE naming a FIFO: an error, no hang (exit $rc)" \
    bash -c '[ '$rc' = 2 ] && grep -q "WX_APPSECRET_FILE" "$1"' _ "$WX_TMP/out"
printf 'line1\nline2\n' >"$d/two-lines"
chmod 600 "$d/two-lines"
WX_APPSECRET_FILE=$d/two-lines wx "$d" get
check "a two-line secret file names WX_APPSECRET_FILE (exit $rc)" \
    bash -c '[ '$rc' = 2 ] && grep -q "WX_APPSECRET_FILE" "$1" && ! grep -q line1 "$1"' _ "$WX_TMP/out"
WX_CA_FILE=$d/missing.pem wx "$d" get
check "a missing WX_CA_FILE is a configuration error (exit $rc, not 5)" \
    bash -c '[ '$rc' = 2 ] && grep -q WX_CA_FILE "$1"' _ "$WX_TMP/out"
printf 'SOME_TOKEN' >"$d/token.txt"
echo 18446744073709551615 >"$d/expiry.txt"
wx "$d" status
check "status of an absurd expiry says so, not '9223372036854775807s left'" \
    bash -c 'grep -q "absurd" "$1" && ! grep -q 9223372036854775807s "$1"' _ "$WX_TMP/out"

summary
