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
from safetensors.torch import load_file

from vit_core.data import BATCH_DIR, describe_data, resolve_data_dir
from vit_core.errors import NonFiniteLoss
from vit_core.registry import create_model
from vit_core.train import build_optimizer, parse_args, train

DATA = resolve_data_dir()
needs_data = pytest.mark.skipif(
    not (DATA / BATCH_DIR).is_dir() and not os.environ.get("CI"),
    reason=f"no prepared CIFAR-10 at {DATA} (make test prepares it)",
)
FAST = ["--debug", "--quiet", "--threads", "1", "--autoaugment", "none"]


def cli(*args, module="vit_core.train"):
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        timeout=600,
    )


def read(path):
    return json.loads(path.read_text())


def metrics(run):
    return [
        json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()
    ]


@needs_data
def test_debug_run_end_to_end(tmp_path):
    r = cli("--debug", "--quiet", "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    summary = read(tmp_path / "summary.json")
    assert summary["epochs"] == 2 and 0.0 <= summary["test_accuracy"] <= 1.0
    assert summary["data"] == describe_data() and "--debug" in summary["command"]
    assert len(metrics(tmp_path)) == 2
    assert read(tmp_path / "config.json")["debug"] is True
    card = read(tmp_path / "checkpoint.json")
    assert (
        card["model"] == "vit_tiny" and card["epoch"] == 2 and card["weights"] == "raw"
    )
    r = cli("--checkpoint", str(tmp_path), module="vit_core.evaluate")
    assert r.returncode == 0, r.stderr
    assert "test accuracy: " in r.stdout and "confusion matrix" in r.stdout


def start(*args):
    return subprocess.Popen(
        [sys.executable, "-m", "vit_core.train", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_run_killed_mid_epoch_resumes_with_no_flags_to_the_same_weights(
    tiny_cifar, tmp_path
):
    # Mixing, drop-path and AutoAugment draw random numbers: the RNG must survive the
    # kill.
    recipe = [
        "--model",
        "vit_laptop",
        "--epochs",
        "3",
        "--batch-size",
        "8",
        "--mixup-alpha",
        "0.5",
        "--cutmix-alpha",
        "1.0",
        "--drop-path",
        "0.1",
        "--autoaugment",
        "autoaugment",
        "--data-dir",
        str(tiny_cifar),
        "--quiet",
        "--threads",
        "1",
    ]
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    p = start(*recipe, "--out", str(killed))
    deadline = time.time() + 300
    while not (killed / "train_state.pt").exists() and p.poll() is None:
        assert time.time() < deadline
        time.sleep(0.05)
    time.sleep(0.3)  # into epoch 2 (40 steps)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    assert read(killed / "checkpoint.json")["epoch"] == 1  # killed before epoch 2 ended
    r = cli("--resume", str(killed))
    assert r.returncode == 0, r.stderr
    assert cli(*recipe, "--out", str(straight)).returncode == 0
    a = load_file(straight / "checkpoint.safetensors")
    b = load_file(killed / "checkpoint.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)
    assert [m["train_loss"] for m in metrics(straight)] == [
        m["train_loss"] for m in metrics(killed)
    ]


def assert_one_line_error(r, *words):
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), r.stderr
    assert all(w in lines[0] for w in words), lines[0]


def test_resume_says_what_is_wrong(tiny_cifar, tmp_path):
    run = tmp_path / "run"
    r = cli(
        *FAST,
        "--epochs",
        "2",
        "--stop-after",
        "1",
        "--data-dir",
        str(tiny_cifar),
        "--out",
        str(run),
    )
    assert r.returncode == 0, r.stderr
    assert_one_line_error(
        cli("--resume", str(run), "--lr", "0.1"), "--lr", "would change"
    )
    assert_one_line_error(cli("--resume", str(run), "--model", "vit_laptop"), "--model")
    assert cli("--resume", str(run), "--quiet").returncode == 0
    assert_one_line_error(cli("--resume", str(run)), "already finished")
    assert_one_line_error(
        cli(*FAST, "--data-dir", str(tiny_cifar), "--out", str(run)),
        "already holds a run",
        "--resume",
    )
    (run / "train_state.pt").unlink()  # as if killed before the first epoch ended
    assert_one_line_error(cli("--resume", str(run)), "nothing to resume yet", "--debug")
    assert_one_line_error(cli("--resume", str(tmp_path / "nowhere")), "nowhere")


def test_time_budget_ends_on_time_and_keeps_its_results(tiny_cifar, tmp_path):
    train(
        parse_args(
            [
                "--preset",
                "laptop",
                "--time-budget",
                "5s",
                "--data-dir",
                str(tiny_cifar),
                "--quiet",
                "--threads",
                "1",
                "--out",
                str(tmp_path),
            ]
        )
    )
    summary = read(tmp_path / "summary.json")
    assert summary["stopped_by"] == "time budget"
    assert 5.0 <= summary["train_seconds"] <= 6.5
    assert not float(
        summary["epochs"]
    ).is_integer()  # the last epoch, cut short, as a fraction
    assert (tmp_path / "checkpoint.safetensors").is_file()
    assert (
        metrics(tmp_path)[-1]["lr"] < 1e-4
    )  # the cosine reached its end when the time ran out


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
                if (
                    calls["n"] == 11
                ):  # step 11 = the 3rd step of epoch 2 (8 steps an epoch)
                    return forward(x) * float("nan")
            return forward(x)

        model.forward = forward_with_nan
        return model

    monkeypatch.setattr(T, "create_model", poisoned)
    with pytest.raises(NonFiniteLoss, match="step 11 \\(epoch 2\\)"):
        train(
            parse_args(
                FAST
                + [
                    "--mixup-alpha",
                    "0",
                    "--cutmix-alpha",
                    "0",
                    "--batch-size",
                    "40",
                    "--data-dir",
                    str(tiny_cifar),
                    "--out",
                    str(tmp_path),
                ]
            )
        )
    assert read(tmp_path / "checkpoint.json")["epoch"] == 1


def test_ema_evaluates_both_and_saves_the_average(tiny_cifar, tmp_path):
    train(
        parse_args(
            FAST
            + [
                "--epochs",
                "1",
                "--ema",
                "--ema-decay",
                "0.9",
                "--data-dir",
                str(tiny_cifar),
                "--out",
                str(tmp_path),
            ]
        )
    )
    row = metrics(tmp_path)[-1]
    assert {"test_accuracy", "test_accuracy_raw"} <= set(row)
    assert read(tmp_path / "checkpoint.json")["weights"] == "ema"
    saved = load_file(tmp_path / "checkpoint.safetensors")
    state = torch.load(tmp_path / "train_state.pt", weights_only=True)
    ema = {
        k.removeprefix("module."): v
        for k, v in state["ema"].items()
        if k != "n_averaged"
    }
    assert torch.equal(saved["head.weight"], ema["head.weight"])
    assert not torch.equal(saved["head.weight"], state["weights"]["head.weight"])


def test_bf16_trains_and_is_recorded(tiny_cifar, tmp_path):
    summary = train(
        parse_args(
            FAST
            + [
                "--epochs",
                "1",
                "--precision",
                "bf16",
                "--data-dir",
                str(tiny_cifar),
                "--out",
                str(tmp_path),
            ]
        )
    )
    assert summary["recipe"]["precision"] == "bf16"
    assert torch.isfinite(torch.tensor(metrics(tmp_path)[0]["train_loss"]))


@pytest.mark.slow
def test_compile_trains_and_saves_weights_an_eager_model_loads(tiny_cifar, tmp_path):
    from vit_core.checkpoint import load_checkpoint

    train(
        parse_args(
            FAST
            + [
                "--epochs",
                "1",
                "--compile",
                "--model",
                "vit_laptop",
                "--depth",
                "1",
                "--data-dir",
                str(tiny_cifar),
                "--out",
                str(tmp_path),
            ]
        )
    )
    model, _ = load_checkpoint(tmp_path)
    assert read(tmp_path / "summary.json")["invocation"].count("--compile") == 1
    assert not any(k.startswith("_orig_mod") for k in model.state_dict())


def test_val_split_selects_on_held_out_images_and_tests_once(tiny_cifar, tmp_path):
    log = tmp_path / "experiments.jsonl"
    train(
        parse_args(
            FAST
            + [
                "--epochs",
                "2",
                "--val-split",
                "64",
                "--data-dir",
                str(tiny_cifar),
                "--out",
                str(tmp_path / "run"),
                "--log-to",
                str(log),
            ]
        )
    )
    rows = metrics(tmp_path / "run")
    assert "val_accuracy" in rows[0] and "test_accuracy" not in rows[0]
    assert {"val_accuracy", "test_accuracy"} <= set(rows[-1])
    record = json.loads(log.read_text())
    assert record["recipe"]["val_split"] == 64 and record["val_accuracy"] is not None
    # 256 training images left, batch 64: 4 steps an epoch
    assert read(tmp_path / "run" / "summary.json")["steps"] == 8


def test_weight_decay_skips_norms_biases_and_embeddings():
    model = create_model("vit_tiny", depth=1)
    cfg = parse_args(["--weight-decay", "0.05"])
    decay, no_decay = build_optimizer(model, cfg, torch.device("cpu")).param_groups
    names = {id(p): n for n, p in model.named_parameters()}
    decayed = {names[id(p)] for p in decay["params"]}
    assert decay["weight_decay"] == 0.05 and no_decay["weight_decay"] == 0.0
    assert decayed == {
        n
        for n, p in model.named_parameters()
        if p.ndim >= 2 and n not in ("cls_token", "pos_embed")
    }
    assert {"cls_token", "pos_embed", "norm.weight", "head.bias"} <= {
        names[id(p)] for p in no_decay["params"]
    }


@pytest.mark.parametrize(
    "args, words",
    [
        (["--model", "vit_huge"], ["unknown model 'vit_huge'"]),
        (["--epochs", "0"], ["--epochs", "0"]),
        (["--patch-size", "5"], ["patch size 5", "32"]),
        (["--data-dir", "/nonexistent/cifar"], ["/nonexistent/cifar", "--download"]),
        (["--time-budget", "soon"], ["duration", "soon"]),
    ],
)
def test_bad_training_input_is_one_clear_line(tmp_path, args, words):
    assert_one_line_error(cli(*FAST, "--out", str(tmp_path), *args), *words)


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_damaged_checkpoint_is_named_by_resume_and_evaluate(
    tiny_cifar, tmp_path, damage
):
    run = tmp_path / "run"
    r = cli(
        *FAST,
        "--epochs",
        "2",
        "--stop-after",
        "1",
        "--data-dir",
        str(tiny_cifar),
        "--out",
        str(run),
    )
    assert r.returncode == 0, r.stderr
    weights = run / "checkpoint.safetensors"
    weights.write_bytes(
        weights.read_bytes()[:5000] if damage == "truncate" else b"\x00garbage" * 100
    )
    for r in (
        cli("--resume", str(run)),
        cli("--checkpoint", str(run), module="vit_core.evaluate"),
    ):
        assert_one_line_error(r, "checkpoint.safetensors", "truncated or corrupt")


@needs_data
def test_shipped_checkpoint_reproduces_its_recorded_accuracy():
    from vit_core.pretrained import pretrained_card, pretrained_path, shipped

    for name in shipped():
        card = pretrained_card(name)
        if card["data"] != describe_data():
            pytest.skip(
                f"{name} was measured on {card['data']}, this is {describe_data()}"
            )
        r = cli(
            "--checkpoint",
            str(pretrained_path(name)),
            "--json",
            module="vit_core.evaluate",
        )
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["accuracy"] == pytest.approx(
            card["test_accuracy"], abs=1e-4
        )
