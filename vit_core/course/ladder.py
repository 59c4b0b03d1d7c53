"""The ablation ladder, read from the records ``scripts/experiments.py`` writes.

Chapter 5 and the book's results page show the same summary, so it is computed here
once: per rung the mean and spread over seeds, the gain over the rung before, and
whether that gain is larger than the spread between seeds.
"""

from __future__ import annotations

import statistics

# The original project's claimed ladder (its README; claims, not measurements), by our
# rung numbers.
README_CLAIMS = {1: "78.3%", 2: "+1.8", 3: "+1.3", 4: "+0.8", 5: "+0.9", 6: "+0.6"}
README_BASELINE, README_COMBINED = 78.3, 84.2  # its "Baseline (SGD)" and "All Combined"


def chosen_lrs(records: list[dict]) -> dict:
    """Each optimizer's learning rate with the best validation accuracy in the sweep."""
    sweep = [r for r in records if r["kind"] == "sweep"]
    return {
        o: max(
            (r for r in sweep if r["optimizer"] == o), key=lambda r: r["val_accuracy"]
        )["lr"]
        for o in {r["optimizer"] for r in sweep}
    }


def ladder_rows(records: list[dict], epochs: int) -> list[dict]:
    """One row per rung measured at ``epochs``: seeds, mean and spread (max - min) of
    the test and validation accuracy in points, and the gain over the rung before.
    Only runs at the sweep's chosen learning rate count: a wider sweep that picks
    another rate makes the runs at the old one history."""
    rows, chosen = [], chosen_lrs(records)
    for rung in sorted({r["rung"] for r in records if r["kind"] == "ladder"}):
        runs = [
            r
            for r in records
            if r["kind"] == "ladder"
            and r["rung"] == rung
            and r["epochs"] == epochs
            and r["lr"] == chosen.get(r["optimizer"], r["lr"])
        ]
        if not runs:
            continue
        test = [100 * r["test_accuracy"] for r in runs]
        val = [100 * r["val_accuracy"] for r in runs]
        rows.append(
            {
                "rung": rung,
                "name": runs[0]["rung_name"],
                "seeds": len(runs),
                "test_mean": statistics.mean(test),
                "test_spread": max(test) - min(test),
                "val_mean": statistics.mean(val),
                "val_spread": max(val) - min(val),
                "test_points": test,
                "lr": runs[0]["lr"],
            }
        )
    for before, row in zip(rows, rows[1:]):
        row["gain"] = row["test_mean"] - before["test_mean"]
        row["noise"] = max(row["test_spread"], before["test_spread"])
    return rows


def ladder_sentences(rows: list[dict]) -> list[str]:
    """What each rung did, in words, with its numbers; a gain within the spread between
    seeds is called what it is."""
    out = []
    for row in rows[1:]:
        gain, noise = row["gain"], row["noise"]
        verdict = (
            "smaller than the spread between seeds: no measured effect"
            if abs(gain) <= noise
            else "helped"
            if gain > 0
            else "cost accuracy"
        )
        out.append(
            f"{row['name']}: {gain:+.2f} points (seed spread {noise:.2f}): {verdict}."
        )
    return out


def claim_comparison(rows: list[dict]) -> str:
    """The whole ladder's measured gain beside the original project's claimed one."""
    first, last = rows[0], rows[-1]
    best = max(rows, key=lambda r: r["test_mean"])
    return (
        "The original project's README claims "
        f"{README_BASELINE}% -> {README_COMBINED}% "
        f"({README_COMBINED - README_BASELINE:+.1f} points) for ViT-Tiny after 100 GPU "
        f"epochs. Measured here, rung {first['rung']} -> rung {last['rung']}: "
        f"{first['test_mean']:.2f}% -> {last['test_mean']:.2f}% "
        f"({last['test_mean'] - first['test_mean']:+.2f} points); the best rung is "
        f"{best['rung']} ({best['name']}, {best['test_mean']:.2f}%)."
    )


def ladder_figure(rows: list[dict], title: str):
    """Bars: mean test accuracy per rung; dots: each seed."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.2))
    xs = range(len(rows))
    ax.bar(xs, [r["test_mean"] for r in rows], color="#9ecae1", label="mean over seeds")
    for x, row in zip(xs, rows):
        ax.plot(
            [x] * len(row["test_points"]),
            row["test_points"],
            "o",
            color="#08519c",
            ms=4,
            label="one seed" if x == 0 else None,
        )
    ax.set_xticks(
        list(xs),
        [f"{r['rung']}. {r['name']}" for r in rows],
        rotation=20,
        ha="right",
        fontsize=8,
    )
    low = min(min(r["test_points"]) for r in rows)
    ax.set_ylim(max(0, low - 5), max(max(r["test_points"]) for r in rows) + 2)
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def ladder_table(rows: list[dict]):
    """The rows as a pandas DataFrame, beside the original project's claims."""
    import pandas as pd

    return pd.DataFrame(
        [
            {
                "rung": f"{r['rung']}. {r['name']}",
                "seeds": r["seeds"],
                "lr": r["lr"],
                "test acc. (%)": round(r["test_mean"], 2),
                "spread": round(r["test_spread"], 2),
                "gain": round(r["gain"], 2) if "gain" in r else None,
                "val acc. (%)": round(r["val_mean"], 2),
                "README's claim": README_CLAIMS.get(r["rung"], "-"),
            }
            for r in rows
        ]
    ).set_index("rung")


