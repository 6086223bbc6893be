#!/usr/bin/env bash
# Liveness of tunnels, with a real relay, two enablers and two backend.py
# servers on loopback, all with ping_interval 0.5 s and ping_timeout 2 s.
# Idle tunnels stay up on PINGs. An enabler stopped with SIGSTOP loses its
# tunnel, its request in flight fails at once, and new requests go to the
# other server. After SIGCONT the enabler reconnects. A stopped relay makes
# both enablers reconnect, and both come back to a relay that was killed
# and started again on the same ports.
#
# Waits poll the logs for up to 10 or 15 s and never assert how long
# something took, so a slow machine does not fail the test.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/relay_lib.sh"

cd "$WORK" || exit 1

if ! relay_pki; then
    fail "make the test PKI"
    finish
    exit
fi
relay_config relay.conf option:ping_interval=0.5 option:ping_timeout=2 \
    farm:live server:live:s1:token-s1 server:live:s2:token-s2
if ! relay_start relay.conf; then
    fail "relay starts"
    finish
    exit
fi
pass "relay starts"
FIRST_RELAY_LOG=$RELAY_LOG
LIVE=$(relay_url live /)
LIVE=${LIVE%/}

if ! backend_start b1; then
    fail "backend b1 starts"
    finish
    exit
fi
B1_PORT=$BACKEND_PORT
if ! backend_start b2; then
    fail "backend b2 starts"
    finish
    exit
fi
B2_PORT=$BACKEND_PORT

ENABLER_ARGS=(--ping-interval 0.5 --ping-timeout 2
    --retry-delay 0.2 --retry-max-delay 1)
if ! enabler_start live s1 token-s1 "$B1_PORT" "${ENABLER_ARGS[@]}"; then
    fail "enabler s1 connects"
    finish
    exit
fi
S1_PID=$ENABLER_PID
S1_LOG=$ENABLER_LOG
if ! enabler_start live s2 token-s2 "$B2_PORT" "${ENABLER_ARGS[@]}"; then
    fail "enabler s2 connects"
    finish
    exit
fi
S2_PID=$ENABLER_PID
S2_LOG=$ENABLER_LOG
pass "both enablers connect"

# log_count FILE REGEX: prints how many lines of FILE match.
log_count()
{
    grep -Ec -- "$2" "$1" 2>/dev/null || true
}

# up_line SERVER and down_line SERVER: the relay's log lines for a tunnel
# of SERVER that opens or closes.
up_line()
{
    echo "tunnel [0-9]+ up: farm=live server=$1 "
}

down_line()
{
    echo "tunnel [0-9]+ down: farm=live server=$1 "
}

# served_by COUNT: sends COUNT requests for /server-id one after another
# and prints the backend name of each response, one a line, or "error"
# for a request that failed.
served_by()
{
    local i id
    for ((i = 0; i < $1; i++)); do
        if ! id=$(relay_curl --fail "$LIVE/server-id" 2>/dev/null); then
            id=error
        fi
        echo "$id"
    done
}

# expect_served NAME COUNT BACKEND: COUNT requests must all be served by
# BACKEND.
expect_served()
{
    local name=$1 count=$2 backend=$3 names
    names=$(served_by "$count" | sort | uniq -c | sed 's/^ *//' |
        tr '\n' ' ')
    expect_eq "$name" "$count $backend " "$names"
}

# expect_both_serve NAME: of 10 requests, b1 serves some and b2 the rest.
expect_both_serve()
{
    local names
    names=$(served_by 10)
    if grep -qx b1 <<<"$names" && grep -qx b2 <<<"$names" &&
        ! grep -qx error <<<"$names"; then
        pass "$1"
    else
        fail "$1 (served by: $(sort <<<"$names" | uniq -c | tr '\n' ' '))"
    fi
}

expect_both_serve "both servers serve requests"

# Idle tunnels stay up: for 5 s, more than twice ping_timeout, neither end
# receives anything but PINGs and their ACKs.

