#!/usr/bin/env bash
# The database store across processes and languages (`make test-db`): a real
# MariaDB (mariadbd) and a real PostgreSQL (postgres), each started here on a
# free loopback port in a directory of its own, run as an unprivileged system
# user (when the suite runs as root) and reached by an ordinary user with a
# password. For each: the CLI, a C program and PHP as 4 simulated hosts x 16
# processes on an empty database; the row read back and a dump searched for
# the secret; 2,000 getToken() calls in one PHP process counted in statements
# on the server; a lock holder killed with SIGKILL mid-fetch; the server
# stopped (bounded errors, no upstream call, a still-valid token served) and
# started again (service resumes on its own); a user who may not create
# tables, with the table pre-created, and without it; a wrong password; the
# daemon refreshing an app on the database for a passive reader.

. "$(dirname "$0")/../lib.sh"
cd "$WX_TMP" || exit 1

CC=${CC:-gcc}
SECRET=test_secret_0123456789
DB_PASS=db-pass-5521
racer_bin
"$CC" -std=c99 -Wall -Wextra -Werror -I"$WX_ROOT/include" "$WX_ROOT/tests/c/api_test.c" \
    -L"$WX_TARGET" -Wl,-rpath,"$WX_TARGET" -lwxtoken -lpthread -o "$bin/api_dynamic" ||
    { fail "api_test.c builds"; summary; exit 1; }

# A C program configured in code only (cache handles, under env -i):
# c_builder NAME=VALUE...: prints the token, or the error.
cat >"$WX_TMP/c_builder.c" <<'C'
#include <stdio.h>
#include <string.h>
#include "wxtoken.h"
int main(int argc, char **argv)
{
    char out[WX_TOKEN_BUF_LEN], err[1024];
    wx_config_builder *b = wx_config_builder_new();
    wx_cache *c = NULL;
    for (int i = 1; i < argc; i++) {
        char name[64];
        const char *eq = strchr(argv[i], '=');
        if (!eq || eq - argv[i] >= (int)sizeof name)
            return 2;
        memcpy(name, argv[i], eq - argv[i]);
        name[eq - argv[i]] = 0;
        if (wx_config_builder_set(b, name, eq + 1) != WX_OK)
            return 3;
    }
    int rc = wx_cache_new(b, &c);
    wx_config_builder_free(b);
    if (rc == WX_OK)
        rc = wx_cache_get_token(c, out, sizeof out);
    if (rc != WX_OK) {
        wx_last_error(err, sizeof err);
        printf("ERROR %s\n", err);
    } else {
        printf("%s\n", out);
    }
    wx_cache_free(c);
    return rc == WX_OK ? 0 : 1;
}
C
"$CC" -std=c99 -Wall -Wextra -Werror -I"$WX_ROOT/include" "$WX_TMP/c_builder.c" \
    -L"$WX_TARGET" -Wl,-rpath,"$WX_TARGET" -lwxtoken -o "$bin/c_builder" ||
    fail "c_builder.c builds"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# The servers refuse to run as root: as root, each runs as its system user
# (from the Debian packages; `nobody` otherwise), which must reach its
# directory under $WX_TMP.
AS_MY=()
AS_PG=()
if [ "$(id -u)" = 0 ]; then
    chmod 711 "$WX_TMP"
    my_user=$(id -u mysql >/dev/null 2>&1 && echo mysql || echo nobody)
    pg_user=$(id -u postgres >/dev/null 2>&1 && echo postgres || echo nobody)
    AS_MY=(setpriv "--reuid=$my_user" "--regid=$(id -g "$my_user")" --init-groups --)
    AS_PG=(setpriv "--reuid=$pg_user" "--regid=$(id -g "$pg_user")" --init-groups --)
fi
own_dir() { mkdir -p "$2" && if [ "$(id -u)" = 0 ]; then chown "$1" "$2"; fi; }

