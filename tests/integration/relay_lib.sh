# Helpers for relay tests, sourced after lib.sh. They run a real relay,
# real python backends (backend.py) and real enablers on 127.0.0.1, each
# with its output in a log file under $WORK.
#
# A typical test:
#   relay_pki
#   relay_config "$WORK/relay.conf" farm:sync:on server:sync:s1:token-1
#   relay_start "$WORK/relay.conf"
#   backend_start b1
#   enabler_start sync s1 token-1 "$BACKEND_PORT"
#   relay_curl "$(relay_url sync /echo)"
#
# relay_config sets RELAY_HTTP_PORT and RELAY_HTTPS_PORT, and relay_start
# sets RELAY_PID and RELAY_LOG; the other helpers use those of the last
# call.

RELAY_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BACKEND_PY="$RELAY_LIB_DIR/backend.py"
RELAY_CLIENT_PREFIX=/ias_relay_server/client/rs_client.dll
RELAY_SERVER_SUFFIX=/ias_relay_server/server/rs_server.dll

# relay_pki: makes a CA and a server certificate for localhost and
# 127.0.0.1 in $WORK/pki, once per test script.
relay_pki()
{
    if [ -s "$WORK/pki/server.crt" ]; then
        return 0
    fi
    if ! db cert quickstart --host localhost --ip 127.0.0.1 \
        --out "$WORK/pki" --key-type ec:P-256 >"$WORK/pki.log" 2>&1; then
        echo "drawbridge cert quickstart failed:"
        sed 's/^/    /' "$WORK/pki.log"
        return 1
    fi
}

# relay_config FILE SPEC...: writes a relay configuration with free ports
# to FILE, using the certificate from relay_pki. Each SPEC is one of
#   option:KEY=VALUE                   a line in [options]
#   farm:ID[:CLIENT[:BACKEND]]         a [backend_farm]; CLIENT and BACKEND
#                                      are client_security and
#                                      backend_security (on, off, or - to
#                                      leave the key out)
#   server:FARM:ID:TOKEN               a [backend_server]
# Sets RELAY_HTTP_PORT and RELAY_HTTPS_PORT.
relay_config()
{
    local file=$1 spec key rest farm client backend id token
    shift
    RELAY_HTTP_PORT=$(free_port)
    RELAY_HTTPS_PORT=$(free_port)
    {
        echo "[options]"
        echo "verbosity = 2"
        echo "tls_certificate = $WORK/pki/server.crt"
        echo "tls_private_key = $WORK/pki/server.key"
        echo "listen = 127.0.0.1"
        for spec in "$@"; do
            if [ "${spec%%:*}" = option ]; then
                rest=${spec#option:}
                echo "${rest%%=*} = ${rest#*=}"
            fi
        done
        echo "[relay_server]"
        echo "host = localhost"
        echo "http_port = $RELAY_HTTP_PORT"
        echo "https_port = $RELAY_HTTPS_PORT"
        for spec in "$@"; do
            key=${spec%%:*}
            rest=${spec#*:}
            case $key in
            farm)
                IFS=: read -r farm client backend <<<"$rest"
                echo "[backend_farm]"
                echo "id = $farm"
                if [ -n "$client" ] && [ "$client" != - ]; then
                    echo "client_security = $client"
                fi
                if [ -n "$backend" ] && [ "$backend" != - ]; then
                    echo "backend_security = $backend"
                fi
                ;;
            server)
                IFS=: read -r farm id token <<<"$rest"
                echo "[backend_server]"
                echo "farm = $farm"
                echo "id = $id"
                echo "token = $token"
                ;;
            option) ;;
            *)
                echo "relay_config: unknown spec '$spec'" >&2
                return 1
                ;;
            esac
        done
    } >"$file"
}

# wait_ports PID PORT...: waits up to 10 s until something listens on each
# PORT of 127.0.0.1. Returns 1 at once when process PID exits first.
wait_ports()
{
    local pid=$1 port i
    shift
    for port in "$@"; do
        for i in $(seq 1 100); do
            if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
                break
            fi
            if ! process_running "$pid"; then
                echo "process $pid exited before listening on port $port"
                return 1
            fi
            if [ "$i" -eq 100 ]; then
                echo "nothing listens on 127.0.0.1:$port after 10 s"
                return 1
            fi
            sleep 0.1
        done
    done
}

