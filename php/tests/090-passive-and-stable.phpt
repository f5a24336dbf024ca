--TEST--
wxtoken: wxtoken.passive never fetches; wxtoken.mode=stable uses /cgi-bin/stable_token
--FILE--
<?php
require __DIR__ . '/helpers.inc';
$dir = wxt_setup();
ini_set('wxtoken.passive', '1');
var_dump(getToken(), wxt_calls());
echo wxtoken_last_error(), "\n";
wxt_write_cache($dir, 'someone_elses', time() + 3600);
var_dump(getToken());
ini_set('wxtoken.passive', '0');
unlink("$dir/token.txt");
ini_set('wxtoken.mode', 'stable');
$t = getToken();
$s = wxt_stats();
var_dump($t === $s['last_token'], $s['token_calls'], $s['stable_calls'], wxtoken_last_error());
?>
--EXPECT--
string(0) ""
int(0)
no valid token in the cache and passive mode (WX_PASSIVE) forbids fetching one
string(13) "someone_elses"
bool(true)
int(0)
int(1)
string(0) ""
