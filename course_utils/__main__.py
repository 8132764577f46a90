"""`python -m course_utils ...`: the course's terminal entry point (see course_utils/cli/main.py)."""

from course_utils.cli.main import main

raise SystemExit(main())
