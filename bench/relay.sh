#!/usr/bin/env bash
# Measures requests/s, latency, CPU use and peak memory of Drawbridge next
# to its peers, in one run, with wrk, keep-alive and 1 KiB responses:
#
#   direct      wrk -> nginx backend (plain HTTP)
#   nginx-tls   wrk -> nginx terminating TLS -> nginx backend
#   drawbridge  wrk -> relay (HTTPS) -> HTTP/2 tunnel -> enabler -> backend
#   ssh-tunnel  wrk -> sshd -> ssh -R channel -> ssh client -> backend
#               (plain HTTP to sshd; skipped when no sshd can run)
#
# Run by hand, never in CI. Every server listens on 127.0.0.1 only, and
# every process that the script starts is stopped when it exits, also on
# failure or Ctrl-C. docs/benchmarks.md explains the output.
#
# Usage: bench/relay.sh [DRAWBRIDGE]
#   DRAWBRIDGE  the binary to measure, preferably a Release build
#               (default: $DRAWBRIDGE, else build/drawbridge)
# Environment:
#   BENCH_DURATION       seconds measured per case (10)
#   BENCH_WARMUP         seconds of unmeasured load before each case (2)
#   BENCH_THREADS        wrk threads (2)
#   BENCH_CONNECTIONS    wrk connections (32)
#   BENCH_NGINX_WORKERS  worker processes of each nginx (1)
#   BENCH_SSH            auto: run the ssh-tunnel case when possible;
#                        no: skip it (auto)
#   BENCH_KEEP           a directory to copy the logs and wrk outputs to

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DRAWBRIDGE=${1:-${DRAWBRIDGE:-$ROOT/build/drawbridge}}
DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-2}
THREADS=${BENCH_THREADS:-2}
CONNECTIONS=${BENCH_CONNECTIONS:-32}
NGINX_WORKERS=${BENCH_NGINX_WORKERS:-1}
SSH_MODE=${BENCH_SSH:-auto}
KEEP=${BENCH_KEEP:-}
CLIENT_PREFIX=/ias_relay_server/client/rs_client.dll
CLK_TCK=$(getconf CLK_TCK)
PATH=$PATH:/usr/sbin:/sbin

PIDS=()
WORK=""

log()
{
    echo "bench: $*" >&2
}

die()
{
    log "$*"
    exit 1
}

