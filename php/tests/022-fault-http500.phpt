--TEST--
wxtoken: an HTTP 500 gives "" and names the status
--FILE--
<?php
require __DIR__ . '/helpers.inc';
$dir = wxt_setup();
wxt_fault('http500');
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
// Expired now: the failure moments ago is shared, not repeated (back-off).
$calls = wxt_calls();
wxt_write_cache($dir, 'expired_token', 1);
echo wxt_outcome(getToken()), "\n";
var_dump(wxt_calls() === $calls);
var_dump(file_get_contents("$dir/token.txt"), file_get_contents("$dir/expiry.txt"));
?>
--EXPECTF--
token='' error=HTTP status 500 from 127.0.0.1:%d
bool(false)
string(10) "kept_token"
string(10) "kept_token"
bool(true)
token='' error=HTTP status 500 from 127.0.0.1:%d (a refresh %ds ago; not retried yet)
bool(true)
string(13) "expired_token"
string(1) "1"
