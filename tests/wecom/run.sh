#!/usr/bin/env bash
# WeCom (企业微信) across processes and languages (`make test-wecom`): 32 CLI
# and PHP processes for one WeCom app on an empty cache make one gettoken call;
# a second app of the same corp gets its own token and the first one's keeps
# working; a wrong secret is a configuration error (exit 2) after one call,
# the secret nowhere in the output; the corp and agent tickets are fetched
# once each and their signatures match Python's own computation.
#
# Needs target/debug/{wxtoken,libwxtoken_php.so,wechat-mock}.

. "$(dirname "$0")/../lib.sh"
cd "$WX_TMP" || exit 1

start_mock
D=$WX_TMP/cache
mkdir -p "$D"
unset WX_REDIS_URL WX_PASSIVE WX_CA_FILE WX_APPSECRET_FILE WX_REFRESH_MARGIN WX_TOKEN_MODE WX_TICKET_DIR \
    WX_TOKEN_FILE WX_EXPIRY_FILE
SECRET_A=wecom_secret_app_a_0123
SECRET_B=wecom_secret_app_b_0123
export WX_PLATFORM=wecom WX_APPID=ww_test_corpid WX_AGENTID=1000002 WX_APPSECRET=$SECRET_A \
    WX_API_BASE=$MOCK_URL WX_HTTP_TIMEOUT=60
WX=$WX_TARGET/wxtoken
racer_bin
valid_at_mock() { mock "/cgi-bin/getcallbackip?access_token=$1" | grep -q ip_list; }
# The default files, token_AGENTID.txt, in the current directory.
cd "$D" || exit 1

# ---------------------------------------------------------------- the herd
race 32 "$WX_TMP/herd" bash -c 'kinds=(cli php); exec bash "$1" "${kinds[$(($$ % 2))]}" "$2" "$3"' \
    _ "$WX_ROOT/tests/racer.sh" >/dev/null || fail "all 32 racers started"
token_a=$(cat "$D/token_1000002.txt" 2>/dev/null)
check "32 CLI and PHP processes for one WeCom app on an empty cache: 1 gettoken call ($(mock_stat gettoken_calls))" \
    test "$(mock_stat gettoken_calls)" = 1 -a "$(mock_stat token_calls)" = 0
check "... 1 token for all, in token_1000002.txt ($(sort -u "$WX_TMP"/herd/out/* | wc -l) distinct)" \
    test "$(sort -u "$WX_TMP"/herd/out/*)" = "$token_a" -a -n "$token_a"

# ---------------------------------------------------------------- a second app
token_b=$(WX_AGENTID=1000003 WX_APPSECRET=$SECRET_B "$WX" get)
check "a second app of the corp gets its own token, in its own files" \
    test -n "$token_b" -a "$token_b" != "$token_a" -a "$(cat "$D/token_1000003.txt")" = "$token_b"
check "... and the first app's token keeps working (the mock's business API accepts both)" \
    sh -c 'valid_at_mock() { curl -fsS "$1/cgi-bin/getcallbackip?access_token=$2" | grep -q ip_list; }; valid_at_mock "$1" "$2" && valid_at_mock "$1" "$3"' \
    _ "$MOCK_URL" "$token_a" "$token_b"
check "... the first app still hits its cache (no call)" \
    test "$("$WX" get)" = "$token_a" -a "$(mock_stat gettoken_calls)" = 2

# ---------------------------------------------------------------- a wrong secret
before=$(mock_stat gettoken_calls)
WRONG=not_this_apps_secret_55
out=$(WX_AGENTID=1000009 WX_APPSECRET=$WRONG WX_TOKEN_FILE=$D/wrong.txt WX_EXPIRY_FILE=$D/wrong_expiry.txt "$WX" get 2>&1)
rc=$?
check "a wrong secret: exit 2 (configuration), one gettoken call ($(($(mock_stat gettoken_calls) - before)))" \
    test "$rc" = 2 -a "$(($(mock_stat gettoken_calls) - before))" = 1
