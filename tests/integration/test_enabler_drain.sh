#!/usr/bin/env bash
# Draining an enabler with SIGTERM, against a real relay, enablers and
# backends on loopback. Farm web has servers s1 (backend b1) and s2 (b2)
# and active_header = yes, so that a request with s1's affinity value goes
# to s1 while s1 takes requests.
#
# A request held on s1 (/hold) must finish with its whole body after s1's
# enabler got SIGTERM. Meanwhile new requests, also those with s1's
# affinity value, must all go to b2 and succeed, although two requests
# held on s2 make s2 the busier server. The enabler must run until the
# held request finished and then exit 0. An enabler with no request in
# flight must exit 0 within 5 s of SIGTERM or SIGINT.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/relay_lib.sh"

cd "$WORK" || exit 1

HOLD_FIRST=100
HOLD_REST=200000
AFFINITY_HEADER=Drawbridge-Affinity

# fetch_ids COUNT [CURL_ARG...]: sends COUNT requests for /server-id to
# farm web, one after the other, and prints a line per request with the
# status and the body, which is the name of the backend that sent the response.
fetch_ids()
{
    local count=$1 i code
    shift
    for ((i = 0; i < count; i++)); do
        rm -f id.body
        code=$(relay_curl -o id.body -w '%{http_code}' "$@" \
            "$(relay_url web /server-id)" 2>>fetch.err)
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

# backend_requests NAME: prints how many requests backend NAME logged.
backend_requests()
{
    grep -c '"GET ' "$WORK/backend-$1.log"
}

# hold_start NAME AFFINITY: starts a request for /hold?key=NAME to farm web
# in the background, with AFFINITY as its affinity value. Its status,
# body and errors go to NAME.status, NAME.body and NAME.err. Sets
# HOLD_PID.
hold_start()
{
    local name=$1 affinity=$2 path
    path="/hold?key=$name&first=$HOLD_FIRST&rest=$HOLD_REST"
    relay_curl -o "$name.body" -w '%{http_code}' \
        -H "$AFFINITY_HEADER: $affinity" "$(relay_url web "$path")" \
        >"$name.status" 2>"$name.err" &
    HOLD_PID=$!
    BG_PIDS+=("$HOLD_PID")
}

# hold_check NAME PID: waits for the request of hold_start NAME, process
# PID, and checks that it got 200 and the whole body.
hold_check()
{
    local name=$1 pid=$2 status=0 expected
    wait "$pid" || status=$?
    expect_eq "$name request: curl exit status" 0 "$status"
    expect_eq "$name request: HTTP status" 200 "$(cat "$name.status")"
    expect_eq "$name request: body length" $((HOLD_FIRST + HOLD_REST)) \
        "$(wc -c <"$name.body")"
    expected=$(python3 -c "import sys; sys.stdout.write(
        'a' * $HOLD_FIRST + 'b' * $HOLD_REST)" | openssl dgst -sha256 -r |
        cut -d' ' -f1)
    expect_eq "$name request: body" "$expected" \
        "$(openssl dgst -sha256 -r "$name.body" | cut -d' ' -f1)"
}

# expect_prompt_exit NAME SIGNAL PID: PID, an idle enabler, must exit 0
# within 5 s of SIGNAL.
expect_prompt_exit()
{
    local name=$1 signal=$2 pid=$3
    if stop_process "$pid" 5 "$signal"; then
        pass "$name: exits within 5 s of SIG$signal"
    else
        fail "$name: exits within 5 s of SIG$signal"
    fi
    expect_eq "$name: exit status after SIG$signal" 0 "$STOP_STATUS"
}

if ! relay_pki; then
    fail "make the test PKI"
    finish
    exit
fi
relay_config relay.conf farm:web server:web:s1:token-w1 \
    server:web:s2:token-w2
relay_farm_option relay.conf web active_header yes
if ! relay_start relay.conf; then
    fail "relay starts"
    finish
    exit
fi
backend_start b1 && B1_PORT=$BACKEND_PORT &&
    backend_start b2 && B2_PORT=$BACKEND_PORT
if [ -z "${B2_PORT:-}" ]; then
    fail "backends start"
    finish
    exit
fi
if ! enabler_start web s1 token-w1 "$B1_PORT"; then
    fail "enabler s1 starts"
    finish
    exit
fi
S1_PID=$ENABLER_PID
if ! enabler_start web s2 token-w2 "$B2_PORT"; then
    fail "enabler s2 starts"
    finish
    exit
fi
S2_PID=$ENABLER_PID
pass "relay, backends and enablers start"

S1_AFFINITY=$(relay_affinity_value web s1)
S2_AFFINITY=$(relay_affinity_value web s2)
fetch_ids 3 -H "$AFFINITY_HEADER: $S1_AFFINITY" >affine.ids
expect_ids "s1's affinity value before the drain" affine.ids 3 "200 b1"

# Drain s1 while one request is held on it. Two requests held on s2 keep
# s2 busier than s1, so that only the drain can keep the relay from
# picking s1, the server with the fewest requests in flight.

hold_start drain "$S1_AFFINITY"
DRAIN_PID=$HOLD_PID
hold_start busy1 "$S2_AFFINITY"
BUSY1_PID=$HOLD_PID
hold_start busy2 "$S2_AFFINITY"
BUSY2_PID=$HOLD_PID
if wait_log backend-b1.log '"GET /hold\?key=drain&' 1 10; then
    pass "held request reaches b1"
