"""scripts/experiments.py on a tiny fake CIFAR-10: plans, records, skips what is done,
refuses a time-budget run on a busy machine, and pairs runs with and without a
teacher."""

import importlib.util
import json

import pytest
from conftest import ROOT, argv
from test_distill import save_teacher

spec = importlib.util.spec_from_file_location(
    "experiments", ROOT / "scripts" / "experiments.py"
)
experiments = importlib.util.module_from_spec(spec)
spec.loader.exec_module(experiments)

FIELDS = {
    "seed",
    "epochs",
    "test_accuracy",
    "val_accuracy",
    "command",
    "commit",
    "device",
    "torch",
    "data",
    "train_seconds",
    "img_per_s",
    "load_avg_start",
    "params",
    "flops_per_image",
    "curve",
}


def run(tmp_path, tiny_cifar, *words):
    out = tmp_path / "records.json"
    experiments.main(
        argv(
            *words,
            "--data-dir",
            tiny_cifar,
            "--val-split 64 --out",
            out,
            "--runs",
            tmp_path / "runs",
        )
    )
    return json.loads(out.read_text())


def test_sweep_then_one_rung_records_every_field_and_skips_what_is_done(
    tmp_path, tiny_cifar, capsys
):
    sweep = run(tmp_path, tiny_cifar, "sweep")
    assert [r["lr"] for r in sweep] == [0.01, 0.03, 0.1, 0.3, 5e-4, 1e-3, 2e-3]
    records = run(tmp_path, tiny_cifar, "ladder --rung 3 --seed 1 --epochs 2")
    rung = records[-1]
    assert FIELDS <= set(rung) and rung["rung"] == 3 and rung["seed"] == 1
    assert rung["lr"] == experiments.best_lrs(sweep)["adamw"]
    assert [c["epoch"] for c in rung["curve"]] == [1.0, 2.0]
    assert rung["curve"][-1]["train_seconds"] == pytest.approx(
        rung["train_seconds"], abs=0.01
    )
    assert "--val-split 64" in rung["command"]
    capsys.readouterr()
    assert run(tmp_path, tiny_cifar, "ladder --rung 3 --seed 1 --epochs 2") == records
    assert "0 run(s) to do" in capsys.readouterr().out


def test_the_ladder_needs_the_sweep_first(tmp_path, tiny_cifar):
    with pytest.raises(SystemExit, match="sweep is incomplete"):
        run(tmp_path, tiny_cifar, "ladder --rung 1")


def test_models_at_equal_epochs_record_compute_per_image(tmp_path, tiny_cifar):
    records = run(tmp_path, tiny_cifar, "models --models resnet8 --epochs 1")
    (record,) = records
    assert record["model"] == "resnet8" and record["budget"] is None
    assert record["flops_per_image"] > 0 and FIELDS <= set(record)


def test_a_time_budget_run_refuses_a_busy_machine(tmp_path, tiny_cifar):
    with pytest.raises(SystemExit, match="must have the machine to itself"):
        run(
            tmp_path,
            tiny_cifar,
            "models --models resnet8 --budget 5 --max-load 0 --patience 0",
        )
    assert not (tmp_path / "records.json").exists()


def test_distillation_pairs_each_seed_with_and_without_the_teacher(
    tmp_path, tiny_cifar
):
    teacher = save_teacher(tmp_path / "teacher.safetensors")
    words = "distill --epochs 1 --seed 0 --teacher"
    plain, taught = run(tmp_path, tiny_cifar, words, teacher)
    assert FIELDS <= set(plain) and FIELDS <= set(taught)
    assert plain["epochs"] == taught["epochs"] == 1 and plain["seed"] == taught["seed"]
    assert plain["teacher"] is None and "teacher_seconds" not in plain
    assert (taught["teacher"], taught["distill"]) == (str(teacher), "hard")
    # hard distillation trains the distillation token's head on the teacher's labels
    assert taught["recipe"]["distilled"] and not plain["recipe"]["distilled"]
    assert 0 < taught["teacher_share"] < 1 and taught["teacher_ms_per_image"] > 0
    assert experiments.run_name(taught) == "distill-teacher-hard-e1-s0"


def test_distillation_at_equal_time_counts_the_teacher_inside_the_budget(
    tmp_path, tiny_cifar
):
    teacher = save_teacher(tmp_path / "teacher.safetensors")
    words = "distill --budget 2 --seed 0 --max-load 1000 --teacher"
    plain, taught = run(tmp_path, tiny_cifar, words, teacher)
    for r in (plain, taught):
        assert r["budget"] == r["recipe"]["time_budget"] == 2
        # the clock that ends the run includes the teacher's forward passes
        assert r["train_seconds"] < 2 + 1.5
    assert taught["teacher_seconds"] < taught["train_seconds"]
    assert experiments.run_name(taught) == "distill-teacher-hard-t2-s0"


def test_distillation_needs_a_teacher_and_one_length(capsys):
    for words in (
        "distill --epochs 2",
        "distill --teacher vit_laptop_hour",
        "distill --teacher vit_laptop_hour --epochs 2 --budget 60",
    ):
        with pytest.raises(SystemExit):
            experiments.parse(argv(words))
        assert "one of --epochs N and --budget SECONDS" in capsys.readouterr().err
