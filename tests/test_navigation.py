"""`python -m course_utils nav`: the generated header/setup/footer cells, the README
blocks, `--check`, and the setup cell: the bootstrap only on Colab (tested for real by
`make test-colab`) and one clear message where TFF cannot run."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

from course_utils.authoring import navigation
from course_utils.runtime import context as runtime
from course_utils.authoring import syllabus

ROOT = Path(__file__).resolve().parent.parent
LESSON = syllabus.lesson("02")


def hand_written_notebook(extra_setup: str = "", next_line: bool = True):
    """A notebook as an author writes it before `nav` runs."""
    v4 = nbformat.v4
    summary = "## Summary\n- one thing."
    if next_line:
        summary += "\n\n**Next:** [03 · Whatever](03_custom_variable_model.ipynb), more."
    return v4.new_notebook(cells=[
        v4.new_markdown_cell("# 02 · Old title\n\n**What you will learn**\n- stuff"),
        v4.new_markdown_cell("## Setup"),
        v4.new_code_cell("import course_utils\n\ncourse_utils.setup()" + extra_setup),
        v4.new_markdown_cell("## Body"),
        v4.new_code_cell("x = 1"),
        v4.new_markdown_cell(summary),
    ])


def sources(nb):
    return [(c.cell_type, c.source) for c in nb.cells]


def test_apply_writes_header_setup_footer_and_keeps_the_rest():
    nb = hand_written_notebook()
    result = navigation.apply(nb, LESSON)
    assert set(result.changed) == {"header", "setup cell", "footer"}
    assert nb.cells[0].source == navigation.header_source(LESSON)
    assert nb.cells[0].source.startswith("# 02 · Federated Averaging with tff.learning\n")
    assert nb.cells[2].source == navigation.setup_source(LESSON)
    assert nb.cells[-1].source == navigation.footer_source(LESSON)
    assert [c.id for c in (nb.cells[0], nb.cells[2], nb.cells[-1])] == [
        "course-header-02", "course-setup-02", "course-footer-02"]
    # the author's cells are untouched; the hand-written Next line left the summary
    assert sources(nb)[1] == ("markdown", "## Setup")
    assert sources(nb)[3:5] == [("markdown", "## Body"), ("code", "x = 1")]
    assert nb.cells[-2].source == "## Summary\n- one thing."
    nbformat.validate(nb)


def test_apply_is_idempotent():
    nb = hand_written_notebook()
    navigation.apply(nb, LESSON)
    before = sources(nb)
    assert navigation.apply(nb, LESSON).changed == []
    assert sources(nb) == before


def test_setup_cell_with_more_code_is_split_not_lost():
    nb = hand_written_notebook(extra_setup="\nimport numpy as np")
    result = navigation.apply(nb, LESSON)
    assert nb.cells[2].source == navigation.setup_source(LESSON)
    assert nb.cells[3].source == "import numpy as np"
    assert any("make run" in note for note in result.notes)


def test_missing_setup_cell_and_footer_are_added():
    v4 = nbformat.v4
    nb = v4.new_notebook(cells=[v4.new_markdown_cell("intro"), v4.new_code_cell("x = 1")])
    navigation.apply(nb, LESSON)
    assert [c.id for c in nb.cells[:1] + nb.cells[2:3] + nb.cells[-1:]] == [
        navigation.cell_id(kind, LESSON) for kind in ("header", "setup", "footer")]
    assert [c.source for c in nb.cells[1:4:2]] == ["intro", "x = 1"]


def test_generated_cell_ids_are_unique_across_the_course():
    """A book of all notebooks (and solved copies) needs ids unique across them."""
    ids = [navigation.cell_id(kind, lesson, solution)
           for lesson in syllabus.SYLLABUS for solution in (False, True)
           for kind in navigation.GENERATED]
    assert len(set(ids)) == len(ids)
    assert navigation.cell_id("footer", LESSON, solution=True) == "course-footer-02-solved"


def test_cells_with_the_old_shared_ids_get_their_notebooks_ids():
    nb = hand_written_notebook()
    navigation.apply(nb, LESSON)
    for cell, old in zip((nb.cells[0], nb.cells[2], nb.cells[-1]),
                         ("course-header", "course-setup", "course-footer")):
        cell["id"] = old  # as `nav` wrote them before ids were per notebook
    before = sources(nb)
    result = navigation.apply(nb, LESSON)
    assert set(result.changed) == {"header", "setup cell", "footer"}  # so --check fails
    assert sources(nb) == before  # the same cells, not duplicates
    assert [c.id for c in (nb.cells[0], nb.cells[2], nb.cells[-1])] == [
        "course-header-02", "course-setup-02", "course-footer-02"]
    assert navigation.apply(nb, LESSON).changed == []


def test_header_and_footer_content():
    header = navigation.header_source(LESSON)
    assert syllabus.binder_url("notebooks/" + LESSON.file) in header
    assert syllabus.colab_url("notebooks/" + LESSON.file) in header
    assert f"about {LESSON.minutes} minutes" in header
    assert "[01 · Federated EMNIST](01_federated_emnist.ipynb)" in header
    for objective in LESSON.objectives:
        assert objective in header
    footer = navigation.footer_source(LESSON)
    assert footer.rstrip().endswith(
        "**Next:** [03 · A custom VariableModel](03_custom_variable_model.ipynb)")
    assert "**Previous:** [01 · Federated EMNIST](01_federated_emnist.ipynb)" in footer
    first, last = syllabus.SYLLABUS[0], syllabus.SYLLABUS[-1]
    assert "**Previous:**" not in navigation.footer_source(first)
    assert "last notebook" in navigation.footer_source(last)


def test_solved_copy_links_work_from_the_solutions_folder():
    header = navigation.header_source(LESSON, solution=True)
    footer = navigation.footer_source(LESSON, solution=True)
    assert "(solved)" in header.splitlines()[0] and "Solved copy" in header
    assert f"(../{LESSON.file})" in header
    assert syllabus.binder_url("notebooks/solutions/" + LESSON.file) in header
    assert "(../03_custom_variable_model.ipynb)" in footer
    assert "(../../README.md#syllabus)" in footer


def test_binder_and_colab_urls():
    path = "notebooks/00_setup_and_hello_federated.ipynb"
    assert syllabus.binder_url(path) == (
        f"https://mybinder.org/v2/gh/{syllabus.REPOSITORY}/{syllabus.BRANCH}"
        f"?urlpath=lab/tree/{path}")
    assert syllabus.colab_url(path) == (
        f"https://colab.research.google.com/github/{syllabus.REPOSITORY}/blob/"
        f"{syllabus.BRANCH}/{path}")
    owner, name = syllabus.REPOSITORY.split("/")
    assert syllabus.source_url("course_utils/cli/main.py") == (
        f"https://github.com/{syllabus.REPOSITORY}/blob/{syllabus.BRANCH}/course_utils/cli/main.py")
    assert syllabus.book_url() == f"https://{owner.lower()}.github.io/{name}/"


def test_readme_links_the_published_book():
    badges = navigation.readme_blocks()["badges"]
    assert f"]({syllabus.book_url()})" in badges and syllabus.BINDER_URL in badges


def make_course(tmp_path) -> Path:
    """A small copy of the course: README and one notebook, generated."""
    (tmp_path / "notebooks" / "solutions").mkdir(parents=True)
    shutil.copy(ROOT / "README.md", tmp_path / "README.md")
    nbformat.write(hand_written_notebook(), tmp_path / "notebooks" / LESSON.file)
    solved = hand_written_notebook()  # an exercise notebook: its solved copy has a region
    solved.cells[4].source = "# BEGIN SOLUTION\nx = 1\n# END SOLUTION"
    nbformat.write(solved, tmp_path / "notebooks" / "solutions" / LESSON.file)
    assert navigation.sync(tmp_path) == []
    return tmp_path


def test_check_lists_what_drifted(tmp_path, capsys):
    root = make_course(tmp_path)
    assert navigation.main(check=True, root=root) == 0
    path = root / "notebooks" / LESSON.file
    nb = nbformat.read(path, as_version=4)
    nb.cells[0].source = nb.cells[0].source.replace("about 35 minutes", "about 5 minutes")
    nbformat.write(nb, path)
    readme = root / "README.md"
    readme.write_text(readme.read_text().replace("| 35 min |", "| 3 min |"))
    capsys.readouterr()
    assert navigation.main(check=True, root=root) == 1
    err = capsys.readouterr().err
    assert f"notebooks/{LESSON.file}: header differ" in err
    assert "README.md: the syllabus block differs" in err
    assert not any(line.startswith("notebooks/solutions") for line in err.splitlines())
    before = path.read_bytes()
    assert navigation.main(check=True, root=root) == 1 and path.read_bytes() == before
    assert navigation.main(root=root) == 0  # writes
    assert navigation.main(check=True, root=root) == 0


def test_notebook_not_in_the_syllabus_is_reported(tmp_path):
    root = make_course(tmp_path)
    nbformat.write(hand_written_notebook(), root / "notebooks" / "09_extra.ipynb")
    problems = navigation.sync(root, check=True)
    assert any("09_extra.ipynb: not in the syllabus" in p for p in problems)


def test_cli_check_passes_on_notebook_00_and_readme():
    result = subprocess.run(
        [sys.executable, "-m", "course_utils", "nav", "--check",
         "notebooks/00_setup_and_hello_federated.ipynb", "README.md"],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "match the syllabus" in result.stdout


# ------------------------------------- the setup cell: Colab, and where TFF cannot run


def run_cell(code: str):
    """exec a cell's code at top level, as a kernel does; returns the exception."""
    try:
        exec(compile(code, "<setup cell>", "exec"), {"__name__": "__main__"})
    except Exception as error:  # noqa: BLE001
        return error
    return None


