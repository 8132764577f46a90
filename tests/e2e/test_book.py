"""The course as a web book (`make book`, course_utils/authoring/book.py): built once
from the stored outputs into a temporary folder, then checked

- as files: its contents follow the syllabus, every link inside it resolves, every
  notebook page has its Binder and Colab links, no page loads anything from another
  host except the badge images;
- in headless Chromium, served on 127.0.0.1: the landing page, notebook 01 with a
  rendered plot, notebook 05 with no code cut off, a search that finds
  `federated_mean`, the "Next" link, a formula typeset by the site's own MathJax; and
  no request left 127.0.0.1 except the badges.

Needs .venv-book and MathJax (`make book-deps`, which `make test` runs) and, for the
browser part, Debian's chromium and playwright (`make test-browser`). Set
COURSE_BOOK_SCREENSHOTS=DIR to keep the screenshots (landing, 05, search).
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import threading
import time
from html import unescape as html_unescape
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat
import pytest

from chromium import CHROMIUM, MISSING, descendants, end_leftovers, launch, non_blank
from conftest import require_or_skip
from course_utils import diagrams
from course_utils.authoring import book, diagram_cells, navigation, syllabus
from lab_server import alive

TIMEOUT_MS = 60_000
BADGES = {syllabus.BINDER_BADGE, syllabus.COLAB_BADGE}
# Elements that are visible search fields (the sidebar's button, a page's own form).
SEARCH_FIELDS = """() => [...document.querySelectorAll(
    '.search-button-field, input[type=search], #search-documentation input[name=q]')]
  .filter(e => e.checkVisibility()).length"""
# Code blocks, outputs and tables wider than their box (cut off, or behind a scroll bar).
CUT_OFF = """() => [...document.querySelectorAll(
    '.bd-article pre, .bd-article .output, .bd-article .pst-scrollable-table-container')]
  .filter(e => e.scrollWidth > e.clientWidth + 1)
  .map(e => `${e.tagName}.${e.className}: ${e.scrollWidth} > ${e.clientWidth} px`)"""


def plain(text: str) -> str:
    """Text as written in the syllabus: the book prints typographic quotes."""
    return text.translate(str.maketrans("“”‘’", "\"\"''"))


def html_path(page: str) -> str:
    """The built page of a source page: notebooks/05_x.ipynb -> notebooks/05_x.html."""
    return page.rsplit(".", 1)[0] + ".html"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    missing = [f"{what} ({path})" for what, path in (("Jupyter Book", book.JUPYTER_BOOK),
                                                     ("MathJax", book.MATHJAX_DIR))
               if not path.exists()]
    if missing:
        require_or_skip(f"the web book's tools are not installed: {', '.join(missing)}: "
                        "run `make book-deps` (make test does)")
    started = time.perf_counter()
    html = book.build(tmp_path_factory.mktemp("book"))
    print(f"\nbook built in {time.perf_counter() - started:.1f} s: "
          f"{book.site_size(html) / 2**20:.1f} MB")
    return html


class Page(HTMLParser):
    """The ids, links and loaded resources of one HTML page."""

    def __init__(self, path: Path):
        super().__init__()
        self.ids, self.links, self.loads = set(), [], []
        self.feed(path.read_text())

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        elif tag in ("script", "img", "iframe", "source") and attrs.get("src"):
            self.loads.append(attrs["src"])
        elif tag == "link" and attrs.get("href") and attrs.get("rel") in (
                "stylesheet", "preload", "icon", "modulepreload"):
            self.loads.append(attrs["href"])


@pytest.fixture(scope="module")
def pages(site) -> dict[Path, Page]:
    return {path: Page(path) for path in site.rglob("*.html")}


def sidebar(html: str) -> list[str]:
    """The sidebar's part captions and page links, in order."""
    nav = html[html.index('<nav class="bd-links bd-docs-nav"'):]
    nav = nav[:nav.index("</nav>")]
    return [caption or href for caption, href in re.findall(
        r'<span class="caption-text">([^<]+)</span>|<a class="reference internal" '
        r'href="([^"#]+)"', nav)]


def test_contents_follow_the_syllabus(site):
    """The sidebar (seen from a page that is in no part) lists the syllabus's lessons,
    the glossary, then the solved copies, then the instructors' pages (reference, the
    instructors' notebook, grading)."""
    expected = [html_path(book.LANDING), "The course",
                *[html_path(lesson.path()) for lesson in syllabus.SYLLABUS],
                "Reference", html_path(book.GLOSSARY),
                "Solved copies", html_path(book.SOLVED_INDEX),
                *[html_path(lesson.path(solution=True)) for lesson in syllabus.SYLLABUS
                  if lesson.has_solution],
                "For instructors", html_path(book.REFERENCE), html_path(book.INSTRUCTORS),
                html_path(book.GRADING)]
    assert sidebar((site / "search.html").read_text()) == expected


