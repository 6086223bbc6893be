#!/usr/bin/env bash
# Requests forwarded end to end: curl (HTTPS, verifying the test CA) to the
# relay, over an HTTP/2 tunnel to an enabler, and from the enabler to
# backend.py over HTTP/1.1. Checks status, headers and the SHA-256 of
# bodies in both directions, keep-alive on both sides, bodiless responses,
# chunked and 100-continue uploads, streaming, request trailers, HTTP/1.0
# clients, 100 concurrent requests over two servers, and two tunnels for
# one server id.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/relay_lib.sh"

cd "$WORK" || exit 1

if ! relay_pki; then
    fail "make the test PKI"
    finish
    exit
fi
relay_config relay.conf farm:sync server:sync:s1:token-s1 \
    farm:pool server:pool:p1:token-p1 server:pool:p2:token-p2 \
    farm:twin server:twin:t1:token-t1
if ! relay_start relay.conf; then
    fail "relay starts"
    finish
    exit
fi
pass "relay starts"

# start_server FARM ID TOKEN NAME [ARG...]: starts backend NAME and an
# enabler for server ID of FARM in front of it, with the extra enabler
# ARGs. Sets PORT_<NAME> to the backend's port and adds the enabler to
# ENABLER_PIDS.
ENABLER_PIDS=()
start_server()
{
    local farm=$1 id=$2 token=$3 name=$4
    shift 4
    if ! backend_start "$name"; then
        fail "backend $name starts"
        return 1
    fi
    printf -v "PORT_$name" '%s' "$BACKEND_PORT"
    if ! enabler_start "$farm" "$id" "$token" "$BACKEND_PORT" \
        --retry-delay 0.2 "$@"; then
        fail "enabler for $farm/$id connects"
        return 1
    fi
    ENABLER_PIDS+=("$ENABLER_PID")
}

if ! start_server sync s1 token-s1 bsync; then
    finish
    exit
fi
pass "enabler for sync/s1 is up"

IIS=$(relay_url sync /)
IIS=${IIS%/}
APACHE="https://localhost:$RELAY_HTTPS_PORT/cli/iarelayserver/sync"
AUTHORITY="localhost:$RELAY_HTTPS_PORT"

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

# head_field NAME [FILE]: prints the values of header field NAME in the
# response head FILE (default $WORK/head), one per line.
head_field()
{
    tr -d '\r' <"${2:-$WORK/head}" |
        awk -v name="$1" 'index($0, ":") {
            field = substr($0, 1, index($0, ":") - 1)
            if (tolower(field) == tolower(name)) {
                value = substr($0, index($0, ":") + 1)
                sub(/^[ \t]+/, "", value)
                print value
            }
        }'
}

# echo_info KEY [HEADER]: prints what the backend reported in the /echo
# JSON of $WORK/body: the "method" or "path", or with KEY headers every
# value of field HEADER, one per line.
echo_info()
{
    python3 -c '
import json, sys
info = json.load(open(sys.argv[1]))
if sys.argv[2] == "headers":
    for name, value in info["headers"]:
        if name.lower() == sys.argv[3].lower():
            print(value)
else:
    print(info[sys.argv[2]])
' "$WORK/body" "$@"
}

# json_value KEY: prints KEY of the JSON object in $WORK/body.
json_value()
{
    python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' \
        "$WORK/body" "$1"
}

sha_of()
{
    sha256sum "$1" | cut -d' ' -f1
}

# raw NAME RAW_HTTP_ARG...: sends $WORK/request through raw_http to the
# relay's HTTPS port and keeps the response in $WORK/response.
raw()
{
    local name=$1
    shift
    raw_http --tls "$@" "$RELAY_HTTPS_PORT" <"$WORK/request" \
        >"$WORK/response" 2>"$ERR" || true
    echo "$name: $(head -n 1 "$WORK/response" | tr -d '\r')"
}

# GET through both prefixes: the headers that the backend receives.

fetch "GET with hop-by-hop fields" \
    -H 'Connection: keep-alive, X-Hop' -H 'X-Hop: must not pass' \
    -H 'Keep-Alive: timeout=5' -H 'Proxy-Connection: keep-alive' \
    -H 'X-End-To-End: kept' -H 'X-Forwarded-For: 192.0.2.7' \
    -H 'X-Forwarded-Proto: http' -H 'X-Forwarded-Host: spoofed.test' \
    -H 'X-Forwarded-Prefix: /spoofed' \
    "$IIS/echo?a=1&b=%2F%20x&c"
