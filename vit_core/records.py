"""The measured results: every number the course shows comes from one of these files.

They sit inside the package, in ``vit_core/results/``, so that every copy of the
course has them: a clone, an editable install, and a package installed from the
repository in Colab or Binder, where no ``../results`` folder exists beside the
notebook. The experiments write them (``scripts/``), the book and the notebooks read
them.
"""

from __future__ import annotations

import json
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def result_path(name: str | Path) -> Path:
    """``vit_core/results/NAME``; a :class:`~pathlib.Path` is taken as it is."""
    return name if isinstance(name, Path) else RESULTS_DIR / name


def load_result(name: str | Path):
    """The parsed result file (a ``.jsonl`` file as a list of its records), or None
    when it does not exist yet: nothing measured, nothing shown."""
    path = result_path(name)
    if not path.is_file():
        return None
    text = path.read_text()
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    return json.loads(text)
