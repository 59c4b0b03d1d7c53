"""The speedrun's records: the time-budget path, the optimizer comparisons, the record
files the presets write, and the shipped checkpoints named by choice."""

import json

import pytest
from search_log import (
    budget_lines,
    comparisons,
    muon_bench_sentence,
    muon_sentences,
    pair_sentences,
    patch_drop_sentences,
    path_figure,
    preset_sides,
    speedup_sentence,
    spread,
    step_parts_sentences,
    timed_choice_sentences,
    timed_runs,
    verdict,
)

from vit_core.config import PRESETS, TrainConfig
from vit_core.errors import CheckpointError
from vit_core.pretrained import (
    DEFAULT,
    choices,
    load_pretrained,
    resolve_checkpoint,
    shipped,
)
from vit_core.records import RUN_RECORD_FIELDS, load_result, record_run

# what the issue asks every time-budget record to hold
ISSUE_FIELDS = set(
    "test_accuracy train_seconds device command commit model params".split()
)


def run(note, optimizer, stopped_by="epochs", val=0.5, flip=0.51, **extra):
    return {
        "note": note,
        "model": "vit_laptop_cls",
        "device": "CPU A",
        "recipe": {
            "optimizer": optimizer,
            "lr": 1e-3,
            "batch_size": 64,
            "autoaugment": "none",
        },
        "epochs": 2,
        "stopped_by": stopped_by,
        "train_seconds": 900,
        "train_minutes": 15.0,
        "test_accuracy": 0.7,
        "val_accuracy": val,
        "val_accuracy_flip": flip,
        "img_per_s": 200.0,
        **extra,
    }


def test_the_path_keeps_only_time_budget_records_and_the_comparisons_only_theirs():
    log = [
        run("2 epochs, val: a", "adamw"),
        run("15 min: x", "muon", "time budget"),
        run("1 epoch: old", "adamw"),
        run("15 min, val: y", "muon", "time budget"),
    ]
    log[-1]["recipe"] |= {"val_split": 5000}
    models = [
        {
            "model": "vit_laptop",
            "budget": 900,
            "train_seconds": 900,
            "epochs_run": 9.5,
            "img_per_s": 530.0,
            "recipe": {"optimizer": "adamw", "batch_size": 256, "autoaugment": "none"},
            "device": "CPU B",
            "test_accuracy": 0.68,
        },
        {
            "model": "resnet8",
            "budget": 900,
            "train_seconds": 900,
            "epochs_run": 9.5,
            "img_per_s": 530.0,
            "recipe": {"optimizer": "adamw", "batch_size": 256, "autoaugment": "none"},
            "device": "CPU B",
            "test_accuracy": 0.76,
        },
    ]
    rows = timed_runs(log, models)
    assert [(r["label"], r["device"]) for r in rows] == [
        ("15 min: x", "CPU A"),
        ("models experiment: vit_laptop", "CPU B"),
    ]
    assert [(r["epochs"], r["img_per_s"]) for r in rows] == [(2, 200.0), (9.5, 530.0)]
    assert [r["optimizer"] for r in comparisons(log)] == ["adamw"]
    # a record from before --crop-padding cropped with the default padding, 4
    assert [r["crop_padding"] for r in rows] == [4, 4]
    more = [{**rows[0], "batch_size": 128}, rows[0], {**rows[0], "crop_padding": 2}]
    more.append({**rows[0], "autoaugment": "autoaugment"})
    fig = path_figure(rows + more)
    points = [c for c in fig.axes[0].collections if len(c.get_offsets())]
    assert len(points) == 6
    labels = sorted(t.get_text() for t in fig.axes[0].texts if "batch" in t.get_text())
    assert labels == [  # a recipe's runs share a label; another batch, crop or policy
        "vit_laptop, adamw, batch 256",  # its own
        "vit_laptop_cls, muon, batch 128",
        "vit_laptop_cls, muon, batch 64 (2 runs)",
        "vit_laptop_cls, muon, batch 64, autoaugment",
        "vit_laptop_cls, muon, batch 64, crop pad 2",
    ]


