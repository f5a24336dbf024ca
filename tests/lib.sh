# Shared helpers for the shell-driven cross-language tests (C, PHP, legacy).
# Source it: `. "$(dirname "$0")/../lib.sh"`. Needs bash.
#
# Every test script counts with pass/fail and ends with `summary`, which prints
# the plain "N passed, N failed" line and exits non-zero on any failure.

set -u

WX_ROOT=${WX_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
WX_TARGET=${WX_TARGET:-$WX_ROOT/target/debug}
PASSED=0
FAILED=0
MOCK_PID=
MOCK_URL=
WX_TMP=$(mktemp -d "${TMPDIR:-/tmp}/wxtoken-test.XXXXXX")

# Whatever the end (the last check, a failure, exit half way, Ctrl-C, kill),
# everything the script started is stopped and its files removed. Bash runs
# no EXIT trap when it is killed by a signal it does not handle: handle them.
cleanup() {
    # Bounded (STOP_SECS per server): a second Ctrl-C does not cut it short.
    trap '' INT TERM
    release_racers
    stop_groups
    stop_mock
    rm -rf "$WX_TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

pass() { PASSED=$((PASSED + 1)); echo "ok - $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL - $*"; }

# check "description" command...: passes when the command succeeds.
check() {
    local what=$1
    shift
    if "$@"; then pass "$what"; else fail "$what"; fi
}

# Seconds any wait for a start-up may take. Generous on purpose: these waits
# are not what the tests measure, and a loaded machine must not fail them.
WAIT_SECS=${WAIT_SECS:-120}

# wait_for CMD...: runs CMD until it succeeds, for at most WAIT_SECS.
wait_for() {
    local deadline=$((SECONDS + WAIT_SECS))
    until "$@"; do
        [ "$SECONDS" -ge "$deadline" ] && return 1
        sleep 0.05
    done
}

# Starts wechat-mock on a free port; sets MOCK_URL and MOCK_PID.
start_mock() {
    stop_mock
    local out="$WX_TMP/mock.out"
    # Removed here, not left to the redirection below: that runs in the
    # background child, so on a busy machine the wait could still read the
    # previous mock's URL from the old file, then find it emptied.
    rm -f "$out"
    "$WX_TARGET/wechat-mock" --port 0 "$@" >"$out" 2>"$WX_TMP/mock.err" &
    MOCK_PID=$!
    if wait_for grep -q '^http://' "$out" 2>/dev/null; then
        MOCK_URL=$(head -n 1 "$out")
        return 0
    fi
    echo "wechat-mock did not start: $(cat "$WX_TMP/mock.err")" >&2
    exit 1
}

stop_mock() {
    if [ -n "${MOCK_PID:-}" ]; then
        kill "$MOCK_PID" 2>/dev/null
        wait "$MOCK_PID" 2>/dev/null
        MOCK_PID=
    fi
}

# ---------------------------------------------------------------- servers
# A server with workers (php -S, php-fpm, nginx) runs in a process group of
# its own, noted here: stopping it stops exactly what the script started,
# workers included, and nothing else (no name patterns). `cleanup` stops
# every one still running.
GROUPS_STARTED=()
declare -gA GROUP_STOP=()
# Seconds a server has to stop on its own before its whole group is killed:
# generous, this is not what the tests measure.
STOP_SECS=${STOP_SECS:-60}

# spawn VAR STOP CMD...: starts CMD in the background in a new session and
# process group (setsid), with the default dispositions for SIGINT and SIGQUIT
# (a shell may start its background jobs with them ignored: bash ignores
# SIGQUIT); stores its pid, which is also the group's id, in VAR. Redirect
# spawn's output as CMD's. STOP is how it stops gracefully: a signal name
# (QUIT) sent to CMD alone, for masters that stop their workers themselves
# (php-fpm, nginx), or group:SIGNAL (group:INT) sent to the whole group, as a
# terminal's Ctrl-C would (php -S, whose master only waits for its workers).
spawn() {
    local var=$1 stop=$2 pid
    shift 2
    (trap - INT QUIT && exec setsid "$@") &
    pid=$!
    printf -v "$var" '%s' "$pid"
    GROUPS_STARTED+=("$pid")
    GROUP_STOP[$pid]=$stop
    # setsid execs CMD in place after setsid(2), unless it had to fork (it
    # was already a group leader, as under `set -m`): then this waits in vain.
    wait_for own_group "$pid" || echo "spawn: $* is not in a process group of its own" >&2
}
own_group() { [ "$(ps -o pgid= -p "$1" 2>/dev/null | tr -d ' ')" = "$1" ] || ! kill -0 "$1" 2>/dev/null; }

# group_alive PGID: a process of the group is still running (a zombie is
# not: it only waits for its parent, maybe init, to reap it).
group_alive() {
    ps -e -o pgid=,stat= | awk -v g="$1" '$1 == g && $2 !~ /^Z/ { found = 1 } END { exit !found }'
}
group_gone() { ! group_alive "$1"; }

# stop_group PID: stops what `spawn` started as PID, the graceful way first;
# after STOP_SECS, SIGKILL to the whole group. Returns once none of it runs.
stop_group() {
    local pid=$1 stop=${GROUP_STOP[$1]:-TERM} deadline i
    [ -n "$pid" ] || return 0
    # Once the group is gone its number may be reused: signal only a group.
    if group_alive "$pid"; then
        case "$stop" in
            group:*) kill -s "${stop#group:}" -- "-$pid" 2>/dev/null ;;
            *) kill -s "$stop" "$pid" 2>/dev/null ;;
        esac
    fi
    deadline=$((SECONDS + STOP_SECS))
    while group_alive "$pid"; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "# process group $pid still running $STOP_SECS s after SIG${stop#group:}: SIGKILL" >&2
            kill -KILL -- "-$pid" 2>/dev/null
            wait_for group_gone "$pid" || echo "# process group $pid survives SIGKILL" >&2
            break
        fi
        sleep 0.05
    done
    wait "$pid" 2>/dev/null
    for i in "${!GROUPS_STARTED[@]}"; do
        [ "${GROUPS_STARTED[$i]}" = "$pid" ] && unset 'GROUPS_STARTED[i]'
    done
    unset "GROUP_STOP[$pid]"
    return 0
}

