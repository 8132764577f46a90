#!/usr/bin/env bash
# Run one test tier of `make test` when its Python is found; otherwise say why it is
# skipped, or fail when COURSE_REQUIRE_TIERS is set (as .ci/run sets it).
#   tools/tier_when_possible.sh "DESCRIPTION" VERSION VARIABLE PYTHON TARGET
# VARIABLE is the make variable that holds the tier's Python (PYTHON, found or empty).
description="$1" version="$2" variable="$3" python="$4" target="$5"
if [ -n "$python" ] && "$python" -c "import sys; sys.exit('%d.%d' % sys.version_info[:2] != '$version')" 2>/dev/null; then
  exec make --no-print-directory "$target"
elif [ -n "$COURSE_REQUIRE_TIERS" ] && [ "$COURSE_REQUIRE_TIERS" != 0 ]; then
  echo "error: the $description cannot run: no Python $version found ($variable=$python), and COURSE_REQUIRE_TIERS=$COURSE_REQUIRE_TIERS forbids skipping it" >&2
  exit 1
else
  echo "skipped the $description (make $target): no Python $version found on PATH or under pyenv ($variable=$python); install one, or make $variable=/path/to/python$version test"
fi
