#!/usr/bin/env bash
# cert pkcs12 export and import, checked with `openssl pkcs12`.
. "$(dirname "$0")/lib.sh"

cd "$WORK"

{
    db cert ca --subject "CN=Bundle CA" --out ca --key-type ec:P-256 &&
        db cert request --host relay.example.com --key relay.key \
            --out relay.csr --key-type ec:P-256 &&
        db cert sign --ca ca --csr relay.csr --out relay.crt
} >/dev/null || { echo "cannot create the test certificates"; exit 1; }
printf 'correct horse battery\n' >pass.txt
printf 'wrong\n' >wrong.txt

expect_ok "export with a chain" \
    db cert pkcs12 export --cert relay.crt --key relay.key --chain ca/ca.crt \
    --out relay.pfx --password-file pass.txt
expect_output "export names the friendly name" 'friendly name "relay.example.com"'
expect_eq "bundle mode is 0600" 600 "$(stat -c %a relay.pfx)"

run openssl pkcs12 -info -in relay.pfx -passin file:pass.txt -noout
expect_eq "openssl reads the bundle with the password" 0 "$STATUS"
expect_output "MAC is SHA-256" 'MAC: sha256'
expect_output "key is AES-256 encrypted" 'Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC'

run openssl pkcs12 -in relay.pfx -passin file:pass.txt -nokeys
expect_eq "bundle holds two certificates" 2 "$(grep -c 'BEGIN CERTIFICATE' "$OUT")"
expect_output "friendly name is the CN" 'friendlyName: relay.example.com'

run openssl pkcs12 -info -in relay.pfx -passin file:wrong.txt -noout
if [ "$STATUS" -ne 0 ]; then
    pass "openssl rejects the wrong password"
else
    fail "openssl rejects the wrong password"
fi

expect_ok "export --name --legacy" \
    db cert pkcs12 export --cert relay.crt --key relay.key --out legacy.pfx \
    --password-file pass.txt --name "Relay 2026" --legacy
run openssl pkcs12 -info -in legacy.pfx -passin file:pass.txt -noout -legacy
expect_output "legacy MAC is SHA-1" 'MAC: sha1'
expect_output "legacy key is 3DES" 'pbeWithSHA1And3-KeyTripleDES-CBC'
run openssl pkcs12 -in legacy.pfx -passin file:pass.txt -nokeys -legacy
expect_output "custom friendly name" 'friendlyName: Relay 2026'

# import: the key and certificates come back unchanged.
expect_ok "import" db cert pkcs12 import relay.pfx --out-cert imported.crt \
    --out-key imported.key --password-file pass.txt
expect_eq "imported key mode is 0600" 600 "$(stat -c %a imported.key)"
expect_eq "imported leaf is the original" \
    "$(openssl x509 -in relay.crt -noout -fingerprint -sha256)" \
    "$(openssl x509 -in imported.crt -noout -fingerprint -sha256)"
expect_eq "imported cert file carries the chain" 2 \
    "$(grep -c 'BEGIN CERTIFICATE' imported.crt)"
expect_ok "imported key matches" bash -c \
    'test "$(openssl pkey -in imported.key -pubout)" = "$(openssl pkey -in relay.key -pubout)"'

expect_ok "import --out-chain" db cert pkcs12 import relay.pfx \
    --out-cert leaf.crt --out-key leaf.key --out-chain chain.crt \
    --password-file pass.txt
expect_eq "leaf file has one certificate" 1 "$(grep -c 'BEGIN CERTIFICATE' leaf.crt)"
expect_eq "chain file is the CA" \
    "$(openssl x509 -in ca/ca.crt -noout -fingerprint -sha256)" \
    "$(openssl x509 -in chain.crt -noout -fingerprint -sha256)"

# A bundle made by openssl imports as well.
openssl pkcs12 -export -in relay.crt -inkey relay.key -out byopenssl.pfx \
    -passout file:pass.txt -name "from openssl"
expect_ok "import an openssl bundle" db cert pkcs12 import byopenssl.pfx \
    --out-cert o.crt --out-key o.key --password-file pass.txt

# An empty password needs --no-password on export, and no file on import.
expect_fail "export without a password choice" \
    "give --password-file FILE.*or --no-password" \
    db cert pkcs12 export --cert relay.crt --key relay.key --out nopass.pfx
expect_absent "refused export writes nothing" nopass.pfx
expect_ok "export --no-password" db cert pkcs12 export --cert relay.crt \
    --key relay.key --out nopass.pfx --no-password
expect_ok "openssl reads the empty password" \
    openssl pkcs12 -info -in nopass.pfx -passin pass: -noout
expect_ok "import with no password file" db cert pkcs12 import nopass.pfx \
    --out-cert np.crt --out-key np.key

# Bad input.
expect_fail "wrong password" \
    "wrong password for the PKCS#12 file relay.pfx.*--password-file" \
    db cert pkcs12 import relay.pfx --out-cert w.crt --out-key w.key \
    --password-file wrong.txt
expect_absent "wrong password writes nothing" w.crt w.key

db cert request --host other.example.com --key other.key --out other.csr \
    --key-type ec:P-256 >/dev/null
expect_fail "key that does not match" \
    "the key in other.key does not match the certificate in relay.crt" \
    db cert pkcs12 export --cert relay.crt --key other.key --out mismatch.pfx \
    --password-file pass.txt
expect_absent "mismatched key writes nothing" mismatch.pfx

expect_fail "existing output" "relay.pfx already exists" \
    db cert pkcs12 export --cert relay.crt --key relay.key --out relay.pfx \
    --password-file pass.txt
expect_fail "existing import output" "imported.key already exists" \
    db cert pkcs12 import relay.pfx --out-cert imported.crt \
    --out-key imported.key --password-file pass.txt
expect_ok "--force replaces" db cert pkcs12 import relay.pfx \
    --out-cert imported.crt --out-key imported.key --password-file pass.txt --force

head -c 400 relay.pfx >truncated.pfx
expect_fail "truncated bundle" "truncated.pfx is not a certificate.*truncated" \
    db cert pkcs12 import truncated.pfx --out-cert t.crt --out-key t.key \
    --password-file pass.txt
expect_absent "truncated bundle writes nothing" t.crt t.key

expect_fail "a PEM file is not a bundle" "relay.crt is a PEM certificate file, not a PKCS#12 bundle" \
    db cert pkcs12 import relay.crt --out-cert p.crt --out-key p.key

: >empty.txt
expect_fail "empty password file" "empty.txt is empty" \
    db cert pkcs12 export --cert relay.crt --key relay.key --out e.pfx \
    --password-file empty.txt
expect_fail "missing password file" "cannot open missing.txt" \
    db cert pkcs12 export --cert relay.crt --key relay.key --out e.pfx \
    --password-file missing.txt
expect_fail "certificate file that is a key" "relay.key is a private key, not a certificate" \
    db cert pkcs12 export --cert relay.key --key relay.key --out e.pfx \
    --password-file pass.txt
expect_absent "failed exports write nothing" e.pfx
expect_fail "no action" "give 'export' or 'import'" db cert pkcs12

leftovers=$(find . -name '*.tmp.*' | wc -l)
expect_eq "no temporary files left" 0 "$leftovers"

finish
