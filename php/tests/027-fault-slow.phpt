--TEST--
wxtoken: a slow API hits wxtoken.http_timeout and gives "" in time
--FILE--
<?php
require __DIR__ . '/helpers.inc';
$dir = wxt_setup();
wxt_fault('slow', ['ms' => 1000]);
ini_set('wxtoken.http_timeout', '0.3');
$started = microtime(true);
register_shutdown_function(function () use ($started) {
    $took = microtime(true) - $started;
    echo $took < 1.0 ? "in time\n" : "took $took s\n";
    wxt_drain_slow(1000);
});
$t = getToken();
echo wxt_outcome($t), "\n";
// Nothing was cached or overwritten: the files are absent...
var_dump(file_exists("$dir/token.txt"));
// ...and a valid cached token survives the same fault untouched.
// 100 s left of a token fetched 7000 s ago: inside the 300 s margin, so a
// refresh is tried, fails, and the still-valid token is served.
wxt_write_cache($dir, 'kept_token', time() + 100, time() - 7000);
$k = getToken();
var_dump($k, file_get_contents("$dir/token.txt"), wxt_outcome($k) === "token='kept_token' error=");
wxt_write_cache($dir, 'expired_token', 1);
echo wxt_outcome(getToken()), "\n";
var_dump(file_get_contents("$dir/token.txt"), file_get_contents("$dir/expiry.txt"));
?>
--EXPECTF--
token='' error=timed out after 0.3s waiting for 127.0.0.1:%d
bool(false)
string(10) "kept_token"
string(10) "kept_token"
bool(true)
token='' error=timed out after 0.3s waiting for 127.0.0.1:%d
string(13) "expired_token"
string(1) "1"
in time
