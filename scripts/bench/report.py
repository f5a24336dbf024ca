#!/usr/bin/env python3
"""Writes BENCHMARKS.md from the RESULT lines the benchmarks printed.

Usage: report.py RESULTS_FILE OUTPUT_MD

Every figure is shown beside a ratio measured in the same run: against the
legacy approach, and for the hit path against the physical floor (what a
hit cannot avoid: two fstat(2) calls, plus, for PHP, an empty built-in call).
"""
import os
import platform
import re
import subprocess
import sys
from datetime import datetime, timezone


def load(path):
    r = {}
    for line in open(path):
        m = re.match(r"^RESULT (\S+) (\S+)$", line.strip())
        if m:
            r[m.group(1)] = float(m.group(2))
    return r


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=30).stdout.strip()
    except Exception:
        return ""


def machine():
    cpu = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip() or platform.processor()
    mem = sh("awk '/MemTotal/ {printf \"%.0f GiB\", $2 / 1048576}' /proc/meminfo")
    rustc = sh("rustc --version")
    php = sh("php -r 'echo PHP_VERSION;'")
    nginx = sh("nginx -v 2>&1")
    redis = sh("redis-server --version | cut -d' ' -f1-3")
    return (f"{cpu}, {os.cpu_count()} cores, {mem}; Linux {platform.release()}; "
            f"{rustc}; PHP {php}; {nginx}; {redis}")


