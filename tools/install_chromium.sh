#!/usr/bin/env bash
# Make sure Debian's chromium is there for the browser test (tests/e2e/): installed with
# apt-get when run as root (CI, containers), once; otherwise the test skips with a hint.
set -euo pipefail
exec "$(dirname "$0")/install_debian_package.sh" "${CHROMIUM:-/usr/bin/chromium}" \
  chromium "the browser test"
