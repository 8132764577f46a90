"""The course's terminal entry point: `python -m course_utils <command>`.

  doctor   check the environment (versions, a federated computation, data)
  data     build/check the dataset the course would use, and describe it
  nav      write notebooks' header/setup/footer cells and the README's syllabus
           table from course_utils/syllabus.py (--check: only compare)
"""

from __future__ import annotations

import argparse
import sys


def _doctor(args) -> int:
    import course_utils

    return 0 if course_utils.doctor() else 1


def _data(args) -> int:
    from course_utils import data

    source = data.resolve_source(args.data)
    splits = data.prepare(source)
    print(f"{source.description}\n{source.sqlite_path}")
    for split, clients in sorted(splits.items()):
        print(f"  {split}: {clients} clients")
    return 0


def _nav(args) -> int:
    from course_utils import navigation

    return navigation.main(check=args.check, paths=args.paths)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m course_utils", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("doctor", help="check the environment").set_defaults(run=_doctor)
    data_parser = commands.add_parser("data", help="prepare and describe the dataset")
    data_parser.add_argument("--data", default=None,
                             help="auto | emnist | offline | a directory with emnist_all.sqlite "
                                  "(default: $COURSE_DATA or auto)")
    data_parser.set_defaults(run=_data)
    nav_parser = commands.add_parser(
        "nav", help="generate notebook headers/setup/footers and README syllabus")
    nav_parser.add_argument("--check", action="store_true",
                            help="write nothing; exit 1 listing what differs")
    nav_parser.add_argument("paths", nargs="*",
                            help="only these notebooks / README.md (default: all)")
    nav_parser.set_defaults(run=_nav)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from course_utils.data import DataError

    try:
        return args.run(args)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
