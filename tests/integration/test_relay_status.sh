#!/usr/bin/env bash
# The relay's status page at a client prefix with no farm. Farm "web" has
# server s1 with a connected enabler, s2 whose enabler was refused for a
# wrong token, and s3 disabled. Farm "spare" has no enabler. The test
# checks the JSON and the HTML, the refusals kept per server, per farm and
# relay-wide, the request counters, ?farm= and ?server=, HEAD and 405, and
# that no token appears. It then checks status_page = off, and
# status_page = local with a non-loopback client: once through a PROXY
# protocol header, and once over a veth pair between two network
# namespaces when it runs as root. When chromium is installed, it renders
# the page too.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/relay_lib.sh"

cd "$WORK" || exit 1

TOKEN_S1="status-token-s1-right-5c1e"
TOKEN_S2="status-token-s2-right-9a7b"
TOKEN_S3="status-token-s3-right-0d42"
TOKEN_P1="status-token-p1-right-73f1"
TOKEN_WRONG="status-token-s2-wrong-e4d0"
ALL_TOKENS=("$TOKEN_S1" "$TOKEN_S2" "$TOKEN_S3" "$TOKEN_P1" "$TOKEN_WRONG")
PAGE=$RELAY_CLIENT_PREFIX
ISO_TIME='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$'

# Both network namespaces are private to this run, so the addresses on
# their veth pair cannot clash with any network of the host.
NETNS_RELAY=drawbridge-status-relay-$$
NETNS_CLIENT=drawbridge-status-client-$$
NETNS_RELAY_IF=dbsr$$
NETNS_CLIENT_IF=dbsc$$
NETNS_RELAY_ADDR=10.200.0.1
NETNS_CLIENT_ADDR=10.200.0.2
NETNS_MADE=()

# status_exit: stops the background processes, the relay inside a
# namespace among them, before deleting the namespaces, which also
# deletes the veth pair.
status_exit()
{
    local ns
    cleanup
    for ns in "${NETNS_MADE[@]}"; do
        ip netns delete "$ns" 2>/dev/null || true
    done
}
trap status_exit EXIT

# status_get NAME TARGET [CURL_ARG...]: requests TARGET, a path and query,
# from the relay over HTTPS. Sets CODE, keeps the head in $WORK/head and
# the body in $WORK/body, and appends the body to $WORK/bodies, which the
# token check reads at the end.
status_get()
{
    local name=$1 target=$2
    shift 2
    rm -f "$WORK/body" "$WORK/head"
    CODE=$(relay_curl -o "$WORK/body" -D "$WORK/head" -w '%{http_code}' \
        "$@" "https://localhost:$RELAY_HTTPS_PORT$target" 2>"$ERR") || true
    : >"$OUT"
    touch "$WORK/body" "$WORK/head"
    cat "$WORK/body" >>"$WORK/bodies"
    echo "$name: HTTP $CODE $(head -n 1 "$ERR")"
}

# header_value NAME: prints the value of header field NAME in $WORK/head.
header_value()
{
    awk -v name="$1" '
        BEGIN { name = tolower(name) ":" }
        { sub(/\r$/, "") }
        index(tolower($0), name) == 1 {
            sub(/^[^:]*:[ \t]*/, "")
            print
            exit
        }
    ' "$WORK/head"
}

# body_has NAME TEXT: the body of the last status_get must contain TEXT.
body_has()
{
    if grep -qF -- "$2" "$WORK/body"; then
        pass "$1"
    else
        fail "$1 (no '$2' in: $(head -c 600 "$WORK/body"))"
    fi
}

# body_lacks NAME TEXT: the body of the last status_get must not contain
# TEXT.
body_lacks()
{
    if grep -qiF -- "$2" "$WORK/body"; then
        fail "$1 (the body contains '$2')"
    else
        pass "$1"
    fi
}

JSON_VALUE_PY=$(
    cat <<'EOF'
import calendar, json, sys, time


def epoch(text):
    return calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ"))


try:
    with open(sys.argv[1], encoding="utf-8") as f:
        d = json.load(f)
    value = eval(sys.argv[2], {"d": d, "epoch": epoch})
except Exception as err:
    value = "error: %s: %s" % (type(err).__name__, err)
print(value if isinstance(value, str) else json.dumps(value))
EOF
)

