"""`python -m course_utils ...`: the course's terminal entry point (see cli.py)."""

from course_utils.cli import main

raise SystemExit(main())