def sweep_table(records: list[dict]):
    """The learning-rate sweep: one row per run, the chosen rate (best validation
    accuracy) of each optimizer marked, and flagged when it is the smallest or largest
    rate tried: a wider sweep might then find a better one."""
    import pandas as pd

    runs = [r for r in records if r["kind"] == "sweep"]
    best = chosen_lrs(records)
    tried = {o: [r["lr"] for r in runs if r["optimizer"] == o] for o in best}

    def chosen(r: dict) -> str:
        if best[r["optimizer"]] != r["lr"]:
            return ""
        edge = r["lr"] in (min(tried[r["optimizer"]]), max(tried[r["optimizer"]]))
        return "yes, at the edge of the sweep" if edge else "yes"

    return pd.DataFrame(
        [
            {
                "optimizer": r["optimizer"],
                "lr": r["lr"],
                "epochs": r["epochs"],
                "val acc. (%)": round(100 * r["val_accuracy"], 2),
                "chosen": chosen(r),
            }
            for r in runs
        ]
    )


def crossover_rows(records: list[dict], short: int, long: int) -> list[dict]:
    """For each rung trained at both lengths: its mean test accuracy (points) at the
    short length and at the long one, and the number of seeds of each."""
    short_rows = {r["rung"]: r for r in ladder_rows(records, short)}
    return [
        {
            "rung": row["rung"],
            "name": row["name"],
            "short": short_rows[row["rung"]]["test_mean"],
            "short_seeds": short_rows[row["rung"]]["seeds"],
            "short_spread": short_rows[row["rung"]]["test_spread"],
            "long": row["test_mean"],
            "long_seeds": row["seeds"],
        }
        for row in ladder_rows(records, long)
        if row["rung"] in short_rows
    ]


def crossover_sentences(rows: list[dict], short: int, long: int) -> list[str]:
    """How the order of the first and last rung measured at both lengths changes with
    the length of the run, with the seed spread that says how much a gap means."""
    if len(rows) < 2:
        return []
    a, b = rows[0], rows[-1]
    gap_short, gap_long = b["short"] - a["short"], b["long"] - a["long"]
    noise = max(a["short_spread"], b["short_spread"])
    seeds = "one seed" if b["long_seeds"] == 1 else f"{b['long_seeds']} seeds"
    if (gap_short < 0) == (gap_long < 0):
        verdict = f"No crossover by {long} epochs: the order is the same at both."
    elif min(abs(gap_short), abs(gap_long)) > noise:
        verdict = "The order flips with the length of the run: the crossover."
    else:
        verdict = (
            "The order flips, but a gap is within the seed spread at "
            f"{short} epochs ({noise:.2f} points): no crossover is established."
        )
    return [
        f"At {short} epochs, rung {b['rung']} ({b['name']}) is {gap_short:+.2f} points "
        f"from rung {a['rung']} ({a['name']}); at {long} epochs ({seeds}), "
        f"{gap_long:+.2f} points.",
        verdict,
    ]


def crossover_figure(records: list[dict], short: int, long: int):
    """Left: each long run's validation accuracy per epoch. Right: each rung's test
    accuracy at the short and the long length."""
    import matplotlib.pyplot as plt

    fig, (curves, ends) = plt.subplots(1, 2, figsize=(9, 3.2))
    for r in records:
        if r["kind"] == "ladder" and r["epochs"] == long:
            points = [c for c in r.get("curve", []) if "val_accuracy" in c]
            curves.plot(
                [c["epoch"] for c in points],
                [100 * c["val_accuracy"] for c in points],
                label=f"{r['rung']}. {r['rung_name']} (seed {r['seed']})",
            )
    curves.set_xlabel("epoch")
    curves.set_ylabel("validation accuracy (%)")
    curves.set_title(f"{long}-epoch runs", fontsize=10)
    curves.legend(fontsize=8)
    for row in crossover_rows(records, short, long):
        ends.plot([short, long], [row["short"], row["long"]], "o-", label=row["name"])
    ends.set_xticks([short, long], [f"{short} epochs", f"{long} epochs"])
    ends.set_ylabel("test accuracy (%)")
    ends.set_title("the same rungs at two lengths", fontsize=10)
    ends.legend(fontsize=8)
    fig.tight_layout()
    return fig
