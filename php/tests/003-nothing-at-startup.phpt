--TEST--
wxtoken: loading the extension starts no thread and opens no socket, and a miss leaves no thread behind (php-fpm forks clean workers)
--FILE--
<?php
require __DIR__ . '/helpers.inc';
function threads(): int { return count(glob('/proc/self/task/*')); }
function sockets(): int {
    $n = 0;
    foreach (glob('/proc/self/fd/*') as $fd) {
        $n += str_starts_with((string) @readlink($fd), 'socket:') ? 1 : 0;
    }
    return $n;
}
echo "at start: ", threads(), " thread(s), ", sockets(), " socket(s)\n";
$dir = wxt_setup();
wxt_write_cache($dir, 'cached', time() + 3600);
echo getToken(), " after a hit: ", threads(), " thread(s)\n";
unlink("$dir/token.txt");
$t = getToken();
// The refresh runs on the calling thread (a current-thread runtime): even a
// miss leaves no thread behind in the worker.
echo $t === wxt_stats()['last_token'] ? "fetched" : "failed", "; after the miss: ",
    threads(), " thread(s)\n";
?>
--EXPECT--
at start: 1 thread(s), 0 socket(s)
cached after a hit: 1 thread(s)
fetched; after the miss: 1 thread(s)
