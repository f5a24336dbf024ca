--TEST--
wxtoken: a wrong secret (40125) or appid (40013) gives "" and a hint, never the secret
--FILE--
<?php
require __DIR__ . '/helpers.inc';
$dir = wxt_setup(false);
define('APPID', WXT_APPID);
define('APPSECRET', 'wrong_secret_DO_NOT_SHOW');
$t = getToken();
var_dump($t);
$err = wxtoken_last_error();
echo $err, "\n";
var_dump(str_contains($err, 'DO_NOT_SHOW'), file_exists("$dir/token.txt"));
ini_set('wxtoken.appsecret', WXT_SECRET);   // the constant still wins
var_dump(getToken(), str_contains(wxtoken_last_error(), '40125'));
?>
--EXPECTF--
string(0) ""
WeChat API error 40125: %s (check the app secret)
bool(false)
bool(false)
string(0) ""
bool(true)