# stop_groups: stops every group spawn started and nothing stopped yet.
stop_groups() {
    local pid
    for pid in "${GROUPS_STARTED[@]}"; do stop_group "$pid"; done
}

# mock PATH: GET a control endpoint of the mock, e.g. `mock /mock/reset`.
mock() {
    curl -fsS "$MOCK_URL$1" 2>/dev/null || python3 -c 'import sys,urllib.request;print(urllib.request.urlopen(sys.argv[1]).read().decode())' "$MOCK_URL$1"
}

# mock_stat NAME: one counter from /mock/stats, e.g. `mock_stat token_calls`.
mock_stat() {
    mock /mock/stats | python3 -c 'import sys,json;v=json.load(sys.stdin)[sys.argv[1]];print("" if v is None else v)' "$1"
}

summary() {
    echo "$PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ]
}

# release_racers: a race cut short (exit, Ctrl-C, kill) leaves its racers
# waiting for a go file that would never come, forever, and a racer may be a
# subshell with its program one level down: let them go, and wait for them.
release_racers() {
    [ -n "$RACE_GO" ] || return 0
    touch "$RACE_GO"
    wait "${RACE_PIDS[@]}" 2>/dev/null
    RACE_GO=
    RACE_PIDS=()
}

# racer_bin: copies the CLI and the PHP extension to $WX_TMP/bin for
# tests/racer.sh (exports WXT_BIN, sets bin) and defines php_ext, which runs
# php with that extension and nothing else loaded.
racer_bin() {
    bin=$WX_TMP/bin
    mkdir -p "$bin"
    cp "$WX_TARGET/wxtoken" "$WX_TARGET/libwxtoken_php.so" "$bin/"
    export WXT_BIN=$bin
}
php_ext() { "${PHP:-php}" -n -d "extension=$WX_TMP/bin/libwxtoken_php.so" "$@"; }

# all_ready DIR N: DIR holds at least N entries.
all_ready() { [ "$(ls "$1" | wc -l)" -ge "$2" ]; }

# race N DIR CMD...: starts N copies of `CMD... GO READY`, where each worker
# touches READY<pid> once it is up and then waits for the file GO; when all
# N are waiting (or after WAIT_SECS), creates GO so they ask at once, and waits
# for them. Each worker's output is in DIR/out/1..N. Fails if not all N
# became ready in time. Sets RACE_MS: milliseconds from the go to the end.
RACE_GO=
RACE_PIDS=()
race() {
    local n=$1 dir=$2 i ready
    shift 2
    rm -rf "$dir/out" "$dir/ready" "$dir/go"
    mkdir -p "$dir/out" "$dir/ready"
    RACE_GO=$dir/go
    RACE_PIDS=()
    for i in $(seq 1 "$n"); do
        "$@" "$dir/go" "$dir/ready/" >"$dir/out/$i" 2>&1 &
        RACE_PIDS+=($!)
    done
    wait_for all_ready "$dir/ready" "$n"
    ready=$(ls "$dir/ready" | wc -l)
    local t0
    t0=$(date +%s%N)
    touch "$dir/go"
    for i in "${RACE_PIDS[@]}"; do wait "$i"; done
    RACE_GO=
    RACE_PIDS=()
    # For benchmarks: from the go to the last racer's exit.
    RACE_MS=$((($(date +%s%N) - t0) / 1000000))
    [ "$ready" -ge "$n" ]
}
