#!/usr/bin/env bash
# For the leak check of tests/tooling/run.sh: a suite in miniature. Starts
# wechat-mock and php-fpm behind nginx through tests/fpm/stack.sh, as
# tests/fpm/run.sh and scripts/bench/stack.sh do, checks a page answers,
# prints READY, then ends one of three ways:
#
#   leak_stack.sh stop   stack_stop, then exit 0: the normal end
#   leak_stack.sh exit   exit 1 with everything still up: a suite that gives
#                        up half way (the exit trap must stop it all)
#   leak_stack.sh wait   wait to be interrupted (Ctrl-C, kill)
#
# Needs root (php-fpm -R), php-fpm, nginx, and the debug builds of
# wxtoken-php and wechat-mock.

. "$(dirname "$0")/../lib.sh"
. "$WX_ROOT/tests/fpm/stack.sh"
cd "$WX_TMP" || exit 1
chmod 755 "$WX_TMP"

start_mock
mkdir -p "$WX_TMP/cache"
fpm_start leak "extension=$WX_TARGET/libwxtoken_php.so" "
php_admin_value[wxtoken.appid] = wx_test_appid
php_admin_value[wxtoken.appsecret] = test_secret_0123456789
php_admin_value[wxtoken.api_base] = $MOCK_URL
php_admin_value[wxtoken.token_file] = $WX_TMP/cache/token.txt
php_admin_value[wxtoken.expiry_file] = $WX_TMP/cache/expiry.txt" && nginx_start leak || exit 1
token=$(curl -fsS --max-time 120 "$(stack_url leak token.php)")
[ -n "$token" ] && [ "$token" = "$(mock_stat last_token)" ] || { echo "no token through nginx: $token" >&2; exit 1; }
echo "the stack answers: ${token:0:12}..."
echo READY

case "${1:-stop}" in
    stop) stack_stop leak; exit 0 ;;
    exit) exit 1 ;;
    wait) while :; do sleep 0.1; done ;;
esac
