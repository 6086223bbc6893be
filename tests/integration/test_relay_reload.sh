#!/usr/bin/env bash
# Reloading a real relay with three enablers and three backend.py servers
# on loopback, all in farm app:
#   - a reload to a new certificate, issued by the same CA so that the
#     enablers keep trusting the relay: a 300 MB download that started
#     before it completes byte-exact, new connections get the new
#     certificate, and no tunnel closes;
#   - reloads with a line that is not `key = value`, a missing certificate
#     file and a key that does not match: the relay rejects each one, logs
#     its error and serves as before. `--reload` with the broken file
#     exits 1 without signalling the relay;
#   - removing server s2, then setting `enable = no` on s3: their tunnels
#     close, their enablers are refused with 404 and 403, and requests go
#     to the servers that remain;
#   - `--reload` with a file that sets no pid_file fails and names it;
#   - SIGTERM: the relay exits 0 and removes its pid file.
#
# The download is held still by its reader while the relay reloads, so it
# is in flight whatever the machine's speed.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/relay_lib.sh"

cd "$WORK" || exit 1

size=$((300 * 1000 * 1000))
PID_FILE="$WORK/relay.pid"

if ! relay_pki; then
    fail "make the test PKI"
    finish
    exit
fi
# The new certificate comes from the first CA, and other.key belongs to
# no certificate.
expect_ok "request for the new certificate" db cert request \
    --host localhost --ip 127.0.0.1 --key-type ec:P-256 --key new.key \
    --out new.csr
expect_ok "new certificate is signed by the same CA" db cert sign \
    --ca pki --csr new.csr --out new.crt
expect_ok "request for a key of no certificate" db cert request \
    --host localhost --key-type ec:P-256 --key other.key --out other.csr

relay_config relay.conf "option:pid_file=$PID_FILE" farm:app \
    server:app:s1:token-s1 server:app:s2:token-s2 server:app:s3:token-s3
if ! relay_start "$WORK/relay.conf"; then
    fail "relay starts"
    finish
    exit
fi
expect_eq "relay writes its pid file" "$RELAY_PID" "$(cat "$PID_FILE")"

declare -A ENABLER_PIDS ENABLER_LOGS
for server in s1 s2 s3; do
    if ! backend_start "$server"; then
        fail "backend $server starts"
        finish
        exit
    fi
    if ! enabler_start app "$server" "token-$server" "$BACKEND_PORT" \
        --retry-delay 0.2 --retry-max-delay 1; then
        fail "enabler $server connects"
        finish
        exit
    fi
    ENABLER_PIDS[$server]=$ENABLER_PID
    ENABLER_LOGS[$server]=$ENABLER_LOG
done
pass "relay, backends and enablers start"
APP=$(relay_url app /)

# log_count FILE REGEX: prints how many lines of FILE match.
log_count()
{
    grep -Ec -- "$2" "$1" 2>/dev/null || true
}

# served_by COUNT: sends COUNT requests for /server-id one after another
# and prints the backend name of each response, one a line, or "error"
# for a request that failed.
served_by()
{
    local i id
    for ((i = 0; i < $1; i++)); do
        if ! id=$(relay_curl --fail "${APP}server-id" 2>/dev/null); then
            id=error
        fi
        echo "$id"
    done
}

# expect_served_only NAME COUNT BACKEND...: COUNT requests must all
# succeed, each served by one of the BACKENDs.
expect_served_only()
{
    local name=$1 count=$2 names unexpected
    shift 2
    names=$(served_by "$count")
    unexpected=$(grep -vxF -f <(printf '%s\n' "$@") <<<"$names" | sort -u |
        tr '\n' ' ')
    if [ -z "$unexpected" ]; then
        pass "$name"
    else
        fail "$name (also served by: $unexpected)"
    fi
}

# served_fingerprint: prints the SHA-256 fingerprint of the certificate
# that the relay serves to a new connection, as the openssl command reports
# it.
served_fingerprint()
{
    openssl s_client -connect "127.0.0.1:$RELAY_HTTPS_PORT" \
        -servername localhost </dev/null 2>/dev/null |
        openssl x509 -noout -fingerprint -sha256 2>/dev/null | cut -d= -f2
}

# fingerprint FILE: prints the SHA-256 fingerprint of FILE's certificate.
fingerprint()
{
    openssl x509 -in "$1" -noout -fingerprint -sha256 | cut -d= -f2
}

# probe EXPECTED_CERT: runs `drawbridge cert probe` against the relay.
probe()
{
    run db cert probe "https://localhost:$RELAY_HTTPS_PORT" \
        --ca pki/ca.crt --expect "$1"
}

# expect_serves NAME CERT: the relay serves CERT to new connections,
# according to both `cert probe` and the openssl command.
expect_serves()
{
    probe "$2"
    expect_eq "$1: probe exits 0" 0 "$STATUS"
    expect_output "$1: probe reports a match" "^expect: match: "
    expect_eq "$1: openssl sees it" "$(fingerprint "$2")" \
        "$(served_fingerprint)"
}