# relay_start CONFIG [LOG]: starts `drawbridge relay -c CONFIG` with its
# log in LOG (default $WORK/relay.log) and waits for its ports. Sets
# RELAY_PID and RELAY_LOG.
relay_start()
{
    local config=$1
    RELAY_LOG=${2:-$WORK/relay.log}
    start_bg "$RELAY_LOG" "$DRAWBRIDGE" relay -c "$config"
    RELAY_PID=$BG_PID
    if ! wait_ports "$RELAY_PID" "$RELAY_HTTP_PORT" "$RELAY_HTTPS_PORT"; then
        echo "the relay did not start; its log:"
        sed 's/^/    /' "$RELAY_LOG"
        return 1
    fi
}

# backend_start NAME: starts backend.py named NAME on a free port and
# waits until it prints "ready". Sets BACKEND_PORT and BACKEND_PID.
backend_start()
{
    local name=$1 log="$WORK/backend-$1.log"
    BACKEND_PORT=$(free_port)
    start_bg "$log" python3 "$BACKEND_PY" --port "$BACKEND_PORT" \
        --name "$name"
    BACKEND_PID=$BG_PID
    if ! wait_log "$log" '^ready$' 1 10; then
        echo "backend $name did not start; its log:"
        sed 's/^/    /' "$log"
        return 1
    fi
}

# wait_log FILE REGEX [COUNT] [SECONDS]: waits until at least COUNT lines
# of FILE (default 1) match the extended REGEX, for up to SECONDS
# (default 10). Returns 1 on timeout.
wait_log()
{
    local file=$1 pattern=$2 count=${3:-1} seconds=${4:-10} i
    for ((i = 0; i < seconds * 20; i++)); do
        if [ "$(grep -Ec -- "$pattern" "$file" 2>/dev/null)" -ge "$count" ]
        then
            return 0
        fi
        sleep 0.05
    done
    return 1
}

# enabler_start FARM ID TOKEN BACKEND_PORT [ARG...]: writes TOKEN to a
# file, starts an enabler for server ID of FARM that forwards to
# backend.py on BACKEND_PORT, and waits until the relay's log shows its
# new tunnel. Extra ARGs go to the enabler. Sets ENABLER_PID and
# ENABLER_LOG.
enabler_start()
{
    local farm=$1 id=$2 token=$3 port=$4 token_file up before
    shift 4
    token_file="$WORK/token-$farm-$id"
    ENABLER_LOG="$WORK/enabler-$farm-$id.log"
    (umask 077 && printf '%s\n' "$token" >"$token_file")
    up="tunnel [0-9]+ up: farm=$farm server=$id "
    before=$(grep -Ec -- "$up" "$RELAY_LOG")
    start_bg "$ENABLER_LOG" "$DRAWBRIDGE" enabler \
        --relay "https://localhost:$RELAY_HTTPS_PORT" \
        --farm "$farm" --id "$id" --token-file "$token_file" \
        --ca-file "$WORK/pki/ca.crt" --backend "http://127.0.0.1:$port" "$@"
    ENABLER_PID=$BG_PID
    for _ in $(seq 1 200); do
        if [ "$(grep -Ec -- "$up" "$RELAY_LOG")" -gt "$before" ]; then
            return 0
        fi
        if ! process_running "$ENABLER_PID"; then
            break
        fi
        sleep 0.05
    done
    echo "no tunnel up for farm=$farm server=$id; the enabler's log:"
    sed 's/^/    /' "$ENABLER_LOG"
    return 1
}

# process_running PID: true while PID exists and is not a zombie.
process_running()
{
    local state
    state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
    [ -n "$state" ] && [ "$state" != Z ]
}

# stop_process PID [SECONDS] [SIGNAL]: sends SIGNAL (default TERM) to PID,
# a process of start_bg, and waits up to SECONDS (default 10) for it to
# exit. Sets STOP_STATUS to its exit status. Returns 1 when it had to be
# killed with SIGKILL.
stop_process()
{
    local pid=$1 seconds=${2:-10} signal=${3:-TERM} i rc=0 kept=()
    kill -s "$signal" "$pid" 2>/dev/null || true
    for ((i = 0; i < seconds * 20; i++)); do
        if ! process_running "$pid"; then
            break
        fi
        sleep 0.05
    done
    if process_running "$pid"; then
        echo "process $pid still runs $seconds s after SIG$signal; killing it"
        kill -KILL "$pid" 2>/dev/null || true
        rc=1
    fi
    STOP_STATUS=0
    wait "$pid" 2>/dev/null || STOP_STATUS=$?
    for i in "${BG_PIDS[@]}"; do
        if [ "$i" != "$pid" ]; then
            kept+=("$i")
        fi
    done
    BG_PIDS=("${kept[@]}")
    return "$rc"
}

