#!/usr/bin/env bash
# Installs every build, test and packaging dependency of Sluice from Debian packages.
# Idempotent: does nothing when everything is already installed.
set -euo pipefail

packages=(
    build-essential cmake ccache pkg-config git file
    libpoco-dev libssl-dev openssl
    libxerces-c-dev libvalijson-dev liblua5.4-dev libspdlog-dev
    doctest-dev
    dpkg-dev rpm
    curl
    bindfs  # tests: a FUSE file system without O_TMPFILE, for the request body spool's fallback
)

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "setup-deps: all ${#packages[@]} packages present"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
echo "setup-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
