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
from search_log import GOALS

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


def teacher_label(teacher: str | None, mode: str, cached: bool) -> str:
    if not teacher:
        return "none"
    return f"{teacher} ({mode}{', cached logits' if cached else ''})"


def arms(records: list[dict]) -> list[dict]:
    """One row per (teacher, distillation, cache, length): means and spread over its
    seeds, the equal-epoch rows first, each length's row without a teacher first."""
    groups: dict[tuple, list[dict]] = {}
    for r in records:
        cached = bool(r.get("teacher_cache"))
        key = (r["teacher"], r["distill"], cached, length(r), bool(r.get("budget")))
        groups.setdefault(key, []).append(r)
    rows = []
    for (teacher, mode, cached, matched, timed), runs in groups.items():
        test = [100 * r["test_accuracy"] for r in runs]
        taught = [r for r in runs if "teacher_ms_per_image" in r]
        rows.append(
            {
                "teacher": teacher_label(teacher, mode, cached),
                "taught": bool(teacher),
                "arm": (teacher, cached),
                "mode": mode,
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


def gap(row: dict, base: dict) -> tuple[float, float, str]:
    """Test accuracy of ``row`` minus ``base``, the larger spread of the two, and
    whether the gap is larger than that spread."""
    gain = row["test"] - base["test"]
    spread = max(row["spread"], base["spread"])
    verdict = (
        "larger than the seeds' spread"
        if abs(gain) > spread
        else "within the seeds' spread: a tie"
    )
    return gain, spread, verdict


def verdicts(rows: list[dict]) -> list[str]:
    """Each taught row against the untaught one of its length, in words; then each
    soft row against the hard row of its teacher, cache and length (DeiT's question)."""
    lines = []
    for row in rows:
        base = next(
            (b for b in rows if not b["taught"] and b["length"] == row["length"]), None
        )
        if not row["taught"] or base is None:
            continue
        gain, spread, verdict = gap(row, base)
        lines.append(
            f"At {row['length']}, taught by {row['teacher']}: {gain:+.2f} "
            f"points of test accuracy (spread {spread:.2f}), {verdict}; the teacher "
            f"took {row['share']:.0%} of the training time."
        )
    for soft in (r for r in rows if r["mode"] == "soft"):
        hard = next(
            (
                r
                for r in rows
                if r["mode"] == "hard"
                and (r["arm"], r["length"]) == (soft["arm"], soft["length"])
            ),
            None,
        )
        if hard is not None:
            gain, spread, verdict = gap(soft, hard)
            lines.append(
                f"At {soft['length']}, soft against hard distillation "
                f"({soft['teacher']} against {hard['teacher']}): {gain:+.2f} points "
                f"(spread {spread:.2f}), {verdict}."
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


# The hour records (python -m vit_core.records): each student's hours without a teacher,
# then its hour taught, the last with issue 36's raised goal
HOURS = {
    "plain CLS ViT": ("cpu_plain_hour.json", "cpu_plain_hour_distilled.json"),
    "hybrid ViT": ("cpu_hour.json", "cpu_hour_amd.json", "cpu_hour_distilled.json"),
}


def hour_rows(records: dict | None = None) -> list[dict]:
    """Each hour record present, as {student, file, teacher, machine, load, epochs,
    test, share, goal}."""
    if records is None:
        files = [name for names in HOURS.values() for name in names]
        records = {name: load_result(name) for name in files}
    rows = []
    for student, names in HOURS.items():
        for name in names:
            r = records.get(name)
            if r is None:
                continue
            recipe = r["recipe"]
            rows.append(
                {
                    "student": f"{student} ({r['model']})",
                    "file": name,
                    "teacher": teacher_label(
                        recipe.get("teacher"),
                        recipe.get("distill"),
                        bool(recipe.get("teacher_cache")),
                    ),
                    "machine": r["device"],
                    "load": r["load_avg_start"],
                    "epochs": r["epochs"],
                    "test": 100 * r["test_accuracy"],
                    "share": r.get("teacher_share"),
                    "goal": 100 * GOALS[name],
                }
            )
    return rows


def against_goal(test: float, goal: float) -> str:
    """``reached``, or by how many points a test accuracy missed its goal."""
    return "reached" if test >= goal else f"missed by {goal - test:.2f}"


def hour_table(records: dict | None = None) -> str:
    """The hour records side by side, and against each one's goal, in HTML."""
    rows = hour_rows(records)
    if not rows:
        return "<p>No hour record yet: see <code>python -m vit_core.records</code>.</p>"
    cells = [
        {
            "student": r["student"],
            "teacher": r["teacher"],
            "machine (load at start)": f"{r['machine']} ({r['load']:.2f})",
            "epochs": f"{r['epochs']:.1f}",
            "teacher share": "–" if r["share"] is None else f"{r['share']:.0%}",
            "test accuracy": f"{r['test']:.2f}%",
            "goal": f"{r['goal']:.0f}%: {against_goal(r['test'], r['goal'])}",
        }
        for r in rows
    ]
    return html_table(list(cells[0]), cells)


def hour_reading(records: dict | None = None) -> str:
    """Each taught hour against its untaught record (the one of its machine, where
    there is one), and its goal, in words."""
    rows = hour_rows(records)
    lines = []
    for student, files in HOURS.items():
        hours = {r["file"]: r for r in rows if r["student"].startswith(student)}
        taught = hours.pop(files[-1], None)
        if taught is None or not hours:
            continue
        # the untaught hour on the taught one's machine, where there is one
        untaught = max(hours.values(), key=lambda r: r["machine"] == taught["machine"])
        same = untaught["machine"] == taught["machine"]
        lines.append(
            f"The {student} taught for an hour: {taught['test']:.2f}%, "
            f"{taught['test'] - untaught['test']:+.2f} points against its untaught "
            f"hour, in {taught['epochs']:.1f} epochs against {untaught['epochs']:.1f} "
            f"(one run each, so no spread is measured"
            + ("" if same else f"; the untaught hour ran on {untaught['machine']}")
            + f"). Its goal, {taught['goal']:.0f}%, is "
            + against_goal(taught["test"], taught["goal"])
            + ("." if taught["test"] >= taught["goal"] else " points.")
        )
    return " ".join(lines)


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
