#!/usr/bin/env bash
# Make sure a Debian package's program is there for a test tier. Idempotent: does
# nothing when PROGRAM (a path or a command name) is there. Installs PACKAGE with
# apt-get when run as root (CI, containers), once; otherwise says how, and the tier's
# tests skip with the same hint.
#   tools/install_debian_package.sh PROGRAM PACKAGE "what needs it"
set -euo pipefail
program="$1" package="$2" purpose="$3"
present() { [ -x "$program" ] || command -v "$program" >/dev/null 2>&1; }
if present; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Debian's $package for $purpose (once) ..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package" >/dev/null
  present
else
  echo "note: no $program, so $purpose will be skipped." \
       "Install it with: sudo apt-get install $package" >&2
fi