sleep 5
expect_eq "relay keeps idle tunnels up on PINGs" 0 \
    "$(log_count "$RELAY_LOG" "tunnel [0-9]+ down: ")"
expect_eq "enablers keep idle tunnels up on PINGs" 0 \
    "$(cat "$S1_LOG" "$S2_LOG" | grep -Ec "tunnel [0-9]+ down: ")"
expect_both_serve "both servers serve after the idle time"

# A request held on s1. The relay takes turns between idle servers, so a
# few attempts put one on b1. b1's log names the request once its
# handler runs.

# hold_request KEY: starts a client for /hold?key=KEY in the background
# with its body in held-KEY.out and its status code in held-KEY.code.
# Sets HOLD_PID, and HOLD_BACKEND to the backend that received the
# request, or to "none".
hold_request()
{
    local key=$1 backend
    relay_curl --max-time 30 -N -o "held-$key.out" -w '%{http_code}' \
        "$LIVE/hold?key=$key&first=100" >"held-$key.code" \
        2>"held-$key.err" &
    HOLD_PID=$!
    HOLD_BACKEND=none
    for _ in $(seq 1 200); do
        for backend in b1 b2; do
            if grep -qF "\"GET /hold?key=$key&" "backend-$backend.log"; then
                HOLD_BACKEND=$backend
                return 0
            fi
        done
        sleep 0.05
    done
}

for attempt in 1 2 3 4; do
    KEY=held$attempt
    hold_request "$KEY"
    echo "hold request $KEY reached $HOLD_BACKEND"
    if [ "$HOLD_BACKEND" = b1 ]; then
        break
    fi
    if [ "$HOLD_BACKEND" = b2 ]; then
        curl -sS --max-time 10 -o /dev/null \
            "http://127.0.0.1:$B2_PORT/release?key=$KEY" || true
    fi
    wait "$HOLD_PID" 2>/dev/null
done
expect_eq "a request is held on b1" b1 "$HOLD_BACKEND"
for _ in $(seq 1 200); do
    [ "$(stat -c %s "held-$KEY.out" 2>/dev/null || echo 0)" -ge 100 ] && break
    sleep 0.05
done
expect_eq "the held request's first chunk reaches the client" 100 \
    "$(stat -c %s "held-$KEY.out" 2>/dev/null)"

# SIGSTOP of the s1 enabler: its tunnel sends no frames any more.

s1_ups=$(log_count "$RELAY_LOG" "$(up_line s1)")
kill -STOP "$S1_PID"

# s1 still has a tunnel and the held request, and s2 has no request in
# flight, so the relay sends new requests to s2 meanwhile.
expect_served "requests while s1 is stopped go to b2" 10 b2

dead="$(down_line s1)from .*: no frame from the enabler within ping_timeout"
if wait_log "$RELAY_LOG" "$dead" 1 10; then
    pass "relay closes the tunnel of the stopped enabler"
else
    fail "relay closes the tunnel of the stopped enabler"
fi
expect_eq "the down line counts the held request as failed" 1 \
    "$(log_count "$RELAY_LOG" "$dead.*; 1 request\(s\) failed")"

hold_status=0
wait "$HOLD_PID" || hold_status=$?
hold_code=$(cat "held-$KEY.code")
hold_size=$(stat -c %s "held-$KEY.out")
echo "held request: curl exit $hold_status, HTTP $hold_code, $hold_size bytes"
if [ "$hold_status" -eq 28 ]; then
    fail "held request fails at once, not on the client's timeout"
elif [ "$hold_status" -ne 0 ] || [ "$hold_code" = 502 ]; then
    pass "held request fails at once (curl exit $hold_status, HTTP $hold_code)"
else
    fail "held request fails at once (curl exit 0, HTTP $hold_code)"
fi
if [ "$hold_size" -lt 101 ]; then
    pass "held request's body is not complete"
