#!/usr/bin/env bash
# Footprint: a PHP process's resident memory and threads with the extension,
# at start, after the first miss and after many hits; the sizes of the
# shipped binaries, stripped and not. RESULT lines for BENCHMARKS.md.
. "$(dirname "$0")/../../tests/lib.sh"
cd "$WX_TMP" || exit 1
start_mock
cat >"$WX_TMP/footprint.php" <<'PHP'
<?php
function status(): array {
    preg_match('/VmRSS:\s+(\d+)/', file_get_contents('/proc/self/status'), $rss);
    preg_match('/Threads:\s+(\d+)/', file_get_contents('/proc/self/status'), $thr);
    return [(int) $rss[1], (int) $thr[1]];
}
[$r0, $t0] = status();
getToken();                       // the first miss: a fetch
[$r1, $t1] = status();
for ($i = 0; $i < 100000; $i++) { getToken(); }   // hits
[$r2, $t2] = status();
printf("PHP process with the extension: start %d KiB %d thread(s); after a miss %d KiB %d; after 100000 hits %d KiB %d\n",
    $r0, $t0, $r1, $t1, $r2, $t2);
printf("RESULT php_rss_start_kib %d\nRESULT php_rss_miss_kib %d\nRESULT php_rss_hits_kib %d\n", $r0, $r1, $r2);
printf("RESULT php_threads_start %d\nRESULT php_threads_miss %d\nRESULT php_threads_hits %d\n", $t0, $t1, $t2);
PHP
php -n -d "extension=$WX_TARGET/libwxtoken_php.so" -d wxtoken.appid=wx_test_appid \
    -d wxtoken.appsecret=test_secret_0123456789 -d "wxtoken.api_base=$MOCK_URL" \
    -d "wxtoken.token_file=$WX_TMP/token.txt" -d "wxtoken.expiry_file=$WX_TMP/expiry.txt" \
    "$WX_TMP/footprint.php"
size() {
    local key=$1 file=$2
    [ -f "$file" ] || return 0
    strip -o "$WX_TMP/stripped" "$file"
    printf '%-28s %8d KiB, stripped %8d KiB\n' "$(basename "$file")" "$(($(stat -c %s "$file") / 1024))" \
        "$(($(stat -c %s "$WX_TMP/stripped") / 1024))"
    echo "RESULT size_${key}_kib $(($(stat -c %s "$file") / 1024))"
    echo "RESULT size_${key}_stripped_kib $(($(stat -c %s "$WX_TMP/stripped") / 1024))"
}
size libwxtoken "$WX_TARGET/libwxtoken.so"
size extension "$WX_TARGET/libwxtoken_php.so"
size cli "$WX_TARGET/wxtoken"
