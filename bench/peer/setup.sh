#!/usr/bin/env bash
# bench/peer/setup.sh — installs what peer-bench needs on Debian 12, only what is missing: Eclipse Paho MQTT C and
# C++ (headers, CMake packages) and the mosquitto broker. peer-bench starts its own mosquitto (loopback, a temp
# config), so a mosquitto system service started by the package is stopped and disabled afterwards.
#
# Checks each package with dpkg-query; runs `apt-get update` only when an install is needed (and once more only if
# the install fails on a stale package list). Safe to run again.
set -euo pipefail

packages=(libpaho-mqttpp-dev libpaho-mqtt-dev mosquitto openssl)

missing=()
for pkg in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    if [[ "$status" != "install ok installed" ]]; then
        missing+=("$pkg")
    fi
done

if [[ $(id -u) -eq 0 ]]; then
    as_root=(env DEBIAN_FRONTEND=noninteractive)
elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo env DEBIAN_FRONTEND=noninteractive)
else
    as_root=()
fi

if [[ ${#missing[@]} -eq 0 ]]; then
    echo "peer setup: all ${#packages[@]} packages are installed; nothing to install"
else
    if ! command -v apt-get >/dev/null 2>&1 || [[ ${#as_root[@]} -eq 0 ]]; then
        echo "peer setup: missing packages: ${missing[*]} (needs apt-get as root or through sudo)" >&2
        exit 1
    fi
    echo "peer setup: installing ${#missing[@]} missing package(s): ${missing[*]}"
    # Try without refreshing the lists first: `apt-get update` is needed only when they are missing or stale.
    if ! "${as_root[@]}" apt-get install -y --no-install-recommends "${missing[@]}"; then
        "${as_root[@]}" apt-get update
        "${as_root[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
    fi
fi

# The mosquitto package enables and may start a system broker on port 1883. peer-bench runs its own; a system one
# would only cost memory and CPU during the measurements, so stop it and keep it from starting at boot.
if [[ ${#as_root[@]} -gt 0 ]]; then
    if command -v systemctl >/dev/null 2>&1 && systemctl list-unit-files mosquitto.service >/dev/null 2>&1; then
        "${as_root[@]}" systemctl stop mosquitto.service >/dev/null 2>&1 || true
        "${as_root[@]}" systemctl disable mosquitto.service >/dev/null 2>&1 || true
    fi
    if command -v service >/dev/null 2>&1 && [[ -x /etc/init.d/mosquitto ]]; then
        "${as_root[@]}" service mosquitto stop >/dev/null 2>&1 || true
    fi
    if command -v update-rc.d >/dev/null 2>&1 && [[ -x /etc/init.d/mosquitto ]]; then
        "${as_root[@]}" update-rc.d mosquitto disable >/dev/null 2>&1 || true
    fi
fi
if pid=$(pgrep -x mosquitto 2>/dev/null); then
    echo "peer setup: warning: a mosquitto is still running (PID ${pid//$'\n'/ }); peer-bench starts its own" >&2
fi
echo "peer setup: done"