def test_muon_sentences_subtract_the_matching_adamw_run():
    rows = comparisons(
        [
            run("2 epochs, val: a", "adamw", val=0.5, flip=0.52),
            run("2 epochs, val: m", "muon", val=0.62, flip=0.63, img_per_s=180.0),
        ]
    )
    first, flips = muon_sentences(rows)
    assert "+12.00 points" in first and "-10% img/s" in first
    assert "+1.00 to +2.00 points" in flips


def test_patch_drop_is_compared_with_the_same_recipe_with_every_patch():
    dropped = run("3 epochs, val: d", "muon", val=0.66, train_minutes=14.0)
    dropped["recipe"] |= {"patch_drop": 0.5, "patch_drop_until": 0.75}
    dropped["epochs"] = 3
    log = [
        run("2 epochs, val: a", "adamw", val=0.5),
        run("2 epochs, val: m", "muon", val=0.62, train_minutes=13.5),
        dropped,
    ]
    other_seed = {**dropped, "recipe": {**dropped["recipe"], "seed": 1}}
    timed = {**dropped, "stopped_by": "time budget"}  # compared by minutes, elsewhere
    (line,) = patch_drop_sentences(log + [other_seed, timed])  # none to pair with
    assert "seed 0: 3 epochs dropping 50% of the patches for the first 75%" in line
    assert "66.00%" in line and "62.00% for 2 epochs" in line and "+4.00" in line
    assert "14.0 against 13.5 minutes" in line


def side(val, seed=0, commit="c1", batch=None, preset="laptop", minutes=15.0):
    """One side of a timed pair: the preset, or with ``--batch-size`` on top."""
    command = f"python -m vit_core.train --preset {preset} --val-split 5000"
    r = run("15 min, val", "muon", "time budget", val=val, commit=commit)
    r["train_minutes"] = minutes
    r["recipe"] |= {"val_split": 5000, "seed": seed, "batch_size": batch or 64}
    r["command"] = command + (f" --batch-size {batch}" if batch else "")
    return r


def test_timed_choices_pair_side_by_side_runs_against_their_preset():
    log = [side(0.7464, batch=128), side(0.7394)]  # logged in the order they ended
    log += [
        side(0.7336, seed=1, commit="c2"),
        side(0.7396, seed=1, commit="c2", batch=128),
    ]
    log.append(side(0.70, seed=2, commit="c3"))  # no partner
    # the same change to another preset's hour: a pair of its own, not in the mean
    hour = {"preset": "laptop-hour", "minutes": 60.0, "commit": "c4"}
    log += [side(0.80, batch=128, **hour), side(0.81, **hour)]
    lone = run("15 min: record", "muon", "time budget")  # on the whole training set
    lines = timed_choice_sentences(log + [lone])
    assert lines[0] == (
        "vit_laptop_cls, 15 min side by side on the validation split, seed 0, "
        "--preset laptop: batch_size 128: 74.64% after 2.00 epochs at 200 img/s, "
        "against the preset's 73.94% after 2.00 epochs at 200 img/s (+0.70 points)."
    )
    assert "seed 1, --preset laptop: batch_size 128: 73.96%" in lines[1]
    assert "(+0.60 points)" in lines[1]
    assert lines[2].startswith("vit_laptop_cls, 60 min side by side")
    assert "--preset laptop-hour: batch_size 128: 80.00%" in lines[2]
    assert "(-1.00 points)" in lines[2]
    assert lines[3] == (
        "vit_laptop_cls, 15 min, --preset laptop: batch_size 128, over 2 seeds: "
        "+0.65 points on average (from +0.60 to +0.70)."
    )
    assert len(lines) == 4
    both_set = [side(0.74, batch=128), side(0.73, batch=32)]  # neither is the preset
    assert timed_choice_sentences(both_set) == []


