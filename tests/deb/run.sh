#!/usr/bin/env bash
# `make test-deb`: the .deb of `make deb`, installed for real, then removed and
# purged; then the PIE build (phpize, ./configure, make, make install) in a
# copy of the tree. Needs root (apt-get, dpkg) and Debian's PHP with FPM.
#
# Environment (set by mk/deb.mk): DEB_FILE, DEB_PACKAGE, PHP_VERSION_MM,
# PHP_EXT_DIR, PHP_BIN (the PHP the package is for), PHP_CONFIG_BIN.
#
# The machine is left as it was: a package left over from an interrupted run
# is purged first, and an exit trap purges it again whatever happens; the
# check at the end compares PHP's configuration, module state and extension
# directory with a listing taken before the install.

. "$(dirname "$0")/../lib.sh"

DEB_FILE=${DEB_FILE:?set by make test-deb}
DEB_PACKAGE=${DEB_PACKAGE:?}
PHP_VERSION_MM=${PHP_VERSION_MM:?}
PHP_EXT_DIR=${PHP_EXT_DIR:?}
PHP_BIN=${PHP_BIN:-php$PHP_VERSION_MM}
PHP_CONFIG_BIN=${PHP_CONFIG_BIN:-$(command -v "php-config$PHP_VERSION_MM" || command -v php-config)}
PHP_FPM=${PHP_FPM:-$(command -v "php-fpm$PHP_VERSION_MM" || echo "/usr/sbin/php-fpm$PHP_VERSION_MM")}
PHPIZE=${PHPIZE:-$(command -v "phpize$PHP_VERSION_MM" || command -v phpize)}
ETC=/etc/php/$PHP_VERSION_MM
FPM_PID=

export DEBIAN_FRONTEND=noninteractive
# apt-get waits this long for the dpkg lock another apt may hold.
APT=(apt-get -y -q -o "DPkg::Lock::Timeout=$WAIT_SECS")

if [ "$(id -u)" != 0 ]; then
    fail "make test-deb installs a package: run it as root"
    summary
    exit 1
fi

# Is the package installed (or half-installed, or removed with its config)?
deb_state() { dpkg-query -W -f='${db:Status-Abbrev}' "$DEB_PACKAGE" 2>/dev/null | tr -d ' '; }
known_to_dpkg() { local s; s=$(deb_state); [ -n "$s" ] && [ "$s" != "un" ]; }

purge_package() {
    if known_to_dpkg; then
        "${APT[@]}" purge "$DEB_PACKAGE" >"$WX_TMP/purge.log" 2>&1 ||
            dpkg --purge "$DEB_PACKAGE" >>"$WX_TMP/purge.log" 2>&1
    fi
}

stop_fpm() {
    if [ -n "$FPM_PID" ]; then
        kill "$FPM_PID" 2>/dev/null
        wait "$FPM_PID" 2>/dev/null
        FPM_PID=
    fi
}

deb_cleanup() {
    stop_fpm
    if known_to_dpkg; then
        echo "# cleanup: purging $DEB_PACKAGE"
        purge_package
    fi
    cleanup # tests/lib.sh: the mock, $WX_TMP
}
trap deb_cleanup EXIT
trap 'exit 130' INT TERM

# What the package may touch: PHP's configuration, phpenmod's module state and
# the extension directory. Listed before the install, compared after purge.
system_state() {
    find "$ETC" /var/lib/php/modules "$PHP_EXT_DIR" -printf '%p %y %m %l\n' 2>/dev/null | sort
}

php_modules() { "$PHP_BIN" -m 2>/dev/null; }
cli_has_wxtoken() { php_modules | grep -qx wxtoken; }
cli_lacks_wxtoken() { ! cli_has_wxtoken; }
fpm_has_wxtoken() { "$PHP_FPM" -m 2>/dev/null | grep -qx wxtoken; }
fpm_lacks_wxtoken() { ! fpm_has_wxtoken; }
conf_links() { find "$ETC" -path '*/conf.d/*wxtoken*' 2>/dev/null; }

