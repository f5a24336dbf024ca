--TEST--
wxtoken: a truncated answer gives ""
--FILE--
<?php
require __DIR__ . '/helpers.inc';
$dir = wxt_setup();
wxt_fault('truncated');
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
token='' error=%s127.0.0.1:%d%s
bool(false)
string(10) "kept_token"
string(10) "kept_token"
bool(true)
token='' error=%s127.0.0.1:%d%s
string(13) "expired_token"
string(1) "1"
