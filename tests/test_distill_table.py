"""The Results page's distillation table (book/tools/distill_table.py): a row per arm
with means and spreads over seeds, the untaught arm first, and a verdict that calls a
gain a tie unless it is larger than the seeds' spread."""

import distill_table
import pytest


def run(seed, test, teacher=None, epochs=5, budget=None):
    record = {
        "teacher": teacher,
        "distill": "hard" if teacher else None,
        "epochs": epochs,
        "budget": budget,
        "epochs_run": epochs if budget is None else epochs / (2 if teacher else 1),
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


def test_equal_time_rows_are_compared_with_their_own_untaught_row():
    records = [run(0, 0.60), run(0, 0.70, "t")]
    records += [run(0, 0.62, budget=450, epochs=100), run(0, 0.61, "t", 100, 450)]
    rows = distill_table.arms(records)
    assert [(r["length"], r["taught"]) for r in rows] == [
        ("5 epochs", False),
        ("5 epochs", True),
        ("7.5 min", False),
        ("7.5 min", True),
    ]
    assert rows[3]["epochs_run"] == 50 and rows[2]["epochs_run"] == 100
    epochs, minutes = distill_table.verdicts(rows)
    assert "At 5 epochs" in epochs and "+10.00 points" in epochs
    assert "At 7.5 min" in minutes and "-1.00 points" in minutes


def test_cached_and_per_batch_teachers_are_separate_arms():
    cached = [run(s, 0.66 + s / 100, "t") | {"teacher_cache": True} for s in (0, 1)]
    records = [run(0, 0.60), run(1, 0.61), run(0, 0.70, "t"), run(1, 0.71, "t")]
    rows = distill_table.arms(records + cached)
    assert [r["teacher"] for r in rows] == [
        "none",
        "t (hard)",
        "t (hard, cached logits)",
    ]
    assert rows[2]["test"] == pytest.approx(66.5)
    per_batch, lookup = distill_table.verdicts(rows)
    assert "+10.00 points" in per_batch and "+6.00 points" in lookup


def test_soft_is_read_against_hard_of_the_same_teacher_cache_and_length():
    cache = {"teacher_cache": True}
    hard = [run(s, 0.70 + s / 100, "t") | cache for s in (0, 1)]
    soft = [run(s, 0.73, "t") | cache | {"distill": "soft"} for s in (0, 1)]
    per_batch = [run(0, 0.50, "t") | {"distill": "soft"}]
    rows = distill_table.arms([run(0, 0.60), *hard, *soft, *per_batch])
    lines = distill_table.verdicts(rows)
    (line,) = [line for line in lines if "soft against hard" in line]
    assert "+2.50 points (spread 1.00), larger than" in line
    assert "t (soft, cached logits) against t (hard, cached logits)" in line


def hour_record(test, device="AMD EPYC, 2 threads", teacher=None):
    recipe = {"teacher": teacher, "distill": "hard" if teacher else None}
    return {
        "recipe": recipe | {"teacher_cache": bool(teacher)},
        "model": "vit_laptop_cls",
        "device": device,
        "load_avg_start": 0.3,
        "epochs": 30.0,
        "test_accuracy": test,
    } | ({"teacher_share": 0.02} if teacher else {})


def test_the_hours_are_read_against_their_goals_and_machines():
    records = {
        "cpu_plain_hour.json": hour_record(0.806),
        "cpu_plain_hour_distilled.json": hour_record(0.82, teacher="airnet_teacher"),
        "cpu_hour.json": hour_record(0.86, device="Intel Xeon, 2 threads"),
        "cpu_hour_distilled.json": hour_record(0.885, teacher="airnet_teacher"),
    }
    rows = distill_table.hour_rows(records)
    assert [r["goal"] for r in rows] == pytest.approx([80, 84, 86, 88])
    html = distill_table.hour_table(records)
    assert "84%: missed by 2.00" in html and "88%: reached" in html
    assert "airnet_teacher (hard, cached logits)" in html and "2%" in html
    plain, hybrid = distill_table.hour_reading(records).split(". The ")
    assert "+1.40 points" in plain and "missed by 2.00 points" in plain
    assert "in 30.0 epochs against 30.0" in plain
    assert "ran on" not in plain and "ran on Intel Xeon" in hybrid
    assert "reached" in hybrid
    assert "No hour record" in distill_table.hour_table({})


def test_a_taught_hour_is_read_against_the_untaught_hour_of_its_machine():
    records = {
        "cpu_hour.json": hour_record(0.86, device="Intel Xeon, 2 threads"),
        "cpu_hour_amd.json": hour_record(0.845),
        "cpu_hour_distilled.json": hour_record(0.85, teacher="airnet_teacher"),
    }
    rows = distill_table.hour_rows(records)
    assert [r["goal"] for r in rows] == pytest.approx([86, 86, 88])
    reading = distill_table.hour_reading(records)
    assert "+0.50 points" in reading and "ran on" not in reading
    del records["cpu_hour_amd.json"]
    assert "-1.00 points" in distill_table.hour_reading(records)


def maps_record(gap, low, high):
    entry = {"vs_random": gap, "vs_random_95": [low, high]}
    return {"deletion": {m: entry for m in distill_table.MAP_METHODS}}


def test_the_students_maps_differ_only_beyond_both_intervals():
    apart = {
        "untaught": maps_record(-0.05, -0.07, -0.03),
        "taught": maps_record(-0.12, -0.15, -0.09),
    }
    assert {r["lower"] for r in distill_table.map_gaps(apart)} == {"taught"}
    assert "taught student's CLS attention" in distill_table.maps_reading(apart)
    overlapping = {**apart, "taught": maps_record(-0.06, -0.09, -0.04)}
    assert {r["lower"] for r in distill_table.map_gaps(overlapping)} == {None}
    assert "does not show" in distill_table.maps_reading(overlapping)
    html = distill_table.maps_comparison(apart)
    assert "-0.120 (-0.150 to -0.090)" in html and "rollout" in html
