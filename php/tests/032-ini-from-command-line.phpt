--TEST--
wxtoken: settings given as php.ini entries (-d) alone are enough
--INI--
wxtoken.appid=wx_test_appid
wxtoken.appsecret=test_secret_0123456789
wxtoken.http_timeout=5
--FILE--
<?php
require __DIR__ . '/helpers.inc';
wxt_mock('/mock/reset');
$dir = wxt_dir();
ini_set('wxtoken.api_base', wxt_url());      // the mock's port is only known at run time
ini_set('wxtoken.token_file', "$dir/t.txt");
ini_set('wxtoken.expiry_file', "$dir/e.txt");
var_dump(getToken() === wxt_stats()['last_token'], file_exists("$dir/t.txt"), wxtoken_last_error());
?>
--EXPECT--
bool(true)
bool(true)
string(0) ""
