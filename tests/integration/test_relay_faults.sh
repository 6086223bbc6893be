#!/usr/bin/env bash
# Faults around a forwarded request, with a real relay, enablers and
# backend.py on loopback. The cases: a farm without an enabler, a backend
# that refuses connections, rejected tunnels and their retries,
# --max-retries exit statuses, relay certificates that the enabler must
# reject, and plain-HTTP tokens. Then clients and backends that stop in
# the middle of a body, an enabler killed during a download, and SIGTERM.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/relay_lib.sh"

cd "$WORK" || exit 1

if ! relay_pki; then
    fail "make the test PKI"
    finish
    exit
fi
relay_config relay.conf farm:sync server:sync:s1:token-s1 \
    farm:dead server:dead:d1:token-d1 \
    farm:secure:-:on server:secure:x1:token-x1
if ! relay_start relay.conf; then
    fail "relay starts"
    finish
    exit
fi
pass "relay starts"
MAIN_HTTPS_PORT=$RELAY_HTTPS_PORT
MAIN_HTTP_PORT=$RELAY_HTTP_PORT
MAIN_RELAY_PID=$RELAY_PID
MAIN_RELAY_LOG=$RELAY_LOG
SYNC=$(relay_url sync /)
SYNC=${SYNC%/}

if ! backend_start bsync; then
    fail "backend starts"
    finish
    exit
fi
SYNC_BACKEND_PORT=$BACKEND_PORT

# Arguments for curl run directly, so that $! is curl's own PID.
CURL_ARGS=(-sS --max-time 60 --cacert "$WORK/pki/ca.crt"
    --resolve "localhost:$RELAY_HTTPS_PORT:127.0.0.1")

# fetch NAME CURL_ARG...: runs relay_curl with the body in $WORK/body and
# the head in $WORK/head. Sets CODE and CURL_STATUS.
fetch()
{
    local name=$1
    shift
    CURL_STATUS=0
    CODE=$(relay_curl -o "$WORK/body" -D "$WORK/head" -w '%{http_code}' \
        "$@" 2>"$ERR") || CURL_STATUS=$?
    : >"$OUT"
    echo "$name: HTTP $CODE, curl exit $CURL_STATUS"
}

# body_matches NAME REGEX: the body of the last fetch must match.
body_matches()
{
    if grep -Eq -- "$2" "$WORK/body"; then
        pass "$1"
    else
        fail "$1 (body does not match /$2/: $(head -c 300 "$WORK/body"))"
    fi
}

# log_count FILE REGEX: prints how many lines of FILE match.
log_count()
{
    grep -Ec -- "$2" "$1" 2>/dev/null || true
}

# still_serves AFTER: a normal request through the sync farm succeeds.
still_serves()
{
    fetch "request after $1" "$SYNC/echo?after"
    expect_eq "relay and enabler serve after $1" 200 "$CODE"
}

# enabler_once LOG ARG...: runs an enabler in the foreground that gives up
# after one retry, with its log in LOG. Sets STATUS.
enabler_once()
{
    local log=$1
    shift
    STATUS=0
    timeout 60 "$DRAWBRIDGE" enabler --max-retries 1 --retry-delay 0.05 \
        --backend "http://127.0.0.1:$SYNC_BACKEND_PORT" "$@" >"$log" 2>&1 ||
        STATUS=$?
    cp "$log" "$ERR"
    : >"$OUT"
}

# token_file NAME TOKEN: writes TOKEN to $WORK/NAME.token with mode 0600.
token_file()
{
    (umask 077 && printf '%s\n' "$2" >"$WORK/$1.token")
}

# A farm without an enabler is 503 until one connects.

fetch "no enabler yet" "$SYNC/echo"
expect_eq "farm without an enabler is 503" 503 "$CODE"
if enabler_start sync s1 token-s1 "$SYNC_BACKEND_PORT" --retry-delay 0.2; then
    pass "enabler connects"
else
    fail "enabler connects"
fi
SYNC_ENABLER_PID=$ENABLER_PID
fetch "enabler connected" "$SYNC/echo"
expect_eq "farm is 200 once its enabler is up" 200 "$CODE"

