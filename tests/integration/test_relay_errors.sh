#!/usr/bin/env bash
# The relay's error responses with no enabler connected: routing errors
# (404, 503, 403), malformed, ambiguous and oversized requests (400, 431),
# a head that never completes (408), refused tunnel handshakes, the
# request log, --check, and SIGTERM. Raw requests go through raw_http
# because curl normalises what it sends.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/relay_lib.sh"

cd "$WORK" || exit 1

if ! relay_pki; then
    fail "make the test PKI"
    finish
    exit
fi
relay_config relay.conf farm:sync:on:on server:sync:s1:secret-token-1 \
    farm:plain:off:off server:plain:p1:plain-token-1
if ! relay_start relay.conf; then
    fail "relay starts"
    finish
    exit
fi
pass "relay starts"

SYNC_PATH="$RELAY_CLIENT_PREFIX/sync/echo"

# get NAME URL [CURL_ARG...]: fetches URL through relay_curl and stores the
# status in CODE, the head in $WORK/head and the body in $WORK/body.
get()
{
    local name=$1 url=$2
    shift 2
    CODE=$(relay_curl -o "$WORK/body" -D "$WORK/head" -w '%{http_code}' \
        "$@" "$url" 2>"$ERR") || true
    : >"$OUT"
    echo "$name: HTTP $CODE $(head -n 1 "$ERR")"
}

# body_matches NAME REGEX: the body of the last get must match.
body_matches()
{
    if grep -Eq -- "$2" "$WORK/body"; then
        pass "$1"
    else
        fail "$1 (body does not match /$2/: $(head -c 300 "$WORK/body"))"
    fi
}

# raw NAME RAW_HTTP_ARG...: sends $WORK/request through raw_http and keeps
# the response in $WORK/response; sets STATUS_LINE to its first line.
raw()
{
    local name=$1
    shift
    raw_http "$@" <"$WORK/request" >"$WORK/response" 2>"$ERR" || true
    STATUS_LINE=$(head -n 1 "$WORK/response" | tr -d '\r')
    echo "$name: $STATUS_LINE"
}

# response_matches NAME REGEX: the last raw response must match.
response_matches()
{
    if grep -aEq -- "$2" "$WORK/response"; then
        pass "$1"
    else
        fail "$1 (response does not match /$2/: $(head -c 300 "$WORK/response"))"
    fi
}

# still_serving AFTER: a normal request to farm sync still gets its 503.
still_serving()
{
    get "request after $1" "$(relay_url sync /echo)"
    expect_eq "relay serves after $1" 503 "$CODE"
}

# Routing errors, through curl.

get "unknown farm" "$(relay_url nosuch /x)"
expect_eq "unknown farm is 404" 404 "$CODE"
body_matches "404 names the farm" "unknown farm 'nosuch'"

get "apache prefix" "https://localhost:$RELAY_HTTPS_PORT/cli/iarelayserver/nosuch/x"
expect_eq "unknown farm under /cli/iarelayserver is 404" 404 "$CODE"

get "no prefix" "https://localhost:$RELAY_HTTPS_PORT/other/path"
expect_eq "path outside the relay URLs is 404" 404 "$CODE"

get "farm is case-sensitive" "$(relay_url SYNC /echo)"
expect_eq "farm SYNC is not farm sync" 404 "$CODE"

get "no enabler" "$(relay_url sync /echo)"
expect_eq "farm without enabler is 503" 503 "$CODE"
if grep -Eiq '^Retry-After: [0-9]+' "$WORK/head"; then
    pass "503 has Retry-After"
else
    fail "503 has Retry-After (head: $(tr -d '\r' <"$WORK/head" | tr '\n' '|'))"
fi
body_matches "503 names the farm" "no server of farm sync is connected"

get "http on an HTTPS-only farm" "$(relay_url sync /echo http)"
expect_eq "http:// on client_security=on is 403" 403 "$CODE"
body_matches "403 says to use https" "farm sync accepts HTTPS only; use https://"

get "https on an HTTP-only farm" "$(relay_url plain /echo)"
expect_eq "https:// on client_security=off is 403" 403 "$CODE"
body_matches "403 says to use http" "farm plain accepts HTTP only; use http://"

get "http on an HTTP-only farm" "$(relay_url plain /echo http)"
expect_eq "http:// on client_security=off reaches routing" 503 "$CODE"

# Malformed and ambiguous requests, sent byte for byte over TLS.

HOST=$'Host: localhost\r\n'
declare -A BAD_REQUESTS=(
    ["request line with a space in the target"]="GET /a b HTTP/1.1"$'\r\n'"$HOST"$'\r\n'
    ["request line that is not HTTP"]=$'NOT AN HTTP REQUEST\r\n\r\n'
    ["Content-Length with Transfer-Encoding"]="POST $SYNC_PATH HTTP/1.1"$'\r\n'"$HOST"$'Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'
    ["two different Content-Length"]="POST $SYNC_PATH HTTP/1.1"$'\r\n'"$HOST"$'Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!'
    ["obsolete line folding"]="GET $SYNC_PATH HTTP/1.1"$'\r\n'"$HOST"$'X-Folded: one\r\n two\r\n\r\n'
    ["space before the colon"]="GET $SYNC_PATH HTTP/1.1"$'\r\n'"$HOST"$'X-Bad : value\r\n\r\n'
)
for name in "${!BAD_REQUESTS[@]}"; do
    printf '%s' "${BAD_REQUESTS[$name]}" >request
    raw "$name" --tls "$RELAY_HTTPS_PORT"
    expect_eq "$name is 400" "HTTP/1.1 400 Bad Request" "$STATUS_LINE"
    still_serving "$name"