def test_every_link_inside_the_book_resolves(site, pages):
    broken = []
    for path, page in pages.items():
        for href in page.links:
            url = urlsplit(href)
            if url.scheme or url.netloc or href.startswith("mailto:"):
                continue
            target = (path.parent / unquote(url.path)).resolve() if url.path else path
            if target.is_dir():
                target = target / "index.html"
            if not target.exists() or (url.fragment and target.suffix == ".html"
                                       and url.fragment not in pages[target].ids):
                broken.append(f"{path.relative_to(site)}: {href}")
    assert not broken, f"links that lead nowhere in the book: {broken}"


def test_a_link_the_book_cannot_resolve_fails_the_build(site, tmp_path):
    """Warnings are errors: what the link tests above see is all there is."""
    src = tmp_path / "src"
    shutil.copytree(site.parents[1] / "src", src)
    readme = src / book.LANDING
    readme.write_text(readme.read_text() + "\nSee [the missing notebook](notebooks/99_gone.ipynb).\n")
    with pytest.raises(book.BookError, match="99_gone"):
        book.run_jupyter_book(src, tmp_path)


def test_links_to_folders_and_source_files(site, pages):
    """README's links to notebooks/solutions/ and to the run summary open their pages
    in the book, its links to course_utils/authoring/syllabus.py the file in the repository."""
    readme = pages[site / html_path(book.LANDING)]
    assert html_path(book.SOLVED_INDEX) in readme.links
    assert f"{html_path(book.REFERENCE)}#run-summary" in readme.links
    assert syllabus.source_url("course_utils/authoring/syllabus.py") in readme.links
    assert not [link for link in readme.links if link.endswith((".py", ".md", "/"))
                and not link.startswith(("https://", "_sources/"))]


def test_every_notebook_page_has_its_binder_and_colab_links(site, pages):
    missing = []
    for lesson in syllabus.SYLLABUS:
        for solution in (False, True)[:1 + lesson.has_solution]:
            path = lesson.path(solution)
            links = pages[site / html_path(path)].links
            missing += [f"{path}: {url}" for url in (syllabus.binder_url(path),
                                                     syllabus.colab_url(path))
                        if url not in links]
    assert not missing, f"notebook pages without their Binder/Colab link: {missing}"


def test_diagrams_are_images_with_their_alt_text_and_no_code(site):
    """Each diagram cell of a page (`course_utils.diagrams.show`) is an image of its
    drawing with the diagram's alt text; the line of code is not shown."""
    shown = 0
    for path, _, _ in navigation.course_files():
        page = path.relative_to(book.ROOT).as_posix()
        if page not in book.pages():
            continue
        html = (site / html_path(page)).read_text()
        images = {html_unescape(alt): src for alt, src in
                  re.findall(r'<img alt="([^"]*)" src="([^"]+)"', html)}
        names = [diagram_cells.name_of(c) for c in nbformat.read(path, as_version=4).cells]
        for name in filter(None, names):
            src = images.get(diagrams.draw(name).alt, "")
            assert src.endswith(".svg"), f"{page}: no image of diagram {name}"
            shown += 1
        assert "diagrams.draw(" not in html, f"{page}: a diagram cell's code is shown"
    assert shown >= 3


def test_pages_load_nothing_from_other_hosts_except_the_badges(site, pages):
    outside = {f"{path.relative_to(site)}: {src}" for path, page in pages.items()
               for src in page.loads if urlsplit(src).netloc and src not in BADGES}
    assert not outside, f"resources from other hosts: {sorted(outside)}"


# ----------------------------------------------------------------- in a browser


@pytest.fixture(scope="module")
def server(site):
    """The built site on a free loopback port."""
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(site)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(10)