# json_eq NAME EXPECTED EXPR: EXPR, a Python expression over the JSON body
# of the last status_get as `d`, must print EXPECTED. Strings print as
# they are, other values as JSON (true, null, 3). epoch(TEXT) turns a
# time of the page into seconds since 1970.
json_eq()
{
    expect_eq "$1" "$2" "$(python3 -c "$JSON_VALUE_PY" "$WORK/body" "$3")"
}

# refuse_tunnel NAME FARM ID TOKEN STATUS: runs an enabler for server ID
# of FARM with TOKEN that gives up after one attempt, which the relay
# must refuse with STATUS: the enabler exits 3.
refuse_tunnel()
{
    local name=$1 farm=$2 id=$3 token=$4 status=$5
    local token_file="$WORK/token-refused"
    (umask 077 && printf '%s\n' "$token" >"$token_file")
    run timeout 60 "$DRAWBRIDGE" enabler \
        --relay "https://localhost:$RELAY_HTTPS_PORT" \
        --farm "$farm" --id "$id" --token-file "$token_file" \
        --ca-file "$WORK/pki/ca.crt" \
        --backend "http://127.0.0.1:$BACKEND_PORT" --max-retries 0
    if [ "$STATUS" -ne 3 ]; then
        fail "$name (enabler exit $STATUS, expected 3)"
    elif ! grep -q "the relay refused the tunnel: $status " "$OUT" "$ERR"
    then
        fail "$name (no refusal with status $status)"
    else
        pass "$name"
    fi
}

# enabler_local_address PID PORT: prints the local address and port of the
# TCP connection of process PID to port PORT, as ss shows it.
enabler_local_address()
{
    ss -Htnp state established "( dport = :$2 )" | awk \
        -v pid="pid=$1," -v port=":$2" '
        index($0, pid) {
            for (i = 2; i <= NF; i++) {
                if (substr($i, length($i) - length(port) + 1) == port) {
                    print $(i - 1)
                    exit
                }
            }
        }'
}

HTTP_PARTS_PY=$(
    cat <<'EOF'
import sys

data = open(sys.argv[1], "rb").read()
head, sep, body = data.partition(b"\r\n\r\n")
lines = head.decode("latin-1").split("\r\n")
length = "-"
for line in lines[1:]:
    name, _, value = line.partition(":")
    if name.strip().lower() == "content-length":
        length = value.strip()
print(lines[0].split(" ")[1] if sep else "-", length, len(body))
EOF
)

# http_parts FILE: prints the status, the Content-Length and the number of
# bytes after the head of the raw HTTP response in FILE.
http_parts()
{
    python3 -c "$HTTP_PARTS_PY" "$1"
}

# raw_status_page NAME PORT [PROXY_LINE]: sends a GET for the status page
# to PORT of 127.0.0.1 over plain HTTP, after PROXY_LINE when given, and
# keeps the response in $WORK/response.
raw_status_page()
{
    local name=$1 port=$2 proxy=${3:-}
    {
        if [ -n "$proxy" ]; then
            printf '%s\r\n' "$proxy"
        fi
        printf 'GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n' "$PAGE"
    } | raw_http "$port" >"$WORK/response" 2>"$ERR" || true
    echo "$name: $(head -n 1 "$WORK/response" | tr -d '\r')"
}

if ! relay_pki; then
    fail "make the test PKI"
    finish
    exit
fi

# The relay and its state

TEST_START=$(date -u +%s)
relay_config relay.conf option:trusted_proxies=127.0.0.1 \
    option:client_prefix=/relay/client \
    farm:web server:web:s1:"$TOKEN_S1" server:web:s2:"$TOKEN_S2" \
    server:web:s3:"$TOKEN_S3" farm:spare server:spare:p1:"$TOKEN_P1"
relay_server_option relay.conf web s3 enable no
relay_self_option relay.conf id status-relay
if ! relay_start relay.conf; then
    fail "relay starts"
    finish
    exit
fi
pass "relay starts"
MAIN_RELAY_PID=$RELAY_PID
MAIN_RELAY_LOG=$RELAY_LOG

if ! backend_start b1 || ! enabler_start web s1 "$TOKEN_S1" "$BACKEND_PORT"
then
    fail "backend and enabler of s1 start"
    finish
    exit
fi
pass "backend and enabler of s1 start"
S1_ENABLER_PID=$ENABLER_PID
S1_TUNNEL_LINE=$(grep -E 'tunnel [0-9]+ up: farm=web server=s1 ' "$RELAY_LOG")
S1_TUNNEL_ID=$(sed -E 's/.*tunnel ([0-9]+) up:.*/\1/' <<<"$S1_TUNNEL_LINE")
if command -v ss >/dev/null; then
    S1_TUNNEL_PEER=$(
        enabler_local_address "$S1_ENABLER_PID" "$RELAY_HTTPS_PORT"
    )
