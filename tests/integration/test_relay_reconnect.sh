#!/usr/bin/env bash
# 200 reconnect cycles of one enabler against a real relay on loopback:
# start the enabler, wait until the relay logs its tunnel up, kill the
# enabler with SIGKILL, and start the next one. The relay must release
# what each tunnel held. Once it logged the last tunnel down, its open
# file descriptors (entries of /proc/PID/fd) must equal those at start and
# after a warm-up of 10 cycles. Its resident set size (VmRSS) may grow by
# at most 4 MiB after the warm-up (8 MiB under ASan). A normal enabler
# then connects and serves a request.
#
# The loop stops after 200 cycles or after 120 s, whichever comes first,
# and the checks then hold for the cycles done. The relay sees EOF on the
# killed enabler's socket at once, and ping_interval 0.5 s with
# ping_timeout 2 s bounds how long a tunnel could outlive its enabler
# otherwise.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/relay_lib.sh"

cd "$WORK" || exit 1

cycles=200
warmup=10
seconds_max=120
rss_margin_kb=$((4 * 1024))

# Under AddressSanitizer a freed block waits in ASan's quarantine (256 MiB
# by default) before it is reused, so the RSS grows with every allocation
# whether or not the relay leaks: by about 90 MiB over these cycles. With
# a 4 MiB quarantine it grew by 1.4 MiB (Debug ASan build, x86_64), and
# the bound allows for the quarantine on top of the usual margin.
# LeakSanitizer also checks the relay for leaks when it exits. The
# sanitizer build is recognised by the binary as in test_relay_large.sh.
if ldd "$DRAWBRIDGE" 2>/dev/null | grep -q libasan ||
    nm -D "$DRAWBRIDGE" 2>/dev/null | grep -q ' __asan_init$'; then
    export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=4"
    rss_margin_kb=$((8 * 1024))
    echo "ASan build: ASAN_OPTIONS=$ASAN_OPTIONS, RSS margin $rss_margin_kb KiB"
fi

if ! relay_pki; then
    fail "make the test PKI"
    finish
    exit
fi
relay_config relay.conf option:ping_interval=0.5 option:ping_timeout=2 \
    farm:cycle server:cycle:c1:token-c1
if ! relay_start relay.conf; then
    fail "relay starts"
    finish
    exit
fi
if ! backend_start b1; then
    fail "backend starts"
    finish
    exit
fi
pass "relay and backend start"

UP_LINE="tunnel [0-9]+ up: farm=cycle server=c1 "
DOWN_LINE="tunnel [0-9]+ down: farm=cycle server=c1 "

# fd_count PID and rss_kb PID: the open file descriptors of PID, and its
# resident set size in KiB.
fd_count()
{
    find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l
}

rss_kb()
{
    awk '$1 == "VmRSS:" { print $2 }' "/proc/$1/status"
}

# wait_all_down: waits up to 15 s until the relay logged as many tunnels
# down as up. Returns 1 on timeout.
wait_all_down()
{
    local ups
    ups=$(grep -Ec -- "$UP_LINE" "$RELAY_LOG")
    wait_log "$RELAY_LOG" "$DOWN_LINE" "$ups" 15
}

# cycle: one enabler up and killed. Returns 1 when its tunnel did not come
# up, after printing the enabler's log.
cycle()
{
    if ! enabler_start cycle c1 token-c1 "$BACKEND_PORT" \
        --ping-interval 0.5 --ping-timeout 2; then
        stop_process "$ENABLER_PID" 5 KILL 2>/dev/null
        return 1
    fi
    stop_process "$ENABLER_PID" 5 KILL 2>/dev/null
}

fds_start=$(fd_count "$RELAY_PID")
fds_warm=
rss_warm=
start=$SECONDS
done_cycles=0
broken=no
while [ "$done_cycles" -lt "$cycles" ] &&
    [ $((SECONDS - start)) -lt "$seconds_max" ]; do
    if ! cycle; then
        broken=yes
        break
    fi
    done_cycles=$((done_cycles + 1))
    if [ "$done_cycles" -eq "$warmup" ]; then
        if ! wait_all_down; then
            fail "relay notices the warm-up tunnels down"
        fi
        fds_warm=$(fd_count "$RELAY_PID")
        rss_warm=$(rss_kb "$RELAY_PID")
    fi
done
elapsed=$((SECONDS - start))
echo "$done_cycles cycles in $elapsed s"
if [ "$broken" = yes ]; then
    fail "enabler $((done_cycles + 1)) gets a tunnel"
    echo "--- $RELAY_LOG"
    tail -n 40 "$RELAY_LOG"
    finish
    exit
fi
if [ "$done_cycles" -lt "$cycles" ]; then
    echo "NOTE: the loop reached $seconds_max s after $done_cycles of" \
        "$cycles cycles; the checks cover those"
fi
expect_eq "relay logs a tunnel up for each cycle" "$done_cycles" \
    "$(grep -Ec -- "$UP_LINE" "$RELAY_LOG")"
if wait_all_down; then
    pass "relay logs every killed enabler's tunnel down"
else
    fail "relay logs every killed enabler's tunnel down ($(grep -Ec -- \
        "$DOWN_LINE" "$RELAY_LOG") of $done_cycles)"
fi

fds_end=$(fd_count "$RELAY_PID")
rss_end=$(rss_kb "$RELAY_PID")
echo "relay fds: $fds_start at start, $fds_warm after $warmup cycles," \
    "$fds_end after $done_cycles"
echo "relay VmRSS: $rss_warm KiB after $warmup cycles, $rss_end KiB" \
    "after $done_cycles"
expect_eq "relay has as many fds as after the warm-up" "$fds_warm" "$fds_end"
expect_eq "relay has as many fds as at start" "$fds_start" "$fds_end"
if [ "$rss_end" -le $((rss_warm + rss_margin_kb)) ]; then
    pass "relay RSS grew by at most $rss_margin_kb KiB"
else
    fail "relay RSS grew by at most $rss_margin_kb KiB (by $((rss_end - rss_warm)) KiB)"
fi

# A normal enabler after the cycles.

if enabler_start cycle c1 token-c1 "$BACKEND_PORT"; then
    pass "enabler connects after the cycles"
else
    fail "enabler connects after the cycles"
fi
run relay_curl --fail "$(relay_url cycle /server-id)"
expect_eq "request succeeds after the cycles" b1 "$(cat "$OUT")"

stop_process "$ENABLER_PID" 10
expect_eq "enabler exits 0 on SIGTERM" 0 "$STOP_STATUS"
stop_process "$RELAY_PID" 10
expect_eq "relay exits 0 on SIGTERM" 0 "$STOP_STATUS"
expect_no_sanitizer_report "relay and enabler log no sanitizer report" \
    relay.log enabler-*.log

if [ "$FAILED" -gt 0 ]; then
    echo "--- $RELAY_LOG"
    tail -n 40 "$RELAY_LOG"
fi
finish
