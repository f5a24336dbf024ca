--TEST--
wxtoken: getToken() ignores extra arguments, as the legacy user function did: no ArgumentCountError, no warning
--INI--
display_errors=1
error_reporting=-1
--FILE--
<?php
require __DIR__ . '/helpers.inc';
require __DIR__ . '/legacy/legacy_get_token.php';
$errors = [];
set_error_handler(function ($no, $str) use (&$errors) { $errors[] = "$no: $str"; return false; });
$dir = wxt_setup(false);
define('APPID', WXT_APPID);
define('APPSECRET', WXT_SECRET);
define('TOKENFILE', "$dir/token.txt");
define('EXPIRY', "$dir/expiry.txt");
define('LEGACY_API_BASE', wxt_url());

// PHP lets a call pass a user function more arguments than it declares: the
// legacy getToken() took none, and sites that passed some kept working.
$l = legacy_getToken('x', 1);
var_dump($l === wxt_stats()['last_token']);

// The extension's getToken() takes the same calls: a hit on the legacy
// files with extra arguments...
try {
    var_dump(getToken('x', 1) === $l, wxt_calls(), wxtoken_last_error());
} catch (Throwable $e) {
    echo get_class($e), ': ', $e->getMessage(), "\n";
}
// ...and a miss that fetches, with arguments of any type, spread or not.
file_put_contents(EXPIRY, '1');
try {
    $t = getToken(null, [1, 2], new stdClass(), ...['a', 'b']);
    var_dump($t !== '' && $t !== $l, $t === wxt_stats()['last_token'], wxt_calls());
    var_dump(getToken() === $t, getToken($t) === $t, wxt_calls());
} catch (Throwable $e) {
    echo get_class($e), ': ', $e->getMessage(), "\n";
}
// A failure with arguments is the usual failure: "" and the reason, still
// no exception.
file_put_contents(EXPIRY, '1');
ini_set('wxtoken.api_base', 'http://127.0.0.1:1');
var_dump(getToken('APPID', 'APPSECRET') === '', wxtoken_last_error() !== '');
var_dump($errors, error_get_last());
?>
--EXPECT--
bool(true)
bool(true)
int(1)
string(0) ""
bool(true)
bool(true)
int(2)
bool(true)
bool(true)
int(2)
bool(true)
bool(true)
array(0) {
}
NULL
