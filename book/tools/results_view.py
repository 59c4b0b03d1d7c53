"""Tables for the book's generated pages (results, instructor guide), read from
vit_core/results/*.json(l).

Every number on those pages comes from a file in vit_core/results/; nothing is typed by
hand. The renderer is generic, so new result files need no code:

- a JSON object becomes a field/value table (nested objects flattened to dotted names;
  lists of objects inside it get a table of their own);
- a list of objects, or a JSON-lines file, becomes one table with a row per record. Its
  columns are the top-level fields plus any nested field (``recipe.lr``, ...) that
  differs between records; the fields every record shares, and each record's command and
  commit, go in a collapsed box under the table.

Accuracies (fields named ``*accuracy*`` holding a fraction) are shown as percentages;
matrices and long lists are summarized.
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path

from IPython.display import HTML, Markdown, display

from vit_core.records import RESULTS_DIR as RESULTS
from vit_core.records import load_result as read

MAX_LIST = 12  # longer lists of scalars are summarized, not printed
# long provenance strings: shown under the table
LONG_FIELDS = ("command", "commit", "argv", "cmd")
# text longer than this wraps inside its cell; other cells stay on one line
WRAP_AT = 40


def _summarize(value):
    if isinstance(value, list):
        if value and all(isinstance(v, list) for v in value):
            return f"({len(value)}×{len(value[0])} matrix)"
        if len(value) <= MAX_LIST and all(
            not isinstance(v, (dict, list)) for v in value
        ):
            return ", ".join(fmt(v) for v in value)
        return f"({len(value)} items)"
    return value


def flatten(record, prefix: str = "") -> dict:
    """Nested dicts -> dotted keys; lists of scalars joined; matrices and long lists
    summarized."""
    if not isinstance(record, dict):
        return {prefix or "value": _summarize(record)}
    out = {}
    for key, value in record.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            out.update(flatten(value, name))
        else:
            out[name] = _summarize(value)
    return out


def fmt(value, field: str = "") -> str:
    """One cell's text."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        if "accuracy" in field.lower() and 0.0 <= value <= 1.0:
            return f"{value * 100:.2f}%"
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e6):
            return f"{value:.3g}"
        return f"{value:.4g}"
    return str(value)


