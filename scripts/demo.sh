#!/usr/bin/env bash
# Runs the certificate toolkit end to end on localhost: a PKI from
# quickstart, inspection and verification, then a real TLS server
# (openssl s_server) probed by drawbridge and fetched by curl with the
# CA file. Every process it starts is stopped on exit, even on failure.
set -euo pipefail

drawbridge=$(readlink -f "${1:-build/drawbridge}")
run_dir=$(mktemp -d "${TMPDIR:-/tmp}/drawbridge-demo.XXXXXX")
server_pid=""

cleanup()
{
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$run_dir"
}
trap cleanup EXIT

step()
{
    printf '\n== %s\n$ %s\n' "$1" "${*:2}"
    "${@:2}"
}

cd "$run_dir"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

step "Create a CA and a server certificate for localhost" \
    "$drawbridge" cert quickstart --host localhost --ip 127.0.0.1 --out pki \
    --key-type ec:P-256
step "Show the server certificate" "$drawbridge" cert show pki/server.crt
step "Verify it against the CA for host localhost" \
    "$drawbridge" cert verify --ca pki/ca.crt --host localhost pki/server.crt

openssl s_server -accept "127.0.0.1:$port" -cert pki/server.crt \
    -key pki/server.key -www -quiet >s_server.log 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        break
    fi
    sleep 0.1
done

step "Probe the live server and compare its leaf with server.crt" \
    "$drawbridge" cert probe "https://localhost:$port" --ca pki/ca.crt \
    --expect pki/server.crt
step "Fetch a page with curl, trusting only the CA" \
    curl -sS --cacert pki/ca.crt -o /dev/null -w 'HTTP %{http_code}\n' \
    "https://localhost:$port/"

printf '\nDemo finished; the PKI in %s is removed on exit.\n' "$run_dir"