RELOADED="reloaded $WORK/relay\.conf: "
REJECTED="reload rejected: the running configuration stays"

expect_serves "before any reload, the first certificate" pki/server.crt
expect_served_only "requests succeed on s1, s2 or s3" 9 s1 s2 s3

# --- A new certificate while a download is in flight -------------------------

# The reader hashes the body from a FIFO. After 16 MiB it creates
# download.started and reads no more until download.go exists, so the
# download stays open across the reload. At the end it writes the digest
# and length to download.sha.
READER_PY=$(
    cat <<'EOF'
import hashlib, os, sys, time

digest = hashlib.sha256()
length = 0
paused = False
with open("download.fifo", "rb") as body:
    while True:
        piece = body.read(65536)
        if not piece:
            break
        digest.update(piece)
        length += len(piece)
        if not paused and length >= 16 * 1024 * 1024:
            paused = True
            open("download.started", "w").close()
            deadline = time.monotonic() + 60
            while not os.path.exists("download.go"):
                if time.monotonic() > deadline:
                    sys.exit("reader: download.go did not appear in 60 s")
                time.sleep(0.05)
with open("download.sha", "w") as out:
    out.write("%s %d\n" % (digest.hexdigest(), length))
EOF
)
mkfifo download.fifo
start_bg reader.log python3 -c "$READER_PY"
READER_PID=$BG_PID
start_bg download.log curl -sS --max-time 120 --cacert pki/ca.crt \
    --resolve "localhost:$RELAY_HTTPS_PORT:127.0.0.1" \
    -o download.fifo -w 'status=%{http_code}\n' \
    "${APP}bytes?n=$size&seed=reload"
DOWNLOAD_PID=$BG_PID
for _ in $(seq 1 400); do
    if [ -e download.started ] || ! process_running "$DOWNLOAD_PID"; then
        break
    fi
    sleep 0.05
done
if [ -e download.started ]; then
    pass "download is under way"
else
    fail "download is under way"
    cat download.log reader.log
fi

relay_set_option relay.conf tls_certificate "$WORK/new.crt"
relay_set_option relay.conf tls_private_key "$WORK/new.key"
run db relay -c relay.conf --reload
expect_eq "--reload exits 0" 0 "$STATUS"
expect_output "--reload signals the relay" \
    "^sent SIGHUP to relay process $RELAY_PID; "
if wait_log "$RELAY_LOG" "$RELOADED" 1 10; then
    pass "relay reloads the new certificate"
else
    fail "relay reloads the new certificate"
fi
cp relay.conf good.conf

expect_serves "after the reload, the new certificate" new.crt
probe pki/server.crt
expect_eq "probe for the old certificate exits 1" 1 "$STATUS"
expect_output "probe reports a mismatch for the old certificate" \
    "^expect: mismatch: served leaf SHA-256 .*, pki/server\.crt has "
expect_output "the new certificate verifies against the same CA" \
    "^verify: ok: "

if process_running "$DOWNLOAD_PID"; then
    pass "download is still in flight after the reload"
else
    fail "download is still in flight after the reload"
fi
touch download.go
for _ in $(seq 1 1200); do
    process_running "$DOWNLOAD_PID" || break
    sleep 0.1
done
stop_process "$DOWNLOAD_PID" 1
expect_eq "download: curl succeeds" 0 "$STOP_STATUS"
expect_eq "download is 200" status=200 "$(cat download.log)"
# The reader may still be hashing the last pieces when curl exits.
for _ in $(seq 1 600); do
    process_running "$READER_PID" || break
    sleep 0.1
done
stop_process "$READER_PID" 1
expect_eq "reader exits 0" 0 "$STOP_STATUS"
expect_eq "download arrives byte-exact" \
    "$(python3 "$BACKEND_PY" --digest "$size" reload) $size" \
    "$(cat download.sha 2>/dev/null)"

expect_eq "no tunnel closes on the reload" 0 \
    "$(log_count "$RELAY_LOG" "tunnel [0-9]+ down: ")"
expect_served_only "requests succeed after the reload" 9 \
    s1 s2 s3

# --- Reloads with errors are rejected ----------------------------------------

# expect_rejected NAME REJECTIONS ERROR: sends SIGHUP, then the relay's log
# must show REJECTIONS rejected reloads in all, with a line that matches
# ERROR, and the relay must serve the new certificate and requests as
# before.
expect_rejected()
{
    local name=$1 rejections=$2 error=$3
    kill -HUP "$RELAY_PID"
    if wait_log "$RELAY_LOG" "$REJECTED" "$rejections" 10; then
        pass "$name: relay rejects the reload"
    else
        fail "$name: relay rejects the reload"
    fi
    expect_eq "$name: relay logs the error" 1 \
        "$(log_count "$RELAY_LOG" "$error")"
    expect_eq "$name: no reload succeeds" 1 \
        "$(log_count "$RELAY_LOG" "$RELOADED")"
    expect_serves "$name: the running certificate stays" new.crt
    expect_served_only "$name: requests still succeed" 6 s1 s2 s3
}