def test_a_lone_change_is_compared_with_the_presets_latest_side_of_its_seed():
    hour = {"preset": "laptop-hour", "minutes": 60.0}
    log = [side(0.81, commit="c1", **hour), side(0.80, batch=128, commit="c1", **hour)]
    log += [side(0.79, seed=1, commit="c2", **hour)]
    log += [side(0.77, seed=1, batch=128, commit="c2", **hour)]
    log += [side(0.82, commit="c3", **hour), side(0.78, batch=96, commit="c3", **hour)]
    # the change at two seeds, side by side: a run of its own at each
    log += [side(0.84, batch=32, commit="c4", **hour)]
    log += [side(0.83, seed=1, batch=32, commit="c4", **hour)]
    log.append(side(0.85, seed=2, batch=32, commit="c4", **hour))  # no side of seed 2
    log[-2]["device"] = "another CPU"  # a side of another machine is no baseline
    lines = [x for x in timed_choice_sentences(log) if "batch_size 32" in x]
    # the latest of the preset's sides, not a changed side, whose command sets it
    assert lines == [
        "vit_laptop_cls, 60 min side by side on the validation split, seed 0, "
        "--preset laptop-hour: batch_size 32: 84.00% after 2.00 epochs at 200 img/s, "
        "against the preset's 82.00% after 2.00 epochs at 200 img/s (its side of an "
        "earlier pair) (+2.00 points)."
    ]
    log[-2]["device"] = log[0]["device"]
    lines = [x for x in timed_choice_sentences(log) if "batch_size 32" in x]
    assert "seed 1, --preset laptop-hour: batch_size 32: 83.00%" in lines[1]
    assert "against the preset's 79.00%" in lines[1] and "(+4.00 points)" in lines[1]
    assert lines[2] == (
        "vit_laptop_cls, 60 min, --preset laptop-hour: batch_size 32, over 2 seeds: "
        "+3.00 points on average (from +2.00 to +4.00)."
    )
    assert len(lines) == 3


def test_a_pair_may_change_how_it_runs_compiled_or_eager():
    hour = {"preset": "laptop-hour", "minutes": 60.0}
    log = [side(0.83, commit="c1", **hour), side(0.84, commit="c1", **hour)]
    log[1]["command"] += " --compile"  # logged before runs said "compiled"
    log += [side(0.85, commit="c2", **hour), side(0.86, commit="c2", **hour)]
    log[2]["compiled"], log[3]["compiled"] = False, True
    log[3]["command"] += " --compile"
    lines = timed_choice_sentences(log)
    assert "--preset laptop-hour: compile True: 84.00%" in lines[0]
    assert "against the preset's 83.00%" in lines[0]
    assert "compile True: 86.00%" in lines[1] and "(+1.00 points)" in lines[1]
    assert "compile True, over 2 runs, 1 seed: +1.00 points" in lines[2]
    assert len(lines) == 3


def test_a_lone_change_is_not_compared_with_a_pair_logged_after_it():
    hour = {"preset": "laptop-hour", "minutes": 60.0}
    log = [side(0.81, commit="c1", **hour), side(0.80, batch=128, commit="c1", **hour)]
    log += [side(0.84, batch=32, commit="c2", **hour)]  # the lone run
    # a later pair of the same change at the same seed
    log += [side(0.86, commit="c3", **hour), side(0.85, batch=32, commit="c3", **hour)]
    lines = [x for x in timed_choice_sentences(log) if "batch_size 32" in x]
    assert "85.00%" in lines[0] and "against the preset's 86.00%" in lines[0]
    assert "84.00%" in lines[1] and "against the preset's 81.00%" in lines[1]
    assert "(its side of an earlier pair) (+3.00 points)" in lines[1]
    assert lines[2] == (
        "vit_laptop_cls, 60 min, --preset laptop-hour: batch_size 32, over 2 runs, "
        "1 seed: +1.00 points on average (from -1.00 to +3.00)."
    )
    assert len(lines) == 3


