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

/**
 * What the cache holds and how it is doing, without fetching anything.
 *
 * Keys: store ("files" or "redis"), location (the file paths, or the Redis
 * server and key, password masked), token_file and expiry_file (files only,
 * else null), present (a valid token is cached), token_preview (its first
 * characters only), expires_at and refresh_at (Unix seconds), seconds_left,
 * fresh (a getToken() now is a hit), refresh_margin, last_warning (a condition
 * that degrades the cache: a failed refresh ahead of expiry, a token fetched
 * but not cached, an unavailable lock; also written once per worker to PHP's
 * error log) and last_error (as wxtoken_last_error()). With a configuration
 * error, the other keys are missing and last_error says why.
 *
 * @return array{store?: string, location?: string, token_file?: ?string, expiry_file?: ?string,
 *   present?: bool, token_preview?: ?string, expires_at?: ?int, seconds_left?: ?int,
 *   refresh_at?: ?int, fresh?: bool, refresh_margin?: int, last_warning?: ?string,
 *   last_error: string}
 */
function wxtoken_status(): array {}

/**
 * Returns a JS-SDK ticket of `$type` ("jsapi", the default, or "wx_card"):
 * from the shared cache when still valid, otherwise fetched once, with the
 * cached access token, for every process sharing the cache. Files
 * `jsapi_ticket.txt` / `jsapi_ticket_expiry.txt` (and `wx_card_ticket*`)
 * beside the token file, or Redis keys beside the token's.
 *
 * @param string $type "jsapi" or "wx_card"; on WeCom "corp" (or "jsapi") or "agent".
 * @return string The ticket, or "" on failure (see wxtoken_last_error()).
 */
function wxtoken_ticket(string $type = "jsapi"): string {}

/**
 * The `wx.config` parameters for the page at `$url` (its #fragment is not
 * signed): `appId`, `timestamp` (int), `nonceStr`, `signature`, and the
 * `url` signed; signed with the cached jsapi ticket and a fresh nonce.
 *
 * With `$agent` (WeCom), the `wx.agentConfig` parameters instead:
 * `corpid`, `agentid`, `timestamp`, `nonceStr`, `signature`, `url`,
 * signed with the app's agent ticket.
 *
 * @param string $url The page's full URL.
 * @param bool $agent WeCom: sign wx.agentConfig with the agent ticket.
 * @return array The config, or an empty array on failure (see wxtoken_last_error()).
 */
function wxtoken_jssdk_config(string $url, bool $agent = false): array {}
