#!/usr/bin/env bash
# The enabler's --status-url against a real relay, enablers and backends on
# loopback. Farm web has servers s1 and s2, and only s1's enabler polls
# /health of its backend b1. Farm solo has s1 alone, whose enabler polls
# /health of b3. The test switches a backend's /health with /set-health.
#
# While /health responds with 503, hangs for longer than the enabler's 5 s
# poll timeout, or the backend is stopped, the enabler must keep its
# tunnels closed: farm web's requests all go to b2 and succeed, and farm
# solo's get 503 with Retry-After. Once /health responds with 200 again,
# the enabler must reconnect without help and its backend must get
# requests again.
#
# Every wait polls a log, for up to 15 s for the enabler's "is down" line
# (a hanging poll takes 5 s) and 10 s otherwise, so the test depends on no
# exact timing.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/relay_lib.sh"

cd "$WORK" || exit 1

# set_health PORT STATUS: sets /health of the backend on PORT to STATUS, a
# status or "hang".
set_health()
{
    curl -sS --max-time 5 -o /dev/null --fail \
        "http://127.0.0.1:$1/set-health?status=$2"
}

# fetch_ids FARM COUNT: sends COUNT requests for /server-id through the
# relay, one after the other, and prints a line per request with the status
# and the body, which is the name of the backend that sent the response.
fetch_ids()
{
    local farm=$1 count=$2 i code
    for ((i = 0; i < count; i++)); do
        rm -f id.body
        code=$(relay_curl -o id.body -w '%{http_code}' \
            "$(relay_url "$farm" /server-id)" 2>>fetch.err)
        echo "$code $(head -n 1 id.body 2>/dev/null)"
    done
}

# expect_ids NAME FILE COUNT REGEX: FILE, as fetch_ids wrote it, must have
# COUNT lines, and each must match the extended REGEX. A failure shows
# how often each line occurs.
expect_ids()
{
    local name=$1 file=$2 count=$3 pattern=$4 lines matched
    lines=$(wc -l <"$file")
    matched=$(grep -Ec -- "^($pattern)\$" "$file")
    if [ "$lines" -eq "$count" ] && [ "$matched" -eq "$count" ]; then
        pass "$name: $count responses match /$pattern/"
    else
        sort "$file" | uniq -c >"$OUT"
        : >"$ERR"
        fail "$name: $count responses match /$pattern/ ($matched of $lines)"
    fi
}

# fetch_status FARM: sends one request for /server-id to FARM and sets
# FETCH_STATUS, with the response head in head.txt and the body in id.body.
fetch_status()
{
    rm -f head.txt id.body
    FETCH_STATUS=$(relay_curl -D head.txt -o id.body -w '%{http_code}' \
        "$(relay_url "$1" /server-id)" 2>>fetch.err)
}

# expect_no_server FARM CASE: a request to FARM must get 503 with
# Retry-After, as for a farm without connected server.
expect_no_server()
{
    fetch_status "$1"
    expect_eq "$2: $1 answers 503" 503 "$FETCH_STATUS"
    if grep -Eiq '^Retry-After: *[0-9]+' head.txt; then
        pass "$2: the 503 has Retry-After"
    else
        fail "$2: the 503 has Retry-After (head: $(tr -d '\r' <head.txt |
            tr '\n' '|'))"
    fi
}

# fail_with_log NAME LOG: fails check NAME and shows the end of LOG.
fail_with_log()
{
    run tail -n 8 "$2"
    fail "$1"
}

