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

cleanup() {
    stop_mock
    rm -rf "$WX_TMP"
}
trap cleanup EXIT

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

# all_ready DIR N: DIR holds at least N entries.
all_ready() { [ "$(ls "$1" | wc -l)" -ge "$2" ]; }

# race N DIR CMD...: starts N copies of `CMD... GO READY`, where each worker
# touches READY<pid> once it is up and then waits for the file GO; when all
# N are waiting (or after WAIT_SECS), creates GO so they ask at once, and waits
# for them. Each worker's output is in DIR/out/1..N. Fails if not all N
# became ready in time. Sets RACE_MS: milliseconds from the go to the end.
race() {
    local n=$1 dir=$2 i ready
    shift 2
    rm -rf "$dir/out" "$dir/ready" "$dir/go"
    mkdir -p "$dir/out" "$dir/ready"
    local pids=()
    for i in $(seq 1 "$n"); do
        "$@" "$dir/go" "$dir/ready/" >"$dir/out/$i" 2>&1 &
        pids+=($!)
    done
    wait_for all_ready "$dir/ready" "$n"
    ready=$(ls "$dir/ready" | wc -l)
    local t0
    t0=$(date +%s%N)
    touch "$dir/go"
    for i in "${pids[@]}"; do wait "$i"; done
    # For benchmarks: from the go to the last racer's exit.
    RACE_MS=$((($(date +%s%N) - t0) / 1000000))
    [ "$ready" -ge "$n" ]
}
