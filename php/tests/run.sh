#!/usr/bin/env bash
# The PHP extension's suite (`make test-php`): the .phpt files through PHP's
# own run-tests.php, then the tests that need many processes: 64 CLI
# processes racing on an expired cache, and `php -S` with forked workers.
# Everything talks to a local wechat-mock over HTTP. Needs the debug builds of
# wxtoken-php and wechat-mock (mk/php.mk builds them first).
#
# Usage: php/tests/run.sh                  everything
#        php/tests/run.sh FILE.phpt...     only these phpt files
#        php/tests/run.sh --no-phpt        one phpt, then the multi-process tests

. "$(dirname "$0")/../../tests/lib.sh"

PHP=${PHP:-php}
EXT=${WXT_EXT:-$WX_TARGET/libwxtoken_php.so}
TESTS_DIR=$WX_ROOT/php/tests

[ -f "$EXT" ] || { echo "no extension at $EXT: run cargo build -p wxtoken-php" >&2; exit 1; }

# The developer's own WX_* settings must not leak into the tests.
for v in WX_APPID WX_APPSECRET WX_TOKEN_FILE WX_EXPIRY_FILE WX_API_BASE WX_REFRESH_MARGIN \
         WX_TOKEN_MODE WX_HTTP_TIMEOUT WX_REDIS_URL WX_PASSIVE WX_CA_FILE WX_DATABASE_URL; do
    unset "$v"
done

run_tests_php() {
    local ext_dir
    ext_dir=$(php-config --extension-dir 2>/dev/null)
    for f in "$ext_dir/build/run-tests.php" "$(php-config --prefix 2>/dev/null)/lib/php/build/run-tests.php"; do
        [ -f "$f" ] && { echo "$f"; return 0; }
    done
    return 1
}

start_mock
export WXT_MOCK_URL=$MOCK_URL WXT_EXT=$EXT WXT_TMP=$WX_TMP

