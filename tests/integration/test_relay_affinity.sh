#!/usr/bin/env bash
# Session affinity, with a real relay, enablers and two backend.py servers
# on loopback. Farms:
#   sticky   active_cookie = yes, servers s1 (b1) and s2 (b2)
#   header   active_header = X-Sticky, servers h1 (b1) and h2 (b2)
#   named    active_cookie = SessionServer and active_header = yes,
#            server n1 (b1)
#   plain    no affinity, servers p1 (b1) and p2 (b2)
# Every farm accepts both HTTP and HTTPS. The expected affinity values
# come from the openssl command, not from the relay.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/relay_lib.sh"

cd "$WORK" || exit 1

if ! relay_pki; then
    fail "make the test PKI"
    finish
    exit
fi
relay_config relay.conf \
    farm:sticky server:sticky:s1:token-s1 server:sticky:s2:token-s2 \
    farm:header server:header:h1:token-h1 server:header:h2:token-h2 \
    farm:named server:named:n1:token-n1 \
    farm:plain server:plain:p1:token-p1 server:plain:p2:token-p2
relay_farm_option relay.conf sticky active_cookie yes
relay_farm_option relay.conf header active_header X-Sticky
relay_farm_option relay.conf named active_cookie SessionServer
relay_farm_option relay.conf named active_header yes
if ! relay_start relay.conf; then
    fail "relay starts"
    finish
    exit
fi
pass "relay starts"

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

# Each server id ends in 1 or 2, and forwards to b1 or b2.
declare -A ENABLER_PIDS
for entry in sticky:s1 sticky:s2 header:h1 header:h2 named:n1 plain:p1 \
    plain:p2; do
    farm=${entry%%:*}
    id=${entry#*:}
    port=$B1_PORT
    [ "${id: -1}" = 2 ] && port=$B2_PORT
    if ! enabler_start "$farm" "$id" "token-$id" "$port" --retry-delay 0.2; then
        fail "enabler $farm/$id connects"
        finish
        exit
    fi
    ENABLER_PIDS[$id]=$ENABLER_PID
done
pass "all enablers connect"

# fetch NAME URL [CURL_ARG...]: runs relay_curl on URL with the head in
# $WORK/head and the body in $WORK/body. Sets CODE and SERVED, the
# backend named in the body of a /server-id request.
fetch()
{
    local name=$1 url=$2 status=0
    shift 2
    CODE=$(relay_curl -o "$WORK/body" -D "$WORK/head" -w '%{http_code}' \
        "$@" "$url" 2>"$ERR") || status=$?
    : >"$OUT"
    SERVED=$(head -n 1 "$WORK/body" 2>/dev/null)
    echo "$name: HTTP $CODE, curl exit $status, served by $SERVED"
}

# header_of NAME: prints the value of each response header field NAME in
# the head of the last fetch, one a line.
header_of()
{
    tr -d '\r' <"$WORK/head" | sed -n "s/^$1: *//Ip"
}

# cookie_value: prints the value of the last fetch's Set-Cookie.
cookie_value()
{
    header_of Set-Cookie | sed -n 's/^[^=]*=\([^;]*\).*/\1/p'
}

# server_of BACKEND FARM: prints the server id of FARM that forwards to
# BACKEND (b1 or b2).
server_of()
{
    case $2 in
    sticky) echo "s${1#b}" ;;
    header) echo "h${1#b}" ;;
    esac
}

# other_backend BACKEND: prints the backend that is not BACKEND.
other_backend()
{
    if [ "$1" = b1 ]; then echo b2; else echo b1; fi
}

# served_by COUNT URL [CURL_ARG...]: sends COUNT requests one after another
# and prints how many each backend served, as "N b1 N b2 ".
served_by()
{
    local count=$1 url=$2 i
    shift 2
    for ((i = 0; i < count; i++)); do
        relay_curl --fail "$@" "$url" 2>/dev/null || echo error
    done | sort | uniq -c | sed 's/^ *//' | tr '\n' ' '
}

STICKY=$(relay_url sticky /server-id)
HEADER=$(relay_url header /server-id)
S1=$(relay_affinity_value sticky s1)
S2=$(relay_affinity_value sticky s2)
H1=$(relay_affinity_value header h1)
H2=$(relay_affinity_value header h2)
echo "affinity values: sticky s1=$S1 s2=$S2, header h1=$H1 h2=$H2"

# The cookie. The first request has none and gets one naming the server
# that served it, with Secure because it came over HTTPS.

