--TEST--
wxtoken: wxtoken_invalidate() coerces its string argument as built-in functions do (weak mode)
--FILE--
<?php
require __DIR__ . '/helpers.inc';
$dir = wxt_setup();
wxt_write_cache($dir, '123', time() + 3600);
// An int is coerced to "123", which is the cached token: dropped.
var_dump(wxtoken_invalidate(123));
var_dump(file_get_contents("$dir/token.txt"));
wxt_write_cache($dir, '1.5', time() + 3600);
var_dump(wxtoken_invalidate(1.5), wxtoken_invalidate(true));
// null: PHP's deprecation for a built-in's string parameter, then "".
var_dump(wxtoken_invalidate(null));
// No string form: TypeError, as strlen([]) would throw.
foreach ([[], new stdClass()] as $bad) {
    try {
        wxtoken_invalidate($bad);
        echo "no error\n";
    } catch (TypeError $e) {
        echo get_class($e), ': ', $e->getMessage(), "\n";
    }
}
try {
    wxtoken_invalidate();
} catch (ArgumentCountError $e) {
    echo get_class($e), "\n";
}
?>
--EXPECTF--
bool(true)
string(0) ""
bool(true)
bool(false)

Deprecated: wxtoken_invalidate(): Passing null to parameter #1 ($failedToken) of type string is deprecated in %s on line %d
bool(false)
TypeError: wxtoken_invalidate(): Argument #1 ($failedToken) must be of type string, array given
TypeError: wxtoken_invalidate(): Argument #1 ($failedToken) must be of type string, stdClass given
ArgumentCountError
