#!/usr/bin/env bash
# `drawbridge cert probe` against real `openssl s_server` processes on
# 127.0.0.1: a good chain, --expect, SNI, an untrusted or re-created CA, a
# host mismatch, an incomplete chain, an expired certificate, servers that
# do not speak TLS, and invalid URLs. curl checks each server setup
# independently of the probe.

. "$(dirname "$0")/lib.sh"

cd "$WORK" || exit 1

# serve LOG CERT KEY [S_SERVER OPTIONS...]: starts `openssl s_server` on a
# free port of 127.0.0.1 and waits until it listens. Sets PORT.
serve()
{
    local log=$1 cert=$2 key=$3
    shift 3
    PORT=$(free_port)
    start_bg "$log" openssl s_server -accept "127.0.0.1:$PORT" -cert "$cert" \
        -key "$key" -www "$@" </dev/null
    wait_port "$PORT"
}

# sha256 FILE: prints the SHA-256 fingerprint of FILE's certificate as
# "AB:CD:...", computed by openssl.
sha256()
{
    openssl x509 -in "$1" -noout -fingerprint -sha256 | cut -d= -f2
}

# curl_ok NAME CA URL and curl_rejects NAME CA URL: curl, which verifies
# with its own code, must accept or reject the server at URL.
curl_ok()
{
    expect_ok "$1" curl -sS --max-time 10 --cacert "$2" -o /dev/null "$3"
}

curl_rejects()
{
    run curl -sS --max-time 10 --cacert "$2" -o /dev/null "$3"
    expect_eq "$1" 60 "$STATUS"
}

# --- Certificates ------------------------------------------------------------

expect_ok "quickstart makes the PKI" db cert quickstart --host localhost \
    --ip 127.0.0.1 --ca-subject "CN=Probe Test CA" --out pki
expect_ok "other CA is created" db cert ca --subject "CN=Probe Other CA" \
    --out other
# A second CA with the first one's name but its own key, as when a CA
# directory is lost and made again.
expect_ok "same-name CA is created" db cert ca --subject "CN=Probe Test CA" \
    --out again
expect_ok "request for more leaves" db cert request --host localhost \
    --ip 127.0.0.1 --key leaf.key --out leaf.csr
expect_ok "second leaf is signed" db cert sign --ca pki --csr leaf.csr \
    --out second.crt
expect_ok "expired leaf is signed" db cert sign --ca pki --csr leaf.csr \
    --not-before 2020-01-01 --not-after 2020-12-31 --out expired.crt

# `drawbridge cert` makes only self-signed root CAs and leaves (CA:FALSE),
# so the intermediate CA comes from the openssl command: a CSR signed by
# the root with basicConstraints CA:TRUE, which cert sign never grants.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj "/CN=Probe Intermediate CA" -keyout int.key -out int.csr \
    >/dev/null 2>&1
cat >int.ext <<'EOF'
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
openssl x509 -req -in int.csr -CA pki/ca.crt -CAkey pki/ca.key \
    -set_serial 2 -days 30 -extfile int.ext -out int.crt >/dev/null 2>&1
mkdir -m 700 intca
cp int.crt intca/ca.crt
cp int.key intca/ca.key
expect_ok "leaf from the intermediate is signed" db cert sign --ca intca \
    --csr leaf.csr --out inter-leaf.crt
expect_ok "openssl verifies the intermediate chain" openssl verify \
    -CAfile pki/ca.crt -untrusted int.crt inter-leaf.crt

SERVER_SHA=$(sha256 pki/server.crt)
CA_SHA=$(sha256 pki/ca.crt)
SECOND_SHA=$(sha256 second.crt)

# --- Good chain --------------------------------------------------------------

serve good.log pki/server.crt pki/server.key
GOOD=$PORT
curl_ok "curl accepts the good server" pki/ca.crt "https://localhost:$GOOD/"

run db cert probe "https://localhost:$GOOD/index.html" --ca pki/ca.crt \
    --expect pki/server.crt
expect_eq "probe good exits 0" 0 "$STATUS"
expect_output "probe good connection" \
    "^connected: (127\.0\.0\.1|\[::1\]):$GOOD for localhost:$GOOD, TLSv1\.[23], cipher [A-Z0-9_-]+, SNI localhost$"
expect_output "probe good chain count" '^chain: the server sent 1 certificate$'
expect_output "probe good leaf index" '^certificate 0$'
expect_output "probe good subject" '^  subject: CN=localhost$'
expect_output "probe good issuer" '^  issuer:  CN=Probe Test CA$'
expect_output "probe good validity" \
    '^  valid:   [0-9-]{10} [0-9:]{8} UTC to [0-9-]{10} [0-9:]{8} UTC$'
