"""The book's reading of vit_core/results/cpu_distill.json, which ``python
scripts/experiments.py distill`` writes: the plain CLS ViT at equal epochs or equal
wall time, without a teacher and taught by one, each seed, and what the teacher's
forward passes cost.

A difference between the two arms counts only where it is larger than the spread of
either arm over its seeds (best minus worst): another pair of seeds could reverse a
smaller one.
"""

from __future__ import annotations

import statistics

from results_view import html_table

from vit_core.records import load_result

FILE = "cpu_distill.json"
COLUMNS = (
    "teacher",
    "length",
    "epochs run",
    "seeds",
    "val accuracy",
    "test accuracy",
    "spread (test)",
    "img/s",
    "teacher ms/image",
    "teacher share",
)


def length(record: dict) -> str:
    """What the arms were matched on: a number of epochs, or minutes of wall time."""
    if record.get("budget"):
        return f"{record['budget'] / 60:g} min"
    return f"{record['epochs']} epochs"


def arms(records: list[dict]) -> list[dict]:
    """One row per (teacher, distillation, length): means and spread over its seeds,
    the equal-epoch rows first, each length's row without a teacher first."""
    groups: dict[tuple, list[dict]] = {}
    for r in records:
        key = (r["teacher"], r["distill"], length(r), bool(r.get("budget")))
        groups.setdefault(key, []).append(r)
    rows = []
    for (teacher, mode, matched, timed), runs in groups.items():
        test = [100 * r["test_accuracy"] for r in runs]
        taught = [r for r in runs if "teacher_ms_per_image" in r]
        rows.append(
            {
                "teacher": f"{teacher} ({mode})" if teacher else "none",
                "taught": bool(teacher),
                "length": matched,
                "timed": timed,
                "epochs_run": statistics.mean(
                    r.get("epochs_run", r["epochs"]) for r in runs
                ),
                "seeds": ", ".join(str(r["seed"]) for r in runs),
                "val": statistics.mean(100 * r["val_accuracy"] for r in runs),
                "test": statistics.mean(test),
                "spread": max(test) - min(test),
                "img_per_s": statistics.mean(r["img_per_s"] for r in runs),
                "ms": statistics.mean(r["teacher_ms_per_image"] for r in taught)
                if taught
                else None,
                "share": statistics.mean(r["teacher_share"] for r in taught)
                if taught
                else None,
            }
        )
    return sorted(
        rows,
        key=lambda row: (row["timed"], row["length"], row["taught"], row["teacher"]),
    )


def verdicts(rows: list[dict]) -> list[str]:
    """Each taught row against the untaught one of its length, in words."""
    lines = []
    for row in rows:
        base = next(
            (b for b in rows if not b["taught"] and b["length"] == row["length"]), None
        )
        if not row["taught"] or base is None:
            continue
        gain = row["test"] - base["test"]
        spread = max(row["spread"], base["spread"])
        verdict = (
            "larger than the seeds' spread"
            if abs(gain) > spread
            else "within the seeds' spread: a tie"
        )
        lines.append(
            f"At {row['length']}, taught by {row['teacher']}: {gain:+.2f} "
            f"points of test accuracy (spread {spread:.2f}), {verdict}; the teacher "
            f"took {row['share']:.0%} of the training time."
        )
    return lines


def distill_table(records: list[dict] | None = None) -> str:
    """The arms as an HTML table, followed by the verdicts."""
    records = load_result(FILE) if records is None else records
    if not records:
        return (
            "<p>Not measured yet: run <code>python scripts/experiments.py distill "
            "--epochs N --teacher CHECKPOINT</code> (or <code>--budget SECONDS"
            "</code>).</p>"
        )
    rows = arms(records)
    cells = [
        {
            "teacher": row["teacher"],
            "length": row["length"],
            "epochs run": f"{row['epochs_run']:.1f}",
            "seeds": row["seeds"],
            "val accuracy": f"{row['val']:.2f}%",
            "test accuracy": f"{row['test']:.2f}%",
            "spread (test)": f"{row['spread']:.2f}",
            "img/s": f"{row['img_per_s']:.0f}",
            "teacher ms/image": "–" if row["ms"] is None else f"{row['ms']:.3f}",
            "teacher share": "–" if row["share"] is None else f"{row['share']:.0%}",
        }
        for row in rows
    ]
    said = "".join(f"<p>{line}</p>" for line in verdicts(rows))
    return html_table(list(COLUMNS), cells) + said


# The deletion measurement (scripts/maps_faithfulness.py) of the two students of
# chapter 10: the same recipe, seed and epochs, without and with the teacher.
MAPS = {
    "untaught": "maps_vit_laptop_cls_e5.json",
    "taught": "maps_vit_laptop_cls_e5_taught.json",
}
MAP_METHODS = ("raw attention", "rollout", "class-specific")


def map_gaps(records: dict | None = None) -> list[dict]:
    """Per map: each student's area minus random deletion's, paired on the images
    (lower: the map finds the evidence sooner than chance), with its 95% interval,
    and which student's is lower beyond both intervals (None: they overlap)."""
    if records is None:
        records = {arm: load_result(name) for arm, name in MAPS.items()}
    rows = []
    for method in MAP_METHODS:
        gaps = {}
        for arm, record in records.items():
            if record is None:
                raise ValueError(f"{MAPS[arm]} is missing: run maps_faithfulness.py")
            entry = record["deletion"][method]
            gaps[arm] = (entry["vs_random"], *entry["vs_random_95"])
        (_, u_lo, u_hi), (_, t_lo, t_hi) = gaps["untaught"], gaps["taught"]
        lower = "taught" if t_hi < u_lo else "untaught" if u_hi < t_lo else None
        rows.append({"method": method, **gaps, "lower": lower})
    return rows


def _gap(cell: tuple) -> str:
    mean, lo, hi = cell
    return f"{mean:+.3f} ({lo:+.3f} to {hi:+.3f})"


def maps_comparison(records: dict | None = None) -> str:
    """The two students' deletion gaps to random, side by side, as HTML."""
    cells = [
        {
            "map": r["method"],
            "untaught: area − random (95%)": _gap(r["untaught"]),
            "taught: area − random (95%)": _gap(r["taught"]),
            "lower": r["lower"] or "a tie (intervals overlap)",
        }
        for r in map_gaps(records)
    ]
    return html_table(list(cells[0]), cells)


def maps_reading(records: dict | None = None) -> str:
    """What the table says about the CLS token, in words."""
    raw = next(r for r in map_gaps(records) if r["method"] == "raw attention")
    if raw["lower"] is None:
        verdict = (
            "the two intervals overlap: this measurement does not show that the "
            "teacher changed where the CLS token looks"
        )
    else:
        verdict = (
            f"the {raw['lower']} student's CLS attention finds the evidence sooner, "
            "beyond both intervals"
        )
    return (
        "A negative gap means that deleting patches in the map's order costs accuracy "
        "sooner than deleting them at random. For the last layer's CLS attention, "
        f"{verdict}."
    )
