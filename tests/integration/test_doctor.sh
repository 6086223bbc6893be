#!/usr/bin/env bash
# `drawbridge doctor` against real relays, enablers and backends on
# 127.0.0.1: a healthy deployment passes every doctor command, and each of
# ten broken deployments makes the matching command exit 1 with its
# documented code and sentence.

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/relay_lib.sh"

cd "$WORK" || exit 1

# issue NAME CA_DIR HOST [SIGN OPTIONS...]: writes NAME.key and NAME.crt,
# a certificate for HOST signed by the CA in CA_DIR.
issue()
{
    local name=$1 ca=$2 host=$3
    shift 3
    db cert request --host "$host" --key "$name.key" --out "$name.csr" \
        --key-type ec:P-256 >/dev/null 2>&1 &&
        db cert sign --ca "$ca" --csr "$name.csr" --out "$name.crt" "$@" \
            >/dev/null 2>&1
}

# alt_relay NAME CERT KEY: starts a relay like the main one but with CERT
# and KEY, its configuration in NAME.conf and its log in NAME.log. Sets
# ALT_PORT to its HTTPS port and keeps the main relay's variables.
alt_relay()
{
    local name=$1 saved_http=$RELAY_HTTP_PORT saved_https=$RELAY_HTTPS_PORT
    local saved_pid=$RELAY_PID saved_log=$RELAY_LOG
    relay_config "$name.conf" farm:sync server:sync:s1:token-1
    relay_set_option "$name.conf" tls_certificate "$WORK/$2"
    relay_set_option "$name.conf" tls_private_key "$WORK/$3"
    chmod 600 "$name.conf"
    relay_start "$name.conf" "$WORK/$name.log"
    ALT_PORT=$RELAY_HTTPS_PORT
    RELAY_HTTP_PORT=$saved_http
    RELAY_HTTPS_PORT=$saved_https
    RELAY_PID=$saved_pid
    RELAY_LOG=$saved_log
}

# doctor_enabler URL FARM ID TOKEN [ARG...]: runs `doctor enabler` with
# the options of the test's enabler, against the relay at URL.
doctor_enabler()
{
    local url=$1 farm=$2 id=$3 token=$4
    shift 4
    printf '%s\n' "$token" >"$WORK/doctor-token"
    chmod 600 "$WORK/doctor-token"
    db doctor enabler --relay "$url" --farm "$farm" --id "$id" \
        --token-file "$WORK/doctor-token" --ca-file "$WORK/pki/ca.crt" \
        --backend "http://127.0.0.1:$BACKEND_PORT" "$@"
}

# expect_doctor NAME CODE REGEX CMD...: CMD must exit 1 and print an
# "error: CODE: " line that matches REGEX.
expect_doctor()
{
    local name=$1 code=$2 pattern=$3
    shift 3
    run "$@"
    if [ "$STATUS" -ne 1 ]; then
        fail "$name (exit $STATUS, expected 1)"
        sed 's/^/    /' "$OUT" "$ERR"
    elif ! grep -Eq -- "^error: $code: .*$pattern" "$OUT"; then
        fail "$name (no 'error: $code: ' line matches /$pattern/)"
        sed 's/^/    /' "$OUT" "$ERR"
    else
        pass "$name"
    fi
}

relay_pki || exit 1
relay_config "$WORK/relay.conf" farm:sync farm:secure:-:on farm:plain:-:off \
    server:sync:s1:token-1 server:secure:s2:token-2 server:plain:s3:token-3
chmod 600 "$WORK/relay.conf"
relay_start "$WORK/relay.conf" || exit 1
backend_start b1 || exit 1
enabler_start sync s1 token-1 "$BACKEND_PORT" || exit 1
HTTPS_URL="https://localhost:$RELAY_HTTPS_PORT"
HTTP_URL="http://localhost:$RELAY_HTTP_PORT"

# --- Healthy deployment ------------------------------------------------------