expect_output "probe good names" '^  names:   DNS:localhost, IP:127\.0\.0\.1$'
expect_output "probe good fingerprint" "^  SHA-256: $SERVER_SHA$"
expect_output "probe good trust" '^trust: 1 CA certificate from pki/ca\.crt$'
expect_output "probe good verify" \
    '^verify: ok: chain of 2 certificates up to CN=Probe Test CA, which pki/ca\.crt trusts; the certificate covers localhost$'
expect_output "probe good expect" \
    "^expect: match: served leaf is pki/server\.crt's certificate \(SHA-256 $SERVER_SHA\)$"
expect_no_output "probe good has no errors" '^(error|warning):'

run db cert probe "https://127.0.0.1:$GOOD" --ca pki/ca.crt
expect_eq "probe IP URL exits 0" 0 "$STATUS"
expect_output "probe IP URL sends no SNI" \
    "^connected: 127\.0\.0\.1:$GOOD for 127\.0\.0\.1:$GOOD, .*, no SNI"
expect_output "probe IP URL covers the IP" \
    '^verify: ok: .*the certificate covers 127\.0\.0\.1$'

openssl x509 -in pki/server.crt -outform DER -out server.der
run db cert probe "https://localhost:$GOOD/" --ca pki/ca.crt \
    --expect server.der
expect_eq "probe expect DER exits 0" 0 "$STATUS"
expect_output "probe expect DER matches" '^expect: match: '

# --- Wrong certificate expected ----------------------------------------------

run db cert probe "https://localhost:$GOOD/" --ca pki/ca.crt \
    --expect pki/ca.crt
expect_eq "probe mismatch exits 1" 1 "$STATUS"
expect_output "probe mismatch names both" \
    "^expect: mismatch: served leaf SHA-256 $SERVER_SHA, pki/ca\.crt has $CA_SHA \(subject CN=Probe Test CA\)$"
expect_output "probe mismatch still verifies" '^verify: ok: '

run db cert probe "https://localhost:$GOOD/" --ca pki/ca.crt \
    --expect second.crt
expect_eq "probe other leaf exits 1" 1 "$STATUS"
expect_output "probe other leaf mismatch" \
    "^expect: mismatch: .*second\.crt has $SECOND_SHA \(subject CN=localhost\)$"

run db cert probe "https://localhost:$GOOD/" --ca pki/ca.crt \
    --expect missing.crt
expect_eq "probe missing expect file exits 1" 1 "$STATUS"
expect_output "probe missing expect file named" 'missing\.crt'
expect_no_output "probe missing expect file connects not" '^connected:'

# --- Trust -------------------------------------------------------------------

curl_rejects "curl rejects the other CA" other/ca.crt \
    "https://localhost:$GOOD/"
expect_fail "probe other CA fails" \
    '^error: .*issuer CN=Probe Test CA is not in other/ca\.crt' \
    db cert probe "https://localhost:$GOOD/" --ca other/ca.crt
expect_eq "probe other CA exits 1" 1 "$STATUS"
expect_output "probe other CA still shows the chain" \
    "^  SHA-256: $SERVER_SHA$"
expect_no_output "probe other CA is not ok" '^verify: ok'

curl_rejects "curl rejects the same-name CA" again/ca.crt \
    "https://localhost:$GOOD/"
expect_fail "probe same-name CA fails" \
    '^error: again/ca\.crt has a CA named CN=Probe Test CA, but not the one that signed certificate 0 \(CN=localhost\): their keys differ' \
    db cert probe "https://localhost:$GOOD/" --ca again/ca.crt
expect_eq "probe same-name CA exits 1" 1 "$STATUS"

# OpenSSL reads the default trust paths from SSL_CERT_FILE and SSL_CERT_DIR.
mkdir empty
run env SSL_CERT_FILE=pki/ca.crt SSL_CERT_DIR=empty \
    "$DRAWBRIDGE" cert probe "https://localhost:$GOOD/"
expect_eq "probe system store exits 0" 0 "$STATUS"
expect_output "probe system store is named" \
    '^trust: no --ca given, so the system trust store is used \(file pki/ca\.crt, directory empty\)$'
expect_output "probe system store verifies" '^verify: ok: .*which the system trust store trusts'

run env SSL_CERT_FILE=other/ca.crt SSL_CERT_DIR=empty \
    "$DRAWBRIDGE" cert probe "https://localhost:$GOOD/"
expect_eq "probe system store untrusted exits 1" 1 "$STATUS"
expect_output "probe system store untrusted" \
    '^error: .*CN=Probe Test CA is not in the system trust store'

