--TEST--
wxtoken: a valid token already in the files is returned without an upstream call
--FILE--
<?php
require __DIR__ . '/helpers.inc';
$dir = wxt_setup();
wxt_write_cache($dir, "cached_token_abc\n", time() + 3600);   // legacy trims, so do we
var_dump(getToken(), wxt_calls());
?>
--EXPECT--
string(16) "cached_token_abc"
int(0)
