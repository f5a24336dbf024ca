--TEST--
wxtoken: a relative open_basedir entry (".") is judged against the current directory of each call
--FILE--
<?php
require __DIR__ . '/helpers.inc';
// Not wxt_setup(): its clean-up at shutdown would run outside ".".
wxt_mock('/mock/reset');
ini_set('wxtoken.api_base', wxt_url());
ini_set('wxtoken.appid', WXT_APPID);
ini_set('wxtoken.appsecret', WXT_SECRET);
$base = getenv('WXT_TMP') ?: sys_get_temp_dir();
$dir = "$base/relative-basedir-" . getmypid();
@mkdir("$dir/sub", 0700, true);
ini_set('wxtoken.token_file', "$dir/token.txt");
ini_set('wxtoken.expiry_file', "$dir/expiry.txt");
chdir($dir);
// "." is the directory of the call, as for PHP's own file functions.
ini_set('open_basedir', '.' . PATH_SEPARATOR . __DIR__);
var_dump(getToken() !== '');
// One level down, the same settings (the same cache) name files above ".".
chdir("$dir/sub");
var_dump(@file_get_contents("$dir/token.txt"));
var_dump(getToken());
echo wxtoken_last_error(), "\n";
?>
--CLEAN--
<?php
$base = getenv('WXT_TMP') ?: sys_get_temp_dir();
foreach (glob("$base/relative-basedir-*") as $d) {
    foreach (glob("$d/{,.}*", GLOB_BRACE) as $f) { if (is_file($f)) unlink($f); }
    rmdir("$d/sub");
    rmdir($d);
}
?>
--EXPECTF--
bool(true)
bool(false)
string(0) ""
open_basedir restriction in effect: token file %s/relative-basedir-%d/token.txt is not within the allowed path(s): (.:%s)
