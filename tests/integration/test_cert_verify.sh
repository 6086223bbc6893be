#!/usr/bin/env bash
# `drawbridge cert verify`: a good certificate, and one certificate for each
# problem it reports (host, CA, dates, EKU, signature, key, chain), with the
# chain results checked against `openssl verify`.

. "$(dirname "$0")/lib.sh"

cd "$WORK" || exit 1

HOST=www.example.test

# issue NAME CA_DIR [SIGN OPTIONS...]: signs server.csr with CA_DIR into
# NAME.crt.
issue()
{
    local name=$1 ca=$2
    shift 2
    db cert sign --ca "$ca" --csr server.csr --out "$name.crt" "$@" \
        >/dev/null 2>&1
}

# openssl_rejects NAME CA FILE: `openssl verify` must reject FILE.
openssl_rejects()
{
    if openssl verify -CAfile "$2" "$3" >/dev/null 2>&1; then
        FAILED=$((FAILED + 1))
        echo "FAILED: $1: openssl verify accepts $3"
    else
        pass "$1"
    fi
}

db cert ca --subject "CN=Verify Test CA" --out ca >/dev/null
db cert request --host "$HOST" --ip 127.0.0.1 --key server.key \
    --out server.csr >/dev/null
issue good ca

# --- Good certificate -------------------------------------------------------

expect_ok "openssl accepts good certificate" \
    openssl verify -CAfile ca/ca.crt good.crt
expect_ok "verify good exits 0" db cert verify --ca ca/ca.crt --host "$HOST" \
    good.crt
expect_output "verify good chain" \
    "^ok: chain: 'CN=$HOST', signed by 'CN=Verify Test CA'"
expect_output "verify good host" "^ok: host: the certificate covers $HOST$"
expect_output "verify good dates" '^ok: dates: valid until .*days left'
expect_output "verify good EKU" '^ok: extended key usage: serverAuth$'
expect_output "verify good key" '^ok: key: .*RSA 3072 bits'
expect_output "verify good signature" \
    '^ok: signature: .*sha256WithRSAEncryption'
expect_output "verify SHA-256 note" '^note: signature: .*Windows XP before SP3'
expect_output "verify good summary" '^result: 0 errors, 0 warnings$'
expect_no_output "verify good has no errors" '^(error|warning):'

expect_ok "verify without --host exits 0" db cert verify --ca ca/ca.crt \
    good.crt
expect_output "verify without --host notes it" \
    '^note: host: the host name was not checked'

openssl x509 -in good.crt -outform DER -out good.der
expect_ok "verify DER exits 0" db cert verify --ca ca/ca.crt --host "$HOST" \
    good.der

# --- Host names -------------------------------------------------------------

expect_fail "verify wrong host fails" \
    "^error: host: .*other\.example\.test.*covers DNS:$HOST, IP:127\.0\.0\.1.*cert request --host other\.example\.test" \
    db cert verify --ca ca/ca.crt --host other.example.test good.crt
expect_eq "verify wrong host exits 1" 1 "$STATUS"
expect_output "verify wrong host summary" '^result: 1 error, 0 warnings$'

expect_ok "verify IP host exits 0" db cert verify --ca ca/ca.crt \
    --host 127.0.0.1 good.crt
expect_output "verify IP host covered" \
    '^ok: host: the certificate covers 127\.0\.0\.1$'
expect_fail "verify wrong IP fails" \
    '^error: host: .*127\.0\.0\.2.*cert request --ip 127\.0\.0\.2' \
    db cert verify --ca ca/ca.crt --host 127.0.0.2 good.crt

# --- Another CA -------------------------------------------------------------

db cert ca --subject "CN=Other CA" --out other >/dev/null
issue other other
openssl_rejects "openssl rejects other CA" ca/ca.crt other.crt
expect_fail "verify other CA fails" \
    "^error: chain: .*signed by 'CN=Other CA'.*ca/ca\.crt" \
    db cert verify --ca ca/ca.crt --host "$HOST" other.crt
expect_eq "verify other CA exits 1" 1 "$STATUS"
expect_output "verify other CA lists the trusted CA" "holds 'CN=Verify Test CA'"
expect_output "verify other CA reports once" '^result: 1 error, 0 warnings$'

# A CA created again under the same name has a new key.
db cert ca --subject "CN=Verify Test CA" --out again >/dev/null
issue again again
openssl_rejects "openssl rejects CA of the same name" ca/ca.crt again.crt
expect_fail "verify CA of the same name fails" \
    "^error: chain: .*also named 'CN=Verify Test CA'.*ca/ca\.crt" \
    db cert verify --ca ca/ca.crt again.crt

# --- Validity dates ---------------------------------------------------------

issue expired ca --not-before "$(date -u -d '-60 days' +%Y-%m-%d)" \
    --not-after "$(date -u -d '-5 days' +%Y-%m-%d)"
