--TEST--
wxtoken: under strict_types, wxtoken_invalidate() takes only a string (TypeError otherwise)
--FILE--
<?php
declare(strict_types=1);
require __DIR__ . '/helpers.inc';
$dir = wxt_setup();
wxt_write_cache($dir, '123', time() + 3600);
foreach ([123, null, 1.5] as $v) {
    try {
        wxtoken_invalidate($v);
        echo "no error\n";
    } catch (TypeError $e) {
        echo $e->getMessage(), "\n";
    }
}
var_dump(file_get_contents("$dir/token.txt"));
var_dump(wxtoken_invalidate('123'));
?>
--EXPECT--
wxtoken_invalidate(): Argument #1 ($failedToken) must be of type string, int given
wxtoken_invalidate(): Argument #1 ($failedToken) must be of type string, null given
wxtoken_invalidate(): Argument #1 ($failedToken) must be of type string, float given
string(3) "123"
bool(true)
