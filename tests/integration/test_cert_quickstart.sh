#!/usr/bin/env bash
# cert quickstart: a whole PKI in one step, checked with openssl and used
# by a real TLS server (openssl s_server) and client (curl).
. "$(dirname "$0")/lib.sh"

cd "$WORK"

expect_ok "quickstart" db cert quickstart --host localhost \
    --host relay.test --ip 127.0.0.1 --out pki --key-type ec:P-256
for file in ca.key ca.crt server.key server.crt server.p12 server.p12.password; do
    if [ -s "pki/$file" ]; then
        pass "quickstart writes $file"
    else
        fail "quickstart writes $file"
    fi
done
for file in ca.key server.key server.p12 server.p12.password; do
    expect_eq "$file mode is 0600" 600 "$(stat -c %a "pki/$file")"
done

expect_ok "server certificate verifies" \
    openssl verify -CAfile pki/ca.crt -purpose sslserver pki/server.crt
run openssl x509 -in pki/server.crt -noout -ext subjectAltName
expect_output "SAN has every name" 'DNS:localhost, DNS:relay.test, IP Address:127.0.0.1'
run openssl x509 -in pki/ca.crt -noout -subject
expect_output "default CA name" 'Drawbridge CA for localhost'
expect_ok "bundle opens with the written password" openssl pkcs12 -info \
    -in pki/server.p12 -passin file:pki/server.p12.password -noout
expect_eq "password has 24 characters" 24 \
    "$(head -n 1 pki/server.p12.password | tr -d '\n' | wc -c)"

# The certificate serves real TLS to a real client.
port=$(free_port)
start_bg "$WORK/s_server.log" openssl s_server -accept "127.0.0.1:$port" \
    -cert pki/server.crt -key pki/server.key -www -quiet
if wait_port "$port"; then
    expect_ok "curl trusts the server with ca.crt" \
        curl -sS --max-time 10 --cacert pki/ca.crt -o /dev/null \
        --resolve "relay.test:$port:127.0.0.1" "https://relay.test:$port/"
    expect_ok "curl reaches the IP address" \
        curl -sS --max-time 10 --cacert pki/ca.crt -o /dev/null \
        "https://127.0.0.1:$port/"
    expect_fail "curl rejects a name not in the certificate" "." \
        curl -sS --max-time 10 --cacert pki/ca.crt -o /dev/null \
        --resolve "other.test:$port:127.0.0.1" "https://other.test:$port/"
    expect_fail "curl without ca.crt rejects the server" "." \
        curl -sS --max-time 10 -o /dev/null "https://127.0.0.1:$port/"
else
    fail "openssl s_server did not start"
fi

expect_fail "existing files are refused" "pki/ca.key already exists" \
    db cert quickstart --host localhost --out pki
before=$(openssl x509 -in pki/ca.crt -noout -fingerprint -sha256)
expect_eq "refused run changed nothing" "$before" \
    "$(openssl x509 -in pki/ca.crt -noout -fingerprint -sha256)"
expect_ok "--force replaces" db cert quickstart --host localhost --out pki \
    --force --key-type ec:P-256 --ca-subject "CN=Lab CA,O=Lab"
run openssl x509 -in pki/ca.crt -noout -subject
expect_output "--ca-subject is used" 'CN *= *Lab CA'

expect_fail "--host is required" "--host and --out are required" \
    db cert quickstart --ip 127.0.0.1 --out ip-only
expect_fail "invalid host" "invalid --host 'a..b'" \
    db cert quickstart --host a..b --out bad
expect_absent "invalid host creates nothing" bad ip-only

finish