serve root.log pki/server.crt pki/server.key -cert_chain pki/ca.crt
run db cert probe "https://localhost:$PORT/" --ca other/ca.crt
expect_eq "probe served root untrusted exits 1" 1 "$STATUS"
expect_output "probe served root untrusted" \
    '^error: untrusted CA: the server sent the root CA as certificate 1 \(CN=Probe Test CA\), but other/ca\.crt does not trust it'

# --- Host name ---------------------------------------------------------------

run curl -sS --max-time 10 --cacert pki/ca.crt -o /dev/null \
    --resolve "wrong.example:$GOOD:127.0.0.1" "https://wrong.example:$GOOD/"
expect_eq "curl rejects the wrong host" 60 "$STATUS"
expect_fail "probe wrong servername fails" \
    '^error: host mismatch: the certificate covers DNS:localhost, IP:127\.0\.0\.1 but not wrong\.example; .*--host wrong\.example' \
    db cert probe "https://localhost:$GOOD/" --ca pki/ca.crt \
    --servername wrong.example
expect_eq "probe wrong servername exits 1" 1 "$STATUS"
expect_output "probe wrong servername is sent" ', SNI wrong\.example$'

expect_fail "probe wrong IP fails" \
    '^error: host mismatch: .* but not 127\.0\.0\.2; .*--ip 127\.0\.0\.2' \
    db cert probe "https://127.0.0.1:$GOOD/" --ca pki/ca.crt \
    --servername 127.0.0.2

# s_server serves -cert2 when the client's SNI is -servername, and -cert
# otherwise, so the served leaf shows which SNI the probe sent.
serve sni.log pki/server.crt pki/server.key -servername localhost \
    -cert2 second.crt -key2 leaf.key
run db cert probe "https://localhost:$PORT/" --ca pki/ca.crt \
    --expect second.crt
expect_eq "probe SNI from URL host" 0 "$STATUS"
run db cert probe "https://127.0.0.1:$PORT/" --ca pki/ca.crt \
    --expect pki/server.crt
expect_eq "probe no SNI for IP URL" 0 "$STATUS"
run db cert probe "https://127.0.0.1:$PORT/" --ca pki/ca.crt \
    --servername localhost --expect second.crt
expect_eq "probe SNI from --servername" 0 "$STATUS"

# --- Chain -------------------------------------------------------------------

serve short.log inter-leaf.crt leaf.key
curl_rejects "curl rejects the chain without intermediate" pki/ca.crt \
    "https://localhost:$PORT/"
expect_fail "probe missing intermediate fails" \
    '^error: the chain is incomplete.*issuer CN=Probe Intermediate CA is not in pki/ca\.crt' \
    db cert probe "https://localhost:$PORT/" --ca pki/ca.crt
expect_eq "probe missing intermediate exits 1" 1 "$STATUS"
expect_output "probe missing intermediate says only the leaf came" \
    'the server sent only its own certificate'

serve chain.log inter-leaf.crt leaf.key -cert_chain int.crt
curl_ok "curl accepts the chain with intermediate" pki/ca.crt \
    "https://localhost:$PORT/"
run db cert probe "https://localhost:$PORT/" --ca pki/ca.crt
expect_eq "probe full chain exits 0" 0 "$STATUS"
expect_output "probe full chain count" '^chain: the server sent 2 certificates$'
expect_output "probe full chain shows intermediate" \
    '^  subject: CN=Probe Intermediate CA$'
expect_output "probe full chain verifies" \
    '^verify: ok: chain of 3 certificates up to CN=Probe Test CA'

serve chainca.log inter-leaf.crt leaf.key -chainCAfile int.crt
run db cert probe "https://localhost:$PORT/" --ca pki/ca.crt
expect_eq "probe chainCAfile exits 0" 0 "$STATUS"

run db cert probe "https://localhost:$PORT/" --ca other/ca.crt
expect_eq "probe intermediate untrusted exits 1" 1 "$STATUS"
expect_output "probe intermediate untrusted names root" \
    '^error: untrusted CA: certificate 1 \(CN=Probe Intermediate CA\) was issued by CN=Probe Test CA, which other/ca\.crt does not contain'

# --- Dates -------------------------------------------------------------------

serve expired.log expired.crt leaf.key
curl_rejects "curl rejects the expired server" pki/ca.crt \
    "https://localhost:$PORT/"
expect_fail "probe expired fails" \
    '^error: certificate 0 \(CN=localhost\) expired on 2020-12-31 00:00:00 UTC; renew it' \
    db cert probe "https://localhost:$PORT/" --ca pki/ca.crt
expect_eq "probe expired exits 1" 1 "$STATUS"
expect_no_output "probe expired reports only the dates" 'incomplete|untrusted'

# --- Connection failures -----------------------------------------------------

