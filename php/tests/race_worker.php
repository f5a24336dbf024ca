<?php
// One racer for the 64-process test and `make bench-race`: announces itself,
// waits for the go file so that all racers ask at the same moment, asks for
// the token once and prints it ("EMPTY..." for an empty answer).
//
// Usage: php race_worker.php extension|legacy GO READY_PREFIX
// The legacy racer runs the tests' copy of the legacy script with settings
// from WXT_MOCK_URL and WXT_DIR; the extension racer uses whatever settings
// the command line gave.

[, $which, $go, $ready] = $argv;
if ($which === 'legacy') {
    define('APPID', 'wx_test_appid');
    define('APPSECRET', 'test_secret_0123456789');
    define('TOKENFILE', getenv('WXT_DIR') . '/token.txt');
    define('EXPIRY', getenv('WXT_DIR') . '/expiry.txt');
    define('LEGACY_API_BASE', getenv('WXT_MOCK_URL'));
    require __DIR__ . '/legacy/legacy_get_token.php';
}
touch($ready . getmypid());
while (!file_exists($go)) {
    usleep(200);
}
if ($which === 'legacy') {
    $t = legacy_getToken();
    echo $t === '' ? 'EMPTY' : $t, "\n";
} else {
    $t = getToken();
    echo $t === '' ? 'EMPTY: ' . wxtoken_last_error() : $t, "\n";
}
