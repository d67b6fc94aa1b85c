"""Browser check of the built site: every page of _toc.yml in headless Chromium.

`make test` runs this after `make book PROFILE=quick`. It uses Playwright's Python package
driving the Debian ``chromium`` binary (never a downloaded browser), serves ``_build/html``
from a local HTTP server and blocks every request that leaves the machine. Per page:

* it loads (HTTP 200) and has its title;
* a chapter shows exactly as many output figures as its executed copy in
  ``_build/executed`` holds image outputs, every one loaded (``naturalWidth > 0``);
* no error output or traceback;
* a chapter's Colab links (badge and launch button) point at its own notebook;
* a screenshot goes to ``_build/screens/<page>.png``.

Skipped, with the reason, when the site has not been built; set ``ACTFN_REQUIRE_SITE=1``
(as ``make test`` does) to make a missing site a failure instead.
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

HTML = book.ROOT / book.HTML_DIR
SCREENS = book.ROOT / book.BUILD_DIR / "screens"
PAGES = book.toc_files()
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-quic",
                 "--disable-sync"]
COLAB_PREFIX = f"{book.COLAB_URL}/github/"


def _missing_reason() -> str | None:
    missing = [str(book.page_path(p).relative_to(book.ROOT)) for p in PAGES
               if not book.page_path(p).exists()]
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
    def log_message(self, format, *args):  # noqa: A002 - signature of the base class
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
        rel = book.page_path(source).relative_to(HTML).as_posix()
        response = page.goto(f"{base_url}/{rel}", wait_until="load")
        assert response is not None and response.ok, f"{rel}: HTTP {response and response.status}"
        page.wait_for_function(
            "() => Array.from(document.querySelectorAll('article img'))"
            ".filter(i => i.src.startsWith(location.origin)).every(i => i.complete)",
            timeout=15_000)
        return page

    yield _open
    for page in pages:
        page.close()


def _screenshot(page, source: Path) -> Path:
    SCREENS.mkdir(parents=True, exist_ok=True)
    path = SCREENS / f"{source.stem}.png"
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


@pytest.mark.parametrize("source", PAGES, ids=[p.stem for p in PAGES])
def test_page(open_page, source: Path):
    page = open_page(source)
    assert page.locator("article h1").count() >= 1, f"{source}: no title"
    _assert_no_errors(page, source)
    if source.suffix == ".ipynb":
        executed = nbformat.read(book.executed_path(source), as_version=4)
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
    _screenshot(page, source)


def test_intro_cites_the_paper_and_renders_math(open_page):
    page = open_page(PAGES[0])
    assert page.locator("article .citation-list .citation").count() >= 1, "no bibliography"
    assert "Pretorius" in page.locator("article .citation-list").inner_text()
    assert page.locator("article .bibtex-citation a").count() >= 1, "no {cite} in the text"
    assert page.locator("article div.math").count() >= 1, "no display math ($$...$$)"
    assert page.locator("article table").count() >= 1, "no reproduction-status table"