DEAD=$(free_port)
expect_fail "probe refused fails" \
    "cannot connect to 127\.0\.0\.1:$DEAD \(127\.0\.0\.1:$DEAD: Connection refused\); nothing listens there" \
    db cert probe "https://127.0.0.1:$DEAD/" --ca pki/ca.crt
expect_eq "probe refused exits 1" 1 "$STATUS"
expect_no_output "probe refused shows no chain" '^certificate 0'

# A server that replies in plain HTTP. It reads the ClientHello first and
# waits for the client to close, so the reply always arrives before EOF.
cat >plain.py <<'EOF'
import socket, sys
server = socket.socket()
server.bind(("127.0.0.1", int(sys.argv[1])))
server.listen(8)
while True:
    conn, _ = server.accept()
    if conn.recv(4096):
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        while conn.recv(4096):
            pass
    conn.close()
EOF
PLAIN=$(free_port)
start_bg plain.log python3 plain.py "$PLAIN"
wait_port "$PLAIN"
expect_fail "probe plain HTTP fails" \
    "TLS handshake with 127\.0\.0\.1:$PLAIN \(127\.0\.0\.1:$PLAIN\) failed: wrong version number; .*plain HTTP" \
    db cert probe "https://127.0.0.1:$PLAIN/"
expect_eq "probe plain HTTP exits 1" 1 "$STATUS"

# A listener that never accepts: the kernel completes the TCP handshake,
# but no byte ever comes back, so the TLS handshake must time out.
cat >silent.py <<'EOF'
import socket, sys, time
server = socket.socket()
server.bind(("127.0.0.1", int(sys.argv[1])))
server.listen(8)
time.sleep(3600)
EOF
SILENT=$(free_port)
start_bg silent.log python3 silent.py "$SILENT"
wait_port "$SILENT"
expect_fail "probe silent server times out" \
    "TLS handshake with 127\.0\.0\.1:$SILENT \(127\.0\.0\.1:$SILENT\) timed out after 1 s" \
    db cert probe "https://127.0.0.1:$SILENT/" --timeout 1
expect_eq "probe silent server exits 1" 1 "$STATUS"

# --- Usage errors ------------------------------------------------------------

# regex_quote TEXT: prints TEXT with the characters that are special in an
# extended regular expression escaped.
regex_quote()
{
    printf '%s' "$1" | sed -e 's/[][\\.*^$?+(){}|]/\\&/g'
}

# bad_url NAME URL REASON: the probe must exit 2 and name URL and REASON.
bad_url()
{
    local quoted
    quoted=$(regex_quote "$2")
    expect_fail "$1" "invalid URL '$quoted': .*$3" db cert probe "$2"
    expect_eq "$1 exits 2" 2 "$STATUS"
}

bad_url "probe http URL" "http://127.0.0.1:$GOOD/" \
    "the scheme 'http' is not supported"
bad_url "probe URL without scheme" "localhost:$GOOD" \
    'the scheme https:// is missing'
bad_url "probe URL without host" "https://" 'the host is missing'
bad_url "probe URL with path only" "https:///index.html" 'the host is missing'
bad_url "probe URL with port only" "https://:$GOOD/" 'the host is missing'
bad_url "probe URL with port 0" "https://localhost:0/" \
    'the port must be a number from 1 to 65535'
bad_url "probe URL with large port" "https://localhost:65536/" \
    'the port must be a number from 1 to 65535'
bad_url "probe URL with empty port" "https://localhost:/" \
    'the port must be a number from 1 to 65535'
bad_url "probe URL with bare IPv6" "https://::1/" 'must be in brackets'
bad_url "probe URL with open bracket" "https://[::1/" "no closing '\]'"
bad_url "probe URL with name in brackets" "https://[localhost]/" \
    'is not an IPv6 address'
bad_url "probe URL with IPv4 in brackets" "https://[127.0.0.1]/" \
    'is not an IPv6 address'
bad_url "probe URL with space" "https://local host/" 'not a valid DNS name'
bad_url "probe URL with user" "https://user@localhost/" \
    'user names in the URL are not supported'

expect_fail "probe without URL fails" 'the https:// URL is missing' \
    db cert probe --ca pki/ca.crt
expect_eq "probe without URL exits 2" 2 "$STATUS"
expect_fail "probe timeout 0 fails" "invalid --timeout '0'" \
    db cert probe "https://localhost:$GOOD/" --timeout 0
expect_eq "probe timeout 0 exits 2" 2 "$STATUS"
expect_fail "probe two URLs fail" "unexpected argument" \
    db cert probe "https://localhost:$GOOD/" "https://localhost:$GOOD/"
expect_eq "probe two URLs exit 2" 2 "$STATUS"
expect_ok "probe help exits 0" db cert probe --help
expect_output "probe help shows usage" '^Usage: drawbridge cert probe https://'

finish
