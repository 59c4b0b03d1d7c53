"""``python -m vit_core.bench``: the smallest run of each comparison writes the
documented JSON (both sides, a rate per round, device, command and commit). Speed itself
is the benchmark's business, not a test's: only structure and arithmetic are checked."""

import json
import re
import shlex
import sys

import pytest
import torch
from conftest import ROOT

from vit_core.bench import main

TINY = [
    "--steps",
    "1",
    "--rounds",
    "2",
    "--warmup",
    "0",
    "--threads",
    "1",
    "--device",
    "cpu",
]


@pytest.fixture
def bench(tmp_path, monkeypatch):
    """Run the command line in this process; returns the JSON it wrote."""
    threads = torch.get_num_threads()

    def run(*args):
        argv = [*args, *TINY, "--out", str(tmp_path / "bench.json")]
        # The result records sys.argv as the command, as it would for a real invocation.
        monkeypatch.setattr(sys, "argv", ["vit_core/bench.py", *argv])
        main(argv)
        return json.loads((tmp_path / "bench.json").read_text()), argv

    yield run
    torch.set_num_threads(threads)  # --threads 1 must not slow the tests that follow


def check_recorded(result, argv, model):
    assert result["command"] == "python -m vit_core.bench " + shlex.join(argv)
    assert result["device"].endswith(", 1 threads")  # the CPU, with --threads applied
    assert result["model"] == model
    assert result["steps_per_round"] == 1 and result["rounds"] == 2
    assert result["torch"] == torch.__version__
    if (ROOT / ".git").exists():
        assert re.fullmatch(r"[0-9a-f]{40}(\+dirty)?", result["commit"])


def check_side(side, batch_size):
    assert side["batch_size"] == batch_size
    assert len(side["img_per_s_rounds"]) == 2 and min(side["img_per_s_rounds"]) > 0
    assert side["img_per_s_mean"] > 0 and side["img_per_s_std"] >= 0
    # Rounds are stored to 0.1 img/s; their mean is the mean of the unrounded rates.
    assert side["img_per_s_mean"] == pytest.approx(
        sum(side["img_per_s_rounds"]) / 2, abs=0.1
    )


def test_timm_comparison(bench):
    pytest.importorskip("timm")
    result, argv = bench("timm", "--batch-size", "4")
    check_recorded(result, argv, "vit_tiny")
    timm = result["timm"]
    check_side(timm["ours"], 4)
    check_side(timm["timm"], 4)
    assert timm["time_ratio_ours_over_timm"] == pytest.approx(
        timm["timm"]["img_per_s_mean"] / timm["ours"]["img_per_s_mean"]
    )


def test_pipeline_comparison(bench, tiny_cifar):
    # vit_laptop: the baseline's batch is fixed at 128, where vit_tiny takes seconds a
    # step on one thread.
    result, argv = bench(
        "pipeline",
        "--model",
        "vit_laptop",
        "--batch-size",
        "8",
        "--workers",
        "0",
        "--data-dir",
        str(tiny_cifar),
    )
    check_recorded(result, argv, "vit_laptop")
    pipeline = result["pipeline"]
    check_side(pipeline["ours"], 8)
    check_side(pipeline["baseline"], 128)
    assert pipeline["speedup"] == pytest.approx(
        pipeline["ours"]["img_per_s_mean"] / pipeline["baseline"]["img_per_s_mean"]
    )
    assert pipeline["ours"]["precision"] == "fp32"
    assert pipeline["ours"]["compile"] is False
    assert pipeline["baseline"]["workers"] == 0


def test_patch_drop_comparison(bench):
    result, argv = bench("patch-drop", "--model", "vit_laptop_cls", "--batch-size", "4")
    check_recorded(result, argv, "vit_laptop_cls")
    sides = result["patch-drop"]
    for name in ("drop 0", "drop 0.25", "drop 0.5"):
        check_side(sides[name], 4)
        assert sides["speedup"][name] == pytest.approx(
            sides[name]["img_per_s_mean"] / sides["drop 0"]["img_per_s_mean"]
        )