else
    fail "held request reaches b1"
fi
if wait_log backend-b2.log '"GET /hold\?key=busy[12]&' 2 10; then
    pass "both busy requests reach b2"
else
    fail "both busy requests reach b2"
fi

b1_before=$(backend_requests b1)
kill -TERM "$S1_PID"
if wait_log enabler-web-s1.log 'stopping on SIGTERM' 1 10; then
    pass "s1's enabler logs that it stops"
else
    fail "s1's enabler logs that it stops"
fi

# NOTE: the relay logs nothing when a GOAWAY arrives. The enabler sends it
# right after the line above, and each request below makes a TLS
# handshake of its own before the relay receives it.
fetch_ids 10 >drain.ids
expect_ids "during the drain" drain.ids 10 "200 b2"
fetch_ids 5 -H "$AFFINITY_HEADER: $S1_AFFINITY" >drain-affine.ids
expect_ids "during the drain, s1's affinity value" drain-affine.ids 5 \
    "200 b2"
expect_eq "during the drain: b1 gets no new request" "$b1_before" \
    "$(backend_requests b1)"
if process_running "$S1_PID"; then
    pass "s1's enabler runs while the held request is in flight"
else
    fail "s1's enabler runs while the held request is in flight"
fi
if process_running "$DRAIN_PID"; then
    pass "held request is still in flight before the release"
else
    fail "held request is still in flight before the release"
fi

expect_ok "release the held request" curl -sS --max-time 5 --fail \
    -o /dev/null "http://127.0.0.1:$B1_PORT/release?key=drain"
hold_check drain "$DRAIN_PID"
expect_ok "release busy1" curl -sS --max-time 5 --fail -o /dev/null \
    "http://127.0.0.1:$B2_PORT/release?key=busy1"
expect_ok "release busy2" curl -sS --max-time 5 --fail -o /dev/null \
    "http://127.0.0.1:$B2_PORT/release?key=busy2"
hold_check busy1 "$BUSY1_PID"
hold_check busy2 "$BUSY2_PID"

if wait_exit "$S1_PID" 10; then
    pass "s1's enabler exits after the held request"
else
    fail "s1's enabler exits after the held request"
fi
expect_eq "s1's enabler: exit status after the drain" 0 "$STOP_STATUS"
# enabler_start below writes its log anew.
cp enabler-web-s1.log enabler-web-s1-drain.log

held_line=$(grep -En 'server=s1 .*path=[^ ]*/hold status=200 .*result=done' \
    relay.log | cut -d: -f1)
down_line=$(grep -En 'tunnel [0-9]+ down: farm=web server=s1 ' relay.log |
    tail -n 1 | cut -d: -f1)
if [ -n "$held_line" ] && [ -n "$down_line" ] &&
    [ "$held_line" -lt "$down_line" ]; then
    pass "relay logs the held request done before s1's tunnel down"
else
    run grep -E 'server=s1 .*/hold |server=s1 .*down' relay.log
    fail "relay logs the held request done (line ${held_line:-none})" \
        "before s1's tunnel down (line ${down_line:-none})"
fi
run grep -E 'tunnel [0-9]+ down: farm=web server=s1 .*; 0 request\(s\) failed' \
    relay.log
expect_eq "relay: no request failed on s1's tunnel" 0 "$STATUS"
expect_eq "after the drain: relay logs no open tunnel of s1" 0 \
    "$(relay_tunnels web s1)"
expect_eq "after the drain: status page lists no tunnel of s1" 0 \
    "$(relay_status_tunnels web s1)"

fetch_ids 5 >after.ids
expect_ids "after the drain" after.ids 5 "200 b2"

# Enablers with no request in flight.

if enabler_start web s1 token-w1 "$B1_PORT"; then
    pass "s1's enabler starts again"
else
    fail "s1's enabler starts again"
fi
S1_PID=$ENABLER_PID
fetch_ids 3 -H "$AFFINITY_HEADER: $S1_AFFINITY" >again.ids
expect_ids "s1 started again" again.ids 3 "200 b1"
expect_prompt_exit "idle s1" TERM "$S1_PID"
if wait_log relay.log "tunnel [0-9]+ down: farm=web server=s1 " 2 10; then
    pass "idle s1: relay logs its tunnel down"
else
    fail "idle s1: relay logs its tunnel down"
fi

expect_prompt_exit "idle s2" INT "$S2_PID"
if wait_log relay.log "tunnel [0-9]+ down: farm=web server=s2 " 1 10; then
    pass "idle s2: relay logs its tunnel down"
else
    fail "idle s2: relay logs its tunnel down"
fi
fetch_ids 1 >none.ids
expect_ids "no server left" none.ids 1 "503 .*"

stop_process "$RELAY_PID" 10
expect_eq "relay exits 0 on SIGTERM" 0 "$STOP_STATUS"
expect_no_sanitizer_report "relay and enablers log no sanitizer report" \
    relay.log enabler-*.log

if [ "$FAILED" -gt 0 ]; then
    for log in relay.log enabler-*.log backend-b1.log drain.err fetch.err; do
        echo "--- $log"
        tail -n 30 "$log" 2>/dev/null
    done
fi
finish