# A backend that refuses connections: 502 naming the backend.

closed_port=$(free_port)
if enabler_start dead d1 token-d1 "$closed_port" --retry-delay 0.2; then
    pass "enabler for a closed backend port connects to the relay"
fi
DEAD_ENABLER_PID=$ENABLER_PID
fetch "backend refuses" "$(relay_url dead /echo)"
expect_eq "refused backend connection is 502" 502 "$CODE"
body_matches "502 names the backend" "backend 127\.0\.0\.1:$closed_port "
body_matches "502 says the connection failed" "cannot connect"
if grep -q "127.0.0.1:$closed_port.*cannot connect" "$ENABLER_LOG"; then
    pass "enabler logs the refused backend connection"
else
    fail "enabler logs the refused backend connection"
fi

# Rejected tunnels. The relay's reason, as raw_http shows it, must appear
# unchanged in the enabler's log, once per attempt. With --max-retries 1
# there are two attempts, and the enabler exits 3.

# hello FARM ID TOKEN: prints an enabler's upgrade request.
hello()
{
    printf 'GET %s?farm=%s&id=%s HTTP/1.1\r\nHost: localhost\r\n' \
        "$RELAY_SERVER_SUFFIX" "$1" "$2"
    printf 'Connection: Upgrade\r\nUpgrade: drawbridge-tunnel/1\r\n'
    printf 'Authorization: Bearer %s\r\n\r\n' "$3"
}

token_file wrong wrong-token-5c1d
token_file s1 token-s1
refusals=(
    "wrong token|sync|s1|wrong|wrong-token-5c1d"
    "unknown server id|sync|s9|s1|token-s1"
    "unknown farm|nosuch|s1|s1|token-s1"
    "server id in another case|sync|S1|s1|token-s1"
)
for entry in "${refusals[@]}"; do
    IFS='|' read -r name farm id file token <<<"$entry"
    hello "$farm" "$id" "$token" |
        raw_http --tls "$RELAY_HTTPS_PORT" >refusal.response 2>/dev/null
    code=$(head -n 1 refusal.response | cut -d' ' -f2)
    reason=$(sed '1,/^\r$/d' refusal.response | tr -d '\r\n')
    echo "$name: the relay answers $code $reason"
    refused="tunnel refused: farm=$farm server=$id "
    before=$(log_count "$RELAY_LOG" "$refused")
    enabler_once "refusal-$id-$farm.log" --relay "https://localhost:$RELAY_HTTPS_PORT" \
        --ca-file "$WORK/pki/ca.crt" --farm "$farm" --id "$id" \
        --token-file "$WORK/$file.token"
    expect_eq "$name: enabler exits 3 after --max-retries 1" 3 "$STATUS"
    run grep -cF "the relay refused the tunnel: $code $reason" \
        "refusal-$id-$farm.log"
    expect_eq "$name: enabler logs the relay's reason on both attempts" 2 \
        "$(cat "$OUT")"
    expect_eq "$name: relay logs one refusal per attempt" 2 \
        $(($(log_count "$RELAY_LOG" "$refused") - before))
    run grep -F "$token" "$RELAY_LOG" "refusal-$id-$farm.log"
    expect_eq "$name: neither log contains the token" 1 "$STATUS"
done
expect_eq "wrong token is 401" 401 \
    "$(hello sync s1 wrong-token-5c1d | raw_http --tls "$RELAY_HTTPS_PORT" |
        head -n 1 | cut -d' ' -f2)"

# Without --max-retries the enabler keeps retrying after refusals.
# The log exists before wait_log reads it.
: >retry.log
start_bg retry.log "$DRAWBRIDGE" enabler \
    --relay "https://localhost:$RELAY_HTTPS_PORT" --ca-file "$WORK/pki/ca.crt" \
    --farm sync --id s1 --token-file "$WORK/wrong.token" \
    --backend "http://127.0.0.1:$SYNC_BACKEND_PORT" \
    --retry-delay 0.05 --retry-max-delay 0.1