else
    echo "note: no ss command, so the tunnel's peer is taken from the log"
    S1_TUNNEL_PEER=$(
        sed -E 's/.* from ([^ ]+) over .*/\1/' <<<"$S1_TUNNEL_LINE"
    )
fi
echo "s1: tunnel $S1_TUNNEL_ID from $S1_TUNNEL_PEER"

refuse_tunnel "enabler of s2 with a wrong token is refused" \
    web s2 "$TOKEN_WRONG" 401

# JSON

status_get "JSON" "$PAGE?format=json"
expect_eq "JSON: status" 200 "$CODE"
expect_eq "JSON: content type" application/json "$(header_value Content-Type)"
expect_eq "JSON: not cached" no-store "$(header_value Cache-Control)"
json_eq "JSON: top-level keys" "farms last_refusal relay" "' '.join(sorted(d))"
json_eq "JSON: relay keys" "availability host id started version" \
    "' '.join(sorted(d['relay']))"
json_eq "JSON: farm keys" "availability id last_refusal servers" \
    "' '.join(sorted(d['farms'][0]))"
json_eq "JSON: server keys" \
    "connected description id in_flight last_refusal requests tunnels" \
    "' '.join(sorted(d['farms'][0]['servers'][0]))"
json_eq "JSON: tunnel keys" "id peer since streams" \
    "' '.join(sorted(d['farms'][0]['servers'][0]['tunnels'][0]))"
json_eq "JSON: refusal keys" "at peer reason status" \
    "' '.join(sorted(d['farms'][0]['servers'][1]['last_refusal']))"

json_eq "JSON: relay id" status-relay "d['relay']['id']"
json_eq "JSON: relay host" localhost "d['relay']['host']"
json_eq "JSON: relay version" "$(db --version | awk '{ print $2 }')" \
    "d['relay']['version']"
json_eq "JSON: start time is an ISO 8601 UTC time" true \
    "__import__('re').match(r'$ISO_TIME', d['relay']['started']) is not None"
json_eq "JSON: start time is when the test started the relay" true \
    "$TEST_START <= epoch(d['relay']['started']) <= $(date -u +%s)"
json_eq "JSON: relay availability is partial" partial \
    "d['relay']['availability']"
json_eq "JSON: farms in file order" "web spare" \
    "' '.join(f['id'] for f in d['farms'])"
json_eq "JSON: farm web is partial" partial "d['farms'][0]['availability']"
json_eq "JSON: farm spare is none" none "d['farms'][1]['availability']"
json_eq "JSON: enabled servers of web, not disabled s3" "s1 s2" \
    "' '.join(s['id'] for s in d['farms'][0]['servers'])"
json_eq "JSON: servers of spare" "p1" \
    "' '.join(s['id'] for s in d['farms'][1]['servers'])"

S1="d['farms'][0]['servers'][0]"
S2="d['farms'][0]['servers'][1]"
T1="${S1}['tunnels'][0]"
R2="${S2}['last_refusal']"
RWEB="d['farms'][0]['last_refusal']"
json_eq "JSON: s1 connected" true "${S1}['connected']"
json_eq "JSON: s1 description" "" "${S1}['description']"
json_eq "JSON: s1 has one tunnel" 1 "len(${S1}['tunnels'])"
json_eq "JSON: s1 tunnel id as logged" "$S1_TUNNEL_ID" \
    "str(${T1}['id'])"
json_eq "JSON: s1 tunnel peer is the enabler's address" "$S1_TUNNEL_PEER" \
    "${T1}['peer']"
json_eq "JSON: s1 tunnel peer as logged" true \
    "' from ' + ${T1}['peer'] + ' over TLS' in '''$S1_TUNNEL_LINE'''"
json_eq "JSON: s1 tunnel since is after the start" true \
    "epoch(${T1}['since']) >= epoch(d['relay']['started'])"
json_eq "JSON: s1 tunnel has no stream" 0 "${T1}['streams']"
json_eq "JSON: s1 nothing in flight" 0 "${S1}['in_flight']"
json_eq "JSON: s1 no request yet" 0 "${S1}['requests']"
json_eq "JSON: s1 no refusal" null "${S1}['last_refusal']"

