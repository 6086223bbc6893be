#!/usr/bin/env bash
# A relay farm of two relays behind a real HAProxy, configured from
# examples/haproxy.cfg: TCP mode, round robin, health checks and PROXY
# protocol v2 headers, which both relays accept from trusted_proxies =
# 127.0.0.1. Farm shop has active_cookie = yes and servers s1 (backend b1)
# and s2 (backend b2). The enabler of s1 is given relay1 only and that of s2
# relay2 only, so each must learn the other relay from the header
# Drawbridge-Relay-Peers of its relay's 101 response.
#
# Checks: both relays have tunnels from both servers; the relays log
# curl's own address and port from the PROXY header; a cookie keeps 20
# requests on one backend while HAProxy alternates the relays; and in 1000
# requests through HAProxy, with relay1 killed by SIGKILL after about 300,
# every request either gets the whole body or fails at once, none hangs,
# and every request that starts after relay1 is gone succeeds on relay2.
#
# Needs haproxy. The test installs it with apt-get when it is missing, and
# is skipped (exit 0) only when that fails.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/relay_lib.sh"

EXAMPLES=$(readlink -f "$(dirname "$0")/../../examples")
REQUESTS=1000
KILL_AFTER=300
PARALLEL=8
BODY_SIZE=65536
BODY_SEED=haproxy

cd "$WORK" || exit 1

# find_haproxy: prints the haproxy binary, which /usr/sbin may hold
# outside a non-root user's PATH.
find_haproxy()
{
    command -v haproxy || command -v /usr/sbin/haproxy
}

if ! HAPROXY=$(find_haproxy); then
    echo "haproxy is missing; installing it with apt-get"
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        sudo="sudo -n"
    fi
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq >"$WORK/apt.log" 2>&1
    $sudo apt-get install -y -qq --no-install-recommends haproxy \
        >>"$WORK/apt.log" 2>&1
    if ! HAPROXY=$(find_haproxy); then
        echo "skipped: haproxy is not installed and apt-get could not" \
            "install it; run scripts/install-deps.sh. apt-get's output:"
        tail -n 5 "$WORK/apt.log" | sed 's/^/    /'
        exit 0
    fi
fi
echo "using $("$HAPROXY" -v | head -n 1)"

expect_ok "examples/haproxy.cfg is valid" \
    "$HAPROXY" -c -f "$EXAMPLES/haproxy.cfg"

# Setup: two relays, two backends and two enablers.

if ! relay_pki; then
    fail "make the test PKI"
    finish
    exit
fi
relay_farm_config relay.conf 2 option:trusted_proxies=127.0.0.1 \
    farm:shop server:shop:s1:token-s1 server:shop:s2:token-s2
relay_farm_option relay.conf shop active_cookie yes
R1_PORT=${RELAY_FARM_PORTS[0]}
R2_PORT=${RELAY_FARM_PORTS[1]}

if ! relay_farm_start relay.conf 1; then
    fail "relay1 starts"
    finish
    exit
fi
R1_PID=$RELAY_PID
R1_LOG=$RELAY_LOG
if ! relay_farm_start relay.conf 2; then
    fail "relay2 starts"
    finish
    exit
fi
R2_LOG=$RELAY_LOG
R2_PID=$RELAY_PID
pass "both relays start"

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

# Each enabler_start names one relay and waits for its tunnel on it.
RELAY_LOG=$R1_LOG
RELAY_HTTPS_PORT=$R1_PORT
if ! enabler_start shop s1 token-s1 "$B1_PORT" --retry-delay 0.2 \
    --retry-max-delay 1; then
    fail "enabler s1 connects to relay1"
    finish
    exit
fi
E1_PID=$ENABLER_PID
E1_LOG=$ENABLER_LOG
RELAY_LOG=$R2_LOG
RELAY_HTTPS_PORT=$R2_PORT
if ! enabler_start shop s2 token-s2 "$B2_PORT" --retry-delay 0.2 \
    --retry-max-delay 1; then
    fail "enabler s2 connects to relay2"
    finish
    exit
fi
E2_PID=$ENABLER_PID
E2_LOG=$ENABLER_LOG

# expect_tunnel NAME LOG SERVER: LOG must show a tunnel of SERVER coming
# up within 10 s.
expect_tunnel()
{
    if wait_log "$2" "tunnel [0-9]+ up: farm=shop server=$3 " 1 10; then
        pass "$1"
    else
        fail "$1"
        sed 's/^/    log: /' "$2" | tail -n 20
    fi
}

