#!/usr/bin/env bash
# `make bench`: every front end side by side in one run, against the legacy
# approach and the physical floor, written to target/bench/BENCHMARKS.md (see
# scripts/bench/report.py); `make bench-publish` copies that over the
# committed BENCHMARKS.md. The run writes nothing else outside target/. Nothing here is a pass/fail test: figures depend
# on the machine. Run it on a quiet machine; it takes about five minutes.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cargo=${CARGO:-cargo}
out=$root/target/bench
mkdir -p "$out"
: >"$out/results.txt"

$cargo build -q --release -p wxtoken-ffi -p wxtoken-php -p wxtoken-cli -p wechat-mock || exit 1
make -s ffi-links
export WX_TARGET=$root/target/release

section() {
    echo
    echo "== $1"
    shift
    "$@" 2>&1 | tee -a "$out/results.txt" | grep -v '^RESULT'
}
section "Rust core (hit, coherence, miss, Redis)" $cargo bench -q -p wxtoken --bench hit_path
section "C hit path and floor" make -s bench-c
section "PHP hit path" make -s bench-php
section "herd" bash scripts/bench/herd.sh
section "nginx + php-fpm" bash scripts/bench/stack.sh
section "footprint" bash scripts/bench/footprint.sh
section "daemon, 10,000 apps" bash scripts/bench/daemon.sh
python3 scripts/bench/report.py "$out/results.txt" "$out/BENCHMARKS.md"
echo
echo "wrote $out/BENCHMARKS.md (make bench-publish copies it to BENCHMARKS.md)"
