#!/usr/bin/env bash
# `drawbridge cert show` on PEM chains, DER, PKCS#12 and CSRs, with
# fingerprints and serials checked against the openssl command, and on
# files that are not certificates.

. "$(dirname "$0")/lib.sh"

cd "$WORK" || exit 1

# show_field LABEL: prints the value of the first "LABEL:" line of $OUT.
show_field()
{
    grep -m1 -E "^ *$1: " "$OUT" | sed -E "s/^ *$1: +//"
}

# A CA and a server certificate for a host name and an IP address.
db cert ca --subject "CN=Show Test CA" --out ca >/dev/null
db cert request --host www.example.test --ip 127.0.0.1 --key server.key \
    --out server.csr >/dev/null
db cert sign --ca ca --csr server.csr --out server.crt >/dev/null
cat server.crt ca/ca.crt >chain.crt

# --- One PEM certificate ---------------------------------------------------

expect_ok "show PEM exits 0" db cert show server.crt
expect_output "show PEM names the format" '^File: +server\.crt \(PEM, 1 certificate\)'
expect_output "show PEM numbers the certificate" '^Certificate 1 of 1$'
expect_output "show PEM subject" '^  Subject: +CN=www\.example\.test$'
expect_output "show PEM issuer" '^  Issuer: +CN=Show Test CA$'
expect_output "show PEM SAN" '^  SAN: +DNS:www\.example\.test, IP:127\.0\.0\.1$'
expect_output "show PEM validity" \
    '^  Validity: +from [0-9-]+ [0-9:]+ UTC until [0-9-]+ [0-9:]+ UTC \([0-9]+ days left\)$'
expect_output "show PEM key" '^  Key: +RSA 3072 bits$'
expect_output "show PEM signature algorithm" \
    '^  Signature algorithm: +sha256WithRSAEncryption$'
expect_output "show PEM basic constraints" '^  Basic constraints: +CA:FALSE$'
expect_output "show PEM key usage" \
    '^  Key usage: +digitalSignature, keyEncipherment$'
expect_output "show PEM extended key usage" '^  Extended key usage: +serverAuth$'

expected=$(openssl x509 -in server.crt -noout -fingerprint -sha256 | cut -d= -f2)
expect_eq "show SHA-256 fingerprint matches openssl" "$expected" \
    "$(show_field 'SHA-256 fingerprint')"
expected=$(openssl x509 -in server.crt -noout -fingerprint -sha1 | cut -d= -f2)
expect_eq "show SHA-1 fingerprint matches openssl" "$expected" \
    "$(show_field 'SHA-1 fingerprint')"
expected=$(openssl x509 -in server.crt -noout -serial | cut -d= -f2)
expect_eq "show serial matches openssl" "$expected" "$(show_field Serial)"

# --- PEM chain ---------------------------------------------------------------

expect_ok "show chain exits 0" db cert show chain.crt
expect_output "show chain counts certificates" '\(PEM, 2 certificates\)'
expect_output "show chain first certificate" '^Certificate 1 of 2$'
expect_output "show chain second certificate" '^Certificate 2 of 2$'
expect_output "show chain CA constraints" '^  Basic constraints: +CA:TRUE'
expect_output "show chain CA key usage" '^  Key usage: +.*keyCertSign'
expect_output "show chain CA has no SAN" '^  SAN: +none$'
expect_output "show chain CA has no EKU" '^  Extended key usage: +none$'
expected=$(openssl x509 -in ca/ca.crt -noout -fingerprint -sha256 | cut -d= -f2)
actual=$(grep -E '^  SHA-256 fingerprint: ' "$OUT" | sed -n 2p | awk '{print $3}')
expect_eq "show chain CA fingerprint matches openssl" "$expected" "$actual"

# --- DER ---------------------------------------------------------------------

openssl x509 -in server.crt -outform DER -out server.der
expect_ok "show DER exits 0" db cert show server.der
expect_output "show DER names the format" '\(DER, 1 certificate\)'
expected=$(openssl x509 -in server.crt -noout -fingerprint -sha256 | cut -d= -f2)
expect_eq "show DER fingerprint matches openssl" "$expected" \
    "$(show_field 'SHA-256 fingerprint')"

# --- PKCS#12 -----------------------------------------------------------------

printf 'correct horse battery\n' >password.txt
printf 'wrong password\n' >wrong.txt
openssl pkcs12 -export -in server.crt -inkey server.key -certfile ca/ca.crt \
    -name "relay server" -passout file:password.txt -out server.p12

expect_ok "show PKCS#12 exits 0" \
    db cert show server.p12 --password-file password.txt
expect_output "show PKCS#12 names the format" '\(PKCS#12, 2 certificates\)'
expect_output "show PKCS#12 key matches" \
    '^Private key: +yes, RSA 3072 bits, matches certificate 1$'
