"""The Results page's reading of vit_core/results/cpu_distill.json, which
``python scripts/experiments.py distill`` writes: the plain CLS ViT at equal epochs,
without a teacher and taught by one, each seed, and what the teacher's forward passes
cost.

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
    "epochs",
    "seeds",
    "val accuracy",
    "test accuracy",
    "spread (test)",
    "img/s",
    "teacher ms/image",
    "teacher share",
)


def arms(records: list[dict]) -> list[dict]:
    """One row per (teacher, distillation, epochs): means and spread over its seeds,
    the row without a teacher first."""
    groups: dict[tuple, list[dict]] = {}
    for r in records:
        groups.setdefault((r["teacher"], r["distill"], r["epochs"]), []).append(r)
    rows = []
    for (teacher, mode, epochs), runs in groups.items():
        test = [100 * r["test_accuracy"] for r in runs]
        taught = [r for r in runs if "teacher_ms_per_image" in r]
        rows.append(
            {
                "teacher": f"{teacher} ({mode})" if teacher else "none",
                "taught": bool(teacher),
                "epochs": epochs,
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
    return sorted(rows, key=lambda row: (row["epochs"], row["taught"], row["teacher"]))


def verdicts(rows: list[dict]) -> list[str]:
    """Each taught row against the untaught one of its length, in words."""
    lines = []
    for row in rows:
        base = next(
            (b for b in rows if not b["taught"] and b["epochs"] == row["epochs"]), None
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
            f"At {row['epochs']} epochs, taught by {row['teacher']}: {gain:+.2f} "
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
            "--epochs N --teacher CHECKPOINT</code>.</p>"
        )
    rows = arms(records)
    cells = [
        {
            "teacher": row["teacher"],
            "epochs": str(row["epochs"]),
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