expect_tunnel "relay1 has a tunnel from s1" "$R1_LOG" s1
expect_tunnel "relay1 has a tunnel from s2, which was given relay2" \
    "$R1_LOG" s2
expect_tunnel "relay2 has a tunnel from s2" "$R2_LOG" s2
expect_tunnel "relay2 has a tunnel from s1, which was given relay1" \
    "$R2_LOG" s1

# HAProxy, with examples/haproxy.cfg's placeholders replaced: the frontend
# on 127.0.0.1 only, the relays' addresses, and a check every 200 ms so
# that relay1 is marked down within about half a second.

HAPROXY_PORT=$(free_port)
sed -e "s/^\( *bind\) :443\$/\1 127.0.0.1:$HAPROXY_PORT/" \
    -e "s/192\.0\.2\.11:443/127.0.0.1:$R1_PORT/" \
    -e "s/192\.0\.2\.12:443/127.0.0.1:$R2_PORT/" \
    -e "s/ inter 2s / inter 200ms /" \
    "$EXAMPLES/haproxy.cfg" >haproxy.cfg

# expect_lines NAME COUNT REGEX: haproxy.cfg must have COUNT lines that
# match the extended REGEX.
expect_lines()
{
    expect_eq "$1" "$2" "$(grep -Ec -- "$3" haproxy.cfg)"
}

expect_lines "haproxy.cfg binds 127.0.0.1 only" 1 \
    "^ *bind 127\.0\.0\.1:$HAPROXY_PORT\$"
expect_lines "haproxy.cfg has no other bind" 1 "^ *bind "
expect_lines "haproxy.cfg balances round robin" 1 "^ *balance roundrobin\$"
expect_lines "haproxy.cfg checks relay1 every 200 ms with PROXY v2" 1 \
    "^ *server relay1 127\.0\.0\.1:$R1_PORT check inter 200ms .*send-proxy-v2"
expect_lines "haproxy.cfg checks relay2 every 200 ms with PROXY v2" 1 \
    "^ *server relay2 127\.0\.0\.1:$R2_PORT check inter 200ms .*send-proxy-v2"
expect_lines "haproxy.cfg names no placeholder address" 0 "^[^#]*192\.0\.2\."

start_bg "$WORK/haproxy.log" "$HAPROXY" -db -f haproxy.cfg
HAPROXY_PID=$BG_PID
if ! wait_ports "$HAPROXY_PID" "$HAPROXY_PORT"; then
    fail "haproxy starts"
    sed 's/^/    haproxy: /' "$WORK/haproxy.log"
    finish
    exit
fi
pass "haproxy starts"

BASE="https://localhost:$HAPROXY_PORT$RELAY_CLIENT_PREFIX/shop"

# via_haproxy ARG...: curl through HAProxy, trusting the test CA.
via_haproxy()
{
    curl -sS --max-time 10 --cacert "$WORK/pki/ca.crt" \
        --resolve "localhost:$HAPROXY_PORT:127.0.0.1" "$@"
}

# relay_of LOG_REGEX: prints which relay logged a line matching the
# extended regex: relay1, relay2, both or none.
relay_of()
{
    local in1=0 in2=0
    grep -Eq -- "$1" "$R1_LOG" && in1=1
    grep -Eq -- "$1" "$R2_LOG" && in2=1
    case $in1$in2 in
    10) echo relay1 ;;
    01) echo relay2 ;;
    11) echo both ;;
    *) echo none ;;
    esac
}

# Client addresses from the PROXY header. curl prints its own port, which
# the request log line of the relay that served it must show. HAProxy
# connects to the relays from ports of its own, so a relay that ignored the
# header would log another port.

declare -A PROBE_RELAY
for probe in 1 2; do
    run via_haproxy -o /dev/null -w '%{http_code} %{local_ip} %{local_port}' \
        "$BASE/server-id"
    read -r code ip port <"$OUT"
    expect_eq "probe $probe through haproxy is 200" 200 "$code"
    line="request client=$ip:$port farm=shop .* path=[^ ]*/shop/server-id "
    relay=$(relay_of "$line")
    if [ "$relay" = relay1 ] || [ "$relay" = relay2 ]; then
        pass "probe $probe: $relay logs curl's address $ip:$port"
    else
        fail "probe $probe: no relay logs curl's address $ip:$port ($relay)"
        grep -h "/shop/server-id " "$R1_LOG" "$R2_LOG" | sed 's/^/    log: /'
    fi
    PROBE_RELAY[$probe]=$relay
