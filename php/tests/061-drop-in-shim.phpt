--TEST--
wxtoken: a site keeps its define()s and call sites; php/getToken.php replaces the old function
--FILE--
<?php
require __DIR__ . '/helpers.inc';
$dir = wxt_setup(false);
// The site's configuration, defined before the shim is included...
define('APPID', WXT_APPID);
define('APPSECRET', WXT_SECRET);
define('TOKENFILE', "$dir/token.txt");
require __DIR__ . '/../getToken.php';
chdir($dir);   // EXPIRY is left to the shim's relative default
// ...is kept (no "already defined" warning); the shim fills in the rest.
var_dump(TOKENFILE === "$dir/token.txt", EXPIRY);
// A typical call site, unchanged.
$url = 'https://api.weixin.qq.com/cgi-bin/menu/get?access_token=' . getToken();
var_dump(str_ends_with($url, wxt_stats()['last_token']));
// The relative default: expiry.txt in the current directory.
var_dump(is_file("$dir/expiry.txt"), error_get_last());
?>
--EXPECT--
bool(true)
string(10) "expiry.txt"
bool(true)
bool(true)
NULL
