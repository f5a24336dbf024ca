--TEST--
wxtoken: relative file names resolve against the current directory at each call, like file_get_contents()
--FILE--
<?php
require __DIR__ . '/helpers.inc';
$dir = wxt_setup();
define('TOKENFILE', 'token.txt');   // the legacy script's defaults
define('EXPIRY', 'expiry.txt');
mkdir("$dir/a");
mkdir("$dir/b");
file_put_contents("$dir/a/token.txt", 'token_in_a');
file_put_contents("$dir/a/expiry.txt", time() + 3600);
chdir("$dir/a");
var_dump(getToken());
chdir("$dir/b");                     // nothing cached here: one upstream call
$b = getToken();
var_dump($b === file_get_contents("$dir/b/token.txt"), wxt_calls());
chdir("$dir/a");
var_dump(getToken());
chdir("$dir/b");
var_dump(getToken() === $b, wxt_calls());
// Files written in a's directory by someone else are seen after a chdir back.
file_put_contents("$dir/a/token.txt", 'new_token_in_a');
chdir("$dir/a");
var_dump(getToken());
foreach (['a', 'b'] as $d) {
    foreach (glob("$dir/$d/*") as $f) unlink($f);
    rmdir("$dir/$d");
}
?>
--EXPECT--
string(10) "token_in_a"
bool(true)
int(1)
string(10) "token_in_a"
bool(true)
int(1)
string(14) "new_token_in_a"