echo "# package: $DEB_FILE"
check "the .deb was built" test -f "$DEB_FILE"
check "$PHP_FPM is installed" test -x "$PHP_FPM"

# --- the package's own metadata --------------------------------------------
field() { dpkg-deb -f "$DEB_FILE" "$1"; }
check "Package: $DEB_PACKAGE" test "$(field Package)" = "$DEB_PACKAGE"
check "Provides: php-wxtoken" test "$(field Provides)" = "php-wxtoken"
phpapi=$("$PHP_CONFIG_BIN" --phpapi)
check "Depends on php$PHP_VERSION_MM-common and phpapi-$phpapi ($(field Depends))" \
    bash -c 'grep -q "php$1-common" <<<"$3" && grep -q "phpapi-$2" <<<"$3"' _ "$PHP_VERSION_MM" "$phpapi" "$(field Depends)"
check "Architecture is dpkg's ($(field Architecture))" test "$(field Architecture)" = "$(dpkg --print-architecture)"
contents=$(dpkg-deb -c "$DEB_FILE")
check "files owned by root:root" bash -c '! grep -v " root/root " <<<"$1"' _ "$contents"
check "mods-available/wxtoken.ini is a conffile" \
    bash -c 'dpkg-deb --ctrl-tarfile "$1" | tar -xOf - ./conffiles | grep -qx "$2"' _ "$DEB_FILE" "$ETC/mods-available/wxtoken.ini"

# --- a clean start: an earlier run's package goes first -----------------------
if known_to_dpkg; then
    echo "# $DEB_PACKAGE is already known to dpkg ($(deb_state)): purging it first"
    purge_package
fi
# wxtoken installed some other way (make install-php) would be overwritten by
# the package and deleted by its purge: leave such a machine alone.
for f in "$PHP_EXT_DIR/wxtoken.so" "$ETC/mods-available/wxtoken.ini"; do
    if [ -e "$f" ]; then
        fail "$f exists but belongs to no package (make install-php?): remove it, then run make test-deb again"
        summary
        exit 1
    fi
done
check "$PHP_BIN -m does not list wxtoken before the install" cli_lacks_wxtoken
before=$(system_state)

# --- install ----------------------------------------------------------------
if "${APT[@]}" install --no-install-recommends "$DEB_FILE" >"$WX_TMP/install.log" 2>&1; then
    pass "apt-get install $DEB_FILE"
else
    fail "apt-get install $DEB_FILE: $(tail -n 5 "$WX_TMP/install.log")"
fi
check "dpkg: $DEB_PACKAGE installed" test "$(deb_state)" = "ii"
files=$(dpkg -L "$DEB_PACKAGE" 2>/dev/null)
check "dpkg -L lists $PHP_EXT_DIR/wxtoken.so" grep -qx "$PHP_EXT_DIR/wxtoken.so" <<<"$files"
check "dpkg -L lists $ETC/mods-available/wxtoken.ini" grep -qx "$ETC/mods-available/wxtoken.ini" <<<"$files"
check "wxtoken.ini: priority 20, extension=wxtoken.so" \
    bash -c 'grep -qx "; priority=20" "$1" && grep -qx "extension=wxtoken.so" "$1"' _ "$ETC/mods-available/wxtoken.ini"
check "CLI enabled: $ETC/cli/conf.d/20-wxtoken.ini links to it" \
    test "$(readlink -f "$ETC/cli/conf.d/20-wxtoken.ini")" = "$ETC/mods-available/wxtoken.ini"
check "FPM enabled: $ETC/fpm/conf.d/20-wxtoken.ini links to it" \
    test "$(readlink -f "$ETC/fpm/conf.d/20-wxtoken.ini")" = "$ETC/mods-available/wxtoken.ini"
check "$PHP_BIN -m lists wxtoken" cli_has_wxtoken
check "getToken() is defined in the CLI" \
    test "$("$PHP_BIN" -r 'echo function_exists("getToken") ? "yes" : "no";' 2>&1)" = yes
check "no startup warning from the CLI" \
    test -z "$("$PHP_BIN" -r '' 2>&1)"
check "$PHP_FPM -m lists wxtoken" fpm_has_wxtoken

