#!/usr/bin/env bash
# One racer for the multi-process suites (tests/redis, tests/crash,
# tests/tickets): KIND is cli, c (tests/c/api_test.c built as
# $WXT_BIN/api_dynamic) or php for the token, cli-ticket or php-ticket for
# the jsapi ticket. Signals it is
# ready (a file in READY), waits for the file GO, then asks for the token and
# prints it. The settings (WX_REDIS_URL, ...) come from the environment.
kind=$1 go=$2 ready=$3
touch "$ready$$"
while [ ! -e "$go" ]; do sleep 0.01; done
case "$kind" in
    cli) exec "$WXT_BIN/wxtoken" get ;;
    c) exec "$WXT_BIN/api_dynamic" get ;;
    php) exec "${PHP:-php}" -n -d "extension=$WXT_BIN/libwxtoken_php.so" -r '$t = getToken(); echo $t === "" ? "EMPTY " . wxtoken_last_error() : $t, "\n";' ;;
    cli-ticket) exec "$WXT_BIN/wxtoken" ticket jsapi ;;
    php-ticket) exec "${PHP:-php}" -n -d "extension=$WXT_BIN/libwxtoken_php.so" -r '$t = wxtoken_ticket(); echo $t === "" ? "EMPTY " . wxtoken_last_error() : $t, "\n";' ;;
esac
