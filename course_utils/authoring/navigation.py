"""Each notebook's header, setup cell and footer, generated from the syllabus table
(`course_utils/authoring/syllabus.py`) so they cannot drift; also the README's syllabus block.

    python -m course_utils nav [--check] [PATH ...]

writes (or, with --check, only compares) for every notebook of the course:

- the header: the FIRST cell, markdown: title, Binder and Colab badges, what you will
  learn, prerequisites, time;
- the setup cell: the FIRST code cell: on Google Colab it first runs
  `course_utils/runtime/bootstrap.py` (installs the course and TFF; where TFF cannot run, one
  clear message), then `import course_utils` and `course_utils.setup()`;
- the tally, in an exercise notebook: the code cell before the footer, which prints
  "exercises solved: k of n" from the checks the learner ran
  (`course_utils.exercises.tally`);
- the footer: the LAST cell, markdown: previous / next links, and the glossary
  (notebooks/GLOSSARY.md);

and the README's blocks between `<!-- BEGIN generated: NAME -->` and
`<!-- END generated: NAME -->`. Solved copies in notebooks/solutions/ get the same cells
with a "solved copy" note and links that work from that folder. For an exercise notebook
(`has_solution=True`) the learner copy is generated whole from its solved copy
(`course_utils/authoring/learner_copy.py`), and --check reports one that differs; its
solved copy's code cells get the marks the instructors' grader reads (which cells are
an exercise's answer, its check, the cells it needs: `exercise_cells.py`), and the
learner copy inherits them.

The generated cells carry cell ids unique to their notebook: "course-header-05",
"course-setup-05", "course-footer-05" (and "course-header-05-solved", ... in a solved
copy), so a book of all notebooks has no duplicate ids.

It also writes the output of every diagram cell, `course_utils.diagrams.draw("NAME")`,
as `course_utils.diagrams` draws it, and --check reports one that differs
(`diagram_cells.py`). Anything else in a notebook is left alone.
"""

from __future__ import annotations

import copy
import posixpath
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import nbformat.corpus.words

from course_utils.authoring import diagram_cells, exercise_cells, syllabus
from course_utils.authoring.syllabus import Lesson
from course_utils.runtime import bootstrap

ROOT = Path(__file__).resolve().parents[2]  # the repository: course_utils/authoring/ -> root
BOOTSTRAP = Path(bootstrap.__file__).resolve()  # what the setup cell runs on Colab
GENERATED = ("header", "setup", "tally", "footer")  # the generated cells, by kind
README_BLOCK = re.compile(
    r"(<!-- BEGIN generated: (?P<name>[\w-]+)[^>]*-->\n)(?P<body>.*?)(<!-- END generated: "
    r"(?P=name) -->)", re.S)
_NAV_LINE = re.compile(r"^\s*\*\*(Next|Previous):\*\*")


def cell_id(kind: str, lesson: Lesson, solution: bool = False) -> str:
    """The id of generated cell `kind` ("header", "setup", "tally", "footer") in one
    notebook."""
    assert kind in GENERATED, kind
    return f"course-{kind}-{lesson.number}" + ("-solved" if solution else "")


# --------------------------------------------------------------------------- sources


def _link(target: Lesson, solution: bool) -> str:
    """Markdown link to lesson `target` from a notebook in notebooks/ (or solutions/)."""
    return f"[{target.label}]({'../' if solution else ''}{target.file})"


def _readme_link(solution: bool) -> str:
    return f"[the syllabus]({'../../' if solution else '../'}README.md#syllabus)"


def glossary_link(solution: bool) -> str:
    return f"[the glossary]({'../' if solution else ''}{posixpath.basename(syllabus.GLOSSARY)})"


def _badges(path: str) -> str:
    return (f"[![Open in Binder]({syllabus.BINDER_BADGE})]({syllabus.binder_url(path)}) "
            f"[![Open in Colab]({syllabus.COLAB_BADGE})]({syllabus.colab_url(path)})")