# A real FPM master and worker on a unix socket in $WX_TMP, with the system's
# php.ini and conf.d (only the pool configuration is ours), asked over
# FastCGI for a script that reports what the worker has loaded.
cat >"$WX_TMP/fpm.conf" <<EOF
[global]
pid = $WX_TMP/fpm.pid
error_log = $WX_TMP/fpm.log
daemonize = no

[wxtoken-test]
listen = $WX_TMP/fpm.sock
user = root
group = root
pm = static
pm.max_children = 1
EOF
cat >"$WX_TMP/probe.php" <<'EOF'
<?php
echo PHP_SAPI, " ", extension_loaded("wxtoken") ? "wxtoken" : "none", " ",
    function_exists("getToken") ? "getToken" : "-", "\n";
EOF
"$PHP_FPM" --allow-to-run-as-root --nodaemonize --fpm-config "$WX_TMP/fpm.conf" >"$WX_TMP/fpm.out" 2>&1 &
FPM_PID=$!
if wait_for test -S "$WX_TMP/fpm.sock"; then
    answer=$(python3 - "$WX_TMP/fpm.sock" "$WX_TMP/probe.php" "$WAIT_SECS" <<'EOF'
# A minimal FastCGI client: one GET request, prints the response body.
import socket, struct, sys

sock_path, script, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])

def record(kind, content):
    return struct.pack(">BBHHBx", 1, kind, 1, len(content), 0) + content

def pair(name, value):
    name, value = name.encode(), value.encode()
    size = lambda n: bytes([n]) if n < 128 else struct.pack(">I", n | 0x80000000)
    return size(len(name)) + size(len(value)) + name + value

params = {"SCRIPT_FILENAME": script, "SCRIPT_NAME": "/probe.php", "REQUEST_METHOD": "GET",
          "QUERY_STRING": "", "SERVER_PROTOCOL": "HTTP/1.1", "GATEWAY_INTERFACE": "CGI/1.1",
          "SERVER_NAME": "localhost", "SERVER_PORT": "80", "REMOTE_ADDR": "127.0.0.1"}
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(timeout)
s.connect(sock_path)
body = b"".join(pair(k, v) for k, v in params.items())
s.sendall(record(1, struct.pack(">HB5x", 1, 0)) + record(4, body) + record(4, b"") + record(5, b""))
data = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
out = b""
while len(data) >= 8:
    _, kind, _, length, padding = struct.unpack(">BBHHB", data[:7])
    content, data = data[8:8 + length], data[8 + length + padding:]
    if kind == 6:
        out += content
    elif kind == 3:
        break
print(out.split(b"\r\n\r\n", 1)[-1].decode().strip())
EOF
    )
    check "an FPM worker has it loaded (answer: ${answer:-none})" test "$answer" = "fpm-fcgi wxtoken getToken"
else
    fail "php-fpm did not start: $(tail -n 5 "$WX_TMP/fpm.out" "$WX_TMP/fpm.log" 2>/dev/null)"
fi
stop_fpm

# --- remove: disabled everywhere, the ini kept (a conffile) ---------------------
if "${APT[@]}" remove "$DEB_PACKAGE" >"$WX_TMP/remove.log" 2>&1; then
    pass "apt-get remove $DEB_PACKAGE"
else
    fail "apt-get remove $DEB_PACKAGE: $(tail -n 5 "$WX_TMP/remove.log")"
fi
check "dpkg: removed, configuration kept (rc)" test "$(deb_state)" = "rc"
check "$PHP_BIN -m no longer lists wxtoken" cli_lacks_wxtoken
check "$PHP_FPM -m no longer lists wxtoken" fpm_lacks_wxtoken
check "no conf.d symlinks left ($(conf_links | tr '\n' ' '))" test -z "$(conf_links)"
check "no startup warning from the CLI after remove" test -z "$("$PHP_BIN" -r '' 2>&1)"
check "$PHP_EXT_DIR/wxtoken.so is gone" test ! -e "$PHP_EXT_DIR/wxtoken.so"
check "mods-available/wxtoken.ini kept until purge" test -f "$ETC/mods-available/wxtoken.ini"