# A CA and a server certificate for 127.0.0.1: both servers offer TLS, and
# a user of each may only connect with it.
tls=$WX_TMP/tls
mkdir -p "$tls"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=wxtoken test CA" \
    -keyout "$tls/ca.key" -out "$tls/ca.crt" >/dev/null 2>&1 &&
    openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$tls/server.key" \
        -out "$tls/server.csr" >/dev/null 2>&1 &&
    printf 'subjectAltName=IP:127.0.0.1\n' >"$tls/ext.cnf" &&
    openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.crt" -CAkey "$tls/ca.key" -CAcreateserial \
        -days 2 -extfile "$tls/ext.cnf" -out "$tls/server.crt" >/dev/null 2>&1 ||
    fail "openssl makes a test CA and certificate"
# own_tls USER DIR: the certificate and key, readable by the server only.
own_tls() {
    cp "$tls/server.crt" "$tls/server.key" "$tls/ca.crt" "$2/" &&
        chmod 600 "$2/server.key" &&
        if [ "$(id -u)" = 0 ]; then chown "$1" "$2/server.crt" "$2/server.key" "$2/ca.crt"; fi
}

PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$PG_BIN" ] || PG_BIN=$(dirname "$(command -v postgres || command -v initdb || echo /nonexistent/x)")

start_mock
unset WX_TOKEN_FILE WX_EXPIRY_FILE WX_REFRESH_MARGIN WX_TOKEN_MODE WX_PASSIVE WX_CA_FILE \
    WX_APPSECRET_FILE WX_ALLOW_HTTP WX_REDIS_PREFIX WX_REDIS_URL WX_DATABASE_PREFIX WX_DATABASE_URL
export WX_APPID=wx_test_appid WX_APPSECRET=$SECRET WX_API_BASE=$MOCK_URL WX_HTTP_TIMEOUT=60
export PHP_INI_SCAN_DIR=

# ================================================================ MariaDB
mydir=$WX_TMP/mariadb
my_port=$(free_port)
own_dir "${my_user:-}" "$mydir"
start_mariadb() {
    spawn MY_PID TERM "${AS_MY[@]}" mariadbd --no-defaults --datadir="$mydir/data" \
        --socket="$mydir/sock" --port="$my_port" --bind-address=127.0.0.1 --skip-name-resolve \
        --pid-file="$mydir/pid" --log-error="$mydir/error.log" --ssl-cert="$mydir/server.crt" \
        --ssl-key="$mydir/server.key" --ssl-ca="$mydir/ca.crt" >>"$mydir/out.log" 2>&1
    wait_for my_root -e 'SELECT 1' >/dev/null 2>&1
}
my_root() { mariadb --no-defaults -uroot --socket="$mydir/sock" "$@"; }
my_as() { # my_as USER SQL...: a statement as that user, over TCP, tab-separated
    local user=$1
    shift
    mariadb --no-defaults -h127.0.0.1 -P"$my_port" -u"$user" -p"$DB_PASS" -N -B wxdb -e "$*"
}
my_setup() {
    own_tls "${my_user:-}" "$mydir" &&
    "${AS_MY[@]}" mariadb-install-db --no-defaults --datadir="$mydir/data" \
        --auth-root-authentication-method=normal --skip-test-db >"$mydir/install.log" 2>&1 &&
        start_mariadb &&
        my_root <<SQL
CREATE DATABASE wxdb;
CREATE USER 'wx'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
GRANT ALL ON wxdb.* TO 'wx'@'127.0.0.1';
CREATE USER 'nocreate'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
GRANT SELECT, INSERT, UPDATE ON wxdb.* TO 'nocreate'@'127.0.0.1';
CREATE USER 'tlsonly'@'127.0.0.1' IDENTIFIED BY '$DB_PASS' REQUIRE SSL;
GRANT ALL ON wxdb.* TO 'tlsonly'@'127.0.0.1';
SQL
}

