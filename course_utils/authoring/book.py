"""The course as a static web book, built from the notebooks' stored outputs (nothing
is executed) with no network: `make book`, or

    python -m course_utils.authoring.book [--out build/book] [--jupyter-book PATH]

which stages the book's sources into OUT/src and builds the site into OUT/_build/html:

- its table of contents follows `syllabus.SYLLABUS` (a lesson added there appears in
  the book with no edit here). Parts: the course (README as the landing page, then
  every lesson), the glossary, the solved copies, and for instructors a reference page
  (the run summary, the command line, the benchmarks), the instructors' notebook
  (benchmarks, TFF workers, crash recovery) and GRADING.md (grading submissions);
- links are rewritten in the staged copies only: links between pages stay (the book
  resolves them), a link to a folder or file that has a page goes to that page, and
  a link to any other file of the repository goes to it on GitHub
  (`syllabus.source_url`);
- MathJax is served by the site itself (book/package.json, `npm ci --prefix book`),
  so a reader's browser asks nothing of other hosts except the Binder/Colab badges.

The build runs with warnings as errors, so a link the book cannot resolve fails it.

Why Jupyter Book 1 (pinned in requirements-book.txt): Jupyter Book 2 (mystmd) fetches
its HTML theme from a web service at build time and the theme is not on npm, so it
cannot build offline. Moving to Jupyter Book 2 once its theme can be vendored: pin
`jupyter-book>=2` in requirements-book.txt, replace `write_config` with one writing a
`myst.yml` (the same toc as `table_of_contents`, `project.github` from
syllabus.REPOSITORY, the theme as a local folder), and call `jupyter-book build --html`
in `run_jupyter_book`. Staging and link rewriting (everything else here) stay.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import posixpath
import re
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import nbformat

from course_utils.authoring import syllabus

ROOT = Path(__file__).resolve().parents[2]
BUILD_DIR = ROOT / "build" / "book"
ASSETS_DIR = ROOT / "book"  # the book's own files: book.css, package.json (MathJax)
MATHJAX_DIR = ASSETS_DIR / "node_modules" / "mathjax" / "es5"
JUPYTER_BOOK = ROOT / ".venv-book" / "bin" / "jupyter-book"

# The run summary that tools/run_notebooks.py writes (the reference page shows it).
RUN_SUMMARY = "benchmarks/RUN_SUMMARY.md"
BENCHMARK_DIR = "benchmarks"

# Pages generated here, by their path in the staged source (from the repository root).
SOLVED_INDEX = "solved_copies.md"
REFERENCE = "reference.md"
LANDING = "README.md"
GRADING = "GRADING.md"  # a repository page of the instructors' part
GLOSSARY = syllabus.GLOSSARY  # a page of the course, after the lessons
# The instructors' notebook: benchmarks, the command line, TFF workers (a repository page).
INSTRUCTORS = "instructors/benchmarks_and_workers.ipynb"
# Folders and files of the repository that have a page in the book: a link to one goes
# there instead of to GitHub.
ALIASES = {
    f"{syllabus.NOTEBOOK_DIR}/{syllabus.SOLUTIONS_DIR}": SOLVED_INDEX,
    syllabus.NOTEBOOK_DIR: f"{LANDING}#syllabus",
    RUN_SUMMARY: f"{REFERENCE}#run-summary",
    BENCHMARK_DIR: f"{REFERENCE}#benchmarks",
}
# Static files the site serves itself. Not `_static`: Jupyter Book adds every .js file
# under a `_static` folder to every page (all of MathJax's components, here).
STATIC = "book_static"
MATHJAX = "mathjax/tex-mml-chtml.js"  # in STATIC; the component Sphinx 7 uses by default
MATHJAX_UNUSED = re.compile(r"^(mml-|tex-(?!mml-chtml)|latest|node-main|startup|core|loader)")
IMAGE = re.compile(r"\.(png|jpe?g|gif|svg|webp)$", re.I)
MD_LINK = re.compile(r"(\]\(\s*<?)([^)\s>]+)(>?(?:\s+\"[^\"]*\")?\s*\))")
FENCE = re.compile(r"^\s*(```|~~~)")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


class BookError(Exception):
    """The book cannot be built; the message says what to do."""


# ------------------------------------------------------------------- what is in it


def lesson_pages() -> list[str]:
    return [lesson.path() for lesson in syllabus.SYLLABUS]


def solved_pages() -> list[str]:
    return [lesson.path(solution=True) for lesson in syllabus.SYLLABUS if lesson.has_solution]


def pages() -> list[str]:
    """Every page of the book, in reading order (paths from the repository root)."""
    return [LANDING, *lesson_pages(), GLOSSARY, SOLVED_INDEX, *solved_pages(), REFERENCE,
            INSTRUCTORS,
            GRADING]


def table_of_contents() -> dict:
    """The `_toc.yml` of Jupyter Book 1 (sphinx-external-toc's jb-book format)."""
    def entry(path: str) -> dict:
        return {"file": posixpath.splitext(path)[0]}

    return {"format": "jb-book", "root": entry(LANDING)["file"], "parts": [
        {"caption": "The course", "chapters": [entry(p) for p in lesson_pages()]},
        {"caption": "Reference", "chapters": [entry(GLOSSARY)]},
        {"caption": "Solved copies",
         "chapters": [entry(SOLVED_INDEX)] + [entry(p) for p in solved_pages()]},
        {"caption": "For instructors",
         "chapters": [entry(REFERENCE), entry(INSTRUCTORS), entry(GRADING)]},
    ]}


def course_title(root: Path = ROOT) -> str:
    """The README's first heading."""
    for line in (root / LANDING).read_text().splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    raise BookError(f"{root / LANDING} has no '# Title' line")


def config(root: Path = ROOT) -> dict:
    """The `_config.yml` of Jupyter Book 1."""
    return {
        "title": course_title(root),
        "author": "",
        "only_build_toc_files": True,
        "exclude_patterns": ["_build", "**.ipynb_checkpoints"],
        "execute": {"execute_notebooks": "off"},  # the stored outputs, as committed
        "repository": {"url": syllabus.source_url(), "branch": syllabus.BRANCH,
                       "path_to_book": ""},  # src/ mirrors the repository's layout
        "launch_buttons": {"notebook_interface": "jupyterlab",
                           "binderhub_url": "https://mybinder.org",
                           "colab_url": "https://colab.research.google.com",
                           "thebe": False},
        "html": {"use_repository_button": True, "home_page_in_navbar": True,
                 "use_multitoc_numbering": False, "baseurl": syllabus.book_url()},
        "sphinx": {"recursive_update": True, "config": {  # merged into Jupyter Book's
            "html_show_copyright": False,
            "html_static_path": [STATIC],
            "html_css_files": ["book.css"],
            # One search box, the sidebar's. pydata-sphinx-theme 0.17 adds a second one
            # to the page's top bar unless this is set (sphinx-book-theme 1.3 does not).
            "html_theme_options": {"navbar_persistent": []},
            "mathjax_path": MATHJAX,
            "nb_merge_streams": True,  # one block per cell for consecutive prints
            "nb_ipywidgets_js": {},  # never load require.js or widgets from a CDN
            "myst_heading_anchors": 3,  # README.md#syllabus etc. resolve
        }},
    }


# ------------------------------------------------------------------- link rewriting


def book_target(target: str, base: str, book_pages: set[str], root: Path = ROOT,
                assets: set[str] | None = None) -> str:
    """Where link `target`, written in a file in repository folder `base`, points in
    the book: unchanged for a page of the book (or an anchor, or an outside URL), the
    page of a folder or file that has one (ALIASES), else the file on GitHub. A local
    image stays local and is added to `assets` (to be copied)."""
    url = urlsplit(target)
    if url.scheme or url.netloc or not url.path:
        return target
    path = posixpath.normpath(posixpath.join(base, url.path))
    if path.startswith("../") or path == "..":
        return target  # outside the repository: left for the build to report
    fragment = f"#{url.fragment}" if url.fragment else ""
    if path in book_pages:
        return target
    if path in ALIASES:
        page, _, anchor = ALIASES[path].partition("#")
        relative = posixpath.relpath(page, base or ".")
        return relative + (fragment or (f"#{anchor}" if anchor else ""))
    if (root / path).exists():
        if IMAGE.search(path) and assets is not None:
            assets.add(path)
            return target
        return syllabus.source_url(path) + fragment
    return target


def rewrite_links(markdown: str, base: str, book_pages: set[str], root: Path = ROOT,
                  assets: set[str] | None = None) -> str:
    """`markdown` with every link target passed through `book_target` (not inside
    fenced code blocks)."""
    lines, fenced = [], False
    for line in markdown.split("\n"):
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            line = MD_LINK.sub(lambda m: m.group(1) + book_target(
                m.group(2), base, book_pages, root, assets) + m.group(3), line)
        lines.append(line)
    return "\n".join(lines)


# ------------------------------------------------------------------ generated pages


def solved_index_source() -> str:
    lines = ["# Solved copies", "",
             "Every exercise of these notebooks is solved, with the outputs of a full "
             "run. Try the exercises yourself first: each solved copy links to its "
             "exercise notebook.", ""]
    for lesson in syllabus.SYLLABUS:
        if lesson.has_solution:
            lines.append(f"- [{lesson.solved_label}]({lesson.path(solution=True)}), "
                         f"the exercises: [{lesson.label}]({lesson.path()})")
    return "\n".join(lines) + "\n"


def run_summary_section(root: Path = ROOT) -> str:
    path = root / RUN_SUMMARY
    if not path.exists():
        return (f"No run summary yet: `make run` writes `{RUN_SUMMARY}` when it "
                "regenerates the stored outputs.\n")
    labels = {lesson.path(solved): lesson.solved_label if solved else lesson.label
              for lesson in syllabus.SYLLABUS for solved in (False, True)}
    body = []
    for line in path.read_text().splitlines():
        if not line.startswith("# "):  # its title: this section has its own
            first = line.split(" | ", 1)[0].removeprefix("| ")
            if first in labels:  # a notebook's row: its name links to its page
                line = line.replace(first, f"[{labels[first]}]({first})", 1)
            body.append(line)
    source = syllabus.source_url(RUN_SUMMARY)
    return (f"The outputs this book shows, from [`{RUN_SUMMARY}`]({source}).\n"
            + "\n".join(body).rstrip() + "\n")


@contextmanager
def _terminal_width(columns: int):
    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(columns)
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("COLUMNS")
        else:
            os.environ["COLUMNS"] = saved


def cli_section() -> str:
    """`python -m course_utils --help` and each command's --help, from the parser."""
    from course_utils.cli import main as cli  # imports the algorithm registry (TFF): only here

    with _terminal_width(88):
        parser = cli.build_parser()
        commands = next(action for action in parser._actions
                        if isinstance(action, argparse._SubParsersAction))
        summaries = {action.dest: action.help for action in commands._choices_actions}
        helps = [(None, "python -m course_utils --help", parser.format_help())]
        helps += [(f"{name}: {summaries.get(name, '')}".rstrip(": "),
                   f"python -m course_utils {name} --help", command.format_help())
                  for name, command in commands.choices.items()]
    source = syllabus.source_url("course_utils/cli/main.py")
    lines = ["The course's terminal entry point, for experiments and checks outside the "
             f"notebooks ([`course_utils/cli/main.py`]({source})). What `--help` prints:", ""]
    for title, command, text in helps:
        lines += ([f"### {title}", ""] if title else []) + [
            "```text", f"$ {command}", text.rstrip(), "```", ""]
    return "\n".join(lines)


def benchmarks_section(root: Path = ROOT) -> str:
    """Each benchmark script's docstring (how to run it, what it measures) and the
    results it stored."""
    folder = root / BENCHMARK_DIR
    lines = ["Timings the README's figures come from. Each script says how to run it; "
             "timings on a shared machine are noisy.", ""]
    for script in sorted(folder.glob("*.py")):
        path = f"{BENCHMARK_DIR}/{script.name}"
        doc = ast.get_docstring(ast.parse(script.read_text())) or "(no description)"
        lines += [f"### `{path}`", "", f"[Source]({syllabus.source_url(path)})", "",
                  "```text", doc.rstrip(), "```", ""]
    results = sorted(p for p in (folder / "results").glob("*") if p.is_file())
    if results:
        lines += ["### Stored results", ""]
        for result in results:
            path = f"{BENCHMARK_DIR}/results/{result.name}"
            lines.append(f"- [`{path}`]({syllabus.source_url(path)})"
                         + _result_note(result))
        lines.append("")
    return "\n".join(lines)


def _result_note(path: Path) -> str:
    try:
        data = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError):
        return ""
    if isinstance(data, dict) and data.get("command"):
        return f": `{data['command']}`" + (f", {data['date']}" if data.get("date") else "")
    return ""