def test_preset_sides_are_the_unchanged_sides_of_a_presets_pairs_by_epochs():
    hour = {"preset": "laptop-hour", "minutes": 60.0}
    log = [side(0.82, batch=128, commit="c1", **hour), side(0.81, commit="c1", **hour)]
    log += [side(0.83, commit="c2", **hour), side(0.80, batch=32, commit="c2", **hour)]
    log[3]["epochs"] = 1.0  # the changed side's epochs do not sort the preset's
    log[2]["epochs"] = 3.0
    log += [side(0.79, seed=1, commit="c3", **hour), side(0.7, seed=1, commit="c3")]
    log += [side(0.78, commit="c4"), side(0.77, batch=128, commit="c4")]  # 15 min
    sides = preset_sides(log, "laptop-hour")
    assert [r["val_accuracy"] for r in sides] == [0.81, 0.83]
    assert preset_sides(log, "laptop-hour", seed=1) == []  # no partner: not a pair
    assert [r["val_accuracy"] for r in preset_sides(log, "laptop")] == [0.78]
    for r in log[2:4]:  # the pair of commit c2 ran the preset as it was then
        r["recipe"]["crop_padding"] = 2
    was = preset_sides(log, "laptop-hour", crop_padding=2)
    assert [r["val_accuracy"] for r in was] == [0.83]


def test_labels_of_one_column_are_moved_apart_in_order():
    column = [(79.65, "a"), (79.89, "b"), (82.09, "c"), (90.0, "d")]
    assert spread(column, 1.6) == [
        (79.65, "a"),
        (81.25, "b"),
        (82.85, "c"),
        (90.0, "d"),
    ]


def test_the_speedup_sentence_reads_the_benchmark():
    def side(rate):
        return {"img_per_s_mean": rate, "img_per_s_std": 5.0, "batch_size": 64}

    bench = {"model": "vit_laptop_cls", "rounds": 5, "device": "CPU A"}
    bench["patch-drop"] = {
        "drop 0": side(200.0),
        "drop 0.5": side(420.0),
        "speedup": {"drop 0": 1.0, "drop 0.5": 2.1},
    }
    line = speedup_sentence(bench)
    assert "(AdamW), batch 64, 5 alternating rounds on CPU A" in line
    assert "0.5 dropped: 420 ± 5 img/s (2.10x)" in line


def test_the_muon_bench_sentence_reads_the_benchmark():
    def side(rate):
        return {"update_per_s_mean": rate, "update_per_s_std": 2.0}

    bench = {"model": "vit_laptop_cls", "rounds": 15, "device": "CPU A"}
    bench["muon"] = {
        "one at a time": side(25.0) | {"ms_per_update": 40.0},
        "stacked by shape": side(50.0) | {"ms_per_update": 20.0},
        "matrices": 16,
        "shapes": [[128, 128], [384, 128]],
        "speedup": 2.0,
    }
    line = muon_bench_sentence(bench)
    assert "vit_laptop_cls's 16 block matrices (2 shapes), 15 alternating" in line
    assert "one at a time 40.0 ms per update (25.0 ± 2.0 updates/s)" in line
    assert line.endswith(
        "stacked by shape 20.0 ms per update (50.0 ± 2.0 updates/s), 2.00x."
    )


def test_the_step_parts_read_the_benchmark():
    parts = dict.fromkeys(("forward", "backward", "clip", "muon", "adamw"), 0.2)
    side = {"ms_per_step": 150.0, "ms_per_step_std": 4.0, "share": parts}
    bench = {"model": "vit_laptop_cls", "device": "CPU A"}
    bench["step"] = {"batch_size": 64, "drop 0": side, "drop 0.5": side}
    first, second = step_parts_sentences(bench)
    assert first.startswith("vit_laptop_cls, batch 64, 0% of the patches dropped: 150")
    assert second.endswith(
        "CPU A; forward 20%, backward 20%, clip 20%, muon 20%, adamw 20%."
    )