expect_eq "GET /echo is 200" 200 "$CODE"
expect_eq "backend sees GET" GET "$(echo_info method)"
expect_eq "prefix and farm are stripped, query kept" "/echo?a=1&b=%2F%20x&c" \
    "$(echo_info path)"
expect_eq "backend sees Host" "$AUTHORITY" "$(echo_info headers host)"
expect_eq "X-Forwarded-For appends the client" "192.0.2.7, 127.0.0.1" \
    "$(echo_info headers x-forwarded-for)"
expect_eq "X-Forwarded-Proto is replaced" https \
    "$(echo_info headers x-forwarded-proto)"
expect_eq "X-Forwarded-Host is replaced" "$AUTHORITY" \
    "$(echo_info headers x-forwarded-host)"
expect_eq "X-Forwarded-Prefix is the stripped part" \
    "$RELAY_CLIENT_PREFIX/sync" "$(echo_info headers x-forwarded-prefix)"
expect_eq "Forwarded names client, proto and host" \
    "for=127.0.0.1;proto=https;host=\"$AUTHORITY\"" \
    "$(echo_info headers forwarded)"
expect_eq "end-to-end field passes" kept "$(echo_info headers x-end-to-end)"
for field in x-hop keep-alive proxy-connection; do
    expect_eq "hop-by-hop $field is not forwarded" "" \
        "$(echo_info headers "$field")"
done
if echo_info headers connection | grep -qi x-hop; then
    fail "Connection sent to the backend does not list X-Hop"
else
    pass "Connection sent to the backend does not list X-Hop"
fi

fetch "GET over the Apache prefix" "$APACHE/echo?x=1&y"
expect_eq "Apache prefix GET is 200" 200 "$CODE"
expect_eq "Apache prefix is stripped, query kept" "/echo?x=1&y" \
    "$(echo_info path)"
expect_eq "X-Forwarded-Prefix under the Apache prefix" \
    "/cli/iarelayserver/sync" "$(echo_info headers x-forwarded-prefix)"
expect_eq "X-Forwarded-For without a client value" 127.0.0.1 \
    "$(echo_info headers x-forwarded-for)"

fetch "prefix in another case" \
    "https://$AUTHORITY/IAS_Relay_Server/Client/RS_Client.DLL/sync/echo"
expect_eq "prefix matches case-insensitively" 200 "$CODE"
expect_eq "path after a prefix in another case" /echo "$(echo_info path)"

# GET of a body with Content-Length and a chunked one.

for chunked in 0 1; do
    fetch "GET /bytes chunked=$chunked" \
        "$IIS/bytes?n=1000000&seed=get$chunked&chunked=$chunked"
    expect_eq "GET /bytes chunked=$chunked is 200" 200 "$CODE"
    expect_eq "GET /bytes chunked=$chunked body" \
        "$(python3 "$BACKEND_PY" --digest 1000000 "get$chunked")" \
        "$(sha_of "$WORK/body")"
done
expect_eq "chunked response reaches the client chunked" chunked \
    "$(head_field transfer-encoding)"

# POST through both prefixes.

head -c 300000 /dev/urandom >upload.bin
upload_sha=$(sha_of upload.bin)
for base in "$IIS" "$APACHE"; do
    fetch "POST /echo to $base" --data-binary @upload.bin \
        -H 'Content-Type: application/x-test' "$base/echo"
    expect_eq "POST /echo via ${base#https://"$AUTHORITY"} is 200" 200 "$CODE"
    expect_eq "POST /echo via ${base#https://"$AUTHORITY"} body comes back" \
        "$upload_sha" "$(sha_of "$WORK/body")"
    expect_eq "POST /echo keeps Content-Type" application/x-test \
        "$(head_field content-type)"
done
fetch "POST /sha256" --data-binary @upload.bin "$IIS/sha256"
expect_eq "POST /sha256 is 200" 200 "$CODE"
expect_eq "backend hashes the POST body" "$upload_sha" "$(json_value sha256)"
expect_eq "backend reads the whole POST body" 300000 "$(json_value length)"

# Keep-alive: two URLs on one curl command share one client connection.

