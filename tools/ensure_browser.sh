#!/usr/bin/env bash
# Install Debian's headless Chromium for the browser test (tests/test_browser.py), and bubblewrap,
# the sandbox `make grade` runs submissions in (its tests need it too; without it they skip, saying so).
#
# `make test` runs this first (the `browser` target). Nothing here may download a browser build of
# its own (Playwright's `playwright install` would), so the test drives Debian's /usr/bin/chromium.
# Quick when Chromium is already there; when it is missing and this is not root or there is no
# apt-get, it says so and leaves the browser test to skip with that reason.
set -euo pipefail

CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
PACKAGES=(chromium fonts-liberation bubblewrap)

if [ -x "$CHROMIUM" ] && command -v bwrap >/dev/null 2>&1; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure_browser: no apt-get here, so Chromium is not installed; the browser test will be skipped." >&2
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "ensure_browser: not root, so Chromium is not installed; as root run: apt-get install ${PACKAGES[*]}" >&2
    echo "ensure_browser: the browser test will be skipped until then." >&2
    exit 0
fi
echo "ensure_browser: installing Debian's ${PACKAGES[*]} for the browser test (once) ..."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
"$CHROMIUM" --version
bwrap --version