openssl_rejects "openssl rejects expired" ca/ca.crt expired.crt
expect_fail "verify expired fails" '^error: dates: the certificate expired on' \
    db cert verify --ca ca/ca.crt --host "$HOST" expired.crt
expect_eq "verify expired exits 1" 1 "$STATUS"
expect_output "verify expired chain is ok" '^ok: chain:'
expect_output "verify expired reported once" '^result: 1 error, 0 warnings$'

not_before=$(date -u -d '+20 days' +%Y-%m-%d)
issue future ca --not-before "$not_before" \
    --not-after "$(date -u -d '+200 days' +%Y-%m-%d)"
openssl_rejects "openssl rejects not yet valid" ca/ca.crt future.crt
expect_fail "verify not yet valid fails" \
    "^error: dates: the certificate is not valid until $not_before" \
    db cert verify --ca ca/ca.crt --host "$HOST" future.crt
expect_eq "verify not yet valid exits 1" 1 "$STATUS"
expect_output "verify not yet valid reported once" \
    '^result: 1 error, 0 warnings$'

issue soon ca --days 10
expect_ok "verify expiring soon exits 0" db cert verify --ca ca/ca.crt \
    --host "$HOST" soon.crt
expect_output "verify expiring soon warns" \
    '^warning: dates: the certificate expires on .*in (9|10) days'
expect_output "verify expiring soon summary" '^result: 0 errors, 1 warning$'

# --- Extended key usage -----------------------------------------------------

issue client ca --client
expect_fail "verify client certificate fails EKU" \
    '^error: extended key usage: .*clientAuth.*without --client' \
    db cert verify --ca ca/ca.crt --host "$HOST" client.crt
expect_eq "verify client certificate exits 1" 1 "$STATUS"

# --- Signature algorithm and key size ---------------------------------------

# `drawbridge cert sign` only signs with SHA-256, so the SHA-1 certificate
# comes from the openssl command.
printf 'subjectAltName=DNS:%s\nextendedKeyUsage=serverAuth\n' "$HOST" \
    >leaf.ext
openssl x509 -req -sha1 -in server.csr -CA ca/ca.crt -CAkey ca/ca.key \
    -CAcreateserial -days 100 -extfile leaf.ext -out sha1.crt 2>/dev/null
expect_eq "openssl made a SHA-1 certificate" sha1WithRSAEncryption \
    "$(openssl x509 -in sha1.crt -noout -text |
        awk '/Signature Algorithm/ {print $3; exit}')"
expect_fail "verify SHA-1 signature fails" \
    '^error: signature: .*sha1WithRSAEncryption.*SHA-256' \
    db cert verify --ca ca/ca.crt --host "$HOST" sha1.crt
expect_eq "verify SHA-1 signature exits 1" 1 "$STATUS"

# `drawbridge cert` never generates RSA keys below 2048 bits, and may reject
# one when signing, so the weak key comes from `openssl genrsa` and is signed by
# the openssl command. `cert request --key` reuses the existing key.
openssl genrsa -out weak.key 1024 2>/dev/null
db cert request --host weak.example.test --key weak.key --out weak.csr \
    >/dev/null 2>&1
printf 'subjectAltName=DNS:weak.example.test\nextendedKeyUsage=serverAuth\n' \
    >weak.ext
openssl x509 -req -sha256 -in weak.csr -CA ca/ca.crt -CAkey ca/ca.key \
    -CAcreateserial -days 100 -extfile weak.ext -out weak.crt 2>/dev/null
expect_fail "verify weak key fails" '^error: key: .*RSA 1024 bits' \
    db cert verify --ca ca/ca.crt --host weak.example.test weak.crt
expect_eq "verify weak key exits 1" 1 "$STATUS"

# --- Intermediate CA --------------------------------------------------------

# `drawbridge cert sign` issues leaf certificates only (CA:FALSE), so the
# intermediate CA is made with the openssl command. Its key and certificate
# go into a CA directory, so that `drawbridge cert sign` can issue from it.
db cert ca --subject "CN=Verify Root CA" --out root >/dev/null
mkdir -m 700 inter
cat >inter.ext <<'EOF'
basicConstraints=critical,CA:TRUE,pathlen:0
keyUsage=critical,keyCertSign,cRLSign
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid:always
EOF
openssl req -new -newkey rsa:2048 -nodes -keyout inter/ca.key \
    -subj "/CN=Verify Intermediate CA" -out inter.csr 2>/dev/null
openssl x509 -req -sha256 -in inter.csr -CA root/ca.crt -CAkey root/ca.key \
    -CAcreateserial -days 365 -extfile inter.ext -out inter/ca.crt 2>/dev/null
issue leaf inter
cat leaf.crt inter/ca.crt >leaf-chain.crt

