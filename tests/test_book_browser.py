"""The built book in a real browser: every page of _build/html in headless Chromium,
offline.

For each page: no JavaScript error, every image loaded, every link to a local page
resolves to a file, notebook pages show their outputs, math is typeset, widgets render,
and no request leaves 127.0.0.1 (everything else is aborted and reported). Screenshots
land in _build/screenshots/ for a human to look at.

Needs Debian's Chromium at /usr/bin/chromium (or $CHROMIUM). Without it the tests skip,
except in CI (CI=true), where a missing browser is a failure.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import tempfile
import threading
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from conftest import (
    CHROMIUM,
    CHROMIUM_ARGS,
    ROOT,
    in_ci,
    leaked_solutions,
    readable_text,
    solution_fingerprints,
)

pytestmark = pytest.mark.browser

SCREENSHOTS = ROOT / "_build" / "screenshots"


def _require_chromium() -> None:
    if Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK):
        return
    message = (
        f"Chromium not found at {CHROMIUM}: install it (apt-get install chromium, "
        "which .ci/run does) "
        "or point $CHROMIUM at a Chromium binary"
    )
    if in_ci():
        pytest.fail(message + " [CI=true: the browser test may not skip]")
    pytest.skip(message)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest's output clean
        pass


@pytest.fixture(scope="module")
def server(book_html):
    """A static file server for _build/html on 127.0.0.1 and a free port."""
    handler = functools.partial(_QuietHandler, directory=str(book_html))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser_context(server):
    """A fresh headless Chromium profile; every request not to our server is aborted and
    recorded."""
    _require_chromium()
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="vit-book-chromium-")
    outside: list[str] = []
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
            service_workers="block",
        )

        def route(r):
            url = r.request.url
            if url.startswith(server + "/") or url == server:
                r.continue_()
            else:
                outside.append(url)
                r.abort()

        context.route("**/*", route)
        context.outside_requests = outside  # type: ignore[attr-defined]
        try:
            yield context
        finally:
            context.close()
            shutil.rmtree(profile, ignore_errors=True)


def _pages(book_html: Path) -> list[str]:
    """Every HTML page of the book (relative paths), not the files inside _static/ or
    _sources/."""
    pages = [p.relative_to(book_html).as_posix() for p in book_html.rglob("*.html")]
    return sorted(
        p for p in pages if not p.startswith(("_static/", "_sources/", "_images/"))
    )


# Runs in the page after it has loaded: make lazy images load, wait for them, then
# report.
_INSPECT_JS = """
async () => {
  const imgs = Array.from(document.images);
  imgs.forEach(i => { i.loading = 'eager'; });
  await Promise.all(imgs.map(i => i.complete ? null :
      new Promise(r => {
        i.addEventListener('load', r); i.addEventListener('error', r);
        setTimeout(r, 5000);
      })));
  return {
    brokenImages: imgs.filter(i => !(i.complete && i.naturalWidth > 0))
                      .map(i => i.currentSrc || i.src),
    links: Array.from(document.querySelectorAll('a[href]')).map(a => a.href),
    cellOutputs: document.querySelectorAll('div.cell_output').length,
    codeCells: document.querySelectorAll('div.cell').length,
    mathSource: document.querySelectorAll('.math, span.math, div.math').length,
    mathTypeset: document.querySelectorAll('mjx-container').length,
    widgetViews: document.querySelectorAll(
      'script[type="application/vnd.jupyter.widget-view+json"]').length,
    widgetsRendered: document.querySelectorAll(
      '.widget-subarea > .lm-Widget, .widget-subarea > .jupyter-widgets').length,
    // code or printed output wider than its box: the reader would have to scroll
    overflowingCode: Array.from(document.querySelectorAll('main pre'))
      .filter(p => p.scrollWidth > p.clientWidth + 1)
      .map(p => p.textContent.split('\\n')
        .reduce((a, b) => (a.length >= b.length ? a : b)).slice(0, 70)),
  };
}
"""


def _visit(context, server: str, page_path: str) -> dict:
    page = context.new_page()
    errors: list[str] = []
    bad_responses: list[str] = []
    page.on(
        "console",
        lambda m: (
            errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None
        ),
    )
    page.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
    page.on(
        "response",
        lambda r: (
            bad_responses.append(f"HTTP {r.status} {r.url}")
            if r.status >= 400
            else None
        ),
    )
    page.on(
        "requestfailed",
        lambda r: (
            bad_responses.append(f"failed {r.url} ({r.failure})")
            if r.url.startswith(server)
            else None
        ),
    )
    try:
        page.goto(f"{server}/{page_path}", wait_until="load", timeout=60_000)
        page.wait_for_load_state("networkidle", timeout=30_000)
        info = page.evaluate(_INSPECT_JS)
        if info["mathSource"]:
            info["mathTypeset"] = _count_when_rendered(page, "mjx-container")
        if info["widgetViews"]:
            info["widgetsRendered"] = _count_when_rendered(page, ".widget-subarea > *")
    finally:
        page.close()
    info["errors"] = errors
    info["bad_responses"] = bad_responses
    return info


def _count_when_rendered(page, selector: str) -> int:
    """How many ``selector`` elements exist once the first appears (MathJax and widgets
    render late)."""
    try:
        page.wait_for_selector(selector, state="attached", timeout=15_000)
    except Exception:  # none appeared: the count of 0 is what the caller reports
        pass
    return page.locator(selector).count()


def _local_target(book_html: Path, server: str, href: str) -> Path | None:
    """The file a link to our own server points at, or None for links elsewhere (or
    in-page anchors)."""
    if not href.startswith(server + "/"):
        return None
    path = unquote(urlsplit(href).path).lstrip("/")
    target = book_html / path
    if path == "" or path.endswith("/"):
        target = target / "index.html"
    return target


def test_every_page_offline_and_intact(book_html, server, browser_context):
    pages = _pages(book_html)
    assert "index.html" in pages and any(p.startswith("notebooks/") for p in pages), (
        pages
    )
    problems: list[str] = []
    for page_path in pages:
        info = _visit(browser_context, server, page_path)
        for e in info["errors"]:
            problems.append(f"{page_path}: {e}")
        for r in info["bad_responses"]:
            problems.append(f"{page_path}: {r}")
        for src in info["brokenImages"]:
            problems.append(f"{page_path}: image did not load: {src}")
        for href in sorted(set(info["links"])):
            target = _local_target(book_html, server, href)
            if target is not None and not target.is_file():
                problems.append(f"{page_path}: broken link {href}")
        is_notebook = (
            page_path.startswith("notebooks/") or page_path == "book/results.html"
        )
        if is_notebook and info["cellOutputs"] == 0:
            problems.append(
                f"{page_path}: a notebook page with no cell outputs "
                f"({info['codeCells']} cells)"
            )
        if info["mathSource"] and info["mathTypeset"] == 0:
            problems.append(
                f"{page_path}: {info['mathSource']} math elements but MathJax typeset "
                "none"
            )
        for line in info["overflowingCode"]:
            problems.append(f"{page_path}: code wider than the page: {line!r}")
        if info["widgetsRendered"] < info["widgetViews"]:
            problems.append(
                f"{page_path}: {info['widgetViews']} widget views but "
                f"{info['widgetsRendered']} rendered"
            )
    outside = sorted(set(browser_context.outside_requests))
    problems += [f"request left 127.0.0.1 (aborted): {u}" for u in outside]
    assert not problems, (
        f"{len(problems)} problem(s) on {len(pages)} pages:\n" + "\n".join(problems)
    )


def _first_page_with(
    book_html: Path, pages: list[str], needle: str, prefix: str = ""
) -> str | None:
    for p in pages:
        if p.startswith(prefix) and needle in (book_html / p).read_text(
            encoding="utf8", errors="replace"
        ):
            return p
    return None


def test_screenshots_and_solution_dropdown(book_html, server, browser_context):
    """Screenshots of a notebook page, an exercise with its solution opened, and the
    results page."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    pages = _pages(book_html)
    notebook = _first_page_with(
        book_html,
        pages,
        '<div class="cell_output docutils container">\n<img',
        "notebooks/",
    ) or _first_page_with(book_html, pages, '<div class="cell_output', "notebooks/")
    assert notebook, "no notebook page with outputs"
    exercise = _first_page_with(book_html, pages, 'class="solution dropdown')
    assert exercise, "no page with an exercise solution in a dropdown"

    page = browser_context.new_page()
    try:
        page.goto(f"{server}/{notebook}", wait_until="networkidle")
        page.screenshot(path=str(SCREENSHOTS / "notebook.png"), full_page=True)

        page.goto(f"{server}/book/results.html", wait_until="networkidle")
        page.screenshot(path=str(SCREENSHOTS / "results.png"), full_page=True)

        page.goto(f"{server}/{exercise}", wait_until="networkidle")
        solution = page.locator("div.solution.dropdown").first
        body = solution.locator("section").first
        solution.scroll_into_view_if_needed()
        assert not body.is_visible(), (
            f"{exercise}: the solution is shown before it is opened"
        )
        page.screenshot(path=str(SCREENSHOTS / "exercise_closed.png"))
        # sphinx-togglebutton adds a button to the title (the title's text is a link to
        # the exercise)
        toggle = solution.locator("button.toggle-button")
        (
            toggle.first
            if toggle.count()
            else solution.locator(".admonition-title").first
        ).click()
        body.wait_for(state="visible", timeout=5_000)
        solution.screenshot(path=str(SCREENSHOTS / "exercise_solution_open.png"))
        page.screenshot(path=str(SCREENSHOTS / "exercise_open.png"))
    finally:
        page.close()
    for name in ("notebook", "results", "exercise_closed", "exercise_open"):
        assert (SCREENSHOTS / f"{name}.png").stat().st_size > 10_000, name


