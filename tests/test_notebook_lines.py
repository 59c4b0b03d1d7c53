"""Code in the notebooks fits the page, and every citation in the book resolves.

The book renders code cells in a box about 88 columns wide; a longer line is cut off
and the reader must scroll sideways. Code in markdown cells (the solutions' fenced
blocks) renders the same way. These tests read the committed .ipynb files, so they need
no kernel and run in well under a second.
"""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
MAX_COLUMNS = 88
FENCE = re.compile(r"^\s*(`{3,}|~{3,})(.*)$")
CITE = re.compile(r"\{cite(?::[a-z]+)?\}`([^`]+)`")
BIB_KEY = re.compile(r"^@\w+\s*\{\s*([^,\s]+)\s*,", re.MULTILINE)


def cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def source(cell: dict) -> str:
    src = cell["source"]
    return src if isinstance(src, str) else "".join(src)


def fenced_code(markdown: str) -> list[tuple[int, str]]:
    """(line number, line) of the lines inside code fences (```python, ```, ~~~)
    of a markdown cell, also when nested in a MyST directive such as ````{solution};
    the directives themselves (```{exercise} ...) hold prose, not code."""
    out, stack = [], []  # stack of open fences: (fence marks, holds code?)
    for n, line in enumerate(markdown.splitlines(), 1):
        m = FENCE.match(line)
        closes = (
            m
            and stack
            and m.group(1).startswith(stack[-1][0])
            and not m.group(2).strip()
        )
        if closes:
            stack.pop()
        elif m and not (stack and stack[-1][1]):
            stack.append((m.group(1), not m.group(2).strip().startswith("{")))
        elif stack and stack[-1][1]:
            out.append((n, line))
    return out


def too_long(lines) -> list[str]:
    return [
        f"line {n} ({len(line)} columns): {line.strip()[:60]}"
        for n, line in lines
        if len(line) > MAX_COLUMNS
    ]


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 10


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_code_cells_fit_in_88_columns(path):
    problems = []
    for i, cell in enumerate(cells(path)):
        if cell["cell_type"] == "code":
            lines = enumerate(source(cell).splitlines(), 1)
            problems += [f"cell {i}, {p}" for p in too_long(lines)]
    assert not problems, f"{path.name}: code lines over {MAX_COLUMNS} columns:\n" + (
        "\n".join(problems)
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_code_in_markdown_cells_fits_in_88_columns(path):
    problems = []
    for i, cell in enumerate(cells(path)):
        if cell["cell_type"] == "markdown":
            lines = fenced_code(source(cell))
            problems += [f"cell {i}, {p}" for p in too_long(lines)]
    assert not problems, f"{path.name}: fenced code over {MAX_COLUMNS} columns:\n" + (
        "\n".join(problems)
    )


def test_fenced_code_is_found_and_directives_are_not():
    md = "```{exercise} Title\n" + "x" * 100 + "\n```\n```python\nshort\n```"
    assert fenced_code(md) == [(5, "short")]
    nested = "````{solution} ex\n```python\n" + "y" * 90 + "\n```\n````"
    assert too_long(fenced_code(nested))


def cited_keys() -> dict[str, set[str]]:
    """Every key of a {cite}, {cite:p} or {cite:t} role, by the file that uses it."""
    texts = {
        p.name: p.read_text(encoding="utf-8") for p in (ROOT / "book").glob("*.md")
    }
    for path in NOTEBOOKS:
        texts[path.name] = "\n".join(
            source(c) for c in cells(path) if c["cell_type"] == "markdown"
        )
    used = {}
    for name, text in texts.items():
        for group in CITE.findall(text):
            for key in group.split(","):
                used.setdefault(key.strip(), set()).add(name)
    return used


def test_every_cited_key_is_in_references_bib():
    bib = set(BIB_KEY.findall((ROOT / "book" / "references.bib").read_text("utf-8")))
    used = cited_keys()
    assert used, "no {cite} roles found: the pattern is broken"
    missing = {key: sorted(files) for key, files in used.items() if key not in bib}
    assert not missing, f"cited but not in book/references.bib: {missing}"


def test_references_bib_has_no_duplicate_keys():
    keys = BIB_KEY.findall((ROOT / "book" / "references.bib").read_text("utf-8"))
    assert len(keys) == len(set(keys)), sorted(k for k in keys if keys.count(k) > 1)
