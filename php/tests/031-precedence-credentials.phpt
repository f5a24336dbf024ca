--TEST--
wxtoken: appid and secret by precedence, shown by phpinfo() with their source, secret masked
--ENV--
WX_APPID=appid_from_env
WX_APPSECRET=secret_from_env_SHOULD_NOT_SHOW
--FILE--
<?php
require __DIR__ . '/helpers.inc';
$dir = wxt_setup(false);
function show() {
    ob_start();
    phpinfo(INFO_MODULES);
    $info = ob_get_clean();
    foreach (explode("\n", $info) as $line) {
        if (preg_match('/^WX_(APPID|APPSECRET) /', $line)) {
            echo $line, "\n";
        }
    }
    if (str_contains($info, 'SHOULD_NOT_SHOW') || str_contains($info, WXT_SECRET)) {
        echo "SECRET SHOWN\n";
    }
}
show();
// The environment's appid is wrong for the mock: 40013.
var_dump(getToken());
echo wxtoken_last_error(), "\n";
ini_set('wxtoken.appid', 'appid_from_ini');
ini_set('wxtoken.appsecret', 'secret_from_ini_SHOULD_NOT_SHOW');
show();
define('APPID', WXT_APPID);
define('APPSECRET', WXT_SECRET);
show();
var_dump(getToken() === wxt_stats()['last_token'], wxtoken_last_error());
?>
--EXPECTF--
WX_APPID => appid_from_env => environment WX_APPID
WX_APPSECRET => *** => environment WX_APPSECRET
string(0) ""
WeChat API error 40013: %s (check the app id, or for WeCom the corp id)
WX_APPID => appid_from_ini => ini wxtoken.appid
WX_APPSECRET => *** => ini wxtoken.appsecret
WX_APPID => wx_test_appid => constant APPID
WX_APPSECRET => *** => constant APPSECRET
bool(true)
string(0) ""
