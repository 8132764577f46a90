#!/usr/bin/env bash
# Print the path of a Python interpreter that runs, or nothing.
#   tools/find_python.sh        what `make` builds .venv with: Python 3.11 when present on
#                               PATH (the classic stack, requirements.txt), otherwise
#                               3.13 or 3.12 (the modern stack, requirements-modern.txt)
#   tools/find_python.sh 3.13   a Python 3.13 (the Colab-equivalent tier): on PATH, else
#                               under pyenv's versions (~/.pyenv/versions/3.13.*)
# Each candidate is run: a pyenv shim for a version that is not active does not count.
is_version() {  # is_version PYTHON 3.11 [3.12 ...]
  local python="$1"; shift
  local wanted; wanted=$(printf '"%s",' "$@")
  "$python" -c "import sys; sys.exit('%d.%d' % sys.version_info[:2] not in ($wanted))" 2>/dev/null
}
if [ -n "$1" ]; then
  candidates=("python$1" "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$1".*/bin/"python$1")
  versions=("$1")
else
  candidates=(python3.11 python3.13 python3.12 python3)
  versions=(3.11 3.12 3.13)
fi
for candidate in "${candidates[@]}"; do
  path=$(command -v "$candidate" 2>/dev/null) || continue
  if is_version "$path" "${versions[@]}"; then
    echo "$path"
    exit 0
  fi
done
