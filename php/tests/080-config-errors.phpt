--TEST--
wxtoken: bad or missing settings give "" and a message naming the setting and where it came from
--FILE--
<?php
require __DIR__ . '/helpers.inc';
$dir = wxt_setup(false);
$show = function () { var_dump(getToken()); echo wxtoken_last_error(), "\n"; };
$show();
ini_set('wxtoken.appid', WXT_APPID);
$show();
ini_set('wxtoken.appsecret', WXT_SECRET);
ini_set('wxtoken.http_timeout', 'ten');
$show();
ini_set('wxtoken.http_timeout', '');
putenv('WX_TOKEN_MODE=fast');
$show();
putenv('WX_TOKEN_MODE');
ini_set('wxtoken.passive', 'maybe');
$show();
ini_set('wxtoken.passive', '');
// Fixing the settings is picked up by the next call.
var_dump(getToken() === wxt_stats()['last_token'], wxtoken_last_error());
// A constant that is not a string.
define('APPSECRET', ['not', 'a', 'string']);
$show();
?>
--EXPECT--
string(0) ""
configuration error: app id is required (WX_APPID) [define APPID, or set wxtoken.appid or WX_APPID]
string(0) ""
configuration error: app secret is required (WX_APPSECRET or WX_APPSECRET_FILE) [define APPSECRET, or set wxtoken.appsecret or WX_APPSECRET] [set wxtoken.appsecret_file or WX_APPSECRET_FILE]
string(0) ""
configuration error: HTTP timeout must be a number of seconds, got "ten" (WX_HTTP_TIMEOUT) [from ini wxtoken.http_timeout]
string(0) ""
configuration error: mode must be "token" or "stable", got "fast" (WX_TOKEN_MODE) [from environment WX_TOKEN_MODE]
string(0) ""
configuration error: passive must be 1 or 0, got "maybe" (WX_PASSIVE) [from ini wxtoken.passive]
bool(true)
string(0) ""
string(0) ""
configuration error: constant APPSECRET must be a string
