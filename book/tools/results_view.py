"""Tables for the book's generated pages (results, instructor guide), read from results/*.json(l).

Every number on those pages comes from a file in results/; nothing is typed by hand. The renderer is
generic: a JSON object becomes a two-column table of its (flattened) fields, a list of objects or a
JSON-lines file becomes one table with a row per record. Matrices and long lists are summarized.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
from IPython.display import HTML, Markdown, display

RESULTS = Path(__file__).resolve().parents[2] / "results"
MAX_LIST = 12  # longer lists of scalars are summarized, not printed


def results_dir() -> Path:
    return RESULTS


def read(path: Path):
    """A .json file's value, or a .jsonl file's list of records (blank lines skipped)."""
    text = path.read_text(encoding="utf8")
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    return json.loads(text)


def _summarize(value):
    if isinstance(value, list):
        if value and all(isinstance(v, list) for v in value):
            cols = len(value[0]) if value[0] is not None else 0
            return f"({len(value)}×{cols} matrix)"
        if len(value) <= MAX_LIST and all(not isinstance(v, (dict, list)) for v in value):
            return ", ".join(_fmt(v) for v in value)
        return f"({len(value)} items)"
    return value


def flatten(record, prefix: str = "") -> dict:
    """Nested dicts -> dotted keys; lists of scalars joined; matrices and long lists summarized."""
    out = {}
    if not isinstance(record, dict):
        return {prefix or "value": _summarize(record)}
    for key, value in record.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            out.update(flatten(value, name))
        else:
            out[name] = _summarize(value)
    return out


def _fmt(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, np.integer):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if math.isnan(value):
            return "–"
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e6):
            return f"{value:.3g}"
        return f"{value:.4g}"
    return str(value)


def _table(df: pd.DataFrame) -> HTML:
    return HTML(df.to_html(index=False, escape=True, na_rep="–", formatters={c: _fmt for c in df.columns},
                           classes="results-table", border=0))


def records_table(records: list[dict], columns: list[str] | None = None) -> HTML:
    """One row per record; columns: the given ones (those present) or every flattened field."""
    rows = [flatten(r) for r in records]
    df = pd.DataFrame(rows)
    if columns:
        df = df[[c for c in columns if c in df.columns]]
    return _table(df)


def object_table(obj: dict) -> HTML:
    """A JSON object as a field/value table; lists of objects inside it get their own tables."""
    scalars, nested = {}, {}
    for key, value in obj.items():
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            nested[key] = value
        elif isinstance(value, dict):
            scalars.update(flatten(value, key))
        else:
            scalars[key] = _summarize(value)
    df = pd.DataFrame({"field": list(scalars), "value": [_fmt(v) for v in scalars.values()]})
    parts = [df.to_html(index=False, escape=True, classes="results-table", border=0)] if scalars else []
    for key, value in nested.items():
        parts.append(f"<p><strong>{key}</strong></p>")
        parts.append(records_table(value).data)
    return HTML("\n".join(parts))


def show_file(path: Path) -> None:
    """A caption with the file name, then its table(s)."""
    data = read(path)
    rel = f"results/{path.name}"
    if isinstance(data, list) and all(isinstance(r, dict) for r in data):
        display(Markdown(f"**`{rel}`**: {len(data)} records."))
        display(records_table(data))
    elif isinstance(data, dict):
        display(Markdown(f"**`{rel}`**"))
        display(object_table(data))
    else:
        display(Markdown(f"**`{rel}`**"))
        display(Markdown(f"`{_fmt(_summarize(data))}`"))


def show(pattern: str, missing: str | None = None) -> None:
    """Show every results file matching the glob pattern, or the `missing` sentence when none does."""
    paths = sorted(p for p in RESULTS.glob(pattern) if p.suffix in (".json", ".jsonl"))
    if not paths:
        display(Markdown(missing or f"No file in `results/` matches `{pattern}` yet."))
    for path in paths:
        show_file(path)


def show_others(covered: list[str]) -> None:
    """Every results file that no section above covered."""
    seen = {p for pattern in covered for p in RESULTS.glob(pattern)}
    rest = sorted(p for p in RESULTS.glob("*.json*") if p.suffix in (".json", ".jsonl") and p not in seen)
    if not rest:
        display(Markdown("Every file in `results/` is shown above."))
    for path in rest:
        show_file(path)


def notebook_times_table(path: Path | None = None) -> None:
    """The instructor guide's table: each notebook's CPU run time, from results/notebook_times.json."""
    path = path or RESULTS / "notebook_times.json"
    if not path.is_file():
        display(Markdown("The notebooks have not been timed on this machine yet: run `make notebook-times` "
                         "(it writes `results/notebook_times.json`), then rebuild the book."))
        return
    data = read(path)
    rows = []
    for r in data.get("notebooks", []):
        seconds = r.get("seconds")
        rows.append({"notebook": r.get("notebook"),
                     "run time (min:s)": "–" if seconds is None else f"{round(seconds) // 60}:{round(seconds) % 60:02d}",
                     "ran cleanly": r.get("ok")})
    total = sum(r.get("seconds") or 0 for r in data.get("notebooks", []))
    machine = data.get("machine", {})
    display(Markdown(
        f"Measured {data.get('measured_at', 'at an unknown time')} on {machine.get('processor', 'a CPU')} "
        f"({machine.get('cpu_count', '?')} cores, torch {machine.get('torch', '?')}), one fresh kernel per "
        f"notebook; all notebooks together: {total / 60:.1f} minutes."))
    display(_table(pd.DataFrame(rows)))
