#!/usr/bin/env bash
# `make demo`: a token through the CLI twice (the second a cache hit), the
# files it wrote, then C and PHP reading the same files. Everything talks to
# a local wechat-mock; nothing leaves the machine.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cargo=${CARGO:-cargo}

echo "== building (debug) =="
$cargo build -q -p wxtoken-cli -p wechat-mock -p wxtoken-ffi
bin=$root/target/debug

work=$(mktemp -d "${TMPDIR:-/tmp}/wxtoken-demo.XXXXXX")
mock_pid=
cleanup() {
    if [ -n "$mock_pid" ]; then
        kill "$mock_pid" 2>/dev/null || true
        wait "$mock_pid" 2>/dev/null || true # 143: it was told to stop
    fi
    rm -rf "$work"
}
trap cleanup EXIT

"$bin/wechat-mock" --port 0 >"$work/mock.out" 2>&1 &
mock_pid=$!
for _ in $(seq 1 100); do
    url=$(head -n 1 "$work/mock.out" 2>/dev/null || true)
    case "$url" in http://*) break ;; esac
    sleep 0.05
done
echo "== wechat-mock listening on $url =="

export WX_APPID=wx_test_appid WX_APPSECRET=test_secret_0123456789 WX_API_BASE=$url
export WX_TOKEN_FILE=$work/token.txt WX_EXPIRY_FILE=$work/expiry.txt
calls() { curl -fsS "$url/mock/stats" | python3 -c 'import sys,json;print(json.load(sys.stdin)["token_calls"])'; }

echo
echo "\$ wxtoken get          # cache empty: one call to the token API"
"$bin/wxtoken" get
echo "upstream token calls so far: $(calls)"
echo
echo "\$ wxtoken get          # cache hit: no call"
"$bin/wxtoken" get
echo "upstream token calls so far: $(calls)"
echo
echo "\$ ls -l token.txt expiry.txt   # private (0600), legacy layout"
(cd "$work" && ls -l token.txt expiry.txt | awk '{print $1, $NF}')
echo "expiry.txt: $(cat "$work/expiry.txt")  (now: $(date +%s))"
echo
echo "\$ wxtoken status"
"$bin/wxtoken" status

if make -s -C "$root" -n demo-c >/dev/null 2>&1; then
    echo
    echo "== C: wx_get_token() on the same files =="
    make -s -C "$root" demo-c
fi
if make -s -C "$root" -n demo-php >/dev/null 2>&1; then
    echo
    echo "== PHP: getToken() on the same files =="
    make -s -C "$root" demo-php
fi
echo
echo "upstream token calls in the whole demo: $(calls) (one token, shared by every front end)"
