--TEST--
wxtoken: settings come from constants, then non-empty ini entries, then the environment
--FILE--
<?php
require __DIR__ . '/helpers.inc';
// Each source names a different token file holding a different token, so
// the token returned shows which source won.
$dir = wxt_setup();
ini_set('wxtoken.token_file', '');
ini_set('wxtoken.expiry_file', '');
foreach (['env', 'ini', 'const'] as $who) {
    file_put_contents("$dir/$who-token.txt", "token_from_$who");
    file_put_contents("$dir/$who-expiry.txt", time() + 3600);
}
putenv("WX_TOKEN_FILE=$dir/env-token.txt");
putenv("WX_EXPIRY_FILE=$dir/env-expiry.txt");
echo getToken(), "\n";
ini_set('wxtoken.token_file', "$dir/ini-token.txt");
ini_set('wxtoken.expiry_file', "$dir/ini-expiry.txt");
echo getToken(), "\n";
// An empty ini entry does not count: back to the environment.
ini_set('wxtoken.token_file', '');
ini_set('wxtoken.expiry_file', '');
echo getToken(), "\n";
ini_set('wxtoken.token_file', "$dir/ini-token.txt");
ini_set('wxtoken.expiry_file', "$dir/ini-expiry.txt");
// Each setting is decided on its own: the constant's token file with the
// ini entry's expiry file.
define('TOKENFILE', "$dir/const-token.txt");
echo getToken(), "\n";
// EXPIRY now names an expired file: the token is refreshed into the
// constants' files.
file_put_contents("$dir/const-expiry.txt", '1');
define('EXPIRY', "$dir/const-expiry.txt");
$t = getToken();
var_dump($t === wxt_stats()['last_token'], wxt_calls(), file_get_contents("$dir/const-token.txt") === $t);
var_dump(file_get_contents("$dir/ini-token.txt"), wxtoken_last_error());
?>
--EXPECT--
token_from_env
token_from_ini
token_from_env
token_from_const
bool(true)
int(1)
bool(true)
string(14) "token_from_ini"
string(0) ""
