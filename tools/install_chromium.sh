#!/usr/bin/env bash
# Make sure Debian's chromium is there for the browser test (tests/e2e/). Idempotent:
# does nothing when it is installed. Installs it with apt-get when run as root (CI,
# containers); otherwise says how, and the browser test skips with the same hint.
set -euo pipefail
chromium="${CHROMIUM:-/usr/bin/chromium}"
if [ -x "$chromium" ]; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Debian's chromium for the browser test (once) ..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  test -x "$chromium"
else
  echo "note: no $chromium, so the browser test will be skipped." \
       "Install it with: sudo apt-get install chromium" >&2
fi
