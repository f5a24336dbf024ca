--TEST--
wxtoken: the secret appears in no error message and nowhere in phpinfo()
--FILE--
<?php
require __DIR__ . '/helpers.inc';
const MARK = 'zzSECRETzz';
$dir = wxt_setup(false);
define('APPID', WXT_APPID);
// The mock rejects this secret (40125), so every path below fails.
define('APPSECRET', 'wrong_' . MARK);
ini_set('wxtoken.appsecret', 'ini_' . MARK);
$seen = [];
$try = function (string $what) use (&$seen) {
    $t = getToken();
    $seen[] = "$what: " . var_export($t, true) . ' ' . wxtoken_last_error();
};
$try('bad secret');
foreach ([['errcode', ['errcode' => 45009]], ['errcode', ['errcode' => -1]], ['http500', []],
          ['invalid_json', []], ['truncated', []], ['missing_field', []], ['oversized', []]] as [$k, $p]) {
    wxt_fault($k, $p);
    $try($k);
}
wxt_fault('slow', ['ms' => 3600000]);
ini_set('wxtoken.http_timeout', '1');
$try('slow');
wxt_drain_slow();
wxt_fault('none');
ini_set('wxtoken.api_base', 'http://127.0.0.1:1');
$try('refused');
ini_set('wxtoken.api_base', wxt_url() . '/?secret=x');
$try('bad api base');
ini_set('wxtoken.refresh_margin', 'soon');
$try('bad margin');
ini_set('wxtoken.refresh_margin', '');
ini_set('wxtoken.api_base', wxt_url());
wxt_write_cache($dir, 'some_token', time() + 3600);
$seen[] = 'invalidate: ' . var_export(wxtoken_invalidate('some_token'), true) . ' ' . wxtoken_last_error();
ob_start();
phpinfo();
$info = ob_get_clean();
$all = implode("\n", $seen) . "\n" . $info;
echo str_contains($all, MARK) ? "SECRET SHOWN\n" : "secret never shown\n";
echo str_contains($info, 'WX_APPSECRET => *** => constant APPSECRET') ? "masked in phpinfo\n" : "not masked\n";
// Every failure still said why.
foreach ($seen as $line) {
    if (str_ends_with($line, "'' ")) echo "no reason: $line\n";
}
echo count($seen), " cases\n";
?>
--EXPECT--
secret never shown
masked in phpinfo
13 cases