def reference_source(root: Path = ROOT) -> str:
    return "\n".join([
        "# For instructors", "",
        "What an instructor looks up: how long the notebooks run and how much memory "
        "they need, the command line, and the benchmarks. Setting up, testing and "
        "regenerating the outputs are in [the README](README.md); grading learners' "
        f"notebooks in [Grading learners' notebooks]({GRADING}).", "",
        "## Run summary", "", run_summary_section(root),
        "## The command line", "", cli_section(),
        "## Benchmarks", "", benchmarks_section(root)])


# ------------------------------------------------------------------------- staging


def _missing_pages(root: Path) -> list[str]:
    return [p for p in [LANDING, *lesson_pages(), GLOSSARY, *solved_pages(), INSTRUCTORS,
                        GRADING]
            if not (root / p).exists()]


def stage(src: Path, root: Path = ROOT) -> None:
    """Write the book's sources into `src`, laid out as the repository is."""
    missing = _missing_pages(root)
    if missing:
        raise BookError(f"the syllabus (course_utils/authoring/syllabus.py) lists files that do "
                        f"not exist: {', '.join(missing)}: add them or fix the syllabus")
    if src.exists():
        shutil.rmtree(src)
    src.mkdir(parents=True)
    book_pages, assets = set(pages()), set()
    for page in [LANDING, *lesson_pages(), GLOSSARY, *solved_pages(), INSTRUCTORS, GRADING]:
        _stage_page(page, src, root, book_pages, assets)
    (src / SOLVED_INDEX).write_text(solved_index_source())
    (src / REFERENCE).write_text(
        rewrite_links(reference_source(root), "", book_pages, root, assets))
    for asset in assets:
        (src / asset).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / asset, src / asset)
    write_static(src / STATIC)
    write_config(src, root)


