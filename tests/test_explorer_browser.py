"""The offline explorer in headless Chromium: clicking changes the map, no errors,
nothing leaves the machine."""

import functools
import http.server
import os
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest
import torch
from conftest import BOOK_HTML, CHROMIUM, CHROMIUM_ARGS, in_ci

from vit_core.export_explorer import export
from vit_core.registry import create_model

# a page per shipped model: the page, and the folder of its data under _static/
BOOK_PAGES = {"explorer.html": "explorer", "explorer_hybrid.html": "explorer_hybrid"}
# the button back to the view of the whole image names what the model classifies
BACK = {"explorer.html": "Back to CLS token", "explorer_hybrid.html": "Back to pooled"}
MAX_PAGE_MB = 5

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not os.access(CHROMIUM, os.X_OK) and not in_ci(),
        reason=f"Chromium is not installed at {CHROMIUM} "
        "(in CI the test runs, and fails, instead)",
    ),
]


@pytest.fixture(scope="module")
def standalone_page(tmp_path_factory) -> Path:
    """DIR/index.html of an export from a small random model and random images."""
    out = tmp_path_factory.mktemp("explorer")
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (3, 3, 32, 32), dtype=torch.uint8, generator=g)
    export(
        out, create_model("vit_laptop", depth=2).eval(), images, torch.tensor([0, 1, 2])
    )
    return out / "index.html"


def serve(root: Path):
    handler = functools.partial(
        http.server.SimpleHTTPRequestHandler, directory=str(root)
    )
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def drive(root: Path, page_path: str) -> dict:
    """Open the page, click patches, change layer and head; returns what happened."""
    from playwright.sync_api import sync_playwright

    server = serve(root)
    errors, outside = [], []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.on("console", lambda m: m.type == "error" and errors.append(m.text))
            page.on("pageerror", lambda e: errors.append(str(e)))

            # anything not served by our own server is refused and recorded
            def route(r):
                if urlparse(r.request.url).hostname == "127.0.0.1":
                    return r.continue_()
                outside.append(r.request.url)
                return r.abort()

            page.route("**/*", route)
            page.goto(f"http://127.0.0.1:{server.server_port}/{page_path}")
            main = page.locator(".vx-main")
            # drawn once the first image's maps are inflated
            page.locator(".vx-main[data-map]").wait_for()
            shown = lambda: main.get_attribute("data-map")  # noqa: E731
            maps = [shown()]
            main.click(position={"x": 20, "y": 20})
            maps.append(shown())
            click_ms = float(page.locator(".vx").get_attribute("data-render-ms"))
            main.click(position={"x": 250, "y": 200})
            maps.append(shown())
            page.locator("input[aria-label=layer]").fill("0")
            maps.append(shown())
            page.locator(".vx-buttons button[data-head='1']").click()
            maps.append(shown())
            caption = page.locator(".vx-caption").inner_text()
            back = page.locator("button.vx-btn", has_text="Back to").inner_text()
            thumbs = page.locator(".vx-thumb").count()
            browser.close()
    finally:
        server.shutdown()
    return {
        "maps": maps,
        "errors": errors,
        "outside": outside,
        "click_ms": click_ms,
        "caption": caption,
        "back": back,
        "thumbs": thumbs,
    }


def check(result: dict, images: int, back: str) -> None:
    assert result["thumbs"] == images
    assert result["back"] == back
    maps = result["maps"]
    assert all(m and len(m.split(",")) == 64 for m in maps)
    assert all(a != b for a, b in zip(maps, maps[1:])), (
        "a click or a choice left the map as it was"
    )
    assert "Layer 1, head 2" in result["caption"]
    assert result["errors"] == []
    assert result["outside"] == []
    assert result["click_ms"] < 100


def test_standalone_page(standalone_page):
    check(
        drive(standalone_page.parent, standalone_page.name),
        images=3,
        back="Back to pooled",  # vit_laptop: mean pooling
    )


@pytest.mark.parametrize("page, folder", BOOK_PAGES.items())
def test_built_book_page(page, folder):
    path = BOOK_HTML / "book" / page
    if not path.is_file():
        if in_ci():
            pytest.fail(f"{path} is missing: `make test` builds the book first")
        pytest.skip("the book is not built (make book)")
    check(
        drive(BOOK_HTML, str(path.relative_to(BOOK_HTML))), images=24, back=BACK[page]
    )
    files = [path, *(BOOK_HTML / "_static" / folder).iterdir()]
    megabytes = sum(f.stat().st_size for f in files) / 1e6
    assert megabytes < MAX_PAGE_MB, f"{page} loads {megabytes:.1f} MB"
