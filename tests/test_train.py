"""The trainer end to end: a debug run on the real data, then resume, time budget, EMA,
bf16, compile, validation split and bad input on a tiny data set in CIFAR-10's layout
(seconds each)."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from conftest import argv
from safetensors.torch import load_file

from vit_core.config import PRESETS
from vit_core.data import BATCH_DIR, describe_data, resolve_data_dir
from vit_core.errors import NonFiniteLoss
from vit_core.registry import create_model
from vit_core.train import build_optimizer, parse_args, train

DATA = resolve_data_dir()
needs_data = pytest.mark.skipif(
    not (DATA / BATCH_DIR).is_dir() and not os.environ.get("CI"),
    reason=f"no prepared CIFAR-10 at {DATA} (make test prepares it)",
)
FAST = "--debug --quiet --threads 1 --autoaugment none"


def cli(*args, module="vit_core.train"):
    command = [sys.executable, "-m", module, *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=600)


def read(path):
    return json.loads(path.read_text())


def metrics(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().split("\n")
            if line]  # fmt: skip


def fast_run(data, out, flags=""):
    """``train()`` on the tiny data set, debug-sized; returns the summary."""
    return train(parse_args(argv(FAST, flags, "--data-dir", data, "--out", out)))


@needs_data
def test_debug_run_end_to_end(tmp_path):
    r = cli("--debug", "--quiet", "--out", tmp_path)
    assert r.returncode == 0, r.stderr
    summary = read(tmp_path / "summary.json")
    assert summary["epochs"] == 2 and 0.0 <= summary["test_accuracy"] <= 1.0
    assert summary["data"] == describe_data() and "--debug" in summary["command"]
    assert len(metrics(tmp_path)) == 2
    assert read(tmp_path / "config.json")["debug"] is True
    card = read(tmp_path / "checkpoint.json")
    assert (card["model"], card["epoch"], card["weights"]) == ("vit_tiny", 2, "raw")
    r = cli("--checkpoint", tmp_path, module="vit_core.evaluate")
    assert r.returncode == 0, r.stderr
    assert "test accuracy: " in r.stdout and "confusion matrix" in r.stdout


def test_a_run_killed_mid_epoch_resumes_with_no_flags_to_the_same_weights(
    tiny_cifar, tmp_path
):
    # Mixing, drop-path and AutoAugment draw random numbers: the RNG must survive.
    recipe = argv("--model vit_laptop --epochs 3 --batch-size 8 --mixup-alpha 0.5",
                  "--cutmix-alpha 1.0 --drop-path 0.1 --autoaugment autoaugment",
                  "--quiet --threads 1 --data-dir", tiny_cifar)  # fmt: skip
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    p = subprocess.Popen([sys.executable, "-m", "vit_core.train", *recipe,
                          "--out", str(killed)], stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.time() + 300
    while not (killed / "train_state.pt").exists() and p.poll() is None:
        assert time.time() < deadline
        time.sleep(0.05)
    time.sleep(0.3)  # into epoch 2 (40 steps)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    assert read(killed / "checkpoint.json")["epoch"] == 1  # killed before epoch 2 ended
    r = cli("--resume", killed)
    assert r.returncode == 0, r.stderr
    assert cli(*recipe, "--out", straight).returncode == 0
    a = load_file(straight / "checkpoint.safetensors")
    b = load_file(killed / "checkpoint.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)
    losses = [[m["train_loss"] for m in metrics(run)] for run in (straight, killed)]
    assert losses[0] == losses[1]


def assert_one_line_error(r, *words):
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), r.stderr
    assert all(w in lines[0] for w in words), lines[0]


@pytest.fixture
def stopped_run(tiny_cifar, tmp_path):
    """A 2-epoch run stopped after its first, by the command line."""
    run = tmp_path / "run"
    r = cli(
        *argv(FAST, "--epochs 2 --stop-after 1 --data-dir", tiny_cifar, "--out", run)
    )
    assert r.returncode == 0, r.stderr
    return run


def test_resume_says_what_is_wrong(stopped_run, tiny_cifar, tmp_path):
    run = stopped_run
    assert_one_line_error(cli("--resume", run, "--lr", "0.1"), "--lr", "would change")
    assert_one_line_error(cli("--resume", run, "--model", "vit_laptop"), "--model")
    assert cli("--resume", run, "--quiet").returncode == 0
    assert_one_line_error(cli("--resume", run), "already finished")
    again = cli(*argv(FAST, "--data-dir", tiny_cifar, "--out", run))
    assert_one_line_error(again, "already holds a run", "--resume")
    (run / "train_state.pt").unlink()  # as if killed before the first epoch ended
    assert_one_line_error(cli("--resume", run), "nothing to resume yet", "--debug")
    assert_one_line_error(cli("--resume", tmp_path / "nowhere"), "nowhere")


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_damaged_checkpoint_is_named_by_resume_and_evaluate(stopped_run, damage):
    weights = stopped_run / "checkpoint.safetensors"
    bad = weights.read_bytes()[:5000] if damage == "truncate" else b"\x00garbage" * 100
    weights.write_bytes(bad)
    for r in (
        cli("--resume", stopped_run),
        cli("--checkpoint", stopped_run, module="vit_core.evaluate"),
    ):
        assert_one_line_error(r, "checkpoint.safetensors", "truncated or corrupt")


def test_time_budget_ends_on_time_and_keeps_its_results(tiny_cifar, tmp_path):
    # batch 64, not the preset's 128: 320 images make 5 steps an epoch
    train(parse_args(argv("--preset laptop --time-budget 5s --quiet --threads 1",
                          "--batch-size 64 --data-dir", tiny_cifar,
                          "--out", tmp_path)))  # fmt: skip
    summary = read(tmp_path / "summary.json")
    assert summary["stopped_by"] == "time budget"
    assert 5.0 <= summary["train_seconds"] <= 6.5
    # an epoch cut short counts as the fraction of its steps that ran (320 images in
    # batches of 64: 5 steps an epoch), and as a whole one where the budget fell on its
    # last step
    rows = metrics(tmp_path)
    assert summary["epochs"] == pytest.approx(rows[-1]["step"] / 5, abs=1e-4)
    assert all(r["epoch"] == pytest.approx(r["step"] / 5, abs=1e-4) for r in rows)
    assert (tmp_path / "checkpoint.safetensors").is_file()
    # the cosine was near its end when the time ran out: the last row is the lr of the
    # step before, which on a slow machine is a large share of a 5 s budget
    assert metrics(tmp_path)[-1]["lr"] < 0.1 * PRESETS["laptop"].lr


def test_non_finite_loss_stops_at_the_step_and_keeps_the_last_good_checkpoint(
    tiny_cifar, tmp_path, monkeypatch
):
    import vit_core.train as T

    real_create, calls = T.create_model, {"n": 0}

    def poisoned(*a, **kw):
        model = real_create(*a, **kw)
        forward = model.forward

        def forward_with_nan(x):
            if model.training:
                calls["n"] += 1
                # step 11 = the 3rd step of epoch 2 (8 steps an epoch)
                if calls["n"] == 11:
                    return forward(x) * float("nan")
            return forward(x)

        model.forward = forward_with_nan
        return model

    monkeypatch.setattr(T, "create_model", poisoned)
    with pytest.raises(NonFiniteLoss, match="step 11 \\(epoch 2\\)"):
        fast_run(
            tiny_cifar, tmp_path, "--mixup-alpha 0 --cutmix-alpha 0 --batch-size 40"
        )
    assert read(tmp_path / "checkpoint.json")["epoch"] == 1


def test_ema_evaluates_both_and_saves_the_average(tiny_cifar, tmp_path):
    fast_run(tiny_cifar, tmp_path, "--epochs 1 --ema --ema-decay 0.9")
    row = metrics(tmp_path)[-1]
    assert {"test_accuracy", "test_accuracy_raw"} <= set(row)
    assert read(tmp_path / "checkpoint.json")["weights"] == "ema"
    saved = load_file(tmp_path / "checkpoint.safetensors")
    state = torch.load(tmp_path / "train_state.pt", weights_only=True)
    ema = {k.removeprefix("module."): v for k, v in state["ema"].items()}
    assert torch.equal(saved["head.weight"], ema["head.weight"])
    assert not torch.equal(saved["head.weight"], state["weights"]["head.weight"])


def test_patch_drop_thins_the_tokens_until_its_share_of_the_run(
    tiny_cifar, tmp_path, monkeypatch
):
    from vit_core.model import PatchDropout

    tokens, forward = [], PatchDropout.forward
    monkeypatch.setattr(
        PatchDropout,
        "forward",
        lambda self, x: tokens.append(forward(self, x).shape[1]) or forward(self, x),
    )
    flags = "--model vit_laptop_cls --epochs 2 --batch-size 64 --eval-every 0"
    fast_run(tiny_cifar, tmp_path, f"{flags} --patch-drop 0.5 --patch-drop-until 0.5")
    # 320 images, batch 64: 5 steps an epoch; the first epoch drops half of the 64
    # patches, the second keeps them all, as does the evaluation that follows
    assert tokens[:5] == [1 + 32] * 5 and set(tokens[5:]) == {1 + 64}
    assert read(tmp_path / "checkpoint.json")["config"]["patch_drop"] == 0.5


@pytest.mark.parametrize("padding", [2, 0])
def test_crop_padding_reaches_the_training_crops(
    tiny_cifar, tmp_path, monkeypatch, padding
):
    import vit_core.data

    paddings, crop = [], vit_core.data.random_crop
    monkeypatch.setattr(
        vit_core.data,
        "random_crop",
        lambda x, p, g=None: paddings.append(p) or crop(x, p, g),
    )
    fast_run(tiny_cifar, tmp_path, f"--epochs 1 --crop-padding {padding}")
    # 0 switches the crops off: no call at all
    assert set(paddings) == ({padding} if padding else set())
    assert read(tmp_path / "checkpoint.json")["recipe"]["crop_padding"] == padding


def test_bf16_trains_and_is_recorded(tiny_cifar, tmp_path):
    summary = fast_run(tiny_cifar, tmp_path, "--epochs 1 --precision bf16")
    assert summary["recipe"]["precision"] == "bf16"
    assert torch.isfinite(torch.tensor(metrics(tmp_path)[0]["train_loss"]))


@pytest.mark.slow
def test_compile_trains_and_saves_weights_an_eager_model_loads(tiny_cifar, tmp_path):
    from vit_core.checkpoint import load_checkpoint

    fast_run(tiny_cifar, tmp_path, "--epochs 1 --compile --model vit_laptop --depth 1")
    model, _ = load_checkpoint(tmp_path)
    assert read(tmp_path / "summary.json")["invocation"].count("--compile") == 1
    assert not any(k.startswith("_orig_mod") for k in model.state_dict())


def test_val_split_selects_on_held_out_images_and_tests_once(tiny_cifar, tmp_path):
    log = tmp_path / "experiments.jsonl"
    fast_run(tiny_cifar, tmp_path / "run", f"--epochs 2 --val-split 64 --log-to {log}")
    rows = metrics(tmp_path / "run")
    assert "val_accuracy" in rows[0] and "test_accuracy" not in rows[0]
    assert {"val_accuracy", "test_accuracy"} <= set(rows[-1])
    record = read(log)
    assert record["recipe"]["val_split"] == 64 and record["val_accuracy"] is not None
    # 256 training images left, batch 64: 4 steps an epoch
    assert read(tmp_path / "run" / "summary.json")["steps"] == 8


def test_weight_decay_skips_norms_biases_and_embeddings():
    model = create_model("vit_tiny", depth=1)
    cfg = parse_args(["--weight-decay", "0.05"])
    decay, no_decay = build_optimizer(model, cfg, torch.device("cpu")).param_groups
    names = {id(p): n for n, p in model.named_parameters()}
    assert decay["weight_decay"] == 0.05 and no_decay["weight_decay"] == 0.0
    embeddings = ("cls_token", "pos_embed")
    matrices = {n for n, p in model.named_parameters() if p.ndim >= 2}
    assert {names[id(p)] for p in decay["params"]} == matrices - set(embeddings)
    skipped = {names[id(p)] for p in no_decay["params"]}
    assert {*embeddings, "norm.weight", "head.bias"} <= skipped


@pytest.mark.parametrize(
    "flags, words",
    [
        ("--model vit_huge", ["unknown model 'vit_huge'"]),
        ("--epochs 0", ["--epochs", "0"]),
        ("--patch-size 5", ["patch size 5", "32"]),
        ("--data-dir /nonexistent/cifar", ["/nonexistent/cifar", "--download"]),
        ("--time-budget soon", ["duration", "soon"]),
    ],
)
def test_bad_training_input_is_one_clear_line(tmp_path, flags, words):
    assert_one_line_error(cli(*argv(FAST, "--out", tmp_path, flags)), *words)


@needs_data
def test_shipped_checkpoint_reproduces_its_recorded_accuracy():
    from vit_core.pretrained import pretrained_card, pretrained_path, shipped

    for name in shipped():
        card = pretrained_card(name)
        if card["data"] != describe_data():
            pytest.skip(f"{name} was measured on {card['data']}, not this data")
        path = pretrained_path(name)
        r = cli("--checkpoint", path, "--json", module="vit_core.evaluate")
        assert r.returncode == 0, r.stderr
        accuracy = json.loads(r.stdout)["accuracy"]
        assert accuracy == pytest.approx(card["test_accuracy"], abs=1e-4)