def header_source(lesson: Lesson, solution: bool = False) -> str:
    lines = [f"# {lesson.solved_label if solution else lesson.label}", ""]
    if solution:
        lines += [f"> **Solved copy:** every exercise here is solved. Try them yourself "
                  f"first in {_link(lesson, True)}.", ""]
    lines += [_badges(lesson.path(solution)), "", "**What you will learn**"]
    objectives = list(lesson.objectives)
    lines += [f"- {text}{'.' if i == len(objectives) - 1 else ';'}"
              for i, text in enumerate(objectives)]
    needs = [_link(syllabus.lesson(number), solution) for number in lesson.prerequisites]
    lines += ["", "**Prerequisites:** " + " ".join(
        ([", ".join(needs) + "."] if needs else []) + [lesson.background]),
        "", f"**Time:** about {lesson.minutes} minutes."]
    return "\n".join(lines)


def bootstrap_source() -> str:
    """Where the setup cell fetches the bootstrap script from on Colab: the raw files of
    syllabus.REPOSITORY at syllabus.BRANCH."""
    return f"https://raw.githubusercontent.com/{syllabus.REPOSITORY}/{syllabus.BRANCH}"


def setup_source(lesson: Lesson, solution: bool = False) -> str:
    """The setup cell. On Colab (and where TFF cannot run) it first runs the bootstrap,
    `course_utils/runtime/bootstrap.py`, fetched from the repository (or read from the checkout
    COURSE_INSTALL_FROM names): it installs the course and TFF, or says where to go.
    Then, everywhere, `import course_utils` and `course_utils.setup()`."""
    script = BOOTSTRAP.relative_to(ROOT).as_posix()
    return f'''\
# Setup. On Google Colab this first installs the course and TFF 0.87 (about a minute).
import os, sys

if "google.colab" in sys.modules or sys.platform != "linux":
    from urllib.request import urlopen
    source = os.environ.get("COURSE_INSTALL_FROM", "{bootstrap_source()}")
    script = f"{{source}}/{script}"
    exec(open(script).read() if os.path.isdir(source) else urlopen(script).read(),
         {{"SOURCE": source, "__name__": "course_bootstrap"}})

import course_utils

course_utils.setup()'''


def footer_source(lesson: Lesson, solution: bool = False) -> str:
    previous, following = syllabus.neighbours(lesson)
    lines = ["---", ""]
    back = [f"**Previous:** {_link(previous, solution)}"] if previous else []
    if solution:
        back.append(f"**Exercises:** {_link(lesson, True)}")
    lines.append(" · ".join(back + [f"**All notebooks:** {_readme_link(solution)}",
                                    f"**Words:** {glossary_link(solution)}"]))
    lines.append("")
    if following:
        lines.append(f"**Next:** {_link(following, solution)}")
    else:
        lines.append("**Next:** that was the last notebook: congratulations! Back to "
                     f"{_readme_link(solution)}.")
    return "\n".join(lines)


def readme_blocks() -> dict[str, str]:
    """The README's generated blocks, by name."""
    course = syllabus.binder_url()
    badges = (f"[![Open the course in Binder]({syllabus.BINDER_BADGE})]({course}) "
              f"or read it, with every output, as a web book: [{syllabus.book_url()}]"
              f"({syllabus.book_url()})\n")
    rows = ["| # | notebook | what you learn | time | open |", "|---|---|---|---|---|"]
    for item in syllabus.SYLLABUS:
        name = f"[{item.title}]({item.path()})"
        if item.has_solution:
            name += f" ([solved]({item.path(solution=True)}))"
        rows.append(
            f"| {item.number} | {name} | {item.summary} | {item.minutes} min | "
            f"[Binder]({syllabus.binder_url(item.path())}) · "
            f"[Colab]({syllabus.colab_url(item.path())}) |")
    hours = syllabus.total_minutes() / 60
    rows.append(f"| | **the whole course** | | about {hours:.0f} hours | "
                f"[Binder]({course}) |")
    return {"badges": badges, "syllabus": "\n".join(rows) + "\n"}


# --------------------------------------------------------------------- applying them


@dataclass
class Result:
    path: Path
    changed: list[str] = field(default_factory=list)  # which generated parts differ
    notes: list[str] = field(default_factory=list)  # what a human should look at


def tally_source(exercises: int) -> str:
    """The tally cell of a notebook with `exercises` graded exercises."""
    return ("# Your score in this notebook: the latest check of each exercise above.\n"
            "from course_utils.exercises import tally\n\n"
            f"tally({exercises})")


def _new_cell(kind: str, source: str, cell_id: str):
    make = nbformat.v4.new_markdown_cell if kind == "markdown" else nbformat.v4.new_code_cell
    return make(source, id=cell_id)


