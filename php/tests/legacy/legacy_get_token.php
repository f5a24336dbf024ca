<?php
// The legacy script's getToken(), line for line, as the tests' "other
// process" that shares token.txt/expiry.txt with the extension. Three
// changes only: the function is named legacy_getToken() (the extension owns
// getToken()), the API base comes from LEGACY_API_BASE so it talks to
// wechat-mock instead of WeChat, and $token starts as '' (the original reads
// an undefined variable when token.txt is missing, a warning in PHP 8).
// Like the original it expects APPID, APPSECRET, TOKENFILE and EXPIRY to be
// define()d, and it keeps the original's flaws (no locking, in-place writes,
// error answers overwrite the files) on purpose: the extension must cope.

function legacy_getToken() {
  $tokenfile = TOKENFILE;
  $expiryfile = EXPIRY;
  $token = '';
  if (is_file($tokenfile)) {
    $token = trim(file_get_contents($tokenfile));
  }
  if ($token && is_file($expiryfile)) {
    $x = (integer)trim(file_get_contents($expiryfile));
    if ($x > 0) {
      if (time() < $x) { // token still valid
        return $token;
      }
    }
  }
  // invoke wechat API if token is not found or has expired
  $url = LEGACY_API_BASE . "/cgi-bin/token?grant_type=client_credential&appid=".APPID."&secret=" . APPSECRET;
  $data = trim(file_get_contents($url));
  if ($data) {
    $data = json_decode($data, true);
    if ($data) {
      $token = $data['access_token'];
      $expiry = time() + (integer)$data['expires_in'];
      // save for cache until expiry
      file_put_contents($tokenfile, $token, LOCK_EX);
      file_put_contents($expiryfile, $expiry, LOCK_EX);
      return $token;
    }
  }
  // can't get valid token
  return "";
}
