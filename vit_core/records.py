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


# What a time-budget record keeps of a run's summary.json.
RUN_RECORD_FIELDS = (
    "test_accuracy",
    "test_accuracy_flip",
    "train_seconds",
    "device",
    "command",
    "commit",
    "epochs",
    "model",
    "params",
    "img_per_s",
    "torch",
    "data",
    "per_class_accuracy",
    "recipe",
    "stopped_by",
    "load_avg_start",
    "load_avg_end",
)
# ...and what it keeps when the run had them: a teacher's time (vit_core.distill)
OPTIONAL_RECORD_FIELDS = ("teacher_seconds", "teacher_share")


def record_run(run: str | Path, name: str) -> Path:
    """Write ``vit_core/results/NAME`` from the finished run folder ``run``: its
    accuracy (with and without flip averaging), time, machine, load and recipe."""
    from .checkpoint import atomic_write_json

    summary_file = Path(run) / "summary.json"
    if not summary_file.is_file():
        raise FileNotFoundError(f"{summary_file} is missing: has the run finished?")
    summary = json.loads(summary_file.read_text())
    missing = [k for k in RUN_RECORD_FIELDS if k not in summary]
    if missing:
        raise ValueError(f"{summary_file} lacks {', '.join(missing)}")
    path = result_path(name)
    keep = RUN_RECORD_FIELDS + tuple(k for k in OPTIONAL_RECORD_FIELDS if k in summary)
    atomic_write_json(path, {k: summary[k] for k in keep})
    return path


def main(argv=None) -> None:
    import argparse
    import sys

    p = argparse.ArgumentParser(
        prog="python -m vit_core.records",
        description="Record a finished run as vit_core/results/NAME.",
    )
    p.add_argument("run", help="the run folder (it holds summary.json)")
    p.add_argument("name", help="the result file, e.g. cpu_laptop.json")
    args = p.parse_args(argv)
    try:
        print(f"wrote {record_run(args.run, args.name)}")
    except (OSError, ValueError) as e:
        sys.exit(f"error: {e}")


if __name__ == "__main__":
    main()
