"""Browser check of the built site: every page of _toc.yml in headless Chromium.

`make test` runs this after `make book PROFILE=quick`. It uses Playwright's Python package
driving the Debian ``chromium`` binary (never a downloaded browser), serves ``_build/html``
from a local HTTP server and blocks every request that leaves the machine. Per page:

* it loads (HTTP 200) and has its title;
* a chapter shows exactly as many output figures as its executed copy in
  ``_build/executed`` holds image outputs, every one loaded (``naturalWidth > 0``);
* no error output or traceback;
* a chapter's Colab links (badge and launch button) point at its own notebook;
* every equation is typeset by the bundled MathJax (``mjx-container``, no network), and no
  raw TeX (``\\(``, ``\\[``, ``$$``) or unrendered ``{glue}`` role is left in the text;
* every image has alt text; every output figure sits in a numbered ``<figure>`` whose caption
  names its data (``Data: ...``);
* the Colab setup code and papermill's injected parameters are hidden, the ``parameters``
  cell is shown; a chapter ends with exercises whose solutions start collapsed;
* no absolute path of the machine that built the site appears;
* a screenshot goes to ``_build/screens/<page>.png``.

Skipped, with the reason, when the site has not been built; set ``ACTFN_REQUIRE_SITE=1``
(as ``make test`` does) to make a missing site a failure instead. With
``ACTFN_SITE_BUILD_DIR=_build/paper`` it checks the paper-profile site ``make test`` builds
there instead (screenshots to ``_build/paper/screens/``).
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
from pathlib import Path

import nbformat
import pytest

from helpers import book

# ACTFN_SITE_BUILD_DIR=_build/paper checks the paper-profile site that `make test` builds
# there (`helpers.book build --build-dir`); by default the site of `make book`
BUILD = os.environ.get("ACTFN_SITE_BUILD_DIR") or book.BUILD_DIR
HTML = book.ROOT / (book.HTML_DIR if BUILD == book.BUILD_DIR else f"{BUILD}/_build/html")
SCREENS = book.ROOT / BUILD / "screens"
PAGES = book.toc_files()


def _page(source: Path) -> Path:
    """The built page of a toc file, in the site under check."""
    return HTML / Path(source).with_suffix(".html")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-quic",
                 "--disable-sync"]
COLAB_PREFIX = f"{book.COLAB_URL}/github/"


def _missing_reason() -> str | None:
    missing = [str(_page(p).relative_to(book.ROOT)) for p in PAGES if not _page(p).exists()]
    if missing:
        return (f"the built site is missing ({', '.join(missing)}): "
                "run `make book PROFILE=quick` first (make test does)")
    if shutil.which("chromium") is None:
        return "the Debian chromium binary is not installed (make test installs it with apt)"
    return None


_REASON = _missing_reason()
if _REASON and os.environ.get("ACTFN_REQUIRE_SITE", "") not in ("", "0"):
    raise RuntimeError(f"ACTFN_REQUIRE_SITE is set but {_REASON}")
pytestmark = pytest.mark.skipif(_REASON is not None, reason=_REASON or "")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # the base class's signature
        pass


@pytest.fixture(scope="module")
def base_url():
    handler = functools.partial(_QuietHandler, directory=str(HTML))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=shutil.which("chromium"), headless=True,
                                      args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _local_only(route, base_url: str) -> None:
    """No network here: abort anything not served by the local server (CDN MathJax...)."""
    if route.request.url.startswith(base_url):
        route.continue_()
    else:
        route.abort()


@pytest.fixture
def open_page(browser, base_url):
    pages = []

    def _open(source: Path):
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        pages.append(page)
        page.route("**/*", lambda route: _local_only(route, base_url))
        rel = _page(source).relative_to(HTML).as_posix()
        response = page.goto(f"{base_url}/{rel}", wait_until="load")
        assert response is not None and response.ok, f"{rel}: HTTP {response and response.status}"
        page.wait_for_function(
            "() => Array.from(document.querySelectorAll('article img'))"
            ".filter(i => i.src.startsWith(location.origin)).every(i => i.complete)",
            timeout=15_000)
        if page.locator("article .math").count():
            # MathJax is served from _static (sphinx-mathjax-offline); all else is blocked
            page.wait_for_function("() => window.MathJax && MathJax.startup && "
                                   "MathJax.startup.promise", timeout=15_000)
            page.evaluate("() => MathJax.startup.promise")
        return page

    yield _open
    for page in pages:
        page.close()


def _screenshot(page, source: Path) -> Path:
    """A full-page screenshot; one retry, since headless Chromium under a loaded machine
    (the grid beside CI) sometimes fails to capture a tall page once ("Unable to capture
    screenshot"); a second failure is a real one."""
    from playwright.sync_api import Error as PlaywrightError

    SCREENS.mkdir(parents=True, exist_ok=True)
    path = SCREENS / f"{source.stem}.png"
    try:
        page.screenshot(path=str(path), full_page=True)
    except PlaywrightError:
        page.wait_for_timeout(2000)
        page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000, f"{path} looks blank"
    return path


def _assert_no_errors(page, source: Path) -> None:
    n_tracebacks = page.locator(
        "article .output.traceback, article .output.error, article .highlight-ipythontb, "
        "article .output.stderr").count()
    assert n_tracebacks == 0, f"{source}: {n_tracebacks} error outputs on the page"
    text = page.locator("article").inner_text()
    assert "Traceback (most recent call last)" not in text, f"{source}: a traceback on the page"


# The article's text without code (cell inputs, literals), scripts and MathJax's hidden MathML.
_PROSE_JS = """() => { const a = document.querySelector('article').cloneNode(true);
  a.querySelectorAll('pre, code, script, style, .cell_input, mjx-assistive-mml')
   .forEach(e => e.remove());
  return a.textContent; }"""
# Absolute paths of the machine that built the site (and of its user's home).
BUILDER_PATHS = sorted({str(book.ROOT), str(book.ROOT.parent / "shared"), str(Path.home())}
                       - {"/", ""})


def _assert_math_rendered(page, source: Path) -> None:
    n_math = page.locator("article .math").count()
    unrendered = page.locator("article .math:not(:has(mjx-container))").count()
    assert unrendered == 0, f"{source}: {unrendered} of {n_math} equations not typeset"
    prose = page.evaluate(_PROSE_JS)
    for raw in ("\\(", "\\[", "$$"):
        assert raw not in prose, f"{source}: raw TeX {raw!r} in the text"


def _assert_reader_text(page, source: Path) -> None:
    prose = page.evaluate(_PROSE_JS)
    assert "{glue" not in prose and "glue:text" not in prose, (
        f"{source}: an unrendered glue role in the text")
    assert page.locator("article .pasted-text:empty").count() == 0, f"{source}: empty glue"
    text = page.locator("body").inner_text()
    for path in BUILDER_PATHS:
        assert path not in text, f"{source}: the builder's path {path!r} is shown"


def _assert_figures_described(page, source: Path) -> None:
    images = page.eval_on_selector_all(
        "article img", "els => els.map(e => [e.getAttribute('src'), e.getAttribute('alt')])")
    for src, alt in images:
        name = (src or "").rsplit("/", 1)[-1]
        assert alt and alt.strip() and alt != src and alt != name and not alt.endswith(
            (".png", ".jpg", ".jpeg", ".svg")), f"{source}: image {name} has no alt text"
    figures = page.eval_on_selector_all(
        "article .cell_output img",
        """els => els.map(e => { const f = e.closest('figure');
             const n = f && f.querySelector('figcaption .caption-number');
             const t = f && f.querySelector('figcaption .caption-text');
             return [e.getAttribute('src'), n ? n.textContent : '', t ? t.textContent : '']; })""")
    for src, number, caption in figures:
        name = (src or "").rsplit("/", 1)[-1]
        assert number.strip().startswith("Fig."), f"{source}: figure {name} is not numbered"
        assert "Data:" in caption, f"{source}: the caption of {name} names no data source"


def _assert_chapter_layout(page, source: Path) -> None:
    article = page.locator("article").inner_text()
    assert "google.colab" not in article, f"{source}: the Colab setup code is shown"
    assert 'profile = "' not in article, f"{source}: papermill's injected parameters are shown"
    assert "profile = None" in article, f"{source}: the parameters cell is hidden"
    headings = page.eval_on_selector_all("article h2", "els => els.map(e => e.textContent)")
    assert any(h.strip().startswith("Exercises") for h in headings), f"{source}: no exercises"
    solutions = page.locator("article details.sd-dropdown")
    assert solutions.count() >= 2, f"{source}: {solutions.count()} collapsed solutions"
    assert page.locator("article details.sd-dropdown[open]").count() == 0, (
        f"{source}: a solution is shown open")


@pytest.mark.parametrize("source", PAGES, ids=[p.stem for p in PAGES])
def test_page(open_page, source: Path):
    page = open_page(source)
    assert page.locator("article h1").count() >= 1, f"{source}: no title"
    _assert_no_errors(page, source)
    _assert_math_rendered(page, source)
    _assert_reader_text(page, source)
    _assert_figures_described(page, source)
    if source.suffix == ".ipynb":
        executed = nbformat.read(book.executed_path(source, book.ROOT, BUILD), as_version=4)
        expected = book.count_figures(executed)
        figures = page.eval_on_selector_all(
            "article .cell_output img", "els => els.map(e => [e.src, e.naturalWidth])")
        assert len(figures) == expected, (
            f"{source}: {len(figures)} figures on the page, the executed copy has {expected}")
        assert all(width > 0 for _, width in figures), f"{source}: figures not loaded: {figures}"

        want = book.colab_url(source)
        colab = page.eval_on_selector_all(
            f"a[href^='{COLAB_PREFIX}']", "els => els.map(e => e.getAttribute('href'))")
        assert want in colab, f"{source}: no Colab link to {want}"
        assert set(colab) == {want}, f"{source}: Colab links point elsewhere: {set(colab)}"
        assert page.locator(f"article a[href='{want}']").count() >= 1, f"{source}: no badge"
        assert page.locator(f"a.dropdown-item[href='{want}']").count() == 1, (
            f"{source}: no Colab launch button")
        _assert_chapter_layout(page, source)
    _screenshot(page, source)


def test_intro_cites_the_paper_and_renders_math(open_page):
    page = open_page(PAGES[0])
    assert page.locator("article .citation-list .citation").count() >= 1, "no bibliography"
    assert "Pretorius" in page.locator("article .citation-list").inner_text()
    assert page.locator("article .bibtex-citation a").count() >= 1, "no {cite} in the text"
    assert page.locator("article div.math").count() >= 1, "no display math ($$...$$)"
    assert page.locator("article table").count() >= 1, "no reproduction-status table"


MATH_PAGES = [PAGES[0], *[p for p in PAGES if p.stem.startswith("01_")]]


@pytest.mark.parametrize("source", MATH_PAGES, ids=[p.stem for p in MATH_PAGES])
def test_math_is_typeset_offline(open_page, source: Path):
    """The intro and the first chapter: MathJax (bundled, no CDN) typesets display and
    inline math; every request off this machine is blocked by ``_local_only``."""
    page = open_page(source)
    assert page.locator("article mjx-container").count() >= 1, f"{source}: no typeset math"
    if source == PAGES[0]:  # the intro has display equations; chapter 1 only inline math
        assert page.locator("article mjx-container[display='true']").count() >= 1
    scripts = page.eval_on_selector_all("script[src*='mathjax']", "els => els.map(e => e.src)")
    origin = "/".join(page.url.split("/", 3)[:3])
    assert scripts and all(s.startswith(origin + "/") for s in scripts), scripts
    _assert_math_rendered(page, source)
