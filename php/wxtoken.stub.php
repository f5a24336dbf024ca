<?php

// IDE stubs for the wxtoken PHP extension (crates/wxtoken-php). Not loaded
// by PHP: the functions are defined by the extension itself.
//
// Settings, strongest first: the constants APPID, APPSECRET, TOKENFILE and
// EXPIRY when defined; the wxtoken.* php.ini entries when non-empty; the
// WX_* environment variables; the defaults.

/**
 * Returns the WeChat access_token: from the shared token.txt/expiry.txt
 * cache when still valid, otherwise fetched once for every process sharing
 * those files.
 *
 * Drop-in for the legacy getToken(): returns "" on any failure and never
 * throws or warns; wxtoken_last_error() tells why. Like the legacy user
 * function, it accepts extra arguments and ignores them.
 *
 * @param mixed ...$ignored Accepted for compatibility; not used.
 * @return string The access token, or "" on failure.
 */
function getToken(mixed ...$ignored): string {}

/**
 * Why the last getToken() or wxtoken_invalidate() in this request failed,
 * including WeChat's errcode when it gave one; "" after a success. Never
 * contains the app secret.
 *
 * @return string The last error message, or "".
 */
function wxtoken_last_error(): string {}

/**
 * Drops $failedToken from the cache if it is still the cached token, after a
 * WeChat API rejected it (errcode 40001, 40014 or 42001), so that the next
 * getToken() fetches a new one. A newer token is kept.
 *
 * The argument follows PHP's rules for a string parameter: coerced in weak
 * mode, a TypeError under declare(strict_types=1).
 *
 * @param string $failedToken The token the WeChat API rejected.
 * @return bool Whether the token was dropped (false also on failure; see wxtoken_last_error()).
 */
function wxtoken_invalidate(string $failedToken): bool {}
