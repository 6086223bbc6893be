#!/usr/bin/env bash
# A 1 GiB upload and a 1 GiB download through the relay and an enabler,
# byte-exact by SHA-256. The peak resident set size (VmHWM) of the relay
# and of the enabler must each stay under 64 MiB (128 MiB under ASan), so
# both must stream bodies under flow control instead of buffering them. No body touches
# the disk: the upload comes from a generator pipe and the download goes
# into sha256sum.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/relay_lib.sh"

cd "$WORK" || exit 1

size=$((1024 * 1024 * 1024))
rss_max_kb=$((64 * 1024))

# Under AddressSanitizer a freed block stays in ASan's quarantine (256 MiB
# by default) before it is reused, so the RSS of a long transfer reaches
# about 500 MiB whatever the program holds. With a 16 MiB quarantine the
# relay and the enabler peak under 60 MiB each for 1 GiB (measured on the
# Debug ASan build, x86_64), and the bound allows for that and for ASan's
# shadow memory. The transfer itself is not much slower under ASan, so the
# size stays 1 GiB. The sanitizer build is recognised by the binary
# (GCC links libasan dynamically, and clang exports __asan_init),
# because `make test` sets ASAN_OPTIONS only for its own ctest run and a
# direct ctest run sets nothing.
if ldd "$DRAWBRIDGE" 2>/dev/null | grep -q libasan ||
    nm -D "$DRAWBRIDGE" 2>/dev/null | grep -q ' __asan_init$'; then
    export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=16"
    rss_max_kb=$((128 * 1024))
    echo "ASan build: ASAN_OPTIONS=$ASAN_OPTIONS, RSS bound $rss_max_kb KiB"
fi

if ! relay_pki; then
    fail "make the test PKI"
    finish
    exit
fi
relay_config relay.conf farm:bulk server:bulk:b1:token-b1
if ! relay_start relay.conf; then
    fail "relay starts"
    finish
    exit
fi
if ! backend_start b1 || ! enabler_start bulk b1 token-b1 "$BACKEND_PORT"; then
    fail "backend and enabler start"
    finish
    exit
fi
pass "relay, backend and enabler start"
BULK=$(relay_url bulk /)

# json_value FILE KEY: prints KEY of the JSON object in FILE.
json_value()
{
    python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' \
        "$1" "$2"
}

# Upload of unknown length, sent chunked by curl.

start=$(date +%s)
upload_status=0
relay_curl --max-time 900 -X POST -T - -o upload.json -w '%{http_code}' \
    "${BULK}sha256" < <(pattern_stream "$size" large-up) >upload.code \
    2>upload.err || upload_status=$?
echo "upload: $(($(date +%s) - start)) s, curl exit $upload_status"
expect_eq "upload: curl succeeds" 0 "$upload_status"
expect_eq "upload is 200" 200 "$(cat upload.code)"
expect_eq "upload: backend receives every byte" "$size" \
    "$(json_value upload.json length 2>/dev/null)"
expect_eq "upload arrives byte-exact" \
    "$(python3 "$BACKEND_PY" --digest "$size" large-up)" \
    "$(json_value upload.json sha256 2>/dev/null)"

# Download with Content-Length.

start=$(date +%s)
download_status=0
relay_curl --max-time 900 -D download.head -w '%{http_code}' \
    -o >(sha256sum | cut -d' ' -f1 >download.sha) \
    "${BULK}bytes?n=$size&seed=large-down" >download.code 2>download.err ||
    download_status=$?
echo "download: $(($(date +%s) - start)) s, curl exit $download_status"
expect_eq "download: curl succeeds" 0 "$download_status"
expect_eq "download is 200" 200 "$(cat download.code)"
expect_eq "download keeps Content-Length" "$size" \
    "$(tr -d '\r' <download.head | awk -F': ' 'tolower($1) == "content-length" { print $2 }')"
# The process substitution may still be hashing when curl exits.
for _ in $(seq 1 200); do
    [ -s download.sha ] && break
    sleep 0.05
done
expect_eq "download arrives byte-exact" \
    "$(python3 "$BACKEND_PY" --digest "$size" large-down)" \
    "$(cat download.sha)"

# Peak memory.

relay_rss=$(peak_rss_kb "$RELAY_PID")
enabler_rss=$(peak_rss_kb "$ENABLER_PID")
echo "peak RSS: relay $relay_rss KiB, enabler $enabler_rss KiB"
for side in relay enabler; do
    rss_var=${side}_rss
    if [ -n "${!rss_var}" ] && [ "${!rss_var}" -lt "$rss_max_kb" ]; then
        pass "$side peak RSS ${!rss_var} KiB is under $rss_max_kb KiB"
    else
        fail "$side peak RSS '${!rss_var}' KiB is under $rss_max_kb KiB"
    fi
done

stop_process "$ENABLER_PID" 10
expect_eq "enabler exits 0 on SIGTERM" 0 "$STOP_STATUS"
stop_process "$RELAY_PID" 10
expect_eq "relay exits 0 on SIGTERM" 0 "$STOP_STATUS"
expect_no_sanitizer_report "relay and enabler log no sanitizer report" \
    relay.log enabler-*.log

run grep -E "request .*path=$RELAY_CLIENT_PREFIX/bulk/(sha256|bytes) status=200 .*result=done" \
    "$RELAY_LOG"
expect_eq "relay logs both transfers as done" 2 "$(wc -l <"$OUT")"

if [ "$FAILED" -gt 0 ]; then
    for log in relay.log enabler-*.log upload.err download.err; do
        echo "--- $log"
        tail -n 30 "$log"
    done
fi
finish