def test_reading_the_book_in_a_browser(site, server, tmp_path):
    if not Path(CHROMIUM).exists():
        require_or_skip(MISSING)
    try:
        from playwright import sync_api
    except ImportError:
        require_or_skip("playwright is not installed: `make test-browser`")
    shots = Path(os.environ.get("COURSE_BOOK_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    requests: list[str] = []
    launched = time.time()
    with sync_api.sync_playwright() as playwright:
        context = launch(playwright, tmp_path / "chromium-profile", viewport=(1400, 1000))
        browser = descendants(since=launched)
        try:
            context.on("request", lambda request: requests.append(request.url))
            page = context.pages[0] if context.pages else context.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            read_the_book(page, server, shots)
            diagrams_render(page, server, shots)
            math_renders(page, server, site)
        finally:
            context.close()
    leftovers = end_leftovers(browser, alive)
    assert not leftovers, f"browser processes left running: {leftovers}"

    outside = sorted({url for url in requests if urlsplit(url).hostname != "127.0.0.1"})
    print(f"\nrequests outside 127.0.0.1: {outside or 'none'}")
    assert set(outside) <= BADGES, f"requests to other hosts: {set(outside) - BADGES}"
    assert BADGES <= set(outside), "the badge images were not even requested: is the " \
                                   "request log working?"


def read_the_book(page, server: str, shots: Path) -> None:
    # the landing page: the README, with the course's contents in the sidebar
    page.goto(f"{server}/")
    page.wait_for_url(f"**/{html_path(book.LANDING)}")
    assert plain(page.locator("article h1").first.inner_text()) == book.course_title()
    sidebar = plain(page.locator("nav.bd-docs-nav").inner_text())
    for lesson in syllabus.SYLLABUS:
        assert lesson.label in sidebar, f"{lesson.label} is not in the sidebar"
    assert page.evaluate(SEARCH_FIELDS) == 1, "not exactly one search box"
    assert page.evaluate(CUT_OFF) == []
    screenshot(page, shots / "landing.png")

    # notebook 01: its stored plots render
    first = syllabus.lesson("01")
    page.goto(f"{server}/{html_path(first.path())}")
    page.locator(".cell_output img").first.wait_for()
    page.wait_for_load_state("load")
    sizes = page.eval_on_selector_all(
        ".cell_output img", "imgs => imgs.map(i => [i.naturalWidth, i.naturalHeight])")
    assert sizes and all(w > 0 and h > 0 for w, h in sizes), f"plots not rendered: {sizes}"
    assert page.evaluate(CUT_OFF) == []

    # notebook 05: its title, badges, and no code cut off
    lesson = syllabus.lesson("05")
    page.goto(f"{server}/{html_path(lesson.path())}")
    assert plain(page.locator("article h1").first.inner_text()).startswith(lesson.label)
    for alt in ("Open in Binder", "Open in Colab"):
        assert page.locator(f'article a:has(img[alt="{alt}"])').count() == 1
    assert page.evaluate(CUT_OFF) == [], "code or tables cut off"
    assert page.evaluate(SEARCH_FIELDS) == 1
    screenshot(page, shots / "05.png")

    # the footer's glossary link opens the glossary
    page.locator('article a:has-text("the glossary")').last.click()
    page.wait_for_url(f"**/{html_path(book.GLOSSARY)}")
    assert page.locator("article h1").first.inner_text().startswith("Glossary")
    screenshot(page, shots / "glossary.png")

    # a search from the sidebar's field finds the notebooks that teach federated_mean
    page.locator(".bd-sidebar-primary .search-button-field").click()
    box = page.locator("dialog#pst-search-dialog[open] input[name=q]")
    box.fill("federated_mean")
    box.press("Enter")
    page.wait_for_url("**/search.html?q=federated_mean*")
    results = page.locator("#search-results ul.search li a")
    results.first.wait_for()
    found = results.evaluate_all("links => links.map(a => a.getAttribute('href'))")
    core = html_path(syllabus.lesson("04").path())
    assert any(href.split("?")[0].endswith(core) for href in found), found
    assert page.evaluate(SEARCH_FIELDS) == 1, "not exactly one search box on the results"
    screenshot(page, shots / "search.png")

    # "Next" from notebook 05 leads to the syllabus's next lesson
    _, following = syllabus.neighbours(lesson)
    page.goto(f"{server}/{html_path(lesson.path())}")
    page.locator("a.right-next").click()
    page.wait_for_url(f"**/{html_path(following.path())}")
    assert plain(page.locator("article h1").first.inner_text()).startswith(following.label)


def diagrams_render(page, server: str, shots: Path) -> None:
    """Each diagram is drawn as wide as the text column: readable at 100% zoom."""
    for path, _, _ in navigation.course_files():
        page_path = path.relative_to(book.ROOT).as_posix()
        names = [n for n in map(diagram_cells.name_of, nbformat.read(path, as_version=4).cells)
                 if n]
        if not names or page_path not in book.pages():
            continue
        page.goto(f"{server}/{html_path(page_path)}")
        for name in names:
            alt = diagrams.draw(name).alt
            image = page.locator(f'.cell_output img[alt="{alt}"]')  # alt texts have no "
            image.scroll_into_view_if_needed()
            page.wait_for_load_state("load")
            width, natural = image.evaluate(
                "i => [i.getBoundingClientRect().width, i.naturalWidth]")
            assert natural > 0 and width >= 600, f"{name}: {width} px wide (natural {natural})"
            solved = "-solved" if syllabus.SOLUTIONS_DIR in path.parent.name else ""
            screenshot(page, shots / f"diagram-{name}{solved}.png")


def math_renders(page, server: str, site: Path) -> None:
    """Formulas are typeset by the site's own MathJax."""
    with_math = [lesson for lesson in syllabus.SYLLABUS if 'class="math' in (
        site / html_path(lesson.path())).read_text()]
    assert with_math, "no notebook has a formula: nothing to check MathJax on"
    page.goto(f"{server}/{html_path(with_math[0].path())}")
    page.locator("mjx-container").first.wait_for()
    assert page.locator(".math mjx-container, mjx-container.MathJax").count() > 0


def screenshot(page, path: Path) -> None:
    page.screenshot(path=str(path))
    ok, description = non_blank(path)
    assert ok, f"{path.name} looks blank: {description}"
    print(f"\nscreenshot {path}: {description}")