expect_output "show PKCS#12 friendly name" '^Friendly name: +relay server$'
expect_output "show PKCS#12 leaf first" '^  Subject: +CN=www\.example\.test$'
expected=$(openssl x509 -in server.crt -noout -fingerprint -sha256 | cut -d= -f2)
expect_eq "show PKCS#12 leaf fingerprint matches openssl" "$expected" \
    "$(show_field 'SHA-256 fingerprint')"
expect_no_output "show PKCS#12 never prints the password" 'correct horse'

expect_fail "show PKCS#12 wrong password fails" \
    'server\.p12.*--password-file' \
    db cert show server.p12 --password-file wrong.txt
expect_eq "show PKCS#12 wrong password exits 1" 1 "$STATUS"
expect_fail "show PKCS#12 without password fails" \
    'server\.p12.*--password-file' db cert show server.p12
expect_fail "show PKCS#12 missing password file fails" 'missing\.txt' \
    db cert show server.p12 --password-file missing.txt

openssl pkcs12 -export -in server.crt -inkey server.key -passout pass: \
    -out empty-password.p12
expect_ok "show PKCS#12 with empty password" db cert show empty-password.p12
expect_output "show PKCS#12 empty password has no friendly name" \
    '^Friendly name: +none$'

openssl pkcs12 -export -nokeys -in server.crt -passout file:password.txt \
    -out nokey.p12
expect_ok "show PKCS#12 without key" \
    db cert show nokey.p12 --password-file password.txt
expect_output "show PKCS#12 without key says so" '^Private key: +none$'

# --- CSR ---------------------------------------------------------------------

expect_ok "show CSR exits 0" db cert show server.csr
expect_output "show CSR is named" '^Certificate signing request$'
expect_output "show CSR subject" '^  Subject: +CN=www\.example\.test$'
expect_output "show CSR SAN" '^  SAN: +DNS:www\.example\.test, IP:127\.0\.0\.1$'
expect_output "show CSR key" '^  Key: +RSA 3072 bits$'
expect_output "show CSR signature verifies" '^  Signature: +verifies'
expect_no_output "show CSR has no fingerprint" 'fingerprint'

# Flipping the last byte changes the signature but keeps the DER valid.
openssl req -in server.csr -outform DER -out server.csr.der
python3 -c '
import sys
data = bytearray(open(sys.argv[1], "rb").read())
data[-1] ^= 0xFF
open(sys.argv[2], "wb").write(data)' server.csr.der damaged.csr.der
expect_ok "show damaged DER CSR exits 0" db cert show damaged.csr.der
expect_output "show damaged CSR signature fails" \
    '^  Signature: +does NOT verify'

# --- Validity wording --------------------------------------------------------

past_start=$(date -u -d '-40 days' +%Y-%m-%d)
past_end=$(date -u -d '-10 days' +%Y-%m-%d)
future_start=$(date -u -d '+20 days' +%Y-%m-%d)
future_end=$(date -u -d '+60 days' +%Y-%m-%d)
db cert sign --ca ca --csr server.csr --out expired.crt \
    --not-before "$past_start" --not-after "$past_end" >/dev/null 2>&1
db cert sign --ca ca --csr server.csr --out future.crt \
    --not-before "$future_start" --not-after "$future_end" >/dev/null 2>&1
expect_ok "show expired exits 0" db cert show expired.crt
expect_output "show expired says how long ago" '\(expired [0-9]+ days ago\)$'
expect_ok "show not yet valid exits 0" db cert show future.crt
expect_output "show not yet valid says when" \
    '\(not valid for [0-9]+ more days\)$'

# --- Files that are not certificates -----------------------------------------

printf 'this is not a certificate\n' >notes.txt
expect_fail "show text file fails" 'notes\.txt' db cert show notes.txt
expect_eq "show text file exits 1" 1 "$STATUS"

head -c "$(($(wc -c <server.crt) / 2))" server.crt >truncated.crt
expect_fail "show truncated PEM fails" 'truncated\.crt.*truncated' \
    db cert show truncated.crt
expect_eq "show truncated PEM exits 1" 1 "$STATUS"

: >empty.crt
expect_fail "show empty file fails" 'empty\.crt.*empty' db cert show empty.crt
expect_eq "show empty file exits 1" 1 "$STATUS"

expect_fail "show private key fails" 'server\.key.*private key' \
    db cert show server.key
expect_fail "show missing file fails" 'missing\.crt' db cert show missing.crt
expect_eq "show missing file exits 1" 1 "$STATUS"

# --- Usage -------------------------------------------------------------------

expect_fail "show without FILE is a usage error" 'give the FILE' db cert show
expect_eq "show without FILE exits 2" 2 "$STATUS"
expect_fail "show unknown option is a usage error" 'unknown option' \
    db cert show --bogus server.crt
expect_eq "show unknown option exits 2" 2 "$STATUS"
expect_fail "show two files is a usage error" 'unexpected argument' \
    db cert show server.crt chain.crt
expect_eq "show two files exits 2" 2 "$STATUS"
expect_ok "show --help exits 0" db cert show --help
expect_output "show --help prints usage" '^Usage: drawbridge cert show'

finish