def test_student_edition_has_no_solutions(book_html):
    """`make book-student`'s site keeps the exercises and drops every solution: from its
    pages, from the sources behind their download buttons and from the notebooks its
    Colab and Binder buttons open (student/, written by book/tools/make_student.py)."""
    student = ROOT / "_build" / "student" / "html"
    if not (student / "index.html").is_file():
        if in_ci():
            pytest.fail(
                "_build/student/html is missing: `make test` builds it (make "
                "book-student)"
            )
        pytest.skip("the student edition is not built (make book-student)")
    full = [
        p
        for p in book_html.rglob("*.html")
        if 'class="solution' in p.read_text(encoding="utf8")
    ]
    assert full, "the full book has no solutions to compare"
    for page in full:
        # the student edition's notebook pages are built from student/, not notebooks/
        rel = page.relative_to(book_html).as_posix()
        twin = student / re.sub(r"^notebooks/", "student/", rel)
        text = twin.read_text(encoding="utf8")
        assert 'class="solution' not in text, f"{twin} still shows a solution"
        assert 'class="exercise' in text, f"{twin} lost its exercise"
    _no_solution_in_any_file(book_html, student)
    _buttons_open_the_student_notebooks(student)


def _no_solution_in_any_file(book_html: Path, student: Path) -> None:
    prints = solution_fingerprints()
    shown = "\n".join(readable_text(p) for p in book_html.rglob("*.html"))
    # the fingerprints are good for something only if the full book shows them
    assert [n for n, line in prints.items() if line not in shown] == []
    leaks = {
        p.relative_to(student).as_posix(): found
        for p in student.rglob("*")
        if p.is_file()
        and p.suffix in (".html", ".ipynb", ".md", ".txt", ".py")
        and (found := leaked_solutions(readable_text(p), prints))
    }
    assert not leaks, f"solutions in the student edition's files: {leaks}"