def test_setup_cell_is_a_few_lines_that_run_the_bootstrap_only_on_colab_or_off_linux():
    source = navigation.setup_source(LESSON)
    assert len(source.splitlines()) <= 13
    assert 'if "google.colab" in sys.modules or sys.platform != "linux":' in source
    assert navigation.bootstrap_source() + "\")" in source  # the default SOURCE
    assert "course_utils/runtime/bootstrap.py" in source
    assert (ROOT / "course_utils/runtime/bootstrap.py").exists()
    assert source.endswith("import course_utils\n\ncourse_utils.setup()")
    assert navigation.setup_source(LESSON, solution=True) == source


def test_setup_cell_off_linux_gives_one_message(monkeypatch):
    monkeypatch.setattr(sys, "platform", "darwin")
    monkeypatch.setenv("COURSE_INSTALL_FROM", str(ROOT))  # read the bootstrap from here
    error = run_cell(navigation.setup_source(LESSON))
    assert error is not None and type(error).__name__ == "UnsupportedEnvironment"
    where = f"Python {sys.version.split()[0]} on darwin"
    assert str(error) == runtime.unsupported_environment_message(where, syllabus.BINDER_URL)
    assert error._render_traceback_() == [f"UnsupportedEnvironment: {error}"]


def test_setup_cell_runs_only_setup_on_linux_outside_colab(capsys, monkeypatch):
    monkeypatch.setenv("COURSE_INSTALL_FROM", "/nonexistent")  # would fail if used
    assert run_cell(navigation.setup_source(LESSON)) is None
    out = capsys.readouterr().out
    assert "TFF 0.87.0" in out and "Colab" not in out


