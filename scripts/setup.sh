#!/usr/bin/env bash
# Installs what relink needs to build and test on Debian 12, and only what is missing.
#
# Checks each package with dpkg-query; if all are installed it prints one line and does nothing. Otherwise it
# runs `apt-get update` once and installs the missing ones, as root or through sudo. Safe to run again.
set -euo pipefail

packages=(
    build-essential cmake ninja-build ccache pkg-config
    libboost1.81-dev libssl-dev
    nlohmann-json3-dev libspdlog-dev
    libgtest-dev libgmock-dev googletest libbenchmark-dev
    clang-14 libfuzzer-14-dev libclang-rt-14-dev
    redis-server libhiredis-dev
    libcli11-dev
    abigail-tools python3
    python3-pytest
    chromium fonts-dejavu-core  # the demo page's test loads it in headless Chromium (tests/examples/demo_page_test.cpp)
)

missing=()
for pkg in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    if [[ "$status" != "install ok installed" ]]; then
        missing+=("$pkg")
    fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
    echo "setup: all ${#packages[@]} required packages are installed; nothing to do"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup: missing packages: ${missing[*]}" >&2
    echo "setup: apt-get not found; this script targets Debian 12, install the equivalents by hand" >&2
    exit 1
fi

if [[ $(id -u) -eq 0 ]]; then
    as_root=(env DEBIAN_FRONTEND=noninteractive)
elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo env DEBIAN_FRONTEND=noninteractive)
else
    echo "setup: missing packages: ${missing[*]}" >&2
    echo "setup: installing them needs root or sudo; run this script as root" >&2
    exit 1
fi

echo "setup: installing ${#missing[@]} missing package(s): ${missing[*]}"
"${as_root[@]}" apt-get update
"${as_root[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
echo "setup: done"