expect_ok "healthy relay passes" db doctor relay -c "$WORK/relay.conf"
expect_output "healthy relay key matches" "^ok: the private key in .* matches"
expect_no_output "healthy relay has no warning" "^(warning|error):"
expect_ok "healthy enabler passes" \
    doctor_enabler "$HTTPS_URL" sync s1 token-1
expect_output "healthy enabler is accepted" \
    "^ok: the relay accepts the tunnel request: accepted"
expect_output "healthy enabler shows the chain" \
    "^ok: served certificate 0: CN=localhost"
expect_output "healthy backend answers" "^ok: the backend at .* answers"
expect_ok "healthy enabler with status URL passes" \
    doctor_enabler "$HTTPS_URL" sync s1 token-1 --status-url /echo
expect_ok "healthy client passes" db doctor client \
    "$(relay_url sync /echo)" --ca "$WORK/pki/ca.crt"
expect_output "healthy client sees the farm" \
    "^ok: the status page shows farm 'sync' with availability full"
expect_output "healthy client GET" "^ok: GET .*/sync/echo returned 200"
expect_eq "the probes opened no tunnel" 1 "$(relay_tunnels sync s1)"

# --- 1: certificate does not cover the host the enabler dials ---------------

issue other pki other.example || exit 1
alt_relay wrong-name other.crt other.key || exit 1
expect_doctor "1 enabler: host name mismatch" DB-TLS-HOSTNAME \
    "covers DNS:other.example but not localhost" \
    doctor_enabler "https://localhost:$ALT_PORT" sync s1 token-1
expect_doctor "1 relay: host name mismatch" DB-TLS-HOSTNAME \
    "covers DNS:other.example but not localhost, the host of relay" \
    db doctor relay -c "$WORK/wrong-name.conf"

# --- 2: CA missing from the enabler's trust file ----------------------------

db cert ca --subject "CN=Other Root CA" --out other-ca >/dev/null 2>&1
issue foreign other-ca localhost --chain || exit 1
alt_relay foreign-ca foreign.crt foreign.key || exit 1
expect_doctor "2 enabler: CA not trusted" DB-TLS-UNTRUSTED \
    "chain ends at the CA CN=Other Root CA, which .*/pki/ca.crt does not contain" \
    doctor_enabler "https://localhost:$ALT_PORT" sync s1 token-1
expect_ok "2 openssl agrees the CA is not trusted" \
    bash -c "! openssl verify -CAfile pki/ca.crt -untrusted foreign.crt \
        foreign.crt >/dev/null 2>&1"

# --- 3: leaf served without its intermediate --------------------------------

# `drawbridge cert` makes only root CAs and leaves, so the intermediate CA
# comes from the openssl command, as in test_cert_probe.sh.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj "/CN=Doctor Intermediate CA" -keyout int.key -out int.csr \
    >/dev/null 2>&1
cat >int.ext <<'EXT'
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EXT
openssl x509 -req -in int.csr -CA pki/ca.crt -CAkey pki/ca.key \
    -set_serial 2 -days 30 -extfile int.ext -out int.crt >/dev/null 2>&1
mkdir -m 700 intca && cp int.crt intca/ca.crt && cp int.key intca/ca.key
issue inter intca localhost || exit 1
expect_ok "3 openssl verifies the full chain" openssl verify \
    -CAfile pki/ca.crt -untrusted int.crt inter.crt
alt_relay no-intermediate inter.crt inter.key || exit 1
expect_doctor "3 enabler: intermediate missing" DB-TLS-CHAIN-INCOMPLETE \
    "sent only its own certificate, and its issuer CN=Doctor Intermediate CA" \
    doctor_enabler "https://localhost:$ALT_PORT" sync s1 token-1
cat inter.crt int.crt >inter-chain.crt
alt_relay with-intermediate inter-chain.crt inter.key || exit 1
expect_ok "3 enabler: chain with intermediate passes" \
    doctor_enabler "https://localhost:$ALT_PORT" sync s1 token-1

# --- 4: expired certificate -------------------------------------------------

issue expired pki localhost --not-before 2020-01-01 --not-after 2020-12-31 ||
    exit 1
