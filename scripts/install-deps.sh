#!/usr/bin/env bash
# Installs the Debian 12 packages that building and testing Drawbridge need,
# skipping those already present. Uses sudo when not run as root.
set -euo pipefail

packages=(
    build-essential cmake pkg-config clang-format
    libssl-dev libevent-dev libnghttp2-dev node-llhttp libinih-dev
    libcmocka-dev
    openssl curl python3 nginx haproxy chromium iproute2
)

missing=()
for pkg in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null |
        grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi

echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