def test_muon_comparison(bench):
    result, argv = bench("muon", "--model", "vit_laptop_cls")
    check_recorded(result, argv, "vit_laptop_cls")
    muon = result["muon"]
    assert muon["matrices"] == 16  # four per block, four blocks
    assert sorted(muon["shapes"]) == [[128, 128], [128, 256], [256, 128], [384, 128]]
    for name in ("one at a time", "stacked by shape"):
        side = muon[name]
        assert len(side["update_per_s_rounds"]) == 2
        assert side["ms_per_update"] == pytest.approx(1000 / side["update_per_s_mean"])
    assert muon["speedup"] == pytest.approx(
        muon["stacked by shape"]["update_per_s_mean"]
        / muon["one at a time"]["update_per_s_mean"]
    )


def test_step_parts_add_up(bench):
    result, argv = bench("step", "--model", "vit_laptop_cls", "--batch-size", "4")
    check_recorded(result, argv, "vit_laptop_cls")
    step = result["step"]
    assert step["batch_size"] == 4 and step["optimizers"] == "muon+adamw"
    assert step["precision"] == "fp32"
    for name in ("drop 0", "drop 0.5", "drop 0.75"):
        side = step[name]
        assert set(side["ms"]) == {"forward", "backward", "clip", "muon", "adamw"}
        assert min(side["ms"].values()) > 0 and side["ms_per_step_std"] >= 0
        assert side["ms_per_step"] == pytest.approx(sum(side["ms"].values()))
        assert sum(side["share"].values()) == pytest.approx(1.0)


def test_precision_comparison(bench):
    result, argv = bench("precision", "--model", "vit_laptop", "--batch-size", "4")
    check_recorded(result, argv, "vit_laptop")
    sides = result["precision"]
    assert set(sides["speedup_bf16"]) == {"drop 0", "drop 0.5"}
    for drop, speedup in sides["speedup_bf16"].items():
        fp32, bf16 = sides[f"fp32, {drop}"], sides[f"bf16, {drop}"]
        assert min(fp32["ms"].values()) > 0 and min(bf16["ms"].values()) > 0
        assert speedup == pytest.approx(fp32["ms_per_step"] / bf16["ms_per_step"])


def test_compile_comparison(bench):
    result, argv = bench("compile", "--model", "vit_laptop_cls", "--batch-size", "4")
    check_recorded(result, argv, "vit_laptop_cls")
    sides = result["compile"]
    assert sides["precision"] == "fp32"
    assert set(sides["speedup_compiled"]) == {"drop 0", "drop 0.5"}
    for drop, speedup in sides["speedup_compiled"].items():
        eager, compiled = sides[f"eager, {drop}"], sides[f"compiled, {drop}"]
        assert min(eager["ms"].values()) > 0 and min(compiled["ms"].values()) > 0
        assert eager["warmup_seconds"] >= 0 and compiled["warmup_seconds"] >= 0
        assert speedup == pytest.approx(eager["ms_per_step"] / compiled["ms_per_step"])


def test_augment_costs(bench, tiny_cifar):
    result, argv = bench("augment", "--batch-size", "8", "--data-dir", str(tiny_cifar))
    check_recorded(result, argv, "vit_tiny")
    augment = result["augment"]
    assert set(augment) == {
        "crop+flip",
        "normalize",
        "mixup/cutmix",
        "randaugment",
        "autoaugment",
    }
    for op in augment.values():
        assert op["batch_size"] == 8 and op["ms_per_batch"] > 0


def test_missing_data_is_a_one_line_error(tmp_path):
    with pytest.raises(SystemExit) as e:
        main(
            [
                "augment",
                "--data-dir",
                str(tmp_path / "none"),
                "--device",
                "cpu",
                "--out",
                str(tmp_path / "bench.json"),
            ]
        )
    message = str(e.value.code)
    assert message.startswith("error: no CIFAR-10 at ") and "\n" not in message
    assert not (tmp_path / "bench.json").exists()
