"""The attention chapters count layers, heads, rows and columns from 1 in their text,
plot titles and printed labels, as the widget does; only Python indices count from 0
(``layer=3`` is "layer 4"). A label such as "layer 0" in prose or in a string the code
prints means the text slipped back to Python's counting."""

import ast
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = ("07_attention_maps.ipynb", "08_attention_explorer.ipynb")
# a word that names a position, then a whole 0: "layer 0", "Heads 0–3" (not "head 0.5")
ZERO_LABEL = re.compile(
    r"\b(?:layers?|heads?|rows?|col(?:umn)?s?|blocks?)\s+0(?!\.?\d)", re.I
)


def strings(code: str) -> list[str]:
    """The string literals of a code cell, f-strings' literal parts included; IPython's
    magics and shell lines are not Python, so they are dropped before parsing."""
    python = "\n".join(
        "" if line.lstrip().startswith(("%", "!")) else line
        for line in code.splitlines()
    )
    return [
        node.value
        for node in ast.walk(ast.parse(python))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]


def zero_labels(path: Path) -> list[str]:
    found = []
    for i, cell in enumerate(json.loads(path.read_text(encoding="utf-8"))["cells"]):
        source = "".join(cell["source"])
        if cell["cell_type"] == "markdown":
            texts = [source]
        elif cell["cell_type"] == "code":
            texts = strings(source)
        else:
            continue
        found += [
            f"cell {i}: {m.group(0)!r}" for t in texts for m in ZERO_LABEL.finditer(t)
        ]
    return found


def test_the_pattern_finds_labels_and_leaves_indices():
    assert len(ZERO_LABEL.findall("Layer 0 and heads 0–3, row 0, col 0. Head 0.")) == 5
    for fine in ("layer 10", "layer=0", "layer 1", "head 0.5", "`head=0`"):
        assert not ZERO_LABEL.search(fine), fine
    code = '%matplotlib inline\nx = f"layer {l + 1}" + "rows 0-7"\nlayer = 0'
    assert [t for t in strings(code) if ZERO_LABEL.search(t)] == ["rows 0-7"]


@pytest.mark.parametrize("name", CHAPTERS)
def test_text_and_titles_count_from_1(name):
    found = zero_labels(ROOT / "notebooks" / name)
    assert not found, f"{name} counts from 0 in its text:\n" + "\n".join(found)