done

# A request line without a version is HTTP/0.9, which the relay does not
# speak.
printf 'GET %s\r\n\r\n' "$SYNC_PATH" >request
raw "request line without a version" --tls "$RELAY_HTTPS_PORT"
expect_eq "HTTP/0.9 request is 505" "HTTP/1.1 505 HTTP Version Not Supported" \
    "$STATUS_LINE"
still_serving "HTTP/0.9"

# Oversized heads: max_header_bytes (65536) and max_header_fields (100).

big=$(head -c 70000 /dev/zero | tr '\0' a)
printf 'GET %s HTTP/1.1\r\n%sX-Big: %s\r\n\r\n' "$SYNC_PATH" "$HOST" "$big" \
    >request
raw "70000-byte head" --tls "$RELAY_HTTPS_PORT"
expect_eq "head over 65536 bytes is 431" \
    "HTTP/1.1 431 Request Header Fields Too Large" "$STATUS_LINE"
still_serving "a 431 for size"

# fields N: prints N-1 fields after Host, N in all.
fields()
{
    local i
    for ((i = 1; i < $1; i++)); do
        printf 'X-Field-%d: %d\r\n' "$i" "$i"
    done
}
{
    printf 'GET %s HTTP/1.1\r\n%s' "$SYNC_PATH" "$HOST"
    fields 100
    printf '\r\n'
} >request
raw "100 fields" --tls "$RELAY_HTTPS_PORT"
expect_eq "100 fields are accepted" "HTTP/1.1 503 Service Unavailable" \
    "$STATUS_LINE"
{
    printf 'GET %s HTTP/1.1\r\n%s' "$SYNC_PATH" "$HOST"
    fields 101
    printf '\r\n'
} >request
raw "101 fields" --tls "$RELAY_HTTPS_PORT"
expect_eq "101 fields are 431" \
    "HTTP/1.1 431 Request Header Fields Too Large" "$STATUS_LINE"
response_matches "431 names the field limit" "more than 100 fields"
still_serving "a 431 for fields"

# The same parser serves plain HTTP.
printf 'GET %s HTTP/1.1\r\n%sX-Folded: one\r\n\ttwo\r\n\r\n' \
    "$RELAY_CLIENT_PREFIX/plain/x" "$HOST" >request
raw "folding over HTTP" "$RELAY_HTTP_PORT"
expect_eq "obsolete line folding over HTTP is 400" "HTTP/1.1 400 Bad Request" \
    "$STATUS_LINE"

# Tunnel handshakes, sent by hand as an enabler would.

# hello FARM ID TOKEN: prints an enabler's upgrade request.
hello()
{
    printf 'GET %s?farm=%s&id=%s HTTP/1.1\r\n%sConnection: Upgrade\r\n' \
        "$RELAY_SERVER_SUFFIX" "$1" "$2" "$HOST"
    printf 'Upgrade: drawbridge-tunnel/1\r\nAuthorization: Bearer %s\r\n\r\n' \
        "$3"
}

hello sync s1 wrong-token-7f3a >request
raw "wrong token" --tls "$RELAY_HTTPS_PORT"
expect_eq "wrong token is 401" "HTTP/1.1 401 Unauthorized" "$STATUS_LINE"
run grep -F "tunnel refused: farm=sync server=s1" "$RELAY_LOG"
expect_output "relay logs the refused tunnel" "401"
run grep -F "wrong-token-7f3a" "$RELAY_LOG" "$WORK/response"
expect_eq "wrong token is neither logged nor echoed" 1 "$STATUS"

printf 'GET %s?farm=sync&id=s1 HTTP/1.1\r\n%sConnection: Upgrade\r\nUpgrade: drawbridge-tunnel/1\r\n\r\n' \
    "$RELAY_SERVER_SUFFIX" "$HOST" >request
raw "no token" --tls "$RELAY_HTTPS_PORT"
expect_eq "missing token is 401" "HTTP/1.1 401 Unauthorized" "$STATUS_LINE"

hello nosuch s1 secret-token-1 >request
raw "unknown farm" --tls "$RELAY_HTTPS_PORT"
expect_eq "tunnel to an unknown farm is 404" "HTTP/1.1 404 Not Found" \
    "$STATUS_LINE"

hello sync S1 secret-token-1 >request
raw "server id case" --tls "$RELAY_HTTPS_PORT"
expect_eq "server id S1 is not s1" "HTTP/1.1 404 Not Found" "$STATUS_LINE"
response_matches "404 explains the case" "case-sensitive.*'s1'"