echo "this line is not a setting" >>relay.conf
broken_line=$(wc -l <relay.conf)
cp relay.conf broken.conf
expect_rejected "line without =" 1 \
    " error +$WORK/relay\.conf:$broken_line: expected 'key = value'"

cp good.conf relay.conf
relay_set_option relay.conf tls_certificate "$WORK/missing.crt"
expect_rejected "missing certificate file" 2 \
    " error +cannot open $WORK/missing\.crt: No such file or directory"

cp good.conf relay.conf
relay_set_option relay.conf tls_private_key "$WORK/other.key"
expect_rejected "key of another certificate" 3 \
    " error +the private key does not match the certificate in "

# `--reload` checks the file before it signals: a relay that received
# SIGHUP would log "reloading" before the request below.
cp broken.conf relay.conf
reloads=$(log_count "$RELAY_LOG" "reloading $WORK/relay\.conf")
expect_fail "--reload with a broken file exits 1" \
    "relay\.conf:$broken_line: expected 'key = value'" \
    db relay -c relay.conf --reload
expect_eq "--reload with a broken file exits with status 1" 1 "$STATUS"
expect_no_output "--reload with a broken file sends no signal" "sent SIGHUP"
expect_served_only "requests succeed after the refused --reload" 3 s1 s2 s3
expect_eq "relay receives no SIGHUP from a refused --reload" "$reloads" \
    "$(log_count "$RELAY_LOG" "reloading $WORK/relay\.conf")"
cp good.conf relay.conf

# --- Removed and disabled servers --------------------------------------------

CLOSED="the server was removed from the configuration or disabled"

# expect_retired NAME SERVER STATUS RELOADS: after a reload that drops
# SERVER (the relay's RELOADS-th), its tunnel closes with CLOSED, and its
# enabler's next attempts are refused with STATUS, in both logs.
expect_retired()
{
    local name=$1 server=$2 status=$3 reloads=$4
    kill -HUP "$RELAY_PID"
    if wait_log "$RELAY_LOG" "$RELOADED" "$reloads" 10; then
        pass "$name: relay reloads"
    else
        fail "$name: relay reloads"
    fi
    if wait_log "$RELAY_LOG" \
        "tunnel [0-9]+ down: farm=app server=$server from .*: $CLOSED" 1 10
    then
        pass "$name: relay closes the tunnel of $server"
    else
        fail "$name: relay closes the tunnel of $server"
    fi
    if wait_log "${ENABLER_LOGS[$server]}" \
        "the relay refused the tunnel: $status " 1 15; then
        pass "$name: enabler $server is refused with $status"
    else
        fail "$name: enabler $server is refused with $status"
    fi
    if wait_log "$RELAY_LOG" \
        "tunnel refused: farm=app server=$server from .*: $status " 1 10; then
        pass "$name: relay logs the refusal of $server with $status"
    else
        fail "$name: relay logs the refusal of $server with $status"
    fi
}

relay_server_remove relay.conf app s2
expect_retired "s2 removed" s2 404 2
expect_served_only "requests go to s1 and s3 without s2" 9 s1 s3

relay_server_option relay.conf app s3 enable no
expect_retired "s3 disabled" s3 403 3
expect_served_only "requests go to s1 alone" 6 s1

expect_eq "s1 keeps its first tunnel" "1 0" \
    "$(log_count "$RELAY_LOG" "tunnel [0-9]+ up: farm=app server=s1 ") $(
        log_count "$RELAY_LOG" "tunnel [0-9]+ down: farm=app server=s1 ")"
expect_eq "no other tunnel closes" 2 \
    "$(log_count "$RELAY_LOG" "tunnel [0-9]+ down: ")"

# --- --reload without pid_file -----------------------------------------------

grep -v '^pid_file = ' relay.conf >nopid.conf
expect_fail "--reload without pid_file names it" \
    "nopid\.conf sets no pid_file.*add pid_file = PATH" \
    db relay -c nopid.conf --reload
expect_eq "--reload without pid_file exits with status 1" 1 "$STATUS"

# --- SIGTERM -----------------------------------------------------------------

stop_process "$RELAY_PID" 10
expect_eq "relay exits 0 on SIGTERM" 0 "$STOP_STATUS"
expect_absent "relay removes its pid file" "$PID_FILE"
for server in s1 s2 s3; do
    stop_process "${ENABLER_PIDS[$server]}" 10
    expect_eq "enabler $server exits 0 on SIGTERM" 0 "$STOP_STATUS"
done
expect_no_sanitizer_report "relay and enablers log no sanitizer report" \
    relay.log enabler-*.log

if [ "$FAILED" -gt 0 ]; then
    echo "--- relay.log: errors, warnings and reloads"
    grep -E "^[^ ]+ (error|warning) |reload" relay.log
    for log in relay.log enabler-*.log download.log reader.log; do
        echo "--- $log"
        tail -n 30 "$log"
    done
fi
finish