def _buttons_open_the_student_notebooks(student: Path) -> None:
    notebooks = sorted((ROOT / "student").glob("*.ipynb"))
    assert notebooks, "student/ is empty: make student"
    for nb in notebooks:
        page = (student / "student" / f"{nb.stem}.html").read_text(encoding="utf8")
        download = student / "_sources" / "student" / nb.name
        assert download.read_bytes() == nb.read_bytes(), f"{download} is not {nb}"
        for button in ("colab.research.google.com", "mybinder.org"):
            links = re.findall(rf'href="(https://{re.escape(button)}[^"]*)"', page)
            assert links, f"{nb.stem}: no {button} button"
            assert all(f"student/{nb.name}" in link for link in links), links
    stale = [
        p for p in student.rglob("*") if "notebooks" in p.relative_to(student).parts
    ]
    assert not stale, f"pages built from notebooks/ in the student edition: {stale}"


def test_results_page_opens_on_its_headline_table(book_html, server, browser_context):
    """Screenshots at 1280 px of chapter 6, the appendix and the Results page; the
    Results page's first screen holds its whole headline table."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = browser_context.new_page()
    try:
        for name, path in (
            ("chapter6", "notebooks/06_training.html"),
            ("search_history", "book/search_history.html"),
        ):
            page.goto(f"{server}/{path}", wait_until="networkidle")
            page.screenshot(path=str(SCREENSHOTS / f"{name}_1280.png"))
        page.goto(f"{server}/book/results.html", wait_until="networkidle")
        page.screenshot(path=str(SCREENSHOTS / "results_1280.png"))
        assert page.viewport_size["width"] == 1280
        table = page.locator("section#at-a-glance table.results-table").first
        box = table.bounding_box()
        assert box is not None, "no headline table on the Results page"
        assert box["y"] + box["height"] <= page.viewport_size["height"], (
            f"the headline table ends at {box['y'] + box['height']:.0f} px, below the "
            "first screen"
        )
        assert "laptop, 15 min" in table.inner_text()
    finally:
        page.close()


def test_diagrams_show_whole_in_their_chapters(book_html, server, browser_context):
    """Each diagram of book/figures/ is on a chapter page, loaded, and no wider than
    the page's text column, so nothing of it is cut off or scrolled away; a screenshot
    of each lands in _build/screenshots/diagram_NAME.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    figures = sorted(p.name for p in (ROOT / "book" / "figures").glob("*.svg"))
    assert figures, "no diagram in book/figures"
    shown = {}
    for html in sorted((book_html / "notebooks").glob("*.html")):
        for name in figures:
            if name in html.read_text():
                shown.setdefault(name, html.relative_to(book_html).as_posix())
    assert sorted(shown) == figures, f"diagrams on no page: {set(figures) - set(shown)}"
    page = browser_context.new_page()
    try:
        for name, path in shown.items():
            page.goto(f"{server}/{path}", wait_until="networkidle")
            image = page.locator(f"img[src$='{name}']").first
            image.scroll_into_view_if_needed()
            assert image.evaluate("i => i.complete && i.naturalWidth > 0"), name
            column = page.locator("main article, article").first.bounding_box()
            box = image.bounding_box()
            assert box["x"] >= column["x"] - 1, f"{name} starts left of the text"
            right = column["x"] + column["width"] + 1
            assert box["x"] + box["width"] <= right, f"{name} is wider than the text"
            assert box["width"] > 300, f"{name} is shown too small to read"
            image.screenshot(path=str(SCREENSHOTS / f"diagram_{name[:-4]}.png"))
    finally:
        page.close()


