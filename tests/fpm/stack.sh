# The real stack for tests and benchmarks: php-fpm from Debian behind nginx,
# on a free loopback port, everything under $WX_TMP. Source it after
# tests/lib.sh. Runs as root (php-fpm -R), as `make test` does.
#
#   fpm_start NAME INI POOL      php-fpm NAME: INI is the conf.d content (how
#                                the extension is loaded; may be empty), POOL
#                                extra pool lines; 8 static workers
#   nginx_start NAME             nginx in front of php-fpm NAME; sets PORT_<NAME>
#   stack_url NAME PAGE          http://127.0.0.1:PORT/PAGE
#   stack_stop NAME              stops both, gracefully (SIGQUIT, what
#                                nginx -s quit sends), workers included
#
# Each master runs in a process group of its own (tests/lib.sh's spawn), so
# that stopping it stops its workers and nothing else; tests/lib.sh's cleanup
# stops whatever is still running when the script ends, however it ends.
#
# Pages in $STACK_ROOT/<NAME>/docroot: token.php (the token, or "EMPTY
# <reason>"), other.php (an unrelated page), status.php (wxtoken_status() as
# JSON), info.php (phpinfo() and $_SERVER), legacy.php (the legacy function,
# for comparisons).

PHP_FPM=${PHP_FPM:-$(command -v php-fpm8.2 || command -v php-fpm || ls /usr/sbin/php-fpm* 2>/dev/null | head -n 1)}
STACK_ROOT=$WX_TMP/stack

stack_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

stack_pages() {
    local d=$1
    mkdir -p "$d"
    cat >"$d/token.php" <<'PHP'
<?php
$t = getToken();
echo $t === '' ? 'EMPTY ' . wxtoken_last_error() : $t;
PHP
    printf '<?php echo "ok";\n' >"$d/other.php"
    cat >"$d/status.php" <<'PHP'
<?php
header('Content-Type: application/json');
echo json_encode(wxtoken_status());
PHP
    cat >"$d/info.php" <<'PHP'
<?php
phpinfo();
print_r($_SERVER);
print_r(getenv());
PHP
    cat >"$d/legacy.php" <<'PHP'
<?php
// The legacy script's getToken(), as sites have it (for comparisons only).
function legacyGetToken() {
    $tokenFile = getenv('LEGACY_DIR') . '/token.txt';
    $expiryFile = getenv('LEGACY_DIR') . '/expiry.txt';
    $token = @file_get_contents($tokenFile);
    $expiry = (int) @file_get_contents($expiryFile);
    if ($token === false || $token === '' || time() >= $expiry) {
        $url = getenv('LEGACY_API') . '/cgi-bin/token?grant_type=client_credential&appid='
            . getenv('LEGACY_APPID') . '&secret=' . getenv('LEGACY_SECRET');
        $res = json_decode(@file_get_contents($url), true);
        $token = $res['access_token'] ?? '';
        file_put_contents($tokenFile, $token, LOCK_EX);
        file_put_contents($expiryFile, time() + ($res['expires_in'] ?? 0), LOCK_EX);
    }
    return $token;
}
$t = legacyGetToken();
echo $t === '' ? 'EMPTY' : $t;
PHP
    chmod -R a+rX "$d"
}

fpm_start() {
    local name=$1 ini=$2 pool=$3 d=$STACK_ROOT/$1
    mkdir -p "$d/conf.d" "$d/run"
    chmod 755 "$STACK_ROOT" "$d"
    stack_pages "$d/docroot"
    printf '%s\n' "$ini" >"$d/conf.d/20-wxtoken.ini"
    : >"$d/php.ini"
    cat >"$d/php-fpm.conf" <<CONF
[global]
pid = $d/run/fpm.pid
error_log = $d/fpm.log
daemonize = no
log_level = notice

[www]
listen = $d/run/fpm.sock
listen.mode = 0666
pm = static
pm.max_children = 8
catch_workers_output = yes
decorate_workers_output = no
clear_env = no
php_admin_value[error_log] = $d/php-errors.log
php_admin_flag[log_errors] = on
php_admin_flag[display_errors] = off
$pool
CONF
    : >"$d/php-errors.log"
    chmod 666 "$d/php-errors.log"
    # SIGQUIT: php-fpm's graceful stop, its workers first.
    spawn "FPM_PID_$name" QUIT env PHP_INI_SCAN_DIR="$d/conf.d" \
        "$PHP_FPM" -R -F -y "$d/php-fpm.conf" -c "$d/php.ini" >"$d/fpm.out" 2>&1
    wait_for test -S "$d/run/fpm.sock" || { echo "php-fpm $name did not start: $(cat "$d/fpm.log" "$d/fpm.out")" >&2; return 1; }
}

nginx_start() {
    local name=$1 d=$STACK_ROOT/$1 port
    port=$(stack_free_port)
    mkdir -p "$d/nginx"
    cat >"$d/nginx.conf" <<CONF
daemon off;
worker_processes 2;
pid $d/nginx/nginx.pid;
error_log $d/nginx/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $d/nginx/body;
    fastcgi_temp_path $d/nginx/fastcgi;
    proxy_temp_path $d/nginx/proxy;
    uwsgi_temp_path $d/nginx/uwsgi;
    scgi_temp_path $d/nginx/scgi;
    server {
        listen 127.0.0.1:$port;
        root $d/docroot;
        location ~ \\.php\$ {
            include /etc/nginx/fastcgi_params;
            fastcgi_param SCRIPT_FILENAME \$document_root\$fastcgi_script_name;
            fastcgi_pass unix:$d/run/fpm.sock;
        }
    }
}
CONF
    # SIGQUIT, as nginx -s quit sends: a graceful stop, its workers first.
    spawn "NGINX_PID_$name" QUIT nginx -c "$d/nginx.conf" -p "$d/nginx" >"$d/nginx.out" 2>&1
    printf -v "PORT_$name" '%s' "$port"
    wait_for curl -s -o /dev/null "http://127.0.0.1:$port/other.php" ||
        { echo "nginx $name did not start: $(cat "$d/nginx.out" "$d/nginx/error.log" 2>/dev/null)" >&2; return 1; }
}

stack_url() { local v="PORT_$1"; echo "http://127.0.0.1:${!v}/$2"; }

stack_stop() {
    local f="FPM_PID_$1" n="NGINX_PID_$1"
    # nginx first: it stops taking requests, then php-fpm serves no one.
    [ -n "${!n:-}" ] && stop_group "${!n}"
    [ -n "${!f:-}" ] && stop_group "${!f}"
    printf -v "$n" '%s' ''
    printf -v "$f" '%s' ''
}