check "... the message says why (40001, check the app secret) and never the secret" \
    sh -c 'case "$1" in *"$2"*) exit 1 ;; *40001*"check the app secret"*) exit 0 ;; *) exit 1 ;; esac' _ "$out" "$WRONG"
phpout=$(WX_AGENTID=1000009 WX_APPSECRET=$WRONG WX_TOKEN_FILE=$D/wrong.txt WX_EXPIRY_FILE=$D/wrong_expiry.txt \
    php_ext -r 'var_dump(getToken()); echo wxtoken_last_error(), "\n";' 2>&1)
check "... PHP gives \"\" and the same reason, with no second call" \
    sh -c 'case "$1" in *"$2"*) exit 1 ;; *"string(0)"*40001*) exit 0 ;; *) exit 1 ;; esac' _ "$phpout" "$WRONG"
check "... (still one call: the failure is shared)" test "$(($(mock_stat gettoken_calls) - before))" = 1

# ---------------------------------------------------------------- tickets
t0=$(mock_stat ticket_calls)
corp=$("$WX" ticket corp)
agent=$(php_ext -r 'echo wxtoken_ticket("agent");')
check "corp ticket (CLI) and agent ticket (PHP): one call each ($(($(mock_stat ticket_calls) - t0)))" \
    test "$(($(mock_stat ticket_calls) - t0))" = 2 -a -n "$corp" -a -n "$agent"
check "... cached: asked again from the other front end, no call" \
    test "$(php_ext -r 'echo wxtoken_ticket("corp");')" = "$corp" -a "$("$WX" ticket agent)" = "$agent" \
    -a "$(php_ext -r 'echo wxtoken_ticket();')" = "$corp" -a "$(($(mock_stat ticket_calls) - t0))" = 2
check "... in corp_ticket_1000002.txt and agent_ticket_1000002.txt, 0600" \
    test "$(stat -c %a corp_ticket_1000002.txt agent_ticket_1000002.txt | sort -u)" = 600
page='https://work.example.com/app?x=1'
{ "$WX" jssdk "$page#f"; php_ext -r 'echo json_encode(wxtoken_jssdk_config($argv[1])), "\n";' "$page#f"; } >"$WX_TMP/config.json"
{ "$WX" jssdk --agent "$page#f"; php_ext -r 'echo json_encode(wxtoken_jssdk_config($argv[1], true)), "\n";' "$page#f"; } >"$WX_TMP/agent.json"
verify() {
    python3 - "$1" "$2" "$page" "$3" <<'PY'
import hashlib, json, sys
path, ticket, url, agent = sys.argv[1:]
for line in open(path):
    c = json.loads(line)
    text = "jsapi_ticket=%s&noncestr=%s&timestamp=%s&url=%s" % (ticket, c["nonceStr"], c["timestamp"], url)
    assert hashlib.sha1(text.encode()).hexdigest() == c["signature"], c
    if agent:
        assert c["corpid"] == "ww_test_corpid" and c["agentid"] == "1000002" and "appId" not in c, c
    else:
        assert c["appId"] == "ww_test_corpid" and "agentid" not in c, c
print("ok")
PY
}
check "wx.config from the CLI and PHP: signed with the corp ticket (checked by Python's sha1)" \
    test "$(verify "$WX_TMP/config.json" "$corp" "")" = ok
check "wx.agentConfig from the CLI and PHP: signed with the agent ticket, corpid and agentid" \
    test "$(verify "$WX_TMP/agent.json" "$agent" 1)" = ok
check "an official account's ticket type is refused on WeCom (exit 2)" \
    sh -c '"$1" ticket wx_card 2>/dev/null; test $? = 2' _ "$WX"
check "status lists the corp and agent tickets" \
    sh -c '"$1" status | grep -q "^corp_ticket:" && "$1" status | grep -q "^agent_ticket:"' _ "$WX"

summary