def main():
    r = load(sys.argv[1])
    g = r.get
    out = []
    w = out.append

    def ns(key):
        v = g(key)
        return "n/a" if v is None else (f"{v/1000:.2f} µs" if v >= 1000 else f"{v:.0f} ns")

    def ratio(a, b):
        return "n/a" if a is None or b is None or b == 0 else f"{a / b:.1f}x"

    w("# Benchmarks\n")
    w(f"Written by `make bench` on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC.\n")
    w(f"Machine: {machine()}.\n")
    w("Rerun with `make bench` (about five minutes; it builds release binaries, starts its own "
      "`wechat-mock`, redis-server, php-fpm and nginx on loopback, and writes "
      "`target/bench/BENCHMARKS.md`; `make bench-publish` copies it here). Every "
      "ratio compares figures measured in the same run; absolute times are for this machine only. "
      "Hit figures are the median of five rounds.\n")

    w("## Hit path (warm cache)\n")
    c_floor = g("c_floor")
    php_floor = None if g("php_empty_call") is None or c_floor is None else g("php_empty_call") + c_floor
    w("| what | per call | faster than the legacy approach | times the floor |")
    w("|---|---|---|---|")
    w(f"| legacy PHP `getToken()` (reads both files) | {ns('php_legacy')} | 1.0x | {ratio(g('php_legacy'), php_floor)} |")
    w(f"| PHP extension `getToken()` | {ns('php_hit')} | {ratio(g('php_legacy'), g('php_hit'))} | {ratio(g('php_hit'), php_floor)} |")
    w(f"| legacy approach in C (open, read, parse both files) | {ns('c_legacy')} | 1.0x | {ratio(g('c_legacy'), c_floor)} |")
    w(f"| C `wx_get_token()` | {ns('c_hit')} | {ratio(g('c_legacy'), g('c_hit'))} | {ratio(g('c_hit'), c_floor)} |")
    w(f"| legacy approach in Rust | {ns('rust_legacy')} | 1.0x | {ratio(g('rust_legacy'), c_floor)} |")
    w(f"| Rust `TokenCache::get_token()` | {ns('rust_hit')} | {ratio(g('rust_legacy'), g('rust_hit'))} | {ratio(g('rust_hit'), c_floor)} |")
    w(f"| Rust `get_token_async().await` | {ns('rust_hit_async')} | {ratio(g('rust_legacy'), g('rust_hit_async'))} | {ratio(g('rust_hit_async'), c_floor)} |")
    w(f"| floor: two `fstat(2)` on open files (C) | {ns('c_floor')} | | 1.0x |")
    w(f"| floor for PHP: two `fstat(2)` + an empty built-in call (`pi()`) | {ns('php_empty_call')} + {ns('c_floor')} | | 1.0x |")
    w("")
    w("Goal: C and Rust within 1.5x of the floor, PHP within 1.5x of its floor. "
      f"Measured: C {ratio(g('c_hit'), c_floor)}, Rust {ratio(g('rust_hit'), c_floor)}, "
      f"PHP {ratio(g('php_hit'), php_floor)}.\n")

    w("## Coherence\n")
    w(f"The Rust hit loop while another writer replaces the token every 100 ms: {ns('coherence_hit')} per call "
      f"({ratio(g('coherence_hit'), g('rust_hit'))} the warm figure); {int(g('coherence_updates') or 0)} replacements, "
      f"**{int(g('coherence_stale') or 0)}** calls returned a token older than the last completed replacement "
      "(every call sees the newest token within one call).\n")

    w("## Herd: N processes on an expired cache\n")
    w("Upstream calls, distinct tokens handed out, and the time from the go to the last process's exit.\n")
    w("| N | legacy PHP | CLI `wxtoken get` | PHP extension | C `wx_get_token()` |")
    w("|---|---|---|---|---|")
    for n in (8, 32, 128):
        cells = []
        for k in ("legacy", "cli", "php", "c"):
            c, t, ms = g(f"herd_{k}_{n}_calls"), g(f"herd_{k}_{n}_tokens"), g(f"herd_{k}_{n}_ms")
            cells.append("n/a" if c is None else f"{int(c)} calls, {int(t)} tokens, {int(ms)} ms")
        w(f"| {n} | " + " | ".join(cells) + " |")
    w("\nGoal: exactly 1 upstream call at every N.\n")

    w("## Miss latency\n")
    miss, bare, fs = g("miss"), g("bare_http"), g("fsync_pair")
    w(f"A refresh (`force_refresh`: lock, HTTP to the local mock, parse, stage, fsync, two renames) takes "
      f"{ns('miss')}; the same HTTP request alone, with the same client settings, {ns('bare_http')}: "
      f"**{ratio(miss, bare)}** (goal: under 1.5x). Writing, fsyncing and renaming the two files alone costs "
      f"{ns('fsync_pair')}, {('%.0f%%' % (100 * fs / miss)) if fs and miss else 'n/a'} of the refresh"
      + (": the overhead above the bare request is mostly the fsyncs, which are what make a refresh "
         "survive a crash." if fs and miss and bare and fs > (miss - bare) / 2 else ".") + "\n")

    w("## nginx + php-fpm (8 workers), wrk -t2 -c32\n")
    w("| page | requests/s | p99 | upstream calls | distinct tokens | empty answers |")
    w("|---|---|---|---|---|---|")
    for key, label in (("legacy_warm", "legacy, warm"), ("ext_warm", "extension, warm"),
                       ("legacy_expiring", "legacy, 4 forced expiries"), ("ext_expiring", "extension, 4 forced expiries")):
        rps, p99 = g(f"fpm_{key}_rps"), g(f"fpm_{key}_p99_ms")
        if rps is None:
            w(f"| {label} | n/a | | | | |")
            continue
        w(f"| {label} | {rps:.0f} | {p99:.2f} ms | {int(g(f'fpm_{key}_calls'))} | "
          f"{int(g(f'fpm_{key}_tokens'))} | {int(g(f'fpm_{key}_empty'))} |")
    w(f"\nWarm throughput: the extension serves {ratio(g('fpm_ext_warm_rps'), g('fpm_legacy_warm_rps'))} the legacy "
      f"page's requests; through forced expiries the legacy page made "
      f"{ratio(g('fpm_legacy_expiring_calls'), g('fpm_ext_expiring_calls'))} the upstream calls.\n")

    w("## Redis store\n")
    w(f"Hit {ns('redis_hit')} ({ratio(g('redis_hit'), g('rust_hit'))} a file-store hit: no round trip; goal: "
      f"the same as a file hit), miss {ns('redis_miss')} ({ratio(g('redis_miss'), g('miss'))} a file-store miss).\n")

    w("## The central refresher at scale\n")
    if g("daemon_apps") is None:
        w("n/a\n")
    else:
        apps = int(g("daemon_apps"))
        w(f"`wxtoken daemon` keeping {apps} apps on one Redis under `ulimit -n 1024`, against one "
          "wechat-mock (scripts/bench/daemon.sh).\n")
        w("| what | figure |")
        w("|---|---|")
        w(f"| start-up until every app has a token | {g('daemon_start_ms') / 1000:.1f} s, "
          f"{int(g('daemon_start_calls'))} upstream calls |")
        w(f"| memory | {int(g('daemon_rss_kib'))} KiB resident ({int(g('daemon_rss_one_kib'))} KiB with one app): "
          f"{g('daemon_kib_per_app'):.1f} KiB per app |")
        w(f"| descriptors | {int(g('daemon_fds'))} |")
        w(f"| CPU at rest (a store look per app each second) | {g('daemon_idle_cpu_pct'):.2f} % of a core |")
        w(f"| SIGHUP reload of the same config (no app refetched) | {g('daemon_reload_ms') / 1000:.2f} s |")
        w(f"| every app refetching after a FLUSHDB | {g('daemon_refill_ms') / 1000:.1f} s, "
          f"{g('daemon_cpu_ms_per_refresh'):.2f} ms CPU per refresh |")
        w(f"| SIGTERM | {g('daemon_stop_ms'):.0f} ms |")
        w("")

    w("## Footprint\n")
    w(f"A PHP process with the extension: {int(g('php_rss_start_kib') or 0)} KiB resident and "
      f"{int(g('php_threads_start') or 0)} thread at start, {int(g('php_rss_miss_kib') or 0)} KiB and "
      f"{int(g('php_threads_miss') or 0)} thread after the first miss (the refresh runs on the calling thread), "
      f"{int(g('php_rss_hits_kib') or 0)} KiB and {int(g('php_threads_hits') or 0)} thread after 100000 hits: "
      "nothing on the hit path or the miss path starts a thread.\n")
    w("| binary | size | stripped |")
    w("|---|---|---|")
    for key, label in (("libwxtoken", "libwxtoken.so"), ("extension", "wxtoken.so (PHP)"), ("cli", "wxtoken (CLI)")):
        if g(f"size_{key}_kib") is not None:
            w(f"| {label} | {int(g(f'size_{key}_kib'))} KiB | {int(g(f'size_{key}_stripped_kib'))} KiB |")
    w("")
    open(sys.argv[2], "w").write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