# wait_down CASE FARM PORT COUNT CAUSE: waits until the enabler of server
# s1 of FARM logged its backend on PORT down COUNT times, the last time
# for CAUSE (an extended regex). Then waits until the relay logged COUNT
# tunnels of s1 down.
wait_down()
{
    local name=$1 farm=$2 port=$3 count=$4 cause=$5 log down
    log="$WORK/enabler-$farm-s1.log"
    down="backend 127\.0\.0\.1:$port is down: /health "
    if ! wait_log "$log" "$down" "$count" 15; then
        fail_with_log "$name: enabler logs its backend down" "$log"
    elif grep -E -- "$down" "$log" | tail -n 1 | grep -Eq -- "$down$cause"
    then
        pass "$name: enabler logs its backend down"
    else
        fail_with_log "$name: enabler logs its backend down for /$cause/" \
            "$log"
    fi
    if wait_log "$RELAY_LOG" "tunnel [0-9]+ down: farm=$farm server=s1 " \
        "$count" 10; then
        pass "$name: relay logs s1's tunnel down"
    else
        fail_with_log "$name: relay logs s1's tunnel down" "$RELAY_LOG"
    fi
    expect_eq "$name: relay logs no open tunnel of s1" 0 \
        "$(relay_tunnels "$farm" s1)"
    expect_eq "$name: status page lists no tunnel of s1" 0 \
        "$(relay_status_tunnels "$farm" s1)"
}

# wait_up CASE FARM PORT COUNT: waits until the enabler of server s1 of FARM
# logged its backend on PORT back COUNT times, and then until the relay
# logged COUNT + 1 tunnels of s1 up.
wait_up()
{
    local name=$1 farm=$2 port=$3 count=$4 log back
    log="$WORK/enabler-$farm-s1.log"
    back="backend 127\.0\.0\.1:$port responds to /health with 200 again; "
    back+="reopening the tunnels"
    if wait_log "$log" "$back" "$count" 10; then
        pass "$name: enabler logs its backend back"
    else
        fail_with_log "$name: enabler logs its backend back" "$log"
    fi
    if wait_log "$RELAY_LOG" "tunnel [0-9]+ up: farm=$farm server=s1 " \
        $((count + 1)) 10; then
        pass "$name: s1's tunnel comes back up"
    else
        fail_with_log "$name: s1's tunnel comes back up" "$RELAY_LOG"
    fi
    expect_eq "$name: relay logs one open tunnel of s1" 1 \
        "$(relay_tunnels "$farm" s1)"
    expect_eq "$name: status page lists one tunnel of s1" 1 \
        "$(relay_status_tunnels "$farm" s1)"
}

if ! relay_pki; then
    fail "make the test PKI"
    finish
    exit
fi
relay_config relay.conf farm:web server:web:s1:token-w1 \
    server:web:s2:token-w2 farm:solo server:solo:s1:token-o1
if ! relay_start relay.conf; then
    fail "relay starts"
    finish
    exit
fi
backend_start b1 && B1_PORT=$BACKEND_PORT &&
    backend_start b2 && B2_PORT=$BACKEND_PORT &&
    backend_start b3 && B3_PORT=$BACKEND_PORT &&
    B3_PID=$BACKEND_PID
if [ -z "${B3_PID:-}" ]; then
    fail "backends start"
    finish
    exit
fi
if ! enabler_start web s1 token-w1 "$B1_PORT" --status-url /health \
    --status-interval 0.2; then
    fail "enabler web/s1 starts"
    finish
    exit
fi
WEB_S1_PID=$ENABLER_PID
if ! enabler_start web s2 token-w2 "$B2_PORT"; then
    fail "enabler web/s2 starts"
    finish
    exit
fi
WEB_S2_PID=$ENABLER_PID
if ! enabler_start solo s1 token-o1 "$B3_PORT" --status-url /health \
    --status-interval 0.2; then
    fail "enabler solo/s1 starts"
    finish
    exit
fi
SOLO_PID=$ENABLER_PID
pass "relay, backends and enablers start"

# Farm web: s1's health goes from 200 to 503 and back.

fetch_ids web 10 >healthy.ids
expect_ids "web, both healthy" healthy.ids 10 "200 b1|200 b2"
if grep -q ' b1$' healthy.ids && grep -q ' b2$' healthy.ids; then
    pass "web, both healthy: requests reach b1 and b2"
else
    fail "web, both healthy: requests reach b1 and b2 ($(tr '\n' ',' \
        <healthy.ids))"
fi

expect_ok "b1's /health set to 503" set_health "$B1_PORT" 503
wait_down "web, s1's /health 503" web "$B1_PORT" 1 \
    "it answered with another status \(status 503\)"
run grep -E 'tunnel .* down: relay=.*: the backend is down' enabler-web-s1.log
expect_eq "web: enabler logs why it closed its tunnel" 0 "$STATUS"

