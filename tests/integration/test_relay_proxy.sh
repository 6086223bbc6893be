#!/usr/bin/env bash
# The PROXY protocol on the relay's listeners. A relay listens on 127.0.0.1
# and 127.0.0.2 and trusts 127.0.0.2 (Linux routes all of 127.0.0.0/8 to
# lo), and a python client binds its source address to pick the side.
# From 127.0.0.2 it sends v1 and v2 headers over HTTPS and plain HTTP, and
# the backend's /echo and the relay's request log must show the address in
# the header. LOCAL and UNKNOWN headers and no header keep the real
# address. An invalid header, a header from 127.0.0.1 and half a header
# that stalls get the connection closed without a response. Last, when
# haproxy is installed, curl goes through a real HAProxy that sends PROXY
# v2 headers to a second relay that trusts 127.0.0.1.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/relay_lib.sh"

cd "$WORK" || exit 1

# The addresses that the headers name. Each case gives its own source port
# in the header, so that its request log line can be found.
CLIENT_V4=203.0.113.7
CLIENT_V6=2001:db8::7

PROXY_CLIENT_PY=$(
    cat <<'EOF'
import argparse, http.client, json, os, socket, ssl, struct, sys, time

TIMEOUT = 10.0
SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"

parser = argparse.ArgumentParser()
parser.add_argument("--source", required=True)
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--tls", action="store_true")
parser.add_argument("--header", default="none")
parser.add_argument("--header-port", type=int, default=40000)
parser.add_argument("--path", default="/")
parser.add_argument("--expect-close", action="store_true")
args = parser.parse_args()


def proxy_header(kind):
    sport, dport = args.header_port, args.port
    v1 = "PROXY TCP4 203.0.113.7 127.0.0.1 %d %d\r\n" % (sport, dport)
    if kind == "none":
        return b""
    if kind == "v1":
        return v1.encode()
    if kind == "v1-tcp6":
        return ("PROXY TCP6 2001:db8::7 ::1 %d %d\r\n" % (sport, dport)).encode()
    if kind == "v1-unknown":
        return b"PROXY UNKNOWN\r\n"
    if kind == "v1-invalid":
        return b"PROXY TCP4 203.0.113.7\r\n"
    if kind == "half":
        return v1.encode()[: len(v1) // 2]
    if kind in ("v2", "v2-local"):
        body = socket.inet_aton("203.0.113.7") + socket.inet_aton("127.0.0.1")
        body += struct.pack("!HH", sport, dport)
        command = 0x21 if kind == "v2" else 0x20
        return SIGNATURE + bytes([command, 0x11]) + struct.pack("!H", len(body)) + body
    sys.exit("unknown header kind " + kind)


def tls_wrap(sock):
    context = ssl.create_default_context(cafile=os.environ["RELAY_CA"])
    return context.wrap_socket(sock, server_hostname="localhost")


def wait_for_close(sock):
    """Print how many bytes came back before the relay closed, and when."""
    start = time.monotonic()
    received = 0
    try:
        if args.header != "half":
            if args.tls:
                sock = tls_wrap(sock)
            else:
                sock.sendall(b"GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n"
                             % args.path.encode())
        while True:
            data = sock.recv(65536)
            if not data:
                break
            received += len(data)
    except TimeoutError:
        print("the connection is still open after %g s" % TIMEOUT)
        sys.exit(3)
    except OSError as err:
        print("error=%s" % err)
    print("received=%d" % received)
    print("seconds=%.2f" % (time.monotonic() - start))


def request(sock):
    """Send GET PATH and print the status and the forwarding fields that
    /echo shows."""
    if args.tls:
        sock = tls_wrap(sock)
    conn = http.client.HTTPConnection("localhost", args.port, timeout=TIMEOUT)
    conn.sock = sock
    conn.request("GET", args.path, headers={"Host": "localhost:%d" % args.port})
    response = conn.getresponse()
    body = response.read()
    print("status=%d" % response.status)
    if response.status == 200:
        for name, value in json.loads(body)["headers"]:
            if name.lower() in ("x-forwarded-for", "forwarded"):
                print("%s=%s" % (name.lower(), value))


sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
sock.settimeout(TIMEOUT)
sock.bind((args.source, 0))
sock.connect(("127.0.0.1", args.port))
print("local_port=%d" % sock.getsockname()[1], flush=True)
sock.sendall(proxy_header(args.header))
if args.expect_close or args.header == "half":
    wait_for_close(sock)
else:
    try:
        request(sock)
    except OSError as err:
        print("error=%s" % err)
        sys.exit(4)
EOF
)

# proxy_client ARG...: runs the client above with its output in $OUT and
# $ERR, and sets STATUS, and from its output LOCAL_PORT, CODE, XFF,
# FORWARDED, RECEIVED and SECONDS_TAKEN (empty when it did not print
# them).
proxy_client()
{
    run env RELAY_CA="$WORK/pki/ca.crt" python3 -c "$PROXY_CLIENT_PY" "$@"
    LOCAL_PORT=$(sed -n 's/^local_port=//p' "$OUT")
    CODE=$(sed -n 's/^status=//p' "$OUT")
    XFF=$(sed -n 's/^x-forwarded-for=//p' "$OUT")
    FORWARDED=$(sed -n 's/^forwarded=//p' "$OUT")
    RECEIVED=$(sed -n 's/^received=//p' "$OUT")
    SECONDS_TAKEN=$(sed -n 's/^seconds=//p' "$OUT")
}

# expect_match NAME REGEX VALUE: VALUE must match the extended REGEX.
expect_match()
{
    if [[ $3 =~ $2 ]]; then
        pass "$1"
    else
        FAILED=$((FAILED + 1))
        echo "FAILED: $1: '$3' does not match /$2/"
    fi
}

# expect_log NAME REGEX [COUNT]: the relay's log must get COUNT (default 1)
# lines that match REGEX.
expect_log()
{
    if wait_log "$RELAY_LOG" "$2" "${3:-1}"; then
        pass "$1"
    else
        FAILED=$((FAILED + 1))
        echo "FAILED: $1: fewer than ${3:-1} lines of $RELAY_LOG match /$2/"
        tail -n 20 "$RELAY_LOG" | sed 's/^/    log: /'
    fi
}

# regex_quote TEXT: prints TEXT with the characters of an extended regex
# escaped.
regex_quote()
{
    printf '%s' "$1" | sed 's/[][\.*^$+?(){}|/]/\\&/g'
}

# expect_forwarded NAME ADDRESS PORT: the last request got 200, the
# backend saw ADDRESS last in X-Forwarded-For and in Forwarded, and the
# relay logged it as client ADDRESS:PORT (IPv6 in brackets).
expect_forwarded()
{
    local name=$1 address=$2 port=$3 quoted node
    quoted=$(regex_quote "$address")
    node=$quoted
    if [[ $address == *:* ]]; then
        node="\"\\[$quoted\\]\""
    fi
    expect_eq "$name: status" 200 "$CODE"
    expect_match "$name: X-Forwarded-For" "(^|, )$quoted\$" "$XFF"
    expect_match "$name: Forwarded" "(^|, )for=$node;" "$FORWARDED"
    if [[ $address == *:* ]]; then
        quoted="\\[$quoted\\]"
    fi
    expect_log "$name: request log" \
        "request client=$quoted:$port farm=sync .*status=200"
}

if ! relay_pki; then
    fail "make the test PKI"
    finish
    exit
fi
relay_config relay.conf option:trusted_proxies=127.0.0.2 \
    option:header_timeout=1 farm:sync server:sync:s1:token-s1
sed -i 's/^listen = 127\.0\.0\.1$/listen = 127.0.0.1, 127.0.0.2/' relay.conf
if ! relay_start relay.conf; then
    fail "relay starts"
    finish
    exit
fi
pass "relay starts"
RELAY1_PID=$RELAY_PID
run cat "$RELAY_LOG"
expect_output "relay listens on 127.0.0.2" \
    "listening on 127\.0\.0\.2:$RELAY_HTTPS_PORT \(HTTPS\)"
if ! backend_start b1; then
    fail "backend starts"
    finish
    exit
fi
if ! enabler_start sync s1 token-s1 "$BACKEND_PORT"; then
    fail "enabler connects"
    finish
    exit
fi
ENABLER1_PID=$ENABLER_PID
ECHO_PATH=$RELAY_CLIENT_PREFIX/sync/echo
HTTPS=(--port "$RELAY_HTTPS_PORT" --tls --path "$ECHO_PATH")
HTTP=(--port "$RELAY_HTTP_PORT" --path "$ECHO_PATH")

# Headers from the trusted address: the client is the one in the header.

proxy_client --source 127.0.0.2 "${HTTPS[@]}" --header v1 --header-port 40101
expect_forwarded "v1 over HTTPS" "$CLIENT_V4" 40101

proxy_client --source 127.0.0.2 "${HTTPS[@]}" --header v2 --header-port 40102
expect_forwarded "v2 over HTTPS" "$CLIENT_V4" 40102

proxy_client --source 127.0.0.2 "${HTTPS[@]}" --header v1-tcp6 \
    --header-port 40103
expect_forwarded "v1 TCP6 over HTTPS" "$CLIENT_V6" 40103

proxy_client --source 127.0.0.2 "${HTTP[@]}" --header v1 --header-port 40104
expect_forwarded "v1 over HTTP" "$CLIENT_V4" 40104

proxy_client --source 127.0.0.2 "${HTTP[@]}" --header v2 --header-port 40105
expect_forwarded "v2 over HTTP" "$CLIENT_V4" 40105

# A trusted peer without a header, or with a header that carries no
# address, is logged with its own address and port.

proxy_client --source 127.0.0.2 "${HTTPS[@]}" --header none
expect_forwarded "trusted without header" 127.0.0.2 "$LOCAL_PORT"

proxy_client --source 127.0.0.2 "${HTTPS[@]}" --header v2-local
expect_forwarded "v2 LOCAL" 127.0.0.2 "$LOCAL_PORT"

proxy_client --source 127.0.0.2 "${HTTP[@]}" --header v1-unknown
expect_forwarded "v1 UNKNOWN" 127.0.0.2 "$LOCAL_PORT"

# An untrusted peer without a header is served as before.

proxy_client --source 127.0.0.1 "${HTTPS[@]}" --header none
expect_forwarded "untrusted without header" 127.0.0.1 "$LOCAL_PORT"

# A header from the untrusted address closes the connection at once.

UNTRUSTED="connection from 127\.0\.0\.1 closed: it sent a PROXY protocol header but its address is not in trusted_proxies"

# expect_no_request NAME: no request line of the relay's log names the
# header's port 40200 or the client's own port as the client's.
expect_no_request()
{
    run grep -E "request client=[^ ]*:(40200|$LOCAL_PORT) " "$RELAY_LOG"
    expect_eq "$1: no request logged" 0 "$(wc -l <"$OUT")"
}

proxy_client --source 127.0.0.1 "${HTTPS[@]}" --header v1 --header-port 40200 \
    --expect-close
expect_eq "untrusted v1 over HTTPS: client exit" 0 "$STATUS"
expect_eq "untrusted v1 over HTTPS: bytes received" 0 "$RECEIVED"
expect_log "untrusted v1 over HTTPS: warning" "$UNTRUSTED" 1
expect_no_request "untrusted v1 over HTTPS"

proxy_client --source 127.0.0.1 "${HTTP[@]}" --header v2 --header-port 40200 \
    --expect-close
expect_eq "untrusted v2 over HTTP: client exit" 0 "$STATUS"
expect_eq "untrusted v2 over HTTP: bytes received" 0 "$RECEIVED"
expect_log "untrusted v2 over HTTP: warning" "$UNTRUSTED" 2
expect_no_request "untrusted v2 over HTTP"

# An invalid header from the trusted address closes the connection too.

proxy_client --source 127.0.0.2 "${HTTP[@]}" --header v1-invalid \
    --header-port 40200 --expect-close
expect_eq "invalid header: client exit" 0 "$STATUS"
expect_eq "invalid header: bytes received" 0 "$RECEIVED"
expect_log "invalid header: warning" \
    "connection from 127\.0\.0\.2 closed: its PROXY protocol header is invalid"
expect_no_request "invalid header"

# Half a header that stalls is closed after header_timeout (1 s): not at
# once, and well before the client's 10 s.

proxy_client --source 127.0.0.2 --port "$RELAY_HTTPS_PORT" --header half
expect_eq "half header: closed by the relay" 0 "$STATUS"
expect_eq "half header: bytes received" 0 "$RECEIVED"
if awk -v s="${SECONDS_TAKEN:-0}" 'BEGIN { exit !(s >= 0.5) }'; then
    pass "half header: not closed before header_timeout"
else
    fail "half header: not closed before header_timeout (${SECONDS_TAKEN:-no} s)"
fi
expect_log "half header: warning" \
    "connection from 127\.0\.0\.2 closed: its PROXY protocol header did not arrive within header_timeout"

# The relay still serves after all of this, and exits cleanly.

proxy_client --source 127.0.0.2 "${HTTPS[@]}" --header v1 --header-port 40109
expect_forwarded "v1 over HTTPS at the end" "$CLIENT_V4" 40109

stop_process "$ENABLER1_PID"
if stop_process "$RELAY1_PID"; then
    pass "relay stops on SIGTERM"
else
    fail "relay stops on SIGTERM"
fi
expect_eq "relay exit status" 0 "$STOP_STATUS"
expect_no_sanitizer_report "no sanitizer reports" "$WORK/relay.log"

# HAProxy in front of a relay that trusts 127.0.0.1: it sends PROXY v2
# headers, and the relay logs curl's address and port, not HAProxy's.

HAPROXY=$(command -v haproxy || true)
if [ -z "$HAPROXY" ] && [ -x /usr/sbin/haproxy ]; then
    HAPROXY=/usr/sbin/haproxy
fi
if [ -z "$HAPROXY" ]; then
    echo "note: haproxy is not installed, so the HAProxy checks are skipped"
    finish
    exit
fi

relay_config relay2.conf option:trusted_proxies=127.0.0.1 \
    farm:sync server:sync:s1:token-s1
if ! relay_start relay2.conf "$WORK/relay2.log"; then
    fail "second relay starts"
    finish
    exit
fi
pass "second relay starts"
if ! enabler_start sync s1 token-s1 "$BACKEND_PORT"; then
    fail "enabler connects to the second relay"
    finish
    exit
fi
pass "enabler from the trusted address connects without a header"

HAPROXY_PORT=$(free_port)
cat >haproxy.cfg <<EOF
global
    log stdout format raw local0

defaults
    mode tcp
    log global
    log-format "session client=%ci:%cp backend_source=%bi:%bp"
    timeout connect 5s
    timeout client 30s
    timeout server 30s

frontend front
    bind 127.0.0.1:$HAPROXY_PORT
    default_backend relay

backend relay
    server relay 127.0.0.1:$RELAY_HTTPS_PORT send-proxy-v2 source 127.0.0.1
EOF
start_bg "$WORK/haproxy.log" "$HAPROXY" -db -f haproxy.cfg
HAPROXY_PID=$BG_PID
if ! wait_ports "$HAPROXY_PID" "$HAPROXY_PORT"; then
    fail "haproxy starts"
    sed 's/^/    haproxy: /' "$WORK/haproxy.log"
    finish
    exit
fi
pass "haproxy starts"

CURL_STATUS=0
CURL_RESULT=$(curl -sS --max-time 20 --cacert "$WORK/pki/ca.crt" \
    --resolve "localhost:$HAPROXY_PORT:127.0.0.1" -o "$WORK/body" \
    -w '%{http_code} %{local_port}' \
    "https://localhost:$HAPROXY_PORT$ECHO_PATH" 2>"$ERR") || CURL_STATUS=$?
read -r CODE CURL_PORT <<<"$CURL_RESULT"
expect_eq "curl through haproxy: exit" 0 "$CURL_STATUS"
expect_eq "curl through haproxy: status" 200 "$CODE"
XFF=$(python3 -c 'import json, sys
for name, value in json.load(open(sys.argv[1]))["headers"]:
    if name.lower() == "x-forwarded-for":
        print(value)' "$WORK/body" 2>/dev/null)
expect_match "curl through haproxy: X-Forwarded-For" '(^|, )127\.0\.0\.1$' \
    "$XFF"
expect_log "curl through haproxy: relay logs curl's port" \
    "request client=127\.0\.0\.1:$CURL_PORT farm=sync .*status=200"

# HAProxy's log gives the port of its own connection to the relay, which
# must differ from curl's, or the check above proves nothing.
SESSION="session client=127\.0\.0\.1:$CURL_PORT backend_source=127\.0\.0\.1:"
if wait_log "$WORK/haproxy.log" "${SESSION}[0-9]+"; then
    HAPROXY_OUT_PORT=$(grep -Eo "${SESSION}[0-9]+" "$WORK/haproxy.log" |
        sed 's/.*://' | head -n 1)
    if [ -n "$HAPROXY_OUT_PORT" ] && [ "$HAPROXY_OUT_PORT" != "$CURL_PORT" ]
    then
        pass "haproxy connects to the relay from another port"
    else
        fail "haproxy connects to the relay from another port ($HAPROXY_OUT_PORT)"
    fi
    run grep -E "request client=127\.0\.0\.1:$HAPROXY_OUT_PORT " "$RELAY_LOG"
    expect_eq "relay does not log haproxy's port" 0 "$(wc -l <"$OUT")"
else
    fail "haproxy logs the session"
    sed 's/^/    haproxy: /' "$WORK/haproxy.log" | tail -n 20
fi

stop_process "$HAPROXY_PID"
stop_process "$ENABLER_PID"
if stop_process "$RELAY_PID"; then
    pass "second relay stops on SIGTERM"
else
    fail "second relay stops on SIGTERM"
fi
expect_no_sanitizer_report "no sanitizer reports in the second relay" \
    "$WORK/relay2.log"

finish
