"""The Results page's distillation table (book/tools/distill_table.py): a row per arm
with means and spreads over seeds, the untaught arm first, and a verdict that calls a
gain a tie unless it is larger than the seeds' spread."""

import distill_table
import pytest


def run(seed, test, teacher=None, epochs=5):
    record = {
        "teacher": teacher,
        "distill": "hard" if teacher else None,
        "epochs": epochs,
        "seed": seed,
        "test_accuracy": test,
        "val_accuracy": test - 0.01,
        "img_per_s": 500.0,
    }
    if teacher:
        record |= {"teacher_ms_per_image": 0.5, "teacher_share": 0.2}
    return record


def test_each_arm_is_the_mean_and_spread_of_its_seeds():
    records = [run(0, 0.70, "t"), run(1, 0.74, "t"), run(0, 0.60), run(1, 0.61)]
    plain, taught = distill_table.arms(records)
    assert (plain["teacher"], taught["teacher"]) == ("none", "t (hard)")
    assert taught["test"] == pytest.approx(72.0)
    assert taught["spread"] == pytest.approx(4)
    assert plain["val"] == pytest.approx(59.5) and plain["ms"] is None
    assert taught["seeds"] == "0, 1" and taught["share"] == pytest.approx(0.2)


@pytest.mark.parametrize(
    "taught, words", [((0.70, 0.74), "larger than"), ((0.60, 0.64), "a tie")]
)
def test_a_gain_within_the_spread_is_a_tie(taught, words):
    records = [run(s, a, "t") for s, a in enumerate(taught)]
    records += [run(0, 0.60), run(1, 0.61)]
    (line,) = distill_table.verdicts(distill_table.arms(records))
    assert words in line and "20% of the training time" in line


def test_the_table_shows_every_arm_or_says_what_to_run():
    html = distill_table.distill_table([run(0, 0.6), run(0, 0.7, "t")])
    assert "60.00%" in html and "70.00%" in html and "t (hard)" in html
    assert "+10.00 points" in html
    assert "scripts/experiments.py distill" in distill_table.distill_table([])