json_eq "JSON: s2 not connected" false "${S2}['connected']"
json_eq "JSON: s2 has no tunnel" "[]" "${S2}['tunnels']"
json_eq "JSON: s2 refusal status" 401 "${R2}['status']"
json_eq "JSON: s2 refusal peer is loopback" true \
    "${R2}['peer'].startswith('127.0.0.1:')"
json_eq "JSON: s2 refusal time" true \
    "$TEST_START <= epoch(${R2}['at']) <= $(date -u +%s)"
json_eq "JSON: s2 refusal reason" true \
    "${R2}['reason'].startswith('wrong token for server s2 of farm web')"
for token in "$TOKEN_WRONG" "$TOKEN_S2"; do
    json_eq "JSON: s2 refusal reason lacks $token" false \
        "'$token' in ${R2}['reason']"
done
json_eq "JSON: farm web has no refusal of its own" null \
    "$RWEB"
json_eq "JSON: relay has no refusal of its own" null "d['last_refusal']"
for token in "${ALL_TOKENS[@]}"; do
    body_lacks "JSON lacks token $token" "$token"
done

# HTML

status_get "HTML" "$PAGE"
expect_eq "HTML: status" 200 "$CODE"
expect_eq "HTML: content type" "text/html; charset=utf-8" \
    "$(header_value Content-Type)"
expect_eq "HTML: not cached" no-store "$(header_value Cache-Control)"
body_has "HTML: title" "<title>Drawbridge relay status-relay</title>"
body_has "HTML: heading" "<h1>Drawbridge relay status-relay</h1>"
body_has "HTML: host" "Host: localhost<br>"
body_has "HTML: version" "Version: $(db --version | awk '{ print $2 }')<br>"
body_has "HTML: relay availability" "Availability: partial</p>"
body_has "HTML: farm web" "<h2>Farm web</h2>
<p>Availability: partial</p>"
body_has "HTML: farm spare" "<h2>Farm spare</h2>
<p>Availability: none</p>"
body_has "HTML: s1 connected" "<tr><td>s1</td><td>connected</td>"
body_has "HTML: s1 tunnel" "tunnel $S1_TUNNEL_ID from $S1_TUNNEL_PEER since "
body_has "HTML: s2 not connected" "<tr><td>s2</td><td>not connected</td>"
body_has "HTML: s2 refusal" ", 401 from 127.0.0.1:"
body_has "HTML: s2 refusal reason" "wrong token for server s2 of farm web"
body_lacks "HTML: disabled s3 not listed" "<td>s3</td>"
body_lacks "HTML: no script element" "<script"
body_lacks "HTML: no javascript URL" "javascript:"
for token in "${ALL_TOKENS[@]}"; do
    body_lacks "HTML lacks token $token" "$token"
done

# Every client prefix, with or without a trailing slash

for prefix in "$PAGE/" /cli/iarelayserver /cli/iarelayserver/ \
    /IAS_RELAY_SERVER/Client/RS_CLIENT.DLL /relay/client /relay/client/; do
    status_get "HTML at $prefix" "$prefix"
    expect_eq "HTML at $prefix: status" 200 "$CODE"
    body_has "HTML at $prefix: heading" "<h1>Drawbridge relay status-relay</h1>"
    status_get "JSON at $prefix" "$prefix?format=json"
    expect_eq "JSON at $prefix: status" 200 "$CODE"
    json_eq "JSON at $prefix: relay id" status-relay "d['relay']['id']"
done

# Refusals for an unknown or disabled server id, and for an unknown farm

refuse_tunnel "enabler with an unknown server id is refused" \
    web s9 "$TOKEN_S1" 404
status_get "JSON after unknown id" "$PAGE?format=json"
json_eq "JSON: farm refusal status for an unknown id" 404 \
    "${RWEB}['status']"
json_eq "JSON: farm refusal reason for an unknown id" true \
    "${RWEB}['reason'].startswith(\"unknown server id 's9' in farm web\")"
json_eq "JSON: farm refusal peer" true \
    "${RWEB}['peer'].startswith('127.0.0.1:')"
json_eq "JSON: s2 keeps its own refusal" 401 "${R2}['status']"
json_eq "JSON: s1 has still no refusal" null "${S1}['last_refusal']"

refuse_tunnel "enabler of disabled s3 is refused" web s3 "$TOKEN_S3" 403
status_get "JSON after disabled id" "$PAGE?format=json"
json_eq "JSON: farm refusal status for a disabled id" 403 \
    "${RWEB}['status']"
json_eq "JSON: farm refusal reason for a disabled id" true \
    "${RWEB}['reason'].startswith('server s3 of farm web is disabled')"