connects=$(relay_curl -o /dev/null -o /dev/null \
    -w '%{http_code}:%{num_connects} ' "$IIS/echo" "$APACHE/server-id" \
    2>"$ERR") || true
expect_eq "second request reuses the client connection" "200:1 200:0 " \
    "$connects"

# HEAD, 204 and 304: heads without bodies, on a connection that stays
# usable. raw_http shows every byte, so a stray body would show.

fetch "peer before HEAD" "$IIS/peer"
peer_before=$(cat "$WORK/body")

printf 'HEAD %s/head-test HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' \
    "$RELAY_CLIENT_PREFIX/sync" >request
raw "HEAD /head-test"
expect_eq "HEAD is 200" "HTTP/1.1 200 OK" "$(head -n 1 response | tr -d '\r')"
expect_eq "HEAD keeps Content-Length" 15 "$(head_field content-length response)"
expect_eq "HEAD response has no body" "" "$(sed '1,/^\r$/d' response)"

fetch "GET right after HEAD" "$IIS/peer"
expect_eq "GET after HEAD is 200" 200 "$CODE"
expect_eq "GET after HEAD uses the same backend connection" "$peer_before" \
    "$(cat "$WORK/body")"

printf 'HEAD %s/bytes?n=5000&chunked=1 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' \
    "$RELAY_CLIENT_PREFIX/sync" >request
raw "HEAD of a chunked route"
expect_eq "HEAD of a chunked route is 200" "HTTP/1.1 200 OK" \
    "$(head -n 1 response | tr -d '\r')"
expect_eq "HEAD of a chunked route has no body" "" \
    "$(sed '1,/^\r$/d' response)"
fetch "GET right after a chunked HEAD" "$IIS/peer"
expect_eq "GET after a chunked HEAD uses the same backend connection" \
    "$peer_before" "$(cat "$WORK/body")"

for status in 204 304; do
    printf 'GET %s/status/%s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' \
        "$RELAY_CLIENT_PREFIX/sync" "$status" >request
    raw "GET /status/$status"
    expect_eq "status $status passes" "$status" \
        "$(head -n 1 response | cut -d' ' -f2)"
    expect_eq "$status has no body" "" "$(sed '1,/^\r$/d' response)"
    expect_eq "$status is not chunked" "" \
        "$(head_field transfer-encoding response)"
    connects=$(relay_curl -o /dev/null -o "$WORK/body" \
        -w '%{http_code}:%{num_connects} ' "$IIS/status/$status" \
        "$IIS/peer" 2>"$ERR") || true
    expect_eq "request after $status on the same client connection" \
        "$status:1 200:0 " "$connects"
    expect_eq "request after $status uses the same backend connection" \
        "$peer_before" "$(cat "$WORK/body")"
done

# Chunked upload of unknown length, from a pipe.

fetch "chunked upload" -X POST -T - "$IIS/sha256" \
    < <(pattern_stream 3000000 chunked-up)
expect_eq "chunked upload is 200" 200 "$CODE"
expect_eq "chunked upload arrives byte-exact" \
    "$(python3 "$BACKEND_PY" --digest 3000000 chunked-up)" \
    "$(json_value sha256)"
expect_eq "chunked upload length" 3000000 "$(json_value length)"

fetch "small chunked upload to /echo" -X POST -T - "$APACHE/echo" \
    < <(printf 'small chunked body\n')
expect_eq "small chunked upload is echoed" "small chunked body" \
    "$(cat "$WORK/body")"

# Expect: 100-continue. With a 60 s expect timeout curl sends the body only
# after the 100 arrives.

fetch "100-continue upload" -v -H 'Expect: 100-continue' \
    --expect100-timeout 60 --data-binary @upload.bin "$IIS/sha256"
expect_eq "100-continue upload is 200" 200 "$CODE"
if grep -q '^< HTTP/1.1 100 Continue' "$ERR"; then
    pass "client receives 100 Continue"
else
    fail "client receives 100 Continue"
fi
expect_eq "100-continue upload arrives byte-exact" "$upload_sha" \
    "$(json_value sha256)"

# Streaming: the first chunk of /hold reaches the client while the backend
# still waits for /release, so the relay and the enabler do not buffer the
# whole response.

relay_curl -N -o stream.out "$IIS/hold?key=stream&first=7&rest=5" \
    2>stream.err &
stream_pid=$!
for _ in $(seq 1 400); do
    [ "$(cat stream.out 2>/dev/null)" = aaaaaaa ] && break
    process_running "$stream_pid" || break
    sleep 0.05