# --- 1. phpt files -----------------------------------------------------------
RUN_TESTS=$(run_tests_php) || { fail "run-tests.php not found (install php-dev)"; summary; exit 1; }
only_phpt=no
case "${1:-}" in
    "") phpts=("$TESTS_DIR"/*.phpt) ;;
    --no-phpt) phpts=("$TESTS_DIR"/001-loaded.phpt) ;;
    *) phpts=("$@"); only_phpt=yes ;;
esac
out=$WX_TMP/run-tests.out
# -n: no php.ini, so a site's own extension=wxtoken.so cannot load it twice.
NO_INTERACTION=1 TEST_PHP_EXECUTABLE=$(command -v "$PHP") \
    "$PHP" "$RUN_TESTS" -q --show-diff --no-color --no-progress -n -d "extension=$EXT" "${phpts[@]}" >"$out" 2>&1
rc=$?
# One pass/fail per phpt, so the summary line counts them.
while read -r status rest; do
    case "$status" in
        PASS) pass "phpt: $rest" ;;
        FAIL|BORK|LEAK) fail "phpt: $rest" ;;
        SKIP) fail "phpt skipped: $rest" ;;
    esac
done < <(grep -E '^(PASS|FAIL|BORK|LEAK|SKIP) ' "$out")
if [ $rc -ne 0 ] || grep -qE '^(FAIL|BORK|LEAK) ' "$out"; then
    # Show the diffs run-tests.php printed.
    sed -n '/^===/,$p' "$out" | head -200
    [ $rc -ne 0 ] && fail "run-tests.php exited with $rc"
fi
grep -qE '^(PASS|FAIL|BORK|LEAK|SKIP) ' "$out" || { cat "$out"; fail "run-tests.php ran no test"; }

if [ $only_phpt = yes ]; then summary; exit $?; fi

# Settings for the processes below, as php.ini entries on the command line:
# php_ext_cmd DIR sets PHP_EXT_CMD, php with the cache files in DIR.
php_ext_cmd() {
    PHP_EXT_CMD=("$PHP" -n -d "extension=$EXT"
        -d wxtoken.appid=wx_test_appid -d wxtoken.appsecret=test_secret_0123456789
        -d "wxtoken.api_base=$MOCK_URL" -d wxtoken.http_timeout=60
        -d "wxtoken.token_file=$1/token.txt" -d "wxtoken.expiry_file=$1/expiry.txt")
}
php_ext() {
    php_ext_cmd "$1"
    "${PHP_EXT_CMD[@]}" "${@:2}"
}

# --- 2. 64 processes find the token expired at the same moment --------------
dir=$WX_TMP/race
mkdir -p "$dir"
printf 'stale_token' >"$dir/token.txt"
printf '1' >"$dir/expiry.txt"
start_mock   # a fresh one: no late answer from a phpt's slow fault counts here
check "64 processes: all started and waiting before the go" \
    race 64 "$dir" php_ext "$dir" "$TESTS_DIR/race_worker.php" extension
distinct=$(cat "$dir"/out/* | sort -u)
calls=$(mock_stat token_calls)
last=$(mock_stat last_token)
empty=$(grep -L . "$dir"/out/* | wc -l)
bad=$(grep -v -x -e "$last" "$dir"/out/* | head -3)
check "64 processes: 64 answers, none empty (empty: $empty)" \
    test "$(cat "$dir"/out/* | grep -c .)" = 64 -a "$empty" = 0
check "64 processes: nothing but the token printed${bad:+ (got: $bad)}" test -z "$bad"
check "64 processes: one token for all (got $(printf '%s\n' "$distinct" | wc -l))" \
    test "$distinct" = "$last"
check "64 processes: one upstream call (got $calls)" test "$calls" = 1
check "64 processes: the files hold that token" test "$(cat "$dir/token.txt")" = "$last"

# php -S runs in a process group of its own (tests/lib.sh's spawn) and stops
# as on a Ctrl-C in a terminal: SIGINT to the whole group. Its master stops
# no worker; it waits for them, and on SIGTERM it would leave them running.
# --- 3. php -S with forked workers serving 200 requests ----------------------
dir=$WX_TMP/server
mkdir -p "$dir/docroot"
printf 'stale_token' >"$dir/token.txt"
printf '1' >"$dir/expiry.txt"
cat >"$dir/docroot/index.php" <<'PHP'
<?php
$t = getToken();
echo ($t === '' ? 'EMPTY ' . wxtoken_last_error() : $t), ' ', getmypid(), "\n";
PHP
start_mock
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
php_ext_cmd "$dir"
spawn server group:INT env PHP_CLI_SERVER_WORKERS=4 "${PHP_EXT_CMD[@]}" \
    -S "127.0.0.1:$port" -t "$dir/docroot" >"$dir/server.log" 2>&1
# Ready when it answers anything (a 404 for a file that is not there).
wait_for curl -sS -o /dev/null "http://127.0.0.1:$port/ready.txt" 2>/dev/null
# 200 requests, 16 at a time.
seq 1 200 | xargs -P 16 -I{} curl -fsS "http://127.0.0.1:$port/index.php?n={}" >"$dir/answers" 2>>"$dir/curl.err"
stop_group "$server"
answers=$(wc -l <"$dir/answers")
tokens=$(cut -d' ' -f1 "$dir/answers" | sort -u)
workers=$(cut -d' ' -f2 "$dir/answers" | sort -u | wc -l)
calls=$(mock_stat token_calls)
last=$(mock_stat last_token)
check "php -S: 200 answers (got $answers)" test "$answers" = 200
check "php -S: every answer the same valid token" test "$tokens" = "$last"
check "php -S: one upstream call (got $calls)" test "$calls" = 1
check "php -S: answered by forked workers (got $workers distinct pids)" test "$workers" -ge 2

# --- 4. relative names follow the directory the SAPI gives each phase -------
# php -S runs a script in its own directory, and its shutdown functions back
# in the server's: getToken() must use the token.txt that
# file_get_contents('token.txt') sees in each.
dir=$WX_TMP/phases
mkdir -p "$dir/docroot" "$dir/server-cwd"
cat >"$dir/docroot/index.php" <<'PHP'
<?php
define('TOKENFILE', 'token.txt');
define('EXPIRY', 'expiry.txt');
function same_as_file(string $where): string {
    $t = getToken();
    $f = is_file('token.txt') ? trim(file_get_contents('token.txt')) : '(none)';
    return $where . ($t !== '' && $t === $f ? ' ok' : " BAD in " . getcwd() . ': ' . wxtoken_last_error());
}
echo same_as_file('main'), "\n";
register_shutdown_function(function () { echo same_as_file('shutdown'), "\n"; });
PHP
start_mock
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
spawn server group:INT env -C "$dir/server-cwd" "$PHP" -n -d "extension=$EXT" -d wxtoken.appid=wx_test_appid \
    -d wxtoken.appsecret=test_secret_0123456789 -d "wxtoken.api_base=$MOCK_URL" -d wxtoken.http_timeout=60 \
    -S "127.0.0.1:$port" -t "$dir/docroot" >"$dir/server.log" 2>&1
wait_for curl -sS -o /dev/null "http://127.0.0.1:$port/ready.txt" 2>/dev/null
first=$(curl -fsS "http://127.0.0.1:$port/index.php" 2>&1)
second=$(curl -fsS "http://127.0.0.1:$port/index.php" 2>&1)
stop_group "$server"
expected=$'main ok\nshutdown ok'
check "php -S: main script uses the script's directory, shutdown functions the server's (got: $(echo $first / $second))" \
    test "$first" = "$expected" -a "$second" = "$expected"
check "php -S: one token per directory, then hits (calls: $(mock_stat token_calls))" \
    test "$(mock_stat token_calls)" = 2 -a -s "$dir/docroot/token.txt" -a -s "$dir/server-cwd/token.txt"

summary
