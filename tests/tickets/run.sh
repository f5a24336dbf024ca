#!/usr/bin/env bash
# The JS-SDK tickets across processes and languages (`make test-tickets`):
# a herd of CLI and PHP processes on an empty cache makes one token call and
# one ticket call; the ticket files are private and in the legacy format;
# the signatures from the CLI and from PHP equal an independent computation
# (Python's hashlib); a token revoked upstream costs one refresh and one
# retry; a failing ticket endpoint under concurrent loops is asked a bounded
# number of times.
#
# Needs target/debug/{wxtoken,libwxtoken_php.so,wechat-mock}.

. "$(dirname "$0")/../lib.sh"
cd "$WX_TMP" || exit 1

start_mock
D=$WX_TMP/cache
mkdir -p "$D"
unset WX_REDIS_URL WX_PASSIVE WX_CA_FILE WX_APPSECRET_FILE WX_REFRESH_MARGIN WX_TOKEN_MODE WX_TICKET_DIR
export WX_APPID=wx_test_appid WX_APPSECRET=test_secret_0123456789 WX_API_BASE=$MOCK_URL \
    WX_HTTP_TIMEOUT=60 WX_TOKEN_FILE=$D/token.txt WX_EXPIRY_FILE=$D/expiry.txt
WX=$WX_TARGET/wxtoken
racer_bin
calls() { echo "$(mock_stat token_calls) $(mock_stat ticket_calls)"; }

# ---------------------------------------------------------------- the herd
race 32 "$WX_TMP/herd" bash -c 'kinds=(cli-ticket php-ticket); exec bash "$1" "${kinds[$(($$ % 2))]}" "$2" "$3"' \
    _ "$WX_ROOT/tests/racer.sh" >/dev/null || fail "all 32 racers started"