def _stage_page(page: str, src: Path, root: Path, book_pages: set[str],
                assets: set[str]) -> None:
    """Copy one page of the repository into `src`, its links rewritten for the book
    (in a notebook, those of its markdown cells; nothing else changes)."""
    base = posixpath.dirname(page)
    target = src / page
    target.parent.mkdir(parents=True, exist_ok=True)
    if page.endswith(".ipynb"):
        nb = nbformat.read(root / page, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "markdown":
                cell.source = rewrite_links(cell.source, base, book_pages, root, assets)
        nbformat.write(nb, target)
    else:
        text = (root / page).read_text()
        target.write_text(rewrite_links(text, base, book_pages, root, assets))


def write_config(src: Path, root: Path = ROOT) -> None:
    # JSON is YAML: no YAML writer needed in the course's environment.
    (src / "_config.yml").write_text(json.dumps(config(root), indent=1) + "\n")
    (src / "_toc.yml").write_text(json.dumps(table_of_contents(), indent=1) + "\n")


def write_static(static: Path) -> None:
    if not MATHJAX_DIR.is_dir():
        raise BookError(f"MathJax is not installed in {MATHJAX_DIR.parent.parent}: run "
                        "`npm ci --prefix book` (or `make book`)")
    static.mkdir(parents=True)
    shutil.copy2(ASSETS_DIR / "book.css", static / "book.css")
    shutil.copytree(MATHJAX_DIR, static / "mathjax",
                    ignore=lambda folder, names: [
                        n for n in names if Path(folder) == MATHJAX_DIR
                        and n.endswith(".js") and MATHJAX_UNUSED.match(n)])


# -------------------------------------------------------------------------- build


def run_jupyter_book(src: Path, out: Path, jupyter_book: Path = JUPYTER_BOOK) -> Path:
    """Build the site from `src` into out/_build/html (afresh); returns that folder."""
    if not Path(jupyter_book).exists():
        raise BookError(f"no Jupyter Book at {jupyter_book}: run `make book` (it creates "
                        ".venv-book from requirements-book.txt)")
    if (out / "_build").exists():
        shutil.rmtree(out / "_build")
    command = [str(jupyter_book), "build", str(src), "--path-output", str(out),
               "--builder", "html", "--warningiserror", "--keep-going", "--quiet"]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        output = ANSI.sub("", result.stderr + result.stdout)
        problems = [line for line in output.splitlines() if "WARNING" in line
                    or "ERROR" in line] or output.splitlines()[-40:]
        raise BookError(
            "the book did not build (warnings are errors: fix each one in the "
            f"repository's file; those in {src} are staged copies at the same paths):\n"
            + "\n".join(problems) + f"\n(command: {' '.join(command)})")
    return out / "_build" / "html"


def build(out: Path = BUILD_DIR, jupyter_book: Path = JUPYTER_BOOK,
          root: Path = ROOT) -> Path:
    """Stage and build the book; returns the folder of the static site."""
    out = Path(out)
    stage(out / "src", root)
    return run_jupyter_book(out / "src", out, jupyter_book)


def site_size(html: Path) -> int:
    return sum(p.stat().st_size for p in Path(html).rglob("*") if p.is_file())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=BUILD_DIR,
                        help=f"build folder (default: {BUILD_DIR.relative_to(ROOT)})")
    parser.add_argument("--jupyter-book", type=Path, default=JUPYTER_BOOK)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        html = build(args.out, args.jupyter_book)
    except BookError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"built the book in {time.perf_counter() - started:.1f} s: "
          f"{site_size(html) / 2**20:.1f} MB in {html}\n"
          f"open {html / 'index.html'} (or serve it: python -m http.server -b 127.0.0.1 -d {html})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
