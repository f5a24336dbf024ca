<?php
/*
 * getToken.php — the drop-in replacement for the legacy getToken() script.
 *
 * Keep your own define()s below (they are the same four constants the old
 * script used) and delete the old function: getToken() now comes from the
 * wxtoken PHP extension, with the same name, the same signature and the same
 * contract (the access_token, or "" on any failure; never an exception or a
 * warning). Every call site stays as it is.
 *
 *   wxtoken_last_error()             why the last call returned "" (errcode included)
 *   wxtoken_invalidate($token)       after an API answered 40001/40014/42001 for $token
 *
 * Relative file names resolve against the current directory of each call,
 * exactly as the old file_get_contents('token.txt') did; absolute paths are
 * recommended. Other settings (API base URL, refresh margin, timeout, ...)
 * are the wxtoken.* php.ini entries; see the README.
 */

if (!extension_loaded('wxtoken')) {
    // Fail loudly at deployment time rather than let every call return "".
    throw new Error(
        'getToken.php: the wxtoken PHP extension is not loaded. Install it with '
        . '`make install-php` in the wxtoken source tree (or add extension=wxtoken.so '
        . 'to php.ini) and restart PHP-FPM / the web server.'
    );
}

// Your settings: replace the placeholders. Guarded so that a site that
// already defines them elsewhere keeps its own values without a warning.
defined('APPID') || define('APPID', 'APPID');
defined('APPSECRET') || define('APPSECRET', 'APPSECRET');
defined('TOKENFILE') || define('TOKENFILE', 'token.txt');
defined('EXPIRY') || define('EXPIRY', 'expiry.txt');
