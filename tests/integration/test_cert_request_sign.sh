#!/usr/bin/env bash
# cert request and cert sign: CSRs and certificates checked with openssl.
. "$(dirname "$0")/lib.sh"

cd "$WORK"

db cert ca --subject "CN=Test Root CA,O=Test" --out ca --key-type ec:P-256 \
    >/dev/null || { echo "cannot create the test CA"; exit 1; }

# request: new key, CN from the first host, every name in the SAN.
expect_ok "request creates a key and CSR" \
    db cert request --host relay.example.com --host relay --ip 192.0.2.10 \
    --ip ::1 --key relay.key --out relay.csr --subject "O=Example,C=DE" \
    --key-type ec:P-256
expect_output "request reports a new key" 'wrote new key relay.key'
expect_eq "new key mode is 0600" 600 "$(stat -c %a relay.key)"
expect_ok "CSR signature verifies" openssl req -in relay.csr -noout -verify

run openssl req -in relay.csr -noout -subject -nameopt RFC2253
expect_output "CSR CN is the first host" 'CN=relay.example.com'
expect_output "CSR keeps --subject" 'O=Example'
run openssl req -in relay.csr -noout -text
expect_output "CSR SAN lists every name" \
    'DNS:relay.example.com, DNS:relay, IP Address:192.0.2.10, IP Address:0:0:0:0:0:0:0:1'

# request with an existing key reuses it.
cp relay.key relay.key.orig
expect_ok "request reuses an existing key" \
    db cert request --host relay.example.com --key relay.key --out again.csr
expect_output "request reports key reuse" 'reused key relay.key'
expect_ok "reused key is unchanged" cmp relay.key relay.key.orig
expect_ok "CSR carries the reused key" bash -c \
    'test "$(openssl req -in again.csr -noout -pubkey)" = "$(openssl pkey -in relay.key -pubout)"'

# sign: a server certificate.
expect_ok "sign issues a certificate" \
    db cert sign --ca ca --csr relay.csr --out relay.crt
expect_ok "certificate verifies against the CA" \
    openssl verify -CAfile ca/ca.crt relay.crt
run openssl x509 -in relay.crt -noout -ext subjectAltName
expect_output "SAN copied from the CSR" \
    'DNS:relay.example.com, DNS:relay, IP Address:192.0.2.10, IP Address:0:0:0:0:0:0:0:1'
run openssl x509 -in relay.crt -noout -ext basicConstraints,keyUsage,extendedKeyUsage
expect_output "leaf is not a CA" 'CA:FALSE'
expect_output "EKU serverAuth" 'TLS Web Server Authentication'
expect_no_output "no clientAuth on a server cert" 'Client Authentication'
expect_output "EC leaf keyUsage" 'Digital Signature'
run openssl x509 -in relay.crt -noout -text
expect_output "signed with SHA-256" 'ecdsa-with-SHA256'
expect_ok "verifies for the purpose sslserver" \
    openssl verify -CAfile ca/ca.crt -purpose sslserver relay.crt

serial=$(openssl x509 -in relay.crt -noout -serial | cut -d= -f2)
expect_eq "serial has 128 bits" 32 "${#serial}"
db cert sign --ca ca --csr relay.csr --out relay2.crt >/dev/null
serial2=$(openssl x509 -in relay2.crt -noout -serial | cut -d= -f2)
if [ "$serial" != "$serial2" ]; then
    pass "serials differ"
else
    fail "serials differ"
fi

end=$(openssl x509 -in relay.crt -noout -enddate | cut -d= -f2)
days=$((($(date -d "$end" +%s) - $(date +%s) + 43200) / 86400))
expect_eq "default validity is 397 days" 397 "$days"

# An RSA key gets keyEncipherment as well.
db cert request --host rsa.example.com --key rsa.key --out rsa.csr \
    --key-type rsa:2048 >/dev/null
expect_ok "sign an RSA request" db cert sign --ca ca --csr rsa.csr --out rsa.crt --days 30
run openssl x509 -in rsa.crt -noout -ext keyUsage
expect_output "RSA leaf keyUsage has keyEncipherment" 'Key Encipherment'

# --client: EKU clientAuth.
db cert request --host device-17 --key client.key --out client.csr \
    --key-type ec:P-256 >/dev/null