retry_pid=$BG_PID
if wait_log retry.log "the relay refused the tunnel: 401 " 3 20; then
    pass "enabler retries after three refusals"
else
    fail "enabler retries after three refusals ($(log_count retry.log refused))"
fi
if process_running "$retry_pid"; then
    pass "enabler still runs after refusals"
else
    fail "enabler still runs after refusals"
fi
stop_process "$retry_pid" 5
expect_eq "refused enabler exits 0 on SIGTERM" 0 "$STOP_STATUS"

# --max-retries 1 with nothing listening exits 4.

enabler_once nothing.log --relay "https://localhost:$closed_port" \
    --ca-file "$WORK/pki/ca.crt" --farm sync --id s1 \
    --token-file "$WORK/s1.token"
expect_eq "nothing listening: enabler exits 4" 4 "$STATUS"
expect_output "nothing listening: enabler says it cannot connect" \
    "cannot connect: .*check that the relay runs"
run grep -c "cannot connect" nothing.log
expect_eq "nothing listening: two attempts" 2 "$(cat "$OUT")"

# Relay certificates that the enabler must reject.

# other_relay NAME PKI_DIR: starts a relay whose certificate comes from
# PKI_DIR, with the same farms. Sets OTHER_PORT, adds the relay to
# OTHER_PIDS, then restores the variables of the main relay.
OTHER_PIDS=()
other_relay()
{
    relay_config "$1.conf" farm:sync server:sync:s1:token-s1
    sed -i "s|$WORK/pki/server\.|$2/server.|" "$1.conf"
    relay_start "$1.conf" "$WORK/$1.log" || fail "relay $1 starts"
    OTHER_PORT=$RELAY_HTTPS_PORT
    OTHER_PIDS+=("$RELAY_PID")
    RELAY_HTTPS_PORT=$MAIN_HTTPS_PORT
    RELAY_HTTP_PORT=$MAIN_HTTP_PORT
    RELAY_PID=$MAIN_RELAY_PID
    RELAY_LOG=$MAIN_RELAY_LOG
}

db cert quickstart --host localhost --ip 127.0.0.1 --out "$WORK/other-ca" \
    --key-type ec:P-256 >/dev/null 2>&1 || fail "make a second CA"
other_relay untrusted "$WORK/other-ca"
enabler_once untrusted-enabler.log --max-retries 0 \
    --relay "https://localhost:$OTHER_PORT" --ca-file "$WORK/pki/ca.crt" \
    --farm sync --id s1 --token-file "$WORK/s1.token"
expect_eq "untrusted CA: enabler exits 3" 3 "$STATUS"
expect_output "untrusted CA: enabler names the issuer and the CA file" \
    "issued by '.*Drawbridge CA for localhost.*', which is not in the trusted CA file $WORK/pki/ca.crt"
expect_output "untrusted CA: enabler says what to change" \
    "add that CA's certificate to $WORK/pki/ca.crt"
run grep -c "tunnel up" untrusted-enabler.log
expect_eq "untrusted CA: no tunnel" 0 "$(cat "$OUT")"

db cert quickstart --host other.test --out "$WORK/other-host" \
    --key-type ec:P-256 >/dev/null 2>&1 || fail "make a certificate for other.test"
other_relay other-host "$WORK/other-host"
for host in localhost 127.0.0.1; do
    flag=--host
    [ "$host" = 127.0.0.1 ] && flag=--ip
    enabler_once "other-host-$host.log" --max-retries 0 \
        --relay "https://$host:$OTHER_PORT" \
        --ca-file "$WORK/other-host/ca.crt" \
        --farm sync --id s1 --token-file "$WORK/s1.token"
    expect_eq "certificate for other.test via $host: enabler exits 3" 3 \
        "$STATUS"
    expect_output "certificate for other.test via $host: names both hosts" \
        "certificate is for .*other\.test.*, not for $host"
    expect_output "certificate for other.test via $host: says what to change" \
        "reissue it with 'drawbridge cert request $flag $host'"
done

# Plain HTTP: refused at start-up without --insecure-plain-token, and
# refused by a farm with backend_security = on.

