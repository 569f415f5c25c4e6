#!/usr/bin/env bash
# Installs what the studio's browser test (tests/test_web_e2e.py) needs: Debian's chromium and
# chromium-driver (apt-get) and the Playwright Python package (pip; it drives the system chromium,
# so no browser is downloaded). Idempotent and quiet: does nothing when all is there already.
# Usage: scripts/install_browser.sh        (PYTHON=path/to/python to pick the interpreter)
set -euo pipefail

PYTHON="${PYTHON:-python}"

if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "install_browser.sh: no apt-get here; install chromium yourself (the browser test will be skipped)" >&2
        exit 0
    fi
    SUDO=""
    if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq >/dev/null
    $SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
fi

if ! "$PYTHON" -c "import playwright.sync_api" >/dev/null 2>&1; then
    "$PYTHON" -m pip install -q --disable-pip-version-check "playwright>=1.40"
fi