fetch "no cookie" "$STICKY" -c jar.txt
expect_eq "first request is 200" 200 "$CODE"
FIRST=$SERVED
FIRST_SERVER=$(server_of "$FIRST" sticky)
OTHER=$(other_backend "$FIRST")
OTHER_SERVER=$(server_of "$OTHER" sticky)
first_value=$(relay_affinity_value sticky "$FIRST_SERVER")
other_value=$(relay_affinity_value sticky "$OTHER_SERVER")
expect_eq "one Set-Cookie on the first response" 1 \
    "$(header_of Set-Cookie | wc -l)"
cookie=$(header_of Set-Cookie)
if [[ $cookie =~ ^DrawbridgeAffinity=[0-9a-f]{16}\;\ Path=/\;\ HttpOnly\;\ Secure$ ]]
then
    pass "HTTPS cookie is DrawbridgeAffinity, 16 hex digits, Path, HttpOnly and Secure"
else
    fail "HTTPS cookie is DrawbridgeAffinity, 16 hex digits, Path, HttpOnly and Secure ($cookie)"
fi
expect_eq "cookie names the server that served" "$first_value" \
    "$(cookie_value)"

expect_eq "10 requests with the cookie reach $FIRST" "10 $FIRST " \
    "$(served_by 10 "$STICKY" -b jar.txt -c jar.txt)"
fetch "with the cookie" "$STICKY" -b jar.txt
expect_eq "with the cookie: served by $FIRST" "$FIRST" "$SERVED"
expect_eq "a cookie that names the serving server is not set again" "" \
    "$(header_of Set-Cookie)"

# Each server's value routes to it, among other cookies.
for backend in b1 b2; do
    value=$(relay_affinity_value sticky "$(server_of "$backend" sticky)")
    expect_eq "cookie naming $backend: 10 requests reach it" "10 $backend " \
        "$(served_by 10 "$STICKY" -H "Cookie: a=1; DrawbridgeAffinity=$value; b=2")"
done

# A value that names no server: served, and given a fresh cookie.
for value in 0000000000000000 not-hex "$S1$S2"; do
    fetch "unknown cookie $value" "$STICKY" \
        -H "Cookie: DrawbridgeAffinity=$value"
    expect_eq "unknown cookie $value: served" 200 "$CODE"
    expected=$(relay_affinity_value sticky "$(server_of "$SERVED" sticky)")
    expect_eq "unknown cookie $value: a fresh cookie names $SERVED" \
        "$expected" "$(cookie_value)"
done

# Over HTTP the cookie has no Secure.
fetch "over HTTP" "$(relay_url sticky /server-id http)"
expect_eq "HTTP request is 200" 200 "$CODE"
cookie=$(header_of Set-Cookie)
if [[ $cookie =~ ^DrawbridgeAffinity=[0-9a-f]{16}\;\ Path=/\;\ HttpOnly$ ]]; then
    pass "HTTP cookie has Path and HttpOnly, without Secure"
else
    fail "HTTP cookie has Path and HttpOnly, without Secure ($cookie)"
fi
fetch "over HTTP with a cookie for the other server" \
    "$(relay_url sticky /server-id http)" \
    -H "Cookie: DrawbridgeAffinity=$other_value"
expect_eq "HTTP request with a cookie reaches the named server" "$OTHER" \
    "$SERVED"

# The cookie's server goes away: its requests go to the other server, with
# a new cookie naming that one, and stay there.

downs=$(grep -Ec "tunnel [0-9]+ down: farm=sticky server=$FIRST_SERVER " \
    "$RELAY_LOG")
stop_process "${ENABLER_PIDS[$FIRST_SERVER]}" 10
if wait_log "$RELAY_LOG" \
    "tunnel [0-9]+ down: farm=sticky server=$FIRST_SERVER " $((downs + 1)) 10
then
    pass "relay logs the tunnel of $FIRST_SERVER down"
else
    fail "relay logs the tunnel of $FIRST_SERVER down"
fi
fetch "cookie of a server without a tunnel" "$STICKY" -b jar.txt -c jar.txt
expect_eq "cookie of a stopped server: served" 200 "$CODE"
expect_eq "cookie of a stopped server: served by $OTHER" "$OTHER" "$SERVED"
expect_eq "cookie of a stopped server: a new cookie names $OTHER" \
    "$other_value" "$(cookie_value)"