openssl_rejects "openssl rejects missing intermediate" root/ca.crt leaf.crt
expect_fail "verify missing intermediate fails" \
    "^error: chain: .*signed by 'CN=Verify Intermediate CA'.*append its certificate to leaf\.crt" \
    db cert verify --ca root/ca.crt --host "$HOST" leaf.crt
expect_eq "verify missing intermediate exits 1" 1 "$STATUS"

expect_ok "openssl accepts chain with intermediate" \
    openssl verify -CAfile root/ca.crt -untrusted inter/ca.crt leaf.crt
expect_ok "verify with intermediate exits 0" \
    db cert verify --ca root/ca.crt --host "$HOST" leaf-chain.crt
expect_output "verify with intermediate chain" \
    "^ok: chain: 'CN=$HOST', signed by 'CN=Verify Intermediate CA', signed by 'CN=Verify Root CA'"
expect_output "verify with intermediate checks its signature" \
    "^ok: signature: 'CN=Verify Intermediate CA'"

expect_fail "verify with intermediate as CA fails" \
    "^error: chain: 'CN=Verify Intermediate CA' in the CA file inter/ca\.crt is signed by 'CN=Verify Root CA'" \
    db cert verify --ca inter/ca.crt leaf.crt

openssl x509 -req -sha1 -in inter.csr -CA root/ca.crt -CAkey root/ca.key \
    -CAcreateserial -days 365 -extfile inter.ext -out inter-sha1.crt \
    2>/dev/null
cat leaf.crt inter-sha1.crt >leaf-sha1-chain.crt
expect_fail "verify SHA-1 intermediate fails" \
    "^error: signature: 'CN=Verify Intermediate CA' is signed with sha1WithRSAEncryption" \
    db cert verify --ca root/ca.crt leaf-sha1-chain.crt

# A leaf certificate (CA:FALSE) used as the issuer of another one.
openssl req -new -newkey rsa:2048 -nodes -keyout below.key \
    -subj "/CN=below.example.test" -out below.csr 2>/dev/null
printf 'subjectAltName=DNS:below.example.test\nextendedKeyUsage=serverAuth\n' \
    >below.ext
openssl x509 -req -sha256 -in below.csr -CA good.crt -CAkey server.key \
    -CAcreateserial -days 100 -extfile below.ext -out below.crt 2>/dev/null
cat below.crt good.crt >below-chain.crt
expect_fail "verify non-CA issuer fails" \
    "^error: chain: 'CN=$HOST' signs other certificates .*not a valid CA" \
    db cert verify --ca ca/ca.crt below-chain.crt

# --- Self-signed and several problems at once -------------------------------

openssl req -x509 -newkey rsa:2048 -nodes -keyout self.key -days 100 \
    -subj "/CN=self.example.test" \
    -addext "subjectAltName=DNS:self.example.test" -out self.crt 2>/dev/null
expect_fail "verify self-signed fails" '^error: chain: .*is self-signed' \
    db cert verify --ca ca/ca.crt self.crt
expect_ok "verify self-signed trusted alone" \
    db cert verify --ca self.crt --host self.example.test self.crt

issue many other --client --not-before "$(date -u -d '-60 days' +%Y-%m-%d)" \
    --not-after "$(date -u -d '-5 days' +%Y-%m-%d)"
expect_fail "verify lists every problem" '^result: 4 errors, 0 warnings$' \
    db cert verify --ca ca/ca.crt --host other.example.test many.crt
expect_output "verify lists chain problem" '^error: chain:'
expect_output "verify lists host problem" '^error: host:'
expect_output "verify lists dates problem" '^error: dates:'
expect_output "verify lists EKU problem" '^error: extended key usage:'

# --- Files and usage --------------------------------------------------------

expect_fail "verify missing file fails" 'missing\.crt' \
    db cert verify --ca ca/ca.crt missing.crt
expect_eq "verify missing file exits 1" 1 "$STATUS"
printf 'not a certificate\n' >notes.txt
expect_fail "verify CA file not a certificate fails" 'notes\.txt' \
    db cert verify --ca notes.txt good.crt
expect_eq "verify CA file not a certificate exits 1" 1 "$STATUS"

expect_fail "verify without --ca is a usage error" '--ca is required' \
    db cert verify good.crt
expect_eq "verify without --ca exits 2" 2 "$STATUS"
expect_fail "verify without FILE is a usage error" 'give the certificate' \
    db cert verify --ca ca/ca.crt
expect_eq "verify without FILE exits 2" 2 "$STATUS"
expect_fail "verify unknown option is a usage error" 'unknown option' \
    db cert verify --ca ca/ca.crt --bogus good.crt
expect_eq "verify unknown option exits 2" 2 "$STATUS"
expect_ok "verify --help exits 0" db cert verify --help
expect_output "verify --help prints usage" '^Usage: drawbridge cert verify'

finish
