#!/usr/bin/env bash
# Fail with one clear message unless $1 is a Python 3.11 interpreter.
python="$1"
if [ -n "$python" ] && "$python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
  exit 0
fi
if [ -n "$python" ]; then
  found=$("$python" --version 2>&1 | head -n 1)
else
  found="no python3.11 or python3 on PATH"
fi
cat >&2 <<MSG
error: this course needs Python 3.11 (found: $found).
TensorFlow Federated 0.87 publishes wheels only for Linux x86-64 and Python 3.9-3.11.
Install Python 3.11, for example:
  Debian/Ubuntu:  sudo apt install python3.11 python3.11-venv
  pyenv:          pyenv install 3.11 && pyenv local 3.11
then run make again (or: make PYTHON=/path/to/python3.11 ...).
On macOS or Windows, open the course on Binder (link in README.md) or use WSL/Docker.
MSG
exit 1