def test_pair_sentences_compare_the_step_its_passes_and_the_warm_up():
    def side(forward, backward, warmup=None):
        ms = {"forward": forward, "backward": backward, "muon": 10.0}
        out = {"ms": ms, "ms_per_step": sum(ms.values()), "ms_per_step_std": 4.0}
        return out if warmup is None else out | {"warmup_seconds": warmup}

    sides = {
        "batch_size": 64,
        "fp32, drop 0": side(70.0, 130.0),
        "bf16, drop 0": side(46.0, 160.0),
        "fp32, drop 0.5": side(33.0, 64.0),
        "bf16, drop 0.5": side(23.0, 82.0),
        "speedup_bf16": {"drop 0": 210 / 216, "drop 0.5": 107 / 115},
    }
    bench = {"model": "vit_laptop", "device": "CPU A", "precision": sides}
    full, half = pair_sentences(bench, "precision")
    assert full == (
        "vit_laptop, batch 64, 0% of the patches dropped, on CPU A: 210 ± 4 ms per "
        "step in fp32, 216 ± 4 in bf16 (0.97x); forward 70 -> 46 ms, backward 130 -> "
        "160 ms."
    )
    assert half.startswith("vit_laptop, batch 64, 50% of the patches dropped")
    assert "107 ± 4 ms per step in fp32, 115 ± 4 in bf16 (0.93x)" in half

    compiled = {
        "batch_size": 64,
        "eager, drop 0": side(70.0, 130.0, 0.6),
        "compiled, drop 0": side(60.0, 110.0, 41.3),
        "speedup_compiled": {"drop 0": 210 / 180},
    }
    bench = {"model": "vit_laptop", "device": "CPU A", "compile": compiled}
    (line,) = pair_sentences(bench, "compile")
    assert line.endswith(
        "210 ± 4 ms per step eager, 180 ± 4 compiled (1.17x); forward 70 -> 60 ms, "
        "backward 130 -> 110 ms; warm-up 0.6 -> 41.3 s."
    )


def test_budget_lines_give_each_run_and_the_spread_of_each_recipe_that_drops():
    def hour(accuracy, seed, patch_drop, batch=64, pad=4):
        r = run("60 min: plain", "muon", "time budget", train_seconds=3600)
        r["recipe"] |= {"seed": seed, "patch_drop": patch_drop, "batch_size": batch}
        r["recipe"] |= {"crop_padding": pad}
        return r | {"test_accuracy": accuracy}

    log = [hour(0.7965, 0, 0.0), hour(0.7989, 0, 0.5), hour(0.8019, 1, 0.5)]
    log.append(hour(0.81, 0, 0.5, batch=128))  # another recipe, run once
    log.append(hour(0.82, 1, 0.5, pad=2))  # another crop: another recipe
    log += [hour(0.83, 0, 0.5), hour(0.84, 1, 0.5)]  # with AutoAugment: another
    log[-2]["recipe"]["autoaugment"] = log[-1]["recipe"]["autoaugment"] = "autoaugment"
    log[-1]["compiled"] = True  # a speed, not a recipe: it keeps the recipe's mean
    log.append(run("15 min: short", "muon", "time budget"))  # not an hour
    lines = budget_lines(log, "vit_laptop_cls")
    at = "2.0 epochs at 200 img/s"
    each = "60 min, muon, patch drop"
    assert lines[:5] == [
        f"{each} 0, batch 64, crop pad 4, seed 0: 79.65% test accuracy, {at}",
        f"{each} 0.5, batch 64, crop pad 4, seed 0: 79.89% test accuracy, {at}",
        f"{each} 0.5, batch 64, crop pad 4, seed 1: 80.19% test accuracy, {at}",
        f"{each} 0.5, batch 128, crop pad 4, seed 0: 81.00% test accuracy, {at}",
        f"{each} 0.5, batch 64, crop pad 2, seed 1: 82.00% test accuracy, {at}",
    ]
    assert lines[5] == f"{each} 0.5, batch 64, crop pad 4, autoaugment, seed 0: " + (
        f"83.00% test accuracy, {at}"
    )
    assert lines[6].startswith(
        f"{each} 0.5, batch 64, crop pad 4, autoaugment, compiled"
    )
    assert lines[7:] == [
        "muon, patch drop 0.5, batch 64, crop pad 4, 2 runs: mean 80.04%, "
        "spread 0.30 points",
        "muon, patch drop 0.5, batch 64, crop pad 4, autoaugment, 2 runs: mean "
        "83.50%, spread 1.00 points",
    ]
    assert budget_lines(log[:2], "vit_laptop_cls")[-1].startswith("60 min")  # one run
    assert budget_lines(log, "vit_laptop") == []
    assert budget_lines(log, "vit_laptop_cls", 15) == [
        "15 min, muon, patch drop 0, batch 64, crop pad 4, seed 0: 70.00% test "
        f"accuracy, {at}"
    ]


