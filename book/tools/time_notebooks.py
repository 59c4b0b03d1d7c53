"""Run each course notebook once on this machine and record how long it took.

    make notebook-times      # or:
    python book/tools/time_notebooks.py notebooks vit_core/results/notebook_times.json

Each notebook runs in a fresh kernel from its own folder (as in the book build) with
nbclient; the seconds are wall-clock time for the whole notebook. The instructor guide's
table is generated from the JSON this writes, so rerun it after changing a notebook.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from vit_core.runinfo import cpu_model


def time_notebook(path: Path, timeout: int = 1800) -> dict:
    # the table reports CPU times, even on a GPU machine
    os.environ["CUDA_VISIBLE_DEVICES"] = ""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    start = time.perf_counter()
    error = None
    try:
        client.execute()
    except Exception as e:  # record the failure, keep timing the others
        last = str(e).strip().splitlines()[-1] if str(e).strip() else ""
        error = f"{type(e).__name__}: {last}"
    seconds = time.perf_counter() - start
    return {
        "notebook": path.stem,
        "seconds": round(seconds, 1),
        "ok": error is None,
        "error": error,
        "code_cells": sum(c.cell_type == "code" for c in nb.cells),
    }


def main(
    folder: str = "notebooks", out: str = "vit_core/results/notebook_times.json"
) -> int:
    paths = sorted(Path(folder).glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        print(f"no notebooks in {folder}/", file=sys.stderr)
        return 1
    rows = []
    load_start = os.getloadavg()[0]
    for path in paths:
        print(f"running {path} ...", flush=True)
        row = time_notebook(path)
        print(
            f"  {row['seconds']:.1f} "
            f"s{'' if row['ok'] else '  FAILED: ' + row['error']}",
            flush=True,
        )
        rows.append(row)
    import torch

    record = {
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "processor": cpu_model(),
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "python": platform.python_version(),
            "torch": torch.__version__,
        },
        "device": "cpu",
        # other work on the machine slows the notebooks down: the 1-minute load average,
        # before and after
        "load_avg_start": round(load_start, 2),
        "load_avg_end": round(os.getloadavg()[0], 2),
        "notebooks": rows,
    }
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(record, indent=2) + "\n", encoding="utf8")
    print(f"wrote {out}")
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
