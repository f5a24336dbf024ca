--TEST--
wxtoken: wxtoken_status() reports the store, the token (preview only) and a condition that degrades the cache
--FILE--
<?php
require __DIR__ . '/helpers.inc';
$dir = wxt_setup();
ini_set('error_log', "$dir/php-errors.log");
$s = wxtoken_status();
var_dump($s['store'], $s['present'], $s['token_preview'], $s['last_error']);
$t = getToken();
$s = wxtoken_status();
var_dump($s['present'], $s['fresh'], $s['seconds_left'] > 7000, $s['token_file'] === "$dir/token.txt");
var_dump(str_contains(print_r($s, true), $t), str_starts_with($s['token_preview'], substr($t, 0, 8)));
// A directory nobody can create files in (not even root: it is under
// /proc): the token is kept in the process, and the status says so.
ini_set('wxtoken.token_file', '/proc/wxtoken-no-such-dir/token.txt');
ini_set('wxtoken.expiry_file', '/proc/wxtoken-no-such-dir/expiry.txt');
$t2 = getToken();
$s = wxtoken_status();
var_dump($t2 !== '', str_contains((string) $s['last_warning'], 'token fetched but not cached'));
// In PHP's error log once, however many calls see the condition; never the token.
for ($i = 0; $i < 5; $i++) { getToken(); }
$log = file_get_contents("$dir/php-errors.log");
var_dump(substr_count($log, 'wxtoken: token fetched but not cached'), str_contains($log, $t2));
echo json_encode(array_keys($s)), "\n";
?>
--CLEAN--
<?php
?>
--EXPECT--
string(5) "files"
bool(false)
NULL
string(0) ""
bool(true)
bool(true)
bool(true)
bool(true)
bool(false)
bool(true)
bool(true)
bool(true)
int(1)
bool(false)
["store","location","token_file","expiry_file","present","token_preview","expires_at","seconds_left","refresh_at","fresh","refresh_margin","last_warning","tickets","last_error"]