done
if [ "${PROBE_RELAY[1]}" != "${PROBE_RELAY[2]}" ]; then
    pass "haproxy sends two connections in a row to different relays"
else
    fail "haproxy sends two connections in a row to different relays" \
        "(both to ${PROBE_RELAY[1]})"
fi
expect_eq "curl's address is 127.0.0.1" 127.0.0.1 "$ip"

# Affinity across the relays. Without a cookie each relay takes turns
# between s1 and s2, so both backends serve. With the cookie of the first
# response, all 20 requests reach its backend, although HAProxy sends them
# to both relays.

# served_by COUNT [CURL_ARG...]: sends COUNT requests for /server-id one
# after another and prints how many each backend served, as "N b1 N b2 ".
served_by()
{
    local count=$1 i
    shift
    for ((i = 0; i < count; i++)); do
        via_haproxy --fail "$@" "$BASE/server-id" 2>/dev/null || echo error
    done | sort | uniq -c | sed 's/^ *//' | tr '\n' ' '
}

# logged PATH LOG: prints how many request lines for PATH, a path under
# the farm such as /bytes, LOG has. The relay logs paths without their
# query.
logged()
{
    grep -Ec -- "request client=.* path=[^ ]*/shop$1 " "$2"
}

spread=$(served_by 20)
echo "without a cookie: $spread"
if [[ $spread =~ ^[0-9]+\ b1\ [0-9]+\ b2\ $ ]]; then
    pass "without a cookie both backends serve"
else
    fail "without a cookie both backends serve ($spread)"
fi

run via_haproxy -c jar.txt "$BASE/server-id"
FIRST=$(head -n 1 "$OUT")
expect_eq "first request gets a cookie" 1 \
    "$(grep -c 'DrawbridgeAffinity' jar.txt 2>/dev/null)"
before1=$(logged /server-id "$R1_LOG")
before2=$(logged /server-id "$R2_LOG")
spread=$(served_by 20 -b jar.txt -c jar.txt)
echo "with the cookie of $FIRST: $spread"
expect_eq "with the cookie all 20 requests reach $FIRST" "20 $FIRST " \
    "$spread"
count1=$(($(logged /server-id "$R1_LOG") - before1))
count2=$(($(logged /server-id "$R2_LOG") - before2))
echo "relay1 served $count1 and relay2 $count2 of them"
expect_eq "the relays served 20 requests with the cookie" 20 \
    $((count1 + count2))
if [ "$count1" -gt 0 ] && [ "$count2" -gt 0 ]; then
    pass "both relays served requests with the cookie"
else
    fail "both relays served requests with the cookie ($count1, $count2)"
fi

# Load, and relay1 killed with SIGKILL in the middle of it. The requests
# run $PARALLEL at a time in one stream, not in batches with pauses,
# so that some are in flight when relay1 dies. Each worker appends one
# line per request to results: number, start and end in microseconds,
# curl's exit status, HTTP status, body size and SHA-256.

EXPECTED_SHA=$(python3 "$BACKEND_PY" --digest "$BODY_SIZE" "$BODY_SEED")
mkdir -p bodies
: >results

load_request()
{
    local n=$1 start end status=0 code size sha body="$WORK/bodies/$1"
    start=${EPOCHREALTIME/./}
    code=$(via_haproxy -o "$body" -w '%{http_code}' \
        "$BASE/bytes?n=$BODY_SIZE&seed=$BODY_SEED" \
        2>"$body.err") || status=$?
    end=${EPOCHREALTIME/./}
    size=$(stat -c %s "$body" 2>/dev/null || echo 0)
    sha=$(sha256sum "$body" 2>/dev/null | cut -d' ' -f1)
    echo "$n $start $end $status ${code:-000} $size ${sha:-none}" \
        >>"$WORK/results"
    rm -f "$body"
}
export -f load_request via_haproxy
export WORK HAPROXY_PORT BASE BODY_SIZE BODY_SEED

R2_BEFORE=$(logged /bytes "$R2_LOG")
seq 1 "$REQUESTS" >numbers
start_bg "$WORK/load.log" xargs -a numbers -P "$PARALLEL" -n 1 \
    bash -c 'load_request "$1"' load
LOAD_PID=$BG_PID

# Waits up to 60 s for $KILL_AFTER results, then kills relay1.
for ((i = 0; i < 1200; i++)); do
    if [ "$(wc -l <results)" -ge "$KILL_AFTER" ]; then
        break
    fi
    sleep 0.05