# --- purge: the ini goes too, and everything is as before -----------------------
if "${APT[@]}" purge "$DEB_PACKAGE" >"$WX_TMP/purge.log" 2>&1; then
    pass "apt-get purge $DEB_PACKAGE"
else
    fail "apt-get purge $DEB_PACKAGE: $(tail -n 5 "$WX_TMP/purge.log")"
fi
not_known_to_dpkg() { ! known_to_dpkg; }
check "dpkg: not installed, no configuration left" not_known_to_dpkg
check "mods-available/wxtoken.ini is gone" test ! -e "$ETC/mods-available/wxtoken.ini"
after=$(system_state)
if [ "$before" = "$after" ]; then
    pass "$ETC, /var/lib/php/modules and $PHP_EXT_DIR as before the install"
else
    fail "left behind: $(diff <(echo "$before") <(echo "$after") | grep '^[<>]' | tr '\n' ' ')"
fi

# --- PIE: phpize, ./configure, make, make install in a copy of the tree ---------
# What PIE does with the tree it downloads (composer.json: build-path
# packaging/pie). cargo builds into this tree's target/, so it is incremental.
src="$WX_TMP/src"
mkdir -p "$src"
if git -C "$WX_ROOT" rev-parse --git-dir >/dev/null 2>&1; then
    git -C "$WX_ROOT" ls-files -z --cached --others --exclude-standard |
        (cd "$WX_ROOT" && tar --null --ignore-failed-read -T - -cf -) | tar -C "$src" -xf -
else
    (cd "$WX_ROOT" && tar --exclude=./target --exclude=./.git -cf - .) | tar -C "$src" -xf -
fi
build_path=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["php-ext"]["build-path"])' "$src/composer.json" 2>/dev/null)
ext_name=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["php-ext"]["extension-name"])' "$src/composer.json" 2>/dev/null)
check "composer.json: type php-ext, extension-name wxtoken, build-path holds config.m4" \
    bash -c 'test "$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[\"type\"])" "$1/composer.json")" = php-ext &&
        test "$2" = wxtoken && test -f "$1/$3/config.m4"' _ "$src" "$ext_name" "$build_path"
if command -v composer >/dev/null; then
    check "composer validate --no-check-publish" \
        env COMPOSER_ALLOW_SUPERUSER=1 composer validate --no-check-publish --no-interaction -q "$src/composer.json"
else
    echo "# composer not installed: composer validate not run"
fi

pie_dir="$src/${build_path:-packaging/pie}"
# This suite may run under make: the PIE build is a make of its own.
pie_build() (
    cd "$pie_dir" &&
        env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL CARGO_TARGET_DIR="$WX_ROOT/target" bash -c '
            "$1" && ./configure --with-php-config="$2" && make' _ "$PHPIZE" "$PHP_CONFIG_BIN"
)
if pie_build >"$WX_TMP/pie-build.log" 2>&1; then
    pass "phpize && ./configure && make (PIE's steps)"
else
    fail "phpize && ./configure && make: $(tail -n 8 "$WX_TMP/pie-build.log")"
fi
check "make built modules/wxtoken.so" test -f "$pie_dir/modules/wxtoken.so"
check "php -n -d extension=modules/wxtoken.so -m lists wxtoken" \
    bash -c '"$1" -n -d extension="$2" -m | grep -qx wxtoken' _ "$PHP_BIN" "$pie_dir/modules/wxtoken.so"
(cd "$pie_dir" && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make install INSTALL_ROOT="$WX_TMP/root") \
    >"$WX_TMP/pie-install.log" 2>&1
check "make install puts wxtoken.so in PHP's extension dir (INSTALL_ROOT)" \
    test -f "$WX_TMP/root$PHP_EXT_DIR/wxtoken.so"
check "make install installs nothing else" \
    test "$(cd "$WX_TMP/root" 2>/dev/null && find . -type f)" = "./${PHP_EXT_DIR#/}/wxtoken.so"
check "make install does not run cargo (PIE may run it with sudo)" \
    bash -c '! grep -q cargo "$1"' _ "$WX_TMP/pie-install.log"

summary