json_eq "JSON: relay has still no refusal" null "d['last_refusal']"

refuse_tunnel "enabler of an unknown farm is refused" \
    nosuch s1 "$TOKEN_S1" 404
status_get "JSON after unknown farm" "$PAGE?format=json"
json_eq "JSON: relay refusal status" 404 "d['last_refusal']['status']"
json_eq "JSON: relay refusal reason" true \
    "d['last_refusal']['reason'].startswith(\"unknown farm 'nosuch'\")"
json_eq "JSON: relay refusal time" true \
    "$TEST_START <= epoch(d['last_refusal']['at']) <= $(date -u +%s)"
json_eq "JSON: farm web keeps its refusal" 403 \
    "${RWEB}['status']"
json_eq "JSON: farm spare has no refusal" null "d['farms'][1]['last_refusal']"

status_get "HTML after refusals" "$PAGE"
body_has "HTML: farm refusal" \
    "<p>Last refused tunnel for an unknown or disabled server id: "
body_has "HTML: farm refusal reason" \
    ", 403 from 127.0.0.1:"
body_has "HTML: relay refusal" "<p>Last refused tunnel for an unknown farm: "
body_has "HTML: relay refusal reason" "unknown farm 'nosuch'"

# Requests through the relay

for i in 1 2 3; do
    expect_eq "request $i through farm web" b1 \
        "$(relay_curl "$(relay_url web /server-id)" 2>"$ERR")"
done
# The relay logs a request once it stopped counting it as in flight.
if ! wait_log "$RELAY_LOG" \
    'farm=web server=s1 method=GET path=[^ ]*/server-id status=200' 3; then
    fail "relay logs the 3 requests"
fi
status_get "JSON after 3 requests" "$PAGE?format=json"
json_eq "JSON: s1 counts 3 requests" 3 "${S1}['requests']"
json_eq "JSON: s1 has nothing in flight" 0 "${S1}['in_flight']"
json_eq "JSON: s2 counts no request" 0 "${S2}['requests']"

start_bg "$WORK/hold.out" curl -sS --max-time 60 --cacert "$WORK/pki/ca.crt" \
    --resolve "localhost:$RELAY_HTTPS_PORT:127.0.0.1" \
    "$(relay_url web '/hold?key=status')"
HOLD_PID=$BG_PID
if wait_log "$WORK/backend-b1.log" 'GET /hold\?key=status'; then
    pass "held request reaches the backend"
else
    fail "held request reaches the backend"
fi
status_get "JSON with a request in flight" "$PAGE?format=json"
json_eq "JSON: s1 has one request in flight" 1 "${S1}['in_flight']"
json_eq "JSON: s1 tunnel has one stream" 1 "${T1}['streams']"
json_eq "JSON: s1 counts 4 requests" 4 "${S1}['requests']"
status_get "HTML with a request in flight" "$PAGE"
body_has "HTML: s1 in flight and total" "<td>1</td><td>4</td>"
curl -sS --max-time 20 "http://127.0.0.1:$BACKEND_PORT/release?key=status" \
    >/dev/null 2>&1 || true
if wait_exit "$HOLD_PID" 30; then
    expect_eq "held request completes" ab "$(cat "$WORK/hold.out")"
else
    fail "held request completes"
fi
if ! wait_log "$RELAY_LOG" \
    'farm=web server=s1 method=GET path=[^ ]*/hold[^ ]* status=200'; then
    fail "relay logs the held request"
fi
status_get "JSON after the held request" "$PAGE?format=json"
json_eq "JSON: s1 has nothing in flight again" 0 "${S1}['in_flight']"
json_eq "JSON: s1 still counts 4 requests" 4 "${S1}['requests']"

# ?farm= and ?server=

status_get "JSON of farm web" "$PAGE?format=json&farm=web"
expect_eq "JSON of farm web: status" 200 "$CODE"
json_eq "JSON of farm web: only web" web \
    "' '.join(f['id'] for f in d['farms'])"
json_eq "JSON of farm web: its servers" "s1 s2" \
    "' '.join(s['id'] for s in d['farms'][0]['servers'])"
json_eq "JSON of farm web: relay still shown" status-relay "d['relay']['id']"
json_eq "JSON of farm web: relay refusal still shown" 404 \
    "d['last_refusal']['status']"

status_get "JSON of server s2" "$PAGE?farm=web&server=s2&format=json"
expect_eq "JSON of server s2: status" 200 "$CODE"
json_eq "JSON of server s2: only web" web \
    "' '.join(f['id'] for f in d['farms'])"