fetch_ids web 10 >down.ids
expect_ids "web, s1 down" down.ids 10 "200 b2"
expect_eq "web, s1 down: relay still logs no open tunnel of s1" 0 \
    "$(relay_tunnels web s1)"
expect_eq "web, s1 down: status page still lists no tunnel of s1" 0 \
    "$(relay_status_tunnels web s1)"
if process_running "$WEB_S1_PID"; then
    pass "web, s1 down: enabler keeps running"
else
    fail "web, s1 down: enabler keeps running"
fi

expect_ok "b1's /health set to 200" set_health "$B1_PORT" 200
wait_up "web, s1's /health 200 again" web "$B1_PORT" 1
fetch_ids web 10 >back.ids
expect_ids "web, s1 back" back.ids 10 "200 b1|200 b2"
if grep -q ' b1$' back.ids; then
    pass "web, s1 back: requests reach b1 again"
else
    fail "web, s1 back: requests reach b1 again ($(tr '\n' ',' <back.ids))"
fi

# Farm solo: without s1 the relay responds with 503, not 502.

fetch_status solo
expect_eq "solo, healthy: request succeeds" "200 b3" \
    "$FETCH_STATUS $(cat id.body 2>/dev/null)"

expect_ok "b3's /health set to 503" set_health "$B3_PORT" 503
wait_down "solo, /health 503" solo "$B3_PORT" 1 \
    "it answered with another status \(status 503\)"
expect_no_server solo "solo, /health 503"
run grep -E 'request .*status=503 reason="no server of farm solo is connected' \
    "$RELAY_LOG"
expect_eq "solo, /health 503: relay logs no connected server" 0 "$STATUS"

expect_ok "b3's /health set to 200" set_health "$B3_PORT" 200
wait_up "solo, /health 200 again" solo "$B3_PORT" 1
fetch_status solo
expect_eq "solo, /health 200 again: request succeeds" "200 b3" \
    "$FETCH_STATUS $(cat id.body 2>/dev/null)"

# A /health that sends nothing for longer than the poll timeout (5 s).

expect_ok "b3's /health set to hang" set_health "$B3_PORT" hang
wait_down "solo, /health hangs" solo "$B3_PORT" 2 "did not answer in time"
expect_no_server solo "solo, /health hangs"

expect_ok "b3's /health set to 200 after hang" set_health "$B3_PORT" 200
wait_up "solo, /health answers again" solo "$B3_PORT" 2
fetch_status solo
expect_eq "solo, /health answers again: request succeeds" "200 b3" \
    "$FETCH_STATUS $(cat id.body 2>/dev/null)"

# A stopped backend: the poll's connection is refused.

stop_process "$B3_PID" 10
wait_down "solo, backend stopped" solo "$B3_PORT" 3 "could not be reached"
expect_no_server solo "solo, backend stopped"

if backend_start_on b3 "$B3_PORT"; then
    pass "b3 starts again on its port"
else
    fail "b3 starts again on its port"
fi
wait_up "solo, backend started again" solo "$B3_PORT" 3
fetch_status solo
expect_eq "solo, backend started again: request succeeds" "200 b3" \
    "$FETCH_STATUS $(cat id.body 2>/dev/null)"

# Shutdown.

stop_process "$WEB_S1_PID" 10
expect_eq "enabler web/s1 exits 0 on SIGTERM" 0 "$STOP_STATUS"
stop_process "$WEB_S2_PID" 10
expect_eq "enabler web/s2 exits 0 on SIGTERM" 0 "$STOP_STATUS"
stop_process "$SOLO_PID" 10
expect_eq "enabler solo/s1 exits 0 on SIGTERM" 0 "$STOP_STATUS"
stop_process "$RELAY_PID" 10
expect_eq "relay exits 0 on SIGTERM" 0 "$STOP_STATUS"
expect_no_sanitizer_report "relay and enablers log no sanitizer report" \
    relay.log enabler-*.log

if [ "$FAILED" -gt 0 ]; then
    for log in relay.log enabler-*.log fetch.err; do
        echo "--- $log"
        tail -n 30 "$log" 2>/dev/null
    done
fi
finish