expect_eq "10 requests with the new cookie reach $OTHER" "10 $OTHER " \
    "$(served_by 10 "$STICKY" -b jar.txt -c jar.txt)"

# Once the server has a tunnel again, its cookie reaches it again.
port=$B1_PORT
[ "$FIRST" = b2 ] && port=$B2_PORT
if enabler_start sticky "$FIRST_SERVER" "token-$FIRST_SERVER" "$port" \
    --retry-delay 0.2; then
    pass "enabler $FIRST_SERVER connects again"
fi
ENABLER_PIDS[$FIRST_SERVER]=$ENABLER_PID
expect_eq "cookie of the returned server reaches $FIRST" "10 $FIRST " \
    "$(served_by 10 "$STICKY" -H "Cookie: DrawbridgeAffinity=$first_value")"

# The header X-Sticky: on every response, naming the server that served,
# and a request that carries it goes to that server.

fetch "header farm" "$HEADER"
expect_eq "header farm: 200" 200 "$CODE"
expect_eq "header farm: X-Sticky names the server that served" \
    "$(relay_affinity_value header "$(server_of "$SERVED" header)")" \
    "$(header_of X-Sticky)"
expect_eq "header farm: no Drawbridge-Affinity" "" \
    "$(header_of Drawbridge-Affinity)"
expect_eq "header farm: no Set-Cookie" "" "$(header_of Set-Cookie)"
expect_eq "X-Sticky of h1: 10 requests reach b1" "10 b1 " \
    "$(served_by 10 "$HEADER" -H "X-Sticky: $H1")"
expect_eq "X-Sticky of h2: 10 requests reach b2" "10 b2 " \
    "$(served_by 10 "$HEADER" -H "X-Sticky: $H2")"
fetch "header farm with X-Sticky of h2" "$HEADER" -H "X-Sticky: $H2"
expect_eq "X-Sticky of h2 comes back unchanged" "$H2" "$(header_of X-Sticky)"
fetch "header farm with an unknown X-Sticky" "$HEADER" \
    -H "X-Sticky: ffffffffffffffff"
expect_eq "unknown X-Sticky: served" 200 "$CODE"
expect_eq "unknown X-Sticky: the response names the server that served" \
    "$(relay_affinity_value header "$(server_of "$SERVED" header)")" \
    "$(header_of X-Sticky)"

# Names of your own for the cookie, and yes for the header's default name.

N1=$(relay_affinity_value named n1)
fetch "named farm" "$(relay_url named /server-id)"
expect_eq "named farm: 200" 200 "$CODE"
cookie=$(header_of Set-Cookie)
if [[ $cookie == "SessionServer=$N1; Path=/; HttpOnly; Secure" ]]; then
    pass "active_cookie = SessionServer names the cookie"
else
    fail "active_cookie = SessionServer names the cookie ($cookie)"
fi
expect_eq "active_header = yes adds Drawbridge-Affinity" "$N1" \
    "$(header_of Drawbridge-Affinity)"

# A farm without affinity sets no cookie and no header, and a cookie that
# would name one of its servers changes nothing.

PLAIN=$(relay_url plain /server-id)
fetch "plain farm" "$PLAIN"
expect_eq "plain farm: 200" 200 "$CODE"
expect_eq "plain farm: no Set-Cookie" "" "$(header_of Set-Cookie)"
expect_eq "plain farm: no Drawbridge-Affinity" "" \
    "$(header_of Drawbridge-Affinity)"
P1=$(relay_affinity_value plain p1)
served=$(served_by 10 "$PLAIN" -H "Cookie: DrawbridgeAffinity=$P1")
if [[ $served =~ ^[0-9]+\ b1\ [0-9]+\ b2\ $ ]]; then
    pass "plain farm ignores an affinity cookie ($served)"
else
    fail "plain farm ignores an affinity cookie ($served)"
fi

# SIGTERM stops everything with status 0, and a sanitizer build reports
# nothing, leaks included.

for id in "${!ENABLER_PIDS[@]}"; do
    stop_process "${ENABLER_PIDS[$id]}" 10
    expect_eq "enabler $id exits 0 on SIGTERM" 0 "$STOP_STATUS"
done
stop_process "$RELAY_PID" 10
expect_eq "relay exits 0 on SIGTERM" 0 "$STOP_STATUS"
expect_no_sanitizer_report "relay and enablers log no sanitizer report" \
    ./*.log

if [ "$FAILED" -gt 0 ]; then
    echo "--- relay.log"
    tail -n 40 relay.log
fi
finish
