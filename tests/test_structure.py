"""The course's files have the shape the syllabus says, for every notebook present.

Each notebook in notebooks/ and notebooks/solutions/ must: be in the syllabus; have the
header, setup cell and footer that `python -m course_utils nav` writes; link only to
files that exist (relative links, and the Binder/Colab badges' notebooks); store no
stderr, error output, traceback or widget state; be under 2 MB; have execution counts
1, 2, 3, ... in order (as a top-to-bottom run leaves them). The README's generated
blocks are current and its links resolve.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import nbformat
import pytest

from course_utils.authoring import navigation
from course_utils.runtime import context as runtime
from course_utils.authoring import syllabus

ROOT = Path(__file__).resolve().parent.parent
MAX_BYTES = 2 * 2**20
NOTEBOOKS = navigation.course_files(ROOT)
LINK = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)|(?:href|src)=\"([^\"]+)\"")
TRACEBACK_MARKERS = ("Traceback (most recent call last)", "\x1b[0;31m-----",
                     "---------------------------------------------------------------------------")


def _id(item):
    return str(item[0].relative_to(ROOT / "notebooks"))


def links(markdown: str) -> list[str]:
    return [a or b for a, b in LINK.findall(markdown)]


def missing_target(target: str, base: Path) -> str | None:
    """The repository path a link points to, when that file does not exist."""
    url = urlparse(target)
    if url.scheme in ("http", "https"):
        slug = f"/{syllabus.REPOSITORY}/"
        if url.netloc == "mybinder.org" and slug in url.path:
            path = parse_qs(url.query).get("urlpath", [""])[0].removeprefix("lab/tree/")
        elif url.netloc == "colab.research.google.com" and slug in url.path:
            path = url.path.split(f"/blob/{syllabus.BRANCH}/", 1)[1]
        else:
            return None  # an external page (a badge image, documentation): not checked
        return None if (ROOT / path).exists() else path
    if url.scheme or target.startswith("#"):
        return None  # mailto:, data:, an anchor in this document
    path = (base / url.path).resolve()
    return None if path.exists() else str(path.relative_to(ROOT) if ROOT in path.parents
                                          else path)


def test_course_has_notebooks():
    assert NOTEBOOKS, "no notebooks found in notebooks/"


@pytest.mark.parametrize("item", NOTEBOOKS, ids=_id)
def test_notebook_is_in_the_syllabus(item):
    path, lesson, solution = item
    assert lesson is not None, f"{path.name} is not in course_utils/authoring/syllabus.py"
    if solution:
        assert lesson.has_solution, f"syllabus: set has_solution=True for {lesson.number}"


@pytest.mark.parametrize("item", NOTEBOOKS, ids=_id)
def test_header_setup_footer_match_the_generator(item):
    path, lesson, solution = item
    if lesson is None:
        pytest.skip("not in the syllabus (reported by test_notebook_is_in_the_syllabus)")
    nb = nbformat.read(path, as_version=4)
    generated = copy.deepcopy(nb)
    result = navigation.apply(generated, lesson, solution)
    assert not result.changed, (
        f"{path.name}: {', '.join(result.changed)} differ(s) from what "
        "`python -m course_utils nav` writes: run it (and `make run` if it says so)")
    assert nb.cells[0].source == navigation.header_source(lesson, solution)
    assert nb.cells[-1].source == navigation.footer_source(lesson, solution)


@pytest.mark.parametrize("item", NOTEBOOKS, ids=_id)
def test_first_code_cell_is_the_setup_cell(item):
    path, lesson, solution = item
    nb = nbformat.read(path, as_version=4)
    codes = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert codes, f"{path.name} has no code cell"
    assert "import course_utils" in codes[0].source, f"{path.name} lacks the setup cell"
    assert "course_utils.setup()" in codes[0].source, f"{path.name} lacks the setup cell"
    if lesson is not None:
        assert codes[0].source == navigation.setup_source(lesson, solution)


@pytest.mark.parametrize("item", NOTEBOOKS, ids=_id)
def test_links_and_badges_point_to_existing_files(item):
    path, _, _ = item
    nb = nbformat.read(path, as_version=4)
    broken = [(target, missing) for cell in nb.cells if cell.cell_type == "markdown"
              for target in links(cell.source)
              if (missing := missing_target(target, path.parent))]
    assert not broken, f"{path.name} links to files that do not exist: {broken}"


@pytest.mark.parametrize("item", NOTEBOOKS, ids=_id)
def test_no_stderr_errors_or_tracebacks_stored(item):
    path, _, _ = item
    nb = nbformat.read(path, as_version=4)
    bad = []
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            kind = output.output_type
            if kind == "error":
                bad.append((index, f"error output {output.get('ename')}"))
            elif kind == "stream" and output.name == "stderr":
                bad.append((index, f"stderr: {output.text[:120]!r}"))
            texts = [output.get("text", "")] + [
                v if isinstance(v, str) else "".join(v)
                for k, v in output.get("data", {}).items() if k.startswith("text/")]
            if any(marker in text for text in texts for marker in TRACEBACK_MARKERS):
                bad.append((index, "a traceback"))
    assert not bad, (f"{path.name} stores (cell index, what): {bad}; silence it or catch "
                     "the exception and print its message, then `make run`")


MACHINE_PATH = re.compile(r"(?<![\w.~])(/tmp/|/root/|/home/|/work/|/var/folders/|[A-Z]:\\Users\\)")


def _output_texts(cell) -> list[str]:
    texts = []
    for output in cell.get("outputs", []):
        texts.append(output.get("text", ""))
        texts += [v if isinstance(v, str) else "".join(v)
                  for k, v in output.get("data", {}).items() if k.startswith("text/")]
    return texts


@pytest.mark.parametrize("item", NOTEBOOKS, ids=_id)
def test_no_output_shows_a_machine_path(item):
    """Stored outputs are what every learner gets: no temporary or home directory."""
    path, _, _ = item
    nb = nbformat.read(path, as_version=4)
    found = [(index, match.group(0)) for index, cell in enumerate(nb.cells)
             for text in _output_texts(cell) for match in MACHINE_PATH.finditer(text)]
    assert not found, (f"{path.name} shows machine paths in its outputs (cell index, "
                       f"path): {found[:5]}; print what the data is, not where (then "
                       "`make run`)")


@pytest.mark.parametrize("item", NOTEBOOKS, ids=_id)
def test_no_widget_state_stored(item):
    path, _, _ = item
    nb = nbformat.read(path, as_version=4)
    assert "widgets" not in nb.metadata, (
        f"{path.name} stores widget state (metadata.widgets): the web book would load "
        "widget JavaScript from a CDN for it. Regenerate the outputs with `make run` "
        "(tools/run_notebooks.py drops it)")


@pytest.mark.parametrize("item", NOTEBOOKS, ids=_id)
def test_notebook_is_under_2_mb(item):
    path, _, _ = item
    size = path.stat().st_size
    assert size < MAX_BYTES, f"{path.name} is {size / 2**20:.1f} MB (limit 2 MB): " \
                             "smaller figures, fewer printed rows"


@pytest.mark.parametrize("item", NOTEBOOKS, ids=_id)
def test_execution_counts_are_sequential(item):
    path, _, _ = item
    nb = nbformat.read(path, as_version=4)
    codes = [cell for cell in nb.cells if cell.cell_type == "code" and cell.source.strip()]
    counts = [cell.execution_count for cell in codes]
    assert counts == list(range(1, len(codes) + 1)), (
        f"{path.name}: execution counts {counts} are not 1..{len(codes)}: store outputs "
        "of one top-to-bottom run (`make run`)")
    for cell in codes:
        for output in cell.outputs:
            if output.output_type == "execute_result":
                assert output.execution_count == cell.execution_count


def test_readme_blocks_match_the_syllabus():
    text = (ROOT / "README.md").read_text()
    names = {match["name"] for match in navigation.README_BLOCK.finditer(text)}
    assert set(navigation.readme_blocks()) <= names, "README lacks a generated block"
    assert navigation.render_readme(text) == text, \
        "README's generated blocks are stale: run `python -m course_utils nav`"


def test_readme_links_point_to_existing_files():
    text = (ROOT / "README.md").read_text()
    broken = [(t, m) for t in links(text) if (m := missing_target(t, ROOT))]
    assert not broken, f"README.md links to files that do not exist: {broken}"


def test_syllabus_is_consistent():
    numbers = [lesson.number for lesson in syllabus.SYLLABUS]
    # In order, from 00, each number once, none missing.
    assert numbers == [f"{i:02d}" for i in range(len(numbers))]
    assert all(len(n) == 2 and n.isdigit() for n in numbers)
    for lesson in syllabus.SYLLABUS:
        assert lesson.file.startswith(lesson.number + "_") and lesson.file.endswith(".ipynb")
        assert lesson.objectives and lesson.minutes > 0 and lesson.title
        assert all(p < lesson.number for p in lesson.prerequisites)
        assert "|" not in lesson.summary + lesson.title  # README table cells
    assert re.fullmatch(r"[\w.-]+/[\w.-]+", syllabus.REPOSITORY)
    assert runtime.BINDER_URL == syllabus.BINDER_URL
    assert syllabus.REPOSITORY in runtime.BINDER_URL