def _set_id(nb, cell, cell_id: str) -> None:
    for other in nb.cells:
        if other is not cell and other.get("id") == cell_id:
            other["id"] = nbformat.corpus.words.generate_corpus_id()
    cell["id"] = cell_id


def _kind(cell) -> str | None:
    return generated_kind(cell.get("id"))


def generated_kind(value) -> str | None:
    """Which generated cell a cell id names ("header", ...), in this id scheme or the
    older one shared by all notebooks ("course-header"); None for any other cell."""
    for kind in GENERATED:
        if isinstance(value, str) and (value == f"course-{kind}"
                                       or value.startswith(f"course-{kind}-")):
            return kind
    return None


def _without(nb, kind: str, keep=None) -> None:
    nb.cells = [c for c in nb.cells if c is keep or _kind(c) != kind]


def _apply_header(nb, source: str, cell_id: str, result: Result) -> None:
    first = nb.cells[0] if nb.cells else None
    if first is not None and first.cell_type == "markdown" and (
            _kind(first) == "header" or first.source.lstrip().startswith("# ")):
        if _kind(first) != "header":
            result.notes.append("the hand-written header (first cell) was replaced")
        _without(nb, "header", keep=first)
        first.source = source
        _set_id(nb, first, cell_id)
    else:
        _without(nb, "header")
        nb.cells.insert(0, _new_cell("markdown", source, cell_id))
        result.notes.append("a header cell was inserted")


_SETUP_LINE = re.compile(r"^\s*(import course_utils|course_utils\.setup\(\))\s*(#.*)?$")


def _apply_setup(nb, source: str, cell_id: str, result: Result) -> None:
    codes = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    cell = nb.cells[codes[0]] if codes else None
    if cell is not None and (_kind(cell) == "setup" or "course_utils.setup(" in cell.source):
        if _kind(cell) != "setup":
            rest = [line for line in cell.source.splitlines()
                    if line.strip() and not _SETUP_LINE.match(line)]
            if rest:  # keep the cell's other code, in a cell of its own just after
                nb.cells.insert(codes[0] + 1, nbformat.v4.new_code_cell("\n".join(rest)))
                result.notes.append("code after course_utils.setup() moved to the next "
                                    "cell: re-run the notebook (make run)")
        _without(nb, "setup", keep=cell)
        cell.source = source
        _set_id(nb, cell, cell_id)
    else:
        _without(nb, "setup")
        codes = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
        nb.cells.insert(codes[0] if codes else len(nb.cells),
                        _new_cell("code", source, cell_id))
        result.notes.append("a setup cell was inserted: re-run the notebook (make run)")


def _apply_footer(nb, source: str, cell_id: str, result: Result) -> None:
    last = nb.cells[-1]
    if _kind(last) == "footer" and last.cell_type == "markdown":
        last.source = source
        _set_id(nb, last, cell_id)
        return
    _without(nb, "footer")
    last = nb.cells[-1]
    if last.cell_type == "markdown":
        lines = last.source.splitlines()
        starts = [i for i, line in enumerate(lines) if _NAV_LINE.match(line)]
        if starts:  # a hand-written "**Next:** ..." ending: the footer replaces it
            kept = lines[:starts[0]]
            while kept and kept[-1].strip() in ("", "---"):
                kept.pop()
            result.notes.append("a hand-written **Next:** link was replaced by the footer")
            if not kept:
                last.source = source
                _set_id(nb, last, cell_id)
                return
            last.source = "\n".join(kept)
    nb.cells.append(_new_cell("markdown", source, cell_id))


def _apply_tally(nb, source: str | None, cell_id: str) -> None:
    """Put the tally cell just before the footer (none when `source` is None); an
    unchanged one keeps its outputs."""
    cell = next((c for c in nb.cells if _kind(c) == "tally" and c.cell_type == "code"), None)
    _without(nb, "tally")
    if source is None:
        return
    if cell is None:
        cell = _new_cell("code", source, cell_id)
    elif cell.source != source:
        cell.source, cell.outputs, cell.execution_count = source, [], None
    _set_id(nb, cell, cell_id)
    nb.cells.insert(len(nb.cells) - 1, cell)


def _graded_exercises(nb) -> int:
    """How many check cells the grading marks name (`exercise_cells`)."""
    return sum(c.metadata.get(exercise_cells.KEY, {}).get("role") == exercise_cells.CHECK
               for c in nb.cells)


