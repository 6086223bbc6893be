#!/usr/bin/env bash
# The relay's admin listener: /metrics in the Prometheus text format, with
# counters that follow real requests and tunnels.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/relay_lib.sh"

cd "$WORK"
relay_pki || exit 1
ADMIN_PORT=$(free_port)
relay_config "$WORK/relay.conf" "option:admin_port=$ADMIN_PORT" \
    farm:sync server:sync:s1:token-1 server:sync:s2:token-2
relay_start "$WORK/relay.conf" || exit 1
backend_start b1 || exit 1
enabler_start sync s1 token-1 "$BACKEND_PORT" || exit 1

metrics()
{
    curl -sS --max-time 10 "http://127.0.0.1:$ADMIN_PORT/metrics"
}

# value NAME_AND_LABELS: prints the sample's value from the last scrape.
value()
{
    grep -v '^#' "$WORK/metrics.txt" | grep -F -- "$1 " | awk '{ print $2 }'
}

for i in 1 2 3; do
    relay_curl -o /dev/null "$(relay_url sync /echo)"
done
relay_curl -o /dev/null "$(relay_url nofarm /x)"
printf 'wrong\n' >"$WORK/wrong-token"
run "$DRAWBRIDGE" enabler --relay "https://localhost:$RELAY_HTTPS_PORT" \
    --farm sync --id s2 --token-file "$WORK/wrong-token" \
    --ca-file "$WORK/pki/ca.crt" --backend "http://127.0.0.1:$BACKEND_PORT" \
    --max-retries 0
expect_eq "refused enabler exits 3" 3 "$STATUS"

metrics >"$WORK/metrics.txt"
expect_eq "scrape succeeds" 0 "$?"
expect_eq "2xx requests of s1" 3 \
    "$(value 'drawbridge_requests_total{farm="sync",server="s1",class="2xx"}')"
expect_eq "no requests for s2" 0 \
    "$(value 'drawbridge_requests_total{farm="sync",server="s2",class="2xx"}')"
expect_eq "relay's own 404" 1 \
    "$(value 'drawbridge_relay_answered_requests_total{class="4xx"}')"
expect_eq "one tunnel for s1" 1 \
    "$(value 'drawbridge_tunnels{farm="sync",server="s1"}')"
expect_eq "no tunnel for s2" 0 \
    "$(value 'drawbridge_tunnels{farm="sync",server="s2"}')"
expect_eq "refusal counted by status" 1 \
    "$(value 'drawbridge_tunnel_refusals_total{status="401"}')"
expect_eq "histogram count" 3 \
    "$(value 'drawbridge_request_duration_seconds_count{farm="sync"}')"
expect_eq "histogram +Inf bucket" 3 \
    "$(value 'drawbridge_request_duration_seconds_bucket{farm="sync",le="+Inf"}')"
out=$(value 'drawbridge_body_bytes_total{farm="sync",server="s1",direction="out"}')
if [ "${out:-0}" -gt 0 ]; then
    pass "response bytes counted"
else
    fail "response bytes counted (got '$out')"
fi

# The text format wants each family's samples together, after its TYPE.
families=$(grep '^# TYPE' "$WORK/metrics.txt" | awk '{ print $3 }' | sort |
    uniq -d)
expect_eq "each TYPE appears once" "" "$families"
run python3 - "$WORK/metrics.txt" <<'PY'
import re, sys
seen, current = set(), None
for line in open(sys.argv[1]):
    if line.startswith("# TYPE "):
        current = line.split()[2]
        seen.add(current)
        continue
    if line.startswith("#") or not line.strip():
        continue
    name = re.match(r"[a-z_]+", line).group(0)
    family = re.sub(r"_(bucket|sum|count)$", "", name)
    if family != current:
        sys.exit(f"{name} is outside its family's group")
PY
expect_eq "samples grouped by family" 0 "$STATUS"

run curl -sS -o /dev/null -w '%{http_code}' \
    "http://127.0.0.1:$ADMIN_PORT/other"
expect_output "other paths get 404" '^404$'

# Reconnects show as accepted tunnels.
stop_process "$ENABLER_PID" >/dev/null
enabler_start sync s1 token-1 "$BACKEND_PORT" || exit 1
metrics >"$WORK/metrics.txt"
expect_eq "reconnect counted" 2 \
    "$(value 'drawbridge_tunnels_accepted_total{farm="sync",server="s1"}')"

# The enabler's own metrics with --admin.
ENABLER_ADMIN_PORT=$(free_port)
stop_process "$ENABLER_PID" >/dev/null
enabler_start sync s1 token-1 "$BACKEND_PORT" \
    --admin "127.0.0.1:$ENABLER_ADMIN_PORT" || exit 1
relay_curl -o /dev/null "$(relay_url sync /echo)"
relay_curl -o /dev/null "$(relay_url sync /status/503)"
curl -sS --max-time 10 "http://127.0.0.1:$ENABLER_ADMIN_PORT/metrics" \
    >"$WORK/metrics.txt"
expect_eq "enabler counts 2xx" 1 \
    "$(value 'drawbridge_enabler_requests_total{class="2xx"}')"
expect_eq "enabler counts 5xx" 1 \
    "$(value 'drawbridge_enabler_requests_total{class="5xx"}')"
expect_eq "enabler has one open tunnel" 1 "$(value 'drawbridge_enabler_tunnels')"
expect_eq "enabler reports the backend up" 1 \
    "$(value 'drawbridge_enabler_backend_up')"
run "$DRAWBRIDGE" enabler --relay "https://localhost:$RELAY_HTTPS_PORT" \
    --farm sync --id s1 --token-file "$WORK/token-sync-s1" \
    --ca-file "$WORK/pki/ca.crt" --backend "http://127.0.0.1:$BACKEND_PORT" \
    --admin "not-an-address"
expect_eq "invalid --admin is a usage error" 2 "$STATUS"
expect_output "invalid --admin names the value" "invalid --admin 'not-an-address'"

stop_process "$ENABLER_PID" >/dev/null
if stop_process "$RELAY_PID"; then
    pass "relay stops on SIGTERM"
else
    fail "relay stops on SIGTERM"
fi
finish
