#!/usr/bin/env bash
# The two enablers of the deployment in examples/relay.conf, both on the
# backend host smp1: one serves the replication farm and one the messaging
# farm. Each connects out to the relay over HTTPS, verifies the relay's
# certificate against ca.crt, reads its token from its own file and
# forwards the requests to its service on smp1.
#
# Make each token file readable by the enabler's user alone:
#   umask 077; openssl rand -hex 32 >/etc/drawbridge/replication.token
# and copy the same value into the token of the matching [backend_server].
#
# This script starts both enablers and waits until both exit. In production,
# run each one as its own service, so that each is restarted on its own.
set -eu

conf=/etc/drawbridge

drawbridge enabler \
    --relay https://relay.example.com \
    --ca-file "$conf/ca.crt" \
    --farm replication --id smp1 \
    --token-file "$conf/replication.token" \
    --backend http://smp1.example.internal:2480 &

drawbridge enabler \
    --relay https://relay.example.com \
    --ca-file "$conf/ca.crt" \
    --farm messaging --id smp1 \
    --token-file "$conf/messaging.token" \
    --backend http://smp1.example.internal:5001 &

wait

# The same two enablers in the flag form of existing outbound enablers.
# -t @FILE reads the token from FILE, whereas -t TOKEN would show the token
# to every local user in the process list. The enabler uses HTTPS even
# without https=1 in -cr, because that is its default, but the lines keep it
# so that the intent is visible.
#
# drawbridge enabler -f replication -id smp1 \
#     -t @/etc/drawbridge/replication.token \
#     -cr "host=relay.example.com;port=443;https=1;trusted_certificates=/etc/drawbridge/ca.crt" \
#     -cs "host=smp1.example.internal;port=2480"
#
# drawbridge enabler -f messaging -id smp1 \
#     -t @/etc/drawbridge/messaging.token \
#     -cr "host=relay.example.com;port=443;https=1;trusted_certificates=/etc/drawbridge/ca.crt" \
#     -cs "host=smp1.example.internal;port=5001"