else
    fail "held request's body is not complete ($hold_size bytes)"
fi
lost="server=s1 method=GET path=$RELAY_CLIENT_PREFIX/live/hold .*result=tunnel-lost"
if wait_log "$RELAY_LOG" "$lost" 1 10; then
    pass "relay logs the held request as tunnel-lost"
else
    fail "relay logs the held request as tunnel-lost"
fi

expect_served "requests after the tunnel closed go to b2" 10 b2
expect_eq "the stopped enabler has no new tunnel" "$s1_ups" \
    "$(log_count "$RELAY_LOG" "$(up_line s1)")"

# SIGCONT: the enabler finds its tunnel closed and reconnects by itself.

kill -CONT "$S1_PID"
if wait_log "$RELAY_LOG" "$(up_line s1)" $((s1_ups + 1)) 15; then
    pass "enabler s1 reconnects after SIGCONT"
else
    fail "enabler s1 reconnects after SIGCONT"
fi
expect_both_serve "both servers serve after s1 reconnected"
curl -sS --max-time 10 -o /dev/null \
    "http://127.0.0.1:$B1_PORT/release?key=$KEY" || true

# SIGSTOP of the relay: both enablers notice the silence, close their
# tunnels, and reconnect once the relay runs again.

s1_ups=$(log_count "$RELAY_LOG" "$(up_line s1)")
s2_ups=$(log_count "$RELAY_LOG" "$(up_line s2)")
kill -STOP "$RELAY_PID"
silent="tunnel [0-9]+ down: relay=.*: no frame from the relay within the ping timeout"
for log in "$S1_LOG" "$S2_LOG"; do
    name=$(basename "$log" .log)
    if wait_log "$log" "$silent" 1 10; then
        pass "$name closes its tunnel to the stopped relay"
    else
        fail "$name closes its tunnel to the stopped relay"
    fi
done
kill -CONT "$RELAY_PID"
for server in s1 s2; do
    ups=$s1_ups
    [ "$server" = s2 ] && ups=$s2_ups
    if wait_log "$RELAY_LOG" "$(up_line "$server")" $((ups + 1)) 15; then
        pass "enabler $server reconnects after the relay's SIGCONT"
    else
        fail "enabler $server reconnects after the relay's SIGCONT"
    fi
done
expect_both_serve "both servers serve after the relay's SIGCONT"

# SIGKILL of the relay, then a new relay on the same ports: both enablers
# reconnect without help.

if stop_process "$RELAY_PID" 5 KILL; then
    pass "relay stops on SIGKILL"
fi
if ! relay_start relay.conf "$WORK/relay-restarted.log"; then
    fail "relay starts again on the same ports"
    finish
    exit
fi
pass "relay starts again on the same ports"
for server in s1 s2; do
    if wait_log "$RELAY_LOG" "$(up_line "$server")" 1 15; then
        pass "enabler $server reconnects to the restarted relay"
    else
        fail "enabler $server reconnects to the restarted relay"
    fi
done
expect_both_serve "both servers serve through the restarted relay"
for pid in "$S1_PID" "$S2_PID"; do
    if process_running "$pid"; then
        pass "enabler $pid still runs"
    else
        fail "enabler $pid still runs"
    fi
done

# SIGTERM stops everything with status 0, and a sanitizer build reports
# nothing, leaks included. The first relay died on SIGKILL, so it wrote
# no leak report.

for pid in "$S1_PID" "$S2_PID" "$RELAY_PID"; do
    stop_process "$pid" 10
    expect_eq "process $pid exits 0 on SIGTERM" 0 "$STOP_STATUS"
done
expect_no_sanitizer_report "relays and enablers log no sanitizer report" \
    ./*.log

if [ "$FAILED" -gt 0 ]; then
    for log in "$FIRST_RELAY_LOG" "$RELAY_LOG" "$S1_LOG" "$S2_LOG"; do
        echo "--- $log"
        tail -n 40 "$log"
    done
fi
finish
