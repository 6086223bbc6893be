# Shared helpers for integration tests. Each test script sources this file,
# runs the real drawbridge binary ($DRAWBRIDGE, set by CTest) against real
# peers on loopback, and ends with `finish`, which prints
# "N passed, N failed" and sets the exit status.
#
# Every background process started with `start_bg` is killed on exit, and
# the scratch directory $WORK is removed, even when a check fails.

set -u

: "${DRAWBRIDGE:?set DRAWBRIDGE to the drawbridge binary}"
DRAWBRIDGE=$(readlink -f "$DRAWBRIDGE")
WORK=$(mktemp -d "${TMPDIR:-/tmp}/drawbridge-test.XXXXXX")
PASSED=0
FAILED=0
BG_PIDS=()
OUT="$WORK/last.out"
ERR="$WORK/last.err"

cleanup()
{
    local pid
    for pid in "${BG_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${BG_PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

db()
{
    "$DRAWBRIDGE" "$@"
}

pass()
{
    PASSED=$((PASSED + 1))
    echo "ok: $1"
}

fail()
{
    FAILED=$((FAILED + 1))
    echo "FAILED: $1"
    if [ -s "$OUT" ]; then
        sed 's/^/    stdout: /' "$OUT" | head -n 20
    fi
    if [ -s "$ERR" ]; then
        sed 's/^/    stderr: /' "$ERR" | head -n 20
    fi
}

# run CMD...: runs CMD with its output in $OUT and $ERR; sets STATUS.
run()
{
    STATUS=0
    "$@" >"$OUT" 2>"$ERR" || STATUS=$?
}

# expect_ok NAME CMD...: CMD must exit 0.
expect_ok()
{
    local name=$1
    shift
    run "$@"
    if [ "$STATUS" -eq 0 ]; then
        pass "$name"
    else
        fail "$name (exit $STATUS)"
    fi
}

# expect_fail NAME REGEX CMD...: CMD must exit non-zero and print a line
# matching the extended REGEX on stdout or stderr.
expect_fail()
{
    local name=$1 pattern=$2
    shift 2
    run "$@"
    if [ "$STATUS" -eq 0 ]; then
        fail "$name (exit 0, expected a failure)"
    elif ! cat "$OUT" "$ERR" | grep -Eq -- "$pattern"; then
        fail "$name (no line matches /$pattern/)"
    else
        pass "$name"
    fi
}

# expect_output NAME REGEX: the last command's stdout or stderr must match.
expect_output()
{
    if cat "$OUT" "$ERR" | grep -Eq -- "$2"; then
        pass "$1"
    else
        fail "$1 (no line matches /$2/)"
    fi
}

# expect_no_output NAME REGEX: no line of the last command may match.
expect_no_output()
{
    if cat "$OUT" "$ERR" | grep -Eq -- "$2"; then
        fail "$1 (a line matches /$2/)"
    else
        pass "$1"
    fi
}

# expect_eq NAME EXPECTED ACTUAL
expect_eq()
{
    if [ "$2" = "$3" ]; then
        pass "$1"
    else
        FAILED=$((FAILED + 1))
        echo "FAILED: $1: expected '$2', got '$3'"
    fi
}

# expect_absent NAME PATH...: none of the paths may exist.
expect_absent()
{
    local name=$1 path
    shift
    for path in "$@"; do
        if [ -e "$path" ]; then
            FAILED=$((FAILED + 1))
            echo "FAILED: $name: $path exists"
            return
        fi
    done
    pass "$name"
}

# free_port: prints a TCP port on 127.0.0.1 that was free a moment ago.
free_port()
{
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_bg LOG CMD...: starts CMD in the background with its output in LOG.
# Sets BG_PID.
start_bg()
{
    local log=$1
    shift
    "$@" >"$log" 2>&1 &
    BG_PID=$!
    BG_PIDS+=("$BG_PID")
}

# wait_port PORT: waits up to 10 s for a listener on 127.0.0.1:PORT.
wait_port()
{
    local i
    for i in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    echo "nothing listens on 127.0.0.1:$1 after 10 s"
    return 1
}

finish()
{
    echo "$PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ]
}