enabler_once plain.log --relay "http://localhost:$RELAY_HTTP_PORT" \
    --farm secure --id x1 --token-file "$WORK/s1.token"
expect_eq "plain http without --insecure-plain-token exits 2" 2 "$STATUS"
expect_output "plain http refusal names the option" "--insecure-plain-token"
run grep -c "tunnel" "$WORK/plain.log"
expect_eq "plain http refusal happens before any connection" 0 \
    "$(cat "$OUT")"

token_file x1 token-x1
enabler_once plain-secure.log --max-retries 0 --insecure-plain-token \
    --relay "http://localhost:$RELAY_HTTP_PORT" \
    --farm secure --id x1 --token-file "$WORK/x1.token"
expect_eq "http tunnel to backend_security = on: enabler exits 3" 3 "$STATUS"
expect_output "http tunnel to backend_security = on is 403" \
    "the relay refused the tunnel: 403 .*HTTPS only"

# A client that disconnects in the middle of its upload: the backend sees
# the body end early, never a complete request, and nothing answers 200.

python3 - "$RELAY_HTTPS_PORT" "$RELAY_CLIENT_PREFIX/sync/sink?key=half" \
    "$WORK/pki/ca.crt" "$WORK/backend-bsync.log" <<'EOF'
import socket, ssl, sys, time

port, path, ca, backend_log = sys.argv[1:]
context = ssl.create_default_context(cafile=ca)
sock = context.wrap_socket(socket.create_connection(("127.0.0.1", int(port))),
                           server_hostname="localhost")
sock.sendall(("POST %s HTTP/1.1\r\nHost: localhost\r\n"
              "Content-Length: 2000000\r\n\r\n" % path).encode())
sock.sendall(b"h" * 1000000)
# Close only once the backend has the request, so that the cut falls
# inside the body that it is reading.
deadline = time.monotonic() + 20
while time.monotonic() < deadline:
    with open(backend_log) as log:
        if "sink half: started" in log.read():
            break
    time.sleep(0.05)
sock.close()
EOF
if wait_log backend-bsync.log "sink half: failed after" 1 20; then
    pass "backend sees a Content-Length upload cut short"
else
    fail "backend sees a Content-Length upload cut short"
fi
expect_eq "backend never completes the cut upload" 0 \
    "$(log_count backend-bsync.log "sink half: finished")"
if wait_log "$RELAY_LOG" "path=$RELAY_CLIENT_PREFIX/sync/sink .*result=client-closed" 1 10; then
    pass "relay logs the client that closed"
else
    fail "relay logs the client that closed"
fi
still_serves "a client closed inside a Content-Length body"

