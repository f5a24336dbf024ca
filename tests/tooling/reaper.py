#!/usr/bin/env python3
"""Runs a command and reports every process it leaves behind.

Usage: reaper.py [--log FILE] [--ready TEXT [--signal INT|TERM]] [--status N|any]
                 [--timeout SECS] -- CMD...

This process makes itself a child subreaper (prctl PR_SET_CHILD_SUBREAPER),
so whatever CMD starts, in whatever session or process group, is re-parented
here rather than to init when its parent dies. CMD runs in a session of its
own, output to FILE. Once CMD has exited, every process still alive below
this one is one it left behind: they are listed, killed (SIGKILL, by pid:
only these), and the exit status is 1. No names are matched.

--ready TEXT   CMD must print a line containing TEXT (else: failure).
--signal SIG   once it has, send SIG as a user would: INT to CMD's whole
               process group (Ctrl-C in a terminal), TERM to CMD alone (kill,
               a CI runner's cancel).
--status N     the exit status CMD must end with (default 0; "any" for any;
               a negative number for death by that signal).
--timeout S    give up on CMD after S seconds (default 900): failure.

Exit status 0 when CMD ended as expected and left nothing behind.
"""
import ctypes
import errno
import os
import signal
import subprocess
import sys
import time

PR_SET_CHILD_SUBREAPER = 36


def children_of(pid):
    """Pids of the live (not zombie) processes whose parent is pid."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # pid (comm) state ppid pgrp session ...: comm may hold spaces.
        fields = stat[stat.rfind(")") + 2:].split()
        if fields[0] not in ("Z", "X") and int(fields[1]) == pid:
            found.append(int(entry))
    return found


def describe(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
        fields = stat[stat.rfind(")") + 2:].split()
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        return f"pid {pid} ppid {fields[1]} pgid {fields[2]} sid {fields[3]}: {cmd}"
    except OSError:
        return f"pid {pid} (gone)"


def reap():
    """Reaps every exited child; returns {pid: raw status}."""
    done = {}
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return done
        if pid == 0:
            return done
        done[pid] = status


def main():
    args = sys.argv[1:]
    log, ready, sig, want, timeout = None, None, None, "0", 900.0
    while args and args[0] != "--":
        opt, val, args = args[0], args[1], args[2:]
        if opt == "--log":
            log = val
        elif opt == "--ready":
            ready = val
        elif opt == "--signal":
            sig = {"INT": signal.SIGINT, "TERM": signal.SIGTERM}[val]
        elif opt == "--status":
            want = val
        elif opt == "--timeout":
            timeout = float(val)
        else:
            sys.exit(f"reaper.py: unknown option {opt}")
    cmd = args[1:]
    if not cmd:
        sys.exit(__doc__)

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        sys.exit(f"reaper.py: prctl: {os.strerror(ctypes.get_errno())}")

    out = open(log or os.devnull, "wb")

    def default_signals():
        # A shell cannot trap a signal it was started with ignored (as
        # background jobs start with SIGINT): give CMD the defaults.
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT):
            signal.signal(s, signal.SIG_DFL)

    child = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                             start_new_session=True, preexec_fn=default_signals)
    problems = []
    seen_ready = ready is None
    signalled = False
    status = None
    deadline = time.monotonic() + timeout
    while status is None:
        exited = reap()
        if child.pid in exited:
            status = exited[child.pid]
            break
        if not seen_ready and log:
            with open(log, "rb") as f:
                seen_ready = ready.encode() in f.read()
        if seen_ready and sig is not None and not signalled:
            if sig == signal.SIGINT:
                os.killpg(child.pid, sig)
            else:
                os.kill(child.pid, sig)
            signalled = True
        if time.monotonic() > deadline:
            problems.append(f"still running after {timeout:.0f} s: killed")
            os.killpg(child.pid, signal.SIGKILL)
            deadline = float("inf")
        time.sleep(0.05)
    if not seen_ready and log:
        with open(log, "rb") as f:
            seen_ready = ready.encode() in f.read()
    if not seen_ready:
        problems.append(f"never printed {ready!r}")
    if sig is not None and not signalled:
        problems.append("ended before it could be signalled")

    if os.WIFSIGNALED(status):
        code = -os.WTERMSIG(status)
        how = f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
    else:
        code = os.WEXITSTATUS(status)
        how = f"exit status {code}"
    if want != "any" and code != int(want):
        problems.append(f"{how}, expected {want}")

    # Whatever is still alive below us was started by CMD and left behind.
    reap()
    left = []
    todo = children_of(os.getpid())
    while todo:
        pid = todo.pop()
        left.append(pid)
        todo.extend(children_of(pid))
    if left:
        problems.append(f"{len(left)} process(es) left behind:")
        problems.extend("    " + describe(p) for p in left)
        for p in left:
            try:
                os.kill(p, signal.SIGKILL)
            except OSError as e:
                if e.errno != errno.ESRCH:
                    raise
        end = time.monotonic() + 60
        while children_of(os.getpid()) and time.monotonic() < end:
            reap()
            time.sleep(0.05)
        reap()

    print(f"reaper: {' '.join(cmd)}: {how}" + ("" if problems else ", nothing left behind"))
    for p in problems:
        print("reaper: " + p)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
