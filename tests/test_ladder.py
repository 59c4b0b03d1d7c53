"""The ablation ladder's summary: means, spreads, gains, and the words for them."""

import pytest

from vit_core.course.ladder import (
    claim_comparison,
    crossover_figure,
    crossover_rows,
    crossover_sentences,
    ladder_figure,
    ladder_rows,
    ladder_sentences,
    sweep_table,
)


def record(rung, seed, test, val, epochs=3):
    return {
        "kind": "ladder",
        "rung": rung,
        "rung_name": f"rung {rung}",
        "seed": seed,
        "epochs": epochs,
        "test_accuracy": test,
        "val_accuracy": val,
        "lr": 0.1,
        "optimizer": "sgd",
    }


RECORDS = [
    record(1, 0, 0.50, 0.51),
    record(1, 1, 0.52, 0.53),  # mean 51, spread 2
    record(2, 0, 0.60, 0.60),
    record(2, 1, 0.61, 0.62),  # +9.5: helped
    record(3, 0, 0.61, 0.60),
    record(3, 1, 0.60, 0.60),  # +0.0: within the spread
    record(4, 0, 0.40, 0.41),
    record(4, 1, 0.41, 0.40),  # -20: cost accuracy
    record(4, 0, 0.90, 0.90, epochs=30),  # another length: not in the 3-epoch ladder
    {
        "kind": "sweep",
        "rung": 1,
        "optimizer": "sgd",
        "lr": 0.1,
        "epochs": 3,
        "test_accuracy": 0.99,
        "val_accuracy": 0.99,
    },
]


def test_rows_have_mean_spread_and_gain_in_points():
    rows = ladder_rows(RECORDS, epochs=3)
    assert [r["rung"] for r in rows] == [1, 2, 3, 4]
    assert rows[0]["test_mean"] == pytest.approx(51.0)
    assert rows[0]["test_spread"] == pytest.approx(2.0)
    assert rows[1]["gain"] == pytest.approx(9.5) and rows[1]["noise"] == pytest.approx(
        2.0
    )
    assert rows[3]["seeds"] == 2 and "gain" not in rows[0]


def test_only_runs_at_the_sweeps_chosen_rate_count():
    old_rate = record(1, 2, 0.10, 0.10) | {"lr": 0.03}
    sweeps = [
        sweep("sgd", 0.03, 0.2) | {"rung": 1},
        sweep("sgd", 0.1, 0.4) | {"rung": 1},
    ]
    rows = ladder_rows(RECORDS + [old_rate] + sweeps, epochs=3)
    assert rows[0]["seeds"] == 2 and rows[0]["test_mean"] == pytest.approx(51.0)


def test_sentences_call_a_gain_within_the_spread_no_effect():
    text = ladder_sentences(ladder_rows(RECORDS, epochs=3))
    assert "helped" in text[0] and "+9.50" in text[0]
    assert "no measured effect" in text[1]
    assert "cost accuracy" in text[2]


def test_claim_comparison_puts_the_measured_total_beside_the_claim():
    text = claim_comparison(ladder_rows(RECORDS, epochs=3))
    assert "78.3% -> 84.2% (+5.9 points)" in text
    assert "51.00% -> 40.50% (-10.50 points)" in text
    assert "the best rung is 2" in text


def test_figure_has_a_bar_per_rung_and_a_dot_per_seed():
    fig = ladder_figure(ladder_rows(RECORDS, epochs=3), "test")
    ax = fig.axes[0]
    assert len(ax.patches) == 4
    assert sum(len(line.get_xdata()) for line in ax.lines) == 8


def sweep(optimizer, lr, val):
    return {
        "kind": "sweep",
        "optimizer": optimizer,
        "lr": lr,
        "epochs": 1,
        "val_accuracy": val,
    }


def test_sweep_flags_a_chosen_rate_at_the_edge():
    table = sweep_table(
        [
            sweep("sgd", 0.01, 0.2),
            sweep("sgd", 0.1, 0.4),  # best and the largest tried
            sweep("adamw", 5e-4, 0.3),
            sweep("adamw", 1e-3, 0.5),  # best, inside the range
            sweep("adamw", 2e-3, 0.4),
        ]
    )
    chosen = dict(zip(table["lr"], table["chosen"]))
    assert chosen[0.1] == "yes, at the edge of the sweep"
    assert chosen[1e-3] == "yes"
    assert chosen[0.01] == chosen[5e-4] == ""


def long_run(rung, test, curve):
    return record(rung, 0, test, test, epochs=30) | {
        "curve": [{"epoch": e + 1, "val_accuracy": v} for e, v in enumerate(curve)]
    }


def test_crossover_compares_the_same_rungs_at_two_lengths():
    records = RECORDS[:-2] + [
        long_run(2, 0.80, [0.5, 0.8]),
        long_run(4, 0.90, [0.3, 0.6, 0.9]),
    ]
    rows = crossover_rows(records, short=3, long=30)
    assert [(r["rung"], r["long_seeds"]) for r in rows] == [(2, 1), (4, 1)]
    assert rows[1]["short"] == pytest.approx(40.5) and rows[1]["long"] == 90.0
    text = crossover_sentences(rows, 3, 30)
    assert "-20.00 points" in text[0] and "+10.00 points" in text[0]
    assert "one seed" in text[0] and "the crossover" in text[1]
    same = crossover_sentences(
        crossover_rows(
            RECORDS[:-2] + [long_run(2, 0.90, [0.9]), long_run(4, 0.80, [0.8])], 3, 30
        ),
        3,
        30,
    )
    assert "No crossover by 30 epochs" in same[1]
    fig = crossover_figure(records, short=3, long=30)
    curves, ends = fig.axes
    assert [len(line.get_xdata()) for line in curves.lines] == [2, 3]
    assert len(ends.lines) == 2
