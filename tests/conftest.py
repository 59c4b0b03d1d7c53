"""Shared test setup: the repository root, the data folder and the built book."""

from __future__ import annotations

import html
import inspect
import os
import pickle
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
# the book's tools (book_ext, make_student, ...) are scripts, not a package
sys.path.insert(0, str(ROOT / "book" / "tools"))
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# Headless and quiet: no GPU, no first-run or background requests (the tests check that
# nothing leaves the machine).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
BOOK_HTML = ROOT / "_build" / "html"

# The same default as vit_core and the Makefile, so tests find the data without extra
# setup.
os.environ.setdefault(
    "VIT_CORE_DATA", str(Path.home() / ".cache" / "vit_core" / "cifar10")
)


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def book_html() -> Path:
    """_build/html, built with `make book` first if it is missing (`make test` always
    builds it)."""
    if not (BOOK_HTML / "index.html").is_file():
        subprocess.run(["make", "book"], cwd=ROOT, check=True)
    return BOOK_HTML


def write_fake_cifar(root: Path, n: int = 20) -> Path:
    """Random images in CIFAR-10's official python layout: ``n`` per batch file."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {
            b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            b"labels": list(rng.integers(0, 10, n)),
            b"filenames": [f"img_{i}.png".encode() for i in range(n)],
        }
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f)
    return folder


@pytest.fixture
def tiny_cifar(tmp_path) -> Path:
    """A data folder of 320 training and 64 test images, official layout: seconds per
    epoch."""
    root = tmp_path / "tiny_cifar"
    write_fake_cifar(root, n=64)
    return root


def argv(*parts) -> list[str]:
    """Command-line words: a string is split at its spaces, a path is kept whole."""
    words = []
    for part in parts:
        words += part.split() if isinstance(part, str) else [str(part)]
    return words


def _code_lines(source: str) -> set[str]:
    """The lines of ``source`` without indentation or comments, long enough to be
    distinctive."""
    lines = (line.split("  #")[0].strip() for line in source.splitlines())
    return {line for line in lines if len(line) >= 16 and not line.startswith("#")}


def solution_fingerprints() -> dict[str, str]:
    """For each reference solution in vit_core.course.reference, its longest code line
    that no notebook shows outside its solutions (the {solution} cells and hidden
    reference cells): a file that holds one holds a solution."""
    from book_ext import is_hidden_reference

    from vit_core.course import reference

    outside = set()
    for path in (ROOT / "notebooks").glob("*.ipynb"):
        for cell in nbformat.read(path, as_version=4).cells:
            if "{solution" not in cell.source and not is_hidden_reference(cell):
                outside |= _code_lines(cell.source)
    prints = {}
    for name, obj in vars(reference).items():
        if getattr(obj, "__module__", None) != reference.__name__:
            continue
        body = inspect.getsource(obj).split("\n", 1)[1]
        prints[name] = max(_code_lines(body) - outside, key=len, default=None)
    return prints


def readable_text(path: Path) -> str:
    """A file's text as a reader sees it: HTML without its tags (code is split into
    highlighted spans) and entities, a notebook as its cells' sources."""
    text = path.read_text(encoding="utf8", errors="replace")
    if path.suffix == ".html":
        return html.unescape(re.sub(r"<[^>]+>", "", text))
    if path.suffix == ".ipynb":
        cells = nbformat.reads(text, as_version=4).cells
        return "\n".join(cell.source for cell in cells)
    return text


def leaked_solutions(text: str, prints: dict[str, str]) -> list[str]:
    """The solutions whose fingerprint ``text`` holds, and any {solution} directive."""
    found = [name for name, line in prints.items() if line in text]
    return found + (["a {solution} directive"] if "{solution" in text else [])
