"""Write the student notebooks: student/NN_*.ipynb from notebooks/NN_*.ipynb.

    python book/tools/make_student.py          # (re)write student/
    python book/tools/make_student.py --check  # exit 1 if student/ is out of date

As Neuromatch does, the course's notebooks (the instructor's, with solutions) are the
source, and the student copies are generated from them and committed, so that a student
who downloads, clones or opens one in Colab never holds a solution. Each copy loses its
``{solution}`` dropdowns and any hidden reference cell
(:func:`book_ext.student_notebook`) and keeps everything else, outputs cleared; its
predict-then-check cells are tagged ``remove-output``, so that the student website
does not print their measured answers (the student runs them, after predicting). Its
exercise cells are the stubs that raise ``NotImplementedError``; the notebook goes on
with :mod:`vit_core.course.reference` until the student's code passes its check.
student/ sits beside notebooks/, so relative paths mean the same in both. ``make
book-student`` builds the student edition from these copies;
tests/test_student_edition.py fails when they are out of date.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
from book_ext import student_notebook

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "notebooks"
TARGET = ROOT / "student"


def student_text(path: Path) -> str:
    """The student copy of the notebook at ``path``, as the text of its file."""
    nb = student_notebook(nbformat.read(path, as_version=4))
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    nb["metadata"]["vit_core"] = {
        "student_edition_of": path.relative_to(ROOT).as_posix(),
        "generated_by": "book/tools/make_student.py: edit the source, not this copy",
    }
    return nbformat.writes(nbformat.from_dict(nb))


def expected() -> dict[Path, str]:
    return {TARGET / p.name: student_text(p) for p in sorted(SOURCE.glob("*.ipynb"))}


def stale() -> list[str]:
    """What differs between student/ and what this script would write."""
    want = expected()
    have = set(TARGET.glob("*.ipynb"))
    problems = [f"{p.name}: not generated yet" for p in want if p not in have]
    problems += [f"{p.name}: no source in notebooks/" for p in have - set(want)]
    problems += [
        f"{p.name}: out of date"
        for p, text in want.items()
        if p in have and p.read_text(encoding="utf8") != text
    ]
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare")
    args = parser.parse_args(argv)
    if args.check:
        problems = stale()
        for line in problems:
            print(f"student/{line}: run `make student`", file=sys.stderr)
        return 1 if problems else 0
    TARGET.mkdir(exist_ok=True)
    want = expected()
    for path in set(TARGET.glob("*.ipynb")) - set(want):
        path.unlink()
    for path, text in want.items():
        path.write_text(text, encoding="utf8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