# ================================================================ PostgreSQL
pgdir=$WX_TMP/postgres
pg_port=$(free_port)
own_dir "${pg_user:-}" "$pgdir"
start_postgres() {
    # Statements of the role `counted` are logged (one line each), to count
    # them; the log goes to spawn's output.
    spawn PG_PID INT "${AS_PG[@]}" "$PG_BIN/postgres" -D "$pgdir/data" -p "$pg_port" -k "$pgdir" \
        -c listen_addresses=127.0.0.1 -c "log_line_prefix=%u@%d " -c logging_collector=off \
        -c ssl=on -c "ssl_cert_file=$pgdir/server.crt" -c "ssl_key_file=$pgdir/server.key" \
        >>"$pgdir/server.log" 2>&1
    wait_for pg_root -c 'SELECT 1' >/dev/null 2>&1
}
pg_root() { psql -X -q -h "$pgdir" -p "$pg_port" -U pgadmin -d postgres -v ON_ERROR_STOP=1 "$@"; }
pg_as() { # pg_as USER SQL...: a statement as that user, over TCP, unaligned
    local user=$1
    shift
    PGPASSWORD=$DB_PASS psql -X -q -h 127.0.0.1 -p "$pg_port" -U "$user" -d wxdb -At -F $'\t' -c "$*"
}
pg_setup() {
    own_tls "${pg_user:-}" "$pgdir" &&
    "${AS_PG[@]}" "$PG_BIN/initdb" -D "$pgdir/data" -U pgadmin --auth-local=trust \
        --auth-host=scram-sha-256 >"$pgdir/install.log" 2>&1 &&
        # `tlsonly` may connect only over TLS.
        sed -i '1i hostnossl all tlsonly 0.0.0.0/0 reject' "$pgdir/data/pg_hba.conf" &&
        start_postgres &&
        pg_root <<SQL
CREATE ROLE wx LOGIN PASSWORD '$DB_PASS';
CREATE ROLE counted LOGIN PASSWORD '$DB_PASS';
ALTER ROLE counted SET log_statement = 'all';
ALTER ROLE wx SET log_statement = 'all';
CREATE ROLE nocreate LOGIN PASSWORD '$DB_PASS';
CREATE ROLE tlsonly LOGIN PASSWORD '$DB_PASS';
CREATE DATABASE wxdb OWNER wx;
\c wxdb
GRANT ALL ON SCHEMA public TO counted;
GRANT CONNECT ON DATABASE wxdb TO nocreate;
GRANT ALL ON SCHEMA public TO tlsonly;
SQL
}

