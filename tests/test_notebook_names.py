"""No notebook cell rebinds a name that the notebook imported: a later assignment to
``reference`` (the module of reference implementations) broke every exercise cell run
after it, in the student edition too."""

import ast
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted(
    (ROOT / "student").glob("*.ipynb")
)


def code_cells(path: Path) -> list[ast.Module]:
    cells = json.loads(path.read_text(encoding="utf8"))["cells"]
    out = []
    for cell in cells:
        if cell["cell_type"] != "code":
            continue
        lines = "".join(cell["source"]).splitlines()
        source = "\n".join(line for line in lines if not line.lstrip().startswith("%"))
        out.append(ast.parse(source))
    return out


def bound(tree: ast.AST) -> set[str]:
    """Names a cell assigns (=, +=, for, with ... as), not those it imports."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return names


def imported(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_no_cell_rebinds_an_imported_name(path):
    seen: set[str] = set()
    problems = []
    for i, tree in enumerate(code_cells(path)):
        clash = bound(tree) & seen
        if clash:
            problems.append(f"code cell {i} rebinds imported {sorted(clash)}")
        seen |= imported(tree)
    assert not problems, f"{path.name}: " + "; ".join(problems)
