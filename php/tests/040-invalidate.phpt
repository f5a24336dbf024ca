--TEST--
wxtoken: wxtoken_invalidate() drops a rejected token once; a newer token is kept
--FILE--
<?php
require __DIR__ . '/helpers.inc';
$dir = wxt_setup();
$t1 = getToken();
// The business API accepts it...
var_dump(isset(wxt_mock('/cgi-bin/getcallbackip?access_token=' . urlencode($t1))['ip_list']));
var_dump(wxtoken_invalidate('not_the_cached_token'), getToken() === $t1, wxt_calls());
var_dump(wxtoken_invalidate($t1), wxtoken_last_error());
$t2 = getToken();
var_dump($t2 !== $t1 && $t2 === wxt_stats()['last_token'], wxt_calls());
// A second worker reporting the same old token does not drop the new one.
var_dump(wxtoken_invalidate($t1), getToken() === $t2, wxt_calls());
var_dump(wxtoken_invalidate(''));
// Without settings, "false" and the reason.
ini_set('wxtoken.appid', '');
var_dump(wxtoken_invalidate($t2));
echo wxtoken_last_error(), "\n";
var_dump(file_get_contents("$dir/token.txt") === $t2);
?>
--EXPECT--
bool(true)
bool(false)
bool(true)
int(1)
bool(true)
string(0) ""
bool(true)
int(2)
bool(false)
bool(true)
int(2)
bool(false)
bool(false)
configuration error: app id is required (WX_APPID) [define APPID, or set wxtoken.appid or WX_APPID]
bool(true)
