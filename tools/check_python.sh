#!/usr/bin/env bash
# Fail with one clear message unless $1 is a Python the course has a stack for:
# 3.11 (classic: requirements.txt) or 3.12/3.13 (modern: requirements-modern.txt).
python="$1"
if [ -n "$python" ] && "$python" -c 'import sys; sys.exit(sys.version_info[:2] not in ((3, 11), (3, 12), (3, 13)))' 2>/dev/null; then
  exit 0
fi
if [ -n "$python" ]; then
  found=$("$python" --version 2>&1 | head -n 1)
else
  found="no python3.11, python3.12 or python3.13 on PATH"
fi
cat >&2 <<MSG
error: this course needs Python 3.11, 3.12 or 3.13 (found: $found).
TensorFlow Federated 0.87 runs on Linux x86-64 with Python 3.11 (the classic stack)
or, with Colab's package versions, Python 3.12 and 3.13 (the modern stack).
Install one, for example:
  Debian/Ubuntu:  sudo apt install python3.11 python3.11-venv   (or python3.12 / python3.13)
  pyenv:          pyenv install 3.11 && pyenv local 3.11
then run make again (or: make PYTHON=/path/to/python3.11 ...).
On macOS or Windows, open the course on Binder or Colab (links in README.md) or use WSL/Docker.
MSG
exit 1