done
expect_eq "first chunk arrives before the backend sends the last" aaaaaaa \
    "$(cat stream.out 2>/dev/null)"
if process_running "$stream_pid"; then
    pass "client still waits for the rest of the body"
else
    fail "client still waits for the rest of the body"
fi
curl -sS --max-time 10 -o /dev/null \
    "http://127.0.0.1:$PORT_bsync/release?key=stream" || true
stream_status=0
wait "$stream_pid" || stream_status=$?
expect_eq "streamed response completes" 0 "$stream_status"
expect_eq "streamed body" aaaaaaabbbbb "$(cat stream.out)"

# Trailer fields of a chunked request.

{
    printf 'POST %s/trailers HTTP/1.1\r\nHost: localhost\r\n' \
        "$RELAY_CLIENT_PREFIX/sync"
    printf 'Transfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n'
    printf 'Connection: close\r\n\r\n'
    printf '5\r\nhello\r\n6\r\n world\r\n0\r\nX-Checksum: sum-42\r\n\r\n'
} >request
raw "chunked request with a trailer"
expect_eq "request with a trailer is 200" "HTTP/1.1 200 OK" \
    "$(head -n 1 response | tr -d '\r')"
sed '1,/^\r$/d' response >"$WORK/body"
expect_eq "body before the trailer" \
    "$(printf 'hello world' | sha256sum | cut -d' ' -f1)" \
    "$(json_value sha256 2>/dev/null)"
trailers=$(json_value trailers 2>/dev/null | tr '[:upper:]' '[:lower:]')
expect_eq "trailer reaches the backend" "[['x-checksum', 'sum-42']]" \
    "$trailers"

# HTTP/1.0 clients get Content-Length or a close-delimited body, never
# chunked.

fetch "HTTP/1.0 GET of a chunked route" --http1.0 \
    "$IIS/bytes?n=200000&seed=h10&chunked=1"
expect_eq "HTTP/1.0 chunked route is 200" 200 "$CODE"
expect_eq "HTTP/1.0 client gets no chunked coding" "" \
    "$(head_field transfer-encoding)"
expect_eq "HTTP/1.0 close-delimited response says close" close \
    "$(head_field connection | tr '[:upper:]' '[:lower:]')"
expect_eq "HTTP/1.0 close-delimited body" \
    "$(python3 "$BACKEND_PY" --digest 200000 h10)" "$(sha_of "$WORK/body")"

fetch "HTTP/1.0 GET with Content-Length" --http1.0 \
    "$IIS/bytes?n=200000&seed=h10cl"
expect_eq "HTTP/1.0 Content-Length route is 200" 200 "$CODE"
expect_eq "HTTP/1.0 client gets Content-Length" 200000 \
    "$(head_field content-length)"
expect_eq "HTTP/1.0 Content-Length body" \
    "$(python3 "$BACKEND_PY" --digest 200000 h10cl)" "$(sha_of "$WORK/body")"

printf 'GET %s/echo HTTP/1.0\r\n\r\n' "$RELAY_CLIENT_PREFIX/sync" >request
raw "HTTP/1.0 request without Host"
expect_eq "HTTP/1.0 request without Host is 200" 200 \
    "$(head -n 1 response | cut -d' ' -f2)"
sed '1,/^\r$/d' response >"$WORK/body"
expect_eq "backend sees the relay's host" localhost \
    "$(echo_info headers host 2>/dev/null)"

# 100 concurrent requests to a farm of two servers.

if start_server pool p1 token-p1 p1 && start_server pool p2 token-p2 p2; then
    pass "two servers of farm pool are up"
fi
mkdir -p concurrent
POOL=$(relay_url pool /)
export WORK RELAY_HTTPS_PORT RELAY_HTTP_PORT POOL
export -f relay_curl
seq 1 100 | xargs -P 100 -I{} bash -c \
    'relay_curl -o "$WORK/concurrent/id-{}" -w "%{http_code}\n" \
        "${POOL}server-id?n={}" 2>"$WORK/concurrent/id-{}.err"' \
    >concurrent/codes || true
expect_eq "100 concurrent requests all get 200" 100 \
    "$(grep -c '^200$' concurrent/codes)"