def test_setup_cell_in_a_kernel_off_linux_shows_only_the_message():
    """In a real IPython kernel on an unsupported platform: one error output whose
    traceback is the message itself; no wall of import errors; Run All stops there."""
    from jupyter_client.manager import start_new_kernel

    manager, client = start_new_kernel(kernel_name="python3")
    try:
        client.execute_interactive(
            f"import os, sys; sys.platform = 'win32'; os.environ['COURSE_INSTALL_FROM'] = {str(ROOT)!r}",
            timeout=60)
        outputs = []
        reply = client.execute_interactive(
            navigation.setup_source(LESSON), timeout=120,
            output_hook=lambda msg: outputs.append(msg))
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    assert reply["content"]["status"] == "error"  # so "Run All" stops at this cell
    shown = [m["content"] for m in outputs
             if m["msg_type"] in ("stream", "error", "display_data", "execute_result")]
    assert len(shown) == 1, shown
    assert shown[0]["ename"] == "UnsupportedEnvironment"
    assert shown[0]["traceback"] == [f"UnsupportedEnvironment: {shown[0]['evalue']}"]
    assert "on win32" in shown[0]["evalue"] and "mybinder.org" in shown[0]["evalue"]


def test_every_footer_links_the_glossary_and_the_link_resolves():
    glossary = ROOT / syllabus.GLOSSARY
    assert glossary.read_text().startswith("# Glossary\n")
    for path, lesson, _ in navigation.course_files(ROOT):
        footer = nbformat.read(path, as_version=4).cells[-1]
        assert navigation.generated_kind(footer.get("id")) == "footer", path.name
        targets = re.findall(r"\[the glossary\]\(([^)]+)\)", footer.source)
        assert len(targets) == 1, f"{path}: no glossary link in the footer"
        assert (path.parent / targets[0]).resolve() == glossary.resolve()


def test_a_lesson_without_exercises_loses_stale_grading_marks():
    """A notebook split from an exercise notebook keeps no grading mark of the old one."""
    from course_utils.authoring import exercise_cells

    lesson = syllabus.lesson("09")
    assert not lesson.has_solution
    nb = hand_written_notebook()
    nb.cells[4].metadata[exercise_cells.KEY] = {"exercises": ["09.1"], "role": "needed"}
    result = navigation.apply(nb, lesson)
    assert "grading marks" in result.changed
    assert all(exercise_cells.KEY not in c.metadata for c in nb.cells)
