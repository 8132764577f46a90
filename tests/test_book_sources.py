"""The web book's sources (course_utils/authoring/book.py), without building it: its
contents follow the syllabus, its links are rewritten for the book, its staged copy
of the course differs from the repository's only in links. The built book is tested
in tests/e2e/test_book.py."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import nbformat
import pytest

from course_utils.authoring import syllabus
from course_utils.authoring import book

ROOT = Path(__file__).resolve().parent.parent
PAGES = set(book.pages())


@pytest.mark.parametrize("target, base, expected", [
    # pages of the book, anchors and other sites: unchanged
    ("02_fedavg_with_tff_learning.ipynb", "notebooks", "02_fedavg_with_tff_learning.ipynb"),
    ("../README.md#syllabus", "notebooks/solutions", "../README.md#syllabus"),
    ("#requirements", "", "#requirements"),
    ("https://mybinder.org/v2/gh/x/y/main", "", "https://mybinder.org/v2/gh/x/y/main"),
    # folders and files that have a page: that page
    ("notebooks/solutions/", "", "solved_copies.md"),
    ("solutions", "notebooks", "../solved_copies.md"),
    (book.RUN_SUMMARY, "", "reference.md#run-summary"),
    # any other file of the repository: on GitHub
    ("course_utils/authoring/syllabus.py", "", syllabus.source_url("course_utils/authoring/syllabus.py")),
    ("../course_utils/fedavg.py#L10", "notebooks",
     syllabus.source_url("course_utils/fedavg.py") + "#L10"),
    ("tools/", "", syllabus.source_url("tools")),
    # a file that does not exist stays, for the build (warnings are errors) to report
    ("nowhere.py", "", "nowhere.py"),
])
def test_link_targets_in_the_book(target, base, expected):
    assert book.book_target(target, base, PAGES) == expected


def test_local_images_stay_local_and_are_copied(tmp_path):
    (tmp_path / "notebooks" / "images").mkdir(parents=True)
    (tmp_path / "notebooks" / "images" / "round.png").write_bytes(b"png")
    assets = set()
    assert book.book_target("images/round.png", "notebooks", PAGES, tmp_path,
                            assets) == "images/round.png"
    assert assets == {"notebooks/images/round.png"}


def test_links_in_code_blocks_are_left_alone():
    markdown = ("See [the syllabus](course_utils/authoring/syllabus.py).\n```markdown\n"
                "[example](course_utils/authoring/syllabus.py)\n```\n[again](course_utils/cli/main.py)")
    rewritten = book.rewrite_links(markdown, "", PAGES).split("\n")
    assert rewritten[0] == f"See [the syllabus]({syllabus.source_url('course_utils/authoring/syllabus.py')})."
    assert rewritten[2] == "[example](course_utils/authoring/syllabus.py)"
    assert rewritten[4] == f"[again]({syllabus.source_url('course_utils/cli/main.py')})"


def test_a_lesson_added_to_the_syllabus_appears_in_the_book(monkeypatch):
    new = dataclasses.replace(syllabus.SYLLABUS[-1], number="09", file="09_new.ipynb",
                              title="New", has_solution=True)
    monkeypatch.setattr(syllabus, "SYLLABUS", syllabus.SYLLABUS + (new,))
    parts = {part["caption"]: [entry["file"] for entry in part["chapters"]]
             for part in book.table_of_contents()["parts"]}
    assert parts["The course"][-1] == "notebooks/09_new"
    assert parts["The course"] == [f"notebooks/{lesson.file[:-6]}"
                                   for lesson in syllabus.SYLLABUS]
    assert parts["Solved copies"][0] == "solved_copies"
    assert parts["Solved copies"][-1] == "notebooks/solutions/09_new"
    assert parts["Reference"] == ["notebooks/GLOSSARY"]
    assert parts["For instructors"] == ["reference", "instructors/benchmarks_and_workers",
                                       "GRADING"]
    assert "09 · New (solved)" in book.solved_index_source()


def test_a_syllabus_file_that_is_missing_stops_the_build(tmp_path):
    (tmp_path / "README.md").write_text("# A course\n")
    with pytest.raises(book.BookError, match="00_setup_and_hello_federated.ipynb"):
        book.stage(tmp_path / "src", root=tmp_path)


def test_the_run_summary_comes_from_one_place(tmp_path, monkeypatch):
    summary = tmp_path / "benchmarks" / "RUN_SUMMARY.md"
    summary.parent.mkdir()
    summary.write_text("# Last run\n\n| notebooks/05_fedavg_from_scratch.ipynb | 27.6 | 982 |\n")
    monkeypatch.setattr(book, "RUN_SUMMARY", "benchmarks/RUN_SUMMARY.md")
    section = book.run_summary_section(tmp_path)
    assert "| [05 · FedAvg from scratch](notebooks/05_fedavg_from_scratch.ipynb) | 27.6 |" \
        in section
    assert "# Last run" not in section
    assert syllabus.source_url("benchmarks/RUN_SUMMARY.md") in section
    summary.unlink()
    assert "make run" in book.run_summary_section(tmp_path)


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    """The course staged as the book builds it, with a stand-in for MathJax."""
    mathjax = tmp_path_factory.mktemp("mathjax")
    for name in ("tex-mml-chtml.js", "tex-svg.js", "output/chtml/fonts/tex.js"):
        (mathjax / name).parent.mkdir(parents=True, exist_ok=True)
        (mathjax / name).write_text("//")
    src = tmp_path_factory.mktemp("book") / "src"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(book, "MATHJAX_DIR", mathjax)
        book.stage(src)
    return src


def test_staged_notebooks_differ_only_in_links(staged):
    for page in [*book.lesson_pages(), *book.solved_pages()]:
        original = nbformat.read(ROOT / page, as_version=4)
        copy = nbformat.read(staged / page, as_version=4)
        assert len(copy.cells) == len(original.cells)
        for before, after in zip(original.cells, copy.cells):
            if before.cell_type == "markdown":
                assert after.source == book.rewrite_links(
                    before.source, str(Path(page).parent), PAGES)
            else:
                assert after == before


def test_staged_config(staged):
    config = json.loads((staged / "_config.yml").read_text())
    assert config["execute"]["execute_notebooks"] == "off"
    assert config["only_build_toc_files"] is True
    assert config["repository"]["url"] == syllabus.source_url()
    sphinx = config["sphinx"]["config"]
    assert sphinx["nb_ipywidgets_js"] == {}  # never require.js/widgets from a CDN
    assert sphinx["html_theme_options"]["navbar_persistent"] == []  # one search box
    assert json.loads((staged / "_toc.yml").read_text()) == book.table_of_contents()
    # MathJax is served by the site, from a folder Jupyter Book does not scan for .js
    assert not (staged / "_static").exists()
    static = staged / book.STATIC
    assert (static / book.MATHJAX).exists() and (static / "book.css").exists()
    assert (static / "mathjax/output/chtml/fonts/tex.js").exists()
    assert not (static / "mathjax/tex-svg.js").exists()  # unused components left out


def test_staged_pages(staged):
    readme = (staged / "README.md").read_text()
    assert "](solved_copies.md)" in readme and "](reference.md#run-summary)" in readme
    assert "](notebooks/solutions/)" not in readme
    reference = (staged / book.REFERENCE).read_text()
    for heading in ("## Run summary", "## The command line", "## Benchmarks"):
        assert heading in reference
    for command in ("doctor", "data", "nav", "train", "grade"):
        assert f"$ python -m course_utils {command} --help" in reference
    for script in sorted((ROOT / "benchmarks").glob("*.py")):
        assert f"### `benchmarks/{script.name}`" in reference
    assert "](GRADING.md)" in reference and "](GRADING.md)" in readme
    glossary = (staged / book.GLOSSARY).read_text()  # a page, its links unchanged
    assert glossary == (ROOT / book.GLOSSARY).read_text()
    grading = (staged / book.GRADING).read_text()
    assert "## Compared with nbgrader and otter-grader" in grading
    assert "](deploy/worker/Dockerfile)" not in grading  # a file: on GitHub
