--TEST--
wxtoken: one busy answer (-1) is retried with backoff and succeeds; a quota answer is not retried at once
--FILE--
<?php
require __DIR__ . '/helpers.inc';
wxt_setup();
wxt_fault('errcode', ['errcode' => -1, 'times' => 1]);
$t = getToken();
var_dump($t === wxt_stats()['last_token'], wxtoken_last_error(), wxt_calls());
// A quota error is not retried: one upstream call, then "".
wxt_mock('/mock/reset');
$dir = wxt_setup();
wxt_fault('errcode', ['errcode' => 45009, 'times' => 1]);
var_dump(getToken(), wxt_calls());
// The next call backs off (WeChat says wait) although the API would answer:
// still "", no second upstream call.
var_dump(getToken(), wxt_calls(), str_contains(wxtoken_last_error(), 'not retried yet'));
?>
--EXPECT--
bool(true)
string(0) ""
int(2)
string(0) ""
int(1)
string(0) ""
int(1)
bool(true)
