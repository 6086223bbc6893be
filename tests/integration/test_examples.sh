#!/usr/bin/env bash
# examples/relay.conf and examples/enabler.sh. The relay accepts the
# configuration once its certificate files exist. Every enabler command line
# in the script, comments included, uses only options and -cr/-cs keys that
# `drawbridge enabler --help` lists, and names the relay host, a farm and a
# server that relay.conf defines.
. "$(dirname "$0")/lib.sh"

EXAMPLES=$(readlink -f "$(dirname "$0")/../../examples")
SCRIPT="$EXAMPLES/enabler.sh"

cd "$WORK"
cp "$EXAMPLES/relay.conf" relay.conf

# conf_value KEY: prints the first value of KEY in relay.conf.
conf_value()
{
    sed -n "s/^[[:space:]]*$1[[:space:]]*[=:][[:space:]]*//p" relay.conf |
        sed 's/[[:space:]]*$//' | head -n 1
}

# server_pairs: prints FARM/ID for each [backend_server] of relay.conf.
server_pairs()
{
    awk -F '=' '
        function emit() {
            if (section == "backend_server" && farm != "" && id != "") {
                print farm "/" id
            }
        }
        /^[[:space:]]*[#;]/ { next }
        /^[[:space:]]*\[/ {
            emit()
            section = tolower($0)
            sub(/^[[:space:]]*\[[[:space:]]*/, "", section)
            sub(/[[:space:]]*\].*$/, "", section)
            farm = ""
            id = ""
            next
        }
        NF >= 2 {
            key = tolower($1)
            gsub(/[[:space:]]/, "", key)
            value = $2
            sub(/^[[:space:]]+/, "", value)
            sub(/[[:space:]]+$/, "", value)
            if (key == "farm") { farm = value }
            if (key == "id") { id = value }
        }
        END { emit() }' relay.conf
}

# --- relay.conf ---

host=$(conf_value host)
certificate=$(conf_value tls_certificate)
private_key=$(conf_value tls_private_key)
expect_eq "relay.conf has a host" "relay.example.com" "$host"
for path in "$certificate" "$private_key"; do
    case $path in
    "") fail "relay.conf names tls_certificate and tls_private_key" ;;
    /*) fail "$path is relative to relay.conf" ;;
    *) pass "$path is relative to relay.conf" ;;
    esac
done

expect_ok "quickstart for the relay's host" db cert quickstart \
    --host "$host" --out pki --key-type ec:P-256
mkdir -p "$(dirname "$certificate")" "$(dirname "$private_key")"
cp pki/server.crt "$certificate"
cp pki/server.key "$private_key"
run openssl x509 -in "$certificate" -noout -checkhost "$host"
expect_output "certificate covers the relay's host" 'does match certificate'

run db relay -c relay.conf --check
expect_eq "relay --check exits 0" 0 "$STATUS"
expect_output "relay --check accepts relay.conf" \
    'relay.conf: the configuration and certificates are valid'
expect_no_output "relay.conf loads without warnings" 'warning|error'

# The check reads the files that relay.conf names, so it must fail
# without the key.
mv "$private_key" "$private_key.moved"
expect_fail "relay --check needs the key" "$(basename "$private_key")" \
    db relay -c relay.conf --check
mv "$private_key.moved" "$private_key"

expect_eq "relay.conf has two servers" 2 "$(server_pairs | wc -l)"
server_pairs >servers.txt

# --- enabler.sh ---

expect_ok "enabler.sh parses" bash -n "$SCRIPT"

# enabler_lines: prints each `drawbridge enabler` command line of the
# script, commented ones included, with continuation lines joined and
# quotes removed.
enabler_lines()
{
    sed -e 's/^[[:space:]]*#[[:space:]]\{0,1\}//' "$SCRIPT" |
        awk '/\\$/ { sub(/\\$/, ""); line = line $0; next }
             { print line $0; line = "" }' |
        grep -E '(^|[[:space:]])drawbridge[[:space:]]+enabler([[:space:]]|$)' |
        tr -d "\"'"
}

enabler_lines >lines.txt
expect_eq "enabler.sh has four enabler lines" 4 "$(wc -l <lines.txt)"
expect_eq "two lines use long options" 2 "$(grep -c -- '--farm' lines.txt)"
expect_eq "two lines use rsoe flags" 2 "$(grep -c -- ' -cr ' lines.txt)"

# help_section OPTION: prints the help lines of OPTION, up to the next
# option.
help_section()
{
    awk -v option="$1" '
        on && /^  -/ { exit }
        /^  -/ && $1 == option { on = 1 }
        on { print }' help.txt
}

# check_option N OPTION: OPTION must be listed in the help.
check_option()
{
    if grep -Eq -- "(^|[[:space:],|])$2([[:space:],=]|\$)" help.txt; then
        pass "line $1: $2 is an enabler option"
    else
        fail "line $1: $2 is not in drawbridge enabler --help"
    fi
}

# check_pairs N OPTION PAIRS: each KEY of the KEY=VALUE;... list PAIRS must
# be listed in the help of OPTION (-cr or -cs).
check_pairs()
{
    local n=$1 option=$2 pair key value
    local -a pairs

    IFS=';' read -ra pairs <<<"$3"
    help_section "$option" >section.txt
    for pair in "${pairs[@]}"; do
        key=${pair%%=*}
        value=${pair#*=}
        if [ "$key" = "$pair" ]; then
            fail "line $n: '$pair' in $option is not KEY=VALUE"
        elif grep -Eq "(^|[^a-z_])$key([^a-z_]|\$)" section.txt; then
            pass "line $n: $option key $key is in the help"
        else
            fail "line $n: $option key $key is not in the help of $option"
        fi
        if [ "$option" = -cr ] && [ "$key" = host ]; then
            expect_eq "line $n: -cr host is the relay's host" "$host" "$value"
        fi
    done
}

# check_line N LINE: checks every option of one enabler command line.
check_line()
{
    local n=$1 word previous="" farm="" id="" relay_host
    local -a words

    read -ra words <<<"$2"
    for word in "${words[@]}"; do
        case $previous in
        -cr | -cs) check_pairs "$n" "$previous" "$word" ;;
        --farm | -f) farm=$word ;;
        --id | -id) id=$word ;;
        --relay)
            relay_host=${word#https://}
            relay_host=${relay_host%%[:/]*}
            expect_eq "line $n: --relay is the relay's host" "$host" \
                "$relay_host"
            ;;
        -t)
            case $word in
            @*) pass "line $n: -t reads a file" ;;
            *) fail "line $n: -t gives the token on the command line" ;;
            esac
            ;;
        esac
        case $word in
        -*) check_option "$n" "$word" ;;
        esac
        previous=$word
    done
    if grep -qxF -- "$farm/$id" servers.txt; then
        pass "line $n: $farm/$id is a [backend_server] of relay.conf"
    else
        fail "line $n: farm '$farm' and id '$id' match no [backend_server]"
    fi
}

run db enabler --help
if [ "$STATUS" -eq 0 ] && [ -s "$OUT" ]; then
    pass "enabler --help runs"
    cp "$OUT" help.txt
    : >"$OUT" # so that a failure below does not print the help again
    n=0
    while IFS= read -r line; do
        n=$((n + 1))
        check_line "$n" "$line"
    done <lines.txt
else
    fail "enabler --help (exit $STATUS); the enabler lines are not checked"
fi

finish
