# What a pool's administrator confines a site to, under real php-fpm behind
# nginx: open_basedir for the cache files getToken() touches, and settings
# given with php_admin_value, which a script must not override (issue #19,
# item 2). Sourced by tests/fpm/run.sh (one summary for the whole suite), or
# run alone: `WX_TARGET=target/debug bash tests/fpm/confinement.sh`.

if [ -z "${STACK_ROOT:-}" ]; then
    CONFINEMENT_ALONE=1
    . "$(dirname "$0")/../lib.sh"
    . "$(dirname "$0")/stack.sh"
    cd "$WX_TMP" || exit 1
    EXT=${WXT_EXT:-$WX_TARGET/libwxtoken_php.so}
    SECRET=test_secret_0123456789
    chmod 755 "$WX_TMP"
    start_mock
    printf '%s\n' "$SECRET" >"$WX_TMP/secret"
    chmod 600 "$WX_TMP/secret"
fi

# c_page NAME PAGE: the page's body (curl's error text if it failed).
c_page() { curl -sS --max-time 120 "$(stack_url "$1" "$2")" 2>&1; }

# ================================================================ open_basedir, registry eviction
# A site confined to its docroot. Its first getToken() uses its own files;
# eight settings that fail, each new to the worker's registry (it keeps
# eight), evict that cache, whose memory the next cache built may reuse; the
# next call names another site's files. Each request must refuse them.
SITE_B=$WX_TMP/site-b      # a valid token of another site: must not be read
SITE_C=$WX_TMP/site-c      # an expired one: must not be replaced
mkdir -p "$SITE_B" "$SITE_C"
printf 'OTHER_SITE_TOKEN' >"$SITE_B/token.txt"
printf '%s' "$(($(date +%s) + 7000))" >"$SITE_B/expiry.txt"
printf 'STALE_C' >"$SITE_C/token.txt"
printf '1' >"$SITE_C/expiry.txt"
DOCROOT=$STACK_ROOT/basedir/docroot
fpm_start basedir "extension=$EXT" "php_admin_value[open_basedir] = $DOCROOT/
php_admin_value[wxtoken.appid] = wx_test_appid
php_admin_value[wxtoken.appsecret] = $SECRET
php_admin_value[wxtoken.api_base] = $MOCK_URL
php_admin_value[wxtoken.http_timeout] = 5" && nginx_start basedir
mkdir -p "$DOCROOT/cache"
cat >"$DOCROOT/evict.php" <<'PHP'
<?php
// Every line of output is one outcome; the test greps them.
ini_set('wxtoken.token_file', __DIR__ . '/cache/token.txt');
ini_set('wxtoken.expiry_file', __DIR__ . '/cache/expiry.txt');
$t = getToken();
echo $t !== '' ? "INSIDE token\n" : 'INSIDE EMPTY ' . wxtoken_last_error() . "\n";
// New to this worker on every request, so each one is built and inserted.
$nonce = bin2hex(random_bytes(8));
for ($i = 0; $i < 8; $i++) {
    ini_set('wxtoken.refresh_margin', "bad-$nonce-$i");
    getToken();
}
ini_set('wxtoken.refresh_margin', '');
$dir = $_GET['dir'];
define('TOKENFILE', "$dir/token.txt");
define('EXPIRY', "$dir/expiry.txt");
$t = getToken();
echo $t === '' ? 'OUTSIDE EMPTY ' . wxtoken_last_error() : "OUTSIDE READ $t", "\n";
PHP
chmod a+r "$DOCROOT/evict.php"
for target in "$SITE_B" "$SITE_C"; do
    refused=0 inside=0 log=$WX_TMP/evict-${target##*/}.out
    : >"$log"
    for _ in 1 2 3 4; do
        out=$(c_page basedir "evict.php?dir=$target")
        printf '%s\n' "$out" >>"$log"
        grep -q '^INSIDE token$' <<<"$out" && inside=$((inside + 1))
        grep -q "^OUTSIDE EMPTY open_basedir restriction in effect: token file $target/token.txt is not within" <<<"$out" &&
            refused=$((refused + 1))
    done
    check "open_basedir after 8 evicting configurations, ${target##*/}: the site's own cache works (4 of 4 requests: $inside)" \
        test "$inside" = 4
    check "... and another site's files are refused with the reason (4 of 4 requests: $refused; $(grep '^OUTSIDE' "$log" | sort | uniq -c | head -n 2 | tr -s ' \n' ' '| cut -c1-200))" \
        test "$refused" = 4
done
check "... the other site's valid token was not served, its files unchanged" \
    bash -c '! grep -q OTHER_SITE_TOKEN "$1" && [ "$(cat "$2/token.txt")" = OTHER_SITE_TOKEN ]' _ "$WX_TMP/evict-site-b.out" "$SITE_B"
check "... the expired one was not replaced, and no file was added beside either (${SITE_C##*/}: $(ls -A "$SITE_C" | tr '\n' ' '))" \
    bash -c '[ "$(cat "$1/token.txt")" = STALE_C ] && [ "$(ls -A "$1" | wc -l)" = 2 ] && [ "$(ls -A "$2" | wc -l)" = 2 ]' _ "$SITE_C" "$SITE_B"
# The secret and its file replace each other: with the pool's secret given by
# php_admin_value, a script's wxtoken.appsecret_file must not replace it.
printf 'not_the_pools_secret\n' >"$DOCROOT/cache/secret"
chmod 600 "$DOCROOT/cache/secret"
cat >"$DOCROOT/secret_file.php" <<'PHP'
<?php
ini_set('wxtoken.token_file', __DIR__ . '/cache/token.txt');
ini_set('wxtoken.expiry_file', __DIR__ . '/cache/expiry.txt');
file_put_contents(__DIR__ . '/cache/expiry.txt', '1');   // expired: fetch now
ini_set('wxtoken.appsecret_file', __DIR__ . '/cache/secret');
$t = getToken();
echo $t === '' ? 'EMPTY ' . wxtoken_last_error() : $t;
PHP
chmod a+r "$DOCROOT/secret_file.php"
out=$(c_page basedir secret_file.php)
check "php_admin_value[wxtoken.appsecret] beats a script's wxtoken.appsecret_file (${out:0:100})" \
    bash -c '[ -n "$1" ] && [ "${1:0:5}" != EMPTY ]' _ "$out"
stack_stop basedir

# ================================================================ php_admin_value beats the script
# The token file is the administrator's (php_admin_value); the expiry file is
# only a default (php_value), which a script's constant may still replace.
ADMIN=$WX_TMP/admin-cache
OTHER=$WX_TMP/admin-other
mkdir -p "$ADMIN" "$OTHER"
fpm_start admin "extension=$EXT" "php_admin_value[wxtoken.appid] = wx_test_appid
php_admin_value[wxtoken.appsecret_file] = $WX_TMP/secret
php_admin_value[wxtoken.api_base] = $MOCK_URL
php_admin_value[wxtoken.http_timeout] = 5
php_admin_value[wxtoken.token_file] = $ADMIN/token.txt
php_value[wxtoken.expiry_file] = $ADMIN/expiry.txt" && nginx_start admin
ADMIN_ROOT=$STACK_ROOT/admin/docroot
cat >"$ADMIN_ROOT/define.php" <<'PHP'
<?php
$other = $_GET['dir'];
define('TOKENFILE', "$other/token.txt");
define('EXPIRY', "$other/expiry.txt");
$set = ini_set('wxtoken.token_file', "$other/via-ini.txt");
$t = getToken();
echo $t === '' ? 'EMPTY ' . wxtoken_last_error() : $t, "\n";
echo 'ini_set: ', var_export($set, true), "\n";
PHP
cat >"$ADMIN_ROOT/credentials.php" <<'PHP'
<?php
// The pool's app id and secret file are the administrator's: a script's
// own constants for them are ignored.
define('APPID', 'wx_someone_else');
define('APPSECRET', 'not_the_pools_secret');
$t = getToken();
echo $t === '' ? 'EMPTY ' . wxtoken_last_error() : $t, "\n";
PHP
chmod a+r "$ADMIN_ROOT"/*.php
out=$(c_page admin "define.php?dir=$OTHER")
token=$(head -n 1 <<<"$out")
check "php_admin_value[wxtoken.token_file] beats define('TOKENFILE'): the token is in the admin's file (${out:0:160})" \
    bash -c '[ -n "$1" ] && [ "${1:0:5}" != EMPTY ] && [ "$(cat "$2/token.txt" 2>/dev/null)" = "$1" ]' _ "$token" "$ADMIN"
check "... the script's token file was never created, nor one named by ini_set() ($(ls -A "$OTHER" | tr '\n' ' '))" \
    test ! -e "$OTHER/token.txt" -a ! -e "$OTHER/via-ini.txt"
check "... ini_set() of the admin value failed, as PHP makes it" grep -qx "ini_set: false" <<<"$out"
check "... a php_value (not the admin's) is still replaced by the script's constant: EXPIRY is used" \
    test -s "$OTHER/expiry.txt" -a ! -e "$ADMIN/expiry.txt"
check "... and the ignored constant is noted in the error log" \
    grep -q "wxtoken: constant TOKENFILE ignored: wxtoken.token_file is set by the administrator" "$STACK_ROOT/admin/php-errors.log"
out=$(c_page admin credentials.php)
check "php_admin_value app id and secret file beat define('APPID') and define('APPSECRET') (${out:0:160})" \
    bash -c '[ -n "$1" ] && [ "${1:0:5}" != EMPTY ] && [ "$(cat "$2/token.txt" 2>/dev/null)" = "$1" ]' _ "$out" "$ADMIN"
stack_stop admin

if [ -n "${CONFINEMENT_ALONE:-}" ]; then
    summary
fi