# The same with a chunked upload from curl, killed while it sends.
curl "${CURL_ARGS[@]}" -X POST -T - -o /dev/null "$SYNC/sink?key=cut" \
    < <(python3 -c '
import sys, time
try:
    for _ in range(600):
        sys.stdout.buffer.write(b"c" * 65536)
        sys.stdout.buffer.flush()
        time.sleep(0.1)
except BrokenPipeError:
    pass
') 2>/dev/null &
cut_pid=$!
if wait_log backend-bsync.log "sink cut: started" 1 20; then
    pass "chunked upload reaches the backend"
fi
kill -KILL "$cut_pid" 2>/dev/null
wait "$cut_pid" 2>/dev/null
if wait_log backend-bsync.log "sink cut: failed after" 1 20; then
    pass "backend sees a chunked upload cut short"
else
    fail "backend sees a chunked upload cut short"
fi
expect_eq "backend never completes the cut chunked upload" 0 \
    "$(log_count backend-bsync.log "sink cut: finished")"
still_serves "a client closed inside a chunked body"

# A backend that closes in the middle of its response: the client gets an
# error, not a short body that looks complete.

for route in close-mid close-mid-chunked; do
    fetch "backend closes: $route" "$SYNC/$route"
    expect_eq "$route: status line already sent" 200 "$CODE"
    if [ "$CURL_STATUS" -eq 0 ]; then
        fail "$route: client sees an error (curl exit 0, $(stat -c %s body) bytes)"
    else
        pass "$route: client sees an error (curl exit $CURL_STATUS)"
    fi
    expect_eq "$route: the client received the 100 bytes sent" 100 \
        "$(stat -c %s body)"
    still_serves "$route"
done

# SIGKILL of the enabler during a download: the client gets an error, not
# a truncated success, and never waits for its own timeout (curl exit 28).

curl "${CURL_ARGS[@]}" -N -o kill-chunked.out "$SYNC/hold?key=kill&first=100000" \
    2>/dev/null &
download_pid=$!
for _ in $(seq 1 400); do
    [ "$(stat -c %s kill-chunked.out 2>/dev/null || echo 0)" -ge 100000 ] &&
        break
    sleep 0.05
done
expect_eq "first chunk arrives before the kill" 100000 \
    "$(stat -c %s kill-chunked.out 2>/dev/null)"
stop_process "$SYNC_ENABLER_PID" 5 KILL
download_status=0
wait "$download_pid" || download_status=$?
if [ "$download_status" -ne 0 ] && [ "$download_status" -ne 28 ]; then
    pass "chunked download fails when the enabler dies (curl exit $download_status)"
else
    fail "chunked download fails when the enabler dies (curl exit $download_status)"
fi
if wait_log "$RELAY_LOG" "path=$RELAY_CLIENT_PREFIX/sync/hold .*result=tunnel-lost" 1 10; then
    pass "relay logs the lost tunnel for the download"
else
    fail "relay logs the lost tunnel for the download"
fi
curl -sS --max-time 10 -o /dev/null \
    "http://127.0.0.1:$SYNC_BACKEND_PORT/release?key=kill" || true

if enabler_start sync s1 token-s1 "$SYNC_BACKEND_PORT" --retry-delay 0.2; then
    pass "a new enabler connects after the kill"
fi
size=200000000
curl "${CURL_ARGS[@]}" -N --limit-rate 2M -o kill-length.out \
    "$SYNC/bytes?n=$size&seed=kill" 2>/dev/null &
download_pid=$!
for _ in $(seq 1 400); do
    [ "$(stat -c %s kill-length.out 2>/dev/null || echo 0)" -ge 1000000 ] &&
        break
    sleep 0.05
done
stop_process "$ENABLER_PID" 5 KILL
download_status=0
wait "$download_pid" || download_status=$?
if [ "$download_status" -ne 0 ] && [ "$download_status" -ne 28 ]; then
    pass "Content-Length download fails when the enabler dies (curl exit $download_status)"
else
    fail "Content-Length download fails when the enabler dies (curl exit $download_status)"
fi
if [ "$(stat -c %s kill-length.out)" -lt "$size" ]; then
    pass "Content-Length download is short"
else
    fail "Content-Length download is short"
fi

if enabler_start sync s1 token-s1 "$SYNC_BACKEND_PORT" --retry-delay 0.2; then
    pass "another enabler connects"
fi
still_serves "two killed enablers"

# SIGTERM stops the enabler and the relay with status 0.

if stop_process "$ENABLER_PID" 5; then
    pass "SIGTERM stops the enabler within 5 s"
else
    fail "SIGTERM stops the enabler within 5 s"
fi
expect_eq "enabler exits 0 on SIGTERM" 0 "$STOP_STATUS"
if stop_process "$RELAY_PID" 5; then
    pass "SIGTERM stops the relay within 5 s"
else
    fail "SIGTERM stops the relay within 5 s"
fi
expect_eq "relay exits 0 on SIGTERM" 0 "$STOP_STATUS"

# The other processes stop too, and a sanitizer build reports nothing,
# leaks included.
for pid in "$DEAD_ENABLER_PID" "${OTHER_PIDS[@]}"; do
    stop_process "$pid" 10
    expect_eq "process $pid exits 0 on SIGTERM" 0 "$STOP_STATUS"
done
expect_no_sanitizer_report "relays and enablers log no sanitizer report" \
    ./*.log

if [ "$FAILED" -gt 0 ]; then
    for log in relay.log enabler-*.log backend-bsync.log; do
        echo "--- $log"
        tail -n 30 "$log"
    done
fi
finish
