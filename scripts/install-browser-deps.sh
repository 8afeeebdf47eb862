#!/bin/sh
# Install Debian's chromium for the admin portal's browser suite
# (tests/browser), which Playwright for Python drives at /usr/bin/chromium.
# Never "playwright install": no browser is downloaded from elsewhere.
# Idempotent: does nothing when chromium is installed.
set -eu
export DEBIAN_FRONTEND=noninteractive
if [ -x /usr/bin/chromium ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "install-browser-deps: chromium is missing and only root can install it" >&2
    exit 1
fi
if ! apt-get install -y -q -o DPkg::Lock::Timeout=600 chromium; then
    apt-get update -q
    apt-get install -y -q -o DPkg::Lock::Timeout=600 chromium
fi
