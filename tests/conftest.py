"""Shared test setup: the repository root, the data folder and the built book."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BOOK_HTML = ROOT / "_build" / "html"

# The same default as vit_core and the Makefile, so tests find the data without extra setup.
os.environ.setdefault("VIT_CORE_DATA", str(Path.home() / ".cache" / "vit_core" / "cifar10"))


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def book_html() -> Path:
    """_build/html, built with `make book` first if it is missing (`make test` always builds it)."""
    if not (BOOK_HTML / "index.html").is_file():
        subprocess.run(["make", "book"], cwd=ROOT, check=True)
    return BOOK_HTML
