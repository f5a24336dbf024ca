--TEST--
wxtoken: wxtoken_ticket() and wxtoken_jssdk_config(): cached, signed, strict about their arguments
--FILE--
<?php
require __DIR__ . '/helpers.inc';
$dir = wxt_setup();
$t = wxtoken_ticket();
var_dump($t !== '' && $t === wxt_stats()['last_ticket'], wxt_stats()['ticket_calls']);
var_dump(wxtoken_ticket('jsapi') === $t, file_get_contents("$dir/jsapi_ticket.txt") === $t);
var_dump(sprintf('%o', fileperms("$dir/jsapi_ticket.txt") & 0777));
$c = wxtoken_jssdk_config('https://example.com/a?b=1#frag');
var_dump(array_keys($c), $c['url'], is_int($c['timestamp']));
$text = "jsapi_ticket=$t&noncestr={$c['nonceStr']}&timestamp={$c['timestamp']}&url={$c['url']}";
var_dump(sha1($text) === $c['signature']);
var_dump(wxtoken_jssdk_config('https://example.com/a')['nonceStr'] !== $c['nonceStr']);
var_dump(wxtoken_ticket('agent'), wxtoken_last_error());
var_dump(wxtoken_jssdk_config('not a url'), wxtoken_last_error() !== '');
var_dump(wxtoken_status()['tickets']['jsapi']['present']);
var_dump(wxt_stats()['ticket_calls'], wxt_calls());
try {
    wxtoken_ticket([]);
} catch (TypeError $e) {
    echo $e->getMessage(), "\n";
}
$r = new ReflectionFunction('wxtoken_ticket');
var_dump($r->getNumberOfRequiredParameters());
?>
--EXPECT--
bool(true)
int(1)
bool(true)
bool(true)
string(3) "600"
array(5) {
  [0]=>
  string(5) "appId"
  [1]=>
  string(9) "timestamp"
  [2]=>
  string(8) "nonceStr"
  [3]=>
  string(9) "signature"
  [4]=>
  string(3) "url"
}
string(25) "https://example.com/a?b=1"
bool(true)
bool(true)
bool(true)
string(0) ""
string(74) "configuration error: unknown ticket type "agent": use "jsapi" or "wx_card""
array(0) {
}
bool(true)
bool(true)
int(1)
int(1)
wxtoken_ticket(): Argument #1 ($type) must be of type string, array given
int(0)