hello sync s1 secret-token-1 >request
raw "tunnel over http" "$RELAY_HTTP_PORT"
expect_eq "http tunnel to backend_security=on is 403" \
    "HTTP/1.1 403 Forbidden" "$STATUS_LINE"
response_matches "403 says to use HTTPS" "HTTPS only"

hello sync s1 secret-token-1 >request
raw "tunnel" --head-only --tls "$RELAY_HTTPS_PORT"
expect_eq "correct token is 101" "HTTP/1.1 101 Switching Protocols" \
    "$STATUS_LINE"
response_matches "101 upgrades to drawbridge-tunnel/1" \
    "^Upgrade: drawbridge-tunnel/1"
if wait_log "$RELAY_LOG" "tunnel [0-9]+ up: farm=sync server=s1 " &&
    wait_log "$RELAY_LOG" "tunnel [0-9]+ down: farm=sync server=s1 "; then
    pass "relay logs the tunnel up and down"
else
    fail "relay logs the tunnel up and down"
fi
still_serving "a closed tunnel"

run grep -F "secret-token-1" "$RELAY_LOG"
expect_eq "the log never contains the token" 1 "$STATUS"

# One log line per request, with its status. A request whose head fails to
# parse is logged without method and path.
path_re="path=/ias_relay_server/client/rs_client.dll"
for line in \
    "method=GET $path_re/nosuch/x status=404 reason=\"unknown farm 'nosuch'\"" \
    "method=GET $path_re/sync/echo status=503 " \
    "method=GET $path_re/sync/echo status=403 " \
    "method=- path=- status=400 reason=\"conflicting Content-Length" \
    "method=- path=- status=400 reason=\"line starting with whitespace" \
    "method=- path=- status=431 reason=\"request head exceeds 65536 bytes" \
    "method=- path=- status=431 reason=\"request head has more than 100" \
    "method=- path=- status=505 "; do
    run grep -F "$line" "$RELAY_LOG"
    expect_output "log has '$line'" "request client=127\.0\.0\.1:[0-9]+ "
done

# --check.

expect_ok "--check accepts a good config" db relay -c relay.conf --check
expect_output "--check says the config is valid" \
    "relay.conf: the configuration and certificates are valid"
sed 's/^http_port = .*/http_port = eighty/' relay.conf >broken.conf
bad_line=$(grep -n '^http_port = eighty' broken.conf | cut -d: -f1)
expect_fail "--check rejects a bad port with its line" \
    "broken.conf:$bad_line:.*http_port" db relay -c broken.conf --check
printf '[backend_server]\nfarm = missing\nid = x\ntoken = t\n' >>broken.conf
expect_fail "--check names an unknown farm" "missing" \
    db relay -c broken.conf --check

# SIGTERM stops the relay promptly, even with an idle connection open.

exec 3<>"/dev/tcp/127.0.0.1/$RELAY_HTTPS_PORT"
if stop_process "$RELAY_PID" 5; then
    pass "SIGTERM stops the relay within 5 s"
else
    fail "SIGTERM stops the relay within 5 s"
fi
exec 3<&-
expect_eq "relay exits 0 on SIGTERM" 0 "$STOP_STATUS"
run grep -E "relay .* stopped" "$RELAY_LOG"
expect_eq "relay logs its stop" 0 "$STATUS"

# A head that never completes gets 408 after header_timeout.

relay_config slow.conf option:header_timeout=1 farm:sync:on \
    server:sync:s1:secret-token-1
if relay_start slow.conf "$WORK/slow-relay.log"; then
    slow_pid=$RELAY_PID
    start=$(date +%s)
    printf 'GET %s HTTP/1.1\r\n%s' "$SYNC_PATH" "$HOST" >request
    raw "incomplete head" --tls --timeout 20 "$RELAY_HTTPS_PORT"
    expect_eq "incomplete head is 408" "HTTP/1.1 408 Request Timeout" \
        "$STATUS_LINE"
    if [ $(($(date +%s) - start)) -ge 1 ]; then
        pass "408 comes after header_timeout"
    else
        fail "408 comes after header_timeout (it came at once)"
    fi
    printf 'GET %s HTTP/1.1\r\n' "$RELAY_CLIENT_PREFIX/sync/x" >request
        raw "incomplete head over http" --timeout 20 "$RELAY_HTTP_PORT"
    expect_eq "incomplete head over HTTP is 408" \
        "HTTP/1.1 408 Request Timeout" "$STATUS_LINE"
    run grep -E "request client=127\.0\.0\.1:[0-9]+ .*status=408" \
        "$RELAY_LOG"
    expect_eq "log has the 408" 0 "$STATUS"
    still_serving "a 408"
    stop_process "$slow_pid" 10
    expect_eq "relay with header_timeout=1 exits 0" 0 "$STOP_STATUS"
else
    fail "relay with header_timeout=1 starts"
fi

if [ "$FAILED" -gt 0 ]; then
    for log in relay.log slow-relay.log; do
        if [ -f "$log" ]; then
            echo "--- $log"
            tail -n 40 "$log"
        fi
    done
fi
finish
