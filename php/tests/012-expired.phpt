--TEST--
wxtoken: an expired token, or one inside the refresh margin, is refreshed once
--FILE--
<?php
require __DIR__ . '/helpers.inc';
$dir = wxt_setup();
wxt_write_cache($dir, 'old_token', 1);
$t = getToken();
var_dump($t !== 'old_token' && $t === wxt_stats()['last_token'], wxt_calls());
var_dump(getToken() === $t, wxt_calls());
// 100 s left of a token fetched 7000 s ago is inside the default 300 s
// margin: refreshed ahead of expiry.
wxt_write_cache($dir, 'almost_expired', time() + 100, time() - 7000);
$u = getToken();
var_dump($u !== 'almost_expired' && $u !== $t, wxt_calls());
// With a 60 s margin the same 100 s are a hit.
ini_set('wxtoken.refresh_margin', '60');
wxt_write_cache($dir, 'still_fine', time() + 100, time() - 7000);
var_dump(getToken(), wxt_calls());
// The margin is capped at half the token's lifetime: a token that lives 100 s
// from its write is fresh for its first 50 s (a short expires_in must not make
// every call fetch).
wxt_write_cache($dir, 'short_lived', time() + 100);
ini_set('wxtoken.refresh_margin', '');
var_dump(getToken(), wxt_calls());
?>
--EXPECT--
bool(true)
int(1)
bool(true)
int(1)
bool(true)
int(2)
string(10) "still_fine"
int(2)
string(11) "short_lived"
int(2)