json_eq "JSON of server s2: only s2" s2 \
    "' '.join(s['id'] for s in d['farms'][0]['servers'])"
json_eq "JSON of server s2: farm availability unchanged" partial \
    "d['farms'][0]['availability']"

status_get "HTML of server s2" "$PAGE?farm=web&server=s2"
expect_eq "HTML of server s2: status" 200 "$CODE"
body_has "HTML of server s2: s2" "<tr><td>s2</td>"
body_lacks "HTML of server s2: no s1" "<td>s1</td>"
body_lacks "HTML of server s2: no farm spare" "Farm spare"

status_get "HTML of farm spare" "$PAGE/?farm=spare"
expect_eq "HTML of farm spare: status" 200 "$CODE"
body_has "HTML of farm spare: spare" "<h2>Farm spare</h2>"
body_lacks "HTML of farm spare: no farm web" "Farm web"

for query in "farm=nosuch" "farm=WEB" "farm=web&server=nosuch" \
    "farm=web&server=S1" "farm=spare&server=s1" "server=s1" \
    "farm=web&server=s3" "format=json&farm=nosuch"; do
    status_get "unknown in ?$query" "$PAGE?$query"
    expect_eq "?$query: 404" 404 "$CODE"
    body_has "?$query: reason" "no such farm or server"
done

# HEAD, and methods other than GET and HEAD

printf 'GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n' "$PAGE" |
    raw_http "$RELAY_HTTP_PORT" >"$WORK/get.raw" 2>"$ERR" || true
read -r GET_STATUS GET_LENGTH GET_BYTES <<<"$(http_parts "$WORK/get.raw")"
expect_eq "GET over HTTP: status" 200 "$GET_STATUS"
expect_eq "GET over HTTP: body as long as Content-Length" "$GET_LENGTH" \
    "$GET_BYTES"
printf 'HEAD %s HTTP/1.1\r\nHost: localhost\r\n\r\n' "$PAGE" |
    raw_http "$RELAY_HTTP_PORT" >"$WORK/head.raw" 2>"$ERR" || true
read -r HEAD_STATUS HEAD_LENGTH HEAD_BYTES <<<"$(http_parts "$WORK/head.raw")"
expect_eq "HEAD: status" 200 "$HEAD_STATUS"
expect_eq "HEAD: Content-Length of the GET body" "$GET_BYTES" "$HEAD_LENGTH"
expect_eq "HEAD: no body" 0 "$HEAD_BYTES"
if grep -qai '^Content-Type: text/html' "$WORK/head.raw"; then
    pass "HEAD: content type"
else
    fail "HEAD: content type ($(head -c 300 "$WORK/head.raw"))"
fi

for method in POST PUT DELETE; do
    status_get "$method" "$PAGE?format=json" -X "$method" --data-binary x
    expect_eq "$method: 405" 405 "$CODE"
    body_has "$method: reason" "the status page takes GET and HEAD"
    # RFC 9110, section 15.5.6: a 405 response must list the allowed
    # methods in Allow.
    expect_eq "$method: Allow lists GET and HEAD" true "$(
        header_value Allow | grep -q GET &&
            header_value Allow | grep -q HEAD && echo true
    )"
done

# status_page = local (the default) with a client address from a trusted
# proxy: only 127.0.0.0/8 and ::1 may see the page.

RELAY_HTTP_PORT_MAIN=$RELAY_HTTP_PORT
while read -r family source destination expected; do
    raw_status_page "PROXY from $source" "$RELAY_HTTP_PORT_MAIN" \
        "PROXY $family $source $destination 40000 $RELAY_HTTP_PORT_MAIN"
    expect_eq "client $source by PROXY: status" "$expected" \
        "$(head -n 1 "$WORK/response" | cut -d' ' -f2)"
    if [ "$expected" = 403 ]; then
        if grep -q "open to loopback clients only" "$WORK/response"; then
            pass "client $source by PROXY: reason"
        else
            fail "client $source by PROXY: reason"
        fi
    fi
done <<'EOF'
TCP4 203.0.113.7 127.0.0.1 403
TCP4 10.200.0.2 127.0.0.1 403
TCP6 2001:db8::7 ::1 403
TCP4 127.0.0.9 127.0.0.1 200
TCP6 ::1 ::1 200
EOF

# A real browser

if ! command -v chromium >/dev/null; then
    echo "note: chromium is not installed (scripts/install-deps.sh installs" \
        "it), so the browser checks are skipped"