# peak_rss_kb PID: prints the peak resident set size of PID in KiB
# (VmHWM of /proc/PID/status).
peak_rss_kb()
{
    awk '$1 == "VmHWM:" { print $2 }' "/proc/$1/status"
}

# relay_url FARM PATH [http|https]: prints the client URL of PATH on FARM
# through the relay (default https).
relay_url()
{
    local farm=$1 path=${2#/} scheme=${3:-https} port=$RELAY_HTTPS_PORT
    if [ "$scheme" = http ]; then
        port=$RELAY_HTTP_PORT
    fi
    echo "$scheme://localhost:$port$RELAY_CLIENT_PREFIX/$farm/$path"
}

# relay_curl ARG...: curl that trusts the test CA and reaches localhost on
# 127.0.0.1 only.
relay_curl()
{
    curl -sS --max-time 20 --cacert "$WORK/pki/ca.crt" \
        --resolve "localhost:$RELAY_HTTPS_PORT:127.0.0.1" \
        --resolve "localhost:$RELAY_HTTP_PORT:127.0.0.1" "$@"
}

# raw_http [--tls] [--head-only] [--timeout SEC] PORT: sends the bytes on
# stdin as they are to 127.0.0.1:PORT (over TLS trusting $WORK/pki/ca.crt
# with --tls) and prints what comes back until the server closes, or only
# the response head with --head-only. It reads while it sends, so a
# response that the server sends before reading everything is kept. The
# connection is never half-closed, so the server reads no EOF.
# Exits 0, or 3 when SEC (default 15) pass first.
raw_http()
{
    RAW_HTTP_CA="$WORK/pki/ca.crt" python3 -c "$RAW_HTTP_PY" "$@"
}

RAW_HTTP_PY=$(
    cat <<'EOF'
import os, select, socket, ssl, sys, time

args = sys.argv[1:]
tls = head_only = False
timeout = 15.0
while args and args[0].startswith("--"):
    option = args.pop(0)
    if option == "--tls":
        tls = True
    elif option == "--head-only":
        head_only = True
    elif option == "--timeout":
        timeout = float(args.pop(0))
port = int(args[0])
request = sys.stdin.buffer.read()
deadline = time.monotonic() + timeout
sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
if tls:
    context = ssl.create_default_context(cafile=os.environ["RAW_HTTP_CA"])
    sock = context.wrap_socket(sock, server_hostname="localhost")
sock.setblocking(False)
response = b""
sent = 0
closed = False
while not closed and time.monotonic() < deadline:
    if head_only and b"\r\n\r\n" in response:
        break
    want_write = [sock] if sent < len(request) else []
    readable, writable, _ = select.select([sock], want_write, [], 0.1)
    if writable:
        try:
            sent += sock.send(request[sent:sent + 16384])
        except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
            pass
        except OSError as err:
            print("raw_http: send failed: %s" % err, file=sys.stderr)
            sent = len(request)
    while readable or (tls and sock.pending()):
        readable = []
        try:
            data = sock.recv(65536)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            break
        except OSError as err:
            print("raw_http: receive failed: %s" % err, file=sys.stderr)
            closed = True
            break
        if not data:
            closed = True
            break
        response += data
if head_only and b"\r\n\r\n" in response:
    response = response[:response.index(b"\r\n\r\n") + 4]
sys.stdout.buffer.write(response)
if not closed and not (head_only and response.endswith(b"\r\n\r\n")):
    print("raw_http: no end of response after %g s" % timeout, file=sys.stderr)
    sys.exit(3)
EOF
)

# pattern_stream N SEED: writes to stdout the N bytes that backend.py's
# /bytes?n=N&seed=SEED sends, so that an upload of them can be checked
# against `backend.py --digest N SEED` without a file on disk.
pattern_stream()
{
    python3 -c "$PATTERN_STREAM_PY" "$BACKEND_PY" "$1" "$2"
}

PATTERN_STREAM_PY=$(
    cat <<'EOF'
import importlib.util, sys

# Loading backend.py must not leave a __pycache__ in the source tree.
sys.dont_write_bytecode = True
spec = importlib.util.spec_from_file_location("backend", sys.argv[1])
backend = importlib.util.module_from_spec(spec)
spec.loader.exec_module(backend)
left = int(sys.argv[2])
block = backend.pattern_block(sys.argv[3])
out = sys.stdout.buffer
try:
    while left > 0:
        piece = block[: min(left, len(block))]
        out.write(piece)
        left -= len(piece)
    out.flush()
except BrokenPipeError:
    sys.exit(1)
EOF
)

# expect_no_sanitizer_report NAME FILE...: no FILE may contain a report of
# AddressSanitizer, LeakSanitizer or UndefinedBehaviorSanitizer. Stop the
# processes first, because leaks are reported at exit.
expect_no_sanitizer_report()
{
    local name=$1
    shift
    if grep -El 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$@" \
        >"$WORK/sanitizer.files" 2>/dev/null; then
        FAILED=$((FAILED + 1))
        echo "FAILED: $name: sanitizer reports in $(tr '\n' ' ' <"$WORK/sanitizer.files")"
        grep -EA20 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$@" |
            head -n 60 | sed 's/^/    /'
    else
        pass "$name"
    fi
}

# relay_farm_option FILE FARM KEY VALUE: adds `KEY = VALUE` to the
# [backend_farm] section of FARM in FILE, a file that relay_config wrote.
relay_farm_option()
{
    local file=$1 farm=$2 key=$3 value=$4
    awk -v farm="$farm" -v line="$key = $value" '
        /^\[/ { section = $0 }
        { print }
        section == "[backend_farm]" && $0 == "id = " farm { print line }
    ' "$file" >"$file.new" && mv "$file.new" "$file"
}

# relay_affinity_value FARM ID: prints the affinity value that the relay
# gives server ID of FARM, computed with the openssl command: the first 16
# hex digits of the SHA-256 of "FARM/ID".
relay_affinity_value()
{
    printf '%s/%s' "$1" "$2" | openssl dgst -sha256 -r | cut -c1-16
}

# relay_set_option FILE KEY VALUE: sets `KEY = VALUE` in the [options]
# section of FILE, a file that relay_config wrote. The line goes right
# after the section header, and the lines that set KEY before are dropped.
relay_set_option()
{
    local file=$1 key=$2 value=$3
    awk -v key="$key" -v line="$key = $value" '
        /^\[/ { section = $0 }
        section == "[options]" && index($0, key " = ") == 1 { next }
        { print }
        $0 == "[options]" { print line }
    ' "$file" >"$file.new" && mv "$file.new" "$file"
}

# relay_server_remove FILE FARM ID: removes the [backend_server] section
# of server ID of FARM from FILE, a file that relay_config wrote.
relay_server_remove()
{
    relay_server_edit "$1" "$2" "$3" ""
}

# relay_server_option FILE FARM ID KEY VALUE: adds `KEY = VALUE` to the
# [backend_server] section of server ID of FARM in FILE, a file that
# relay_config wrote.
relay_server_option()
{
    relay_server_edit "$1" "$2" "$3" "$4 = $5"
}

# relay_server_edit FILE FARM ID LINE: appends LINE to the
# [backend_server] section of server ID of FARM in FILE, or removes the
# section when LINE is empty.
relay_server_edit()
{
    local file=$1 farm=$2 id=$3 line=$4
    awk -v farm="$farm" -v id="$id" -v line="$line" '
        function emit() {
            if (section == "[backend_server]" && has_farm && has_id) {
                if (line == "") {
                    text = ""
                } else {
                    text = text line "\n"
                }
            }
            printf "%s", text
            text = ""
            has_farm = has_id = 0
        }
        /^\[/ { emit(); section = $0 }
        { text = text $0 "\n" }
        $0 == "farm = " farm { has_farm = 1 }
        $0 == "id = " id { has_id = 1 }
        END { emit() }
    ' "$file" >"$file.new" && mv "$file.new" "$file"
}

# relay_farm_config FILE COUNT SPEC...: writes a relay configuration like
# relay_config, but for a relay farm of COUNT relays: sections relay1 to
# relayCOUNT, each with host localhost, HTTP off and its own free HTTPS
# port. Sets RELAY_FARM_PORTS to the HTTPS ports, relay1's first.
relay_farm_config()
{
    local file=$1 count=$2 i try port
    shift 2
    relay_config "$file" "$@" || return 1
    awk '/^\[/ { skip = ($0 == "[relay_server]") } !skip' "$file" \
        >"$file.new" || return 1
    RELAY_FARM_PORTS=()
    for ((i = 1; i <= count; i++)); do
        # free_port may print a port that an earlier call printed.
        for ((try = 0; try < 10; try++)); do
            port=$(free_port)
            if [[ " ${RELAY_FARM_PORTS[*]} " != *" $port "* ]]; then
                break
            fi
        done
        RELAY_FARM_PORTS+=("$port")
        printf '[relay_server]\nid = relay%d\nhost = localhost\n' "$i"
        printf 'http_port = 0\nhttps_port = %d\n' "$port"
    done >>"$file.new"
    mv "$file.new" "$file"
}

# relay_farm_start CONFIG INDEX [LOG]: starts relay INDEX (1 for relay1) of
# a file that relay_farm_config wrote, with `--id relayINDEX`, its log in
# LOG (default $WORK/relayINDEX.log), and waits for its HTTPS port. Sets
# RELAY_PID, RELAY_LOG and RELAY_HTTPS_PORT, so that enabler_start,
# relay_url and relay_curl use this relay.
relay_farm_start()
{
    local config=$1 index=$2
    RELAY_LOG=${3:-$WORK/relay$index.log}
    RELAY_HTTPS_PORT=${RELAY_FARM_PORTS[$((index - 1))]}
    start_bg "$RELAY_LOG" "$DRAWBRIDGE" relay -c "$config" --id "relay$index"
    RELAY_PID=$BG_PID
    if ! wait_ports "$RELAY_PID" "$RELAY_HTTPS_PORT"; then
        echo "relay$index did not start; its log:"
        sed 's/^/    /' "$RELAY_LOG"
        return 1
    fi
}

# backend_start_on NAME PORT: starts backend.py named NAME on PORT, such as
# the port of a backend that a test stopped, and waits until it prints
# "ready". An earlier $WORK/backend-NAME.log becomes backend-NAME.log.old.
# Sets BACKEND_PORT and BACKEND_PID.
backend_start_on()
{
    local name=$1 log="$WORK/backend-$1.log"
    BACKEND_PORT=$2
    if [ -e "$log" ]; then
        mv -f "$log" "$log.old"
    fi
    start_bg "$log" python3 "$BACKEND_PY" --port "$BACKEND_PORT" \
        --name "$name"
    BACKEND_PID=$BG_PID
    if ! wait_log "$log" '^ready$' 1 10; then
        echo "backend $name did not start on port $BACKEND_PORT; its log:"
        sed 's/^/    /' "$log"
        return 1
    fi
}

# relay_tunnels FARM ID: prints how many tunnels of server ID of FARM are
# open, by the relay's log $RELAY_LOG: the tunnels logged up minus those
# logged down.
relay_tunnels()
{
    local up down
    up=$(grep -Ec -- "tunnel [0-9]+ up: farm=$1 server=$2 " "$RELAY_LOG")
    down=$(grep -Ec -- "tunnel [0-9]+ down: farm=$1 server=$2 " "$RELAY_LOG")
    echo $((up - down))
}

# wait_exit PID [SECONDS]: waits up to SECONDS (default 10) for PID, a
# process of start_bg, to exit by itself, without sending it a signal.
# Sets STOP_STATUS to its exit status. Returns 1, leaving the process
# running, when it still runs after SECONDS.
wait_exit()
{
    local pid=$1 seconds=${2:-10} i kept=()
    for ((i = 0; i < seconds * 20; i++)); do
        if ! process_running "$pid"; then
            break
        fi
        sleep 0.05
    done
    if process_running "$pid"; then
        return 1
    fi
    STOP_STATUS=0
    wait "$pid" 2>/dev/null || STOP_STATUS=$?
    for i in "${BG_PIDS[@]}"; do
        if [ "$i" != "$pid" ]; then
            kept+=("$i")
        fi
    done
    BG_PIDS=("${kept[@]}")
}

# relay_self_option FILE KEY VALUE: adds `KEY = VALUE` to the
# [relay_server] section of FILE, a file that relay_config wrote.
relay_self_option()
{
    local file=$1 line="$2 = $3"
    awk -v line="$line" '
        { print }
        $0 == "[relay_server]" { print line }
    ' "$file" >"$file.new" && mv "$file.new" "$file"
}

# relay_status_tunnels FARM ID: prints how many tunnels of server ID of
# FARM the relay's status page (JSON) lists, or "error: ..." when the page
# cannot be read.
relay_status_tunnels()
{
    local page="https://localhost:$RELAY_HTTPS_PORT$RELAY_CLIENT_PREFIX"
    relay_curl --fail "$page?format=json&farm=$1&server=$2" 2>&1 |
        python3 -c '
import json, sys
text = sys.stdin.read()
try:
    farms = json.loads(text)["farms"]
    print(len(farms[0]["servers"][0]["tunnels"]))
except (ValueError, KeyError, IndexError, TypeError) as err:
    print("error: %r in %s" % (err, text[:200].replace("\n", " ")))
'
}
