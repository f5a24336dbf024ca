--TEST--
wxtoken: the legacy getToken() and the extension share one pair of files, each reading what the other wrote
--FILE--
<?php
require __DIR__ . '/helpers.inc';
require __DIR__ . '/legacy/legacy_get_token.php';
$dir = wxt_setup(false);
define('APPID', WXT_APPID);
define('APPSECRET', WXT_SECRET);
define('TOKENFILE', "$dir/token.txt");
define('EXPIRY', "$dir/expiry.txt");
define('LEGACY_API_BASE', wxt_url());

// Legacy fetches and writes; the extension reads it: no second call.
$l1 = legacy_getToken();
var_dump($l1 === wxt_stats()['last_token'], getToken() === $l1, wxt_calls());

// Expired: the extension refreshes; the legacy script reads its files.
file_put_contents(EXPIRY, '1');
$e1 = getToken();
var_dump($e1 !== $l1, legacy_getToken() === $e1, getToken() === $e1, wxt_calls());
printf("%o\n", fileperms(TOKENFILE) & 0777);

// Expired again: legacy refreshes, rewriting the files in place; the
// extension, which had the old files open, sees the new token.
file_put_contents(EXPIRY, '1');
$l2 = legacy_getToken();
var_dump($l2 !== $e1, getToken() === $l2, legacy_getToken() === $l2, wxt_calls());

// The legacy process in a separate php without the extension reads the
// extension's token too.
file_put_contents(EXPIRY, '1');
$e2 = getToken();
$code = 'define("APPID", "x"); define("APPSECRET", "x"); define("LEGACY_API_BASE", "http://127.0.0.1:1");'
      . 'define("TOKENFILE", ' . var_export(TOKENFILE, true) . '); define("EXPIRY", ' . var_export(EXPIRY, true) . ');'
      . 'require ' . var_export(__DIR__ . '/legacy/legacy_get_token.php', true) . '; echo legacy_getToken();';
var_dump(shell_exec(escapeshellarg(PHP_BINARY) . ' -n -r ' . escapeshellarg($code)) === $e2, wxt_calls());
?>
--EXPECT--
bool(true)
bool(true)
int(1)
bool(true)
bool(true)
bool(true)
int(2)
600
bool(true)
bool(true)
bool(true)
int(3)
bool(true)
int(4)
