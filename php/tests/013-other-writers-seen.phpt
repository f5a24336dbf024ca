--TEST--
wxtoken: a token written by another process is seen by the very next call
--FILE--
<?php
require __DIR__ . '/helpers.inc';
$dir = wxt_setup();
wxt_write_cache($dir, 'first', time() + 3600);
var_dump(getToken(), getToken());
// Rewritten in place, as the legacy script's file_put_contents() does.
wxt_write_cache($dir, 'second', time() + 3600);
var_dump(getToken());
// Same length, rewritten in place again.
wxt_write_cache($dir, 'third_', time() + 3600);
var_dump(getToken());
// Replaced by rename, as wxtoken's other front ends do.
file_put_contents("$dir/token.tmp", 'fourth');
rename("$dir/token.tmp", "$dir/token.txt");
var_dump(getToken());
// Only the expiry moves (to the past): refreshed.
file_put_contents("$dir/expiry.txt", '1');
var_dump(getToken() === wxt_stats()['last_token'], wxt_calls());
// A process started separately (another PHP worker) sees this process's token.
$cmd = escapeshellarg(PHP_BINARY) . ' -n -d extension=' . escapeshellarg(getenv('WXT_EXT'))
     . ' -d wxtoken.appid=' . WXT_APPID . ' -d wxtoken.appsecret=' . WXT_SECRET
     . ' -d wxtoken.api_base=' . escapeshellarg(wxt_url())
     . ' -d wxtoken.token_file=' . escapeshellarg("$dir/token.txt")
     . ' -d wxtoken.expiry_file=' . escapeshellarg("$dir/expiry.txt")
     . ' -r ' . escapeshellarg('echo getToken();');
var_dump(shell_exec($cmd) === getToken(), wxt_calls());
?>
--EXPECT--
string(5) "first"
string(5) "first"
string(6) "second"
string(6) "third_"
string(6) "fourth"
bool(true)
int(1)
bool(true)
int(1)
