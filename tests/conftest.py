"""Shared test setup: the repository root, the data folder and the built book."""

from __future__ import annotations

import os
import pickle
import subprocess
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
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