# cleanup: stops every process in PIDS, newest first (TERM, then KILL
# after 5 s), and removes the scratch directory after copying it to
# BENCH_KEEP when that is set.
cleanup()
{
    local pid i
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        kill -TERM "${PIDS[i]}" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        for ((i = 0; i < 50; i++)); do
            if ! kill -0 "$pid" 2>/dev/null; then
                break
            fi
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            log "process $pid still runs 5 s after SIGTERM; killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        wait "$pid" 2>/dev/null || true
    done
    if [ -n "$WORK" ] && [ -d "$WORK" ]; then
        if [ -n "$KEEP" ]; then
            mkdir -p "$KEEP" && cp -r "$WORK/." "$KEEP/" &&
                log "logs and wrk outputs copied to $KEEP"
        fi
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# as_root CMD...: runs CMD as root, through sudo when needed.
as_root()
{
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    else
        sudo "$@"
    fi
}

# need_command CMD PACKAGE: installs the Debian PACKAGE when CMD is not
# found.
need_command()
{
    if command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; then
        return 0
    fi
    log "$1 not found; installing the Debian package $2"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends "$2" >&2 ||
        die "installing $2 failed; install it by hand and run again"
}

free_port()
{
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_bg NAME CMD...: starts CMD with its output in $WORK/NAME.log and
# adds it to PIDS. Sets BG_PID.
start_bg()
{
    local name=$1
    shift
    "$@" >"$WORK/$name.log" 2>&1 &
    BG_PID=$!
    PIDS+=("$BG_PID")
}

# wait_listen PID PORT NAME: waits up to 10 s for a listener on
# 127.0.0.1:PORT, and fails with NAME's log when PID exits first.
wait_listen()
{
    local pid=$1 port=$2 name=$3 i
    for ((i = 0; i < 100; i++)); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            break
        fi
        sleep 0.1
    done
    log "$name does not listen on 127.0.0.1:$port; its log:"
    sed 's/^/    /' "$WORK/$name.log" >&2
    exit 1
}

# check_body NAME URL: fails unless URL returns exactly the 1 KiB file.
check_body()
{
    local name=$1 url=$2
    if ! curl -sS --fail --max-time 10 --cacert "$WORK/pki/ca.crt" \
        -o "$WORK/check-$name.bin" "$url" >&2 ||
        ! cmp -s "$WORK/www/1k.bin" "$WORK/check-$name.bin"; then
        die "$name: $url did not return the 1 KiB test file"
    fi
}

# nginx_conf FILE PORT HTTP_LINES SERVER_LINES: writes an nginx
# configuration whose paths all lie in $WORK, with HTTP_LINES in its http
# block and one server on 127.0.0.1:PORT (PORT may end in " ssl") that
# contains SERVER_LINES.
nginx_conf()
{
    local file=$1 port=$2 http_lines=$3 server_lines=$4 name user=""
    name=$(basename "$file" .conf)
    mkdir -p "$WORK/$name"
    if [ "$(id -u)" -eq 0 ]; then
        user="user nobody $(id -gn nobody);"
    fi
    cat >"$file" <<EOF
$user
worker_processes $NGINX_WORKERS;
daemon off;
pid $WORK/$name/nginx.pid;
error_log $WORK/$name/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    default_type application/octet-stream;
    client_body_temp_path $WORK/$name/body;
    proxy_temp_path $WORK/$name/proxy;
    fastcgi_temp_path $WORK/$name/fastcgi;
    uwsgi_temp_path $WORK/$name/uwsgi;
    scgi_temp_path $WORK/$name/scgi;
    keepalive_requests 1000000;
    keepalive_timeout 300s;
$http_lines
    server {
        listen 127.0.0.1:$port;
$server_lines
    }
}
EOF
}

start_backend()
{
    BACKEND_PORT=$(free_port)
    nginx_conf "$WORK/nginx-backend.conf" "$BACKEND_PORT" "" "
        root $WORK/www;
        open_file_cache max=16;"
    start_bg nginx-backend nginx -p "$WORK/nginx-backend" \
        -c "$WORK/nginx-backend.conf" -e "$WORK/nginx-backend/error.log"
    BACKEND_PID=$BG_PID
    wait_listen "$BACKEND_PID" "$BACKEND_PORT" nginx-backend
}

start_nginx_tls()
{
    NGINX_TLS_PORT=$(free_port)
    # The upstream block keeps connections to the backend open, as the
    # enabler does.
    nginx_conf "$WORK/nginx-tls.conf" "$NGINX_TLS_PORT ssl" "
    upstream backend {
        server 127.0.0.1:$BACKEND_PORT;
        keepalive 64;
        keepalive_requests 1000000;
    }" "
        ssl_certificate $WORK/pki/server.crt;
        ssl_certificate_key $WORK/pki/server.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
        }"
    start_bg nginx-tls nginx -p "$WORK/nginx-tls" \
        -c "$WORK/nginx-tls.conf" -e "$WORK/nginx-tls/error.log"
    NGINX_TLS_PID=$BG_PID
    wait_listen "$NGINX_TLS_PID" "$NGINX_TLS_PORT" nginx-tls
}

start_drawbridge()
{
    local i
    RELAY_PORT=$(free_port)
    cat >"$WORK/relay.conf" <<EOF
[options]
verbosity = 1
tls_certificate = $WORK/pki/server.crt
tls_private_key = $WORK/pki/server.key
listen = 127.0.0.1
[relay_server]
host = localhost
https_port = $RELAY_PORT
[backend_farm]
id = bench
[backend_server]
farm = bench
id = b1
token = bench-token
EOF
    (umask 077 && echo bench-token >"$WORK/token")
    start_bg relay "$DRAWBRIDGE" relay -c "$WORK/relay.conf"
    RELAY_PID=$BG_PID
    wait_listen "$RELAY_PID" "$RELAY_PORT" relay
    start_bg enabler "$DRAWBRIDGE" enabler \
        --relay "https://127.0.0.1:$RELAY_PORT" --ca-file "$WORK/pki/ca.crt" \
        --farm bench --id b1 --token-file "$WORK/token" \
        --backend "http://127.0.0.1:$BACKEND_PORT"
    ENABLER_PID=$BG_PID
    for ((i = 0; i < 100; i++)); do
        if grep -Eq 'tunnel .* up:' "$WORK/enabler.log"; then
            return 0
        fi
        sleep 0.1
    done
    log "the enabler's tunnel is not up after 10 s; its log:"
    sed 's/^/    /' "$WORK/enabler.log" >&2
    exit 1
}