def html_table(columns: list[str], rows: list[dict], kind: str = "") -> str:
    """A plain HTML table (styled by book/_static/book.css); long text wraps, the rest
    stays on one line (``kind="glance"``: every cell wraps, to fit the page's width)."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = []
    for row in rows:
        cells = []
        for c in columns:
            text = fmt(row.get(c), c)
            cls = ' class="wrap"' if len(text) > WRAP_AT else ""
            cells.append(f"<td{cls}>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f'<div class="results-scroll"><table class="results-table {kind}">'
        f"<thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def _details(summary: str, inner: str) -> str:
    return (
        f'<details class="results-details"><summary>{html.escape(summary)}</summary>'
        f"{inner}</details>"
    )


def records_html(records: list[dict]) -> str:
    """One row per record, then the shared settings and the provenance in a collapsed
    box."""
    flat = [flatten(r) for r in records]
    columns: list[str] = []
    for row in flat:
        columns += [c for c in row if c not in columns]
    varying = {
        c
        for c in columns
        if len({json.dumps(row.get(c), default=str) for row in flat}) > 1
    }
    top_level = [c for c in columns if "." not in c and c not in LONG_FIELDS]
    nested_varying = [c for c in columns if "." in c and c in varying]
    main = top_level + nested_varying
    shared = [c for c in columns if "." in c and c not in varying]
    parts = [html_table(main, flat)]
    extra = []
    if shared:
        extra.append("<p>Shared by every record:</p>")
        extra.append(
            html_table(
                ["field", "value"],
                [{"field": c, "value": fmt(flat[0].get(c), c)} for c in shared],
            )
        )
    long_cols = [c for c in columns if c in LONG_FIELDS]
    if long_cols:
        extra.append("<p>How each record was made:</p>")
        extra.append(
            html_table(
                ["#"] + long_cols,
                [
                    {"#": str(i + 1), **{c: row.get(c) for c in long_cols}}
                    for i, row in enumerate(flat)
                ],
            )
        )
    if extra:
        parts.append(
            _details(
                "Settings shared by every record, commands and commits", "".join(extra)
            )
        )
    return "".join(parts)


def object_html(obj: dict) -> str:
    """A JSON object as a field/value table; lists of objects inside it get their own
    tables."""
    scalars, nested = {}, {}
    for key, value in obj.items():
        if (
            isinstance(value, list)
            and value
            and all(isinstance(v, dict) for v in value)
        ):
            nested[key] = value
        elif isinstance(value, dict):
            scalars.update(flatten(value, key))
        else:
            scalars[key] = _summarize(value)
    parts = []
    if scalars:
        parts.append(
            html_table(
                ["field", "value"],
                [{"field": k, "value": fmt(v, k)} for k, v in scalars.items()],
            )
        )
    for key, value in nested.items():
        parts.append(f"<p><strong>{html.escape(key)}</strong></p>")
        parts.append(records_html(value))
    return "".join(parts)


def show_file(path: Path) -> None:
    """A caption with the file name, then its table(s)."""
    data = read(path)
    rel = f"vit_core/results/{path.name}"
    if isinstance(data, list) and all(isinstance(r, dict) for r in data):
        noun = "record" if len(data) == 1 else "records"
        display(Markdown(f"**`{rel}`**: {len(data)} {noun}."))
        display(HTML(records_html(data)))
    elif isinstance(data, dict):
        display(Markdown(f"**`{rel}`**"))
        display(HTML(object_html(data)))
    else:
        display(Markdown(f"**`{rel}`**: `{fmt(_summarize(data))}`"))


def show(pattern: str, missing: str | None = None) -> None:
    """Show every results file matching the glob pattern, or the `missing` sentence when
    none does."""
    paths = sorted(p for p in RESULTS.glob(pattern) if p.suffix in (".json", ".jsonl"))
    if not paths:
        display(
            Markdown(
                missing or f"No file in `vit_core/results/` matches `{pattern}` yet."
            )
        )
    for path in paths:
        show_file(path)


def show_against_goal(name: str, missing: str) -> None:
    """What a time-budget record reached against its goal, then its fields, folded."""
    from search_log import verdict

    record = read(name)
    if record is None:
        display(Markdown(missing))
        return
    display(Markdown(verdict(name, record)))
    display(
        HTML(_details(f"Every field of vit_core/results/{name}", object_html(record)))
    )


def show_others(covered: list[str]) -> None:
    """Every results file that no section above covered."""
    seen = {p for pattern in covered for p in RESULTS.glob(pattern)}
    rest = sorted(
        p
        for p in RESULTS.glob("*.json*")
        if p.suffix in (".json", ".jsonl") and p not in seen
    )
    if not rest:
        display(Markdown("Every file in `vit_core/results/` is shown above."))
    for path in rest:
        show_file(path)


def notebook_times_table(path: Path | None = None) -> None:
    """The instructor guide's table: each notebook's CPU run time, from
    vit_core/results/notebook_times.json."""
    path = path or RESULTS / "notebook_times.json"
    if not path.is_file():
        display(
            Markdown(
                "The notebooks have not been timed on this machine yet: run `make "
                "notebook-times` (it writes `vit_core/results/notebook_times.json`), "
                "then rebuild the book."
            )
        )
        return
    data = read(path)
    rows = []
    for r in data.get("notebooks", []):
        seconds = r.get("seconds")
        rows.append(
            {
                "notebook": r.get("notebook"),
                "run time (min:s)": "–"
                if seconds is None
                else f"{round(seconds) // 60}:{round(seconds) % 60:02d}",
                "ran cleanly": r.get("ok"),
            }
        )
    total = sum(r.get("seconds") or 0 for r in data.get("notebooks", []))
    machine = data.get("machine", {})
    display(
        Markdown(
            f"Measured {data.get('measured_at', 'at an unknown time')} on "
            f"{machine.get('processor', 'a CPU')} "
            f"({machine.get('cpu_count', '?')} cores, torch "
            f"{machine.get('torch', '?')}), one fresh kernel per "
            "notebook; all notebooks together: "
            f"{round(total) // 60}:{round(total) % 60:02d} (min:s)."
            + (
                f" The machine's load average was {data['load_avg_start']} at the "
                f"start and {data['load_avg_end']} at "
                "the end (other work running at the same time makes the notebooks "
                "slower)."
                if "load_avg_start" in data
                else ""
            )
        )
    )
    display(HTML(html_table(["notebook", "run time (min:s)", "ran cleanly"], rows)))


def explorer_size(folder: str) -> None:
    """The size of an explorer page's data (book/_generated/FOLDER/), measured at build
    time: the page loads it whole."""
    book = Path(__file__).resolve().parents[1]
    data = book / "_generated" / folder / "explorer_data.js"
    if not data.is_file():
        display(
            Markdown(
                f"The explorer's data is missing (`{data.name}`): run "
                "`make explorer`, then rebuild the book."
            )
        )
        return
    display(
        Markdown(
            f"The page's data, `{folder}/{data.name}`, is "
            f"{data.stat().st_size / 1e6:.2f} MB."
        )
    )