def test_the_recorded_experiments_render():
    log = load_result("cpu_experiments.jsonl")
    assert muon_sentences(comparisons(log))  # the comparisons this search made
    path_figure(timed_runs(log, load_result("cpu_models.json")))


def test_a_verdict_says_how_far_from_the_goal_and_what_bounds_it():
    record = run("60 min", "muon", "time budget", img_per_s=250.0, train_seconds=3600)
    record |= {"test_accuracy": 0.8365, "test_accuracy_flip": 0.84}
    line = verdict("cpu_hour.json", record)
    assert "83.65% (84.00% with flip averaging) in 60 minutes" in line
    assert "goal of 86% is missed by 2.35 points" in line
    assert "200 epochs would take 11.1 hours" in line
    assert "is reached" in verdict("cpu_laptop.json", record)


def test_a_record_keeps_what_the_issue_asks_and_refuses_an_unfinished_run(tmp_path):
    summary = {k: 1 for k in RUN_RECORD_FIELDS} | {"extra": 2}
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "summary.json").write_text(json.dumps(summary))
    path = record_run(tmp_path / "run", tmp_path / "rec.json")
    record = json.loads(path.read_text())
    assert set(record) == set(RUN_RECORD_FIELDS)
    assert ISSUE_FIELDS <= set(record)
    with pytest.raises(FileNotFoundError, match="has the run finished"):
        record_run(tmp_path / "nowhere", tmp_path / "x.json")


@pytest.mark.parametrize(
    "name, preset",
    [
        ("cpu_laptop.json", "laptop"),
        ("cpu_plain_hour.json", "plain-hour"),
        ("cpu_hour.json", "laptop-hour"),
    ],
)
def test_the_time_budget_records_hold_their_fields(name, preset):
    record = load_result(name)
    if record is None:
        pytest.skip(f"{name} is not recorded yet")
    assert ISSUE_FIELDS <= set(record)
    assert record["stopped_by"] == "time budget"
    # the preset's own run; a field added since it ran had its default then
    recipe, defaults = PRESETS[preset].recipe(), TrainConfig().recipe()
    assert {k: record["recipe"].get(k, defaults[k]) for k in recipe} == recipe
    assert record["train_seconds"] <= PRESETS[preset].time_budget + 1


def test_pretrained_names_its_choices():
    names = choices()
    assert set(names) == set(shipped()) and DEFAULT in names
    assert all("% test accuracy after" in line for line in names.values())
    with pytest.raises(CheckpointError, match="choose one of: .*" + DEFAULT):
        load_pretrained("vit_huge")
    assert resolve_checkpoint(DEFAULT) == resolve_checkpoint(None)
    assert resolve_checkpoint("runs/x").as_posix() == "runs/x"


@pytest.mark.parametrize(
    "preset, model", [("plain-hour", "vit_laptop_cls"), ("laptop-hour", "vit_laptop")]
)
def test_the_hour_presets_train_with_muon_for_an_hour(preset, model):
    cfg = PRESETS[preset]
    assert (cfg.model, cfg.optimizer, cfg.time_budget) == (model, "muon", 3600)


def test_the_plain_hour_checkpoint_is_the_plain_cls_vit():
    if "vit_laptop_cls" not in shipped():
        pytest.skip("the plain-hour checkpoint is not shipped yet")
    model = load_pretrained("vit_laptop_cls")[0]
    assert (model.cfg.pool, model.cfg.pos_embed, model.cfg.stem) == (
        "cls",
        "learned",
        "patch",
    )