# find_sshd: sets SSHD to an sshd binary: $SSHD, the one in PATH or
# /usr/sbin, else one unpacked into $WORK from the Debian packages
# openssh-server and libwrap0 with `apt-get download` (nothing is
# installed). Returns 1 when there is none.
find_sshd()
{
    local dir="$WORK/sshd-package" deb
    SSHD=${SSHD:-$(command -v sshd || true)}
    if [ -z "$SSHD" ] && [ -x /usr/sbin/sshd ]; then
        SSHD=/usr/sbin/sshd
    fi
    if [ -n "$SSHD" ]; then
        SSHD_VERSION="$SSHD, openssh-server $(dpkg-query -W -f='${Version}' \
            openssh-server 2>/dev/null || echo '(version unknown)')"
        return 0
    fi
    log "no sshd installed; unpacking openssh-server into $dir"
    mkdir -p "$dir"
    if ! (cd "$dir" && apt-get download openssh-server libwrap0) \
        >"$WORK/sshd-download.log" 2>&1; then
        log "apt-get download openssh-server libwrap0 failed"
        return 1
    fi
    for deb in "$dir"/*.deb; do
        dpkg-deb -x "$deb" "$dir/root" || return 1
    done
    SSHD="$dir/root/usr/sbin/sshd"
    SSHD_VERSION="openssh-server $(dpkg-deb -f "$dir"/openssh-server_*.deb \
        Version), unpacked and not installed"
    export LD_LIBRARY_PATH="$dir/root/usr/lib/x86_64-linux-gnu"
}

# start_ssh_tunnel: starts a private sshd on 127.0.0.1 with its own host
# key, configuration and authorized_keys in $WORK, and an `ssh -N -R`
# client that forwards SSH_TUNNEL_PORT on the sshd side to the backend.
# As root, sshd runs as nobody, because a root sshd needs the system's
# privilege separation user and /run/sshd. Returns 1, with the reason in
# SSH_SKIPPED, when that cannot be done.
start_ssh_tunnel()
{
    local dir="$WORK/ssh" port user run_as=() i
    if ! command -v ssh >/dev/null || ! command -v ssh-keygen >/dev/null; then
        SSH_SKIPPED="ssh or ssh-keygen is not installed"
        return 1
    fi
    if ! find_sshd; then
        SSH_SKIPPED="no sshd, and unpacking openssh-server failed"
        return 1
    fi
    user=$(id -un)
    if [ "$(id -u)" -eq 0 ]; then
        user=nobody
        run_as=(setpriv --reuid="$(id -u nobody)" --regid="$(id -g nobody)"
            --clear-groups)
    fi
    mkdir -p "$dir"
    ssh-keygen -q -t ed25519 -N '' -f "$dir/host_key"
    ssh-keygen -q -t ed25519 -N '' -f "$dir/client_key"
    cp "$dir/client_key.pub" "$dir/authorized_keys"
    if [ "$user" = nobody ]; then
        chown nobody "$dir/host_key" "$dir/authorized_keys"
    fi
    port=$(free_port)
    SSH_TUNNEL_PORT=$(free_port)
    # UsePAM yes: without PAM, sshd rejects accounts whose password field
    # is locked, such as nobody's. Public key authentication still
    # decides, and no session is opened, because ssh runs with -N.
    cat >"$dir/sshd_config" <<EOF
ListenAddress 127.0.0.1
Port $port
HostKey $dir/host_key
AuthorizedKeysFile $dir/authorized_keys
PidFile none
UsePAM yes
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
AllowTcpForwarding remote
GatewayPorts no
PermitTTY no
X11Forwarding no
EOF
    start_bg sshd "${run_as[@]}" "$SSHD" -D -e -f "$dir/sshd_config"
    SSHD_PID=$BG_PID
    if ! wait_listen_quiet "$SSHD_PID" "$port"; then
        SSH_SKIPPED="sshd did not start (see sshd.log with BENCH_KEEP)"
        return 1
    fi
    start_bg ssh ssh -F /dev/null -v -N -p "$port" -i "$dir/client_key" \
        -o IdentitiesOnly=yes -o BatchMode=yes -o ExitOnForwardFailure=yes \
        -o UserKnownHostsFile=/dev/null -o GlobalKnownHostsFile=/dev/null \
        -o StrictHostKeyChecking=no \
        -R "127.0.0.1:$SSH_TUNNEL_PORT:127.0.0.1:$BACKEND_PORT" \
        "$user@127.0.0.1"
    SSH_PID=$BG_PID
    if ! wait_listen_quiet "$SSH_PID" "$SSH_TUNNEL_PORT"; then
        SSH_SKIPPED="ssh -R did not open the forwarded port (see ssh.log)"
        return 1
    fi
}

# wait_listen_quiet PID PORT: as wait_listen, but returns 1 on failure.
wait_listen_quiet()
{
    local pid=$1 port=$2 i
    for ((i = 0; i < 100; i++)); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            return 1
        fi
        sleep 0.1
    done
    return 1
}

# tree_ticks PID: prints the CPU time, in clock ticks, that PID and its
# descendants have used (utime + stime of /proc/PID/stat).
tree_ticks()
{
    { cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v root="$1" '
    {
        pid = $1
        rest = $0
        sub(/.*\) /, "", rest)
        split(rest, f, " ")
        parent[pid] = f[2]
        ticks[pid] = f[12] + f[13]
    }
    END {
        total = 0
        for (p in ticks) {
            for (q = p; q != "" && q != 0; q = parent[q]) {
                if (q == root) {
                    total += ticks[p]
                    break
                }
            }
        }
        print total
    }'
}

# tree_pids PID: prints PID and the ids of its descendants.
tree_pids()
{
    { cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v root="$1" '
    {
        rest = $0
        sub(/.*\) /, "", rest)
        split(rest, f, " ")
        parent[$1] = f[2]
    }
    END {
        for (p in parent) {
            for (q = p; q != "" && q != 0; q = parent[q]) {
                if (q == root) {
                    print p
                    break
                }
            }
        }
    }' | sort -n
}

# idle_ticks: prints "IDLE TOTAL" clock ticks of all CPUs from /proc/stat.
idle_ticks()
{
    awk '$1 == "cpu" {
        total = 0
        for (i = 2; i <= 9; i++) total += $i
        print $5 + $6, total
    }' /proc/stat
}

# children_seconds FILE: prints the user + system CPU seconds of the
# shell's waited-for children from FILE, an output of the builtin
# `times`, which must run in the main shell and not in a $(...) subshell.
children_seconds()
{
    awk 'NR == 2 {
        split($1, u, /[ms]/)
        split($2, s, /[ms]/)
        print u[1] * 60 + u[2] + s[1] * 60 + s[2]
    }' "$1"
}

# parse_wrk FILE: prints "REQUESTS_PER_S P50_MS P99_MS ERRORS REQUESTS" of
# a `wrk --latency` output. ERRORS counts socket errors and non-2xx/3xx
# responses.
parse_wrk()
{
    awk '
    function ms(v, n) {
        n = v + 0
        if (v ~ /us$/) return n / 1000
        if (v ~ /ms$/) return n
        if (v ~ /m$/) return n * 60000
        if (v ~ /s$/) return n * 1000
        return n
    }
    /^ +50%/ { p50 = ms($2) }
    /^ +99%/ { p99 = ms($2) }
    /^Requests\/sec:/ { rps = $2 }
    /Socket errors:/ { gsub(",", ""); errors += $4 + $6 + $8 + $10 }
    /Non-2xx or 3xx responses:/ { errors += $5 }
    / requests in / { requests = $1 }
    END {
        printf "%.0f %.3f %.3f %d %d\n", rps, p50, p99, errors, requests
    }' "$1"
}

# run_wrk OUTPUT ARG...: runs wrk with the common threads and connections
# and ARGs, output to OUTPUT. wrk runs in the background, because bash
# runs a trap only after a foreground command ends but interrupts `wait`.
run_wrk()
{
    local output=$1 status=0
    shift
    wrk -t"$THREADS" -c"$CONNECTIONS" "$@" >"$output" 2>&1 &
    PIDS+=("$!")
    wait "$!" || status=$?
    unset 'PIDS[${#PIDS[@]}-1]'
    if [ "$status" -ne 0 ]; then
        die "wrk $* failed with exit status $status"
    fi
}

# run_case NAME URL: checks that URL returns the test file, loads it for
# BENCH_WARMUP seconds, then measures it for BENCH_DURATION seconds and
# records the results and the CPU use of every role in ROLES.
run_case()
{
    local name=$1 url=$2 role start end idle_before idle_after busy idle
    local -A before
    log "$name: $url"
    check_body "$name" "$url"
    run_wrk /dev/null -d"${WARMUP}s" "$url"
    for role in "${ROLES[@]}"; do
        before[$role]=$(tree_ticks "${ROLE_PID[$role]}")
    done
    idle_before=$(idle_ticks)
    times >"$WORK/times-before.txt"
    start=$(date +%s.%N)
    run_wrk "$WORK/wrk-$name.txt" -d"${DURATION}s" --latency "$url"
    end=$(date +%s.%N)
    times >"$WORK/times-after.txt"
    idle_after=$(idle_ticks)
    RESULT[$name]=$(parse_wrk "$WORK/wrk-$name.txt")
    ELAPSED[$name]=$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')
    # CPU seconds of each role, wrk and the whole machine during the run.
    CPUSEC[$name:wrk]=$(awk -v a="$(children_seconds "$WORK/times-before.txt")" \
        -v b="$(children_seconds "$WORK/times-after.txt")" \
        'BEGIN { print b - a }')
    for role in "${ROLES[@]}"; do
        CPUSEC[$name:$role]=$(awk -v a="${before[$role]}" \
            -v b="$(tree_ticks "${ROLE_PID[$role]}")" -v hz="$CLK_TCK" \
            'BEGIN { print (b - a) / hz }')
    done
    read -r busy idle < <(awk \
        -v a="$idle_before" -v b="$idle_after" -v hz="$CLK_TCK" 'BEGIN {
            split(a, x, " "); split(b, y, " ")
            idle = y[1] - x[1]; total = y[2] - x[2]
            print (total - idle) / hz, idle / hz }')
    CPUSEC[$name:busy]=$busy
    CPUSEC[$name:idle]=$idle
    CASES+=("$name")
}

# peak_rss ROLE: prints one Markdown table row per process of ROLE's tree
# with its peak resident set size (VmHWM).
peak_rss()
{
    local role=$1 pid
    for pid in $(tree_pids "${ROLE_PID[$role]}"); do
        awk -v role="$role" -v pid="$pid" \
            -v comm="$(cat "/proc/$pid/comm" 2>/dev/null)" \
            '$1 == "VmHWM:" {
                printf "| %s | %s (%s) | %d | %.1f |\n",
                    role, comm, pid, $2, $2 / 1024 }' \
            "/proc/$pid/status" 2>/dev/null || true
    done
}

print_versions()
{
    echo "## Machine and versions"
    echo
    echo "- CPU: $(nproc) cores online, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
    echo "- memory: $(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
    echo "- kernel: $(uname -sr)"
    echo "- load average (1 min) before the first case: $LOAD_BEFORE"
    echo "- drawbridge: $("$DRAWBRIDGE" --version)"
    echo "- nginx: $(nginx -v 2>&1 | sed 's/^nginx version: //'), $(nginx -V 2>&1 | grep -m1 '^built with' | sed 's/^built with //')"
    echo "- wrk: $(wrk -v 2>&1 | head -n 1)"
    echo "- OpenSSL: $(openssl version)"
    if [ -n "${SSH_PID:-}" ]; then
        echo "- ssh: $(ssh -V 2>&1); sshd: $SSHD_VERSION"
    fi
    echo
}

print_settings()
{
    local cipher
    echo "## Settings"
    echo
    echo "- wrk: -t$THREADS -c$CONNECTIONS -d${DURATION}s --latency, after a" \
        "${WARMUP}s warm-up; keep-alive, 1024-byte response body"
    echo "- nginx: worker_processes $NGINX_WORKERS, access_log off," \
        "keepalive_requests 1000000; the TLS proxy keeps up to 64 idle" \
        "upstream connections"
    echo "- relay: verbosity 1; enabler: --backend-connections 64 (default)"
    cipher=$(tls_cipher "$RELAY_PORT")
    echo "- TLS with the relay: $cipher"
    cipher=$(tls_cipher "$NGINX_TLS_PORT")
    echo "- TLS with nginx: $cipher"
    if [ -n "${SSH_PID:-}" ]; then
        echo "- SSH: $(grep -m1 'kex: server->client cipher' "$WORK/ssh.log" |
            sed 's/^debug1: kex: server->client //')"
    fi
    echo
}

# tls_cipher PORT: prints the protocol and cipher that `openssl s_client`
# negotiates with 127.0.0.1:PORT.
tls_cipher()
{
    openssl s_client -connect "127.0.0.1:$1" -servername localhost \
        </dev/null 2>/dev/null |
        awk '/^New, / { print $2, $5 }' | head -n 1
}

# percent_of_core NAME KEY: prints CPUSEC[NAME:KEY] as % of one core over
# the measured run of case NAME.
percent_of_core()
{
    awk -v sec="${CPUSEC[$1:$2]}" -v t="${ELAPSED[$1]}" \
        'BEGIN { printf "%.0f", sec / t * 100 }'
}

print_results()
{
    local name rps p50 p99 errors requests ratio direct_rps nginx_rps role
    local line servers other
    read -r direct_rps _ <<<"${RESULT[direct]}"
    echo "## Results"
    echo
    echo "| case | requests/s | p50 ms | p99 ms | errors | vs direct |" \
        "server CPU µs/request |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
    for name in "${CASES[@]}"; do
        read -r rps p50 p99 errors requests <<<"${RESULT[$name]}"
        ratio=$(awk -v a="$rps" -v b="$direct_rps" \
            'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
        servers=0
        for role in "${ROLES[@]}"; do
            servers=$(awk -v a="$servers" -v b="${CPUSEC[$name:$role]}" \
                'BEGIN { print a + b }')
        done
        line=$(awk -v s="$servers" -v n="$requests" \
            'BEGIN { if (n > 0) printf "%.1f", s / n * 1e6; else print "-" }')
        echo "| $name | $rps | $p50 | $p99 | $errors | $ratio | $line |"
    done
    echo
    read -r nginx_rps _ <<<"${RESULT[nginx-tls]}"
    read -r rps _ <<<"${RESULT[drawbridge]}"
    awk -v a="$rps" -v b="$nginx_rps" 'BEGIN {
        printf "Drawbridge / nginx-tls: %.2f of the requests/s.\n",
            (b > 0 ? a / b : 0) }'
    echo
    echo "CPU use during each measured run, in % of one core: the columns" \
        "of a row add up to $(nproc) cores. \"other\" is every process" \
        "that the script did not start, and the kernel's interrupt work."
    echo
    line="| case | wrk"
    for role in "${ROLES[@]}"; do
        line+=" | $role"
    done
    echo "$line | other | idle |"
    echo "|---|---:$(printf '|---:%.0s' "${ROLES[@]}")|---:|---:|"
    for name in "${CASES[@]}"; do
        line="| $name | $(percent_of_core "$name" wrk)"
        other=${CPUSEC[$name:busy]}
        other=$(awk -v a="$other" -v b="${CPUSEC[$name:wrk]}" \
            'BEGIN { print a - b }')
        for role in "${ROLES[@]}"; do
            line+=" | $(percent_of_core "$name" "$role")"
            other=$(awk -v a="$other" -v b="${CPUSEC[$name:$role]}" \
                'BEGIN { print a - b }')
        done
        CPUSEC[$name:other]=$other
        line+=" | $(percent_of_core "$name" other)"
        echo "$line | $(percent_of_core "$name" idle) |"
    done
    echo
    echo "Peak resident set size (VmHWM) at the end of the run:"
    echo
    echo "| role | process | KiB | MiB |"
    echo "|---|---|---:|---:|"
    for role in "${ROLES[@]}"; do
        if [ "$role" != nginx-backend ]; then
            peak_rss "$role"
        fi
    done
    if [ -n "${SSH_SKIPPED:-}" ]; then
        echo
        echo "The ssh-tunnel case was skipped: $SSH_SKIPPED."
    fi
    for name in "${CASES[@]}"; do
        read -r _ _ _ errors requests <<<"${RESULT[$name]}"
        if [ "$requests" -eq 0 ]; then
            echo
            echo "NOTE: no request of the $name case completed within" \
                "${DURATION} s, so that path stalled; see its server logs" \
                "with BENCH_KEEP."
        elif [ "$errors" -gt 0 ]; then
            echo
            echo "NOTE: the $name case had $errors errors; see" \
                "wrk-$name.txt with BENCH_KEEP."
        fi
    done
}

main()
{
    local ssh_ok=0
    if [ "${1:-}" = -h ] || [ "${1:-}" = --help ]; then
        sed -n '2,/^$/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
        exit 0
    fi
    [ -x "$DRAWBRIDGE" ] ||
        die "$DRAWBRIDGE is not an executable; build Drawbridge first or pass its path"
    DRAWBRIDGE=$(readlink -f "$DRAWBRIDGE")
    if grep -qs '^CMAKE_BUILD_TYPE:STRING=Release$' \
        "$(dirname "$DRAWBRIDGE")/CMakeCache.txt"; then
        :
    else
        log "warning: $DRAWBRIDGE is not from a Release build; see docs/benchmarks.md"
    fi
    need_command wrk wrk
    need_command nginx nginx
    for cmd in curl openssl python3; do
        command -v "$cmd" >/dev/null || die "$cmd is required and not found"
    done

    LOAD_BEFORE=$(cut -d' ' -f1 /proc/loadavg)
    if awk -v l="$LOAD_BEFORE" 'BEGIN { exit !(l > 0.5) }'; then
        log "warning: the load average is $LOAD_BEFORE, so other" \
            "processes compete for the CPU and the numbers will be lower" \
            "and noisier"
    fi
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/drawbridge-bench.XXXXXX")
    # nginx workers and the private sshd run as nobody when the script
    # runs as root, and must reach the test file and sshd's keys.
    chmod 755 "$WORK"
    mkdir -m 755 "$WORK/www"
    head -c 1024 /dev/urandom >"$WORK/www/1k.bin"
    chmod 644 "$WORK/www/1k.bin"
    if ! "$DRAWBRIDGE" cert quickstart --host localhost --ip 127.0.0.1 \
        --out "$WORK/pki" --key-type ec:P-256 >"$WORK/pki.log" 2>&1; then
        sed 's/^/    /' "$WORK/pki.log" >&2
        die "drawbridge cert quickstart failed with the output above"
    fi

    declare -gA RESULT ELAPSED CPUSEC ROLE_PID
    CASES=()
    start_backend
    start_nginx_tls
    start_drawbridge
    ROLES=(nginx-backend nginx-tls relay enabler)
    ROLE_PID=([nginx-backend]=$BACKEND_PID [nginx-tls]=$NGINX_TLS_PID
        [relay]=$RELAY_PID [enabler]=$ENABLER_PID)
    if [ "$SSH_MODE" = no ]; then
        SSH_SKIPPED="BENCH_SSH=no"
    elif start_ssh_tunnel; then
        ssh_ok=1
        ROLES+=(sshd ssh)
        ROLE_PID[sshd]=$SSHD_PID
        ROLE_PID[ssh]=$SSH_PID
    else
        SSH_PID=""
        log "skipping the ssh-tunnel case: $SSH_SKIPPED"
    fi

    run_case direct "http://127.0.0.1:$BACKEND_PORT/1k.bin"
    run_case nginx-tls "https://127.0.0.1:$NGINX_TLS_PORT/1k.bin"
    run_case drawbridge \
        "https://127.0.0.1:$RELAY_PORT$CLIENT_PREFIX/bench/1k.bin"
    if [ "$ssh_ok" -eq 1 ]; then
        run_case ssh-tunnel "http://127.0.0.1:$SSH_TUNNEL_PORT/1k.bin"
    fi

    print_versions
    print_settings
    print_results
}

main "$@"
