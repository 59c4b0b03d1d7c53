"""The models comparison's tables, words and plot, from synthetic records."""

import pytest

from vit_core.course.comparison import (
    accuracy_vs_time_figure,
    cost_sentence,
    lengths,
    model_runs,
    model_sentences,
    model_table,
)


def run(model, test, budget=900.0, epochs=100, seed=0, epochs_run=3.0):
    curve = [
        {"epoch": e + 1.0, "train_seconds": 300.0 * (e + 1), "val_accuracy": test - 0.1}
        for e in range(int(epochs_run))
    ]
    return {
        "kind": "models",
        "model": model,
        "budget": budget,
        "epochs": epochs,
        "seed": seed,
        "params": 2_000_000,
        "flops_per_image": 300e6,
        "img_per_s": 150.0,
        "epochs_run": epochs_run,
        "train_seconds": 900.0,
        "test_accuracy": test,
        "val_accuracy": test - 0.01,
        "curve": curve,
    }


RECORDS = [
    run("vit_tiny", 0.60),
    run("resnet18", 0.70, seed=0),
    run("resnet18", 0.72, seed=1),
    run("vit_tiny", 0.50, budget=None, epochs=3),
    run("resnet18", 0.65, budget=None, epochs=3),
    {"kind": "ladder", "rung": 1, "epochs": 3},
]


def test_runs_are_split_by_budget_and_by_epochs():
    assert lengths(RECORDS) == ([900.0], [3])
    assert len(model_runs(RECORDS, budget=900.0)) == 3
    assert {r["model"] for r in model_runs(RECORDS, epochs=3)} == {
        "vit_tiny",
        "resnet18",
    }


def test_table_ranks_models_and_averages_seeds():
    table = model_table(model_runs(RECORDS, budget=900.0))
    assert list(table.index) == ["resnet18", "vit_tiny"]
    assert table.loc["resnet18", "test acc. (%)"] == pytest.approx(71.0)
    assert table.loc["resnet18", "seeds"] == 2
    assert table.loc["vit_tiny", "MFLOPs / image"] == pytest.approx(300.0)


def test_sentences_name_the_best_and_warn_about_single_seeds():
    text = model_sentences(model_runs(RECORDS, epochs=3), "At 3 epochs")
    assert text[0].startswith("At 3 epochs, resnet18 is best (65.00%)")
    assert "vit_tiny last (50.00%)" in text[0]
    assert "within noise" in text[-1]
    assert model_sentences([], "x") == []


def test_figure_draws_a_curve_and_a_final_dot_per_run():
    fig = accuracy_vs_time_figure(model_runs(RECORDS, budget=900.0), "t")
    lines = fig.axes[0].lines
    assert len(lines) == 6
    assert list(lines[0].get_xdata()) == [5.0, 10.0, 15.0]


def test_cost_sentence_weighs_compute_per_image_against_accuracy():
    runs = [
        run("vit_tiny", 0.60, epochs_run=6.0),
        {**run("vit_small", 0.55, epochs_run=2.0), "flops_per_image": 1200e6},
    ]
    text = cost_sentence(runs, "vit_tiny", "vit_small")
    assert text.startswith("vit_small pays 4.0x the FLOPs of vit_tiny per image")
    assert "saw 3.0x fewer images (2.00 epochs against 6.00)" in text
    assert text.endswith("ended 5.00 points below it.")
    assert cost_sentence(runs, "vit_tiny", "resnet18") is None
