#!/usr/bin/env bash
# The drawbridge executable: help, version and usage errors.
. "$(dirname "$0")/lib.sh"

expect_ok "--version exits 0" db --version
expect_output "--version prints the version" '^drawbridge [0-9]+\.[0-9]+\.[0-9]+$'

expect_ok "--help exits 0" db --help
expect_output "--help lists cert" '^  cert '

expect_ok "cert --help exits 0" db cert --help
cp "$OUT" "$WORK/cert-help.out"
for command in ca request sign pkcs12 show verify probe quickstart; do
    if grep -Eq "^  $command " "$WORK/cert-help.out"; then
        pass "cert --help lists $command"
    else
        fail "cert --help lists $command"
    fi
    expect_ok "cert $command --help exits 0" db cert "$command" --help
    expect_output "cert $command --help shows usage" "^Usage: drawbridge cert $command"
done

run db
expect_eq "no command exits 2" 2 "$STATUS"
expect_output "no command prints usage" '^Usage: drawbridge'

expect_fail "unknown command" "unknown command 'frobnicate'" db frobnicate
expect_eq "unknown command exits 2" 2 "$STATUS"

expect_fail "unknown cert command" "unknown cert command 'mint'" db cert mint
expect_fail "unknown option" "unknown option --bogus.*cert ca --help" \
    db cert ca --bogus
expect_eq "unknown option exits 2" 2 "$STATUS"
expect_fail "missing option value" "option --subject needs a value" \
    db cert ca --subject
expect_fail "invalid verbosity" "invalid verbosity '9'" db -v 9 cert --help

finish
