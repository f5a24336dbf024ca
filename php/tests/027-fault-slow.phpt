--TEST--
wxtoken: a slow API hits wxtoken.http_timeout and gives "" long before the answer comes
--FILE--
<?php
require __DIR__ . '/helpers.inc';
$dir = wxt_setup();
// The mock answers only after an hour; at a 1 s timeout every call must give
// up long before that. Each call gets 60 s: generous for a 1 s timeout on
// the slowest, most loaded machine, and still far short of the delay, so a
// call that waited for the answer fails the test.
const SLOW_MS = 3600000;
const BOUND_S = 60.0;
wxt_fault('slow', ['ms' => SLOW_MS]);
ini_set('wxtoken.http_timeout', '1');
$took = [];
function timed(array &$took): string
{
    $started = microtime(true);
    $t = getToken();
    $took[] = microtime(true) - $started;
    return $t;
}
register_shutdown_function(function () use (&$took) {
    $late = array_filter($took, fn($s) => $s >= BOUND_S);
    echo count($took), ' calls, ', $late ? 'too slow: ' . implode(', ', array_map(fn($s) => sprintf('%.3f s', $s), $took)) : 'each in time', "\n";
    wxt_drain_slow();
});
$t = timed($took);
echo wxt_outcome($t), "\n";
// Nothing was cached or overwritten: the files are absent...
var_dump(file_exists("$dir/token.txt"));
// ...and a valid cached token survives the same fault untouched.
// 100 s left of a token fetched 7000 s ago: inside the 300 s margin, so a
// refresh is tried, fails, and the still-valid token is served.
wxt_write_cache($dir, 'kept_token', time() + 100, time() - 7000);
$k = timed($took);
var_dump($k, file_get_contents("$dir/token.txt"), wxt_outcome($k) === "token='kept_token' error=");
wxt_write_cache($dir, 'expired_token', 1);
echo wxt_outcome(timed($took)), "\n";
var_dump(file_get_contents("$dir/token.txt"), file_get_contents("$dir/expiry.txt"));
?>
--EXPECTF--
token='' error=timed out after %fs waiting for 127.0.0.1:%d
bool(false)
string(10) "kept_token"
string(10) "kept_token"
bool(true)
token='' error=timed out after %fs waiting for 127.0.0.1:%d (a refresh %ds ago; not retried yet)
string(13) "expired_token"
string(1) "1"
3 calls, each in time
