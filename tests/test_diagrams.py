"""The course's diagrams (course_utils/diagrams.py) and their cells in the notebooks
(course_utils/authoring/diagram_cells.py): each is drawn the same every time, nav writes
a diagram cell's output, and `nav --check` reports a stored output that no longer
matches its drawing."""

from __future__ import annotations

import base64
import dataclasses
import shutil
from pathlib import Path

import nbformat
import pytest

from course_utils import diagrams
from course_utils.authoring import diagram_cells, navigation, syllabus

ROOT = Path(__file__).resolve().parent.parent
LESSON = syllabus.lesson("02")  # an exercise lesson: a solved copy and a learner copy


@pytest.mark.parametrize("name", sorted(diagrams.DIAGRAMS))
def test_each_diagram_is_a_png_an_svg_and_alt_text_drawn_the_same_every_time(name):
    data, metadata = diagrams.draw(name).mimebundle()
    png = base64.b64decode(data["image/png"])
    assert png.startswith(b"\x89PNG")
    width = int.from_bytes(png[16:20], "big")
    assert width == diagrams.WIDTH_IN * diagrams.DPI  # readable at 100%: ~990 pixels
    assert data["image/svg+xml"].lstrip().startswith(("<?xml", "<svg"))
    alt = diagrams.draw(name).alt
    assert len(alt) > 150 and data["text/plain"] == alt == metadata["image/png"]["alt"]
    redrawn = diagrams._render.__wrapped__(diagrams.draw(name))  # not the cached drawing
    assert redrawn == (data, metadata)  # no dates, no random ids


def test_an_unknown_diagram_names_the_choices():
    with pytest.raises(ValueError, match="fedavg_round"):
        diagrams.draw("fedavg")


def course_with_a_diagram(tmp_path) -> Path:
    """README and notebook 02 (solved and learner copy) with one diagram cell."""
    (tmp_path / "notebooks" / "solutions").mkdir(parents=True)
    shutil.copy(ROOT / "README.md", tmp_path / "README.md")
    v4 = nbformat.v4
    solved = v4.new_notebook(cells=[
        v4.new_markdown_cell("# 02 · title"),
        v4.new_code_cell("import course_utils\n\ncourse_utils.setup()"),
        v4.new_code_cell('course_utils.diagrams.draw("fedavg_round")'),
        v4.new_code_cell("# BEGIN SOLUTION\nx = 1\n# END SOLUTION"),
    ])
    nbformat.write(solved, tmp_path / "notebooks" / "solutions" / LESSON.file)
    assert navigation.sync(tmp_path) == []
    return tmp_path


def diagram_cell(path: Path):
    nb = nbformat.read(path, as_version=4)
    return nb, next(c for c in nb.cells if diagram_cells.name_of(c))


def test_nav_writes_the_diagram_into_both_copies(tmp_path):
    root = course_with_a_diagram(tmp_path)
    expected = diagram_cells.expected_output("fedavg_round")
    for path in (root / LESSON.path(), root / LESSON.path(solution=True)):
        _, cell = diagram_cell(path)
        assert [o.data for o in cell.outputs] == [expected.data]
        assert cell.execution_count  # nbval fails a cell with outputs and no count
        assert "remove-input" in cell.metadata.tags  # the book shows only the picture
        assert cell.metadata.mystnb.image.alt == diagrams.draw("fedavg_round").alt
    assert navigation.sync(root, check=True) == []


def test_check_reports_a_drawing_changed_in_the_module(tmp_path, monkeypatch):
    root = course_with_a_diagram(tmp_path)
    changed = dataclasses.replace(diagrams.DIAGRAMS["fedavg_round"], height_in=5.0)
    monkeypatch.setitem(diagrams.DIAGRAMS, "fedavg_round", changed)
    problems = navigation.sync(root, check=True)
    assert len(problems) == 2 and all("diagram fedavg_round" in p for p in problems)
    assert any(p.startswith(f"notebooks/{LESSON.file}") for p in problems)
    assert navigation.sync(root) == []  # writes both copies
    assert navigation.sync(root, check=True) == []


def test_check_reports_an_output_edited_in_a_notebook(tmp_path):
    root = course_with_a_diagram(tmp_path)
    path = root / LESSON.path()  # the learner copy, generated: it must not drift either
    nb, cell = diagram_cell(path)
    cell.outputs[0].data["text/plain"] = "an old alt text"
    nbformat.write(nb, path)
    assert navigation.sync(root, check=True) == [
        f"notebooks/{LESSON.file}: diagram fedavg_round differ(s) from what "
        f"notebooks/solutions/{LESSON.file} generates: run `python -m course_utils nav`"]


def test_running_the_cell_stores_what_nav_writes():
    """The output a kernel stores (an execute_result of the cell's value) matches."""
    from IPython.core.formatters import DisplayFormatter

    cell = nbformat.v4.new_code_cell('course_utils.diagrams.draw("round_split")')
    nb = nbformat.v4.new_notebook(cells=[cell])
    assert diagram_cells.apply(nb) == ["round_split"]  # nav writes a display_data
    data, metadata = DisplayFormatter().format(diagrams.draw("round_split"))
    stored = nbformat.v4.new_output("execute_result", data=data, metadata=metadata,
                                    execution_count=7)
    cell.outputs = [stored]  # what running the notebook leaves
    assert diagram_cells.apply(nb) == [] and cell.outputs == [stored]


def test_every_diagram_cell_of_the_course_matches_its_drawing():
    found = {}
    for path, _, _ in navigation.course_files(ROOT):
        nb = nbformat.read(path, as_version=4)
        found.update({diagram_cells.name_of(c): path.name for c in nb.cells
                      if diagram_cells.name_of(c)})
        assert diagram_cells.stale(nb) == [], f"{path.name}: run `python -m course_utils nav`"
    assert set(found) == set(diagrams.DIAGRAMS)  # each diagram is shown, and exists


def test_a_cell_naming_no_diagram_is_reported_with_the_names_there_are(tmp_path):
    root = course_with_a_diagram(tmp_path)
    path = root / LESSON.path(solution=True)
    nb, cell = diagram_cell(path)
    cell.source = 'course_utils.diagrams.draw("fedavg_rounds")'
    nbformat.write(nb, path)
    problems = navigation.sync(root, check=True)
    assert problems[0].startswith(f"notebooks/solutions/{LESSON.file}: course_utils.diagrams"
                                  '.draw("fedavg_rounds"): no such diagram; there are '
                                  "fedavg_round, ")


@pytest.mark.parametrize("name", sorted(diagrams.DIAGRAMS))
def test_the_svg_has_no_private_use_characters(name):
    """The web book shows the SVG, whose text the browser draws with its own fonts:
    a character from Unicode's private use area (where matplotlib's mathtext puts
    some symbols, e.g. a calligraphic N) shows as an empty box there."""
    svg = diagrams.draw(name).mimebundle()[0]["image/svg+xml"]
    private = sorted({f"U+{ord(c):04X}" for c in svg if 0xE000 <= ord(c) <= 0xF8FF})
    assert not private, f"diagram {name}: characters a browser cannot draw: {private}"