else
    # browser ARG...: runs headless chromium on the relay's page over plain
    # HTTP with a new profile. Every host but 127.0.0.1 resolves to
    # nothing, so chromium reaches no other address.
    browser()
    {
        timeout -k 5 60 chromium --headless --no-sandbox --disable-gpu \
            --disable-quic --no-first-run --disable-background-networking \
            --disable-component-update --disable-sync --no-proxy-server \
            --host-resolver-rules="MAP * ~NOTFOUND, EXCLUDE 127.0.0.1" \
            --user-data-dir="$(mktemp -d "$WORK/chromium.XXXXXX")" "$@" \
            "http://127.0.0.1:$RELAY_HTTP_PORT_MAIN$PAGE"
    }
    run browser --dump-dom
    expect_eq "chromium --dump-dom exits 0" 0 "$STATUS"
    cp "$OUT" "$WORK/body"
    : >"$ERR"
    cat "$WORK/body" >>"$WORK/bodies"
    # Served as text/plain, the markup would show as escaped text.
    body_has "chromium: page parsed as HTML" \
        "<h1>Drawbridge relay status-relay</h1>"
    body_has "chromium: farm web" "Farm web"
    body_has "chromium: farm spare" "Farm spare"
    body_has "chromium: server s1" "<td>s1</td>"
    body_has "chromium: server s2" "<td>s2</td>"
    body_has "chromium: availability" "Availability: partial"
    run browser --screenshot="$WORK/status.png" --window-size=1200,800
    expect_eq "chromium --screenshot exits 0" 0 "$STATUS"
    if [ -s "$WORK/status.png" ] &&
        [ "$(stat -c %s "$WORK/status.png")" -gt 5120 ]; then
        pass "chromium: screenshot larger than 5 KiB"
    else
        fail "chromium: screenshot larger than 5 KiB"
    fi
    expect_eq "chromium: screenshot is a 1200x800 PNG" "1200x800" "$(
        python3 -c '
import struct, sys
data = open(sys.argv[1], "rb").read(24)
if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
    print("%dx%d" % struct.unpack(">II", data[16:24]))
' "$WORK/status.png" 2>/dev/null
    )"
fi

for token in "${ALL_TOKENS[@]}"; do
    if grep -qF -- "$token" "$WORK/bodies"; then
        fail "no status response contains token $token"
    else
        pass "no status response contains token $token"
    fi
done

stop_process "$S1_ENABLER_PID"
stop_process "$MAIN_RELAY_PID"
expect_eq "relay exits 0" 0 "$STOP_STATUS"

# status_page = off

relay_config off.conf option:status_page=off farm:web server:web:s1:"$TOKEN_S1"
if ! relay_start off.conf "$WORK/relay-off.log"; then
    fail "relay with status_page = off starts"
else
    for target in "$PAGE" "$PAGE?format=json" /cli/iarelayserver/; do
        status_get "off: $target" "$target"
        expect_eq "off: $target gets 404" 404 "$CODE"
        body_has "off: $target reason" "no farm in the URL"
    done
    status_get "off: farm URL" "$PAGE/web/echo"
    expect_eq "off: farm URLs still routed (503 without enabler)" 503 "$CODE"
    stop_process "$RELAY_PID"
fi

relay_config bad.conf option:status_page=maybe farm:web server:web:s1:x
expect_fail "status_page = maybe is invalid" \
    "status_page = 'maybe' is invalid; use off, local" \
    db relay -c bad.conf --check

# status_page = local and on, from another network namespace
#
# A client on this host reaches any local address through lo, with a
# loopback source address, so a non-loopback client needs a second
# network namespace. The relay runs in one namespace and curl in another,
# joined by a veth pair, and the host's own network is left unchanged.