expect_ok "sign --client" db cert sign --ca ca --csr client.csr --out client.crt --client
run openssl x509 -in client.crt -noout -ext extendedKeyUsage
expect_output "EKU clientAuth" 'TLS Web Client Authentication'
expect_no_output "no serverAuth on a client cert" 'Server Authentication'
expect_ok "verifies for the purpose sslclient" \
    openssl verify -CAfile ca/ca.crt -purpose sslclient client.crt

# --chain appends the CA certificate.
expect_ok "sign --chain" db cert sign --ca ca --csr relay.csr --out chain.crt --chain
expect_eq "chain file holds two certificates" 2 \
    "$(grep -c 'BEGIN CERTIFICATE' chain.crt)"

# A CSR whose signature does not verify: its signed subject is altered.
openssl req -in relay.csr -outform DER -out relay.der
python3 - <<'PY'
data = bytearray(open("relay.der", "rb").read())
i = data.find(b"relay.example.com")
data[i] ^= 0x01
open("tampered.der", "wb").write(data)
PY
expect_fail "tampered CSR is refused" \
    "signature of the certificate signing request tampered.der does not verify" \
    db cert sign --ca ca --csr tampered.der --out tampered.crt
expect_absent "tampered CSR writes nothing" tampered.crt

# Bad input.
expect_fail "existing output is refused" "relay.crt already exists" \
    db cert sign --ca ca --csr relay.csr --out relay.crt
expect_ok "--force replaces the output" \
    db cert sign --ca ca --csr relay.csr --out relay.crt --force
echo "not a request" >junk.csr
expect_fail "not a CSR" "junk.csr is not a certificate signing request" \
    db cert sign --ca ca --csr junk.csr --out junk.crt
expect_absent "bad CSR writes nothing" junk.crt
head -c 300 relay.csr >truncated.csr
expect_fail "truncated CSR" "truncated.csr is not a certificate signing request.*truncated" \
    db cert sign --ca ca --csr truncated.csr --out truncated.crt
expect_fail "missing CA directory" "cannot open noca/ca.crt" \
    db cert sign --ca noca --csr relay.csr --out x.crt
expect_fail "invalid host" "invalid --host 'bad_name!'" \
    db cert request --host 'bad_name!' --key x.key --out x.csr
expect_fail "invalid IP" "invalid --ip '300.1.1.1'" \
    db cert request --ip 300.1.1.1 --key x.key --out x.csr
expect_absent "invalid name writes no key" x.key x.csr
expect_fail "CN that differs from the first host" \
    "--subject sets CN=other.example.com but the first name is relay.example.com" \
    db cert request --host relay.example.com --subject "CN=other.example.com" \
    --key y.key --out y.csr
expect_absent "rejected request writes no key" y.key y.csr
echo "garbage" >bad.key
expect_fail "existing file that is not a key" "bad.key is not a private key" \
    db cert request --host a.example.com --key bad.key --out bad.csr

# A CA key that others can read gets a warning, and signing proceeds.
chmod 644 ca/ca.key
expect_ok "sign with a readable CA key" \
    db cert sign --ca ca --csr relay.csr --out warned.crt
expect_output "readable CA key warning" \
    "ca/ca.key is readable by other users \(mode 0644\).*chmod 600"
chmod 600 ca/ca.key

# A CA key that does not belong to the CA certificate.
db cert ca --subject "CN=Other CA" --out other --key-type ec:P-256 >/dev/null
cp other/ca.key ca/ca.key
expect_fail "mismatched CA key" "CA key does not match the CA certificate" \
    db cert sign --ca ca --csr relay.csr --out mismatch.crt
expect_absent "mismatched CA key writes nothing" mismatch.crt

# A leaf used as the CA.
mkdir leafca
cp relay.crt leafca/ca.crt
cp relay.key leafca/ca.key
expect_fail "a leaf cannot sign" "is not a CA: it lacks basicConstraints CA:TRUE" \
    db cert sign --ca leafca --csr client.csr --out byleaf.crt

# A certificate that would outlive its CA ends with the CA.
db cert ca --subject "CN=Short CA" --out short --days 10 --key-type ec:P-256 >/dev/null
expect_ok "sign past the CA's end" \
    db cert sign --ca short --csr relay.csr --out clamped.crt --days 100
expect_output "clamping is reported" 'outlive its CA'
expect_eq "leaf ends with its CA" \
    "$(openssl x509 -in short/ca.crt -noout -enddate)" \
    "$(openssl x509 -in clamped.crt -noout -enddate)"

leftovers=$(find . -name '*.tmp.*' | wc -l)
expect_eq "no temporary files left" 0 "$leftovers"

finish