alt_relay expired expired.crt expired.key || exit 1
expect_doctor "4 enabler: certificate expired" DB-TLS-EXPIRED \
    "CN=localhost expired on 2020-12-31" \
    doctor_enabler "https://localhost:$ALT_PORT" sync s1 token-1
expect_doctor "4 relay: certificate expired" DB-TLS-EXPIRED \
    "certificate 0 of .*expired.crt \(CN=localhost\) expired on 2020-12-31" \
    db doctor relay -c "$WORK/expired.conf"

# --- 5: private key does not match the certificate --------------------------

cp relay.conf mismatch.conf
relay_set_option mismatch.conf tls_private_key "$WORK/other.key"
expect_doctor "5 relay: key mismatch" DB-TLS-KEY-MISMATCH \
    "the private key in .*other.key does not match the certificate" \
    db doctor relay -c "$WORK/mismatch.conf"
expect_fail "5 the relay itself refuses the pair" "key" \
    db relay -c "$WORK/mismatch.conf"

# --- 6: wrong token ---------------------------------------------------------

expect_doctor "6 enabler: wrong token" DB-TOKEN \
    "rejected the token of server 's1' in farm 'sync' \(401 wrong token" \
    doctor_enabler "$HTTPS_URL" sync s1 token-2
expect_no_output "6 the token is not printed" "token-2"

# --- 7: unknown farm or server id -------------------------------------------

expect_doctor "7 enabler: unknown farm" DB-ID-UNKNOWN \
    "does not know farm 'nosuch' server 's1'" \
    doctor_enabler "$HTTPS_URL" nosuch s1 token-1
expect_doctor "7 enabler: unknown server id" DB-ID-UNKNOWN \
    "does not know farm 'sync' server 's9'" \
    doctor_enabler "$HTTPS_URL" sync s9 token-1
expect_doctor "7 enabler: farm differs in case" DB-ID-UNKNOWN \
    "differ from the relay's only in case .*relay has 'sync'" \
    doctor_enabler "$HTTPS_URL" Sync s1 token-1
expect_doctor "7 enabler: server id differs in case" DB-ID-UNKNOWN \
    "differ from the relay's only in case .*relay has 's1'" \
    doctor_enabler "$HTTPS_URL" sync S1 token-1

# --- 8: transport not allowed by backend_security ---------------------------

expect_doctor "8 enabler: http where backend_security = on" DB-TRANSPORT \
    "farm 'secure' .*HTTPS only \(backend_security = on\)" \
    doctor_enabler "$HTTP_URL" secure s2 token-2 --insecure-plain-token
expect_doctor "8 enabler: https where backend_security = off" DB-TRANSPORT \
    "farm 'plain' .*HTTP only \(backend_security = off\)" \
    doctor_enabler "$HTTPS_URL" plain s3 token-3
expect_ok "8 enabler: http where backend_security = off passes" \
    doctor_enabler "$HTTP_URL" plain s3 token-3 --insecure-plain-token

# --- 9: wrong server URL suffix ---------------------------------------------

expect_doctor "9 enabler: wrong URL suffix" DB-URL-SUFFIX \
    "answered the tunnel request as a client request \(404 no relay URL" \
    doctor_enabler "$HTTPS_URL" sync s1 token-1 --url-suffix /wrong/suffix
expect_ok "9 enabler: Apache suffix passes" \
    doctor_enabler "$HTTPS_URL" sync s1 token-1 --url-suffix /srv/iarelayserver

# --- 10: backend not listening ----------------------------------------------

DEAD_PORT=$(free_port)
expect_doctor "10 enabler: backend down" DB-BACKEND-DOWN \
    "the backend does not answer: cannot connect to 127.0.0.1 port $DEAD_PORT" \
    doctor_enabler "$HTTPS_URL" sync s1 token-1 \
    --backend "http://127.0.0.1:$DEAD_PORT"
expect_output "10 the relay hop is still fine" \
    "^ok: the relay accepts the tunnel request"

finish
