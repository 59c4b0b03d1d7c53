"""ViT against CNN and Tiny against Small, read from
``vit_core/results/cpu_models.json``.

Two views answer two questions: at equal wall time, which model gives the most
accuracy per minute of a laptop; at equal epochs, which learns the most per image.
Chapters 4 and 6 and the results page show the same tables, computed here once.
"""

from __future__ import annotations


def model_runs(records: list[dict], budget: float | None = None, epochs=None):
    """The models experiment's runs at one time budget (seconds) or one number of
    epochs (without a budget)."""
    return [
        r
        for r in records
        if r["kind"] == "models"
        and (
            r["budget"] == budget
            if budget
            else not r["budget"] and (epochs is None or r["epochs"] == epochs)
        )
    ]


def lengths(records: list[dict]) -> tuple[list[float], list[int]]:
    """The time budgets and the epoch counts the models were compared at."""
    runs = [r for r in records if r["kind"] == "models"]
    budgets = sorted({r["budget"] for r in runs if r["budget"]})
    return budgets, sorted({r["epochs"] for r in runs if not r["budget"]})


def model_table(runs: list[dict]):
    """One row per model, best accuracy first: size, compute per image, speed on this
    machine, epochs reached and accuracy (a mean where several seeds ran)."""
    import pandas as pd

    table = pd.DataFrame(
        [
            {
                "model": r["model"],
                "params (M)": r["params"] / 1e6,
                "MFLOPs / image": r["flops_per_image"] / 1e6,
                "img/s": r["img_per_s"],
                "epochs": r["epochs_run"],
                "minutes": r["train_seconds"] / 60,
                "test acc. (%)": 100 * r["test_accuracy"],
                "val acc. (%)": 100 * r["val_accuracy"],
                "seeds": 1,
            }
            for r in runs
        ]
    )
    table = table.groupby("model").agg(
        {c: "sum" if c == "seeds" else "mean" for c in table.columns if c != "model"}
    )
    return table.sort_values("test acc. (%)", ascending=False).round(2)


def model_sentences(runs: list[dict], view: str) -> list[str]:
    """The ranking in words. ``view`` names the comparison, e.g. "in 15 minutes"."""
    if not runs:
        return []
    table = model_table(runs)
    best, worst = table.index[0], table.index[-1]
    out = [
        f"{view}, {best} is best ({table.loc[best, 'test acc. (%)']:.2f}%) and "
        f"{worst} last ({table.loc[worst, 'test acc. (%)']:.2f}%)."
    ]
    for name, row in table.iterrows():
        out.append(
            f"{name}: {row['test acc. (%)']:.2f}% after {row['epochs']:.2f} epochs "
            f"at {row['img/s']:.0f} img/s ({row['MFLOPs / image']:.0f} MFLOPs per "
            "image)."
        )
    if (table["seeds"] == 1).all():
        out.append("One seed per model: gaps of a point or less are within noise.")
    return out


def cost_sentence(runs: list[dict], cheap: str, costly: str) -> str | None:
    """How compute per image traded against accuracy between two models run for the
    same time: how many times the FLOPs ``costly`` pays per image, how many times fewer
    images it saw, and where it ended. None unless both ran."""
    table = model_table(runs)
    if cheap not in table.index or costly not in table.index:
        return None
    a, b = table.loc[cheap], table.loc[costly]
    gap = b["test acc. (%)"] - a["test acc. (%)"]
    return (
        f"{costly} pays {b['MFLOPs / image'] / a['MFLOPs / image']:.1f}x the FLOPs of "
        f"{cheap} per image; in the same time it saw "
        f"{a['epochs'] / b['epochs']:.1f}x fewer images ({b['epochs']:.2f} epochs "
        f"against {a['epochs']:.2f}) and ended {abs(gap):.2f} points "
        f"{'above' if gap > 0 else 'below'} it."
    )


def accuracy_vs_time_figure(runs: list[dict], title: str):
    """Validation accuracy against training minutes, one line per model, from the
    runs' per-epoch curves; the final test accuracy is the larger dot."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8.5, 3.4))
    for r in sorted(runs, key=lambda r: -r["test_accuracy"]):
        points = [c for c in r["curve"] if "val_accuracy" in c]
        (line,) = ax.plot(
            [c["train_seconds"] / 60 for c in points],
            [100 * c["val_accuracy"] for c in points],
            ".-",
            label=f"{r['model']} ({r['params'] / 1e6:.2f}M)",
        )
        ax.plot(
            r["train_seconds"] / 60,
            100 * r["test_accuracy"],
            "o",
            color=line.get_color(),
        )
    ax.set_xlabel("training time (minutes, this machine)")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(title, fontsize=10)
    # beside the plot: the curves end together at the budget, under any corner
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return fig
