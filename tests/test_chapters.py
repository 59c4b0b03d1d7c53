"""Every chapter opens and closes the same way for the learner: objectives at the top,
its measured running time, and a self-check at the end whose answers are marked in the
cell (vit_core.course.selfcheck). The instructor's answers, in a {solution} dropdown,
must be the ones the key accepts."""

import ast
import json
import re
from pathlib import Path

import pytest

from vit_core.course.selfcheck import digest, load_key, self_check

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
ANSWERS = re.compile(r"^my_answers = (\{.*\})\s*$", re.MULTILINE)


def texts(path: Path, kind: str) -> list[str]:
    cells = json.loads(path.read_text(encoding="utf8"))["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == kind]


def chapter(path: Path) -> str:
    return path.name[:2]


PROSE_WORDS = 2400  # the guide's limit for a chapter: one idea per section


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_chapter_stays_under_its_prose_limit(path):
    # every word of every markdown cell counts: exercises, solutions, fenced code
    words = sum(len(text.split()) for text in texts(path, "markdown"))
    assert words <= PROSE_WORDS, f"{path.name}: {words} words of prose"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_chapter_opens_with_objectives_and_its_time(path):
    first = texts(path, "markdown")[0]
    assert "**Objectives.**" in first, f"{path.name}: no objectives in the first cell"
    code = "\n".join(texts(path, "code"))
    assert f'notebook_time("{path.stem}")' in code, f"{path.name}: no running time"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_self_check_is_marked_in_the_cell(path):
    n = chapter(path)
    key = load_key(n)
    assert 3 <= len(key) <= 5, f"{path.name}: {len(key)} self-check questions"
    markdown = "\n".join(texts(path, "markdown"))
    assert f":label: sc-{n}" in markdown, f"{path.name}: no self-check exercise"
    code = texts(path, "code")
    cell = next((c for c in code if f'self_check("{n}", my_answers)' in c), None)
    assert cell is not None, f"{path.name}: no cell marks the self-check"
    asked = ast.literal_eval(ANSWERS.search(cell).group(1))
    assert sorted(asked) == sorted(key) and set(asked.values()) == {None}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_instructors_answers_are_the_keys(path, capsys):
    n = chapter(path)
    solution = next(
        (
            m
            for m in texts(path, "markdown")
            if re.search(rf"\{{solution\}}\s*sc-{n}", m)
        ),
        None,
    )
    assert solution is not None, f"{path.name}: no solution for sc-{n}"
    answers = ast.literal_eval(ANSWERS.search(solution).group(1))
    assert self_check(n, answers) == len(load_key(n)), capsys.readouterr().out


def test_a_wrong_answer_comes_back_with_its_reason(tmp_path, monkeypatch, capsys):
    import vit_core.course.selfcheck as sc

    entry = {"digest": digest("99", 1, "b"), "hints": {"a": "A is why.", "else": "No."}}
    (tmp_path / "99.json").write_text(json.dumps({"1": entry, "2": entry}))
    monkeypatch.setattr(sc, "KEYS", tmp_path)
    assert self_check("99", {1: " B ", 2: "a"}) == 1
    out = capsys.readouterr().out
    assert "1: right" in out and "2: not 'a'. A is why." in out
    assert self_check("99", {1: "z", 2: None}) == 0
    out = capsys.readouterr().out
    assert "1: not 'z'. No." in out and "2: not answered yet" in out
    with pytest.raises(ValueError, match="there is no question 7"):
        self_check("99", {7: "a"})
    with pytest.raises(KeyError, match="no self-check for chapter '98'"):
        self_check("98", {})
    assert digest("99", 1, "b") not in json.dumps({"a": "b"})  # a digest, not "b"
