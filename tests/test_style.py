"""House rules that a reader of the package relies on: short functions, 88 columns."""

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "vit_core"
MAX_FUNCTION_LINES = 80


def test_no_function_is_longer_than_80_lines():
    long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(
                        f"{path.name}:{node.lineno} {node.name}() has {lines} lines"
                    )
    assert not long, "\n".join(long)


def test_code_is_formatted_and_lint_clean_at_88_columns(repo_root):
    """ruff, as pyproject.toml sets it: 88 columns, sorted imports, no unused names."""
    ruff = [sys.executable, "-m", "ruff"]
    paths = ["vit_core", "tests", "book/tools"]
    check = subprocess.run(
        [*ruff, "check", *paths], cwd=repo_root, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout[-3000:]
    fmt = subprocess.run(
        [*ruff, "format", "--check", *paths],
        cwd=repo_root,
        capture_output=True,
        text=True,
    )
    assert fmt.returncode == 0, fmt.stdout[-3000:]
