#!/usr/bin/env bash
# Runs Drawbridge's main job on localhost: a backend server that accepts no
# inbound connections from clients, an enabler beside it that connects out
# to a relay, and HTTPS requests from curl that reach the backend through
# the relay. The PKI comes from `drawbridge cert quickstart`, and curl
# trusts only its CA (--cacert, never -k). Every process this script
# starts is stopped on exit, also when a step fails.
set -euo pipefail

drawbridge=$(readlink -f "${1:-build/drawbridge}")
run_dir=$(mktemp -d "${TMPDIR:-/tmp}/drawbridge-demo.XXXXXX")
pids=()

cleanup()
{
    local pid
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$run_dir"
}
trap cleanup EXIT

step()
{
    printf '\n== %s\n' "$1"
}

free_port()
{
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_for()
{
    local what=$1 file=$2 pattern=$3
    for _ in $(seq 1 100); do
        if grep -q -- "$pattern" "$file" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    echo "demo: $what did not happen within 10 s; its log:" >&2
    cat "$file" >&2
    return 1
}

cd "$run_dir"
https_port=$(free_port)
backend_port=$(free_port)

step "Create a CA and a relay certificate for localhost"
"$drawbridge" cert quickstart --host localhost --ip 127.0.0.1 --out pki \
    --key-type ec:P-256

step "Start a backend: python3 http.server on 127.0.0.1:$backend_port"
mkdir www
echo "Hello from the backend behind the relay." >www/index.html
head -c 10485760 /dev/urandom >www/data.bin
python3 -m http.server "$backend_port" --bind 127.0.0.1 --directory www \
    >backend.log 2>&1 &
pids+=($!)

step "Start the relay on https://localhost:$https_port"
umask 077
echo "demo-token-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')" >token
cat >relay.conf <<CONF
[options]
verbosity = 2
tls_certificate = pki/server.crt
tls_private_key = pki/server.key
listen = 127.0.0.1

[relay_server]
host = localhost
http_port = 0
https_port = $https_port

[backend_farm]
id = demo
client_security = on
backend_security = on

[backend_server]
farm = demo
id = backend1
token = $(cat token)
CONF
"$drawbridge" relay -c relay.conf >relay.log 2>&1 &
pids+=($!)
wait_for "the relay start" relay.log "relay localhost started"

step "Start the enabler: it connects out to the relay over verified TLS"
"$drawbridge" enabler --relay "https://localhost:$https_port" --farm demo \
    --id backend1 --token-file token --ca-file pki/ca.crt \
    --backend "http://127.0.0.1:$backend_port" >enabler.log 2>&1 &
pids+=($!)
wait_for "the tunnel" relay.log "tunnel 1 up"
grep "tunnel 1 up" relay.log

url="https://localhost:$https_port/ias_relay_server/client/rs_client.dll/demo"

step "GET $url/index.html"
curl -sS --cacert pki/ca.crt -i "$url/index.html"

step "GET a 10 MiB file and compare its SHA-256 with the original"
expected=$(sha256sum <www/data.bin | cut -d' ' -f1)
actual=$(curl -sS --cacert pki/ca.crt "$url/data.bin" | sha256sum |
    cut -d' ' -f1)
echo "original: $expected"
echo "received: $actual"
[ "$expected" = "$actual" ]

step "A farm that does not exist"
curl -sS --cacert pki/ca.crt -i "$url-missing/index.html" || true

step "The relay's request log"
sleep 0.2
grep " request " relay.log

step "The status page, and what a device would see"
echo "status page: https://localhost:$https_port/ias_relay_server/client/rs_client.dll"
echo "       JSON: https://localhost:$https_port/ias_relay_server/client/rs_client.dll?format=json"
"$drawbridge" doctor client "$url" --ca pki/ca.crt

printf '\nDemo finished; every process it started is stopped now.\n'
