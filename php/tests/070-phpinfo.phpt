--TEST--
wxtoken: phpinfo() shows the version and the effective settings with their sources
--ENV--
WX_HTTP_TIMEOUT=7
--INI--
wxtoken.mode=stable
--FILE--
<?php
define('APPID', 'wx_info_appid');
define('APPSECRET', 'info_secret_value');
ob_start();
phpinfo(INFO_MODULES);
$info = ob_get_clean();
// The section: its title, then two tables, each ended by an empty line.
$lines = explode("\n", $info);
$blank = 0;
for ($i = array_search('wxtoken', $lines); $blank < 3; $i++) {
    echo $lines[$i], "\n";
    $blank += $lines[$i] === '' ? 1 : 0;
}
echo str_contains($info, 'info_secret_value') ? "SECRET SHOWN\n" : "";
ini_set('wxtoken.refresh_margin', '9000');
ob_start();
phpinfo(INFO_MODULES);
echo preg_match('/^configuration => (.*?) =>\s*$/m', ob_get_clean(), $m) ? $m[1] : 'no error row', "\n";
?>
--EXPECTF--
wxtoken

wxtoken support => enabled
version => %d.%d.%d
settings precedence => php_admin_value > constants > wxtoken.* ini > WX_* environment > defaults
caches in this process => 0

setting => effective value => from
WX_APPID => wx_info_appid => constant APPID
WX_APPSECRET => *** => constant APPSECRET
WX_TOKEN_FILE => token.txt => default
WX_EXPIRY_FILE => expiry.txt => default
WX_API_BASE => https://api.weixin.qq.com,https://api2.weixin.qq.com => default
WX_REFRESH_MARGIN => 300 => default
WX_TOKEN_MODE => stable => ini wxtoken.mode
WX_HTTP_TIMEOUT => 7 => environment WX_HTTP_TIMEOUT
WX_REDIS_URL => (none) => default
WX_PASSIVE => 0 => default
WX_CA_FILE => (system roots) => default
WX_APPSECRET_FILE => (none) => default
WX_ALLOW_HTTP => 0 => default
WX_REDIS_PREFIX => wxtoken => default
WX_TICKET_DIR => (the token file's directory) => default
WX_PLATFORM => mp => default
WX_AGENTID => (none) => default
WX_DATABASE_URL => (none) => default
WX_DATABASE_PREFIX => wxtoken => default

configuration error: refresh margin 9000s is not below the 7200s token lifetime (WX_REFRESH_MARGIN) [from ini wxtoken.refresh_margin]
