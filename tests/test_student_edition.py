"""The student edition: notebooks without solutions that still run, and that carry the
student's own code forward once it passes its checks.

- student/*.ipynb are exactly what book/tools/make_student.py writes from notebooks/,
  and hold no solution (no {solution} block, no hidden reference cell, no line of a
  reference solution);
- every solution dropdown shows the code of vit_core.course.reference, so the two
  cannot drift apart;
- vit_core.course.carry: an unsolved or wrong exercise says so and the reference goes
  on; a passing one is used, and saved for the later notebooks;
- notebooks 1-4 of the student edition, solved by pasting each solution into its
  exercise cell, build notebook 4's ViT from the student's own functions.

Running the unsolved student notebooks top to bottom is nbval's job: `make test` runs
``pytest --nbval-lax notebooks/ student/``.
"""

from __future__ import annotations

import ast
import inspect
import re

import make_student
import nbformat
import pytest
import torch
from book_ext import is_hidden_reference, predict_then_check, student_notebook
from conftest import ROOT, leaked_solutions, readable_text, solution_fingerprints

from vit_core.course import carry, checks, explorer_reference, reference

STUDENT = sorted((ROOT / "student").glob("*.ipynb"))
USE = re.compile(r"(\w+) = use\(\s*(\w+), (check_\w+)\s*\)")
FENCE = re.compile(r"```python\n(.*?)\n```", re.S)


def test_student_notebooks_are_up_to_date():
    assert make_student.stale() == [], "run `make student` and commit student/"


@pytest.mark.parametrize("path", STUDENT, ids=lambda p: p.stem)
def test_student_notebooks_hold_no_solution(path):
    prints = solution_fingerprints()
    nb = nbformat.read(path, as_version=4)
    assert not [c for c in nb.cells if is_hidden_reference(c)]
    assert leaked_solutions(readable_text(path), prints) == []
    assert all(not c.get("outputs") for c in nb.cells)


def _code_sources(nb) -> list[str | None]:
    return [c.source if c.cell_type == "code" else None for c in nb.cells]


@pytest.mark.parametrize("path", STUDENT, ids=lambda p: p.stem)
def test_the_student_site_shows_no_measured_answer(path):
    """Each cell that calls a reveal helper (and those that lead to it from the
    prediction) has its output removed from the student website: the student sees the
    answer only by running it."""
    nb = nbformat.read(path, as_version=4)
    revealing = predict_then_check(_code_sources(nb))
    untagged = [
        nb.cells[i].source[:60]
        for i in sorted(revealing)
        if "remove-output" not in nb.cells[i].metadata.get("tags", [])
    ]
    assert untagged == [], f"{path.name}: outputs shown on the student site"


def test_predict_then_check_cells_are_the_prediction_to_the_reveal():
    code = nbformat.v4.new_code_cell
    nb = nbformat.v4.new_notebook(
        cells=[
            code("import torch"),
            code("my_rung = None  # your prediction"),
            nbformat.v4.new_markdown_cell("The measured ladder:"),
            code("display(table)"),
            code("best = reveal_ladder(my_rung, rows)"),
            code("print(best)  # after the reveal: the answer is no secret"),
            code("# no prediction before this one\nreveal(None, options, {}, 0.0)"),
            code("# reveal_models( in a comment is no call"),
        ]
    )
    assert predict_then_check(_code_sources(nb)) == {3, 4, 6}
    tagged = [
        i
        for i, c in enumerate(student_notebook(nb)["cells"])
        if "remove-output" in c["metadata"].get("tags", [])
    ]
    assert tagged == [3, 4, 6]
    # the chapters that ask for a prediction have such cells
    for name in ("05_training_tricks", "06_training"):
        source = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
        assert predict_then_check(_code_sources(source)), name


def test_every_reference_has_a_fingerprint():
    prints = solution_fingerprints()
    assert len(prints) >= 19 and all(prints.values()), prints


def _exercises(nb) -> list[tuple[str, str, object]]:
    """(stub cell source, solution code, the solution that stands in) for each exercise
    that has a solution and a ``use`` line."""
    out, stub = [], None
    for cell in nb.cells:
        if cell.cell_type == "code" and USE.search(cell.source):
            stub = cell.source
        elif cell.cell_type == "markdown" and cell.source.startswith("````{solution}"):
            if stub is not None:
                code = FENCE.search(cell.source).group(1)
                check = getattr(checks, USE.search(stub).group(3))
                out.append((stub, code, carry.STAND_INS[check]))
            stub = None
    return out


def test_each_solution_is_its_reference():
    seen = set()
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for stub, code, solution in _exercises(nbformat.read(path, as_version=4)):
            mine, name = USE.search(stub).group(2), solution.__name__
            shown = re.sub(rf"\b{mine}\b", name, code, count=1)
            expected = inspect.getsource(solution)
            assert ast.dump(ast.parse(shown)) == ast.dump(ast.parse(expected)), (
                f"{path.name}: {mine}'s solution is not {solution.__module__}.{name}"
            )
            seen.add((solution.__module__, name))
    names = {
        (module.__name__, name)
        for module in (reference, explorer_reference)
        for name, obj in vars(module).items()
        if getattr(obj, "__module__", None) == module.__name__
    }
    assert seen == names, f"references without a solution dropdown: {names - seen}"


def not_yet(x, patch_size):
    raise NotImplementedError


