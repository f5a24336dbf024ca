--TEST--
wxtoken: failures return "" without any warning, notice or exception
--INI--
display_errors=1
error_reporting=-1
--FILE--
<?php
require __DIR__ . '/helpers.inc';
$errors = [];
set_error_handler(function ($no, $str) use (&$errors) { $errors[] = "$no: $str"; return false; });
wxt_mock('/mock/reset');
// No settings at all.
var_dump(getToken(), wxtoken_invalidate('x'));
// Unreachable API.
$dir = wxt_setup();
ini_set('wxtoken.api_base', 'http://127.0.0.1:1');
var_dump(getToken());
// An error answer.
ini_set('wxtoken.api_base', wxt_url());
wxt_fault('errcode', ['errcode' => 45009]);
var_dump(getToken());
// Unreadable cache files (a directory where the token file should be).
wxt_fault('none');
mkdir("$dir/dir_token");
ini_set('wxtoken.token_file', "$dir/dir_token");
$t = getToken();
echo gettype($t), "\n";
rmdir("$dir/dir_token");
var_dump($errors, error_get_last());
?>
--EXPECT--
string(0) ""
bool(false)
string(0) ""
string(0) ""
string
array(0) {
}
NULL
