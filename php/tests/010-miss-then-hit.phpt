--TEST--
wxtoken: an empty cache costs one upstream call, then calls are hits that read the files
--FILE--
<?php
require __DIR__ . '/helpers.inc';
$dir = wxt_setup();
$t = getToken();
var_dump(strlen($t) > 20, wxtoken_last_error(), wxt_calls());
var_dump($t === wxt_stats()['last_token']);
// Legacy layout: the token alone, and a decimal Unix time about 7200 s out.
var_dump(file_get_contents("$dir/token.txt") === $t);
$expiry = (int) file_get_contents("$dir/expiry.txt");
var_dump(abs($expiry - (time() + 7200)) < 10);
// Private files, unlike the legacy script's world-readable ones.
printf("%o %o\n", fileperms("$dir/token.txt") & 0777, fileperms("$dir/expiry.txt") & 0777);
for ($i = 0; $i < 1000; $i++) {
    if (getToken() !== $t) {
        echo "hit $i differs\n";
    }
}
var_dump(wxt_calls(), wxtoken_last_error());
?>
--EXPECT--
bool(true)
string(0) ""
int(1)
bool(true)
bool(true)
bool(true)
600 600
int(1)
string(0) ""