def apply(nb, lesson: Lesson, solution: bool = False) -> Result:
    """Write the generated cells into notebook `nb` (in place), and in the solved copy of
    an exercise notebook the cells' grading marks (`exercise_cells`). Raises
    `exercise_cells.ExerciseCellError` when the exercise cells cannot be marked."""
    result = Result(Path(lesson.path(solution)))
    if nb.nbformat_minor < 5:  # cell ids need nbformat 4.5
        nb.nbformat_minor = 5
        for cell in nb.cells:
            cell.setdefault("id", nbformat.corpus.words.generate_corpus_id())
    before = _signature(nb)
    ids = {kind: cell_id(kind, lesson, solution) for kind in GENERATED}
    _apply_header(nb, header_source(lesson, solution), ids["header"], result)
    _apply_setup(nb, setup_source(lesson, solution), ids["setup"], result)
    _apply_footer(nb, footer_source(lesson, solution), ids["footer"], result)
    marks_before = [c.metadata.get(exercise_cells.KEY) for c in nb.cells]
    if solution and lesson.has_solution:  # the learner copy inherits them
        exercise_cells.mark(nb, lesson.number, ids["setup"], str(result.path))
    elif not lesson.has_solution:  # no exercise: no grading mark (say, left by a split)
        for cell in nb.cells:
            cell.metadata.pop(exercise_cells.KEY, None)
    if marks_before != [c.metadata.get(exercise_cells.KEY) for c in nb.cells]:
        result.changed.append("grading marks")
    exercises = _graded_exercises(nb) if lesson.has_solution else 0
    _apply_tally(nb, tally_source(exercises) if exercises else None, ids["tally"])
    result.changed += [f"diagram {name}" for name in diagram_cells.apply(nb)]
    after = _signature(nb)
    for name, kind in (("header", "header"), ("setup cell", "setup"), ("tally", "tally"),
                       ("footer", "footer")):
        if before.get(kind) != after.get(kind):
            result.changed.append(name)
    if [c[0] for c in before["cells"]] != [c[0] for c in after["cells"]] and not result.changed:
        result.changed.append("cell order")
    return result


def _signature(nb) -> dict:
    """What `apply` may change: the cells' ids, types and sources, and their order."""
    sig = {"cells": [(c.get("id"), c.cell_type, c.source) for c in nb.cells]}
    for position, cell in enumerate(nb.cells):
        kind = _kind(cell)
        if kind:
            sig[kind] = (position == 0 if kind == "header" else
                         position == len(nb.cells) - 1 if kind == "footer" else position,
                         cell.get("id"), cell.cell_type, cell.source)
    return sig


# ----------------------------------------------------------------- files and README


def course_files(root: Path = ROOT) -> list[tuple[Path, Lesson | None, bool]]:
    """Every notebook of the course present under root/notebooks, with its lesson (None
    for a notebook that is not in the syllabus) and whether it is a solved copy."""
    notebooks = root / syllabus.NOTEBOOK_DIR
    found = []
    for folder, solution in ((notebooks, False), (notebooks / syllabus.SOLUTIONS_DIR, True)):
        for path in sorted(folder.glob("*.ipynb")):
            found.append((path, syllabus.BY_FILE.get(path.name), solution))
    return found


def render_readme(text: str) -> str:
    blocks = readme_blocks()

    def replace(match):
        body = blocks.get(match["name"], match["body"])
        return match.group(1) + body + match.group(4)

    return README_BLOCK.sub(replace, text)


