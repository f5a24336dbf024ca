#!/usr/bin/env bash
# Checks of the project's own tooling (`make test-tooling`): `make help`
# lists every target of the Makefile and mk/*.mk, with a line each.

. "$(dirname "$0")/../lib.sh"
cd "$WX_ROOT" || exit 1

help=$(make --no-print-directory help)
targets=$(grep -hoE '^[a-zA-Z][a-zA-Z0-9_.-]*:([^=]|$)' Makefile mk/*.mk | sed 's/:.*//' | sort -u)
missing=
for t in $targets; do
    grep -qE "^  $t +[^ ]" <<<"$help" || missing="$missing $t"
done
check "make help lists every target with a description ($(wc -w <<<"$targets") targets${missing:+; missing:$missing})" \
    test -z "$missing"

summary
