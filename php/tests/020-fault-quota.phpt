--TEST--
wxtoken: errcode 45009 (daily quota) gives "" and says so; nothing is cached or overwritten
--FILE--
<?php
require __DIR__ . '/helpers.inc';
$dir = wxt_setup();
wxt_fault('errcode', ['errcode' => 45009]);
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
// Expired now, but WeChat said back off: no new attempt within a minute.
wxt_write_cache($dir, 'expired_token', 1);
echo wxt_outcome(getToken()), "\n";
var_dump(file_get_contents("$dir/token.txt"), file_get_contents("$dir/expiry.txt"));
var_dump(wxt_calls());
?>
--EXPECTF--
token='' error=WeChat API error 45009: %s (daily token quota used up; wait, do not retry)
bool(false)
string(10) "kept_token"
string(10) "kept_token"
bool(true)
token='' error=WeChat API error 45009: %s (daily token quota used up; wait, do not retry) (a refresh %ds ago; not retried yet)
string(13) "expired_token"
string(1) "1"
int(1)