def wrong(x, patch_size):
    return reference.patchify(x, patch_size).flip(1)


def my_patchify(x, patch_size):
    # its own code, not reference's: the saved copy runs without this module
    P, (B, C) = patch_size, x.shape[:2]
    x = x.unfold(2, P, P).unfold(3, P, P)  # (B, C, H/P, W/P, P, P)
    return x.permute(0, 2, 3, 1, 4, 5).reshape(B, -1, C * P * P)


def test_use_goes_on_with_the_reference_until_the_check_passes(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("VIT_CORE_MY_CODE", str(tmp_path))
    check = checks.check_patchify
    assert carry.use(not_yet, check) is reference.patchify
    out = capsys.readouterr().out
    assert "not implemented yet" in out and "not done yet" in out
    assert "vit_core" not in out  # where the solution lives stays out of sight
    assert carry.use(wrong, check) is reference.patchify
    out = capsys.readouterr().out
    assert "check_patchify: " in out and "not right yet" in out
    assert not (tmp_path / "patchify.py").exists()

    assert carry.use(my_patchify, check) is my_patchify
    assert "your my_patchify" in capsys.readouterr().out
    # a later notebook (here: the same process) gets the saved code back, checked again
    again = carry.earlier("patchify")
    assert again is not my_patchify and again.__name__ == "my_patchify"
    assert "yours, my_patchify from" in capsys.readouterr().out
    x = torch.randn(2, 3, 8, 8)
    assert torch.equal(again(x, 4), reference.patchify(x, 4))

    carry.use(not_yet, check)  # broken again: forget the saved one
    assert carry.earlier("patchify") is reference.patchify


def test_no_notebook_imports_the_solutions():
    imports = re.compile(r"^(?:from|import) .*reference", re.M)
    for path in [*ROOT.glob("notebooks/*.ipynb"), *ROOT.glob("student/*.ipynb")]:
        for cell in nbformat.read(path, as_version=4).cells:
            assert not imports.search(cell.source), f"{path.name}: {cell.source[:80]}"


def test_every_check_that_use_takes_has_a_stand_in():
    used = set()
    for path in ROOT.glob("notebooks/*.ipynb"):
        for cell in nbformat.read(path, as_version=4).cells:
            used |= {m.group(3) for m in USE.finditer(cell.source)}
    assert len(used) >= 19 and used <= {check.__name__ for check in carry.STAND_INS}


def test_earlier_falls_back_part_by_part(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("VIT_CORE_MY_CODE", str(tmp_path))
    (tmp_path / "softmax.py").write_text("softmax = 1 / 0\n")
    (tmp_path / "attention.py").write_text(
        inspect.getsource(reference.attention).replace("def attention", "def mine")
        + "attention = mine\n"
    )
    softmax, attention = carry.earlier("softmax", "attention")
    out = capsys.readouterr().out
    assert softmax is reference.softmax and "ZeroDivisionError" in out
    assert attention.__name__ == "mine" and "yours, mine from" in out


def _paste_solutions(nb):
    """``nb`` with each solution's code in place of the stub it solves."""
    stubs = [c for c in nb.cells if c.cell_type == "code" and USE.search(c.source)]
    solved = {stub: code for stub, code, _ in _exercises(nb)}
    for cell in stubs:
        code = solved[cell.source]
        name = ast.parse(code).body[0].name
        tree, lines = ast.parse(cell.source), cell.source.split("\n")
        node = next(n for n in tree.body if getattr(n, "name", None) == name)
        lines[node.lineno - 1 : node.end_lineno] = code.split("\n")
        cell.source = "\n".join(lines)
    return nb


CARRIED_INTO_THE_MODEL = """
assert patchify.__name__ == "my_patchify", patchify
block = mine.blocks[0]
assert type(block).__name__ == "MyBlock", type(block)
assert type(block.attn).__name__ == "MyMultiHeadAttention", type(block.attn)
space = type(block.attn).forward.__globals__
assert space["attention"].__name__ == "my_attention", space["attention"]
assert space["softmax"].__name__ == "my_softmax", space["softmax"]
"""


def test_solved_student_notebooks_build_the_model_from_the_students_code(tmp_path):
    """Notebooks 1-4, each exercise solved by pasting its solution: notebook 4's ViT
    runs the student's patchify, softmax, attention, multi-head attention and block
    (and matches vit_core's logits with vit_core's weights, as the notebook asserts)."""
    from nbclient import NotebookClient

    for name in ("01_patches", "02_attention", "03_blocks", "04_vit_model"):
        nb = _paste_solutions(nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", 4))
        nb = nbformat.from_dict(student_notebook(nb))
        if name == "04_vit_model":
            nb.cells.append(nbformat.v4.new_code_cell(CARRIED_INTO_THE_MODEL))
        client = NotebookClient(
            nb, timeout=600, resources={"metadata": {"path": str(tmp_path)}}
        )
        client.execute()
        text = "\n".join(
            o.get("text", "") for c in nb.cells for o in c.get("outputs", [])
        )
        failed = re.findall(r"-> \w+ is not (?:done|right) yet", text)
        assert not failed, f"{name}: {failed}"
    saved = {p.stem for p in (tmp_path / "my_code").glob("*.py")}
    assert set(carry.CARRIED) - {"lr_schedule"} <= saved  # notebook 5's, not run here
