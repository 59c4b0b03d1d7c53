"""The ablation ladder's summary: means, spreads, gains, and the words for them."""

import pytest

from vit_core.course.ladder import (
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


def test_sentences_call_a_gain_within_the_spread_no_effect():
    text = ladder_sentences(ladder_rows(RECORDS, epochs=3))
    assert "helped" in text[0] and "+9.50" in text[0]
    assert "no measured effect" in text[1]
    assert "cost accuracy" in text[2]


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
