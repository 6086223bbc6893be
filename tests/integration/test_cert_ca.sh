#!/usr/bin/env bash
# cert ca: a self-signed CA, checked with the openssl command.
. "$(dirname "$0")/lib.sh"

cd "$WORK"

expect_ok "ca creates a CA" \
    db cert ca --subject "CN=Example Root CA,O=Example" --out ca
expect_output "ca reports ca.crt" 'wrote ca/ca.crt: CN=Example Root CA'

expect_eq "ca.key mode is 0600" 600 "$(stat -c %a ca/ca.key)"
expect_eq "ca directory mode is 0700" 700 "$(stat -c %a ca)"

run openssl x509 -in ca/ca.crt -noout -subject -nameopt RFC2253
expect_output "subject is as given" '^subject=O=Example,CN=Example Root CA$'

run openssl x509 -in ca/ca.crt -noout -ext basicConstraints,keyUsage
expect_output "basicConstraints CA:TRUE" 'CA:TRUE'
expect_output "basicConstraints is critical" 'Basic Constraints: critical'
expect_output "keyUsage has Certificate Sign" 'Certificate Sign'

run openssl x509 -in ca/ca.crt -noout -text
expect_output "signed with SHA-256" 'Signature Algorithm: sha256WithRSAEncryption'
expect_output "default key is RSA 3072" 'Public-Key: \(3072 bit\)'

expect_ok "self-signature verifies" \
    openssl verify -CAfile ca/ca.crt ca/ca.crt

expect_ok "key matches certificate" bash -c \
    'test "$(openssl x509 -in ca/ca.crt -noout -pubkey)" = "$(openssl pkey -in ca/ca.key -pubout)"'

# Validity: --days counts from now.
end=$(openssl x509 -in ca/ca.crt -noout -enddate | cut -d= -f2)
end_s=$(date -d "$end" +%s)
days=$(((end_s - $(date +%s) + 43200) / 86400))
expect_eq "default validity is 3650 days" 3650 "$days"

expect_fail "existing output is refused" \
    "ca/ca.key already exists; remove it or pass --force" \
    db cert ca --subject "CN=Other" --out ca
run openssl x509 -in ca/ca.crt -noout -subject
expect_output "refused run left the old CA" 'Example Root CA'

expect_ok "--force replaces" \
    db cert ca --subject "CN=Second CA" --out ca --force --key-type ec:P-256
run openssl x509 -in ca/ca.crt -noout -subject -text
expect_output "forced CA has the new subject" 'CN *= *Second CA'
expect_output "ec:P-256 key" 'ASN1 OID: prime256v1'
expect_output "EC CA signs with ECDSA SHA-256" 'ecdsa-with-SHA256'

expect_ok "--not-before/--not-after" \
    db cert ca --subject "CN=Dated" --out dated --not-before 2030-01-01 \
    --not-after 2031-06-30
run openssl x509 -in dated/ca.crt -noout -startdate -enddate
expect_output "start date is set" 'notBefore=Jan  1 00:00:00 2030 GMT'
expect_output "end date is set" 'notAfter=Jun 30 00:00:00 2031 GMT'

expect_fail "invalid subject" "invalid subject 'Example'.*KEY=VALUE" \
    db cert ca --subject "Example" --out bad1
expect_absent "invalid subject writes nothing" bad1

expect_fail "unknown subject attribute" "'XX=1' is not accepted" \
    db cert ca --subject "CN=a,XX=1" --out bad2
expect_fail "invalid key type" "invalid key type 'rsa:1024'" \
    db cert ca --subject "CN=a" --out bad3 --key-type rsa:1024
expect_absent "invalid key type writes nothing" bad3/ca.key bad3/ca.crt bad3
expect_fail "invalid days" "invalid --days '0'" \
    db cert ca --subject "CN=a" --out bad4 --days 0
expect_fail "invalid date" "invalid --not-after '2030-13-01'" \
    db cert ca --subject "CN=a" --out bad5 --not-after 2030-13-01
expect_fail "end before start" "end before it starts" \
    db cert ca --subject "CN=a" --out bad6 --not-before 2030-01-01 \
    --not-after 2029-01-01
expect_absent "failed signing writes nothing" bad6/ca.key bad6/ca.crt
expect_fail "missing --out" "--subject and --out are required" \
    db cert ca --subject "CN=a"

touch notadir
expect_fail "--out is a file" "notadir exists and is not a directory" \
    db cert ca --subject "CN=a" --out notadir

leftovers=$(find . -name '*.tmp.*' | wc -l)
expect_eq "no temporary files left" 0 "$leftovers"

finish
