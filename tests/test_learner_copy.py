"""Learner copies are generated from the solved notebooks (course_utils/authoring/
learner_copy.py): the marker rule, its errors, outputs, `nav` writing them and `nav
--check` reporting drift; and every exercise notebook's stored learner copy is what the
generator makes from its solved copy."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest

from course_utils.authoring import exercise_cells, learner_copy, navigation, syllabus
from course_utils.authoring.learner_copy import STUB, MarkerError

ROOT = Path(__file__).resolve().parent.parent
LESSON = syllabus.lesson("02")
EXERCISE_LESSONS = [lesson for lesson in syllabus.SYLLABUS if lesson.has_solution]

SOLVED_CELL = '''\
def f(x):
    """Docstring with the task."""
    # hint: stays in both copies
    # BEGIN SOLUTION
    y = x + 1
    return y
    # END SOLUTION


class C:
    def g(self):
        if True:
            # BEGIN SOLUTION
            return 2
            # END SOLUTION'''


def test_each_region_becomes_one_stub_line_at_its_indentation():
    assert learner_copy.strip_solutions(SOLVED_CELL) == f'''\
def f(x):
    """Docstring with the task."""
    # hint: stays in both copies
    {STUB}


class C:
    def g(self):
        if True:
            {STUB}'''


def test_code_without_markers_is_unchanged():
    source = "x = 1\n\n# a comment about SOLUTIONS\nprint(x)\n"
    assert learner_copy.strip_solutions(source) == source


def test_stubbed_code_is_valid_python_and_raises_not_implemented():
    namespace = {}
    exec(learner_copy.strip_solutions(SOLVED_CELL), namespace)
    with pytest.raises(NotImplementedError):
        namespace["f"](1)
    exec(SOLVED_CELL, namespace)
    assert namespace["f"](1) == 2


@pytest.mark.parametrize("source, message", [
    ("# BEGIN SOLUTION\nx = 1", "line 1: '# BEGIN SOLUTION' is never closed"),
    ("x = 1\n# END SOLUTION", "line 2: '# END SOLUTION' without a '# BEGIN SOLUTION'"),
    ("# BEGIN SOLUTION\n# BEGIN SOLUTION\nx = 1\n# END SOLUTION\n# END SOLUTION",
     "line 2: '# BEGIN SOLUTION' inside the region opened on line 1: regions cannot be "
     "nested"),
    ("#BEGIN SOLUTION\nx = 1\n# END SOLUTION", "'#BEGIN SOLUTION' looks like a solution "
                                               "marker but is not one"),
    ("# BEGIN SOLUTION  (the loop)\nx = 1\n# END SOLUTION", "looks like a solution marker"),
    ("# begin solution\nx = 1\n# end solution", "looks like a solution marker"),
    ("def f():\n    # BEGIN SOLUTION\n    return 1\n# END SOLUTION",
     "line 4: '# END SOLUTION' is indented differently from its '# BEGIN SOLUTION' (line 2)"),
    ("def f():\n    # BEGIN SOLUTION\n    x = 1\nreturn x\n    # END SOLUTION",
     "line 4: indented less than its '# BEGIN SOLUTION' (line 2)"),
    ("# BEGIN SOLUTION\n\n# END SOLUTION", "lines 1-3: an empty solution region"),
])
def test_malformed_markers_are_refused_with_where_and_what(source, message):
    with pytest.raises(MarkerError, match="^my cell") as error:
        learner_copy.strip_solutions(source, where="my cell")
    assert message in str(error.value)


def solved_notebook(extra_cells=()):
    """A solved copy as an author keeps it, after `nav` (one exercise region)."""
    v4 = nbformat.v4
    nb = v4.new_notebook(cells=[
        v4.new_markdown_cell("# title"),
        v4.new_code_cell("import course_utils\ncourse_utils.setup()"),
        v4.new_markdown_cell("## Exercise\nWrite `f`."),
        v4.new_code_cell(SOLVED_CELL, id="exercise-cell"),
        v4.new_code_cell("print(f(1))", id="check-cell"),
        *extra_cells,
        v4.new_markdown_cell("## Summary"),
    ])
    navigation.apply(nb, LESSON, solution=True)
    return nb


def test_learner_notebook_has_learner_navigation_and_identical_other_cells():
    solved = solved_notebook()
    learner = learner_copy.learner_notebook(solved, LESSON)
    assert learner.cells[0].source == navigation.header_source(LESSON)
    assert learner.cells[1].source == navigation.setup_source(LESSON)
    assert learner.cells[-1].source == navigation.footer_source(LESSON)
    pairs = list(zip(solved.cells[2:-1], learner.cells[2:-1]))
    assert [(a.id, a.cell_type) for a, _ in pairs] == [(b.id, b.cell_type) for _, b in pairs]
    for a, b in pairs:
        expected = learner_copy.strip_solutions(a.source) if a.cell_type == "code" else a.source
        assert b.source == expected
    assert STUB in learner.cells[3].source and "y = x + 1" not in learner.cells[3].source
    assert "# BEGIN SOLUTION" in solved.cells[3].source  # the solved copy is not changed
    nbformat.validate(learner)


def test_a_marker_in_markdown_is_refused():
    marked = nbformat.v4.new_markdown_cell("Answer:\n# BEGIN SOLUTION\n42\n# END SOLUTION")
    with pytest.raises(MarkerError, match=r"cell 6 .*a solution marker in a markdown cell"):
        learner_copy.learner_notebook(solved_notebook([marked]), LESSON, where="nb")


def test_a_solved_copy_without_regions_is_refused():
    solved = solved_notebook()
    solved.cells[3].source = "def f(x):\n    return x + 1"
    with pytest.raises(MarkerError, match="no '# BEGIN SOLUTION' ... '# END SOLUTION' region"):
        learner_copy.learner_notebook(solved, LESSON)


def test_unchanged_cells_keep_the_learner_copys_outputs_changed_cells_lose_them():
    v4 = nbformat.v4
    first = learner_copy.learner_notebook(solved_notebook(), LESSON)
    for count, cell in enumerate((c for c in first.cells if c.cell_type == "code"), 1):
        cell.execution_count = count
        cell.outputs = [v4.new_output("stream", name="stdout", text=f"out {count}")]
    solved = solved_notebook()
    solved.cells[4].source = "print(f(2))"  # the check cell changes
    again = learner_copy.learner_notebook(solved, LESSON, existing=first)
    texts = {c.id: [o.text for o in c.outputs] for c in again.cells if c.cell_type == "code"}
    assert texts["exercise-cell"] == ["out 2"]  # unchanged stub: its output stays
    assert texts["check-cell"] == []
    assert [c.execution_count for c in again.cells if c.id == "check-cell"] == [None]


# --------------------------------------------------------- nav writes and checks them


def make_course(tmp_path) -> Path:
    (tmp_path / "notebooks" / "solutions").mkdir(parents=True)
    shutil.copy(ROOT / "README.md", tmp_path / "README.md")
    nbformat.write(solved_notebook(), tmp_path / LESSON.path(solution=True))
    return tmp_path


def test_nav_generates_the_learner_copy_and_check_reports_drift(tmp_path, capsys):
    root = make_course(tmp_path)
    learner_path = root / LESSON.path()
    assert navigation.main(check=True, root=root) == 1
    assert f"{LESSON.path()}: missing" in capsys.readouterr().err
    assert navigation.main(root=root) == 0
    assert STUB in nbformat.read(learner_path, as_version=4).cells[3].source
    assert navigation.main(check=True, root=root) == 0

    nb = nbformat.read(learner_path, as_version=4)  # a hand edit of the learner copy
    nb.cells[3].source = nb.cells[3].source.replace(STUB, "return 2")
    nbformat.write(nb, learner_path)
    capsys.readouterr()
    assert navigation.main(check=True, root=root) == 1
    err = capsys.readouterr().err
    assert (f"{LESSON.path()}: cell 4 (id exercise-cell: source) differ(s) from what "
            f"{LESSON.path(solution=True)} generates") in err
    assert navigation.main(root=root) == 0 and navigation.main(check=True, root=root) == 0


def test_nav_reports_broken_markers_and_writes_nothing(tmp_path):
    root = make_course(tmp_path)
    solved_path = root / LESSON.path(solution=True)
    nb = nbformat.read(solved_path, as_version=4)
    nb.cells[3].source += "\n# BEGIN SOLUTION"
    nbformat.write(nb, solved_path)
    problems = navigation.sync(root)
    assert any("is never closed" in p and LESSON.path(solution=True) in p for p in problems)
    assert not (root / LESSON.path()).exists()


def test_nav_on_only_the_solved_copy_regenerates_its_learner_copy(tmp_path):
    root = make_course(tmp_path)
    assert navigation.sync(root, paths=[root / LESSON.path(solution=True)]) == []
    assert (root / LESSON.path()).exists()


# ------------------------------------------------ the course's own exercise notebooks


def test_the_course_has_exercise_notebooks():
    assert {"02", "04", "05", "06", "07"} <= {lesson.number for lesson in EXERCISE_LESSONS}


@pytest.mark.parametrize("lesson", EXERCISE_LESSONS, ids=lambda lesson: lesson.number)
def test_learner_copy_is_what_its_solved_copy_generates(lesson):
    solved_path, learner_path = ROOT / lesson.path(solution=True), ROOT / lesson.path()
    assert solved_path.exists(), f"{lesson.path(solution=True)} is missing"
    assert learner_path.exists(), f"{lesson.path()} is missing: run `python -m course_utils nav`"
    solved = nbformat.read(solved_path, as_version=4)
    navigation.apply(solved, lesson, solution=True)
    stored = nbformat.read(learner_path, as_version=4)
    generated = learner_copy.learner_notebook(solved, lesson, stored, where=solved_path.name)
    drift = learner_copy.differences(generated, stored)
    assert not drift, (f"{lesson.path()} was edited by hand or its solved copy changed "
                       f"({', '.join(drift)}): edit {lesson.path(solution=True)} only, then "
                       "run `python -m course_utils nav` (and `make run`)")
    assert STUB in "".join(c.source for c in stored.cells if c.cell_type == "code")


# ------------------------------------------------------------ the tally cell


def with_check_marks(nb, checks: int):
    """`nb` with its first `checks` code cells after the setup marked as check cells."""
    code = [c for c in nb.cells if c.cell_type == "code"][1:]
    for n, cell in enumerate(code[:checks], 1):
        cell.metadata[exercise_cells.KEY] = {"exercise": f"02.{n}", "role": exercise_cells.CHECK}
    return nb


def test_an_exercise_notebook_gets_the_tally_of_its_checks_just_before_the_footer():
    nb = with_check_marks(solved_notebook([nbformat.v4.new_code_cell("g = 1")]), 2)
    navigation.apply(nb, LESSON)
    tally = nb.cells[-2]
    assert (tally.cell_type, tally.id) == ("code", "course-tally-02")
    assert tally.source == navigation.tally_source(2) and tally.source.endswith("tally(2)")
    assert nb.cells[-1].source == navigation.footer_source(LESSON)
    assert sum(navigation.generated_kind(c.get("id")) == "tally" for c in nb.cells) == 1


def test_an_unchanged_tally_keeps_its_output_and_a_new_count_loses_it():
    nb = with_check_marks(solved_notebook([nbformat.v4.new_code_cell("g = 1")]), 2)
    navigation.apply(nb, LESSON)
    nb.cells[-2].outputs = [nbformat.v4.new_output("stream", text="exercises solved: 0 of 2")]
    assert "tally" not in navigation.apply(nb, LESSON).changed
    assert nb.cells[-2].outputs[0].text == "exercises solved: 0 of 2"
    with_check_marks(nb, 3)
    assert "tally" in navigation.apply(nb, LESSON).changed
    assert (nb.cells[-2].source, nb.cells[-2].outputs) == (navigation.tally_source(3), [])


def test_a_notebook_without_checks_has_no_tally():
    nb = with_check_marks(solved_notebook(), 1)
    navigation.apply(nb, LESSON)
    for cell in nb.cells:
        cell.metadata.pop(exercise_cells.KEY, None)
    navigation.apply(nb, LESSON)
    assert all(navigation.generated_kind(c.get("id")) != "tally" for c in nb.cells)


@pytest.mark.parametrize("lesson", EXERCISE_LESSONS, ids=lambda lesson: lesson.number)
def test_each_exercise_notebook_ends_with_its_stored_tally(lesson):
    """The solved copy's run solved every exercise; the learner copy's, none."""
    for solution, solved_count in ((True, "all"), (False, 0)):
        nb = nbformat.read(ROOT / lesson.path(solution), as_version=4)
        checks = len(exercise_cells.marked_exercises(nb))
        tally = nb.cells[-2]
        assert tally.source == navigation.tally_source(checks), lesson.path(solution)
        assert [o.output_type for o in tally.outputs] == ["stream"], (
            f"{lesson.path(solution)}: its tally should print one line and show nothing "
            "else: run it again (tools/run_notebooks.py)")
        printed = "".join(o.get("text", "") for o in tally.outputs)
        expected = checks if solved_count == "all" else 0
        assert printed == f"exercises solved: {expected} of {checks}\n", (
            f"{lesson.path(solution)}: its tally printed {printed!r}: run it again "
            "(tools/run_notebooks.py)")
