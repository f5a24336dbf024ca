<?php
/*
 * getToken() on a warm cache: the legacy script's function against the
 * extension's, N calls each, on the same token.txt/expiry.txt in the current
 * directory (the legacy defaults: relative names).
 *
 *   php -n -d extension=target/release/libwxtoken_php.so php/bench/bench.php MOCK_URL [N]
 *
 * `make bench-php` runs it against a local wechat-mock in a scratch directory.
 * A benchmark, not a test: it prints figures and fails only if a function
 * returns the wrong token or the warm loops call the API.
 */

[$url, $n] = [$argv[1] ?? '', (int) ($argv[2] ?? 200000)];
if ($url === '' || !extension_loaded('wxtoken')) {
    fwrite(STDERR, "usage: php -d extension=.../libwxtoken_php.so bench.php MOCK_URL [N]\n");
    exit(2);
}

define('APPID', 'wx_test_appid');
define('APPSECRET', 'test_secret_0123456789');
define('TOKENFILE', 'token.txt');
define('EXPIRY', 'expiry.txt');
define('LEGACY_API_BASE', $url);
ini_set('wxtoken.api_base', $url);
require __DIR__ . '/../tests/legacy/legacy_get_token.php';

function calls(string $url): int
{
    return json_decode(file_get_contents("$url/mock/stats"), true)['token_calls'];
}

// Warm the cache: one fetch, then both functions must agree without another.
$token = getToken();
if ($token === '' || legacy_getToken() !== $token) {
    fwrite(STDERR, 'warm-up failed: ' . wxtoken_last_error() . "\n");
    exit(1);
}
$before = calls($url);

/** The median of five rounds, in calls per second. */
function measure(callable $f, int $n, $want): float
{
    $rates = [];
    for ($round = 0; $round < 5; $round++) {
        $start = hrtime(true);
        for ($i = 0; $i < $n; $i++) {
            $t = $f();
        }
        $secs = (hrtime(true) - $start) / 1e9;
        if ($want !== null && $t !== $want) {
            fwrite(STDERR, "wrong token from the benchmarked function\n");
            exit(1);
        }
        $rates[] = $n / $secs;
    }
    sort($rates);
    return $rates[2];
}

$legacy = measure('legacy_getToken', $n, $token);
$ext = measure('getToken', $n, $token);
// The floor's PHP part: an empty built-in call (pi() returns a constant) in
// the same loop shape; the C bench measures the two fstat(2)s a hit needs.
$empty = measure('pi', $n, null);
$extra = calls($url) - $before;

printf("getToken() on a warm cache, %d calls x median of 5, PHP %s\n", $n, PHP_VERSION);
printf("  legacy PHP function : %10.0f calls/s  (%6.3f us/call)\n", $legacy, 1e6 / $legacy);
printf("  wxtoken extension   : %10.0f calls/s  (%6.3f us/call)\n", $ext, 1e6 / $ext);
printf("  empty built-in pi() : %10.0f calls/s  (%6.3f us/call)\n", $empty, 1e6 / $empty);
printf("  ratio               : %10.1fx\n", $ext / $legacy);
printf("RESULT php_legacy %.1f\nRESULT php_hit %.1f\nRESULT php_empty_call %.1f\n",
    1e9 / $legacy, 1e9 / $ext, 1e9 / $empty);
printf("  upstream calls during the timed loops: %d\n", $extra);
exit($extra === 0 ? 0 : 1);