def test_student_site_shows_no_measured_answer(browser_context):
    """Every chapter of the student website has a predict-then-check cell, and each
    (from the one after the prediction to the one that calls a reveal helper) shows no
    output, so no measured answer, until the student runs it. Screenshots of them, from
    the prediction on: _build/screenshots/student_05_predict.png and so on (``_2``, ...
    for a chapter's later ones)."""
    from book_ext import predict_then_check

    student = ROOT / "_build" / "student" / "html"
    if not (student / "index.html").is_file():
        if in_ci():
            pytest.fail("_build/student/html is missing: make book-student")
        pytest.skip("the student edition is not built (make book-student)")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    handler = functools.partial(_QuietHandler, directory=str(student))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    page = browser_context.new_page()
    # the context aborts every request that is not to the full book's server
    page.route(f"{base}/**", lambda r: r.continue_())
    try:
        for name in sorted(p.stem for p in (ROOT / "student").glob("[0-9]*.ipynb")):
            number = name[:2]
            page.goto(f"{base}/student/{name}.html", wait_until="networkidle")
            cells = page.locator("div.cell")
            sources = cells.evaluate_all(
                "cs => cs.map(c => (c.querySelector('.cell_input pre') || {})"
                ".innerText || '')"
            )
            revealing = sorted(predict_then_check(sources))
            assert revealing, f"{name}: no predict-then-check cell on the page"
            for i in revealing:
                cell = cells.nth(i)
                assert cell.locator(".cell_output").count() == 0, (
                    f"{name}: the student site shows the output of {sources[i][:60]!r}"
                )
                assert "Measured" not in cell.inner_text(), f"{name}: {sources[i]}"
            # one screenshot per run of consecutive cells, from its prediction on
            starts = [i for i in revealing if i - 1 not in revealing]
            ends = [i for i in revealing if i + 1 not in revealing]
            for k, (start, end) in enumerate(zip(starts, ends), start=1):
                first = cells.nth(max(start - 1, 0))
                first.scroll_into_view_if_needed()
                top = first.evaluate("e => e.getBoundingClientRect().top + scrollY")
                bottom = cells.nth(end).evaluate(
                    "e => e.getBoundingClientRect().bottom + scrollY"
                )
                suffix = "" if k == 1 else f"_{k}"
                shot = SCREENSHOTS / f"student_{number}_predict{suffix}.png"
                page.screenshot(
                    path=str(shot),
                    full_page=True,
                    clip={"x": 0, "y": top, "width": 1280, "height": bottom - top},
                )
                assert shot.stat().st_size > 5_000, shot
    finally:
        page.close()
        httpd.shutdown()
        httpd.server_close()
