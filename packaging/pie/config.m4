dnl wxtoken for phpize && ./configure && make && make install, the steps PIE
dnl runs (composer.json at the top of the tree points its build-path here).
dnl
dnl The extension is Rust (crates/wxtoken-php, built with ext-php-rs): there
dnl is no C to compile. configure only finds cargo and the source tree;
dnl Makefile.frag has `make` run `cargo build --release -p wxtoken-php` and
dnl copy the library to modules/wxtoken.so, which `make install` copies into
dnl PHP's extension directory without running cargo again.

AC_MSG_CHECKING([for the wxtoken source tree])
WXTOKEN_ROOT=`cd "$abs_srcdir/../.." && pwd`
if test -f "$WXTOKEN_ROOT/Cargo.toml" && test -f "$WXTOKEN_ROOT/crates/wxtoken-php/Cargo.toml"; then
  AC_MSG_RESULT([$WXTOKEN_ROOT])
else
  AC_MSG_RESULT([no])
  AC_MSG_ERROR([crates/wxtoken-php not found in $WXTOKEN_ROOT: build from the whole wxtoken tree])
fi

dnl rustup installs cargo in ~/.cargo/bin, which is not always on PATH.
AC_PATH_PROG([CARGO], [cargo], [], [$PATH$PATH_SEPARATOR$HOME/.cargo/bin])
if test -z "$CARGO"; then
  AC_MSG_ERROR([cargo not found: wxtoken is written in Rust. Install Rust (rustup, or Debian's cargo) and libclang-dev, or install the php-wxtoken .deb instead])
fi

dnl ext-php-rs builds against the php and php-config it finds on PATH, or
dnl the ones in the PHP and PHP_CONFIG environment variables. Set those only
dnl for a PHP other than PATH's (--with-php-config=...): cargo rebuilds
dnl ext-php-rs whenever they change, so the same PHP keeps the same build.
AC_MSG_CHECKING([which PHP cargo builds for])
WXTOKEN_CARGO_ENV=
wxtoken_php_config=`command -v "$PHP_CONFIG" 2>/dev/null`
if test -z "$wxtoken_php_config"; then
  AC_MSG_ERROR([php-config not found: $PHP_CONFIG])
fi
wxtoken_php_config=`readlink -f "$wxtoken_php_config"`
wxtoken_path_php_config=`command -v php-config 2>/dev/null`
if test -z "$wxtoken_path_php_config" || test "`readlink -f "$wxtoken_path_php_config"`" != "$wxtoken_php_config"; then
  WXTOKEN_CARGO_ENV="PHP_CONFIG=$wxtoken_php_config"
fi
wxtoken_path_php=`command -v php 2>/dev/null`
if test -z "$wxtoken_path_php" || test "`readlink -f "$wxtoken_path_php"`" != "`readlink -f "$PHP_EXECUTABLE"`"; then
  WXTOKEN_CARGO_ENV="$WXTOKEN_CARGO_ENV PHP=$PHP_EXECUTABLE"
fi
AC_MSG_RESULT([$PHP_EXECUTABLE, $wxtoken_php_config])

dnl No PHP_NEW_EXTENSION (no C sources): name the one build directory, so
dnl that phpize's build-directory step has something to create.
PHP_ADD_BUILD_DIR([modules])

PHP_SUBST([CARGO])
PHP_SUBST([WXTOKEN_ROOT])
PHP_SUBST([WXTOKEN_CARGO_ENV])
PHP_ADD_MAKEFILE_FRAGMENT([$abs_srcdir/Makefile.frag], [$abs_srcdir], [$abs_builddir])