# netns_setup: creates the two namespaces and the veth pair. Prints why
# and returns 1 when it cannot.
netns_setup()
{
    if [ "$(id -u)" -ne 0 ]; then
        echo "not root"
        return 1
    fi
    if ! command -v ip >/dev/null; then
        echo "no ip command"
        return 1
    fi
    if ! ip netns add "$NETNS_RELAY" 2>&1; then
        return 1
    fi
    NETNS_MADE+=("$NETNS_RELAY")
    if ! ip netns add "$NETNS_CLIENT" 2>&1; then
        return 1
    fi
    NETNS_MADE+=("$NETNS_CLIENT")
    ip link add "$NETNS_RELAY_IF" netns "$NETNS_RELAY" type veth \
        peer name "$NETNS_CLIENT_IF" netns "$NETNS_CLIENT" 2>&1 &&
        ip -n "$NETNS_RELAY" link set lo up 2>&1 &&
        ip -n "$NETNS_RELAY" addr add "$NETNS_RELAY_ADDR/30" \
            dev "$NETNS_RELAY_IF" 2>&1 &&
        ip -n "$NETNS_RELAY" link set "$NETNS_RELAY_IF" up 2>&1 &&
        ip -n "$NETNS_CLIENT" link set lo up 2>&1 &&
        ip -n "$NETNS_CLIENT" addr add "$NETNS_CLIENT_ADDR/30" \
            dev "$NETNS_CLIENT_IF" 2>&1 &&
        ip -n "$NETNS_CLIENT" link set "$NETNS_CLIENT_IF" up 2>&1
}

# netns_relay_start MODE: starts a relay with status_page = MODE in the
# relay's namespace, listening on 127.0.0.1 and the veth address there.
# Sets RELAY_PID and RELAY_LOG.
netns_relay_start()
{
    relay_config "netns-$1.conf" option:status_page="$1" \
        farm:web server:web:s1:"$TOKEN_S1"
    relay_set_option "netns-$1.conf" listen "127.0.0.1, $NETNS_RELAY_ADDR"
    RELAY_LOG="$WORK/relay-netns-$1.log"
    start_bg "$RELAY_LOG" ip netns exec "$NETNS_RELAY" \
        "$DRAWBRIDGE" relay -c "netns-$1.conf"
    RELAY_PID=$BG_PID
    if ! wait_log "$RELAY_LOG" 'relay [^ ]+ started' 1 10; then
        echo "the relay in $NETNS_RELAY did not start; its log:"
        sed 's/^/    /' "$RELAY_LOG"
        return 1
    fi
}

# netns_get NAMESPACE ADDRESS [QUERY]: requests the status page from the
# relay's HTTP port on ADDRESS, from inside NAMESPACE. Sets CODE and keeps
# the body in $WORK/body.
netns_get()
{
    CODE=$(ip netns exec "$1" curl -sS --noproxy '*' --max-time 20 \
        -o "$WORK/body" -w '%{http_code}' \
        "http://$2:$RELAY_HTTP_PORT$PAGE${3:-}" 2>"$ERR") || true
    touch "$WORK/body"
    cat "$WORK/body" >>"$WORK/bodies"
}

if ! netns_setup >"$WORK/netns.log" 2>&1; then
    echo "note: no network namespaces ($(tr '\n' ' ' <"$WORK/netns.log")), so" \
        "the checks from a non-loopback address are skipped"
elif ! netns_relay_start local; then
    fail "relay with status_page = local starts in a namespace"
else
    netns_get "$NETNS_RELAY" 127.0.0.1
    expect_eq "local: loopback client gets the page" 200 "$CODE"
    netns_get "$NETNS_CLIENT" "$NETNS_RELAY_ADDR"
    expect_eq "local: client $NETNS_CLIENT_ADDR gets 403" 403 "$CODE"
    body_has "local: reason" "open to loopback clients only"
    netns_get "$NETNS_CLIENT" "$NETNS_RELAY_ADDR" "?format=json"
    expect_eq "local: client $NETNS_CLIENT_ADDR gets 403 for JSON" 403 "$CODE"
    stop_process "$RELAY_PID"
    expect_no_sanitizer_report "relay with status_page = local" "$RELAY_LOG"

    if ! netns_relay_start on; then
        fail "relay with status_page = on starts in a namespace"
    else
        netns_get "$NETNS_CLIENT" "$NETNS_RELAY_ADDR" "?format=json"
        expect_eq "on: client $NETNS_CLIENT_ADDR gets the page" 200 "$CODE"
        json_eq "on: JSON relay host" localhost "d['relay']['host']"
        json_eq "on: JSON farm web" web "d['farms'][0]['id']"
        netns_get "$NETNS_CLIENT" "$NETNS_RELAY_ADDR"
        expect_eq "on: client $NETNS_CLIENT_ADDR gets the HTML" 200 "$CODE"
        body_has "on: HTML farm web" "<h2>Farm web</h2>"
        stop_process "$RELAY_PID"
        expect_no_sanitizer_report "relay with status_page = on" "$RELAY_LOG"
    fi
fi

expect_no_sanitizer_report "relays and enabler log no sanitizer report" \
    "$MAIN_RELAY_LOG" "$WORK"/relay-off.log "$WORK"/enabler-*.log
finish
