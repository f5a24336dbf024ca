--TEST--
wxtoken: an open_basedir answer is never reused for another cache, even one at an evicted cache's address
--FILE--
<?php
require __DIR__ . '/helpers.inc';
$dir = wxt_setup();
$base = dirname($dir);
$outside = "$base/outside-evict-" . getmypid();
@mkdir($outside, 0700);
// Another site's cache, valid for a long time: it must not be read...
file_put_contents("$outside/token.txt", 'OUTSIDE_TOKEN');
file_put_contents("$outside/expiry.txt", (string) (time() + 7000));
// ...and a third one, expired: it must not be replaced.
@mkdir("$outside/stale", 0700);
file_put_contents("$outside/stale/token.txt", 'STALE_TOKEN');
file_put_contents("$outside/stale/expiry.txt", '1');
ini_set('open_basedir', $dir . PATH_SEPARATOR . __DIR__);

// Eight settings that fail, each new to the registry (which keeps eight),
// push every earlier cache out of it; the one just used is freed, and the
// next cache built may get its address.
function evict(string $tag): void
{
    for ($i = 0; $i < 8; $i++) {
        ini_set('wxtoken.refresh_margin', "bad-$tag-$i");
        getToken();
    }
    ini_set('wxtoken.refresh_margin', '');
}

function attempt(string $files, string $tag): void
{
    global $dir;
    ini_set('wxtoken.token_file', "$dir/token.txt");
    ini_set('wxtoken.expiry_file', "$dir/expiry.txt");
    $inside = getToken();
    echo "inside: ", $inside !== '' ? 'token' : 'EMPTY ' . wxtoken_last_error(), "\n";
    evict($tag);
    ini_set('wxtoken.token_file', "$files/token.txt");
    ini_set('wxtoken.expiry_file', "$files/expiry.txt");
    $t = getToken();
    echo "outside: ", var_export($t, true), "\n", wxtoken_last_error(), "\n";
}

// One upstream call in all, for the first cache inside: a second would be
// the stale cache outside being refreshed and replaced.
$calls = wxt_calls();
attempt($outside, 'read');
attempt("$outside/stale", 'write');
var_dump(wxt_calls() - $calls);
?>
--CLEAN--
<?php
$base = getenv('WXT_TMP') ?: sys_get_temp_dir();
foreach (glob("$base/outside-evict-*") as $d) {
    foreach (glob("$d/stale/{,.}*", GLOB_BRACE) as $f) { if (is_file($f)) unlink($f); }
    rmdir("$d/stale");
    foreach (glob("$d/{,.}*", GLOB_BRACE) as $f) { if (is_file($f)) unlink($f); }
    rmdir($d);
}
?>
--EXPECTF--
inside: token
outside: ''
open_basedir restriction in effect: token file %s/outside-evict-%d/token.txt is not within the allowed path(s): (%s)
inside: token
outside: ''
open_basedir restriction in effect: token file %s/outside-evict-%d/stale/token.txt is not within the allowed path(s): (%s)
int(1)
