--TEST--
wxtoken: open_basedir is honoured for the cache files as file_get_contents() would
--FILE--
<?php
require __DIR__ . '/helpers.inc';
$dir = wxt_setup();
$outside = dirname($dir) . '/outside-' . getmypid();
@mkdir($outside, 0700);
// A file outside the allowed directory, with a far expiry: neither read...
file_put_contents("$outside/token.txt", 'OUTSIDE_TOKEN');
file_put_contents("$outside/expiry.txt", (string) (time() + 7000));
ini_set('open_basedir', $dir . PATH_SEPARATOR . __DIR__);
var_dump(@file_get_contents("$outside/token.txt"));
ini_set('wxtoken.token_file', "$outside/token.txt");
ini_set('wxtoken.expiry_file', "$outside/expiry.txt");
var_dump(getToken());
echo wxtoken_last_error(), "\n";
// ...nor replaced, even by a forced path through invalidate.
var_dump(wxtoken_invalidate('OUTSIDE_TOKEN'));
// A secret file outside is not opened either.
ini_set('wxtoken.token_file', "$dir/token.txt");
ini_set('wxtoken.expiry_file', "$dir/expiry.txt");
ini_set('wxtoken.appsecret', '');
ini_set('wxtoken.appsecret_file', "$outside/secret");
var_dump(getToken());
echo wxtoken_last_error(), "\n";
// Inside it, everything works as usual.
ini_set('wxtoken.appsecret_file', '');
ini_set('wxtoken.appsecret', WXT_SECRET);
$t = getToken();
var_dump($t !== '' && $t === file_get_contents("$dir/token.txt"), wxt_calls());
?>
--CLEAN--
<?php
$base = getenv('WXT_TMP') ?: sys_get_temp_dir();
foreach (glob("$base/outside-*/*") as $f) { unlink($f); }
foreach (glob("$base/outside-*") as $d) { rmdir($d); }
?>
--EXPECTF--
bool(false)
string(0) ""
open_basedir restriction in effect: token file %s/outside-%d/token.txt is not within the allowed path(s): (%s)
bool(false)
string(0) ""
open_basedir restriction in effect: app secret file %s/outside-%d/secret is not within the allowed path(s): (%s)
bool(true)
int(1)
