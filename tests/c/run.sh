#!/usr/bin/env bash
# C tests of libwxtoken (`make test-c`): builds tests/c/api_test.c against
# include/wxtoken.h, linked dynamically and statically, runs every case of it
# against wechat-mock with both, races threads and processes on an expired
# cache, runs a few cases under valgrind, compiles the header as C++, and
# builds examples/get_token.c through a staged install and pkg-config.
#
# Needs target/debug/{libwxtoken.so,libwxtoken.a,wechat-mock}: `make test-c`
# builds them first.

. "$(dirname "$0")/../lib.sh"
# A scratch working directory: a call that falls back to the default
# token.txt can never leave cache files in the source tree.
cd "$WX_TMP" || exit 1

CC=${CC:-gcc}
CXX=${CXX:-g++}
CFLAGS=(-std=c99 -Wall -Wextra -Werror -pedantic -I"$WX_ROOT/include")
SECRET=test_secret_0123456789
WRONG_SECRET=wrong_secret_from_c_tests
bin=$WX_TMP/bin
mkdir -p "$bin"
LOG=$WX_TMP/all-output.log # everything the programs print, searched for secrets

# run CMD...: runs it with output in $WX_TMP/out (stdout) and the log; shows
# stderr when it fails.
run() {
    "$@" >"$WX_TMP/out" 2>"$WX_TMP/err"
    local rc=$?
    cat "$WX_TMP/out" "$WX_TMP/err" >>"$LOG"
    if [ $rc -ne 0 ]; then
        echo "  # $* exited $rc" >&2
        sed 's/^/  # /' "$WX_TMP/err" "$WX_TMP/out" >&2
    fi
    return $rc
}

# fresh NAME: a new, empty cache directory passed to the cases as their files.
fresh() {
    DIR=$WX_TMP/cache-$1
    rm -rf "$DIR"
    mkdir -p "$DIR"
    export T_TOKEN_FILE=$DIR/token.txt T_EXPIRY_FILE=$DIR/expiry.txt
}

calls() { mock_stat token_calls; }

# calls_since N WANT: the mock answered WANT token calls since it counted N.
calls_since() { [ "$(($(calls) - $1))" -eq "$2" ]; }

# ---------------------------------------------------------------- building
check "api_test.c builds with -std=c99 -Wall -Wextra -Werror, linked dynamically" \
    "$CC" "${CFLAGS[@]}" "$WX_ROOT/tests/c/api_test.c" -L"$WX_TARGET" -lwxtoken -lpthread -o "$bin/api_dynamic"
check "api_test.c builds linked statically with libwxtoken.a" \
    "$CC" "${CFLAGS[@]}" "$WX_ROOT/tests/c/api_test.c" "$WX_TARGET/libwxtoken.a" -lpthread -ldl -lm -o "$bin/api_static"
check "the static binary does not need libwxtoken.so" \
    bash -c "! ldd '$bin/api_static' | grep -q libwxtoken"
check "a C++ file including the header builds with g++ -std=c++11 -Wall -Wextra -Werror" \
    "$CXX" -std=c++11 -Wall -Wextra -Werror -I"$WX_ROOT/include" "$WX_ROOT/tests/c/header_cxx.cpp" \
    -L"$WX_TARGET" -lwxtoken -o "$bin/cxx"
# The handles' program runs under `env -i`: its library path is in the binary.
check "handles_test.c builds with -std=c99 -Wall -Wextra -Werror, linked dynamically" \
    "$CC" "${CFLAGS[@]}" "$WX_ROOT/tests/c/handles_test.c" -L"$WX_TARGET" -Wl,-rpath,"$WX_TARGET" \
    -lwxtoken -lpthread -o "$bin/handles_dynamic"
check "handles_test.c builds linked statically with libwxtoken.a" \
    "$CC" "${CFLAGS[@]}" "$WX_ROOT/tests/c/handles_test.c" "$WX_TARGET/libwxtoken.a" -lpthread -ldl -lm \
    -o "$bin/handles_static"
[ -x "$bin/api_dynamic" ] && [ -x "$bin/api_static" ] && [ -x "$bin/handles_dynamic" ] &&
    [ -x "$bin/handles_static" ] || {
    summary
    exit 1
}