# ================================================================ the suite
# db_suite NAME: every check against the database the variables below name.
#   URL(user) the store's URL for a user; Q SQL: a query as `wx`;
#   DUMP: a full dump of wxdb; COUNT_BEFORE/COUNT_AFTER: statements so far
#   by the counted user; STOP/START: the server.
db_suite() {
    local name=$1 dir=$WX_TMP/race-$1 last distinct row exp now t0 secs out rc
    export WX_DATABASE_URL
    WX_DATABASE_URL=$(url wx)
    mkdir -p "$dir"

    # ------------------------------------------------ 4 hosts x 16 on an empty store
    # No table yet: the first statements create it (IF NOT EXISTS), racing.
    mock /mock/reset >/dev/null
    mock "/mock/fault?kind=slow&ms=400" >/dev/null
    racer() {
        local n=$1 h=$(($1 % 4)) kinds=(cli c php)
        shift
        mkdir -p "$dir/host$h"
        cd "$dir/host$h" && T_TOKEN_FILE=$dir/host$h/token.txt T_EXPIRY_FILE=$dir/host$h/expiry.txt \
            exec bash "$WX_ROOT/tests/racer.sh" "${kinds[$((n % 3))]}" "$@"
    }
    rm -rf "$dir/out" "$dir/ready" "$dir/go"
    mkdir -p "$dir/out" "$dir/ready"
    RACE_GO=$dir/go
    RACE_PIDS=()
    for i in $(seq 1 64); do
        racer "$i" "$dir/go" "$dir/ready/" >"$dir/out/$i" 2>&1 &
        RACE_PIDS+=($!)
    done
    wait_for all_ready "$dir/ready" 64
    check "$name: 64 processes (CLI, C, PHP on 4 hosts) all started before the go" all_ready "$dir/ready" 64
    local herd_before
    herd_before=$(COUNT wx)
    touch "$dir/go"
    for p in "${RACE_PIDS[@]}"; do wait "$p"; done
    # A figure, not a test: what 64 callers waiting for one fetch cost the
    # server (each waiter polls the lease, the row and the note).
    echo "# $name: the 64-process herd ran $(($(COUNT wx) - herd_before)) statements on the server"
    RACE_GO=
    RACE_PIDS=()
    mock "/mock/fault?kind=none" >/dev/null
    last=$(mock_stat last_token)
    distinct=$(cat "$dir"/out/* | sort -u)
    check "$name: 64 processes: one token for all ($(printf '%s\n' "$distinct" | wc -l) distinct)" \
        test "$distinct" = "$last" -a -n "$last"
    check "$name: 64 processes: exactly one upstream call (got $(mock_stat token_calls))" \
        test "$(mock_stat token_calls)" = 1
    check "$name: 64 processes: each printed the token ($(cat "$dir"/out/* | grep -c -x -e "$last") of 64)" \
        test "$(cat "$dir"/out/* | grep -c -x -e "$last")" = 64
    [ "$(cat "$dir"/out/* | grep -c -x -e "$last")" = 64 ] || head -n 3 "$dir"/out/* | head -n 30
    check "$name: no cache file was written on any host (the store is the database)" \
        bash -c '! ls "$1"/host*/token.txt 2>/dev/null | grep -q .' _ "$dir"

    # ------------------------------------------------ the row, with the database's own client
    row=$(Q "SELECT appid, kind, token, expires_at, fetched_at, COALESCE(lock_owner, '-') FROM wxtoken_credentials")
    now=$(date +%s)
    check "$name: one row, read with the database's client: appid, kind, the token, no lease left" \
        test "$(printf '%s\n' "$row" | cut -f1-3,6)" = "$(printf 'wx_test_appid\taccess_token\t%s\t-' "$last")"
    exp=$(printf '%s\n' "$row" | cut -f4)
    check "$name: expires_at is Unix seconds in the future ($exp, now $now)" \
        bash -c '[[ "$1" =~ ^[0-9]+$ ]] && [ "$1" -gt "$2" ] && [ "$1" -le $(($2 + 7200)) ]' _ "$exp" "$now"
    check "$name: a plain SELECT ... WHERE expires_at > now reads the token" \
        test "$(Q "SELECT token FROM wxtoken_credentials WHERE appid = 'wx_test_appid' AND kind = 'access_token' AND expires_at > $now")" = "$last"
    DUMP >"$WX_TMP/$name.dump" 2>"$WX_TMP/$name.dump.err"
    check "$name: a full dump holds the token ($(wc -c <"$WX_TMP/$name.dump") bytes) and never the secret" \
        bash -c 'grep -qF "$2" "$1" && ! grep -qF "$3" "$1"' _ "$WX_TMP/$name.dump" "$last" "$SECRET"
    local ticket
    ticket=$("$bin/wxtoken" ticket jsapi 2>&1)
    check "$name: the jsapi ticket lives in the same table, a row of its own ($ticket)" \
        test -n "$ticket" -a "$(Q "SELECT token FROM wxtoken_credentials WHERE appid = 'wx_test_appid' AND kind = 'jsapi_ticket'")" = "$ticket" \
        -a "$(Q "SELECT COUNT(*) FROM wxtoken_credentials")" = 2
    "$bin/wxtoken" status >"$WX_TMP/status" 2>&1
    check "$name: wxtoken status names the store, server and table, password masked" \
        bash -c 'grep -q "wxtoken_credentials" "$1" && grep -qi "$2" "$1" && ! grep -qF "$3" "$1"' \
        _ "$WX_TMP/status" "$name" "$DB_PASS"

    # ------------------------------------------------ statements per 2,000 calls
    local counted_url before after n
    counted_url=$(url counted)
    # The counted user's own row, already fetched, so only reads remain.
    WX_DATABASE_URL=$counted_url "$bin/wxtoken" get >/dev/null 2>&1
    # What looking costs by itself (the look's own statements), measured.
    before=$(COUNT)
    after=$(COUNT)
    local self=$((after - before))
    before=$(COUNT)
    out=$(WX_DATABASE_URL=$counted_url php_ext -r '
        $t = getToken(); $same = 0;
        for ($i = 0; $i < 2000; $i++) { if (getToken() === $t) { $same++; } }
        echo $t === "" ? "EMPTY " . wxtoken_last_error() : "$same\n";')
    after=$(COUNT)
    n=$((after - before - self))
    echo "# $name: 2,001 getToken() calls in one PHP process: $n statements on the server"
    check "$name: 2,000 getToken() in one PHP process all answer ($out)" test "$out" = 2000
    check "$name: ... and cost a handful of statements on the server ($n, at least 1, at most 20)" \
        test "$n" -ge 1 -a "$n" -le 20

    # ------------------------------------------------ SIGKILL mid-fetch
    Q "UPDATE wxtoken_credentials SET token = NULL, expires_at = 0" >/dev/null
    mock /mock/reset >/dev/null
    mock "/mock/fault?kind=slow&ms=3600000" >/dev/null
    # A holder with a 3 s timeout: its lease lives 3 + 2 s.
    WX_HTTP_TIMEOUT=3 "$bin/wxtoken" get >/dev/null 2>&1 &
    local holder=$!
    wait_for bash -c '[ "$(Q "SELECT COUNT(*) FROM wxtoken_credentials WHERE lock_owner IS NOT NULL")" = 1 ]'
    kill -9 "$holder"
    wait "$holder" 2>/dev/null
    check "$name: a refresh killed with SIGKILL mid-fetch leaves its lease behind" \
        test "$(Q "SELECT COUNT(*) FROM wxtoken_credentials WHERE lock_owner IS NOT NULL AND appid = 'wx_test_appid'")" = 1
    mock /mock/reset >/dev/null
    t0=$SECONDS
    # A waiter that gives up after 30 s: it gets the token only if the lease
    # lapsed on its own (5 s after it was taken).
    local token
    token=$(WX_HTTP_TIMEOUT=30 timeout 120 "$bin/wxtoken" get 2>"$WX_TMP/err")
    secs=$((SECONDS - t0))
    check "$name: the next refresh proceeds once that lease lapses (after ${secs}s, within its 30 s timeout)" \
        test -n "$token" -a "$token" = "$(mock_stat last_token)"
    check "$name: ... with one upstream call, and no lease left" \
        test "$(mock_stat token_calls)" = 1 -a "$(Q "SELECT COUNT(*) FROM wxtoken_credentials WHERE lock_owner IS NOT NULL")" = 0

    # ------------------------------------------------ the server frozen (SIGSTOP): slow, not down
    FREEZE
    t0=$SECONDS
    WX_HTTP_TIMEOUT=2 timeout 120 "$bin/wxtoken" get >"$WX_TMP/out" 2>"$WX_TMP/err"
    rc=$?
    secs=$((SECONDS - t0))
    THAW
    check "$name: server frozen: a new process gives up with the store's error (exit $rc in ${secs}s, at most 60 s): $(head -c 200 "$WX_TMP/err")" \
        bash -c '[ "$1" = 5 ] && [ "$2" -le 60 ] && grep -q "at wx@127.0.0.1:" "$3"' _ "$rc" "$secs" "$WX_TMP/err"
    check "$name: ... and no upstream call" test "$(mock_stat token_calls)" = 1

    # ------------------------------------------------ fork
    # A C program on the database forking while its threads are inside
    # wx_get_token(): the pool (and PostgreSQL's runtime thread) is per
    # process, so no child inherits a connection or a thread it lacks.
    forks() { timeout 600 "$bin/api_dynamic" fork >"$WX_TMP/fork.out" 2>&1 || { tail -n 5 "$WX_TMP/fork.out" >&2; return 1; }; }
    check "$name: 200 forks while 4 threads are inside wx_get_token(): every child gets the token (none hangs)" forks

    # ------------------------------------------------ the server stopped, then started
    mock /mock/reset >/dev/null
    local php_dir=$WX_TMP/php-$name
    mkdir -p "$php_dir"
    # A long-lived PHP process (a worker): it reads the token, then asks
    # again while the server is down (its memo is older than a second),
    # then once more after the server is back.
    # (It stops on its own if the suite's directory goes, as on an abort.)
    php_ext -r '
        $d = $argv[1];
        $show = function ($t) { return $t === "" ? "EMPTY " . wxtoken_last_error() : $t; };
        echo "up ", $show(getToken()), "\n"; touch("$d/read");
        while (!file_exists("$d/stopped")) { if (!is_dir($d)) exit(1); usleep(20000); }
        usleep(1200000);
        echo "down ", $show(getToken()), "\n"; touch("$d/asked");
        while (!file_exists("$d/started")) { if (!is_dir($d)) exit(1); usleep(20000); }
        usleep(1200000);
        echo "again ", $show(getToken()), "\n";' "$php_dir" >"$php_dir/out" 2>&1 &
    local worker=$!
    wait_for test -e "$php_dir/read"
    STOP
    touch "$php_dir/stopped"
    t0=$SECONDS
    WX_HTTP_TIMEOUT=5 timeout 120 "$bin/wxtoken" get >"$WX_TMP/out" 2>"$WX_TMP/err"
    rc=$?
    secs=$((SECONDS - t0))
    check "$name: server stopped: a new process fails with the store's error (exit $rc in ${secs}s, at most 60 s): $(head -c 200 "$WX_TMP/err")" \
        bash -c '[ "$1" = 5 ] && [ "$2" -le 60 ] && grep -q "cannot .* at wx@127.0.0.1:" "$3" && ! grep -qF "$4" "$3"' \
        _ "$rc" "$secs" "$WX_TMP/err" "$DB_PASS"
    wait_for test -e "$php_dir/asked"
    START
    touch "$php_dir/started"
    wait "$worker"
    check "$name: a worker keeps serving its still-valid token while the server is down, and after ($(tr '\n' ' ' <"$php_dir/out"))" \
        test "$(cat "$php_dir/out")" = "$(printf 'up %s\ndown %s\nagain %s' "$token" "$token" "$token")"
    check "$name: server back: a new process reads the token again, on its own" \
        test "$(timeout 120 "$bin/wxtoken" get 2>&1)" = "$token"
    check "$name: ... and nobody fetched meanwhile (upstream calls: $(mock_stat token_calls))" \
        test "$(mock_stat token_calls)" = 0

    # ------------------------------------------------ no CREATE privilege
    WX_DATABASE_PREFIX=pre "$bin/wxtoken" db-schema "$name" >"$WX_TMP/pre.sql"
    CREATE_AS_ADMIN "$WX_TMP/pre.sql"
    mock /mock/reset >/dev/null
    out=$(WX_DATABASE_URL=$(url nocreate) WX_DATABASE_PREFIX=pre "$bin/wxtoken" get 2>&1)
    check "$name: a user who may not create tables works in the table a DBA created ($out)" \
        test "$out" = "$(mock_stat last_token)" -a "$(mock_stat token_calls)" = 1
    out=$(WX_DATABASE_URL=$(url nocreate) WX_DATABASE_PREFIX=missing "$bin/wxtoken" get 2>&1)
    check "$name: ... and without the table, a clear error saying so: $out" \
        bash -c '[[ "$1" == *"does not exist and this user cannot create it"* && "$1" == *"db-schema"* ]]' _ "$out"

    # ------------------------------------------------ wrong password
    local wrong=wrong-pass-8812
    out=$(WX_DATABASE_URL=$(url wx "$wrong") timeout 120 "$bin/wxtoken" get 2>&1)
    rc=$?
    check "$name: a wrong password: a clear error naming the store, password masked (exit $rc): $out" \
        bash -c '[ "$1" = 5 ] && [[ "$2" == *"at wx@127.0.0.1:"*"/wxdb"* ]] && [[ "$2" != *"$3"* ]]' \
        _ "$rc" "$out" "$wrong"
    out=$(WX_DATABASE_URL=$(url wx "$wrong") php_ext -r 'getToken(); echo wxtoken_last_error();' 2>&1)
    check "$name: ... in PHP too: $out" \
        bash -c '[[ "$1" == *"at wx@127.0.0.1:"* ]] && [[ "$1" != *"$2"* ]]' _ "$out" "$wrong"
    out=$(WX_DATABASE_URL=$(url wx "$wrong") "$bin/wxtoken" status 2>&1)
    check "$name: ... and status shows the URL masked" bash -c '[[ "$1" != *"$2"* ]]' _ "$out" "$wrong"

    out=$(WX_REDIS_URL=redis://127.0.0.1:1/0 "$bin/wxtoken" get 2>&1)
    rc=$?
    check "$name: Redis and a database both set: a configuration error naming both (exit $rc): $out" \
        bash -c '[ "$1" = 2 ] && [[ "$2" == *WX_REDIS_URL* && "$2" == *WX_DATABASE_URL* ]]' _ "$rc" "$out"

    # ------------------------------------------------ TLS
    # `tlsonly` is refused without TLS by the server: a token means TLS.
    mock /mock/reset >/dev/null
    out=$(WX_DATABASE_URL="$(url tlsonly)?sslmode=$TLS_MODE" WX_DATABASE_PREFIX=tls WX_CA_FILE=$tls/ca.crt \
        "$bin/wxtoken" get 2>&1)
    check "$name: TLS (?sslmode=$TLS_MODE), the server's certificate verified against WX_CA_FILE, for a user the server refuses without TLS ($out)" \
        test "$out" = "$(mock_stat last_token)"
    out=$(WX_DATABASE_URL="$(url tlsonly)?sslmode=$TLS_MODE" WX_DATABASE_PREFIX=tls2 "$bin/wxtoken" get 2>&1)
    check "$name: ... without WX_CA_FILE the unknown issuer is refused, clearly: $out" \
        bash -c '[[ "$1" == *"(TLS)"* && ( "$1" == *"nknown"* || "$1" == *"ertificate"* ) ]]' _ "$out"
    out=$(WX_DATABASE_URL="$(url tlsonly)" WX_DATABASE_PREFIX=tls3 "$bin/wxtoken" get 2>&1)
    check "$name: ... and without sslmode that user is refused by the server ($out)" \
        bash -c '[[ "$1" == *"cannot "*"at tlsonly@127.0.0.1:"* ]]' _ "$out"

    # ------------------------------------------------ C, configured in code
    out=$(env -i "$bin/c_builder" WX_APPID=wx_test_appid "WX_APPSECRET=$SECRET" "WX_API_BASE=$MOCK_URL" \
        "WX_DATABASE_URL=$(url wx)" WX_DATABASE_PREFIX=c_handles 2>&1)
    check "$name: C: wx_config_builder_set(b, \"WX_DATABASE_URL\", ...) under env -i stores in the database ($out)" \
        test -n "$out" -a "$(Q "SELECT token FROM c_handles_credentials WHERE appid = 'wx_test_appid'")" = "$out"

    # ------------------------------------------------ the PHP ini entry, and the daemon
    mock /mock/reset >/dev/null
    Q "DELETE FROM wxtoken_credentials" >/dev/null
    out=$(
        unset WX_DATABASE_URL
        php_ext -d "wxtoken.database_url=$(url wx)" -r 'echo getToken() ?: wxtoken_last_error();' 2>&1
    )
    check "$name: PHP's ini entry wxtoken.database_url names the store ($out)" \
        test "$out" = "$(Q "SELECT token FROM wxtoken_credentials WHERE appid = 'wx_test_appid'")"
    # The daemon's app keeps its rows in a table of its own (a prefix).
    cat >"$WX_TMP/daemon-$name.toml" <<TOML
[[app]]
appid = "wx_test_appid"
appsecret_file = "$WX_TMP/daemon.secret"
api_base = "$MOCK_URL"
database_url = "$(url wx)"
database_prefix = "daemon"
TOML
    printf '%s\n' "$SECRET" >"$WX_TMP/daemon.secret"
    chmod 600 "$WX_TMP/daemon.secret"
    mock /mock/reset >/dev/null
    spawn DAEMON_PID TERM "$bin/wxtoken" daemon --config "$WX_TMP/daemon-$name.toml" >"$WX_TMP/daemon-$name.log" 2>&1
    daemon_row() { [ -n "$(Q "SELECT token FROM daemon_credentials WHERE expires_at > 0" 2>/dev/null)" ]; }
    wait_for daemon_row
    out=$(env -u WX_APPSECRET WX_PASSIVE=1 WX_DATABASE_PREFIX=daemon "$bin/wxtoken" get 2>&1)
    check "$name: the daemon keeps an app on the database fresh; a passive reader without the secret gets its token ($out)" \
        test -n "$out" -a "$out" = "$(mock_stat last_token)"
    Q "UPDATE daemon_credentials SET token = NULL, expires_at = 0" >/dev/null
    wait_for daemon_row
    check "$name: ... and refetches within seconds when the row is emptied (upstream calls: $(mock_stat token_calls))" \
        test "$(mock_stat token_calls)" = 2
    stop_group "$DAEMON_PID"

    # ------------------------------------------------ Rust: async, on this server
    out=$(cd "$WX_ROOT" && WXTOKEN_TEST_DATABASE_URL=$(url wx) timeout 600 "${CARGO:-cargo}" test -q \
        -p wxtoken --test db_store -- --ignored 2>&1)
    local what="$name: Rust (crates/wxtoken/tests/db_store.rs): async get, refresh and invalidate on multi- and current-thread runtimes, blocking calls inside tokio"
    if [[ "$out" == *"test result: ok. 3 passed"* ]]; then
        pass "$what"
    else
        fail "$what"
        printf '%s\n' "$out" | tail -n 20 | sed 's/^/# /'
    fi
    grep -qF "$DB_PASS" "$WX_TMP/daemon-$name.log" && fail "$name: the daemon's log shows the database password"
}

# ---------------------------------------------------------------- MariaDB
if my_setup; then
    pass "mariadb: mariadbd started as ${my_user:-$(id -un)} on 127.0.0.1:$my_port"
    url() { echo "mysql://$1:${2:-$DB_PASS}@127.0.0.1:$my_port/wxdb"; }
    TLS_MODE=VERIFY_IDENTITY
    Q() { my_as wx "$*"; }
    export -f Q my_as
    export my_port DB_PASS
    DUMP() { mariadb-dump --no-defaults -uroot --socket="$mydir/sock" --all-databases; }
    # Every statement the server ran (this look included: see COUNT_SELF).
    COUNT() { my_root -N -B -e "SHOW GLOBAL STATUS LIKE 'Questions'" | cut -f2; }
    STOP() { stop_group "$MY_PID"; }
    FREEZE() { kill -STOP -- "-$MY_PID"; }
    THAW() { kill -CONT -- "-$MY_PID"; }
    START() { start_mariadb; }
    CREATE_AS_ADMIN() { my_root wxdb <"$1"; }
    my_root -e "CREATE USER 'counted'@'127.0.0.1' IDENTIFIED BY '$DB_PASS'; GRANT ALL ON wxdb.* TO 'counted'@'127.0.0.1';"
    db_suite mysql
    STOP
else
    fail "mariadb: mariadbd starts (make deps installs mariadb-server): $(tail -n 5 "$mydir"/*.log 2>/dev/null)"
fi

# ---------------------------------------------------------------- PostgreSQL
if pg_setup; then
    pass "postgres: postgres started as ${pg_user:-$(id -un)} on 127.0.0.1:$pg_port"
    url() { echo "postgres://$1:${2:-$DB_PASS}@127.0.0.1:$pg_port/wxdb"; }
    TLS_MODE=verify-full
    Q() { pg_as wx "$*"; }
    export -f Q pg_as
    export pg_port DB_PASS
    DUMP() { pg_dump -h "$pgdir" -p "$pg_port" -U pgadmin wxdb; }
    # One log line per statement a role (default `counted`) ran.
    COUNT() { grep -c "^${1:-counted}@wxdb LOG:  \\(statement\\|execute\\)" "$pgdir/server.log"; }
    STOP() { stop_group "$PG_PID"; }
    FREEZE() { kill -STOP -- "-$PG_PID"; }
    THAW() { kill -CONT -- "-$PG_PID"; }
    START() { start_postgres; }
    CREATE_AS_ADMIN() {
        PGPASSWORD=$DB_PASS psql -X -q -h 127.0.0.1 -p "$pg_port" -U wx -d wxdb -v ON_ERROR_STOP=1 -f "$1" &&
            pg_as wx "GRANT SELECT, INSERT, UPDATE ON pre_credentials TO nocreate"
    }
    # The table `counted` reads is the public schema's, like everyone's:
    # the tables are wx's, granted.
    pg_root -d wxdb -c "ALTER DEFAULT PRIVILEGES FOR ROLE wx IN SCHEMA public GRANT ALL ON TABLES TO counted"
    db_suite postgres
    STOP
else
    fail "postgres: postgres starts (make deps installs postgresql): $(tail -n 5 "$pgdir"/*.log 2>/dev/null)"
fi

summary
