"""House rules that a reader of the package relies on: short functions."""
import ast
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
                    long.append(f"{path.name}:{node.lineno} {node.name}() has {lines} lines")
    assert not long, "\n".join(long)