export LD_LIBRARY_PATH=$WX_TARGET${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
check "the C++ program runs" run "$bin/cxx"

start_mock
# Only what each case sets: nothing from the caller's environment.
unset WX_TOKEN_FILE WX_EXPIRY_FILE WX_REFRESH_MARGIN WX_TOKEN_MODE WX_REDIS_URL WX_PASSIVE WX_CA_FILE
export WX_APPID=wx_test_appid WX_APPSECRET=$SECRET WX_API_BASE=$MOCK_URL WX_HTTP_TIMEOUT=60
# 60 s: generous, since no case here tests the timeout itself; valgrind runs
# get more (below). A short timeout made a slow machine fail these cases.

# ---------------------------------------------------------------- the suite
suite() {
    local link=$1 t=$2 n token old
    echo "# linked $link"

    fresh "$link-get"
    n=$(calls)
    check "$link: get fetches a token into empty files" run "$t" get
    token=$(cat "$WX_TMP/out")
    check "$link: ... with one upstream call" calls_since "$n" 1
    check "$link: ... and stores it in token.txt (mode 0600)" \
        test "$(cat "$T_TOKEN_FILE")" = "$token" -a "$(stat -c %a "$T_TOKEN_FILE")" = 600
    check "$link: a second process gets the same token from the files, no upstream call" \
        bash -c '[ "$("$1" hit)" = "$2" ]' _ "$t" "$token"
    check "$link: ... (mock counters)" calls_since "$n" 1

    old=$token
    echo 1 >"$T_EXPIRY_FILE"
    check "$link: an expired cache is refreshed" run "$t" get
    check "$link: ... once, to a new token" \
        bash -c '[ "$(cat "$1")" != "$2" ]' _ "$WX_TMP/out" "$old"
    check "$link: ... (mock counters)" calls_since "$n" 2

    printf 'LEGACY_TOKEN_written_by_php' >"$T_TOKEN_FILE"
    echo $(($(date +%s) + 7000)) >"$T_EXPIRY_FILE"
    n=$(calls)
    check "$link: a token the legacy script wrote is used as is" \
        bash -c '[ "$("$1" get)" = LEGACY_TOKEN_written_by_php ]' _ "$t"
    check "$link: ... without an upstream call" calls_since "$n" 0

    fresh "$link-null"
    check "$link: NULL arguments give WX_ERR_NULL_ARG naming the argument" run "$t" null-args
    check "$link: invalid UTF-8 gives WX_ERR_INVALID_UTF8 naming the argument" run "$t" bad-utf8
    check "$link: wx_last_error is snprintf-like, per thread, cleared by success" run "$t" last-error
    check "$link: version, status names and constants" run "$t" misc

    fresh "$link-small"
    n=$(calls)
    check "$link: a small buffer gives WX_ERR_BUFFER_TOO_SMALL and nothing partial" run "$t" small-buffer
    check "$link: ... the token stayed cached (one upstream call)" calls_since "$n" 1

    fresh "$link-invalidate"
    n=$(calls)
    check "$link: wx_invalidate drops only the stored token, once" run "$t" invalidate
    check "$link: ... one refresh after it (two upstream calls)" calls_since "$n" 2

    fresh "$link-refresh"
    n=$(calls)
    check "$link: wx_refresh replaces a fresh token" run "$t" refresh
    check "$link: ... (two upstream calls)" calls_since "$n" 2

    fresh "$link-reset"
    check "$link: the environment is read once per settings, again after wx_reset" run "$t" reset

    # Status codes that depend on the world around the call.
    fresh "$link-badsecret"
    n=$(calls)
    check "$link: a wrong secret gives WX_ERR_CONFIG and errcode 40125" \
        run env WX_APPSECRET=$WRONG_SECRET "$t" expect WX_ERR_CONFIG 40125
    check "$link: ... after one upstream call, no retry" calls_since "$n" 1
    check "$link: ... and writes no file" test ! -e "$T_TOKEN_FILE"

    fresh "$link-quota"
    mock "/mock/fault?kind=errcode&errcode=45009&times=1" >/dev/null
    check "$link: a quota answer gives WX_ERR_WECHAT and errcode 45009" \
        run "$t" expect WX_ERR_WECHAT 45009
    # WeChat says back off: the next call within a minute does not ask again,
    # even though the API would now answer.
    n=$(calls)
    check "$link: ... and the next call backs off with the same status" \
        run "$t" expect WX_ERR_WECHAT 45009
    check "$link: ... without an upstream call" calls_since "$n" 0

    fresh "$link-http500"
    mock "/mock/fault?kind=http500&times=1" >/dev/null
    check "$link: HTTP 500 gives WX_ERR_NETWORK" run "$t" expect WX_ERR_NETWORK 0
    mock /mock/reset >/dev/null

    fresh "$link-unreachable"
    check "$link: an unreachable server gives WX_ERR_NETWORK" \
        run env WX_API_BASE=http://127.0.0.1:1 WX_HTTP_TIMEOUT=1 "$t" expect WX_ERR_NETWORK 0

    fresh "$link-store"
    mkdir "$T_TOKEN_FILE"
    check "$link: a directory as the token file gives WX_ERR_CONFIG (not a regular file)" run "$t" expect WX_ERR_CONFIG 0

    fresh "$link-passive"
    n=$(calls)
    check "$link: passive mode with an empty cache gives WX_ERR_PASSIVE" \
        run env WX_PASSIVE=1 "$t" expect WX_ERR_PASSIVE 0
    check "$link: ... without an upstream call" calls_since "$n" 0

    fresh "$link-config"
    check "$link: a bad WX_HTTP_TIMEOUT gives WX_ERR_CONFIG" \
        run env WX_HTTP_TIMEOUT=ten "$t" expect WX_ERR_CONFIG 0

    # NULL file names: the environment's, else token.txt in the current directory.
    fresh "$link-defaults"
    check "$link: NULL files mean token.txt/expiry.txt in the current directory" \
        bash -c 'cd "$1" && env -u T_TOKEN_FILE -u T_EXPIRY_FILE "$2" get >/dev/null &&
                 [ -s token.txt ] && [ -s expiry.txt ]' _ "$DIR" "$t"
    check "$link: NULL files mean WX_TOKEN_FILE/WX_EXPIRY_FILE when set" \
        bash -c 'cd "$1" && env -u T_TOKEN_FILE -u T_EXPIRY_FILE WX_TOKEN_FILE="$1/env-token" \
                 WX_EXPIRY_FILE="$1/env-expiry" "$2" get >/dev/null && [ -s env-token ]' _ "$DIR" "$t"

    # Concurrency: an expired cache, everyone at once.
    fresh "$link-threads"
    printf 'OLD_TOKEN' >"$T_TOKEN_FILE"
    echo 1 >"$T_EXPIRY_FILE"
    n=$(calls)
    check "$link: 16 threads racing on an expired cache all get one new token" run "$t" threads
    check "$link: ... from exactly one upstream call" calls_since "$n" 1

    fresh "$link-processes"
    printf 'OLD_TOKEN' >"$T_TOKEN_FILE"
    echo 1 >"$T_EXPIRY_FILE"
    n=$(calls)
    local i pids=()
    for i in 1 2 3 4; do
        "$t" threads >"$WX_TMP/proc$i.out" 2>&1 &
        pids+=($!)
    done
    local ok=0
    for i in "${pids[@]}"; do wait "$i" || ok=1; done
    cat "$WX_TMP"/proc?.out >>"$LOG"
    check "$link: 4 processes x 16 threads on an expired cache all succeed" test $ok -eq 0
    check "$link: ... with one token between them" \
        test "$(sort -u "$WX_TMP"/proc?.out | wc -l)" -eq 1
    check "$link: ... from exactly one upstream call" calls_since "$n" 1
}

fresh fork
check "200 forks while 4 threads are inside wx_get_token(): every child gets the token (none hangs)" \
    run "$bin/api_dynamic" fork

# The same on a cache that cannot be written: every call is a miss served
# from the process's memory (the token it could not store).
fresh fork-unwritable
export T_TOKEN_FILE=/proc/wxtoken-no-such-dir/token.txt T_EXPIRY_FILE=/proc/wxtoken-no-such-dir/expiry.txt
check "200 forks while 4 threads are inside wx_get_token() on an unwritable cache: every child gets the token" \
    run "$bin/api_dynamic" fork

# A refresh in flight when the process forks: the mock answers after 8 s,
# a window no machine misses.
fresh fork-mid-refresh
printf 'OLD_TOKEN' >"$T_TOKEN_FILE"
echo 1 >"$T_EXPIRY_FILE"
mock "/mock/fault?kind=slow&ms=8000" >/dev/null
n=$(calls)
check "fork while another thread is mid-refresh: the child's miss gets that refresh's token" \
    run "$bin/api_dynamic" fork-mid-refresh
check "... (it forked mid-refresh: $(head -n 1 "$WX_TMP/out"))" grep -qx "forked mid-refresh" "$WX_TMP/out"
check "... from one upstream call for parent and child" calls_since "$n" 1
mock "/mock/fault?kind=none" >/dev/null

suite dynamic "$bin/api_dynamic"
suite static "$bin/api_static"

# ---------------------------------------------------------------- handles
# wx_config_builder / wx_cache / wx_set_log_callback: every setting through
# the builder, in an empty environment (env -i), so nothing can come from
# the variables exported above.
ticket_calls() { mock_stat ticket_calls; }
ticket_calls_since() { [ "$(($(ticket_calls) - $1))" -eq "$2" ]; }

# hcase LINK CASE DIR [SECRET]: runs one case of handles_test under env -i.
hcase() {
    run env -i "$bin/handles_$1" "$2" "$MOCK_URL" "$3" wx_test_appid "${4:-$SECRET}"
}

handles() {
    local link=$1 n t
    echo "# handles, linked $link"

    fresh "h-$link-get"
    n=$(calls)
    check "$link: env -i, everything set through the builder: wx_cache_get_token gets a token" \
        hcase "$link" get "$DIR"
    check "$link: ... the token it stored in the builder's WX_TOKEN_FILE" \
        test -s "$DIR/token.txt" -a "$(cat "$WX_TMP/out")" = "$(cat "$DIR/token.txt" 2>/dev/null)"
    check "$link: ... from one upstream call (the second get was a hit)" calls_since "$n" 1

    fresh "h-$link-two"
    mkdir -p "$DIR/a" "$DIR/b"
    n=$(calls)
    check "$link: two handles, two directories: the active one fetches, the passive one on an empty directory gets WX_ERR_PASSIVE, then reads what is copied there" \
        hcase "$link" two-dirs "$DIR"
    check "$link: ... one upstream call between them" calls_since "$n" 1

    fresh "h-$link-invalidate"
    n=$(calls)
    check "$link: wx_cache_invalidate then wx_cache_get_token refreshes once" \
        hcase "$link" invalidate "$DIR"
    check "$link: ... two upstream calls in all (the first fetch and one refresh)" calls_since "$n" 2

    fresh "h-$link-config"
    check "$link: an unknown setting name and WX_HTTP_TIMEOUT=abc are refused with WX_ERR_CONFIG naming the setting" \
        hcase "$link" config-errors "$DIR"

    fresh "h-$link-log"
    n=$(calls)
    check "$link: the log callback receives a failed refresh once, with its errcode 40125, never the secret" \
        hcase "$link" log-failure "$DIR" "$WRONG_SECRET"
    check "$link: ... (the message: $(grep -m1 '^log 3' "$WX_TMP/out"))" grep -q '^log 3: .*40125' "$WX_TMP/out"

    n=$(calls)
    check "$link: the log callback receives a degraded cache (unwritable directory) once, as a warning" \
        hcase "$link" log-warning /proc/wxtoken-no-such-dir
    check "$link: ... (the message: $(grep -m1 '^log 4' "$WX_TMP/out"))" grep -q '^log 4: ' "$WX_TMP/out"
    check "$link: two handles with equal settings share one in-process cache (unwritable directory: one upstream call)" \
        hcase "$link" share /proc/wxtoken-no-such-dir
    check "$link: ... (mock counters)" calls_since "$n" 2

    fresh "h-$link-ticket"
    n=$(calls)
    t=$(ticket_calls)
    check "$link: wx_cache_get_ticket returns the jsapi ticket, then a hit" \
        hcase "$link" ticket "$DIR"
    check "$link: ... from one ticket call" ticket_calls_since "$t" 1
    check "$link: ... stored in jsapi_ticket.txt, mode 0600" \
        test "$(cat "$DIR/jsapi_ticket.txt" 2>/dev/null)" = "$(cat "$WX_TMP/out")" -a \
        "$(stat -c %a "$DIR/jsapi_ticket.txt" 2>/dev/null)" = 600
    check "$link: ... one token call" calls_since "$n" 1

    fresh "h-$link-wecom"
    local g t0
    g=$(mock_stat gettoken_calls)
    t0=$(ticket_calls)
    check "$link: a WeCom app through the builder (WX_PLATFORM, WX_AGENTID): token, corp and agent tickets" \
        run env -i "$bin/handles_$link" wecom "$MOCK_URL" "$DIR" ww_test_corpid wecom_secret_app_a_0123
    check "$link: ... one gettoken call, one call per ticket, the agent ticket in agent_ticket_1000002.txt" \
        test "$(($(mock_stat gettoken_calls) - g))" = 1 -a "$(($(ticket_calls) - t0))" = 2 -a \
        "$(sed -n 3p "$WX_TMP/out")" = "$(cat "$DIR/agent_ticket_1000002.txt" 2>/dev/null)"
}

handles dynamic
handles static

fresh h-fork
check "100 forks while 4 threads make, use and free handles: every child uses the inherited handle and a new one (none hangs)" \
    hcase dynamic fork "$DIR"

# ---------------------------------------------------------------- valgrind
if command -v valgrind >/dev/null; then
    VG=(valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite --quiet)
    vg() {
        local name=$1
        shift
        check "valgrind: $name: no invalid access, no leak" run env WX_HTTP_TIMEOUT=300 "${VG[@]}" "$@"
    }
    fresh vg-miss
    vg "fetch into empty files" "$bin/api_dynamic" get
    vg "cache hit" "$bin/api_dynamic" hit
    echo 1 >"$T_EXPIRY_FILE"
    vg "16 threads on an expired cache" "$bin/api_dynamic" threads
    vg "NULL arguments" "$bin/api_dynamic" null-args
    vg "invalid UTF-8" "$bin/api_dynamic" bad-utf8
    fresh vg-small
    vg "small buffer" "$bin/api_dynamic" small-buffer
    fresh vg-bad
    vg "wrong secret" env WX_APPSECRET=$WRONG_SECRET "$bin/api_dynamic" expect WX_ERR_CONFIG 40125
    vg "statically linked, fetch and hit" "$bin/api_static" hit
    fresh vg-handles
    vg "20 cycles of builder/wx_cache_new/get/ticket/free, log callback, failed set and new (dynamic)" \
        "$bin/handles_dynamic" cycles "$MOCK_URL" "$DIR" wx_test_appid "$SECRET" 20
    vg "the same, linked statically" \
        "$bin/handles_static" cycles "$MOCK_URL" "$DIR" wx_test_appid "$SECRET" 20
    fresh vg-log
    vg "handles: a refused refresh reaches the log callback" \
        "$bin/handles_dynamic" log-failure "$MOCK_URL" "$DIR" wx_test_appid "$WRONG_SECRET"
else
    fail "valgrind is not installed (make deps installs it)"
fi

# ---------------------------------------------------------------- install + pkg-config
stage=$WX_TMP/stage
check "install-c-files stages header, libraries and wxtoken.pc" \
    run make -s -C "$WX_ROOT" install-c-files FFI_LIB_DIR="$WX_TARGET" DESTDIR="$stage" PREFIX=/opt/wx
lib=$stage/opt/wx/lib
check "the installed library is libwxtoken.so.${FFI_VERSION:-?}, with the ${FFI_SONAME:-?} and libwxtoken.so links" \
    bash -c '[ -f "$1/libwxtoken.so.$2" ] && [ ! -L "$1/libwxtoken.so.$2" ] &&
             [ "$(readlink "$1/$3")" = "libwxtoken.so.$2" ] && [ "$(readlink "$1/libwxtoken.so")" = "$3" ]' \
    _ "$lib" "${FFI_VERSION:-}" "${FFI_SONAME:-}"
check "readelf -d shows the SONAME ${FFI_SONAME:-?}" \
    bash -c 'readelf -d "$1/libwxtoken.so" | grep -q "SONAME.*\[$2\]"' _ "$WX_TARGET" "${FFI_SONAME:-}"
cat >"$WX_TMP/version.c" <<'C'
#include <stdio.h>
#include "wxtoken.h"
int main(void) { puts(wx_version()); return 0; }
C
check "wx_version() is the version in Cargo.toml (${FFI_VERSION:-?}), from a program linked against the SONAME" \
    bash -c '"$1" -std=c99 -I"$2/include" "$3/version.c" -L"$4" -lwxtoken -o "$3/version" &&
             readelf -d "$3/version" | grep -q "NEEDED.*\[$6\]" &&
             [ "$(LD_LIBRARY_PATH="$4" "$3/version")" = "$5" ]' \
    _ "$CC" "$WX_ROOT" "$WX_TMP" "$lib" "${FFI_VERSION:-}" "${FFI_SONAME:-}"
export PKG_CONFIG_PATH=$stage/opt/wx/lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$stage
check "pkg-config finds wxtoken" pkg-config --exists wxtoken
check "examples/get_token.c builds with pkg-config --cflags --libs wxtoken" \
    bash -c '"$1" -std=c99 -Wall -Wextra -Werror "$3" $(pkg-config --cflags --libs wxtoken) -o "$2"' \
    _ "$CC" "$bin/get_token" "$WX_ROOT/examples/get_token.c"
fresh example
check "the example prints the token it stored" \
    bash -c 'LD_LIBRARY_PATH="$1/opt/wx/lib" WX_TOKEN_FILE=$T_TOKEN_FILE WX_EXPIRY_FILE=$T_EXPIRY_FILE \
             "$2" >"$3" && [ -s "$3" ] && [ "$(cat "$3")" = "$(cat "$T_TOKEN_FILE")" ]' \
    _ "$stage" "$bin/get_token" "$WX_TMP/example.out"
fresh example-fails
check "the example reports a failure on stderr and exits 1" \
    bash -c 'WX_APPSECRET=$4 LD_LIBRARY_PATH="$1/opt/wx/lib" WX_TOKEN_FILE=$T_TOKEN_FILE \
             WX_EXPIRY_FILE=$T_EXPIRY_FILE "$2" 2>"$3"; [ $? -eq 1 ] && grep -q 40125 "$3"' \
    _ "$stage" "$bin/get_token" "$WX_TMP/example.err" "$WRONG_SECRET"
cat "$WX_TMP/example.err" >>"$LOG"
check "the example links statically with pkg-config --static" \
    bash -c '"$1" -std=c99 -Wall -Wextra -Werror "$4" $(pkg-config --cflags wxtoken) \
             "$3/opt/wx/lib/libwxtoken.a" $(pkg-config --static --libs-only-l wxtoken | sed "s/-lwxtoken//") -o "$2"' \
    _ "$CC" "$bin/get_token_static" "$stage" "$WX_ROOT/examples/get_token.c"

# The README's own steps, as written: install under a PREFIX, build with
# the pkg-config line, run with nothing in LD_LIBRARY_PATH.
prefix=$WX_TMP/prefix
check "installed as the README says, the example builds with its pkg-config line and starts without LD_LIBRARY_PATH" \
    bash -c 'make -s -C "$1" install-c-files FFI_LIB_DIR="$2" PREFIX="$3" >/dev/null &&
             cc "$4" $(PKG_CONFIG_PATH="$3/lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR= pkg-config --cflags --libs wxtoken) -o "$5" &&
             env -u LD_LIBRARY_PATH WX_TOKEN_FILE=$T_TOKEN_FILE WX_EXPIRY_FILE=$T_EXPIRY_FILE "$5" >"$6" &&
             [ "$(cat "$6")" = "$(cat "$T_TOKEN_FILE")" ]' \
    _ "$WX_ROOT" "$WX_TARGET" "$prefix" "$WX_ROOT/examples/get_token.c" "$bin/get_token_readme" "$WX_TMP/readme.out"

# ---------------------------------------------------------------- secrets
check "no output of any C test contains a secret ($(wc -l <"$LOG") lines searched)" \
    bash -c '! grep -q -e "$2" -e "$3" "$1"' _ "$LOG" "$SECRET" "$WRONG_SECRET"

summary