ticket=$(cat "$D/jsapi_ticket.txt" 2>/dev/null)
distinct=$(sort -u "$WX_TMP"/herd/out/* | wc -l)
check "32 CLI and PHP processes on an empty cache: 1 token call, 1 ticket call ($(calls))" \
    test "$(calls)" = "1 1"
check "... and all 32 got the one ticket ($distinct distinct answers)" \
    test "$distinct" = 1 -a "$(sort -u "$WX_TMP"/herd/out/*)" = "$ticket" -a "$ticket" = "$(mock_stat last_ticket)"
check "a second ask (CLI, then PHP) makes no call" \
    test "$("$WX" ticket)" = "$ticket" -a "$(php_ext -r 'echo wxtoken_ticket("jsapi");')" = "$ticket" -a "$(calls)" = "1 1"
modes=$(stat -c '%a' "$D/jsapi_ticket.txt" "$D/jsapi_ticket_expiry.txt" | sort -u)
check "the ticket files are 0600 ($modes)" test "$modes" = 600
expiry=$(cat "$D/jsapi_ticket_expiry.txt")
check "... in the legacy format: the bare ticket, a decimal expiry ~7200 s ahead" \
    test "$(wc -c <"$D/jsapi_ticket.txt")" = "${#ticket}" -a "$((expiry - $(date +%s)))" -gt 7000 \
    -a "$((expiry - $(date +%s)))" -le 7200
check "status shows the ticket" sh -c '"$1" status | grep -q "^jsapi_ticket:" && "$1" status --json | grep -q "\"jsapi\""' _ "$WX"

# ---------------------------------------------------------------- signatures
# verify FILE: each line a JSON config; Python checks every signature, the
# fragment-free URL, and that no nonce repeats.
verify() {
    python3 - "$1" "$ticket" "$2" <<'PY'
import hashlib, json, sys
path, ticket, url = sys.argv[1:]
configs = [json.loads(l) for l in open(path) if l.strip()]
nonces = set()
for c in configs:
    text = "jsapi_ticket=%s&noncestr=%s&timestamp=%s&url=%s" % (ticket, c["nonceStr"], c["timestamp"], url)
    assert hashlib.sha1(text.encode()).hexdigest() == c["signature"], c
    assert c["appId"] == "wx_test_appid" and c["url"] == url and isinstance(c["timestamp"], int), c
    nonces.add(c["nonceStr"])
assert len(nonces) == len(configs), "a nonce repeated"
print(len(configs))
PY
}
page='https://example.com/share?id=7&from=timeline'
for i in $(seq 1 10); do "$WX" jssdk "$page#top"; done >"$WX_TMP/cli.json"
check "10 configs from wxtoken jssdk: signatures equal Python's sha1, the #fragment unsigned, no nonce twice" \
    test "$(verify "$WX_TMP/cli.json" "$page")" = 10
php_ext -r 'for ($i = 0; $i < 10; $i++) { echo json_encode(wxtoken_jssdk_config($argv[1])), "\n"; }' "$page#top" >"$WX_TMP/php.json"
check "10 configs from wxtoken_jssdk_config() in one PHP process: likewise" \
    test "$(verify "$WX_TMP/php.json" "$page")" = 10
check "... and none of it made a call ($(calls))" test "$(calls)" = "1 1"
check "a URL that is no page URL is refused (exit 2)" \
    sh -c '"$1" jssdk "ftp://x" 2>/dev/null; test $? = 2' _ "$WX"

# ---------------------------------------------------------------- revoked token
mock /mock/revoke >/dev/null
echo 1 >"$D/jsapi_ticket_expiry.txt"
read -r t0 k0 <<<"$(calls)"
new=$("$WX" ticket)
read -r t1 k1 <<<"$(calls)"
check "the access token revoked upstream: 40001 from the ticket endpoint, then 1 token refresh and 1 ticket retry ($((t1 - t0)) and $((k1 - k0 - 1)) retry)" \
    test "$((t1 - t0))" = 1 -a "$((k1 - k0))" = 2 -a "$new" = "$(mock_stat last_ticket)" -a "$new" != "$ticket"

# ---------------------------------------------------------------- failing endpoint
# loops N: 4 CLI loops and 4 PHP loops (each one process), N asks each.
loops() {
    local n=$1 i pids=()
    for i in 1 2 3 4; do
        (for _ in $(seq 1 "$n"); do "$WX" ticket >/dev/null 2>&1; done) &
        pids+=($!)
        php_ext -r 'for ($i = 0; $i < (int)$argv[1]; $i++) { wxtoken_ticket(); }' "$n" &
        pids+=($!)
    done
    # Only these: a bare `wait` would wait for the mock too.
    wait "${pids[@]}"
}
# Each case in a ticket directory of its own (WX_TICKET_DIR), so the first
# case's back-off note does not hold back the second.
for fault in "kind=errcode&errcode=45009" "kind=http500"; do
    export WX_TICKET_DIR=$WX_TMP/tickets-${fault##*=}
    mkdir -p "$WX_TICKET_DIR"
    mock "/mock/fault?$fault&endpoint=ticket" >/dev/null
    k0=$(mock_stat ticket_calls)
    t_start=$(date +%s%N)
    loops 10
    secs=$((($(date +%s%N) - t_start + 999999999) / 1000000000))
    asked=$(($(mock_stat ticket_calls) - k0))
    mock "/mock/fault?kind=none&endpoint=ticket" >/dev/null
    [ -e "$WX_TICKET_DIR/jsapi_ticket_wx_test_appid.txt.lock" ] || fail "the ticket's lock file is in WX_TICKET_DIR, named for the app"
    case $fault in
        *45009)
            # WeChat's minute: nobody asks again inside it.
            check "ticket endpoint at its quota (45009), 8 loops x 10 asks: 1 ticket call ($asked)" test "$asked" = 1 ;;
        *)
            # Windows of at least a second, doubling: at most one call per
            # second the loops ran, whatever the machine's speed.
            check "ticket endpoint failing (HTTP 500), 8 loops x 10 asks over ${secs}s: at most 1 call a second ($asked)" \
                test "$asked" -ge 1 -a "$asked" -le "$((secs + 1))" ;;
    esac
done

summary