ids=$(cat concurrent/id-? concurrent/id-?? concurrent/id-100 2>/dev/null |
    sort | uniq -c | awk '{ print $2 "=" ($1 > 0) }' | tr '\n' ' ')
expect_eq "both servers of the farm answer" "p1=1 p2=1 " "$ids"

seq 1 100 | xargs -P 100 -I{} bash -c \
    'relay_curl -o "$WORK/concurrent/bytes-{}" -w "%{http_code}\n" \
        "${POOL}bytes?n=150000&seed=c{}" 2>/dev/null' \
    >concurrent/codes || true
expect_eq "100 concurrent downloads all get 200" 100 \
    "$(grep -c '^200$' concurrent/codes)"
bad=$(python3 - "$BACKEND_PY" concurrent <<'EOF'
import hashlib, importlib.util, sys

sys.dont_write_bytecode = True
spec = importlib.util.spec_from_file_location("backend", sys.argv[1])
backend = importlib.util.module_from_spec(spec)
spec.loader.exec_module(backend)
bad = []
for i in range(1, 101):
    with open(f"{sys.argv[2]}/bytes-{i}", "rb") as body:
        actual = hashlib.sha256(body.read()).hexdigest()
    if actual != backend.pattern_digest(150000, f"c{i}"):
        bad.append(str(i))
print(" ".join(bad))
EOF
)
expect_eq "100 concurrent downloads are byte-exact" "" "$bad"

# Two tunnels for one server id: while one tunnel serves a held request,
# the next request goes over the other one.

# The second enabler logs to a file of its own, because enabler_start
# names the log after the farm and the id.
if start_server twin t1 token-t1 ta &&
    start_server twin t1 token-t1 tb --log-file "$WORK/enabler-tb.log"; then
    pass "two enablers with the same server id are up"
fi
run grep -Ec "tunnel [0-9]+ up: farm=twin server=t1 " "$RELAY_LOG"
expect_eq "relay has two tunnels for twin/t1" 2 "$(cat "$OUT")"
relay_curl -o twin-hold.out "$(relay_url twin '/hold?key=twin')" \
    2>twin-hold.err &
hold_pid=$!
held_by=""
for _ in $(seq 1 200); do
    for name in ta tb; do
        if grep -q 'GET /hold?key=twin' "$WORK/backend-$name.log"; then
            held_by=$name
        fi
    done
    [ -n "$held_by" ] && break
    sleep 0.05
done
if [ -n "$held_by" ]; then
    pass "held request reaches a backend of twin/t1"
fi
fetch "request while the other tunnel is busy" "$(relay_url twin /server-id)"
expect_eq "request while one tunnel is busy is 200" 200 "$CODE"
other=$([ "$held_by" = ta ] && echo tb || echo ta)
expect_eq "the other tunnel of the same server id serves it" "$other" \
    "$(cat "$WORK/body")"
for name in ta tb; do
    port_var=PORT_$name
    curl -sS --max-time 10 -o /dev/null \
        "http://127.0.0.1:${!port_var}/release?key=twin" || true
done
hold_status=0
wait "$hold_pid" || hold_status=$?
expect_eq "held request completes" 0 "$hold_status"
expect_eq "held request body" ab "$(cat twin-hold.out)"

# Every request ends with one log line on each side.

run grep -c "result=done" "$RELAY_LOG"
if [ "$(cat "$OUT")" -ge 200 ]; then
    pass "relay logs the completed requests"
else
    fail "relay logs the completed requests (only $(cat "$OUT"))"
fi
run grep -E "request .* result=(client-closed|backend-failed|tunnel-lost)" \
    "$RELAY_LOG"
expect_eq "relay logs no failed request" 1 "$STATUS"

# SIGTERM stops every enabler and the relay with status 0, and a sanitizer
# build reports nothing, leaks included.

for pid in "${ENABLER_PIDS[@]}"; do
    stop_process "$pid" 10
    expect_eq "enabler $pid exits 0 on SIGTERM" 0 "$STOP_STATUS"
done
stop_process "$RELAY_PID" 10
expect_eq "relay exits 0 on SIGTERM" 0 "$STOP_STATUS"
expect_no_sanitizer_report "relay and enablers log no sanitizer report" \
    relay.log enabler-*.log

if [ "$FAILED" -gt 0 ]; then
    for log in relay.log enabler-*.log; do
        echo "--- $log"
        tail -n 30 "$log"
    done
fi
finish