done
KILL_START=${EPOCHREALTIME/./}
# 2>/dev/null hides bash's "Killed" notice.
stop_process "$R1_PID" 5 KILL 2>/dev/null
KILL_DONE=${EPOCHREALTIME/./}
echo "relay1 killed after $(wc -l <results) results;" \
    "it took $(((KILL_DONE - KILL_START) / 1000)) ms"

if wait_log "$WORK/haproxy.log" 'relay1 is DOWN' 1 10; then
    pass "haproxy marks relay1 down"
else
    fail "haproxy marks relay1 down"
fi

# Every curl ends within its 10 s --max-time; 1000 requests take far less
# than 90 s unless something hangs.
for ((i = 0; i < 1800; i++)); do
    if ! process_running "$LOAD_PID"; then
        break
    fi
    sleep 0.05
done
if process_running "$LOAD_PID"; then
    fail "the $REQUESTS requests end within 90 s"
    stop_process "$LOAD_PID" 5
fi
wait "$LOAD_PID" 2>/dev/null

# Every request has a result, and each is judged by when it ran: before the
# kill it must succeed, while relay1 dies it must succeed or fail cleanly,
# and once relay1 is gone it must succeed again.
expect_eq "every request has a result" "$REQUESTS" "$(wc -l <results)"
verdicts=$(awk -v sha="$EXPECTED_SHA" -v size="$BODY_SIZE" \
    -v kill_start="$KILL_START" -v kill_done="$KILL_DONE" '
    {
        whole = $4 == 0 && $5 == 200 && $6 == size && $7 == sha
        if ($4 == 28) {
            kind = "hung"
        } else if ($4 == 0 && $5 == 200 && !whole) {
            kind = "truncated"
        } else if (whole) {
            kind = "whole"
        } else if ($4 != 0 || $5 == 502) {
            kind = "failed"
        } else {
            kind = "unexpected"
        }
        if ($3 < kill_start) {
            when = "before"
        } else if ($2 > kill_done) {
            when = "after"
        } else {
            when = "during"
        }
        count[when " " kind]++
        if (kind != "whole" && (when != "during" || kind != "failed")) {
            print "    request " $1 " " when " the kill: " kind \
                ", curl exit " $4 ", HTTP " $5 ", " $6 " bytes" \
                >"/dev/stderr"
        }
    }
    END {
        for (key in count) {
            print key, count[key]
        }
    }' results 2>bad.txt | sort)
echo "$verdicts" | sed 's/^/    /'
head -n 20 bad.txt

# count_of WHEN KIND: prints how many requests the verdicts put in WHEN and
# KIND.
count_of()
{
    echo "$verdicts" | awk -v key="$1 $2" '$1 " " $2 == key { n = $3 }
        END { print n + 0 }'
}

expect_eq "no request hangs (curl exit 28)" 0 \
    $(($(count_of before hung) + $(count_of during hung) + \
        $(count_of after hung)))
expect_eq "no request succeeds with a truncated or wrong body" 0 \
    $(($(count_of before truncated) + $(count_of during truncated) + \
        $(count_of after truncated)))
expect_eq "no request gets another status or a curl error without one" 0 \
    $(($(count_of before unexpected) + $(count_of during unexpected) + \
        $(count_of after unexpected)))
expect_eq "every request before the kill succeeds" 0 \
    "$(count_of before failed)"
expect_eq "every request after the kill succeeds" 0 \
    "$(count_of after failed)"
after=$(count_of after whole)
if [ "$after" -ge $((REQUESTS / 2)) ]; then
    pass "most requests start after the kill ($after)"
else
    fail "most requests start after the kill (only $after)"
fi
for failed in $(awk '$4 != 0 { print $1 }' results | head -n 5); do
    echo "    request $failed: $(head -n 1 "bodies/$failed.err")"
done

served=$(($(logged /bytes "$R2_LOG") - R2_BEFORE))
if [ "$served" -ge "$after" ]; then
    pass "relay2 served the $after requests after the kill"
else
    fail "relay2 logs $served requests, fewer than the $after after the kill"
fi

# Shutdown. relay1 died by SIGKILL and has no leak report to check.

stop_process "$HAPROXY_PID" 10
for pid in "$E1_PID" "$E2_PID" "$R2_PID"; do
    stop_process "$pid" 10
done
expect_no_sanitizer_report "no sanitizer report" "$R1_LOG" "$R2_LOG" \
    "$E1_LOG" "$E2_LOG"

finish
