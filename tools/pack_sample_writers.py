"""Remake course_utils/bundled/ from an EMNIST SQLite of LEAF writers.

    .venv/bin/python tools/pack_sample_writers.py /tmp/femnist/emnist_all.sqlite

The bundle was made once from the development data's 383 writers
(../shared/data/femnist_leaf_digits); tests/test_sample_writers.py checks, where that
file is present, that the bundle still holds exactly its examples.
"""

import sys

from course_utils.emnist import sample_writers

if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    sample_writers.pack(sys.argv[1])
    print(f"wrote {sample_writers.BUNDLE} and {sample_writers.PROVENANCE}")
