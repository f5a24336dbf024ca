#!/usr/bin/env bash
# `make bench`: throughput figures and ratios. Nothing here is a pass/fail
# test; figures depend on the machine.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cargo=${CARGO:-cargo}

echo "== Rust core =="
$cargo bench -q -p wxtoken --bench hit_path 2>/dev/null

for part in bench-c bench-php bench-race; do
    if make -s -n "$part" >/dev/null 2>&1; then
        echo
        echo "== $part =="
        make -s "$part"
    fi
done