def sync(root: Path = ROOT, check: bool = False, paths: list[Path] | None = None,
         out=sys.stdout) -> list[str]:
    """Write (or with check=True only compare) the generated parts of the course's
    notebooks and README (all of them, or those in `paths`). Prints what it writes;
    returns the problems found (with check=True, every difference is one)."""
    wanted = None if paths is None else {Path(p).resolve() for p in paths}
    problems, solved_copies = [], {}
    for path, lesson, solution in course_files(root):
        if wanted is not None and path.resolve() not in wanted and not (
                solution and lesson and _learner_path(root, lesson).resolve() in wanted):
            continue
        relative = path.relative_to(root)
        if lesson is not None and lesson.has_solution and not solution:
            continue  # generated from its solved copy, below
        if lesson is None:
            problems.append(f"{relative}: not in the syllabus (course_utils/authoring/syllabus.py)")
            continue
        if solution and not lesson.has_solution:
            problems.append(f"{relative}: the syllabus says {lesson.number} has no solved "
                            "copy (has_solution=False)")
        original = nbformat.read(path, as_version=4)
        nb = copy.deepcopy(original)
        try:
            result = apply(nb, lesson, solution)
        except exercise_cells.ExerciseCellError as error:
            problems.append(str(error))
            continue
        except diagram_cells.UnknownDiagram as error:
            problems.append(f"{relative}: {error}")
            continue
        if solution:
            solved_copies[lesson.number] = nb
        if not result.changed:
            continue
        if check:
            problems.append(f"{relative}: {', '.join(result.changed)} differ(s) from the "
                            "syllabus: run `python -m course_utils nav`")
        else:
            nbformat.write(nb, path)
            print(f"wrote {relative}: {', '.join(result.changed)}", file=out)
            for note in result.notes:
                print(f"  note: {note}", file=out)
    problems += _sync_learner_copies(root, solved_copies, check, wanted, out)
    readme = root / "README.md"
    if wanted is None or readme.resolve() in wanted:
        text = readme.read_text()
        names = {m["name"] for m in README_BLOCK.finditer(text)}
        missing = sorted(set(readme_blocks()) - names)
        if missing:
            problems.append(f"README.md: no generated block(s) {missing}: add "
                            "'<!-- BEGIN generated: NAME -->' / '<!-- END generated: NAME -->'")
        new = render_readme(text)
        if new != text:
            if check:
                problems.append("README.md: the syllabus block differs from the syllabus: "
                                "run `python -m course_utils nav`")
            else:
                readme.write_text(new)
                print("wrote README.md", file=out)
    return problems


def _learner_path(root: Path, lesson: Lesson) -> Path:
    return root / lesson.path()


def _sync_learner_copies(root: Path, solved_copies: dict, check: bool, wanted,
                         out) -> list[str]:
    """Write (or compare) the learner copy of every exercise lesson from its solved
    copy (already given its generated cells, in `solved_copies`)."""
    from course_utils.authoring import learner_copy

    problems = []
    for lesson in syllabus.SYLLABUS:
        path = _learner_path(root, lesson)
        solved_path = root / lesson.path(solution=True)
        if not lesson.has_solution or (wanted is not None and path.resolve() not in wanted
                                       and solved_path.resolve() not in wanted):
            continue
        relative, solved_relative = path.relative_to(root), solved_path.relative_to(root)
        if lesson.number not in solved_copies:
            if not path.exists():
                continue  # neither copy is here: not a lesson of this checkout yet
            problems.append(f"{solved_relative}: missing; the syllabus says {lesson.number} "
                            "has a solved copy (has_solution=True), and its learner copy "
                            "is generated from it")
            continue
        existing = nbformat.read(path, as_version=4) if path.exists() else None
        try:
            generated = learner_copy.learner_notebook(
                solved_copies[lesson.number], lesson, existing, where=str(solved_relative))
        except learner_copy.MarkerError as error:
            problems.append(str(error))
            continue
        drift = (learner_copy.differences(generated, existing) if existing is not None
                 else ["missing"])
        if not drift:
            continue
        if check and existing is None:
            problems.append(f"{relative}: missing: `python -m course_utils nav` generates "
                            f"it from {solved_relative}")
        elif check:
            problems.append(f"{relative}: {', '.join(drift)} differ(s) from what "
                            f"{solved_relative} generates: run `python -m course_utils nav`")
        else:
            nbformat.write(generated, path)
            print(f"wrote {relative} from {solved_relative}: {', '.join(drift)}", file=out)
            if any(c.cell_type == "code" and c.source.strip() and c.execution_count is None
                   and not diagram_cells.name_of(c) for c in generated.cells):
                print("  note: cells whose source changed have no outputs: run the "
                      "learner copy again (make run)", file=out)
    return problems


def main(check: bool = False, paths: list[str] | None = None, root: Path = ROOT) -> int:
    problems = sync(Path(root), check=check, paths=[Path(p) for p in paths] if paths else None)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"{len(problems)} problem(s) with the notebooks or README (see above).",
              file=sys.stderr)
        return 1
    if check:
        print("notebooks and README match the syllabus.")
    return 0
